//! Writing a batch: the one statement of `insert`, then (rarely) a second look for the events a
//! concurrent request wrote first.

use std::collections::HashMap;

use sqlx::postgres::PgRow;

use super::insert::insert;
use super::{AppendError, Appended, event_at};
use crate::domain::{NewRunEvent, RunEvent};
use crate::pool::Connection;

/// How often the events that a concurrent request wrote first are looked for again.
const APPEND_ATTEMPTS: usize = 3;

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
