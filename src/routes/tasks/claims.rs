use actix_web::{HttpResponse, post, web};

use super::with_etag;
use super::write::refused;
use crate::auth::Tenant;
use crate::domain::{ClaimInput, HeartbeatInput, ReleaseInput, Task, Validate};
use crate::error::{ApiError, ApiResult};
use crate::pool::Pool;
use crate::routes::idempotency::{self, IdempotencyKeyHeader, IdempotentJson};
use crate::routes::responses::{self as r, AuthenticatedErrors, BodyErrors};
use crate::routes::{ProjectPath, TaskPath};
use crate::storage;

/// Claim the most urgent claimable task, exactly once.
///
/// Picks, in work-queue order (priority_score descending, then oldest), a task whose status is
/// one of `statuses` (default `open`), whose dependencies are all `done` or `archived`, and
/// that nobody holds (a lapsed lease counts as free, and as `open`); in the same statement it
/// becomes `in_progress`, claimed by `worker_id` until `claim_expires_at`. Any number of
/// agents on any number of replicas claim at once without waiting on each other, and never get
/// the same task. Keep the claim with `:heartbeat`, give it back with `:release`, finish with
/// a PATCH of `status` (which clears the claim). 204 when nothing is claimable.
#[utoipa::path(
    operation_id = "claim_task",
    tag = "tasks",
    params(ProjectPath, IdempotencyKeyHeader),
    request_body = ClaimInput,
    responses(
        (status = 200, description = "The claimed task", body = Task,
         headers(("ETag" = String, description = "The task's version, for If-Match"))),
        (status = 204, description = "Nothing is claimable now"),
        (status = 404, response = r::NotFound),
        (status = 409, response = r::IdempotencyKeyInFlight),
        (status = 422, response = r::IdempotencyKeyReused),
        AuthenticatedErrors, BodyErrors,
    ),
)]
#[post("/projects/{project_id}/tasks:claim")]
pub async fn claim(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<ProjectPath>,
    input: IdempotentJson<ClaimInput>,
) -> ApiResult<HttpResponse> {
    let claim = input.body.validate()?;
    let (tenant_id, project_id) = (tenant.id, path.project_id);
    idempotency::respond(
        &pool,
        tenant_id,
        input.key,
        &claim,
        move |connection, claim| {
            Box::pin(async move {
                let claimed = storage::tasks::claim(connection, tenant_id, project_id, claim)
                    .await?
                    .ok_or(ApiError::NotFound("project"))?;
                Ok(match claimed {
                    Some(task) => {
                        metrics::counter!("tasks_claimed_total").increment(1);
                        with_etag(HttpResponse::Ok(), &task)
                    }
                    None => HttpResponse::NoContent().finish(),
                })
            })
        },
    )
    .await
}

/// Extend a claim's lease.
///
/// The lease runs `lease_secs` (default 300) from now. 409 `not_claimant` when another worker
/// holds the task, or nobody does (the lease lapsed and someone claimed it, or it was
/// released or finished): stop working on it.
#[utoipa::path(
    operation_id = "heartbeat_task",
    tag = "tasks",
    params(TaskPath, IdempotencyKeyHeader),
    request_body = HeartbeatInput,
    responses(
        (status = 200, description = "The task, with its new `claim_expires_at`", body = Task,
         headers(("ETag" = String, description = "The task's version, for If-Match"))),
        (status = 404, response = r::NotFound),
        (status = 409, response = r::NotClaimant),
        (status = 422, response = r::IdempotencyKeyReused),
        AuthenticatedErrors, BodyErrors,
    ),
)]
#[post("/projects/{project_id}/tasks/{task_id}:heartbeat")]
pub async fn heartbeat(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<TaskPath>,
    input: IdempotentJson<HeartbeatInput>,
) -> ApiResult<HttpResponse> {
    let beat = input.body.validate()?;
    let (tenant_id, project_id, task_id) = (tenant.id, path.project_id, path.task_id);
    idempotency::respond(
        &pool,
        tenant_id,
        input.key,
        &beat,
        move |connection, beat| {
            Box::pin(async move {
                let task = storage::tasks::heartbeat(
                    connection,
                    tenant_id,
                    project_id,
                    task_id,
                    &beat.worker,
                    beat.lease,
                )
                .await?
                .map_err(|refusal| refused(refusal, None))?;
                Ok(with_etag(HttpResponse::Ok(), &task))
            })
        },
    )
    .await
}

/// Give a claim back: the task is `open` again and claimable by anyone.
#[utoipa::path(
    operation_id = "release_task",
    tag = "tasks",
    params(TaskPath, IdempotencyKeyHeader),
    request_body = ReleaseInput,
    responses(
        (status = 200, description = "The task, open and unclaimed", body = Task,
         headers(("ETag" = String, description = "The task's version, for If-Match"))),
        (status = 404, response = r::NotFound),
        (status = 409, response = r::NotClaimant),
        (status = 422, response = r::IdempotencyKeyReused),
        AuthenticatedErrors, BodyErrors,
    ),
)]
#[post("/projects/{project_id}/tasks/{task_id}:release")]
pub async fn release(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<TaskPath>,
    input: IdempotentJson<ReleaseInput>,
) -> ApiResult<HttpResponse> {
    let worker = input.body.validate()?;
    let (tenant_id, project_id, task_id) = (tenant.id, path.project_id, path.task_id);
    idempotency::respond(
        &pool,
        tenant_id,
        input.key,
        &worker,
        move |connection, worker| {
            Box::pin(async move {
                let task =
                    storage::tasks::release(connection, tenant_id, project_id, task_id, worker)
                        .await?
                        .map_err(|refusal| refused(refusal, None))?;
                Ok(with_etag(HttpResponse::Ok(), &task))
            })
        },
    )
    .await
}
