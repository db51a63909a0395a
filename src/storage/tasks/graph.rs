//! The graph between a project's tasks: dependencies (`depends_on`) and parents.
//!
//! Why a lock: two PATCHes can each add an edge that is harmless alone and closes a cycle
//! together (A waits for B, B waits for A). Each checks the graph as its own snapshot shows
//! it, so both would pass. Every PATCH that adds an edge first takes the project's graph lock
//! (a transaction-level advisory lock, held until commit), then checks with a new statement,
//! whose snapshot includes every edge committed before the lock was granted. Creates need no
//! lock: nobody can depend on a task before it exists.

use crate::domain::TaskStatus;
use crate::pool::Connection;

/// The first key of the two-key advisory lock space for graph locks ("tgra"); the second is
/// the project id, folded to 31 bits (a collision only serialises two projects' PATCHes).
const GRAPH_LOCK: i32 = 0x7467_7261;

/// Takes the project's graph lock until the transaction ends.
pub(super) async fn lock(connection: &mut Connection, project_id: i64) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, ($2 & 2147483647)::int)")
        .bind(GRAPH_LOCK)
        .bind(project_id)
        .execute(&mut *connection)
        .await?;
    Ok(())
}

/// Whether `task_id` would wait for itself if it depended on `depends_on`: one of them is the
/// task, or waits for it, directly or through others.
pub(super) async fn dependency_cycle(
    connection: &mut Connection,
    project_id: i64,
    task_id: i64,
    depends_on: &[i64],
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "WITH RECURSIVE reached(id) AS (
             SELECT unnest($3::bigint[])
             UNION
             SELECT unnest(t.depends_on) FROM tasks t
             JOIN reached r ON t.project_id = $1 AND t.id = r.id
         )
         SELECT EXISTS (SELECT 1 FROM reached WHERE id = $2)",
    )
    .bind(project_id)
    .bind(task_id)
    .bind(depends_on)
    .fetch_one(&mut *connection)
    .await
}

/// Whether making `parent_id` the parent of `task_id` would close a loop: the parent is the
/// task itself or one of its descendants.
pub(super) async fn parent_cycle(
    connection: &mut Connection,
    project_id: i64,
    task_id: i64,
    parent_id: i64,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "WITH RECURSIVE ancestors(id, parent_task_id) AS (
             SELECT t.id, t.parent_task_id FROM tasks t WHERE t.project_id = $1 AND t.id = $3
             UNION
             SELECT t.id, t.parent_task_id FROM tasks t
             JOIN ancestors a ON t.project_id = $1 AND t.id = a.parent_task_id
         )
         SELECT EXISTS (SELECT 1 FROM ancestors WHERE id = $2)",
    )
    .bind(project_id)
    .bind(task_id)
    .bind(parent_id)
    .fetch_one(&mut *connection)
    .await
}

/// A dependency as locked: its id, external_id and status.
pub(super) type Locked = (i64, Option<String>, TaskStatus);

/// Locks the project's tasks named by id or external_id `FOR SHARE` until the transaction
/// ends (a dependency cannot be deleted, nor its status changed, before the dependent's
/// `blocked_by` is written) and returns those found.
pub(super) async fn lock_dependencies(
    connection: &mut Connection,
    project_id: i64,
    ids: &[i64],
    external_ids: &[&str],
) -> sqlx::Result<Vec<Locked>> {
    sqlx::query_as(
        "SELECT id, external_id, status FROM tasks
         WHERE project_id = $1 AND (id = ANY($2) OR external_id = ANY($3))
         ORDER BY id
         FOR SHARE",
    )
    .bind(project_id)
    .bind(ids)
    .bind(external_ids)
    .fetch_all(&mut *connection)
    .await
}

/// Whether a status counts as finished for the tasks waiting on it.
pub fn finished(status: TaskStatus) -> bool {
    matches!(status, TaskStatus::Done | TaskStatus::Archived)
}
