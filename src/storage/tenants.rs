use chrono::{DateTime, Utc};
use serde::Serialize;

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

#[tracing::instrument(skip_all)]
pub async fn tenant_for_key(pool: &Pool, key_hash: &[u8]) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "SELECT tenant_id FROM api_keys WHERE secret_hash = $1 AND revoked_at IS NULL",
    )
    .bind(key_hash)
    .fetch_optional(&mut *pool.acquire().await?)
    .await
}

pub async fn find_tenant(pool: &Pool, name: &str) -> sqlx::Result<Option<TenantRecord>> {
    sqlx::query_as("SELECT id, name, created_at FROM tenants WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *pool.acquire().await?)
        .await
}

/// Creates the tenant and its first key (by the key's hash) in one statement; `None` if the
/// name is taken.
pub async fn create_tenant(
    pool: &Pool,
    name: &str,
    key_hash: &[u8],
) -> sqlx::Result<Option<StoredKey>> {
    store_key(
        pool,
        "WITH tenant AS (
             INSERT INTO tenants (name) VALUES ($1) ON CONFLICT (name) DO NOTHING
             RETURNING id, name, created_at)",
        name,
        key_hash,
    )
    .await
}

/// Stores another key (by its hash) for an existing tenant; `None` if there is no such tenant.
pub async fn create_key(
    pool: &Pool,
    tenant_name: &str,
    key_hash: &[u8],
) -> sqlx::Result<Option<StoredKey>> {
    store_key(
        pool,
        "WITH tenant AS (SELECT id, name, created_at FROM tenants WHERE name = $1)",
        tenant_name,
        key_hash,
    )
    .await
}

/// Stores a new key for the tenant that `tenant_cte` (a `WITH tenant AS (…)` clause taking the
/// name as $1) yields, in the same statement: both rows or neither.
async fn store_key(
    pool: &Pool,
    tenant_cte: &'static str,
    name: &str,
    key_hash: &[u8],
) -> sqlx::Result<Option<StoredKey>> {
    let statement = format!(
        "{tenant_cte},
         key AS (INSERT INTO api_keys (tenant_id, secret_hash)
                 SELECT id, $2 FROM tenant RETURNING id)
         SELECT tenant.id, tenant.name, tenant.created_at, key.id FROM tenant, key"
    );
    let row: Option<(i64, String, DateTime<Utc>, i64)> =
        sqlx::query_as(sqlx::AssertSqlSafe(statement))
            .bind(name)
            .bind(key_hash)
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

/// Revokes a key; `false` if there is no such key or it was already revoked.
pub async fn revoke_key(pool: &Pool, key_id: i64) -> sqlx::Result<bool> {
    let result =
        sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
            .bind(key_id)
            .execute(&mut *pool.acquire().await?)
            .await?;
    Ok(result.rows_affected() == 1)
}
