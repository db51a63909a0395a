//! Creation with dependencies: a plan of tasks that wait for each other (by external_id) or
//! for stored tasks, written in one transaction.
//!
//! Everything is decided before the INSERT, so each task is written once, already complete:
//! the dependencies are locked (`FOR SHARE`: none can be deleted or change status until we
//! commit, so `blocked_by` stays exact), the new tasks' ids are drawn, every external_id is
//! resolved to an id, and the unfinished dependencies are counted. If a key we saw free was
//! taken meanwhile by a concurrent create, our plan is stale: roll back and plan again.

use std::collections::HashMap;

use super::batch::{Planned, insert_batch};
use super::creation::{CreateError, Created, find_by_external_ids};
use super::graph::{self, Locked, finished};
use crate::domain::{NewTask, dependency_cycle};
use crate::error::Reference;
use crate::pool::{Connection, Transaction};

const PLAN_ATTEMPTS: usize = 3;

/// Creates `tasks` (distinct external_ids; at least one with dependencies) atomically; the
/// answer has one entry per task, in order, like `create_many`.
#[tracing::instrument(skip(connection, tasks), fields(items = tasks.len()))]
pub async fn create_planned(
    connection: &mut Connection,
    tenant_id: i64,
    project_id: i64,
    tasks: &[&NewTask],
) -> Result<Vec<Created>, CreateError> {
    if let Some(index) = dependency_cycle(tasks) {
        return Err(CreateError::Cycle(index));
    }
    for _ in 0..PLAN_ATTEMPTS {
        let mut tx = Transaction::begin(connection).await?;
        if !crate::storage::project_exists_on(&mut tx, tenant_id, project_id).await? {
            tx.rollback().await?;
            return Err(CreateError::ProjectNotFound);
        }
        let plan = match plan(&mut tx, project_id, tasks).await? {
            Ok(plan) => plan,
            Err(unknown) => {
                tx.rollback().await?;
                return Err(CreateError::UnknownReferences(unknown));
            }
        };
        let new: Vec<usize> = (0..tasks.len())
            .filter(|&i| plan.stored[i].is_none())
            .collect();
        let inserted = insert_batch(
            &mut tx,
            tenant_id,
            project_id,
            tasks,
            &new,
            Some(&plan.items),
        );
        let inserted = match inserted.await {
            Ok(inserted) => inserted,
            Err(error) => {
                tx.rollback().await?;
                return Err(error);
            }
        };
        if inserted.len() != new.len() {
            // A key was taken since we planned: the plan may point at ids never written.
            tx.rollback().await?;
            continue;
        }
        let mut results: Vec<Option<Created>> = (0..tasks.len()).map(|_| None).collect();
        for (index, task) in inserted {
            results[index] = Some(Created::New(task));
        }
        let keys: Vec<&str> = (0..tasks.len())
            .filter(|&i| plan.stored[i].is_some())
            .filter_map(|i| tasks[i].external_id.as_ref().map(|k| k.as_str()))
            .collect();
        let mut stored: HashMap<String, _> =
            find_by_external_ids(&mut tx, tenant_id, project_id, &keys)
                .await?
                .into_iter()
                .filter_map(|task| Some((task.external_id.clone()?, task)))
                .collect();
        tx.commit().await?;
        for (index, result) in results.iter_mut().enumerate() {
            if result.is_none() {
                let key = tasks[index].external_id.as_ref().map(|k| k.as_str());
                *result = key
                    .and_then(|key| stored.remove(key))
                    .map(Created::Existing);
            }
        }
        if results.iter().all(Option::is_some) {
            return Ok(results.into_iter().flatten().collect());
        }
    }
    Err(CreateError::Contended)
}

struct Plan {
    /// Per item: the stored task's id when its external_id is already taken (it is skipped).
    stored: Vec<Option<i64>>,
    /// Per item: what to insert (meaningful for the items not stored).
    items: Vec<Planned>,
}

/// Locks what the items depend on, draws ids for the new ones and resolves every dependency;
/// `Err` lists the references that name nothing.
async fn plan(
    tx: &mut Transaction<'_>,
    project_id: i64,
    tasks: &[&NewTask],
) -> Result<Result<Plan, Vec<(usize, Reference)>>, CreateError> {
    let ids: Vec<i64> = tasks
        .iter()
        .flat_map(|t| t.depends_on.ids.iter().copied())
        .collect();
    // The request's own keys too: an item whose key is stored is skipped, and its dependents
    // wait for the stored task.
    let keys: Vec<&str> = tasks
        .iter()
        .flat_map(|t| t.depends_on.external_ids.iter().chain(&t.external_id))
        .map(|k| k.as_str())
        .collect();
    let locked: Vec<Locked> = graph::lock_dependencies(tx, project_id, &ids, &keys).await?;
    let by_id: HashMap<i64, &Locked> = locked.iter().map(|l| (l.0, l)).collect();
    let by_key: HashMap<&str, &Locked> = locked
        .iter()
        .filter_map(|l| Some((l.1.as_deref()?, l)))
        .collect();
    let stored: Vec<Option<i64>> = tasks
        .iter()
        .map(|t| Some(by_key.get(t.external_id.as_ref()?.as_str())?.0))
        .collect();
    let fresh = stored.iter().filter(|s| s.is_none()).count();
    let mut drawn: Vec<i64> =
        sqlx::query_scalar("SELECT nextval('tasks_id_seq') FROM generate_series(1, $1)")
            .bind(fresh as i64)
            .fetch_all(&mut **tx)
            .await?;
    drawn.reverse();
    // Per request key: the id it will have and whether it starts finished.
    let mut request: HashMap<&str, (i64, bool)> = HashMap::new();
    let mut item_ids = Vec::with_capacity(tasks.len());
    for (task, stored) in tasks.iter().zip(&stored) {
        let id = match stored {
            Some(_) => 0,
            None => drawn.pop().unwrap_or_default(),
        };
        item_ids.push(id);
        if let (None, Some(key)) = (stored, &task.external_id) {
            request
                .entry(key.as_str())
                .or_insert((id, finished(task.status)));
        }
    }
    let mut unknown = Vec::new();
    let mut items = Vec::with_capacity(tasks.len());
    for (index, task) in tasks.iter().enumerate() {
        let mut depends_on = Vec::new();
        let mut blocked_by = 0;
        for id in &task.depends_on.ids {
            match by_id.get(id) {
                Some(&&(id, _, status)) => {
                    depends_on.push(id);
                    blocked_by += i32::from(!finished(status));
                }
                None => unknown.push((index, Reference::Dependency)),
            }
        }
        for key in &task.depends_on.external_ids {
            let found = match by_key.get(key.as_str()) {
                Some(&&(id, _, status)) => Some((id, finished(status))),
                None => request.get(key.as_str()).copied(),
            };
            match found {
                Some((id, done)) if !depends_on.contains(&id) => {
                    depends_on.push(id);
                    blocked_by += i32::from(!done);
                }
                Some(_) => {}
                None => unknown.push((index, Reference::DependencyKey)),
            }
        }
        items.push(Planned {
            id: item_ids[index],
            depends_on,
            blocked_by,
        });
    }
    unknown.dedup();
    Ok(if unknown.is_empty() {
        Ok(Plan { stored, items })
    } else {
        Err(unknown)
    })
}
