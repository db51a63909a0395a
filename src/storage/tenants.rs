use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::auth;

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct TenantRecord {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// What `tenant create` and `key create` print: the key's secret appears here and nowhere else.
#[derive(Debug, Serialize)]
pub struct IssuedKey {
    pub tenant: TenantRecord,
    pub api_key_id: i64,
    pub api_key: String,
}

#[tracing::instrument(skip_all)]
pub async fn tenant_for_key(pool: &PgPool, key_hash: &[u8]) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "SELECT tenant_id FROM api_keys WHERE secret_hash = $1 AND revoked_at IS NULL",
    )
    .bind(key_hash)
    .fetch_optional(&mut *super::acquire(pool).await?)
    .await
}

pub async fn find_tenant(pool: &PgPool, name: &str) -> sqlx::Result<Option<TenantRecord>> {
    sqlx::query_as("SELECT id, name, created_at FROM tenants WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *super::acquire(pool).await?)
        .await
}

/// Creates the tenant and its first key in one transaction; `None` if the name is taken.
pub async fn create_tenant(pool: &PgPool, name: &str) -> sqlx::Result<Option<IssuedKey>> {
    let mut tx = pool.begin().await?;
    let tenant: Option<TenantRecord> = sqlx::query_as(
        "INSERT INTO tenants (name) VALUES ($1) ON CONFLICT (name) DO NOTHING
         RETURNING id, name, created_at",
    )
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(tenant) = tenant else {
        return Ok(None);
    };
    let issued = insert_key(&mut tx, tenant).await?;
    tx.commit().await?;
    Ok(Some(issued))
}

/// Issues another key for an existing tenant; `None` if there is no such tenant.
pub async fn create_key(pool: &PgPool, tenant_name: &str) -> sqlx::Result<Option<IssuedKey>> {
    let mut tx = pool.begin().await?;
    let tenant: Option<TenantRecord> =
        sqlx::query_as("SELECT id, name, created_at FROM tenants WHERE name = $1")
            .bind(tenant_name)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(tenant) = tenant else {
        return Ok(None);
    };
    let issued = insert_key(&mut tx, tenant).await?;
    tx.commit().await?;
    Ok(Some(issued))
}

async fn insert_key(
    tx: &mut sqlx::PgTransaction<'_>,
    tenant: TenantRecord,
) -> sqlx::Result<IssuedKey> {
    let key = auth::generate_key();
    let api_key_id: i64 = sqlx::query_scalar(
        "INSERT INTO api_keys (tenant_id, secret_hash) VALUES ($1, $2) RETURNING id",
    )
    .bind(tenant.id)
    .bind(&key.hash)
    .fetch_one(&mut **tx)
    .await?;
    Ok(IssuedKey {
        tenant,
        api_key_id,
        api_key: key.secret,
    })
}

/// Revokes a key; `false` if there is no such key or it was already revoked.
pub async fn revoke_key(pool: &PgPool, key_id: i64) -> sqlx::Result<bool> {
    let result =
        sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
            .bind(key_id)
            .execute(&mut *super::acquire(pool).await?)
            .await?;
    Ok(result.rows_affected() == 1)
}
