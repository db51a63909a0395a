//! Workflow runs: idempotent creation by external_id, the list, conditional writes.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strum::VariantNames;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::conditional::{data_etag, not_modified, not_modified_project, tagged};
use super::responses::{self as r, AuthenticatedErrors, BodyErrors, NotModified};
use super::{PageParams, ProjectPath, REPLAYED};
use crate::auth::Tenant;
use crate::domain::{
    ExternalId, Run, RunInput, RunPatch, RunStatus, ShortText, Validate, Validator,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{IfMatch, IfNoneMatch, Json};
use crate::pagination::{Cursor, PageRequest, wrong_cursor};
use crate::pool::Pool;
use crate::routes::idempotency::{self, IdempotencyKeyHeader, IdempotentJson};
use crate::storage;
use crate::storage::runs::{CreateError, Created, Preconditions, Refusal, RunFilter};

/// Registers this module's handlers (each with its `#[utoipa::path]`).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get)
        .service(update)
        .service(delete);
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RunPath {
    #[param(minimum = 1)]
    pub project_id: i64,
    /// Run id.
    #[param(minimum = 1)]
    pub run_id: i64,
}

/// A run answer with its `ETag`.
fn with_etag(mut response: HttpResponseBuilder, run: &Run) -> HttpResponse {
    response.insert_header((header::ETAG, run.etag())).json(run)
}

/// Create a run, idempotently by `external_id`.
///
/// New: 201 with the run (`started_at` now; `completed_at` too unless `running`). When the
/// project already holds this `external_id`: 200 with the stored run *unchanged* and
/// `Idempotent-Replayed: true`. Concurrent requests with one key create exactly one run.
#[utoipa::path(
    operation_id = "create_run",
    tag = "runs",
    params(ProjectPath, IdempotencyKeyHeader),
    request_body = RunInput,
    responses(
        (status = 201, description = "Created", body = Run, headers(
            ("Location" = String, description = "URL of the new run"),
            ("ETag" = String, description = "The run's version, for If-Match"))),
        (status = 200, description = "The external_id was already stored: the stored run, unchanged",
         body = Run, headers(
            ("Idempotent-Replayed" = String, description = "`true`"),
            ("ETag" = String, description = "The run's version, for If-Match"))),
        (status = 404, response = r::NotFound),
        (status = 409, response = r::Conflict),
        (status = 422, response = r::IdempotencyKeyReused),
        AuthenticatedErrors, BodyErrors,
    ),
)]
#[post("/projects/{project_id}/runs")]
pub async fn create(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<ProjectPath>,
    input: IdempotentJson<RunInput>,
) -> ApiResult<HttpResponse> {
    let run = input.body.validate()?;
    let (tenant_id, project_id) = (tenant.id, path.project_id);
    idempotency::respond(&pool, tenant_id, input.key, &run, move |connection, run| {
        Box::pin(async move {
            let created = storage::runs::create(connection, tenant_id, project_id, run)
                .await
                .map_err(|error| match error {
                    CreateError::ProjectNotFound => ApiError::NotFound("project"),
                    CreateError::Contended => ApiError::Conflict(error.to_string()),
                    CreateError::Database(error) => error.into(),
                })?;
            Ok(created_answer(created))
        })
    })
    .await
}

fn created_answer(created: Created) -> HttpResponse {
    match created {
        Created::New(run) => {
            metrics::counter!("runs_created_total").increment(1);
            let location = format!("/projects/{}/runs/{}", run.project_id, run.id);
            let mut response = HttpResponse::Created();
            response.insert_header((header::LOCATION, location));
            with_etag(response, &run)
        }
        Created::Existing(run) => {
            let mut response = HttpResponse::Ok();
            response.insert_header((REPLAYED, "true"));
            with_etag(response, &run)
        }
    }
}

fn status_list_schema() -> Object {
    let one = RunStatus::VARIANTS.join("|");
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "One status or several, comma-separated: `completed,failed`.",
        ))
        .examples(["completed,failed"])
        .pattern(Some(format!("^({one})(,({one}))*$")))
        .build()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunListParams {
    #[param(schema_with = status_list_schema)]
    pub status: Option<String>,
    /// Exact workflow_type.
    #[param(schema_with = crate::domain::name_schema)]
    pub workflow_type: Option<String>,
    /// Exact external_id.
    #[param(min_length = 1, max_length = 255, pattern = "^[!-~]+$")]
    pub external_id: Option<String>,
    /// Runs created after this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub created_after: Option<String>,
    /// Runs created before this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub created_before: Option<String>,
}

fn parse_instant(value: String) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(&value)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| "must be an RFC 3339 date-time, such as 2026-11-28T12:00:00Z".into())
}

impl Validate for RunListParams {
    type Valid = RunFilter;
    const POINTER: &'static str = "/query";

