use actix_web::{HttpResponse, delete, patch, web};

use super::with_etag;
use crate::auth::Tenant;
use crate::domain::{Task, TaskPatch, TaskStatus, Validate};
use crate::error::{ApiError, ApiResult};
use crate::extract::{IfMatch, Json};
use crate::pool::Pool;
use crate::routes::TaskPath;
use crate::routes::responses::{self as r, AuthenticatedErrors, BodyErrors};
use crate::storage;
use crate::storage::tasks::{Preconditions, Refusal};

/// A refused task write as an answer; `expected` is the status the request expected.
pub(super) fn refused(refusal: Refusal, expected: Option<TaskStatus>) -> ApiError {
    match refusal {
        Refusal::StatusMismatch(actual) => ApiError::StatusMismatch {
            expected: expected
                .map(TaskStatus::as_str)
                .unwrap_or_default()
                .to_owned(),
            actual: actual.as_str().to_owned(),
        },
        Refusal::VersionMismatch => ApiError::PreconditionFailed,
        Refusal::NotFound => ApiError::NotFound("task"),
        Refusal::NotClaimant(holder) => ApiError::NotClaimant { holder },
        Refusal::Cycle("parent_task_id") => {
            ApiError::Conflict("parent_task_id would make the task its own ancestor".into())
        }
        Refusal::Cycle(field) => ApiError::Conflict(format!(
            "{field} would make the task wait for itself, directly or through other tasks"
        )),
        Refusal::UnknownReference(reference) => {
            ApiError::UnknownReference(vec![reference.unknown_at("")])
        }
    }
}

/// Change a task. Only the fields present change; `null` clears a nullable field.
///
/// `expected_status` makes the change conditional on the current status (409 otherwise).
/// `worker_id` makes it conditional on that worker holding the task's claim (409
/// `not_claimant` otherwise); any status change clears the claim. `If-Match` with the ETag
/// from a GET makes it conditional on nobody else having changed the task (412 otherwise).
/// `depends_on` or `parent_task_id` that would close a cycle: 409 `conflict`, also when two
/// concurrent changes would close one together.
#[utoipa::path(
    operation_id = "update_task",
    tag = "tasks",
    params(TaskPath, IfMatch),
    request_body = TaskPatch,
    responses(
        (status = 200, description = "The updated task", body = Task,
         headers(("ETag" = String, description = "The task's new version"))),
        (status = 404, response = r::NotFound),
        (status = 409, response = r::Conflict),
        (status = 412, response = r::PreconditionFailed),
        AuthenticatedErrors, BodyErrors,
    ),
)]
#[patch("/projects/{project_id}/tasks/{task_id:[^/:]+}")]
pub async fn update(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<TaskPath>,
    if_match: IfMatch,
    Json(patch): Json<TaskPatch>,
) -> ApiResult<HttpResponse> {
    let update = patch.validate()?;
    let (project_id, task_id) = (path.project_id, path.task_id);
    let preconditions = Preconditions {
        status: update.expected_status,
        versions: if_match.versions(),
        worker: update.worker.as_ref(),
    };
    let task = storage::tasks::update(
        &pool,
        tenant.id,
        project_id,
        task_id,
        &update.changes,
        &preconditions,
    )
    .await?
    .map_err(|refusal| refused(refusal, update.expected_status))?;
    Ok(with_etag(HttpResponse::Ok(), &task))
}

/// Delete a task; its subtasks stay, with `parent_task_id` cleared.
#[utoipa::path(
    operation_id = "delete_task",
    tag = "tasks",
    params(TaskPath, IfMatch),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, response = r::NotFound),
        (status = 412, response = r::PreconditionFailed),
        AuthenticatedErrors,
    ),
)]
#[delete("/projects/{project_id}/tasks/{task_id:[^/:]+}")]
pub async fn delete(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<TaskPath>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    let preconditions = Preconditions {
        versions: if_match.versions(),
        ..Preconditions::default()
    };
    storage::tasks::delete(
        &pool,
        tenant.id,
        path.project_id,
        path.task_id,
        &preconditions,
    )
    .await?
    .map_err(|refusal| refused(refusal, None))?;
    Ok(HttpResponse::NoContent().finish())
}
