//! Conditional writes: a change or delete happens in one statement when its preconditions
//! hold; only when it touched nothing does a second statement find out why.

use super::{get, task_at, task_columns};
use crate::domain::{Task, TaskChanges, TaskStatus};
use crate::pool::Pool;

/// Conditions under which an update or delete may happen.
#[derive(Clone, Debug, Default)]
pub struct Preconditions {
    /// The task's status must be this one (`expected_status`).
    pub status: Option<TaskStatus>,
    /// The task's version must be one of these (`If-Match`; none: no version will do).
    pub versions: Option<Vec<i32>>,
}

/// Why a conditional write did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    /// The task's status is this one, not the expected one.
    StatusMismatch(TaskStatus),
    VersionMismatch,
}

/// Applies `changes` in one statement when the preconditions hold; otherwise says which failed.
#[tracing::instrument(skip(pool, changes))]
pub async fn update(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    id: i64,
    changes: &TaskChanges,
    preconditions: Preconditions,
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
             version = version + 1
         WHERE project_id = $1 AND id = $3
           AND EXISTS (SELECT 1 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2)
           AND ($14::text IS NULL OR status = $14)
           AND ($15::int[] IS NULL OR version = ANY($15))
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
    .try_map(|row| task_at(&row, 0))
    .fetch_optional(&mut *pool.acquire().await?)
    .await?;
    match updated {
        Some(task) => Ok(Ok(task)),
        None => explain_refusal(pool, tenant_id, project_id, id, preconditions)
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
    preconditions: Preconditions,
) -> sqlx::Result<Result<(), Refusal>> {
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
    .execute(&mut *pool.acquire().await?)
    .await?;
    if result.rows_affected() == 1 {
        return Ok(Ok(()));
    }
    explain_refusal(pool, tenant_id, project_id, id, preconditions)
        .await
        .map(Err)
}

/// Cold path: why a conditional write touched no row.
async fn explain_refusal(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    id: i64,
    preconditions: Preconditions,
) -> sqlx::Result<Refusal> {
    let Some(current) = get(pool, tenant_id, project_id, id).await? else {
        return Ok(Refusal::NotFound);
    };
    if (preconditions.versions.as_ref()).is_some_and(|v| !v.contains(&current.version)) {
        return Ok(Refusal::VersionMismatch);
    }
    if preconditions.status.is_some_and(|s| s != current.status) {
        return Ok(Refusal::StatusMismatch(current.status));
    }
    // The row changed between the two statements; report it as a lost race on the version.
    Ok(Refusal::VersionMismatch)
}

/// Whether making `parent_id` the parent of `task_id` would close a loop: the parent is the
/// task itself or one of its descendants.
pub async fn would_create_cycle(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    task_id: i64,
    parent_id: i64,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "WITH RECURSIVE ancestors(id, parent_task_id) AS (
             SELECT t.id, t.parent_task_id FROM tasks t
             JOIN projects p ON p.id = t.project_id AND p.tenant_id = $4
             WHERE t.project_id = $1 AND t.id = $3
             UNION
             SELECT t.id, t.parent_task_id FROM tasks t
             JOIN ancestors a ON t.project_id = $1 AND t.id = a.parent_task_id
         )
         SELECT EXISTS (SELECT 1 FROM ancestors WHERE id = $2)",
    )
    .bind(project_id)
    .bind(task_id)
    .bind(parent_id)
    .bind(tenant_id)
    .fetch_one(&mut *pool.acquire().await?)
    .await
}
