use sqlx::postgres::PgRow;
use sqlx::{FromRow, Row};

use super::DATA_VERSION;
use crate::pool::{Connection, Pool};

use crate::domain::{Milestone, MilestoneChanges, NewMilestone};

/// Selects milestone rows `m` with their task counts, summed from the counters' stripes
/// (`task_counts`, maintained by the tasks' triggers): a few rows per milestone, whatever the
/// number of tasks.
const SELECT_WITH_COUNTS: &str = "
    SELECT m.id, m.project_id, m.name, m.slug, m.status, m.description, m.created_at, m.updated_at,
           (SELECT COALESCE(jsonb_object_agg(s.status, s.n), '{}')
            FROM (SELECT c.status, sum(c.n) AS n FROM task_counts c
                  WHERE c.project_id = m.project_id AND c.milestone_id = m.id
                  GROUP BY c.status) s) AS task_counts
    FROM m";

/// `None` when the tenant has no such project.
#[tracing::instrument(skip(connection, milestone))]
pub async fn create(
    connection: &mut Connection,
    tenant_id: i64,
    project_id: i64,
    milestone: &NewMilestone,
) -> sqlx::Result<Option<Milestone>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH m AS (
             INSERT INTO milestones (project_id, name, slug, description, status)
             SELECT p.id, $3, $4, $5, $6 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2
             RETURNING *
         ) {SELECT_WITH_COUNTS}"
    )))
    .bind(project_id)
    .bind(tenant_id)
    .bind(&milestone.naming.name)
    .bind(&milestone.naming.slug)
    .bind(&milestone.naming.description)
    .bind(milestone.status)
    .fetch_optional(&mut *connection)
    .await
}

#[tracing::instrument(skip(pool))]
pub async fn list(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    after_id: Option<i64>,
    limit: i64,
) -> sqlx::Result<Option<(Vec<Milestone>, i64)>> {
    // The project (of this tenant) and its data version, then its page, joined: no project, no
    // row; a project without milestones (after the cursor), one row of NULL milestone columns.
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH v AS MATERIALIZED (
             SELECT {DATA_VERSION} AS data_version FROM projects WHERE id = $1 AND tenant_id = $2
         ), m AS (
             SELECT m.* FROM milestones m
             WHERE m.project_id = $1 AND ($3::bigint IS NULL OR m.id > $3)
             ORDER BY m.id LIMIT $4
         )
         SELECT v.data_version, w.* FROM v LEFT JOIN LATERAL ({SELECT_WITH_COUNTS}) w ON true
         ORDER BY w.id"
    )))
    .bind(project_id)
    .bind(tenant_id)
    .bind(after_id)
    .bind(limit + 1)
    .fetch_all(&mut *pool.acquire().await?)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let version = first.try_get("data_version")?;
    let mut milestones = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<Option<i64>, _>("id")?.is_some() {
            milestones.push(Milestone::from_row(row)?);
        }
    }
    Ok(Some((milestones, version)))
}

#[tracing::instrument(skip(pool))]
pub async fn get(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    id: i64,
) -> sqlx::Result<Option<(Milestone, i64)>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH m AS (
             SELECT m.* FROM milestones m JOIN projects p ON p.id = m.project_id
             WHERE m.project_id = $1 AND p.tenant_id = $2 AND m.id = $3
         )
         SELECT w.*, (SELECT {DATA_VERSION} FROM projects WHERE projects.id = $1) AS data_version
         FROM ({SELECT_WITH_COUNTS}) w"
    )))
    .bind(project_id)
    .bind(tenant_id)
    .bind(id)
    .try_map(|row: PgRow| Ok((Milestone::from_row(&row)?, row.try_get("data_version")?)))
    .fetch_optional(&mut *pool.acquire().await?)
    .await
}

#[tracing::instrument(skip(pool, changes))]
pub async fn update(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    id: i64,
    changes: &MilestoneChanges,
) -> sqlx::Result<Option<Milestone>> {
    let naming = &changes.naming;
    let (set_description, description) = super::optional_change(&naming.description);
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH m AS (
             UPDATE milestones m SET
                 name = COALESCE($4, m.name),
                 slug = COALESCE($5, m.slug),
                 description = CASE WHEN $6 THEN $7 ELSE m.description END,
                 status = COALESCE($8, m.status)
             FROM projects p
             WHERE m.project_id = $1 AND m.id = $3 AND p.id = m.project_id AND p.tenant_id = $2
             RETURNING m.*
         ) {SELECT_WITH_COUNTS}"
    )))
    .bind(project_id)
    .bind(tenant_id)
    .bind(id)
    .bind(&naming.name)
    .bind(&naming.slug)
    .bind(set_description)
    .bind(description)
    .bind(changes.status)
    .fetch_optional(&mut *pool.acquire().await?)
    .await
}

/// Deletes the milestone; its tasks stay, with `milestone_id` cleared.
#[tracing::instrument(skip(pool))]
pub async fn delete(pool: &Pool, tenant_id: i64, project_id: i64, id: i64) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "DELETE FROM milestones m USING projects p
         WHERE m.project_id = $1 AND m.id = $3 AND p.id = m.project_id AND p.tenant_id = $2",
    )
    .bind(project_id)
    .bind(tenant_id)
    .bind(id)
    .execute(&mut *pool.acquire().await?)
    .await?;
    Ok(result.rows_affected() == 1)
}
