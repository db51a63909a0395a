//! All SQL lives here. Every query of tenant data joins or filters on the caller's tenant id, so
//! a row of another tenant is indistinguishable from a missing one.

use std::time::Instant;

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};

use crate::domain::Description;

pub mod milestones;
pub mod projects;
pub mod tasks;
pub mod tenants;

/// A connection from the pool, with the wait recorded in `db_pool_acquire_seconds`: a growing
/// wait means the pool (or the database behind it) is the bottleneck. Every query goes through
/// here; the connection returns to the pool when dropped, at the end of the statement.
pub async fn acquire(pool: &PgPool) -> sqlx::Result<PoolConnection<Postgres>> {
    let started = Instant::now();
    let connection = pool.acquire().await;
    metrics::histogram!("db_pool_acquire_seconds").record(started.elapsed().as_secs_f64());
    connection
}

/// A PATCH's description as two bind parameters: whether to change it, and the new value
/// (`None` clears it) — for `CASE WHEN $set THEN $value ELSE description END`.
fn description_change(change: &Option<Option<Description>>) -> (bool, Option<&str>) {
    match change {
        Some(description) => (true, description.as_ref().map(Description::as_str)),
        None => (false, None),
    }
}

/// Whether the tenant owns the project. Used on cold paths only (to tell "empty" from "not
/// yours"); hot paths fold the tenant check into their one statement.
pub async fn project_exists(pool: &PgPool, tenant_id: i64, project_id: i64) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1 AND tenant_id = $2)")
        .bind(project_id)
        .bind(tenant_id)
        .fetch_one(&mut *acquire(pool).await?)
        .await
}
