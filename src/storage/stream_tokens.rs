//! Stream tokens: stored by hash, redeemed while fresh (pruned with the change log).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::pool::{Connection, Pool};

/// Stores a token for the tenant (and one of its projects, if given) until `ttl` from now.
/// `None` when the tenant has no such project.
#[tracing::instrument(skip(connection, hash))]
pub async fn create(
    connection: &mut Connection,
    tenant_id: i64,
    project_id: Option<i64>,
    hash: &[u8],
    ttl: Duration,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar(
        "INSERT INTO stream_tokens (token_hash, tenant_id, project_id, expires_at)
         SELECT $1, $2, $3, now() + make_interval(secs => $4)
         WHERE $3::bigint IS NULL OR EXISTS (SELECT 1 FROM projects WHERE id = $3 AND tenant_id = $2)
         RETURNING expires_at",
    )
    .bind(hash)
    .bind(tenant_id)
    .bind(project_id)
    .bind(ttl.as_secs_f64())
    .fetch_optional(&mut *connection)
    .await
}

/// The tenant and project scope of a token that has not expired.
#[tracing::instrument(skip(pool, hash))]
pub async fn redeem(pool: &Pool, hash: &[u8]) -> sqlx::Result<Option<(i64, Option<i64>)>> {
    sqlx::query_as(
        "SELECT tenant_id, project_id FROM stream_tokens WHERE token_hash = $1 AND expires_at > now()",
    )
    .bind(hash)
    .fetch_optional(&mut *pool.acquire().await?)
    .await
}
