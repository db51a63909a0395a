//! Tenants and their API keys (by the keys' hashes: a secret is never stored).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{Name, Scope};
use crate::pool::Pool;

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct TenantRecord {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// A key as stored: the tenant it belongs to and its id (the secret is never stored).
#[derive(Debug)]
pub struct StoredKey {
    pub tenant: TenantRecord,
    pub api_key_id: i64,
}

/// A key to store: the hash of its secret, and what it may do until when.
#[derive(Debug)]
pub struct NewKey<'a> {
    pub hash: &'a [u8],
    /// The first characters of the secret, to tell keys apart in listings.
    pub prefix: &'a str,
    pub scope: Scope,
    pub name: Option<&'a Name>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// What authenticating a request needs to know of an active (unrevoked) key.
#[derive(Clone, Copy, Debug, sqlx::FromRow)]
pub struct ActiveKey {
    pub id: i64,
    pub tenant_id: i64,
    pub scope: Scope,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key as `taskdash key list` shows it: everything but the secret, which is not stored.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct KeyListing {
    pub id: i64,
    pub name: Option<String>,
    pub scope: Scope,
    pub prefix: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What `tenant delete` removed.
#[derive(Clone, Copy, Debug, sqlx::FromRow)]
pub struct DeletedTenant {
    pub deleted_projects: i64,
    pub deleted_keys: i64,
}

/// The unrevoked key with this hash; whether it has expired is for the caller to judge (so a
/// cached answer stays exact about expiry).
#[tracing::instrument(skip_all)]
pub async fn active_key(pool: &Pool, key_hash: &[u8]) -> sqlx::Result<Option<ActiveKey>> {
    sqlx::query_as(
        "SELECT id, tenant_id, scope, expires_at FROM api_keys
         WHERE secret_hash = $1 AND revoked_at IS NULL",
    )
    .bind(key_hash)
    .fetch_optional(&mut *pool.acquire().await?)
    .await
}

/// Notes that a key was used, unless that was noted less than `granularity` ago (replicas that
/// each note it once per interval write the row at most once per interval between them).
#[tracing::instrument(skip(pool))]
pub async fn record_use(pool: &Pool, key_id: i64, granularity: Duration) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE api_keys SET last_used_at = now()
         WHERE id = $1
           AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2))",
    )
    .bind(key_id)
    .bind(granularity.as_secs_f64())
    .execute(&mut *pool.acquire().await?)
    .await
    .map(drop)
}

pub async fn find_tenant(pool: &Pool, name: &str) -> sqlx::Result<Option<TenantRecord>> {
    sqlx::query_as("SELECT id, name, created_at FROM tenants WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *pool.acquire().await?)
        .await
}

/// Creates the tenant and its first key in one statement; `None` if the name is taken.
pub async fn create_tenant(
    pool: &Pool,
    name: &str,
    key: &NewKey<'_>,
) -> sqlx::Result<Option<StoredKey>> {
    store_key(
        pool,
        "WITH tenant AS (
             INSERT INTO tenants (name) VALUES ($1) ON CONFLICT (name) DO NOTHING
             RETURNING id, name, created_at)",
        name,
        key,
    )
    .await
}

/// Stores another key for an existing tenant; `None` if there is no such tenant.
pub async fn create_key(
    pool: &Pool,
    tenant_name: &str,
    key: &NewKey<'_>,
) -> sqlx::Result<Option<StoredKey>> {
    store_key(
        pool,
        "WITH tenant AS (SELECT id, name, created_at FROM tenants WHERE name = $1)",
        tenant_name,
        key,
    )
    .await
}

/// Stores a new key for the tenant that `tenant_cte` (a `WITH tenant AS (…)` clause taking the
/// name as $1) yields, in the same statement: both rows or neither.
async fn store_key(
    pool: &Pool,
    tenant_cte: &'static str,
    name: &str,
    key: &NewKey<'_>,
) -> sqlx::Result<Option<StoredKey>> {
    let statement = format!(
        "{tenant_cte},
         key AS (INSERT INTO api_keys (tenant_id, secret_hash, prefix, scope, name, expires_at)
                 SELECT id, $2, $3, $4, $5, $6 FROM tenant RETURNING id)
         SELECT tenant.id, tenant.name, tenant.created_at, key.id FROM tenant, key"
    );
    let row: Option<(i64, String, DateTime<Utc>, i64)> =
        sqlx::query_as(sqlx::AssertSqlSafe(statement))
            .bind(name)
            .bind(key.hash)
            .bind(key.prefix)
            .bind(key.scope)
            .bind(key.name)
            .bind(key.expires_at)
            .fetch_optional(&mut *pool.acquire().await?)
            .await?;
    Ok(row.map(|(id, name, created_at, api_key_id)| StoredKey {
        tenant: TenantRecord {
            id,
            name,
            created_at,
        },
        api_key_id,
    }))
}

/// The tenant's keys, oldest first, revoked and expired ones included; `None` if there is no
/// such tenant.
pub async fn list_keys(pool: &Pool, tenant_name: &str) -> sqlx::Result<Option<Vec<KeyListing>>> {
    let mut connection = pool.acquire().await?;
    let Some(tenant) = sqlx::query_scalar::<_, i64>("SELECT id FROM tenants WHERE name = $1")
        .bind(tenant_name)
        .fetch_optional(&mut *connection)
        .await?
    else {
        return Ok(None);
    };
    sqlx::query_as(
        "SELECT id, name, scope, prefix, created_at, last_used_at, expires_at, revoked_at
         FROM api_keys WHERE tenant_id = $1 ORDER BY id",
    )
    .bind(tenant)
    .fetch_all(&mut *connection)
    .await
    .map(Some)
}

/// Revokes a key; `false` if there is no such key or it was already revoked.
pub async fn revoke_key(pool: &Pool, key_id: i64) -> sqlx::Result<bool> {
    let result =
        sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
            .bind(key_id)
            .execute(&mut *pool.acquire().await?)
            .await?;
    Ok(result.rows_affected() == 1)
}

/// Deletes the tenant and everything it owns, in one transaction (see the `delete_tenant`
/// function's migration); `None` if there is no such tenant.
pub async fn delete_tenant(pool: &Pool, name: &str) -> sqlx::Result<Option<DeletedTenant>> {
    sqlx::query_as("SELECT deleted_projects, deleted_keys FROM delete_tenant($1)")
        .bind(name)
        .fetch_optional(&mut *pool.acquire().await?)
        .await
}
