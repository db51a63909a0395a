//! Task SQL, including the idempotent creation at the heart of taskdash.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};

use crate::domain::{Label, NewTask, Task, TaskChanges, TaskStatus};
use crate::pagination::Cursor;
use crate::pool::Pool;

macro_rules! task_columns {
    ($alias:literal) => {
        concat!(
            $alias,
            ".id, ",
            $alias,
            ".project_id, ",
            $alias,
            ".milestone_id, ",
            $alias,
            ".parent_task_id, ",
            $alias,
            ".title, ",
            $alias,
            ".description, ",
            $alias,
            ".status, ",
            $alias,
            ".priority_score, ",
            $alias,
            ".external_id, ",
            $alias,
            ".labels, ",
            $alias,
            ".version, ",
            $alias,
            ".created_at, ",
            $alias,
            ".updated_at, ",
            $alias,
            ".completed_at"
        )
    };
}

/// How often a creation is retried when the task holding its external_id vanishes between
/// our INSERT and our SELECT (a concurrent DELETE): then the key is free again.
const CREATE_ATTEMPTS: usize = 3;

#[derive(Debug)]
pub enum Created {
    New(Task),
    /// The project already held the external_id: the stored task, unchanged.
    Existing(Task),
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("project not found")]
    ProjectNotFound,
    #[error("the task kept disappearing while being created; retry")]
    Contended,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn labels_param(labels: &[Label]) -> Vec<&str> {
    labels.iter().map(Label::as_str).collect()
}

/// A task as `create` reads it back: inserted now, or already stored under its external_id.
#[derive(sqlx::FromRow)]
struct CreatedRow {
    created: bool,
    #[sqlx(flatten)]
    task: Task,
}

