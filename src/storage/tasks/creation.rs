//! Idempotent creation, the heart of taskdash: `INSERT … ON CONFLICT (project_id, external_id)
//! DO NOTHING`, then the stored task for every key that was already taken.

use std::collections::HashMap;

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Row};

use super::batch::insert_batch;
use super::{task_at, task_columns};
use crate::domain::{NewTask, Task};
use crate::error::Reference;
use crate::pool::Connection;

/// How often a creation is retried when the task holding its external_id vanishes between
/// our INSERT and our SELECT (a concurrent DELETE): then the key is free again.
const CREATE_ATTEMPTS: usize = 3;

#[derive(Debug)]
pub enum Created {
    New(Task),
    /// The project already held the external_id: the stored task, unchanged.
    Existing(Task),
}

/// Why a creation (single or bulk) wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("project not found")]
    ProjectNotFound,
    #[error("the task kept disappearing while being created; retry")]
    Contended,
    /// Items (by their index in the call) naming an id the project does not hold.
    #[error("unknown references")]
    UnknownReferences(Vec<(usize, Reference)>),
    /// The item at this index would wait for itself through items of the same request.
    #[error("the tasks' dependencies form a cycle")]
    Cycle(usize),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// One statement: INSERT … ON CONFLICT DO NOTHING RETURNING, and in the same round trip the
/// stored task when the key was taken (the re-run case). That read uses the statement's
/// snapshot, which cannot see a concurrent winner that committed after the statement began;
/// for that race, a *separate* SELECT follows (a new statement has a new snapshot).
#[tracing::instrument(skip(connection, task), fields(external_id = ?task.external_id))]
pub async fn create(
    connection: &mut Connection,
    tenant_id: i64,
    project_id: i64,
    task: &NewTask,
) -> Result<Created, CreateError> {
    if !task.depends_on.is_empty() {
        let mut created =
            super::planned::create_planned(connection, tenant_id, project_id, &[task]).await?;
        return Ok(created.remove(0));
    }
    for _ in 0..CREATE_ATTEMPTS {
        // Whether the task was inserted now, and the task (or the one stored under its key).
        let row: Option<(bool, Task)> = bind_new_task(
            sqlx::query(concat!(
                "WITH inserted AS (
                 INSERT INTO tasks (project_id, title, description, status, priority_score,
                                    external_id, milestone_id, parent_task_id, labels, completed_at,
                                    run_id)
                 SELECT p.id, $3, $4, $5, $6, $7, $8, $9, $10,
                        CASE WHEN $5::text = 'done' THEN now() END, $11
                 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2
                 ON CONFLICT (project_id, external_id) DO NOTHING
                 RETURNING ",
                task_columns!(),
                ")
             SELECT true AS created, inserted.* FROM inserted
             UNION ALL
             SELECT false, ",
                task_columns!(),
                " FROM tasks
             WHERE project_id = $1 AND external_id = $7 AND NOT EXISTS (SELECT 1 FROM inserted)
               AND EXISTS (SELECT 1 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2)"
            )),
            project_id,
            tenant_id,
            task,
        )
        .try_map(|row: PgRow| Ok((row.try_get(0)?, task_at(&row, 1)?)))
        .fetch_optional(&mut *connection)
        .await
        .map_err(|error| unknown_reference(error, 0))?;
        if let Some((created, task)) = row {
            return Ok(if created {
                Created::New(task)
            } else {
                Created::Existing(task)
            });
        }
        let Some(external_id) = &task.external_id else {
            // Without a key nothing can conflict: the project was not found.
            return Err(CreateError::ProjectNotFound);
        };
        let existing =
            find_by_external_ids(connection, tenant_id, project_id, &[external_id.as_str()])
                .await?
                .pop();
        if let Some(existing) = existing {
            return Ok(Created::Existing(existing));
        }
        if !crate::storage::project_exists_on(connection, tenant_id, project_id).await? {
            return Err(CreateError::ProjectNotFound);
        }
    }
    Err(CreateError::Contended)
}

