use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{create_error, with_etag};
use crate::auth::Tenant;
use crate::domain::{
    NewTask, SkipReason, Task, TaskInput, Validate, earlier_duplicates, in_request_order,
    validate_items,
};
use crate::error::{ApiError, ApiResult};
use crate::pool::Pool;
use crate::routes::ProjectPath;
use crate::routes::REPLAYED;
use crate::routes::idempotency::{self, IdempotencyKeyHeader, IdempotentJson};
use crate::routes::responses::{self as r, AuthenticatedErrors, BodyErrors};
use crate::state::Limits;
use crate::storage;
use crate::storage::tasks::{Created, KeyedCreate};

/// Create a task, idempotently by `external_id`.
///
/// New: 201 with the task. When the project already holds this `external_id`: 200 with the
/// stored task *unchanged* (the request's other fields are ignored) and `Idempotent-Replayed:
/// true`. Any number of concurrent requests with one key create exactly one task.
#[utoipa::path(
    operation_id = "create_task",
    tag = "tasks",
    params(ProjectPath, IdempotencyKeyHeader),
    request_body = TaskInput,
    responses(
        (status = 201, description = "Created", body = Task, headers(
            ("Location" = String, description = "URL of the new task"),
            ("ETag" = String, description = "The task's version, for If-Match"))),
        (status = 200, description = "The external_id was already stored: the stored task, unchanged",
         body = Task, headers(
            ("Idempotent-Replayed" = String, description = "`true`"),
            ("ETag" = String, description = "The task's version, for If-Match"))),
        (status = 404, response = r::NotFound),
        (status = 409, response = r::Conflict),
        (status = 422, response = r::IdempotencyKeyReused),
        AuthenticatedErrors, BodyErrors,
    ),
)]
#[post("/projects/{project_id}/tasks")]
pub async fn create(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<ProjectPath>,
    input: IdempotentJson<TaskInput>,
) -> ApiResult<HttpResponse> {
    let task = input.body.validate()?;
    let (tenant_id, project_id) = (tenant.id, path.project_id);
    // Under a key, a task without dependencies takes one statement; the rest (and the cases
    // that statement leaves to it) take the general path.
    if let Some(key) = &input.key
        && task.depends_on.is_empty()
    {
        let mut connection = pool.acquire().await?;
        let keyed = storage::tasks::create_keyed(
            &mut connection,
            tenant_id,
            project_id,
            &task,
            key.as_new_key(),
        )
        .await
        .map_err(|error| create_error(error, |_| String::new()))?;
        match keyed {
            KeyedCreate::Done(created) => return Ok(created_answer(created)),
            KeyedCreate::Stored(stored) => return idempotency::answer_stored(stored, key),
            KeyedCreate::InFlight => return Err(ApiError::IdempotencyKeyInFlight),
            KeyedCreate::General => {}
        }
    }
    idempotency::respond(
        &pool,
        tenant_id,
        input.key,
        &task,
        move |connection, task| {
            Box::pin(async move {
                let created = storage::tasks::create(connection, tenant_id, project_id, task)
                    .await
                    .map_err(|error| create_error(error, |_| String::new()))?;
                Ok(created_answer(created))
            })
        },
    )
    .await
}

fn created_answer(created: Created) -> HttpResponse {
    match created {
        Created::New(task) => {
            metrics::counter!("tasks_created_total", "via" => "single").increment(1);
            creation_answer(StatusCode::CREATED, &task)
        }
        Created::Existing(task) => {
            count_skipped(SkipReason::DuplicateExternalId);
            creation_answer(StatusCode::OK, &task)
        }
    }
}