/// One statement: INSERT … ON CONFLICT DO NOTHING RETURNING, and in the same round trip the
/// stored task when the key was taken (the re-run case). That read uses the statement's
/// snapshot, which cannot see a concurrent winner that committed after the statement began;
/// for that race, a *separate* SELECT follows (a new statement has a new snapshot).
#[tracing::instrument(skip(pool, task), fields(external_id = ?task.external_id))]
pub async fn create(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    task: &NewTask,
) -> Result<Created, CreateError> {
    for _ in 0..CREATE_ATTEMPTS {
        let row: Option<CreatedRow> = sqlx::query_as(concat!(
            "WITH inserted AS (
                 INSERT INTO tasks (project_id, title, description, status, priority_score,
                                    external_id, milestone_id, parent_task_id, labels, completed_at)
                 SELECT p.id, $3, $4, $5, $6, $7, $8, $9, $10,
                        CASE WHEN $5::text = 'done' THEN now() END
                 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2
                 ON CONFLICT (project_id, external_id) DO NOTHING
                 RETURNING ",
            task_columns!("tasks"),
            ")
             SELECT true AS created, ",
            task_columns!("inserted"),
            " FROM inserted
             UNION ALL
             SELECT false, ",
            task_columns!("t"),
            " FROM tasks t JOIN projects p ON p.id = t.project_id AND p.tenant_id = $2
             WHERE t.project_id = $1 AND t.external_id = $7
               AND NOT EXISTS (SELECT 1 FROM inserted)"
        ))
        .bind(project_id)
        .bind(tenant_id)
        .bind(task.title.as_str())
        .bind(task.description.as_ref().map(|d| d.as_str()))
        .bind(task.status)
        .bind(task.priority_score.get())
        .bind(task.external_id.as_ref().map(|e| e.as_str()))
        .bind(task.milestone_id)
        .bind(task.parent_task_id)
        .bind(labels_param(&task.labels))
        .fetch_optional(&mut *pool.acquire().await?)
        .await?;
        if let Some(CreatedRow { created, task }) = row {
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
        let existing = find_by_external_ids(pool, tenant_id, project_id, &[external_id.as_str()])
            .await?
            .pop();
        if let Some(existing) = existing {
            return Ok(Created::Existing(existing));
        }
        if !super::project_exists(pool, tenant_id, project_id).await? {
            return Err(CreateError::ProjectNotFound);
        }
    }
    Err(CreateError::Contended)
}

async fn find_by_external_ids(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    external_ids: &[&str],
) -> sqlx::Result<Vec<Task>> {
    sqlx::query_as(concat!(
        "SELECT ",
        task_columns!("t"),
        " FROM tasks t JOIN projects p ON p.id = t.project_id AND p.tenant_id = $2
         WHERE t.project_id = $1 AND t.external_id = ANY($3)"
    ))
    .bind(project_id)
    .bind(tenant_id)
    .bind(external_ids)
    .fetch_all(&mut *pool.acquire().await?)
    .await
}

/// The result of a bulk creation, per item of the request (in request order).
#[derive(Debug)]
pub enum BulkItem {
    Created(Task),
    /// The key was already stored before this request.
    Existing(Task),
    /// The key appeared earlier in the same request; the task is that occurrence's.
    RepeatedInRequest(Task),
}

#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    #[error("project not found")]
    ProjectNotFound,
    #[error("the batch kept colliding with concurrent deletes; retry")]
    Contended,
    /// Items (by request index) that reference a milestone or parent task the project lacks.
    #[error("unknown references")]
    UnknownReferences(Vec<(usize, &'static str)>),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Creates many tasks in a constant number of statements, whatever the batch size: one
/// INSERT … SELECT FROM UNNEST (atomic: all or nothing), then one SELECT for keys that were
/// already stored. Rows are inserted in external_id order, so that concurrent overlapping
/// batches take their index locks in the same order and cannot deadlock.
#[tracing::instrument(skip(pool, tasks), fields(items = tasks.len()))]
pub async fn create_many(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    tasks: &[NewTask],
) -> Result<Vec<BulkItem>, BulkError> {
    // The first occurrence of each key is the one written; later ones point back at it.
    let mut first_with_key: HashMap<&str, usize> = HashMap::new();
    let mut repeats: Vec<(usize, usize)> = Vec::new();
    let mut pending: Vec<usize> = Vec::with_capacity(tasks.len());
    for (index, task) in tasks.iter().enumerate() {
        match task.external_id.as_ref().map(|e| e.as_str()) {
            Some(key) => match first_with_key.get(key) {
                Some(&first) => repeats.push((index, first)),
                None => {
                    first_with_key.insert(key, index);
                    pending.push(index);
                }
            },
            None => pending.push(index),
        }
    }

    let mut results: Vec<Option<BulkItem>> = (0..tasks.len()).map(|_| None).collect();
    for _ in 0..CREATE_ATTEMPTS {
        let inserted = insert_batch(pool, tenant_id, project_id, tasks, &pending).await?;
        for (index, task) in inserted {
            results[index] = Some(BulkItem::Created(task));
        }
        let conflicted: Vec<usize> = pending
            .iter()
            .copied()
            .filter(|&index| results[index].is_none())
            .collect();
        if conflicted.is_empty() {
            pending.clear();
            break;
        }
        let keys: Vec<&str> = conflicted
            .iter()
            .filter_map(|&index| tasks[index].external_id.as_ref().map(|e| e.as_str()))
            .collect();
        if keys.len() < conflicted.len() {
            // An item without a key was not inserted: the project is not (or no longer) there.
            return Err(BulkError::ProjectNotFound);
        }
        let mut stored: HashMap<String, Task> =
            find_by_external_ids(pool, tenant_id, project_id, &keys)
                .await?
                .into_iter()
                .filter_map(|task| Some((task.external_id.clone()?, task)))
                .collect();
        for &index in &conflicted {
            let key = tasks[index].external_id.as_ref().map(|e| e.as_str());
            if let Some(task) = key.and_then(|key| stored.remove(key)) {
                results[index] = Some(BulkItem::Existing(task));
            }
        }
        pending.retain(|&index| results[index].is_none());
        if pending.is_empty() {
            break;
        }
        if !super::project_exists(pool, tenant_id, project_id).await? {
            return Err(BulkError::ProjectNotFound);
        }
    }
    if !pending.is_empty() {
        return Err(BulkError::Contended);
    }
    for (index, first) in repeats {
        let task = match &results[first] {
            Some(BulkItem::Created(task) | BulkItem::Existing(task)) => task.clone(),
            _ => unreachable!("first occurrences are resolved before repeats"),
        };
        results[index] = Some(BulkItem::RepeatedInRequest(task));
    }
    Ok(results
        .into_iter()
        .map(|r| r.expect("every item resolved"))
        .collect())
}

/// One INSERT for the items at `indices`; returns (request index, task) for the rows written.
/// Ids are drawn with nextval() up front so each returned row can be matched to its item.
async fn insert_batch(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    tasks: &[NewTask],
    indices: &[usize],
) -> Result<Vec<(usize, Task)>, BulkError> {
    let n = indices.len();
    let mut ordinals = Vec::with_capacity(n);
    let mut titles = Vec::with_capacity(n);
    let mut descriptions = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut priorities = Vec::with_capacity(n);
    let mut external_ids = Vec::with_capacity(n);
    let mut milestone_ids = Vec::with_capacity(n);
    let mut parent_ids = Vec::with_capacity(n);
    // text[] cannot nest ragged arrays, so each item's labels travel as one JSON array.
    let mut labels = Vec::with_capacity(n);
    for &index in indices {
        let task = &tasks[index];
        ordinals.push(index as i32);
        titles.push(task.title.as_str());
        descriptions.push(task.description.as_ref().map(|d| d.as_str()));
        statuses.push(task.status.as_str());
        priorities.push(task.priority_score.get());
        external_ids.push(task.external_id.as_ref().map(|e| e.as_str()));
        milestone_ids.push(task.milestone_id);
        parent_ids.push(task.parent_task_id);
        labels.push(serde_json::Value::from(labels_param(&task.labels)));
    }
    let rows: Result<Vec<BulkRow>, sqlx::Error> = sqlx::query_as(concat!(
        "WITH input AS MATERIALIZED (
             SELECT nextval('tasks_id_seq') AS id, u.*
             FROM UNNEST($3::int[], $4::text[], $5::text[], $6::text[], $7::int[], $8::text[],
                         $9::bigint[], $10::bigint[], $11::jsonb[])
                  AS u(ordinal, title, description, status, priority_score, external_id,
                       milestone_id, parent_task_id, labels)
         ), inserted AS (
             INSERT INTO tasks (project_id, id, title, description, status, priority_score,
                                external_id, milestone_id, parent_task_id, labels, completed_at)
             SELECT p.id, i.id, i.title, i.description, i.status, i.priority_score,
                    i.external_id, i.milestone_id, i.parent_task_id,
                    ARRAY(SELECT jsonb_array_elements_text(i.labels)),
                    CASE WHEN i.status = 'done' THEN now() END
             FROM input i JOIN projects p ON p.id = $1 AND p.tenant_id = $2
             ORDER BY i.external_id COLLATE \"C\"
             ON CONFLICT (project_id, external_id) DO NOTHING
             RETURNING ",
        task_columns!("tasks"),
        "
         )
         SELECT i.ordinal, ",
        task_columns!("inserted"),
        " FROM inserted JOIN input i ON i.id = inserted.id"
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
    .fetch_all(&mut *pool.acquire().await?)
    .await;
    match rows {
        Ok(rows) => Ok(rows
            .into_iter()
            .map(|row| (row.ordinal as usize, row.task))
            .collect()),
        Err(error) => {
            let constraint = error
                .as_database_error()
                .and_then(|e| e.constraint())
                .map(str::to_owned);
            match constraint.as_deref() {
                Some("tasks_milestone_fkey" | "tasks_parent_task_fkey") => {
                    let bad = unknown_references(pool, project_id, tasks, indices).await?;
                    Err(BulkError::UnknownReferences(bad))
                }
                _ => Err(error.into()),
            }
        }
    }
}

#[derive(sqlx::FromRow)]
struct BulkRow {
    ordinal: i32,
    #[sqlx(flatten)]
    task: Task,
}

/// Cold path after a foreign-key violation: which items name a milestone or parent task that
/// the project does not have.
async fn unknown_references(
    pool: &Pool,
    project_id: i64,
    tasks: &[NewTask],
    indices: &[usize],
) -> sqlx::Result<Vec<(usize, &'static str)>> {
    let milestone_ids: Vec<i64> = indices
        .iter()
        .filter_map(|&i| tasks[i].milestone_id)
        .collect();
    let parent_ids: Vec<i64> = indices
        .iter()
        .filter_map(|&i| tasks[i].parent_task_id)
        .collect();
    let (known_milestones, known_parents): (Vec<i64>, Vec<i64>) = sqlx::query_as(
        "SELECT
             ARRAY(SELECT id FROM milestones WHERE project_id = $1 AND id = ANY($2)),
             ARRAY(SELECT id FROM tasks WHERE project_id = $1 AND id = ANY($3))",
    )
    .bind(project_id)
    .bind(&milestone_ids)
    .bind(&parent_ids)
    .fetch_one(&mut *pool.acquire().await?)
    .await?;
    let mut bad = Vec::new();
    for &index in indices {
        let task = &tasks[index];
        if task
            .milestone_id
            .is_some_and(|id| !known_milestones.contains(&id))
        {
            bad.push((index, "milestone_id"));
        }
        if task
            .parent_task_id
            .is_some_and(|id| !known_parents.contains(&id))
        {
            bad.push((index, "parent_task_id"));
        }
    }
    Ok(bad)
}

#[tracing::instrument(skip(pool))]
pub async fn get(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    id: i64,
) -> sqlx::Result<Option<Task>> {
    sqlx::query_as(concat!(
        "SELECT ",
        task_columns!("t"),
        " FROM tasks t JOIN projects p ON p.id = t.project_id AND p.tenant_id = $2
         WHERE t.project_id = $1 AND t.id = $3"
    ))
    .bind(project_id)
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *pool.acquire().await?)
    .await
}

/// Conditions under which an update or delete may happen.
#[derive(Clone, Copy, Debug, Default)]
pub struct Preconditions {
    /// The task's status must be this one (`expected_status`).
    pub status: Option<TaskStatus>,
    /// The task's version must be this one (`If-Match`).
    pub version: Option<i32>,
}

#[derive(Debug)]
pub enum WriteOutcome<T> {
    Done(T),
    NotFound,
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
) -> sqlx::Result<WriteOutcome<Task>> {
    let (set_description, description) = super::description_change(&changes.description);
    let updated: Option<Task> = sqlx::query_as(concat!(
        "UPDATE tasks t SET
             title = COALESCE($4, t.title),
             description = CASE WHEN $5 THEN $6 ELSE t.description END,
             status = COALESCE($7, t.status),
             priority_score = COALESCE($8, t.priority_score),
             milestone_id = CASE WHEN $9 THEN $10 ELSE t.milestone_id END,
             parent_task_id = CASE WHEN $11 THEN $12 ELSE t.parent_task_id END,
             labels = COALESCE($13, t.labels),
             completed_at = CASE WHEN COALESCE($7, t.status) = 'done'
                                 THEN COALESCE(t.completed_at, now()) END,
             version = t.version + 1
         FROM projects p
         WHERE t.project_id = $1 AND t.id = $3 AND p.id = t.project_id AND p.tenant_id = $2
           AND ($14::text IS NULL OR t.status = $14)
           AND ($15::int IS NULL OR t.version = $15)
         RETURNING ",
        task_columns!("t")
    ))
    .bind(project_id)
    .bind(tenant_id)
    .bind(id)
    .bind(changes.title.as_ref().map(|t| t.as_str()))
    .bind(set_description)
    .bind(description)
    .bind(changes.status)
    .bind(changes.priority_score.map(|p| p.get()))
    .bind(changes.milestone_id.is_some())
    .bind(changes.milestone_id.flatten())
    .bind(changes.parent_task_id.is_some())
    .bind(changes.parent_task_id.flatten())
    .bind(changes.labels.as_deref().map(labels_param))
    .bind(preconditions.status)
    .bind(preconditions.version)
    .fetch_optional(&mut *pool.acquire().await?)
    .await?;
    match updated {
        Some(task) => Ok(WriteOutcome::Done(task)),
        None => explain_refusal(pool, tenant_id, project_id, id, preconditions).await,
    }
}

#[tracing::instrument(skip(pool))]
pub async fn delete(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    id: i64,
    preconditions: Preconditions,
) -> sqlx::Result<WriteOutcome<()>> {
    let result = sqlx::query(
        "DELETE FROM tasks t USING projects p
         WHERE t.project_id = $1 AND t.id = $3 AND p.id = t.project_id AND p.tenant_id = $2
           AND ($4::int IS NULL OR t.version = $4)",
    )
    .bind(project_id)
    .bind(tenant_id)
    .bind(id)
    .bind(preconditions.version)
    .execute(&mut *pool.acquire().await?)
    .await?;
    if result.rows_affected() == 1 {
        return Ok(WriteOutcome::Done(()));
    }
    explain_refusal(pool, tenant_id, project_id, id, preconditions).await
}

/// Cold path: why a conditional write touched no row (never `Done`, whatever the write returns).
async fn explain_refusal<T>(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    id: i64,
    preconditions: Preconditions,
) -> sqlx::Result<WriteOutcome<T>> {
    let Some(current) = get(pool, tenant_id, project_id, id).await? else {
        return Ok(WriteOutcome::NotFound);
    };
    if preconditions.version.is_some_and(|v| v != current.version) {
        return Ok(WriteOutcome::VersionMismatch);
    }
    if preconditions.status.is_some_and(|s| s != current.status) {
        return Ok(WriteOutcome::StatusMismatch(current.status));
    }
    // The row changed between the two statements; report it as a lost race on the version.
    Ok(WriteOutcome::VersionMismatch)
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
    pub label: Option<String>,
    pub external_id: Option<String>,
    pub external_id_prefix: Option<String>,
    pub priority_min: Option<i32>,
    pub priority_max: Option<i32>,
}

/// Keyset position after which a page starts, already checked against the order.
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

impl TaskOrder {
    /// Where a page starts when it resumes after the task `cursor` names; `None` when the
    /// cursor is not a task cursor.
    pub fn position(self, cursor: &Cursor) -> Option<After> {
        let Cursor::Task { p, c, u, id } = *cursor else {
            return None;
        };
        Some(match self {
            Self::Queue => After::Queue {
                priority: p,
                created_at: c,
                id,
            },
            Self::CreatedAt { .. } => After::Time { at: c, id },
            Self::UpdatedAt { .. } => After::Time { at: u, id },
        })
    }
}

/// The cursor that resumes after `task`, in any order.
pub fn cursor_after(task: &Task) -> Cursor {
    Cursor::Task {
        p: task.priority_score,
        c: task.created_at,
        u: task.updated_at,
        id: task.id,
    }
}

/// One page of a project's tasks (`limit + 1` rows, to tell whether another page follows).
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
        task_columns!("t"),
        " FROM tasks t WHERE t.project_id = "
    ));
    query
        .push_bind(project_id)
        .push(" AND EXISTS (SELECT 1 FROM projects p WHERE p.id = t.project_id AND p.tenant_id = ")
        .push_bind(tenant_id)
        .push(")");
    if !filter.statuses.is_empty() {
        let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        query
            .push(" AND t.status = ANY(")
            .push_bind(statuses)
            .push(")");
    }
    if let Some(milestone_id) = filter.milestone_id {
        query.push(" AND t.milestone_id = ").push_bind(milestone_id);
    }
    if let Some(parent_task_id) = filter.parent_task_id {
        query
            .push(" AND t.parent_task_id = ")
            .push_bind(parent_task_id);
    }
    if let Some(label) = &filter.label {
        query
            .push(" AND t.labels @> ARRAY[")
            .push_bind(label.clone())
            .push("]::text[]");
    }
    if let Some(external_id) = &filter.external_id {
        query
            .push(" AND t.external_id = ")
            .push_bind(external_id.clone());
    }
    if let Some(prefix) = &filter.external_id_prefix {
        query
            .push(" AND t.external_id LIKE ")
            .push_bind(format!("{}%", escape_like(prefix)));
    }
    if let Some(min) = filter.priority_min {
        query.push(" AND t.priority_score >= ").push_bind(min);
    }
    if let Some(max) = filter.priority_max {
        query.push(" AND t.priority_score <= ").push_bind(max);
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
                .push(" AND (t.priority_score < ")
                .push_bind(priority)
                .push(" OR (t.priority_score = ")
                .push_bind(priority)
                .push(" AND (t.created_at, t.id) > (")
                .push_bind(created_at)
                .push(", ")
                .push_bind(id)
                .push(")))");
        }
        Some(After::Time { at, id }) => {
            query
                .push(format_args!(" AND (t.{column}, t.id) {comparison} ("))
                .push_bind(at)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        None => {}
    }
    let direction = if descending { "DESC" } else { "ASC" };
    if order == TaskOrder::Queue {
        query.push(" ORDER BY t.priority_score DESC, t.created_at ASC, t.id ASC");
    } else {
        query.push(format_args!(
            " ORDER BY t.{column} {direction}, t.id {direction}"
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
