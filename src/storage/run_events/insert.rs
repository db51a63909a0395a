//! The one statement that writes a batch, and the cold path after it refused a sequence.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::types::Json;

use super::{AppendError, Appended, event_at};
use crate::domain::NewRunEvent;
use crate::pool::Connection;

/// The one statement: the events not yet stored are inserted (their sequences assigned from
/// the run's counter), and the stored ones are read, under the statement's snapshot. Returns
/// (index, outcome) per event it could answer for.
pub(super) async fn insert(
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
