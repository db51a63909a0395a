//! Run events SQL: a batch is written in one statement that also assigns the missing
//! sequences from the run's counter, and the timeline is read in sequence order.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::types::Json;

use crate::domain::{NewRunEvent, RunEvent};
use crate::pool::{Connection, Pool};

/// The columns of [`RunEvent`], in the order [`event_at`] reads them.
macro_rules! event_columns {
    () => {
        "project_id, run_id, sequence, event_id, event_type, step_name, status, duration_ms, ts, \
         payload, created_at"
    };
}

/// Reads the columns of [`event_columns!`] by position, from column `at`.
fn event_at(row: &PgRow, at: usize) -> sqlx::Result<RunEvent> {
    Ok(RunEvent {
        project_id: row.try_get(at)?,
        run_id: row.try_get(at + 1)?,
        sequence: row.try_get(at + 2)?,
        event_id: row.try_get(at + 3)?,
        event_type: row.try_get(at + 4)?,
        step_name: row.try_get(at + 5)?,
        status: row.try_get(at + 6)?,
        duration_ms: row.try_get(at + 7)?,
        ts: row.try_get(at + 8)?,
        payload: row.try_get(at + 9)?,
        created_at: row.try_get(at + 10)?,
    })
}

/// How often the events that a concurrent request wrote first are looked for again.
const APPEND_ATTEMPTS: usize = 3;

#[derive(Debug)]
pub enum Appended {
    New(RunEvent),
    /// The run already held the event_id: the stored event, unchanged.
    Existing(RunEvent),
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("run not found")]
    RunNotFound,
    /// Events (by index) whose sequence another event of the run holds.
    #[error("sequences taken")]
    SequencesTaken(Vec<usize>),
    #[error("the events kept disappearing while being written; retry")]
    Contended,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Writes the events of a batch, idempotently by event_id, answering one outcome per event in
/// order. One statement in the common case (a second one only for events a concurrent request
/// wrote while this one ran). The event_ids of `events` must be distinct, and so must the
/// sequences they give (see `domain::earlier_event_duplicates`, `repeated_sequences`).
///
/// Sequences: the statement updates the run's `last_sequence` first, which locks the run's row,
/// so concurrent batches of one run take their numbers one after the other: an event without a
/// sequence gets the next number above everything the run holds and everything the batch gives
/// (in request order), so a batch's assigned numbers are consecutive and never reused. Only
/// when two concurrent requests carry the same new event_id does the loser leave a hole (its
/// number was counted before the event turned out to be taken).
#[tracing::instrument(skip(connection, events), fields(items = events.len()))]
pub async fn append(
    connection: &mut Connection,
    tenant_id: i64,
    project_id: i64,
    run_id: i64,
    events: &[&NewRunEvent],
) -> Result<Vec<Appended>, AppendError> {
    let mut results: Vec<Option<Appended>> = (0..events.len()).map(|_| None).collect();
    let mut pending: Vec<usize> = (0..events.len()).collect();
    for _ in 0..APPEND_ATTEMPTS {
        let ids = [tenant_id, project_id, run_id];
        for (index, outcome) in insert(connection, ids, events, &pending).await? {
            results[index] = Some(outcome);
        }
        pending.retain(|&index| results[index].is_none());
        if pending.is_empty() {
            break;
        }
        // Written by a concurrent request after this one's snapshot: a new statement sees them.
        let keys: Vec<&str> = pending
            .iter()
            .map(|&i| events[i].event_id.as_str())
            .collect();
        let mut stored: HashMap<String, RunEvent> = sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            " FROM run_events
             WHERE project_id = $1 AND run_id = $3 AND event_id = ANY($4)
               AND EXISTS (SELECT 1 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2)"
        ))
        .bind(project_id)
        .bind(tenant_id)
        .bind(run_id)
        .bind(&keys)
        .try_map(|row: PgRow| event_at(&row, 0))
        .fetch_all(&mut *connection)
        .await?
        .into_iter()
        .map(|event| (event.event_id.clone(), event))
        .collect();
        for &index in &pending {
            if let Some(event) = stored.remove(events[index].event_id.as_str()) {
                results[index] = Some(Appended::Existing(event));
            }
        }
        pending.retain(|&index| results[index].is_none());
        if pending.is_empty() {
            break;
        }
    }
    if !pending.is_empty() {
        return Err(AppendError::Contended);
    }
    Ok(results.into_iter().flatten().collect())
}

