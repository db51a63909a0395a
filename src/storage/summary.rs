//! A project's summary, in one statement that reads only the maintained counters and two index
//! probes: its cost does not grow with the number of tasks or runs.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::DATA_VERSION;
use crate::domain::{
    MilestoneStatus, MilestoneSummary, ProjectSummary, RunStatusCounts, StatusCounts,
};
use crate::pool::Pool;

#[derive(serde::Deserialize)]
struct MilestoneRow {
    id: i64,
    name: String,
    status: MilestoneStatus,
    by_status: StatusCounts,
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    by_status: Json<StatusCounts>,
    milestones: Json<Vec<MilestoneRow>>,
    oldest_open_created_at: Option<DateTime<Utc>>,
    last_activity_at: Option<DateTime<Utc>>,
    runs_by_status: Json<RunStatusCounts>,
    version: i64,
}

/// The summary and the project's data version, read in one statement (so the answer's `ETag`
/// is exact); `None` when the tenant has no such project.
#[tracing::instrument(skip(pool))]
pub async fn get(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
) -> sqlx::Result<Option<(ProjectSummary, i64)>> {
    let row: Option<SummaryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH counts AS (
             SELECT c.milestone_id, c.status, sum(c.n)::bigint AS n
             FROM task_counts c WHERE c.project_id = $1 GROUP BY 1, 2
         )
         SELECT
             (SELECT COALESCE(jsonb_object_agg(s.status, s.n), '{{}}')
              FROM (SELECT status, sum(n)::bigint AS n FROM counts GROUP BY status) s) AS by_status,
             (SELECT COALESCE(jsonb_agg(jsonb_build_object(
                         'id', m.id, 'name', m.name, 'status', m.status,
                         'by_status', (SELECT COALESCE(jsonb_object_agg(c.status, c.n), '{{}}')
                                       FROM counts c WHERE c.milestone_id = m.id))
                     ORDER BY m.id), '[]')
              FROM milestones m WHERE m.project_id = $1) AS milestones,
             (SELECT t.created_at FROM tasks t WHERE t.project_id = $1 AND t.status = 'open'
              ORDER BY t.created_at, t.id LIMIT 1) AS oldest_open_created_at,
             (SELECT t.updated_at FROM tasks t WHERE t.project_id = $1
              ORDER BY t.updated_at DESC, t.id DESC LIMIT 1) AS last_activity_at,
             (SELECT COALESCE(jsonb_object_agg(r.status, r.n), '{{}}')
              FROM run_counts r WHERE r.project_id = $1) AS runs_by_status,
             {DATA_VERSION} AS version
         FROM projects WHERE id = $1 AND tenant_id = $2"
    )))
    .bind(project_id)
    .bind(tenant_id)
    .fetch_optional(&mut *pool.acquire().await?)
    .await?;
    Ok(row.map(|row| {
        let tasks = row.by_status.0.into();
        let summary = ProjectSummary {
            project_id,
            blocked: row.by_status.0.blocked,
            tasks,
            milestones: row
                .milestones
                .0
                .into_iter()
                .map(|m| MilestoneSummary {
                    id: m.id,
                    name: m.name,
                    status: m.status,
                    tasks: m.by_status.into(),
                })
                .collect(),
            oldest_open_created_at: row.oldest_open_created_at,
            last_activity_at: row.last_activity_at,
            runs: row.runs_by_status.0.into(),
        };
        (summary, row.version)
    }))
}
