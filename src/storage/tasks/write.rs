//! Conditional writes: a change or delete happens in one statement when its preconditions
//! hold; only when it touched nothing does a second statement find out why. A change that adds
//! an edge to the dependency or parent graph runs in a transaction under the project's graph
//! lock (see `graph`), so that concurrent changes cannot close a cycle together.

use super::graph::{self, finished};
use super::{get_on, task_at, task_columns};
use crate::domain::{Task, TaskChanges, TaskStatus, WorkerId};
use crate::error::Reference;
use crate::pool::{Connection, Pool, Transaction};

/// Conditions under which an update or delete may happen.
#[derive(Clone, Debug, Default)]
pub struct Preconditions<'a> {
    /// The task's status must be this one (`expected_status`).
    pub status: Option<TaskStatus>,
    /// The task's version must be one of these (`If-Match`; none: no version will do).
    pub versions: Option<Vec<i32>>,
    /// This worker must hold the task's claim (`worker_id`).
    pub worker: Option<&'a WorkerId>,
}

/// Why a conditional write did not happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    /// The task's status is this one, not the expected one.
    StatusMismatch(TaskStatus),
    VersionMismatch,
    /// Another worker holds the claim (or nobody does): who holds it.
    NotClaimant(Option<String>),
    /// The change would make the task wait for itself, or be its own ancestor: the field.
    Cycle(&'static str),
    /// A dependency names no task of the project.
    UnknownReference(Reference),
}

/// Applies `changes` when the preconditions hold; otherwise says which failed.
#[tracing::instrument(skip(pool, changes))]
pub async fn update(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    id: i64,
    changes: &TaskChanges,
    preconditions: &Preconditions<'_>,
) -> sqlx::Result<Result<Task, Refusal>> {
    let mut connection = pool.acquire().await?;
    if !changes.moves_in_graph() {
        return update_on(
            &mut connection,
            tenant_id,
            project_id,
            id,
            changes,
            None,
            preconditions,
        )
        .await;
    }
    let mut tx = Transaction::begin(&mut connection).await?;
    let result = update_in_graph(&mut tx, tenant_id, project_id, id, changes, preconditions).await;
    match result {
        Ok(Ok(task)) => {
            tx.commit().await?;
            Ok(Ok(task))
        }
        other => {
            tx.rollback().await?;
            other
        }
    }
}

/// The graph checks under the project's graph lock, then the update, in `tx`.
async fn update_in_graph(
    tx: &mut Transaction<'_>,
    tenant_id: i64,
    project_id: i64,
    id: i64,
    changes: &TaskChanges,
    preconditions: &Preconditions<'_>,
) -> sqlx::Result<Result<Task, Refusal>> {
    if !crate::storage::project_exists_on(tx, tenant_id, project_id).await? {
        return Ok(Err(Refusal::NotFound));
    }
    graph::lock(tx, project_id).await?;
    if let Some(Some(parent_id)) = changes.parent_task_id
        && graph::parent_cycle(tx, project_id, id, parent_id).await?
    {
        return Ok(Err(Refusal::Cycle("parent_task_id")));
    }
    let mut blocked_by = None;
    if let Some(depends_on) = &changes.depends_on {
        let locked = graph::lock_dependencies(tx, project_id, depends_on, &[]).await?;
        if locked.len() != depends_on.len() {
            return Ok(Err(Refusal::UnknownReference(Reference::Dependency)));
        }
        if graph::dependency_cycle(tx, project_id, id, depends_on).await? {
            return Ok(Err(Refusal::Cycle("depends_on")));
        }
        blocked_by = Some(locked.iter().filter(|(_, _, s)| !finished(*s)).count() as i32);
    }
    update_on(
        tx,
        tenant_id,
        project_id,
        id,
        changes,
        blocked_by,
        preconditions,
    )
    .await
}

