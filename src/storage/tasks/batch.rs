//! The INSERT of many tasks (bulk creates and plans): one statement for any number of items,
//! and the cold path that names the items whose references are unknown.

use sqlx::Row;
use sqlx::postgres::PgRow;

use super::creation::CreateError;
use super::{task_at, task_columns};
use crate::domain::{NewTask, Task};
use crate::error::Reference;
use crate::pool::Connection;

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
    let insert = sqlx::query(concat!(
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
    .try_map(|row: PgRow| Ok((row.try_get(0)?, task_at(&row, 1)?)));
    // Recoverable: after a foreign-key violation, the cold path below still queries.
    let rows: Result<Vec<(i32, Task)>, sqlx::Error> = connection
        .recoverable(async |connection| insert.fetch_all(&mut *connection).await)
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