/// The one statement: the events not yet stored are inserted (their sequences assigned from
/// the run's counter), and the stored ones are read, under the statement's snapshot. Returns
/// (index, outcome) per event it could answer for.
async fn insert(
    connection: &mut Connection,
    [tenant_id, project_id, run_id]: [i64; 3],
    events: &[&NewRunEvent],
    indices: &[usize],
) -> Result<Vec<(usize, Appended)>, AppendError> {
    let n = indices.len();
    let mut ordinals = Vec::with_capacity(n);
    let mut event_ids = Vec::with_capacity(n);
    let mut sequences = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    let mut steps = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut durations = Vec::with_capacity(n);
    let mut times: Vec<Option<DateTime<Utc>>> = Vec::with_capacity(n);
    let mut payloads = Vec::with_capacity(n);
    for &index in indices {
        let event = events[index];
        ordinals.push(index as i32);
        event_ids.push(event.event_id.as_str());
        sequences.push(event.sequence);
        types.push(event.event_type.as_str());
        steps.push(event.step_name.as_ref().map(|s| s.as_str()));
        statuses.push(event.status.as_ref().map(|s| s.as_str()));
        durations.push(event.duration_ms);
        times.push(event.ts);
        payloads.push(event.payload.as_ref().map(Json));
    }
    let insert = sqlx::query(concat!(
        "WITH input AS MATERIALIZED (
             SELECT * FROM UNNEST($4::int[], $5::text[], $6::bigint[], $7::text[], $8::text[],
                                  $9::text[], $10::bigint[], $11::timestamptz[], $12::jsonb[])
                  AS u(ordinal, event_id, sequence, event_type, step_name, status, duration_ms,
                       ts, payload)
         ), fresh AS MATERIALIZED (
             -- Events the run does not hold yet; nth numbers those without a sequence. One
             -- index probe per event (LATERAL … LIMIT 1 cannot become a join over the run's
             -- events, which a stale estimate of a growing run once chose: O(run × batch)).
             SELECT i.*, count(*) FILTER (WHERE i.sequence IS NULL) OVER (ORDER BY i.ordinal) AS nth
             FROM input i LEFT JOIN LATERAL (
                 SELECT true AS held FROM run_events e
                 WHERE e.project_id = $1 AND e.run_id = $3 AND e.event_id = i.event_id LIMIT 1
             ) s ON true
             WHERE s.held IS NULL
         ), wanted AS (
             SELECT count(*) FILTER (WHERE sequence IS NULL) AS assigned,
                    COALESCE(max(sequence), 0) AS top
             FROM fresh
         ), run AS MATERIALIZED (
             -- Locks the run's row (of this tenant): batches of one run number one at a time.
             UPDATE runs r SET last_sequence = GREATEST(r.last_sequence, w.top) + w.assigned
             FROM projects p, wanted w
             WHERE r.project_id = $1 AND r.id = $3 AND p.id = r.project_id AND p.tenant_id = $2
             RETURNING r.last_sequence - w.assigned AS base
         ), inserted AS (
             INSERT INTO run_events (project_id, run_id, sequence, event_id, event_type,
                                     step_name, status, duration_ms, ts, payload)
             SELECT $1, $3, COALESCE(f.sequence, run.base + f.nth), f.event_id, f.event_type,
                    f.step_name, f.status, f.duration_ms, COALESCE(f.ts, now()), f.payload
             FROM fresh f CROSS JOIN run
             ORDER BY 3
             ON CONFLICT (project_id, run_id, event_id) DO NOTHING
             RETURNING ",
        event_columns!(),
        "
         ), outcome AS (
             SELECT true AS created, i.ordinal, inserted.* FROM inserted JOIN input i USING (event_id)
             UNION ALL
             SELECT false, i.ordinal, e.* FROM input i JOIN LATERAL (SELECT ",
        event_columns!(),
        " FROM run_events
                 WHERE project_id = $1 AND run_id = $3 AND event_id = i.event_id LIMIT 1) e ON true
             WHERE EXISTS (SELECT 1 FROM run)
               AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.event_id = i.event_id)
         )
         SELECT EXISTS (SELECT 1 FROM run) AS found, o.* FROM (SELECT) one
         LEFT JOIN outcome o ON true"
    ))
    .bind(project_id)
    .bind(tenant_id)
    .bind(run_id)
    .bind(&ordinals)
    .bind(&event_ids)
    .bind(&sequences)
    .bind(&types)
    .bind(&steps)
    .bind(&statuses)
    .bind(&durations)
    .bind(&times)
    .bind(&payloads);
    // Recoverable: after a taken sequence, the cold path below still queries.
    let rows = connection
        .recoverable(async |connection| insert.fetch_all(&mut *connection).await)
        .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(error) if constraint(&error) == Some("run_events_pkey") => {
            let taken = taken_sequences(connection, project_id, run_id, events, indices).await?;
            return Err(if taken.is_empty() {
                AppendError::Contended
            } else {
                AppendError::SequencesTaken(taken)
            });
        }
        Err(error) => return Err(error.into()),
    };
    if !rows.first().map_or(Ok(false), |row| row.try_get("found"))? {
        return Err(AppendError::RunNotFound);
    }
    let mut outcomes = Vec::with_capacity(rows.len());
    for row in &rows {
        let Some(ordinal) = row.try_get::<Option<i32>, _>(2)? else {
            continue;
        };
        let event = event_at(row, 3)?;
        let outcome = if row.try_get(1)? {
            Appended::New(event)
        } else {
            Appended::Existing(event)
        };
        outcomes.push((ordinal as usize, outcome));
    }
    Ok(outcomes)
}

