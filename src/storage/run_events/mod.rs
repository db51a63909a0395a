//! Run events SQL: a batch is written in one statement that also assigns the missing
//! sequences from the run's counter, and the timeline is read in sequence order.
//!
//! `append` drives a batch's write (retries, outcomes), `insert` holds its one statement and
//! the cold path after a refused sequence, and `listing` reads the timeline. What they share
//! is here: the columns every statement returns, how a row becomes a [`RunEvent`], and a
//! write's outcomes.

use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::domain::RunEvent;

/// The columns of [`RunEvent`], in the order [`event_at`] reads them.
macro_rules! event_columns {
    () => {
        "project_id, run_id, sequence, event_id, event_type, step_name, status, duration_ms, ts, \
         payload, created_at"
    };
}

// Declared after `event_columns!`: a macro_rules! macro is only visible below its definition.
mod append;
mod insert;
mod listing;

pub use append::append;
pub use listing::{EventFilter, list};

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
