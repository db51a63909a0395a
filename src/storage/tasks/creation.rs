//! Idempotent creation, the heart of taskdash: `INSERT … ON CONFLICT (project_id, external_id)
//! DO NOTHING`, then the stored task for every key that was already taken.

use std::collections::HashMap;

use sqlx::Row;
use sqlx::postgres::PgRow;

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
        let row: Option<(bool, Task)> = sqlx::query(concat!(
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
        ))
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

/// A foreign-key violation of a single creation names its reference in the constraint.
fn unknown_reference(error: sqlx::Error, index: usize) -> CreateError {
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

/// What a creation with dependencies decided before inserting an item: its id (drawn ahead, so
/// that items can depend on each other) and its dependencies as ids, with how many are
/// unfinished.
#[derive(Clone, Debug)]
pub(super) struct Planned {
    pub id: i64,
    pub depends_on: Vec<i64>,
    pub blocked_by: i32,
}

/// One INSERT for the items at `indices`; returns (index, task) for the rows written.
/// Ids are drawn with nextval() up front (or planned) so each returned row can be matched to
/// its item.
pub(super) async fn insert_batch(
    connection: &mut Connection,
    tenant_id: i64,
    project_id: i64,
    tasks: &[&NewTask],
    indices: &[usize],
    plan: Option<&[Planned]>,
) -> Result<Vec<(usize, Task)>, CreateError> {
    let n = indices.len();
    let mut ordinals = Vec::with_capacity(n);
    let mut titles = Vec::with_capacity(n);
    let mut descriptions = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut priorities = Vec::with_capacity(n);
    let mut external_ids = Vec::with_capacity(n);
    let mut milestone_ids = Vec::with_capacity(n);
    let mut parent_ids = Vec::with_capacity(n);
    let mut run_ids = Vec::with_capacity(n);
    // text[] cannot nest ragged arrays, so each item's labels travel as one JSON array.
    let mut labels = Vec::with_capacity(n);
    // Only with a plan: ids drawn ahead, dependencies (as JSON arrays, like labels), counts.
    let mut ids = Vec::new();
    let mut depends_on = Vec::new();
    let mut blocked_by = Vec::new();
    if let Some(plan) = plan {
        for &index in indices {
            ids.push(plan[index].id);
            depends_on.push(sqlx::types::Json(&plan[index].depends_on));
            blocked_by.push(plan[index].blocked_by);
        }
    }
    for &index in indices {
        let task = tasks[index];
        ordinals.push(index as i32);
        titles.push(&task.title);
        descriptions.push(task.description.as_ref());
        statuses.push(task.status);
        priorities.push(task.priority_score);
        external_ids.push(task.external_id.as_ref());
        milestone_ids.push(task.milestone_id);
        parent_ids.push(task.parent_task_id);
        run_ids.push(task.run_id);
        labels.push(sqlx::types::Json(&task.labels));
    }
    // (the item's index, its task) for each row written.
    let rows: Result<Vec<(i32, Task)>, sqlx::Error> = sqlx::query(concat!(
        "WITH input AS MATERIALIZED (
             SELECT COALESCE(($13::bigint[])[u.n], nextval('tasks_id_seq')) AS id, u.*
             FROM UNNEST($3::int[], $4::text[], $5::text[], $6::text[], $7::int[], $8::text[],
                         $9::bigint[], $10::bigint[], $11::jsonb[], $12::bigint[])
                  WITH ORDINALITY
                  AS u(ordinal, title, description, status, priority_score, external_id,
                       milestone_id, parent_task_id, labels, run_id, n)
         ), inserted AS (
             INSERT INTO tasks (project_id, id, title, description, status, priority_score,
                                external_id, milestone_id, parent_task_id, labels, completed_at,
                                run_id, depends_on, blocked_by)
             SELECT p.id, i.id, i.title, i.description, i.status, i.priority_score,
                    i.external_id, i.milestone_id, i.parent_task_id,
                    ARRAY(SELECT jsonb_array_elements_text(i.labels)),
                    CASE WHEN i.status = 'done' THEN now() END, i.run_id,
                    COALESCE(ARRAY(SELECT jsonb_array_elements_text(($14::jsonb[])[i.n])::bigint),
                             '{}'),
                    COALESCE(($15::int[])[i.n], 0)
             FROM input i JOIN projects p ON p.id = $1 AND p.tenant_id = $2
             ORDER BY i.external_id COLLATE \"C\"
             ON CONFLICT (project_id, external_id) DO NOTHING
             RETURNING ",
        task_columns!(),
        "
         )
         SELECT i.ordinal, inserted.* FROM inserted JOIN input i USING (id)"
    ))
    .bind(project_id)
    .bind(tenant_id)
    .bind(&ordinals)
    .bind(&titles)
    .bind(&descriptions)
    .bind(&statuses)
    .bind(&priorities)
    .bind(&external_ids)
    .bind(&milestone_ids)
    .bind(&parent_ids)
    .bind(&labels)
    .bind(&run_ids)
    .bind(&ids)
    .bind(&depends_on)
    .bind(&blocked_by)
    .try_map(|row: PgRow| Ok((row.try_get(0)?, task_at(&row, 1)?)))
    .fetch_all(&mut *connection)
    .await;
    match rows {
        Ok(rows) => Ok(rows
            .into_iter()
            .map(|(ordinal, task)| (ordinal as usize, task))
            .collect()),
        Err(error) => {
            let constraint = error.as_database_error().and_then(|e| e.constraint());
            if constraint.and_then(Reference::from_constraint).is_none() {
                return Err(error.into());
            }
            let bad = unknown_references(connection, project_id, tasks, indices).await?;
            Err(CreateError::UnknownReferences(bad))
        }
    }
}

/// Cold path after a foreign-key violation: which items name a milestone, parent task or run
/// that the project does not have.
async fn unknown_references(
    connection: &mut Connection,
    project_id: i64,
    tasks: &[&NewTask],
    indices: &[usize],
) -> sqlx::Result<Vec<(usize, Reference)>> {
    let milestone_ids: Vec<i64> = indices
        .iter()
        .filter_map(|&i| tasks[i].milestone_id)
        .collect();
    let parent_ids: Vec<i64> = indices
        .iter()
        .filter_map(|&i| tasks[i].parent_task_id)
        .collect();
    let run_ids: Vec<i64> = indices.iter().filter_map(|&i| tasks[i].run_id).collect();
    let (known_milestones, known_parents, known_runs): (Vec<i64>, Vec<i64>, Vec<i64>) =
        sqlx::query_as(
            "SELECT
                 ARRAY(SELECT id FROM milestones WHERE project_id = $1 AND id = ANY($2)),
                 ARRAY(SELECT id FROM tasks WHERE project_id = $1 AND id = ANY($3)),
                 ARRAY(SELECT id FROM runs WHERE project_id = $1 AND id = ANY($4))",
        )
        .bind(project_id)
        .bind(&milestone_ids)
        .bind(&parent_ids)
        .bind(&run_ids)
        .fetch_one(&mut *connection)
        .await?;
    let mut bad = Vec::new();
    for &index in indices {
        let task = tasks[index];
        let unknown = |id: Option<i64>, known: &[i64]| id.is_some_and(|id| !known.contains(&id));
        if unknown(task.milestone_id, &known_milestones) {
            bad.push((index, Reference::Milestone));
        }
        if unknown(task.parent_task_id, &known_parents) {
            bad.push((index, Reference::ParentTask));
        }
        if unknown(task.run_id, &known_runs) {
            bad.push((index, Reference::Run));
        }
    }
    Ok(bad)
}
