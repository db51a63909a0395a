//! Claims: one statement picks the most urgent claimable task and claims it.
//!
//! `FOR UPDATE SKIP LOCKED`: a claimer passes over rows another claimer is taking and walks
//! on, so claimers never wait on each other and never get the same task (a row it did lock is
//! re-checked against the conditions on its latest version). A lapsed lease is free without
//! any job: the second branch finds lapsed claims through their own small index.

use sqlx::{Postgres, QueryBuilder, Row};

use super::write::explain_refusal;
use super::{Preconditions, Refusal, task_at, task_columns};
use crate::domain::{Claim, Lease, Task, TaskStatus, WorkerId};
use crate::pool::Connection;

/// Claims the most urgent claimable task for `claim.worker`: `None` when the tenant has no
/// such project, `Some(None)` when nothing is claimable.
///
/// Built with only the filters the claim has, like a list: a static statement with
/// `($n IS NULL OR …)` filters was planned anew on every call (PostgreSQL keeps custom plans
/// when they look cheaper than the generic one), which cost a claim at one connection more
/// than half its time. Each shape is one prepared statement with one generic plan.
#[tracing::instrument(skip(connection, claim), fields(worker = claim.worker.as_str()))]
pub async fn claim(
    connection: &mut Connection,
    tenant_id: i64,
    project_id: i64,
    claim: &Claim,
) -> sqlx::Result<Option<Option<Task>>> {
    let mut query: QueryBuilder<Postgres> =
        QueryBuilder::new("WITH project AS MATERIALIZED (SELECT id FROM projects WHERE id = ");
    query
        .push_bind(project_id)
        .push(" AND tenant_id = ")
        .push_bind(tenant_id)
        .push("), fresh AS (SELECT project_id, id, priority_score, created_at FROM tasks")
        .push(" WHERE project_id = (SELECT id FROM project) AND ");
    // The default claim is served by the index of open, unblocked tasks, which a planner can
    // only use when the statement says `status = 'open'` literally.
    if claim.open_only() {
        query.push("status = 'open'");
    } else {
        query
            .push("status = ANY(")
            .push_bind(&claim.statuses)
            .push(")");
    }
    query.push(" AND blocked_by = 0 AND claimed_by IS NULL");
    push_filters(&mut query, claim);
    query.push(" ORDER BY priority_score DESC, created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)");
    // A lapsed lease counts as `open`: looked for (through its own small index) only when open
    // tasks are asked for.
    let lapsed = claim.statuses.contains(&TaskStatus::Open);
    if lapsed {
        query.push(concat!(
            ", lapsed AS (SELECT project_id, id, priority_score, created_at FROM tasks",
            " WHERE project_id = (SELECT id FROM project) AND claimed_by IS NOT NULL",
            " AND claim_expires_at <= now() AND blocked_by = 0"
        ));
        push_filters(&mut query, claim);
        query.push(" ORDER BY priority_score DESC, created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)");
    }
    // `pick` renames its columns so that `RETURNING` names only the task's.
    query
        .push(", pick(pid, tid) AS (SELECT project_id, id FROM (SELECT * FROM fresh")
        .push(if lapsed {
            " UNION ALL SELECT * FROM lapsed"
        } else {
            ""
        })
        .push(concat!(
            ") c ORDER BY priority_score DESC, created_at, id LIMIT 1),",
            " claimed AS (UPDATE tasks SET status = 'in_progress', claimed_by = "
        ))
        .push_bind(&claim.worker)
        .push(", claimed_at = now(), claim_expires_at = now() + make_interval(secs => ")
        .push_bind(claim.lease.secs())
        .push(concat!(
            "), version = version + 1 FROM pick WHERE project_id = pick.pid AND id = pick.tid",
            " RETURNING ",
            task_columns!(),
            ") SELECT EXISTS (SELECT 1 FROM project), claimed.* FROM (SELECT) one",
            " LEFT JOIN claimed ON true"
        ));
    let row = query.build().fetch_one(&mut *connection).await?;
    if !row.try_get::<bool, _>(0)? {
        return Ok(None);
    }
    if row.try_get::<Option<i64>, _>(1)?.is_none() {
        return Ok(Some(None));
    }
    Ok(Some(Some(task_at(&row, 1)?)))
}

/// The claim's narrowing filters, as ` AND …` conditions on `tasks`.
fn push_filters(query: &mut QueryBuilder<Postgres>, claim: &Claim) {
    if let Some(milestone_id) = claim.milestone_id {
        query.push(" AND milestone_id = ").push_bind(milestone_id);
    }
    if let Some(run_id) = claim.run_id {
        query.push(" AND run_id = ").push_bind(run_id);
    }
    if !claim.labels.is_empty() {
        query
            .push(" AND labels @> ")
            .push_bind(claim.labels.clone());
    }
}

/// Extends the lease of `worker`'s claim to `lease` from now.
#[tracing::instrument(skip(connection))]
pub async fn heartbeat(
    connection: &mut Connection,
    tenant_id: i64,
    project_id: i64,
    id: i64,
    worker: &WorkerId,
    lease: Lease,
) -> sqlx::Result<Result<Task, Refusal>> {
    let updated = sqlx::query(concat!(
        "UPDATE tasks SET claim_expires_at = now() + make_interval(secs => $5),
                          version = version + 1
         WHERE project_id = $1 AND id = $3 AND claimed_by = $4
           AND EXISTS (SELECT 1 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2)
         RETURNING ",
        task_columns!()
    ))
    .bind(project_id)
    .bind(tenant_id)
    .bind(id)
    .bind(worker)
    .bind(lease.secs())
    .try_map(|row| task_at(&row, 0))
    .fetch_optional(&mut *connection)
    .await?;
    held_by(connection, tenant_id, project_id, id, worker, updated).await
}

/// Gives `worker`'s claim back: the task is `open` again, unclaimed.
#[tracing::instrument(skip(connection))]
pub async fn release(
    connection: &mut Connection,
    tenant_id: i64,
    project_id: i64,
    id: i64,
    worker: &WorkerId,
) -> sqlx::Result<Result<Task, Refusal>> {
    let updated = sqlx::query(concat!(
        "UPDATE tasks SET status = 'open', claimed_by = NULL, claimed_at = NULL,
                          claim_expires_at = NULL, version = version + 1
         WHERE project_id = $1 AND id = $3 AND claimed_by = $4
           AND EXISTS (SELECT 1 FROM projects p WHERE p.id = $1 AND p.tenant_id = $2)
         RETURNING ",
        task_columns!()
    ))
    .bind(project_id)
    .bind(tenant_id)
    .bind(id)
    .bind(worker)
    .try_map(|row| task_at(&row, 0))
    .fetch_optional(&mut *connection)
    .await?;
    held_by(connection, tenant_id, project_id, id, worker, updated).await
}

/// The written task, or why nothing was written.
async fn held_by(
    connection: &mut Connection,
    tenant_id: i64,
    project_id: i64,
    id: i64,
    worker: &WorkerId,
    updated: Option<Task>,
) -> sqlx::Result<Result<Task, Refusal>> {
    if let Some(task) = updated {
        return Ok(Ok(task));
    }
    let preconditions = Preconditions {
        worker: Some(worker),
        ..Preconditions::default()
    };
    explain_refusal(connection, tenant_id, project_id, id, &preconditions)
        .await
        .map(Err)
}
