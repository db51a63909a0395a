//! Listing a project's tasks: filters, the work-queue order and keyset pages.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};

use sqlx::Row;

use super::{task_at, task_columns};
use crate::domain::{ExternalId, Label, Task, TaskStatus};
use crate::pool::Pool;
use crate::storage::DATA_VERSION;

/// List orders. The default is the work queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskOrder {
    Queue,
    CreatedAt { descending: bool },
    UpdatedAt { descending: bool },
}

#[derive(Clone, Debug, Default)]
pub struct TaskFilter {
    pub statuses: Vec<TaskStatus>,
    pub milestone_id: Option<i64>,
    pub parent_task_id: Option<i64>,
    pub label: Option<Label>,
    pub external_id: Option<ExternalId>,
    pub external_id_prefix: Option<ExternalId>,
    pub priority_min: Option<i32>,
    pub priority_max: Option<i32>,
}

/// Keyset position after which a page starts: the sort keys of the last row served.
#[derive(Clone, Copy, Debug)]
pub enum After {
    Queue {
        priority: i32,
        created_at: DateTime<Utc>,
        id: i64,
    },
    Time {
        at: DateTime<Utc>,
        id: i64,
    },
}

/// One page of a project's tasks (`limit + 1` rows, to tell whether another page follows),
/// with the project's data version read in the same statement (so the page's `ETag` is exact).
pub struct Listed {
    pub version: i64,
    pub tasks: Vec<Task>,
}

/// Up to this many matches of a narrow filter are fetched through the filter's own index and
/// sorted; beyond it, matches are common enough for the ordered index scan to meet a page soon.
const FEW_MATCHES: i64 = 1000;

/// How a statement finds out whether a filter matches few tasks.
enum Narrow {
    /// No narrow filter: the order's index serves the filters (status leads, or status and
    /// milestone_id are checked inside the order's index).
    No,
    /// Only milestone (and status) filters: the maintained counters say exactly how many match.
    Counted,
    /// A label, parent, external_id or prefix filter: matches are counted through the filter's
    /// index, up to [`FEW_MATCHES`] + 1.
    Probed,
}

/// One page of a project's tasks, or `None` when the tenant has no such project.
///
/// Built with a `QueryBuilder` rather than one static statement with `($n IS NULL OR …)`
/// filters: a static statement gets one generic plan for every combination of filters, which
/// cannot use the index that fits the filters present; a statement holding only the present
/// filters is planned for them.
///
/// Narrow filters are where a planner's estimate goes wrong: a label no task carries is
/// estimated at thousands of rows, so the page order's index is walked in the hope of meeting
/// them, through the whole project. For those the statement first learns whether at most
/// [`FEW_MATCHES`] tasks match (see [`Narrow`]); if so it fetches them through the filter's
/// index and sorts them (a subquery behind `OFFSET 0` is planned without the page order),
/// else it walks the order's index. Both are branches of one statement; a one-time filter
/// skips the one not taken.
#[tracing::instrument(skip(pool, filter))]
pub async fn list(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    filter: &TaskFilter,
    order: TaskOrder,
    after: Option<After>,
    limit: i64,
) -> sqlx::Result<Option<Listed>> {
    let order_by = match order {
        TaskOrder::Queue => " ORDER BY priority_score DESC, created_at ASC, id ASC",
        TaskOrder::CreatedAt { descending: false } => " ORDER BY created_at ASC, id ASC",
        TaskOrder::CreatedAt { descending: true } => " ORDER BY created_at DESC, id DESC",
        TaskOrder::UpdatedAt { descending: false } => " ORDER BY updated_at ASC, id ASC",
        TaskOrder::UpdatedAt { descending: true } => " ORDER BY updated_at DESC, id DESC",
    };
    let narrow = if filter.label.is_some()
        || filter.parent_task_id.is_some()
        || filter.external_id.is_some()
        || filter.external_id_prefix.is_some()
    {
        Narrow::Probed
    } else if filter.milestone_id.is_some() {
        Narrow::Counted
    } else {
        Narrow::No
    };
    // The project (of this tenant) and its version, then its page, joined: no project, no row;
    // a project without matching tasks, one row of NULL task columns.
    let mut query: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "WITH v AS MATERIALIZED (SELECT {DATA_VERSION} AS version FROM projects WHERE id = "
    ));
    query
        .push_bind(project_id)
        .push(" AND tenant_id = ")
        .push_bind(tenant_id)
        .push(")");
    match narrow {
        Narrow::No => {}
        Narrow::Counted => {
            query
                .push(", few AS MATERIALIZED (SELECT COALESCE(sum(n), 0) <= ")
                .push_bind(FEW_MATCHES)
                .push(" AS yes FROM task_counts WHERE project_id = ")
                .push_bind(project_id)
                .push(" AND milestone_id = ")
                .push_bind(filter.milestone_id);
            if !filter.statuses.is_empty() {
                query
                    .push(" AND status = ANY(")
                    .push_bind(filter.statuses.clone())
                    .push(")");
            }
            query.push(")");
        }
        Narrow::Probed => {
            query.push(", m AS MATERIALIZED (SELECT 1 FROM tasks WHERE project_id = ");
            query.push_bind(project_id);
            push_conditions(&mut query, filter, order, after);
            query
                .push("), few AS MATERIALIZED (SELECT count(*) <= ")
                .push_bind(FEW_MATCHES)
                .push(" AS yes FROM (SELECT 1 FROM m LIMIT ")
                .push_bind(FEW_MATCHES + 1)
                .push(") s)");
        }
    }
    query.push(" SELECT v.version, t.* FROM v LEFT JOIN LATERAL (");
    if !matches!(narrow, Narrow::No) {
        query
            .push(concat!(
                "(SELECT * FROM (SELECT ",
                task_columns!(),
                " FROM tasks WHERE project_id = "
            ))
            .push_bind(project_id);
        push_conditions(&mut query, filter, order, after);
        query
            .push(" OFFSET 0) f WHERE (SELECT yes FROM few)")
            .push(order_by)
            .push(" LIMIT ")
            .push_bind(limit + 1)
            .push(") UNION ALL (");
    }
    query
        .push(concat!(
            "SELECT ",
            task_columns!(),
            " FROM tasks WHERE project_id = "
        ))
        .push_bind(project_id);
    push_conditions(&mut query, filter, order, after);
    if !matches!(narrow, Narrow::No) {
        query.push(" AND NOT (SELECT yes FROM few)");
    }
    query.push(order_by).push(" LIMIT ").push_bind(limit + 1);
    if !matches!(narrow, Narrow::No) {
        query.push(")");
    }
    query.push(") t ON true").push(order_by);
    // A narrow filter's statement is planned for its values every time (not kept prepared): a
    // prepared statement switches to one generic plan after a few runs, and a plan made for a
    // label common in one big project would then walk that label's entries for every project.
    let persistent = matches!(narrow, Narrow::No);
    let rows = query
        .build()
        .persistent(persistent)
        .fetch_all(&mut *pool.acquire().await?)
        .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let version = first.try_get(0)?;
    let mut tasks = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<Option<i64>, _>(1)?.is_some() {
            tasks.push(task_at(row, 1)?);
        }
    }
    Ok(Some(Listed { version, tasks }))
}

