//! All SQL lives here. Every query of tenant data joins or filters on the caller's tenant id, so
//! a row of another tenant is indistinguishable from a missing one.

pub mod milestones;
pub mod projects;
pub mod tasks;
pub mod tenants;

/// Whether the tenant owns the project. Used on cold paths only (to tell "empty" from "not
/// yours"); hot paths fold the tenant check into their one statement.
pub async fn project_exists(
    pool: &sqlx::PgPool,
    tenant_id: i64,
    project_id: i64,
) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1 AND tenant_id = $2)")
        .bind(project_id)
        .bind(tenant_id)
        .fetch_one(pool)
        .await
}