/// The answer to a single creation: 201 with the new task, or 200 with the task already
/// stored under its external_id. (Also how a replay of a keyed creation is rebuilt.)
pub fn creation_answer(status: StatusCode, task: &Task) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    if status == StatusCode::CREATED {
        let location = format!("/projects/{}/tasks/{}", task.project_id, task.id);
        response.insert_header((header::LOCATION, location));
    } else {
        response.insert_header((REPLAYED, "true"));
    }
    with_etag(response, task)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct BulkInput {
    /// 1 to the configured maximum (`--max-bulk-tasks`, default 1000) tasks; the spec a
    /// server serves states its own maximum.
    #[schema(min_items = 1, max_items = 1000)]
    pub tasks: Vec<TaskInput>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SkippedTask {
    /// The stored task holding this external_id.
    pub task: Task,
    pub reason: SkipReason,
    pub external_id: String,
}

// camelCase, unlike the rest of the API, because the workflow clients that predate taskdash
// read `totalRequested` from this answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkSummary {
    pub total_requested: usize,
    pub created: usize,
    pub skipped: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkResult {
    /// Tasks created by this request, in request order.
    pub created: Vec<Task>,
    /// Items not created because their external_id was taken, in request order.
    pub skipped: Vec<SkippedTask>,
    pub summary: BulkSummary,
}

/// Create many tasks at once, atomically and idempotently.
///
/// Every item is validated first: any invalid item makes the whole request a 400 listing each
/// problem by JSON pointer, and nothing is written. Items whose external_id is already stored,
/// or repeated within the request, are skipped with the stored task. 201 when at least one task
/// was created, else 200.
#[utoipa::path(
    operation_id = "create_tasks_bulk",
    tag = "tasks",
    params(ProjectPath, IdempotencyKeyHeader),
    request_body = BulkInput,
    responses(
        (status = 201, description = "At least one task was created", body = BulkResult),
        (status = 200, description = "Every item was already stored: nothing was created", body = BulkResult),
        (status = 404, response = r::NotFound),
        (status = 409, response = r::Conflict),
        (status = 422, response = r::IdempotencyKeyReused),
        AuthenticatedErrors, BodyErrors,
    ),
)]
#[post("/projects/{project_id}/tasks:bulk")]
pub async fn create_bulk(
    tenant: Tenant,
    pool: web::Data<Pool>,
    limits: web::Data<Limits>,
    path: web::Path<ProjectPath>,
    input: IdempotentJson<BulkInput>,
) -> ApiResult<HttpResponse> {
    let (key, input) = (input.key, input.body);
    let count = input.tasks.len();
    if count == 0 || count > limits.max_bulk_tasks {
        return Err(ApiError::field(
            "/tasks",
            format!("must hold 1 to {} tasks", limits.max_bulk_tasks),
        ));
    }
    let tasks = validate_items("/tasks", input.tasks)?;
    let repeats = earlier_duplicates(&tasks);
    let (tenant_id, project_id) = (tenant.id, path.project_id);
    let plan = (tasks, repeats);
    idempotency::respond(&pool, tenant_id, key, &plan, move |connection, plan| {
        Box::pin(async move {
            let (tasks, repeats) = plan;
            let firsts: Vec<&NewTask> = tasks
                .iter()
                .zip(repeats)
                .filter(|(_, repeat)| repeat.is_none())
                .map(|(task, _)| task)
                .collect();
            let stored = storage::tasks::create_many(connection, tenant_id, project_id, &firsts)
                .await
                .map_err(|error| create_error(error, |index| format!("/tasks/{index}")))?;
            Ok(bulk_answer(stored, repeats, count))
        })
    })
    .await
}

/// The bulk answer, in request order: each first occurrence takes its stored outcome, each
/// repeat the task of its first occurrence.
fn bulk_answer(stored: Vec<Created>, repeats: &[Option<usize>], count: usize) -> HttpResponse {
    let stored = stored.into_iter().map(|created| match created {
        Created::New(task) => (task, None),
        Created::Existing(task) => (task, Some(SkipReason::DuplicateExternalId)),
    });
    let outcomes = in_request_order(stored, repeats, SkipReason::DuplicateInRequest);
    let mut created = Vec::new();
    let mut skipped = Vec::new();
    for (task, reason) in outcomes {
        match reason {
            None => created.push(task),
            Some(reason) => {
                count_skipped(reason);
                let external_id = task.external_id.clone().unwrap_or_default();
                skipped.push(SkippedTask {
                    task,
                    reason,
                    external_id,
                });
            }
        }
    }
    metrics::counter!("tasks_created_total", "via" => "bulk").increment(created.len() as u64);
    let summary = BulkSummary {
        total_requested: count,
        created: created.len(),
        skipped: skipped.len(),
    };
    let mut response = if created.is_empty() {
        HttpResponse::Ok()
    } else {
        HttpResponse::Created()
    };
    response.json(BulkResult {
        created,
        skipped,
        summary,
    })
}

fn count_skipped(reason: SkipReason) {
    metrics::counter!("tasks_skipped_total", "reason" => reason.as_str()).increment(1);
}
