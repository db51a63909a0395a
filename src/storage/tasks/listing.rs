//! Listing a project's tasks: filters, the work-queue order and keyset pages.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};

use super::task_columns;
use crate::domain::{ExternalId, Label, Task, TaskStatus};
use crate::pool::Pool;

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

/// One page of a project's tasks (`limit + 1` rows, to tell whether another page follows).
///
/// Built with a `QueryBuilder` rather than one static statement with `($n IS NULL OR …)`
/// filters: a static statement gets one generic plan for every combination of filters, which
/// cannot use the index that fits the filters present; a statement holding only the present
/// filters is planned for them.
#[tracing::instrument(skip(pool, filter))]
pub async fn list(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    filter: &TaskFilter,
    order: TaskOrder,
    after: Option<After>,
    limit: i64,
) -> sqlx::Result<Vec<Task>> {
    let mut query: QueryBuilder<Postgres> = QueryBuilder::new(concat!(
        "SELECT ",
        task_columns!(),
        " FROM tasks WHERE project_id = "
    ));
    query
        .push_bind(project_id)
        .push(" AND EXISTS (SELECT 1 FROM projects p WHERE p.id = tasks.project_id AND p.tenant_id = ")
        .push_bind(tenant_id)
        .push(")");
    if !filter.statuses.is_empty() {
        query
            .push(" AND status = ANY(")
            .push_bind(filter.statuses.clone())
            .push(")");
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
    let (column, descending) = match order {
        TaskOrder::Queue => ("created_at", false),
        TaskOrder::CreatedAt { descending } => ("created_at", descending),
        TaskOrder::UpdatedAt { descending } => ("updated_at", descending),
    };
    let comparison = if descending { "<" } else { ">" };
    match after {
        Some(After::Queue {
            priority,
            created_at,
            id,
        }) => {
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
        Some(After::Time { at, id }) => {
            query
                .push(format_args!(" AND ({column}, id) {comparison} ("))
                .push_bind(at)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        None => {}
    }
    let direction = if descending { "DESC" } else { "ASC" };
    if order == TaskOrder::Queue {
        query.push(" ORDER BY priority_score DESC, created_at ASC, id ASC");
    } else {
        query.push(format_args!(
            " ORDER BY {column} {direction}, id {direction}"
        ));
    }
    query.push(" LIMIT ").push_bind(limit + 1);
    query
        .build_query_as()
        .fetch_all(&mut *pool.acquire().await?)
        .await
}

/// Makes a user's prefix literal inside LIKE (backslash is LIKE's default escape).
fn escape_like(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
