use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use strum::VariantNames;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Tenant;
use crate::domain::{
    ExternalId, Label, PriorityScore, Task, TaskStatus, TaskView, Validate, Validator, WorkerId,
    label_schema,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::IfNoneMatch;
use crate::pagination::{Cursor, PageItem, PageRequest, PageWriter, wrong_cursor};
use crate::pool::Pool;
use crate::routes::conditional::{
    data_etag, not_modified, not_modified_project, tagged, tagged_bytes,
};
use crate::routes::responses::{self as r, AuthenticatedErrors, NotModified};
use crate::routes::{ProjectPath, TaskPath};
use crate::storage;
use crate::storage::tasks::{After, Page, TaskFilter, TaskOrder};

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

/// The `label` filter's schema: the label rules, and what the filter costs.
fn label_filter_schema() -> Object {
    let mut schema = label_schema();
    schema.description = Some(
        "Tasks carrying this label. Served by indexes on any project size: the page order's \
         index carries each task's labels (a page is found among the first 10 000 tasks in order \
         when at least 1 % of them carry the label), and a label on at most 1000 tasks is \
         fetched through the labels' index. In between (a label on a few thousand tasks of a \
         project of millions, clustered away from the top of the order) the walk is longer: \
         ~10 ms per million tasks at worst (see the README's scale table)."
            .into(),
    );
    schema
}

/// The `status` filter's schema, built from the statuses' own names (a parameter with its own
/// schema carries its description and example inside it).
fn status_list_schema() -> Object {
    let one = TaskStatus::VARIANTS.join("|");
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "One status or several, comma-separated: `open,in_progress`.",
        ))
        .examples(["open,in_progress"])
        .pattern(Some(format!("^({one})(,({one}))*$")))
        .build()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskListParams {
    #[param(schema_with = status_list_schema)]
    pub status: Option<String>,
    #[param(minimum = 1)]
    pub milestone_id: Option<i64>,
    #[param(minimum = 1)]
    pub parent_task_id: Option<i64>,
    /// Tasks of this workflow run.
    #[param(minimum = 1)]
    pub run_id: Option<i64>,
    #[param(schema_with = label_filter_schema)]
    pub label: Option<String>,
    /// Exact external_id.
    #[param(min_length = 1, max_length = 255, pattern = "^[!-~]+$")]
    pub external_id: Option<String>,
    /// All tasks whose external_id starts with this, e.g. one workflow run: `wf-123:`. Served,
    /// like `label`, by the page order's index (which carries external_id) or, for at most
    /// 1000 tasks, by the external_id index.
    #[param(min_length = 1, max_length = 255, pattern = "^[!-~]+$")]
    pub external_id_prefix: Option<String>,
    #[param(minimum = 0, maximum = 10000)]
    pub priority_min: Option<i64>,
    #[param(minimum = 0, maximum = 10000)]
    pub priority_max: Option<i64>,
    /// Tasks claimed by this worker (see `tasks:claim`).
    #[param(schema_with = crate::domain::worker_id_schema)]
    pub claimed_by: Option<String>,
    /// `true`: the tasks a claim of open tasks would take now: `open`, unclaimed, every
    /// dependency `done` or `archived` (served, in the work-queue order, by an index of exactly
    /// these tasks). Tasks whose lease lapsed are claimable too, but show as `in_progress`
    /// until claimed again. `false`: all other tasks.
    pub claimable: Option<bool>,
    #[param(inline)]
    pub sort: Option<TaskSort>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (with the same filters and sort).
    pub cursor: Option<String>,
}

impl Validate for TaskListParams {
    type Valid = TaskFilter;
    const POINTER: &'static str = "/query";

    fn validate_into(self, v: &mut Validator) -> Option<TaskFilter> {
        let statuses = v.check_optional("status", self.status, |raw| {
            raw.split(',')
                .map(|s| s.parse().map_err(|_| format!("unknown status `{s}`")))
                .collect::<Result<Vec<TaskStatus>, _>>()
        });
        let priority = |v: &mut Validator, field, value: Option<i64>| {
            v.check_optional(field, value, |p| {
                PriorityScore::parse(p).map(PriorityScore::get)
            })
        };
        let priority_min = priority(v, "priority_min", self.priority_min);
        let priority_max = priority(v, "priority_max", self.priority_max);
        let label = v.check_optional("label", self.label, Label::parse);
        let external_id = v.check_optional("external_id", self.external_id, ExternalId::parse);
        let external_id_prefix = v.check_optional(
            "external_id_prefix",
            self.external_id_prefix,
            ExternalId::parse,
        );
        let claimed_by = v.check_optional("claimed_by", self.claimed_by, WorkerId::parse);
        Some(TaskFilter {
            claimed_by: claimed_by?,
            claimable: self.claimable,
            statuses: statuses?.unwrap_or_default(),
            milestone_id: self.milestone_id,
            parent_task_id: self.parent_task_id,
            run_id: self.run_id,
            label: label?,
            external_id: external_id?,
            external_id_prefix: external_id_prefix?,
            priority_min: priority_min?,
            priority_max: priority_max?,
        })
    }
}

