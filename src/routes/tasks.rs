use crate::pool::Pool;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::responses as r;
use super::{ProjectPath, TaskPath, validated};
use crate::auth::Tenant;
use crate::domain::{
    ExternalId, Label, PriorityScore, Task, TaskInput, TaskPatch, TaskStatus, Validator,
    label_schema,
};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::extract::Json;
use crate::pagination::{PageRequest, wrong_cursor};
use crate::startup::Limits;
use crate::storage;
use crate::storage::tasks::{
    BulkError, BulkItem, CreateError, Created, Preconditions, TaskFilter, TaskOrder, WriteOutcome,
};

const REPLAYED: &str = "Idempotent-Replayed";

fn task_location(task: &Task) -> String {
    format!("/projects/{}/tasks/{}", task.project_id, task.id)
}

impl From<CreateError> for ApiError {
    fn from(error: CreateError) -> Self {
        match error {
            CreateError::ProjectNotFound => ApiError::NotFound("project"),
            CreateError::Contended => ApiError::Conflict(error.to_string()),
            CreateError::Database(error) => error.into(),
        }
    }
}

/// Create a task, idempotently by `external_id`.
///
/// New: 201 with the task. When the project already holds this `external_id`: 200 with the
/// stored task *unchanged* (the request's other fields are ignored) and `Idempotent-Replayed:
/// true`. Any number of concurrent requests with one key create exactly one task.
#[utoipa::path(
    operation_id = "create_task",
    tag = "tasks",
    params(ProjectPath),
    request_body = TaskInput,
    responses(
        (status = 201, description = "Created", body = Task, headers(
            ("Location" = String, description = "URL of the new task"),
            ("ETag" = String, description = "The task's version, for If-Match"))),
        (status = 200, description = "The external_id was already stored: the stored task, unchanged",
         body = Task, headers(
            ("Idempotent-Replayed" = String, description = "`true`"),
            ("ETag" = String, description = "The task's version, for If-Match"))),
        (status = 400, response = r::BadRequest),
        (status = 401, response = r::Unauthorized),
        (status = 404, response = r::NotFound),
        (status = 409, response = r::Conflict),
        (status = 413, response = r::PayloadTooLarge),
        (status = 415, response = r::UnsupportedMediaType),
        (status = 500, response = r::Internal),
        (status = 503, response = r::Unavailable),
    ),
    security(("bearer" = []))
)]
#[post("/projects/{project_id}/tasks")]
pub async fn create(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<ProjectPath>,
    Json(input): Json<TaskInput>,
) -> ApiResult<HttpResponse> {
    let mut errors = Vec::new();
    let task = input.validate(&mut Validator::new("", &mut errors));
    let task = validated(errors, task)?;
    Ok(
        match storage::tasks::create(&pool, tenant.id, path.project_id, &task).await? {
            Created::New(task) => {
                metrics::counter!("tasks_created_total", "via" => "single").increment(1);
                HttpResponse::Created()
                    .insert_header((header::LOCATION, task_location(&task)))
                    .insert_header((header::ETAG, task.etag()))
                    .json(task)
            }
            Created::Existing(task) => {
                metrics::counter!("tasks_skipped_total", "reason" => "duplicate_external_id")
                    .increment(1);
                HttpResponse::Ok()
                    .insert_header((REPLAYED, "true"))
                    .insert_header((header::ETAG, task.etag()))
                    .json(task)
            }
        },
    )
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct BulkInput {
    /// 1 to the configured maximum (`--max-bulk-tasks`, default 1000) tasks.
    #[schema(min_items = 1, max_items = 1000)]
    pub tasks: Vec<TaskInput>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The project already held this external_id before the request.
    DuplicateExternalId,
    /// The external_id appeared earlier in the same request; the first occurrence won.
    DuplicateInRequest,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SkippedTask {
    /// The stored task holding this external_id.
    pub task: Task,
    pub reason: SkipReason,
    pub external_id: String,
}

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

impl From<BulkError> for ApiError {
    fn from(error: BulkError) -> Self {
        match error {
            BulkError::ProjectNotFound => ApiError::NotFound("project"),
            BulkError::Contended => ApiError::Conflict(error.to_string()),
            BulkError::UnknownReferences(items) => ApiError::UnknownReference(
                items
                    .into_iter()
                    .map(|(index, field)| {
                        let what = if field == "milestone_id" {
                            "milestone"
                        } else {
                            "task"
                        };
                        FieldError::new(
                            format!("/tasks/{index}/{field}"),
                            format!("no {what} with this id in the project"),
                        )
                    })
                    .collect(),
            ),
            BulkError::Database(error) => error.into(),
        }
    }
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
    params(ProjectPath),
    request_body = BulkInput,
    responses(
        (status = 201, description = "At least one task was created", body = BulkResult),
        (status = 200, description = "Every item was already stored: nothing was created", body = BulkResult),
        (status = 400, response = r::BadRequest),
        (status = 401, response = r::Unauthorized),
        (status = 404, response = r::NotFound),
        (status = 409, response = r::Conflict),
        (status = 413, response = r::PayloadTooLarge),
        (status = 415, response = r::UnsupportedMediaType),
        (status = 500, response = r::Internal),
        (status = 503, response = r::Unavailable),
    ),
    security(("bearer" = []))
)]
#[post("/projects/{project_id}/tasks:bulk")]
pub async fn create_bulk(
    tenant: Tenant,
    pool: web::Data<Pool>,
    limits: web::Data<Limits>,
    path: web::Path<ProjectPath>,
    Json(input): Json<BulkInput>,
) -> ApiResult<HttpResponse> {
    let count = input.tasks.len();
    if count == 0 || count > limits.max_bulk_tasks {
        return Err(ApiError::field(
            "/tasks",
            format!("must hold 1 to {} tasks", limits.max_bulk_tasks),
        ));
    }
    let mut errors = Vec::new();
    let tasks: Vec<_> = input
        .tasks
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            item.validate(&mut Validator::new(format!("/tasks/{index}"), &mut errors))
        })
        .collect();
    let tasks = validated(errors, tasks.into_iter().collect::<Option<Vec<_>>>())?;

    let items = storage::tasks::create_many(&pool, tenant.id, path.project_id, &tasks).await?;
    let mut created = Vec::new();
    let mut skipped = Vec::new();
    for item in items {
        let (task, reason) = match item {
            BulkItem::Created(task) => {
                created.push(task);
                continue;
            }
            BulkItem::Existing(task) => (task, SkipReason::DuplicateExternalId),
            BulkItem::RepeatedInRequest(task) => (task, SkipReason::DuplicateInRequest),
        };
        let external_id = task.external_id.clone().unwrap_or_default();
        skipped.push(SkippedTask {
            task,
            reason,
            external_id,
        });
    }
    metrics::counter!("tasks_created_total", "via" => "bulk").increment(created.len() as u64);
    for item in &skipped {
        let reason = match item.reason {
            SkipReason::DuplicateExternalId => "duplicate_external_id",
            SkipReason::DuplicateInRequest => "duplicate_in_request",
        };
        metrics::counter!("tasks_skipped_total", "reason" => reason).increment(1);
    }
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
    Ok(response.json(BulkResult {
        created,
        skipped,
        summary,
    }))
}

