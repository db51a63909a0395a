//! The conditions of a task list's statement: filters and the keyset position.

use sqlx::{Postgres, QueryBuilder};

use super::{After, TaskFilter, TaskOrder};

/// The filters and the keyset position, as ` AND …` conditions on `tasks`.
pub(super) fn push_conditions(
    query: &mut QueryBuilder<Postgres>,
    filter: &TaskFilter,
    order: TaskOrder,
    after: Option<After>,
) {
    push_keyed(query, filter);
    push_narrow(query, filter);
    push_after(query, order, after);
}

/// The filters on key columns of the order indexes (status, milestone, priority).
pub(super) fn push_keyed(query: &mut QueryBuilder<Postgres>, filter: &TaskFilter) {
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
    if let Some(min) = filter.priority_min {
        query.push(" AND priority_score >= ").push_bind(min);
    }
    if let Some(max) = filter.priority_max {
        query.push(" AND priority_score <= ").push_bind(max);
    }
    // Literal, so that the index of claimable tasks (a partial index) serves it.
    match filter.claimable {
        Some(true) => {
            query.push(" AND status = 'open' AND blocked_by = 0 AND claimed_by IS NULL");
        }
        Some(false) => {
            query.push(" AND NOT (status = 'open' AND blocked_by = 0 AND claimed_by IS NULL)");
        }
        None => {}
    }
}

/// The narrow filters: parent, run, claimant, label, external_id and prefix.
pub(super) fn push_narrow(query: &mut QueryBuilder<Postgres>, filter: &TaskFilter) {
    if let Some(parent_task_id) = filter.parent_task_id {
        query
            .push(" AND parent_task_id = ")
            .push_bind(parent_task_id);
    }
    if let Some(run_id) = filter.run_id {
        query.push(" AND run_id = ").push_bind(run_id);
    }
    if let Some(worker) = &filter.claimed_by {
        query.push(" AND claimed_by = ").push_bind(worker.clone());
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
}

/// The keyset position: rows after the last one served, in page order.
pub(super) fn push_after(
    query: &mut QueryBuilder<Postgres>,
    order: TaskOrder,
    after: Option<After>,
) {
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