/// Where a page resumes after the task a cursor names, in `order`; `None` for another kind of
/// cursor. A task cursor carries every sort key, so it works with any order.
fn position(order: TaskOrder, cursor: &Cursor) -> Option<After> {
    let Cursor::Task { p, c, u, id } = *cursor else {
        return None;
    };
    Some(match order {
        TaskOrder::Queue => After::Queue {
            priority: p,
            created_at: c,
            id,
        },
        TaskOrder::CreatedAt { .. } => After::Time { at: c, id },
        TaskOrder::UpdatedAt { .. } => After::Time { at: u, id },
    })
}

impl PageItem for TaskView<'_> {
    fn write_json(&self, json: &mut Vec<u8>) -> std::io::Result<()> {
        TaskView::write_json(self, json)
    }

    /// Resumes after this task in any order.
    fn cursor(&self) -> Cursor {
        Cursor::Task {
            p: self.priority_score,
            c: self.created_at,
            u: self.updated_at,
            id: self.id,
        }
    }
}

/// About one task's JSON without a description: a page is allocated once.
const TASK_JSON_SIZE: usize = 512;

// The answer's schema: the page itself is written by `PageWriter` as its rows arrive, to the
// JSON this struct serialises to.
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
    params(ProjectPath, TaskListParams, IfNoneMatch),
    responses(
        (status = 200, description = "One page of tasks", body = TaskPage,
         headers(("ETag" = String, description = "For `If-None-Match`"))),
        (status = 404, response = r::NotFound),
        AuthenticatedErrors, NotModified,
    ),
)]
#[get("/projects/{project_id}/tasks")]
pub async fn list(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<ProjectPath>,
    web::Query(mut params): web::Query<TaskListParams>,
    req: HttpRequest,
    if_none_match: IfNoneMatch,
) -> ApiResult<HttpResponse> {
    let order = TaskOrder::from(params.sort.unwrap_or_default());
    let (limit, cursor) = (params.limit, params.cursor.take());
    let filter = params.validate()?;
    let page = PageRequest::parse(limit, cursor.as_deref())?;
    let after = match &page.after {
        None => None,
        Some(cursor) => Some(position(order, cursor).ok_or_else(wrong_cursor)?),
    };
    let project_id = path.project_id;
    // A client that holds a tag is answered from the version alone when it is current; the
    // page itself reads the version in its own statement (one round trip without a tag,
    // but for an empty page: see `storage::tasks::list`).
    if let Some(response) =
        not_modified_project(&pool, tenant.id, project_id, &req, &if_none_match).await?
    {
        return Ok(response);
    }
    let mut json = PageWriter::new(page.limit, TASK_JSON_SIZE);
    let version = storage::tasks::list(
        &pool,
        tenant.id,
        project_id,
        &filter,
        Page {
            order,
            after,
            limit: page.limit,
        },
        |task| json.push(&task),
    )
    .await?
    .ok_or(ApiError::NotFound("project"))?;
    let body = json.finish().map_err(anyhow::Error::from)?;
    Ok(tagged_bytes(&data_etag(version, &req), body))
}

/// Get a task, with its `ETag`.
#[utoipa::path(
    operation_id = "get_task",
    tag = "tasks",
    params(TaskPath, IfNoneMatch),
    responses(
        (status = 200, description = "The task", body = Task,
         headers(("ETag" = String, description = "The task's version, for If-Match and If-None-Match"))),
        (status = 404, response = r::NotFound),
        AuthenticatedErrors, NotModified,
    ),
)]
// `[^/:]+`: `…/tasks/7:heartbeat` is another resource (answered 405 for methods it lacks).
#[get("/projects/{project_id}/tasks/{task_id:[^/:]+}")]
pub async fn get(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<TaskPath>,
    if_none_match: IfNoneMatch,
) -> ApiResult<HttpResponse> {
    let task = storage::tasks::get(&pool, tenant.id, path.project_id, path.task_id)
        .await?
        .ok_or(ApiError::NotFound("task"))?;
    let etag = task.etag();
    Ok(not_modified(&if_none_match, &etag).unwrap_or_else(|| tagged(&etag, &task)))
}
