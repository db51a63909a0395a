//! A task creation under an `Idempotency-Key` in one statement: the key's in-flight lock, its
//! stored response, the creation and the key's row, where the general path
//! (`routes::idempotency::respond`) takes five round trips (BEGIN, lock and lookup, effect, key,
//! COMMIT). The statement commits on its own, so the key is stored exactly when the task is.

use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::types::Json;

use super::creation::{bind_new_task, unknown_reference};
use super::{task_at, task_columns};
use crate::domain::{NewTask, Task};
use crate::pool::Connection;
use crate::storage::idempotency::{IN_FLIGHT_LOCK, NewKey, Stored, StoredResponse};

use super::{CreateError, Created};

/// How often the statement runs again when another request stored the key after our
/// statement's snapshot was taken (its own INSERT of the key then fails): the next run replays.
const ATTEMPTS: usize = 3;

/// What a keyed creation did (one per request, so the size of `Done` does not matter).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum KeyedCreate {
    /// Created (or found by external_id), and the key stored with it.
    Done(Created),
    /// The key holds a live response: the caller compares fingerprints and replays it.
    Stored(Stored),
    /// Another request with the key is running.
    InFlight,
    /// Nothing done, for a case the general path settles: the key holds an expired response
    /// (to overwrite), or the project is missing or a concurrent creation of the external_id
    /// committed after the statement began.
    General,
}

/// Creates `task` (which has no dependencies) under `key`, in one statement.
#[tracing::instrument(skip(connection, task, key), fields(external_id = ?task.external_id))]
pub async fn create_keyed(
    connection: &mut Connection,
    tenant_id: i64,
    project_id: i64,
    task: &NewTask,
    key: NewKey<'_>,
) -> Result<KeyedCreate, CreateError> {
    for _ in 0..ATTEMPTS {
        let outcome = bind_new_task(
            sqlx::query(concat!(
                "WITH lock AS MATERIALIZED (
                 SELECT pg_try_advisory_xact_lock($12, hashtext($2::text || ':' || $13)) AS held
             ), stored AS MATERIALIZED (
                 SELECT k.expires_at > now() AS live, k.fingerprint, k.status, k.headers, k.body,
                        k.task
                 FROM lock CROSS JOIN idempotency_key($2, $13) k WHERE lock.held
             ), go AS MATERIALIZED (
                 SELECT FROM lock WHERE lock.held AND NOT EXISTS (SELECT FROM stored)
             ), inserted AS (
                 INSERT INTO tasks (project_id, title, description, status, priority_score,
                                    external_id, milestone_id, parent_task_id, labels, completed_at,
                                    run_id)
                 SELECT p.id, $3, $4, $5, $6, $7, $8, $9, $10,
                        CASE WHEN $5::text = 'done' THEN now() END, $11
                 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2 AND EXISTS (SELECT FROM go)
                 ON CONFLICT (project_id, external_id) DO NOTHING
                 RETURNING ",
                task_columns!(),
                "), answer AS MATERIALIZED (
                 SELECT true AS created, inserted.* FROM inserted
                 UNION ALL
                 SELECT false, ",
                task_columns!(),
                " FROM tasks
                 WHERE project_id = $1 AND external_id = $7 AND EXISTS (SELECT FROM go)
                   AND NOT EXISTS (SELECT 1 FROM inserted)
                   AND EXISTS (SELECT 1 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2)
             ), kept AS (
                 INSERT INTO idempotency_keys (tenant_id, key, fingerprint, status, headers, task,
                                               expires_at)
                 SELECT $2, $13, $14, CASE WHEN a.created THEN 201 ELSE 200 END, '[]',
                        to_jsonb(a) - 'created', now() + make_interval(secs => $15)
                 FROM answer a
             )
             SELECT lock.held, s.live, s.fingerprint, s.status, s.headers, s.body, s.task, a.*
             FROM lock LEFT JOIN stored s ON true LEFT JOIN answer a ON true"
            )),
            project_id,
            tenant_id,
            task,
        )
        .bind(IN_FLIGHT_LOCK)
        .bind(key.key)
        .bind(key.fingerprint)
        .bind(key.ttl.as_secs_f64())
        .try_map(|row: PgRow| outcome(&row))
        .fetch_one(&mut *connection)
        .await;
        match outcome {
            Ok(outcome) => return Ok(outcome),
            Err(error) if is_key_taken(&error) => continue,
            Err(error) => return Err(unknown_reference(error, 0)),
        }
    }
    Ok(KeyedCreate::General)
}

fn outcome(row: &PgRow) -> sqlx::Result<KeyedCreate> {
    if !row.try_get::<bool, _>(0)? {
        return Ok(KeyedCreate::InFlight);
    }
    if let Some(live) = row.try_get::<Option<bool>, _>(1)? {
        let response = StoredResponse::from_columns(
            row.try_get::<Option<Json<Vec<(String, String)>>>, _>(4)?,
            row.try_get(5)?,
            row.try_get::<Option<Json<Task>>, _>(6)?,
        );
        return Ok(match response {
            Some(response) if live => KeyedCreate::Stored(Stored {
                fingerprint: row.try_get(2)?,
                status: row.try_get(3)?,
                response,
            }),
            _ => KeyedCreate::General,
        });
    }
    Ok(match row.try_get::<Option<bool>, _>(7)? {
        Some(true) => KeyedCreate::Done(Created::New(task_at(row, 8)?)),
        Some(false) => KeyedCreate::Done(Created::Existing(task_at(row, 8)?)),
        None => KeyedCreate::General,
    })
}

/// Another request stored the key after this statement's snapshot: the INSERT of the key hit
/// its primary key, and the whole statement (the task with it) was undone.
fn is_key_taken(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.constraint() == Some("idempotency_keys_pkey"))
}
