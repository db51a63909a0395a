use sqlx::postgres::PgRow;
use sqlx::{FromRow, Row};

use super::DATA_VERSION;
use crate::pool::{Connection, Pool};

use crate::domain::{Naming, NamingChanges, Project};

const COLUMNS: &str = "id, name, slug, description, created_at, updated_at";

#[tracing::instrument(skip(connection, project))]
pub async fn create(
    connection: &mut Connection,
    tenant_id: i64,
    project: &Naming,
) -> sqlx::Result<Project> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO projects (tenant_id, name, slug, description) VALUES ($1, $2, $3, $4)
         RETURNING {COLUMNS}"
    )))
    .bind(tenant_id)
    .bind(&project.name)
    .bind(&project.slug)
    .bind(&project.description)
    .fetch_one(&mut *connection)
    .await
}

/// One page ordered by id, after `after_id`; `limit + 1` rows are asked for to detect a next page.
#[tracing::instrument(skip(pool))]
pub async fn list(
    pool: &Pool,
    tenant_id: i64,
    after_id: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<Project>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM projects
         WHERE tenant_id = $1 AND ($2::bigint IS NULL OR id > $2)
         ORDER BY id LIMIT $3"
    )))
    .bind(tenant_id)
    .bind(after_id)
    .bind(limit + 1)
    .fetch_all(&mut *pool.acquire().await?)
    .await
}

/// The project and its data version (see [`data_version`]), read in one statement.
#[tracing::instrument(skip(pool))]
pub async fn get(pool: &Pool, tenant_id: i64, id: i64) -> sqlx::Result<Option<(Project, i64)>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS}, {DATA_VERSION} AS data_version
         FROM projects WHERE id = $1 AND tenant_id = $2"
    )))
    .bind(id)
    .bind(tenant_id)
    .try_map(|row: PgRow| Ok((Project::from_row(&row)?, row.try_get("data_version")?)))
    .fetch_optional(&mut *pool.acquire().await?)
    .await
}

#[tracing::instrument(skip(pool, changes))]
pub async fn update(
    pool: &Pool,
    tenant_id: i64,
    id: i64,
    changes: &NamingChanges,
) -> sqlx::Result<Option<Project>> {
    let (set_description, description) = super::optional_change(&changes.description);
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE projects SET
             name = COALESCE($3, name),
             slug = COALESCE($4, slug),
             description = CASE WHEN $5 THEN $6 ELSE description END
         WHERE id = $1 AND tenant_id = $2
         RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(tenant_id)
    .bind(&changes.name)
    .bind(&changes.slug)
    .bind(set_description)
    .bind(description)
    .fetch_optional(&mut *pool.acquire().await?)
    .await
}

/// Deletes the project with its milestones and tasks (by cascade); `false` if not found.
#[tracing::instrument(skip(pool))]
pub async fn delete(pool: &Pool, tenant_id: i64, id: i64) -> sqlx::Result<bool> {
    let result = sqlx::query("DELETE FROM projects WHERE id = $1 AND tenant_id = $2")
        .bind(id)
        .bind(tenant_id)
        .execute(&mut *pool.acquire().await?)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// The project's data version: it grows with every write of the project, its milestones or
/// its tasks (summed from `project_versions`' stripes). `None` when the tenant has no such
/// project. The validator of every cached read of project data.
#[tracing::instrument(skip(pool))]
pub async fn data_version(pool: &Pool, tenant_id: i64, id: i64) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT {DATA_VERSION} FROM projects WHERE id = $1 AND tenant_id = $2"
    )))
    .bind(id)
    .bind(tenant_id)
    .fetch_optional(&mut *pool.acquire().await?)
    .await
}
