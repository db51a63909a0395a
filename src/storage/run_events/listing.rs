//! Reading a run's timeline.

use sqlx::Row;

use super::event_at;
use crate::domain::RunEvent;
use crate::pool::Pool;
use crate::storage::max_page_rows;

/// Which events of a timeline to read.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub after_sequence: Option<i64>,
    pub event_type: Option<String>,
    pub step_name: Option<String>,
}

/// Up to `limit` events of the run after `after_sequence`, in sequence order (the primary key's
/// order: the filters are checked on the way); `None` when the tenant has no such run. One
/// static statement: every filter combination has the same best plan, that walk, which
/// PostgreSQL keeps under the constant bound (see `MAX_PAGE_ROWS`).
#[tracing::instrument(skip(pool, filter))]
pub async fn list(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    run_id: i64,
    filter: &EventFilter,
    limit: i64,
) -> sqlx::Result<Option<Vec<RunEvent>>> {
    let rows = sqlx::query(concat!(
        "WITH run AS MATERIALIZED (
             SELECT r.id FROM runs r JOIN projects p ON p.id = r.project_id AND p.tenant_id = $2
             WHERE r.project_id = $1 AND r.id = $3
         )
         SELECT e.* FROM run LEFT JOIN LATERAL (
             SELECT * FROM (
                 SELECT ",
        event_columns!(),
        " FROM run_events
                 WHERE project_id = $1 AND run_id = $3 AND sequence > $4
                   AND ($5::text IS NULL OR event_type = $5) AND ($6::text IS NULL OR step_name = $6)
                 ORDER BY sequence LIMIT ",
        max_page_rows!(),
        "
             ) e ORDER BY sequence LIMIT $7
         ) e ON true
         ORDER BY e.sequence"
    ))
    .bind(project_id)
    .bind(tenant_id)
    .bind(run_id)
    .bind(filter.after_sequence.unwrap_or(-1))
    .bind(&filter.event_type)
    .bind(&filter.step_name)
    .bind(limit)
    .fetch_all(&mut *pool.acquire().await?)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    if first.try_get::<Option<i64>, _>(0)?.is_none() {
        return Ok(Some(Vec::new()));
    }
    rows.iter()
        .map(|row| event_at(row, 0))
        .collect::<Result<_, _>>()
        .map(Some)
}