fn constraint(error: &sqlx::Error) -> Option<&str> {
    error.as_database_error().and_then(|e| e.constraint())
}

/// Cold path after a sequence was refused: the events (by index) whose sequence the run holds
/// under another event_id. (An event whose own event_id is stored is a replay, not a clash.)
async fn taken_sequences(
    connection: &mut Connection,
    project_id: i64,
    run_id: i64,
    events: &[&NewRunEvent],
    indices: &[usize],
) -> sqlx::Result<Vec<usize>> {
    let given: Vec<i64> = indices.iter().filter_map(|&i| events[i].sequence).collect();
    let ids: Vec<&str> = indices
        .iter()
        .map(|&i| events[i].event_id.as_str())
        .collect();
    let stored: Vec<(i64, String)> = sqlx::query_as(
        "SELECT sequence, event_id FROM run_events
         WHERE project_id = $1 AND run_id = $2 AND (sequence = ANY($3) OR event_id = ANY($4))",
    )
    .bind(project_id)
    .bind(run_id)
    .bind(&given)
    .bind(&ids)
    .fetch_all(&mut *connection)
    .await?;
    let holder: HashMap<i64, &str> = stored.iter().map(|(s, id)| (*s, id.as_str())).collect();
    let replayed = |id: &str| stored.iter().any(|(_, stored_id)| stored_id == id);
    Ok(indices
        .iter()
        .copied()
        .filter(|&i| {
            let event = events[i];
            let id = event.event_id.as_str();
            event
                .sequence
                .and_then(|s| holder.get(&s))
                .is_some_and(|&holder| holder != id && !replayed(id))
        })
        .collect())
}

/// Which events of a timeline to read.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub after_sequence: Option<i64>,
    pub event_type: Option<String>,
    pub step_name: Option<String>,
}

/// Up to `limit` events of the run after `after_sequence`, in sequence order (the primary key's
/// order: the filters are checked on the way); `None` when the tenant has no such run. One
/// static statement: every filter combination has the same best plan, that walk.
#[tracing::instrument(skip(pool, filter))]
pub async fn list(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    run_id: i64,
    filter: &EventFilter,
    limit: i64,
) -> sqlx::Result<Option<Vec<RunEvent>>> {
    let rows = sqlx::query(concat!(
        "WITH run AS MATERIALIZED (
             SELECT r.id FROM runs r JOIN projects p ON p.id = r.project_id AND p.tenant_id = $2
             WHERE r.project_id = $1 AND r.id = $3
         )
         SELECT e.* FROM run LEFT JOIN LATERAL (
             SELECT ",
        event_columns!(),
        " FROM run_events
             WHERE project_id = $1 AND run_id = $3 AND sequence > $4
               AND ($5::text IS NULL OR event_type = $5) AND ($6::text IS NULL OR step_name = $6)
             ORDER BY sequence LIMIT $7
         ) e ON true
         ORDER BY e.sequence"
    ))
    .bind(project_id)
    .bind(tenant_id)
    .bind(run_id)
    .bind(filter.after_sequence.unwrap_or(-1))
    .bind(&filter.event_type)
    .bind(&filter.step_name)
    .bind(limit)
    .fetch_all(&mut *pool.acquire().await?)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    if first.try_get::<Option<i64>, _>(0)?.is_none() {
        return Ok(Some(Vec::new()));
    }
    rows.iter()
        .map(|row| event_at(row, 0))
        .collect::<Result<_, _>>()
        .map(Some)
}
