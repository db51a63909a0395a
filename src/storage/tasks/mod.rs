//! Task SQL, by subject: idempotent creation (`creation`; `batch`, the INSERT of many; and
//! `planned` for tasks with dependencies; `keyed`, a creation under an Idempotency-Key), conditional writes (`write`), claims (`claims`), the dependency and parent
//! graph (`graph`) and listing (`listing`). Every statement names the columns of [`Task`] with [`task_columns!`] and
//! reads them from an unaliased `tasks` relation (or a CTE returning them), so the list exists
//! once.

mod batch;
mod claims;
mod creation;
mod graph;
mod keyed;
mod listing;
mod planned;
mod write;

pub use claims::{claim, heartbeat, release};
pub use creation::{CreateError, Created, create, create_many};
pub use keyed::{KeyedCreate, create_keyed};
pub use listing::{After, Listed, TaskFilter, TaskOrder, list};
pub use write::{Preconditions, Refusal, delete, update};

use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::domain::Task;
use crate::pool::{Connection, Pool};

/// The columns of [`Task`], as a literal for `concat!` (in the order [`task_at`] reads them,
/// which is not the field order: `run_id` and the claim and dependency columns came later).
macro_rules! task_columns {
    () => {
        "id, project_id, milestone_id, parent_task_id, title, description, status, \
         priority_score, external_id, labels, version, created_at, updated_at, completed_at, \
         run_id, claimed_by, claimed_at, claim_expires_at, depends_on, blocked_by"
    };
}
use task_columns;

/// Reads the columns of [`task_columns!`] by position, starting at column `at`. By position, not
/// by name: a name lookup per field and row cost a list a tenth of its CPU.
fn task_at(row: &PgRow, at: usize) -> sqlx::Result<Task> {
    Ok(Task {
        id: row.try_get(at)?,
        project_id: row.try_get(at + 1)?,
        milestone_id: row.try_get(at + 2)?,
        parent_task_id: row.try_get(at + 3)?,
        run_id: row.try_get(at + 14)?,
        title: row.try_get(at + 4)?,
        description: row.try_get(at + 5)?,
        status: row.try_get(at + 6)?,
        priority_score: row.try_get(at + 7)?,
        external_id: row.try_get(at + 8)?,
        labels: row.try_get(at + 9)?,
        version: row.try_get(at + 10)?,
        created_at: row.try_get(at + 11)?,
        updated_at: row.try_get(at + 12)?,
        completed_at: row.try_get(at + 13)?,
        claimed_by: row.try_get(at + 15)?,
        claimed_at: row.try_get(at + 16)?,
        claim_expires_at: row.try_get(at + 17)?,
        depends_on: row.try_get(at + 18)?,
        blocked_by: row.try_get(at + 19)?,
    })
}

#[tracing::instrument(skip(pool))]
pub async fn get(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    id: i64,
) -> sqlx::Result<Option<Task>> {
    get_on(&mut *pool.acquire().await?, tenant_id, project_id, id).await
}

/// [`get`] on a connection already held.
async fn get_on(
    connection: &mut Connection,
    tenant_id: i64,
    project_id: i64,
    id: i64,
) -> sqlx::Result<Option<Task>> {
    sqlx::query(concat!(
        "SELECT ",
        task_columns!(),
        " FROM tasks
         WHERE project_id = $1 AND id = $3
           AND EXISTS (SELECT 1 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2)"
    ))
    .bind(project_id)
    .bind(tenant_id)
    .bind(id)
    .try_map(|row| task_at(&row, 0))
    .fetch_optional(&mut *connection)
    .await
}