/// The UPDATE itself: one statement, conditional on the preconditions. A status change clears
/// the claim, whoever makes it.
async fn update_on(
    connection: &mut Connection,
    tenant_id: i64,
    project_id: i64,
    id: i64,
    changes: &TaskChanges,
    blocked_by: Option<i32>,
    preconditions: &Preconditions<'_>,
) -> sqlx::Result<Result<Task, Refusal>> {
    let (set_description, description) = crate::storage::optional_change(&changes.description);
    let updated: Option<Task> = sqlx::query(concat!(
        "UPDATE tasks SET
             title = COALESCE($4, title),
             description = CASE WHEN $5 THEN $6 ELSE description END,
             status = COALESCE($7, status),
             priority_score = COALESCE($8, priority_score),
             milestone_id = CASE WHEN $9 THEN $10 ELSE milestone_id END,
             parent_task_id = CASE WHEN $11 THEN $12 ELSE parent_task_id END,
             labels = COALESCE($13, labels),
             run_id = CASE WHEN $16 THEN $17 ELSE run_id END,
             completed_at = CASE WHEN COALESCE($7, status) = 'done'
                                 THEN COALESCE(completed_at, now()) END,
             depends_on = COALESCE($18, depends_on),
             blocked_by = COALESCE($19, blocked_by),
             claimed_by = CASE WHEN $7::text IS NULL THEN claimed_by END,
             claimed_at = CASE WHEN $7::text IS NULL THEN claimed_at END,
             claim_expires_at = CASE WHEN $7::text IS NULL THEN claim_expires_at END,
             version = version + 1
         WHERE project_id = $1 AND id = $3
           AND EXISTS (SELECT 1 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2)
           AND ($14::text IS NULL OR status = $14)
           AND ($15::int[] IS NULL OR version = ANY($15))
           AND ($20::text IS NULL OR claimed_by = $20)
         RETURNING ",
        task_columns!()
    ))
    .bind(project_id)
    .bind(tenant_id)
    .bind(id)
    .bind(&changes.title)
    .bind(set_description)
    .bind(description)
    .bind(changes.status)
    .bind(changes.priority_score)
    .bind(changes.milestone_id.is_some())
    .bind(changes.milestone_id.flatten())
    .bind(changes.parent_task_id.is_some())
    .bind(changes.parent_task_id.flatten())
    .bind(changes.labels.as_deref())
    .bind(preconditions.status)
    .bind(preconditions.versions.as_deref())
    .bind(changes.run_id.is_some())
    .bind(changes.run_id.flatten())
    .bind(changes.depends_on.as_deref())
    .bind(blocked_by)
    .bind(preconditions.worker)
    .try_map(|row| task_at(&row, 0))
    .fetch_optional(&mut *connection)
    .await?;
    match updated {
        Some(task) => Ok(Ok(task)),
        None => explain_refusal(connection, tenant_id, project_id, id, preconditions)
            .await
            .map(Err),
    }
}

#[tracing::instrument(skip(pool))]
pub async fn delete(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    id: i64,
    preconditions: &Preconditions<'_>,
) -> sqlx::Result<Result<(), Refusal>> {
    let mut connection = pool.acquire().await?;
    let result = sqlx::query(
        "DELETE FROM tasks
         WHERE project_id = $1 AND id = $3
           AND EXISTS (SELECT 1 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2)
           AND ($4::int[] IS NULL OR version = ANY($4))",
    )
    .bind(project_id)
    .bind(tenant_id)
    .bind(id)
    .bind(preconditions.versions.as_deref())
    .execute(&mut *connection)
    .await?;
    if result.rows_affected() == 1 {
        return Ok(Ok(()));
    }
    explain_refusal(&mut connection, tenant_id, project_id, id, preconditions)
        .await
        .map(Err)
}

/// Cold path: why a conditional write touched no row.
pub(super) async fn explain_refusal(
    connection: &mut Connection,
    tenant_id: i64,
    project_id: i64,
    id: i64,
    preconditions: &Preconditions<'_>,
) -> sqlx::Result<Refusal> {
    let Some(current) = get_on(connection, tenant_id, project_id, id).await? else {
        return Ok(Refusal::NotFound);
    };
    if (preconditions.versions.as_ref()).is_some_and(|v| !v.contains(&current.version)) {
        return Ok(Refusal::VersionMismatch);
    }
    if preconditions.status.is_some_and(|s| s != current.status) {
        return Ok(Refusal::StatusMismatch(current.status));
    }
    if let Some(worker) = preconditions.worker
        && current.claimed_by.as_deref() != Some(worker.as_str())
    {
        return Ok(Refusal::NotClaimant(current.claimed_by));
    }
    // The row changed between the two statements; report it as a lost race on the version.
    Ok(Refusal::VersionMismatch)
}