    fn validate_into(self, v: &mut Validator) -> Option<RunFilter> {
        let statuses = v.check_optional("status", self.status, |raw| {
            raw.split(',')
                .map(|s| s.parse().map_err(|_| format!("unknown status `{s}`")))
                .collect::<Result<Vec<RunStatus>, _>>()
        });
        let workflow_type = v.check_optional("workflow_type", self.workflow_type, ShortText::parse);
        let external_id = v.check_optional("external_id", self.external_id, ExternalId::parse);
        let created_after = v.check_optional("created_after", self.created_after, parse_instant);
        let created_before = v.check_optional("created_before", self.created_before, parse_instant);
        Some(RunFilter {
            statuses: statuses?.unwrap_or_default(),
            workflow_type: workflow_type?,
            external_id: external_id?,
            created_after: created_after?,
            created_before: created_before?,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct RunPage {
    pub data: Vec<Run>,
    /// Pass as `cursor` (with the same filters) for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// List a project's runs, newest first, with filters and keyset pagination.
#[utoipa::path(
    operation_id = "list_runs",
    tag = "runs",
    params(ProjectPath, RunListParams, PageParams, IfNoneMatch),
    responses(
        (status = 200, description = "One page of runs", body = RunPage,
         headers(("ETag" = String, description = "For `If-None-Match`"))),
        (status = 404, response = r::NotFound),
        AuthenticatedErrors, NotModified,
    ),
)]
#[get("/projects/{project_id}/runs")]
pub async fn list(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<ProjectPath>,
    web::Query(params): web::Query<RunListParams>,
    web::Query(page): web::Query<PageParams>,
    req: HttpRequest,
    if_none_match: IfNoneMatch,
) -> ApiResult<HttpResponse> {
    let filter = params.validate()?;
    let page = PageRequest::parse(page.limit, page.cursor.as_deref())?;
    let before_id = match &page.after {
        None => None,
        Some(Cursor::Id { id }) => Some(*id),
        Some(_) => return Err(wrong_cursor()),
    };
    let project_id = path.project_id;
    if let Some(response) =
        not_modified_project(&pool, tenant.id, project_id, &req, &if_none_match).await?
    {
        return Ok(response);
    }
    let (mut data, version) =
        storage::runs::list(&pool, tenant.id, project_id, &filter, before_id, page.limit)
            .await?
            .ok_or(ApiError::NotFound("project"))?;
    let next_cursor = page.finish(&mut data, |run| Cursor::Id { id: run.id });
    Ok(tagged(
        &data_etag(version, &req),
        &RunPage { data, next_cursor },
    ))
}

/// Get a run, with its `ETag`.
#[utoipa::path(
    operation_id = "get_run",
    tag = "runs",
    params(RunPath, IfNoneMatch),
    responses(
        (status = 200, description = "The run", body = Run,
         headers(("ETag" = String, description = "The run's version, for If-Match and If-None-Match"))),
        (status = 404, response = r::NotFound),
        AuthenticatedErrors, NotModified,
    ),
)]
#[get("/projects/{project_id}/runs/{run_id}")]
pub async fn get(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<RunPath>,
    if_none_match: IfNoneMatch,
) -> ApiResult<HttpResponse> {
    let run = storage::runs::get(&pool, tenant.id, path.project_id, path.run_id)
        .await?
        .ok_or(ApiError::NotFound("run"))?;
    let etag = run.etag();
    Ok(not_modified(&if_none_match, &etag).unwrap_or_else(|| tagged(&etag, &run)))
}

fn refused(refusal: Refusal, expected: Option<RunStatus>) -> ApiError {
    match refusal {
        Refusal::StatusMismatch(actual) => ApiError::StatusMismatch {
            expected: expected
                .map(RunStatus::as_str)
                .unwrap_or_default()
                .to_owned(),
            actual: actual.as_str().to_owned(),
        },
        Refusal::VersionMismatch => ApiError::PreconditionFailed,
        Refusal::NotFound => ApiError::NotFound("run"),
    }
}

/// Change a run's status or metadata (which the new object replaces).
///
/// `expected_status` makes the change conditional on the current status (409
/// `status_mismatch` otherwise); `If-Match` with the ETag of a read, on nobody else having
/// changed the run since (412 otherwise).
#[utoipa::path(
    operation_id = "update_run",
    tag = "runs",
    params(RunPath, IfMatch),
    request_body = RunPatch,
    responses(
        (status = 200, description = "The updated run", body = Run,
         headers(("ETag" = String, description = "The run's new version"))),
        (status = 404, response = r::NotFound),
        (status = 409, response = r::Conflict),
        (status = 412, response = r::PreconditionFailed),
        AuthenticatedErrors, BodyErrors,
    ),
)]
#[patch("/projects/{project_id}/runs/{run_id}")]
pub async fn update(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<RunPath>,
    if_match: IfMatch,
    Json(patch): Json<RunPatch>,
) -> ApiResult<HttpResponse> {
    let update = patch.validate()?;
    let preconditions = Preconditions {
        status: update.expected_status,
        versions: if_match.versions(),
    };
    let run = storage::runs::update(
        &pool,
        tenant.id,
        path.project_id,
        path.run_id,
        &update,
        preconditions,
    )
    .await?
    .map_err(|refusal| refused(refusal, update.expected_status))?;
    Ok(with_etag(HttpResponse::Ok(), &run))
}

/// Delete a run with its events; its tasks stay, with `run_id` cleared.
#[utoipa::path(
    operation_id = "delete_run",
    tag = "runs",
    params(RunPath, IfMatch),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, response = r::NotFound),
        (status = 412, response = r::PreconditionFailed),
        AuthenticatedErrors,
    ),
)]
#[delete("/projects/{project_id}/runs/{run_id}")]
pub async fn delete(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<RunPath>,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    storage::runs::delete(
        &pool,
        tenant.id,
        path.project_id,
        path.run_id,
        if_match.versions(),
    )
    .await?
    .map_err(|refusal| refused(refusal, None))?;
    Ok(HttpResponse::NoContent().finish())
}