/// List orders: the work queue (default), or by creation or update time (`-` for newest first).
#[derive(Clone, Copy, Debug, Default, Deserialize, ToSchema)]
pub enum TaskSort {
    /// priority_score descending, then oldest first.
    #[default]
    #[serde(rename = "priority")]
    Priority,
    #[serde(rename = "created_at")]
    CreatedAt,
    #[serde(rename = "-created_at")]
    CreatedAtDesc,
    #[serde(rename = "updated_at")]
    UpdatedAt,
    #[serde(rename = "-updated_at")]
    UpdatedAtDesc,
}

impl From<TaskSort> for TaskOrder {
    fn from(sort: TaskSort) -> Self {
        match sort {
            TaskSort::Priority => TaskOrder::Queue,
            TaskSort::CreatedAt => TaskOrder::CreatedAt { descending: false },
            TaskSort::CreatedAtDesc => TaskOrder::CreatedAt { descending: true },
            TaskSort::UpdatedAt => TaskOrder::UpdatedAt { descending: false },
            TaskSort::UpdatedAtDesc => TaskOrder::UpdatedAt { descending: true },
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskListParams {
    /// One status or several, comma-separated: `open,in_progress`.
    #[param(
        example = "open,in_progress",
        pattern = "^(open|in_progress|in_review|blocked|done|archived)(,(open|in_progress|in_review|blocked|done|archived))*$"
    )]
    pub status: Option<String>,
    #[param(minimum = 1)]
    pub milestone_id: Option<i64>,
    #[param(minimum = 1)]
    pub parent_task_id: Option<i64>,
    /// Tasks carrying this label.
    #[param(schema_with = label_schema)]
    pub label: Option<String>,
    /// Exact external_id.
    #[param(min_length = 1, max_length = 255, pattern = "^[!-~]+$")]
    pub external_id: Option<String>,
    /// All tasks whose external_id starts with this, e.g. one workflow run: `wf-123:`.
    #[param(min_length = 1, max_length = 255, pattern = "^[!-~]+$")]
    pub external_id_prefix: Option<String>,
    #[param(minimum = 0, maximum = 10000)]
    pub priority_min: Option<i64>,
    #[param(minimum = 0, maximum = 10000)]
    pub priority_max: Option<i64>,
    #[param(inline)]
    pub sort: Option<TaskSort>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (with the same filters and sort).
    pub cursor: Option<String>,
}

impl TaskListParams {
    fn filter(&self) -> Result<TaskFilter, ApiError> {
        let mut errors = Vec::new();
        let mut v = Validator::new("/query", &mut errors);
        let statuses = match &self.status {
            None => Some(Vec::new()),
            Some(raw) => raw
                .split(',')
                .map(|s| {
                    serde_json::from_value::<TaskStatus>(serde_json::Value::from(s))
                        .map_err(|_| format!("unknown status `{s}`"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| v.fail("status", e))
                .ok(),
        };
        let priority = |v: &mut Validator, field, value: Option<i64>| {
            v.check_optional(field, value, |p| {
                PriorityScore::parse(p).map(PriorityScore::get)
            })
        };
        let priority_min = priority(&mut v, "priority_min", self.priority_min);
        let priority_max = priority(&mut v, "priority_max", self.priority_max);
        let label = v.check_optional("label", self.label.clone(), Label::parse);
        let external_id =
            v.check_optional("external_id", self.external_id.clone(), ExternalId::parse);
        let prefix = v.check_optional(
            "external_id_prefix",
            self.external_id_prefix.clone(),
            ExternalId::parse_prefix,
        );
        let filter = (|| {
            Some(TaskFilter {
                statuses: statuses?,
                milestone_id: self.milestone_id,
                parent_task_id: self.parent_task_id,
                label: label?.map(Label::into_inner),
                external_id: external_id?.map(ExternalId::into_inner),
                external_id_prefix: prefix?,
                priority_min: priority_min?,
                priority_max: priority_max?,
            })
        })();
        validated(errors, filter)
    }
}

#[derive(Serialize, ToSchema)]
pub struct TaskPage {
    pub data: Vec<Task>,
    /// Pass as `cursor` (with the same filters and sort) for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// List a project's tasks: filters, the priority work queue, keyset pagination.
#[utoipa::path(
    operation_id = "list_tasks",
    tag = "tasks",
    params(ProjectPath, TaskListParams),
    responses(
        (status = 200, description = "One page of tasks", body = TaskPage),
        (status = 400, response = r::BadRequest),
        (status = 401, response = r::Unauthorized),
        (status = 404, response = r::NotFound),
        (status = 500, response = r::Internal),
        (status = 503, response = r::Unavailable),
    ),
    security(("bearer" = []))
)]
#[get("/projects/{project_id}/tasks")]
pub async fn list(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<ProjectPath>,
    params: web::Query<TaskListParams>,
) -> ApiResult<HttpResponse> {
    let filter = params.filter()?;
    let order = TaskOrder::from(params.sort.unwrap_or_default());
    let page = PageRequest::parse(params.limit, params.cursor.as_deref())?;
    let after = match &page.after {
        None => None,
        Some(cursor) => Some(order.position(cursor).ok_or_else(wrong_cursor)?),
    };
    let project_id = path.project_id;
    let mut data = storage::tasks::list(
        &pool, tenant.id, project_id, &filter, order, after, page.limit,
    )
    .await?;
    if data.is_empty() && !storage::project_exists(&pool, tenant.id, project_id).await? {
        return Err(ApiError::NotFound("project"));
    }
    let next_cursor = page.finish(&mut data, storage::tasks::cursor_after);
    Ok(HttpResponse::Ok().json(TaskPage { data, next_cursor }))
}

/// Get a task, with its `ETag`.
#[utoipa::path(
    operation_id = "get_task",
    tag = "tasks",
    params(TaskPath),
    responses(
        (status = 200, description = "The task", body = Task,
         headers(("ETag" = String, description = "The task's version, for If-Match"))),
        (status = 400, response = r::BadRequest),
        (status = 401, response = r::Unauthorized),
        (status = 404, response = r::NotFound),
        (status = 500, response = r::Internal),
        (status = 503, response = r::Unavailable),
    ),
    security(("bearer" = []))
)]
#[get("/projects/{project_id}/tasks/{task_id}")]
pub async fn get(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<TaskPath>,
) -> ApiResult<HttpResponse> {
    let task = storage::tasks::get(&pool, tenant.id, path.project_id, path.task_id)
        .await?
        .ok_or(ApiError::NotFound("task"))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, task.etag()))
        .json(task))
}

