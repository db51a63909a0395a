//! Idempotency keys: the first response to a request with a key, stored in the transaction of
//! the request's effect (so a key is taken exactly when the effect committed), replayed to
//! retries.

use std::time::Duration;

use sqlx::types::Json;

use crate::domain::Task;
use crate::pool::Connection;

/// The first key of the two-key advisory lock space for keys in flight ("idem"); the second is
/// a hash of tenant and key (a collision only makes one request wait for another's retry).
pub(crate) const IN_FLIGHT_LOCK: i32 = 0x6964_656d;

/// A stored first response.
#[derive(Debug)]
pub struct Stored {
    pub fingerprint: Vec<u8>,
    pub status: i16,
    pub response: StoredResponse,
}

/// What a first response is kept as.
#[derive(Debug)]
pub enum StoredResponse {
    /// The response's headers that a replay repeats, and its body.
    Bytes {
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// A task creation's answer, as the task it answered with (see `tasks::create_keyed`).
    Task(Box<Task>),
}

impl StoredResponse {
    /// From the `headers`, `body` and `task` columns (exactly one of `body` and `task` is set).
    pub(crate) fn from_columns(
        headers: Option<Json<Vec<(String, String)>>>,
        body: Option<Vec<u8>>,
        task: Option<Json<Task>>,
    ) -> Option<Self> {
        match (body, task) {
            (_, Some(Json(task))) => Some(Self::Task(Box::new(task))),
            (Some(body), None) => Some(Self::Bytes {
                headers: headers.map(|h| h.0).unwrap_or_default(),
                body,
            }),
            (None, None) => None,
        }
    }
}

/// A request's key, as a statement that stores it takes it.
#[derive(Clone, Copy, Debug)]
pub struct NewKey<'a> {
    pub key: &'a str,
    /// SHA-256 of the request's method, path and body.
    pub fingerprint: &'a [u8],
    pub ttl: Duration,
}

/// What a key holds when a request with it begins.
#[derive(Debug)]
pub enum Lookup {
    /// No live response: this request goes ahead (and holds the key until it commits).
    Free,
    /// Another request with this key is running.
    InFlight,
    Stored(Stored),
}

/// Inside the request's transaction: takes the key's in-flight lock (without waiting) and
/// reads its stored response, in one statement. The lock lasts until the transaction ends.
pub async fn begin(connection: &mut Connection, tenant_id: i64, key: &str) -> sqlx::Result<Lookup> {
    type Row = (
        bool,
        Option<Vec<u8>>,
        Option<i16>,
        Option<Json<Vec<(String, String)>>>,
        Option<Vec<u8>>,
        Option<Json<Task>>,
    );
    let row: Row = sqlx::query_as(
        "WITH lock AS MATERIALIZED (
             SELECT pg_try_advisory_xact_lock($3, hashtext($1::text || ':' || $2)) AS held
         )
         SELECT lock.held, k.fingerprint, k.status, k.headers, k.body, k.task
         FROM lock LEFT JOIN idempotency_key($1, $2) k ON lock.held AND k.expires_at > now()",
    )
    .bind(tenant_id)
    .bind(key)
    .bind(IN_FLIGHT_LOCK)
    .fetch_one(&mut *connection)
    .await?;
    let (held, fingerprint, status, headers, body, task) = row;
    if !held {
        return Ok(Lookup::InFlight);
    }
    let response = StoredResponse::from_columns(headers, body, task);
    Ok(match (fingerprint, status, response) {
        (Some(fingerprint), Some(status), Some(response)) => Lookup::Stored(Stored {
            fingerprint,
            status,
            response,
        }),
        _ => Lookup::Free,
    })
}

/// Stores the first response under the key, in the request's transaction; `false` when a live
/// response is already stored (a request with the key committed since [`begin`] read: the
/// caller rolls back and replays that one).
pub async fn store(
    connection: &mut Connection,
    tenant_id: i64,
    key: NewKey<'_>,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> sqlx::Result<bool> {
    let stored: Option<bool> = sqlx::query_scalar(
        "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, status, headers, body, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
         ON CONFLICT (tenant_id, key) DO UPDATE SET
             fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status,
             headers = EXCLUDED.headers, body = EXCLUDED.body, task = NULL,
             created_at = now(), expires_at = EXCLUDED.expires_at
         WHERE idempotency_keys.expires_at <= now()
         RETURNING true",
    )
    .bind(tenant_id)
    .bind(key.key)
    .bind(key.fingerprint)
    .bind(status as i16)
    .bind(Json(headers))
    .bind(body)
    .bind(key.ttl.as_secs_f64())
    .fetch_optional(&mut *connection)
    .await?;
    Ok(stored.is_some())
}