/// Binds $1 to $11 of a single creation's INSERT (here and in `keyed`): the project, the
/// tenant and the task's columns.
pub(super) fn bind_new_task<'q>(
    query: Query<'q, Postgres, PgArguments>,
    project_id: i64,
    tenant_id: i64,
    task: &'q NewTask,
) -> Query<'q, Postgres, PgArguments> {
    query
        .bind(project_id)
        .bind(tenant_id)
        .bind(&task.title)
        .bind(&task.description)
        .bind(task.status)
        .bind(task.priority_score)
        .bind(&task.external_id)
        .bind(task.milestone_id)
        .bind(task.parent_task_id)
        .bind(&task.labels)
        .bind(task.run_id)
}

/// A foreign-key violation of a single creation names its reference in the constraint.
pub(super) fn unknown_reference(error: sqlx::Error, index: usize) -> CreateError {
    let constraint = error.as_database_error().and_then(|e| e.constraint());
    match constraint.and_then(Reference::from_constraint) {
        Some(reference) => CreateError::UnknownReferences(vec![(index, reference)]),
        None => error.into(),
    }
}

pub(super) async fn find_by_external_ids(
    connection: &mut Connection,
    tenant_id: i64,
    project_id: i64,
    external_ids: &[&str],
) -> sqlx::Result<Vec<Task>> {
    sqlx::query(concat!(
        "SELECT ",
        task_columns!(),
        " FROM tasks
         WHERE project_id = $1 AND external_id = ANY($3)
           AND EXISTS (SELECT 1 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2)"
    ))
    .bind(project_id)
    .bind(tenant_id)
    .bind(external_ids)
    .try_map(|row| task_at(&row, 0))
    .fetch_all(&mut *connection)
    .await
}

/// Creates many tasks in a constant number of statements, whatever the batch size: one
/// INSERT … SELECT FROM UNNEST (atomic: all or nothing), then one SELECT for keys that were
/// already stored. Rows are inserted in external_id order, so that concurrent overlapping
/// batches take their index locks in the same order and cannot deadlock.
///
/// The external_ids of `tasks` must be distinct (see `domain::earlier_duplicates`); the
/// answer has one entry per task, in order.
#[tracing::instrument(skip(connection, tasks), fields(items = tasks.len()))]
pub async fn create_many(
    connection: &mut Connection,
    tenant_id: i64,
    project_id: i64,
    tasks: &[&NewTask],
) -> Result<Vec<Created>, CreateError> {
    if tasks.iter().any(|task| !task.depends_on.is_empty()) {
        return super::planned::create_planned(connection, tenant_id, project_id, tasks).await;
    }
    let mut results: Vec<Option<Created>> = (0..tasks.len()).map(|_| None).collect();
    let mut pending: Vec<usize> = (0..tasks.len()).collect();
    for _ in 0..CREATE_ATTEMPTS {
        let inserted =
            insert_batch(connection, tenant_id, project_id, tasks, &pending, None).await?;
        for (index, task) in inserted {
            results[index] = Some(Created::New(task));
        }
        pending.retain(|&index| results[index].is_none());
        if pending.is_empty() {
            break;
        }
        let keys: Option<Vec<&str>> = pending
            .iter()
            .map(|&index| Some(tasks[index].external_id.as_ref()?.as_str()))
            .collect();
        // An item without a key was not inserted: the project is not (or no longer) there.
        let keys = keys.ok_or(CreateError::ProjectNotFound)?;
        let mut stored: HashMap<String, Task> =
            find_by_external_ids(connection, tenant_id, project_id, &keys)
                .await?
                .into_iter()
                .filter_map(|task| Some((task.external_id.clone()?, task)))
                .collect();
        for &index in &pending {
            let key = tasks[index].external_id.as_ref().map(|e| e.as_str());
            if let Some(task) = key.and_then(|key| stored.remove(key)) {
                results[index] = Some(Created::Existing(task));
            }
        }
        pending.retain(|&index| results[index].is_none());
        if pending.is_empty() {
            break;
        }
        if !crate::storage::project_exists_on(connection, tenant_id, project_id).await? {
            return Err(CreateError::ProjectNotFound);
        }
    }
    if !pending.is_empty() {
        return Err(CreateError::Contended);
    }
    Ok(results.into_iter().flatten().collect())
}