/// The `If-Match` header, as documented and as read: the version it names (`"3"` or `W/"3"`),
/// or none when absent or `*` (any existing task).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfMatch {
    /// The `ETag` of a previous read (`"3"`; `3` is read the same), or `*`: the write happens
    /// only if the task is still at that version (else 412).
    #[param(rename = "If-Match", value_type = String, required = false, pattern = r#"^(\*|(W/)?"[0-9]{1,9}"|[0-9]{1,9})$"#)]
    pub version: Option<i32>,
}

impl actix_web::FromRequest for IfMatch {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(parse_if_match(req).map(|version| Self { version }))
    }
}

fn parse_if_match(req: &HttpRequest) -> Result<Option<i32>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::field(
            "/header/If-Match",
            "must be an ETag returned by this API, such as \"3\"",
        )
    };
    let value = value.to_str().map_err(|_| invalid())?.trim();
    if value == "*" {
        return Ok(None);
    }
    // Clients that drop the quotes are common enough to meet halfway: `3` is read as `"3"`.
    let tag = value.strip_prefix("W/").unwrap_or(value);
    let digits = match tag.strip_prefix('"') {
        Some(quoted) => quoted.strip_suffix('"'),
        None if tag.len() == value.len() => Some(tag),
        None => None,
    }
    .filter(|t| (1..=9).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit()))
    .ok_or_else(invalid)?;
    digits.parse().map(Some).map_err(|_| invalid())
}