/// The filters and the keyset position, as ` AND …` conditions on `tasks`.
fn push_conditions(
    query: &mut QueryBuilder<Postgres>,
    filter: &TaskFilter,
    order: TaskOrder,
    after: Option<After>,
) {
    // One status as `=`: an index led by status then serves the page order; `= ANY` cannot.
    match filter.statuses.as_slice() {
        [] => {}
        [status] => {
            query.push(" AND status = ").push_bind(*status);
        }
        statuses => {
            query
                .push(" AND status = ANY(")
                .push_bind(statuses.to_vec())
                .push(")");
        }
    }
    if let Some(milestone_id) = filter.milestone_id {
        query.push(" AND milestone_id = ").push_bind(milestone_id);
    }
    if let Some(parent_task_id) = filter.parent_task_id {
        query
            .push(" AND parent_task_id = ")
            .push_bind(parent_task_id);
    }
    if let Some(label) = &filter.label {
        query
            .push(" AND labels @> ARRAY[")
            .push_bind(label.clone())
            .push("]::text[]");
    }
    if let Some(external_id) = &filter.external_id {
        query
            .push(" AND external_id = ")
            .push_bind(external_id.clone());
    }
    if let Some(prefix) = &filter.external_id_prefix {
        query
            .push(" AND external_id LIKE ")
            .push_bind(format!("{}%", escape_like(prefix.as_str())));
    }
    if let Some(min) = filter.priority_min {
        query.push(" AND priority_score >= ").push_bind(min);
    }
    if let Some(max) = filter.priority_max {
        query.push(" AND priority_score <= ").push_bind(max);
    }
    match (after, order) {
        (
            Some(After::Queue {
                priority,
                created_at,
                id,
            }),
            _,
        ) => {
            query
                .push(" AND (priority_score < ")
                .push_bind(priority)
                .push(" OR (priority_score = ")
                .push_bind(priority)
                .push(" AND (created_at, id) > (")
                .push_bind(created_at)
                .push(", ")
                .push_bind(id)
                .push(")))");
        }
        (Some(After::Time { at, id }), order) => {
            let (column, comparison) = match order {
                TaskOrder::UpdatedAt { descending } => {
                    ("updated_at", if descending { "<" } else { ">" })
                }
                TaskOrder::CreatedAt { descending } => {
                    ("created_at", if descending { "<" } else { ">" })
                }
                TaskOrder::Queue => ("created_at", ">"),
            };
            query
                .push(format_args!(" AND ({column}, id) {comparison} ("))
                .push_bind(at)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        (None, _) => {}
    }
}

/// Makes a user's prefix literal inside LIKE (backslash is LIKE's default escape).
fn escape_like(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
