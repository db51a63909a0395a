//! Idempotency keys: the first response to a request with a key, stored in the transaction of
//! the request's effect (so a key is taken exactly when the effect committed), replayed to
//! retries.

use std::time::Duration;

use sqlx::types::Json;

use crate::pool::Connection;

/// The first key of the two-key advisory lock space for keys in flight ("idem"); the second is
/// a hash of tenant and key (a collision only makes one request wait for another's retry).
const IN_FLIGHT_LOCK: i32 = 0x6964_656d;

/// A stored first response.
#[derive(Debug, sqlx::FromRow)]
pub struct Stored {
    pub fingerprint: Vec<u8>,
    pub status: i16,
    pub headers: Json<Vec<(String, String)>>,
    pub body: Vec<u8>,
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
    );
    let row: Row = sqlx::query_as(
        "WITH lock AS MATERIALIZED (
             SELECT pg_try_advisory_xact_lock($3, hashtext($1::text || ':' || $2)) AS held
         )
         SELECT lock.held, k.fingerprint, k.status, k.headers, k.body
         FROM lock LEFT JOIN idempotency_keys k
              ON lock.held AND k.tenant_id = $1 AND k.key = $2 AND k.expires_at > now()",
    )
    .bind(tenant_id)
    .bind(key)
    .bind(IN_FLIGHT_LOCK)
    .fetch_one(&mut *connection)
    .await?;
    Ok(match row {
        (false, ..) => Lookup::InFlight,
        (true, Some(fingerprint), Some(status), Some(headers), Some(body)) => {
            Lookup::Stored(Stored {
                fingerprint,
                status,
                headers,
                body,
            })
        }
        (true, ..) => Lookup::Free,
    })
}

/// Stores the first response under the key, in the request's transaction; `false` when a live
/// response is already stored (a request with the key committed since [`begin`] read: the
/// caller rolls back and replays that one).
#[allow(clippy::too_many_arguments)]
pub async fn store(
    connection: &mut Connection,
    tenant_id: i64,
    key: &str,
    fingerprint: &[u8],
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    ttl: Duration,
) -> sqlx::Result<bool> {
    let stored: Option<bool> = sqlx::query_scalar(
        "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, status, headers, body, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
         ON CONFLICT (tenant_id, key) DO UPDATE SET
             fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status,
             headers = EXCLUDED.headers, body = EXCLUDED.body,
             created_at = now(), expires_at = EXCLUDED.expires_at
         WHERE idempotency_keys.expires_at <= now()
         RETURNING true",
    )
    .bind(tenant_id)
    .bind(key)
    .bind(fingerprint)
    .bind(status as i16)
    .bind(Json(headers))
    .bind(body)
    .bind(ttl.as_secs_f64())
    .fetch_optional(&mut *connection)
    .await?;
    Ok(stored.is_some())
}
