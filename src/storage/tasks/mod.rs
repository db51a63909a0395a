//! Task SQL, by subject: idempotent creation (`creation`), conditional writes (`write`) and
//! listing (`listing`). Every statement names the columns of [`Task`] with [`task_columns!`] and
//! reads them from an unaliased `tasks` relation (or a CTE returning them), so the list exists
//! once.

mod creation;
mod listing;
mod write;

pub use creation::{CreateError, Created, create, create_many};
pub use listing::{After, TaskFilter, TaskOrder, list};
pub use write::{Preconditions, Refusal, delete, update, would_create_cycle};

use crate::domain::Task;
use crate::pool::Pool;

/// The columns of [`Task`], as a literal for `concat!`.
macro_rules! task_columns {
    () => {
        "id, project_id, milestone_id, parent_task_id, title, description, status, \
         priority_score, external_id, labels, version, created_at, updated_at, completed_at"
    };
}
use task_columns;

#[tracing::instrument(skip(pool))]
pub async fn get(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    id: i64,
) -> sqlx::Result<Option<Task>> {
    sqlx::query_as(concat!(
        "SELECT ",
        task_columns!(),
        " FROM tasks
         WHERE project_id = $1 AND id = $3
           AND EXISTS (SELECT 1 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2)"
    ))
    .bind(project_id)
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *pool.acquire().await?)
    .await
}