fn refused<T>(outcome: WriteOutcome<T>, expected: Option<TaskStatus>) -> ApiError {
    match outcome {
        WriteOutcome::StatusMismatch(actual) => ApiError::StatusMismatch {
            expected: expected.map(|s| s.as_str()).unwrap_or_default().to_owned(),
            actual: actual.as_str().to_owned(),
        },
        WriteOutcome::VersionMismatch => ApiError::PreconditionFailed,
        WriteOutcome::NotFound | WriteOutcome::Done(_) => ApiError::NotFound("task"),
    }
}

/// Change a task. Only the fields present change; `null` clears a nullable field.
///
/// `expected_status` makes the change conditional on the current status (409 otherwise): how
/// workers claim tasks. `If-Match` with the ETag from a GET makes it conditional on nobody else
/// having changed the task (412 otherwise).
#[utoipa::path(
    operation_id = "update_task",
    tag = "tasks",
    params(TaskPath, IfMatch),
    request_body = TaskPatch,
    responses(
        (status = 200, description = "The updated task", body = Task,
         headers(("ETag" = String, description = "The task's new version"))),
        (status = 400, response = r::BadRequest),
        (status = 401, response = r::Unauthorized),
        (status = 404, response = r::NotFound),
        (status = 409, response = r::Conflict),
        (status = 412, response = r::PreconditionFailed),
        (status = 413, response = r::PayloadTooLarge),
        (status = 415, response = r::UnsupportedMediaType),
        (status = 500, response = r::Internal),
        (status = 503, response = r::Unavailable),
    ),
    security(("bearer" = []))
)]
#[patch("/projects/{project_id}/tasks/{task_id}")]
pub async fn update(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<TaskPath>,
    if_match: IfMatch,
    Json(patch): Json<TaskPatch>,
) -> ApiResult<HttpResponse> {
    let version = if_match.version;
    let mut errors = Vec::new();
    let validated_patch = patch.validate(&mut Validator::new("", &mut errors));
    let (changes, expected_status) = validated(errors, validated_patch)?;
    let (project_id, task_id) = (path.project_id, path.task_id);
    if let Some(Some(parent_id)) = changes.parent_task_id
        && storage::tasks::would_create_cycle(&pool, tenant.id, project_id, task_id, parent_id)
            .await?
    {
        return Err(ApiError::Conflict(
            "parent_task_id would make the task its own ancestor".into(),
        ));
    }
    let preconditions = Preconditions {
        status: expected_status,
        version,
    };
    match storage::tasks::update(
        &pool,
        tenant.id,
        project_id,
        task_id,
        &changes,
        preconditions,
    )
    .await?
    {
        WriteOutcome::Done(task) => Ok(HttpResponse::Ok()
            .insert_header((header::ETAG, task.etag()))
            .json(task)),
        other => Err(refused(other, expected_status)),
    }
}

/// Delete a task; its subtasks stay, with `parent_task_id` cleared.
#[utoipa::path(
    operation_id = "delete_task",
    tag = "tasks",
    params(TaskPath, IfMatch),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = r::BadRequest),
        (status = 401, response = r::Unauthorized),
        (status = 404, response = r::NotFound),
        (status = 412, response = r::PreconditionFailed),
        (status = 500, response = r::Internal),
        (status = 503, response = r::Unavailable),
    ),
    security(("bearer" = []))
)]
#[delete("/projects/{project_id}/tasks/{task_id}")]
pub async fn delete(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<TaskPath>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    let preconditions = Preconditions {
        status: None,
        version: if_match.version,
    };
    match storage::tasks::delete(
        &pool,
        tenant.id,
        path.project_id,
        path.task_id,
        preconditions,
    )
    .await?
    {
        WriteOutcome::Done(()) => Ok(HttpResponse::NoContent().finish()),
        other => Err(refused(other, None)),
    }
}
