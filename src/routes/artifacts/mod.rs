//! Artifacts of a project or of one of its tasks: PUT (create, replace, or an identical upload
//! that writes nothing), the metadata lists, the content (tagged with its digest) and DELETE.
//! Each route exists twice, under `/projects/{project_id}` and under its tasks; both share one
//! body per operation.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, delete, get, put, web};
use futures_util::StreamExt;
use serde::Serialize;
use utoipa::{IntoResponses, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::conditional::{
    data_etag, not_modified, not_modified_project, not_modified_within_project, tagged_bytes,
    tagged_unless_held,
};
use super::responses::{self as r, AuthenticatedErrors, BodyErrors, NotModified};
use super::{ProjectPath, REPLAYED, TaskPath};
use crate::auth::Tenant;
use crate::domain::{
    Artifact, ArtifactContent, ArtifactKey, ArtifactListParams, IterationParams,
    ProjectArtifactPath, TaskArtifactListParams, TaskArtifactPath, Validate,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::IfNoneMatch;
use crate::pagination::{Cursor, PageRequest, wrong_cursor};
use crate::pool::Pool;
use crate::state::Limits;
use crate::storage;
use crate::storage::artifacts::{Missing, Put};

mod content;
mod upload;

/// Registers this module's handlers (each with its `#[utoipa::path]`).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(upload::put_project)
        .service(upload::put_task)
        .service(list_project)
        .service(list_task)
        .service(content::get_project)
        .service(content::get_task)
        .service(delete_project)
        .service(delete_task);
}

/// Content is served as stored: a browser that opens it anyway runs nothing.
const CONTENT_POLICY: &str = "default-src 'none'; sandbox";

/// What a PUT answers (for the spec).
#[derive(IntoResponses)]
#[allow(dead_code)]
enum Written {
    /// Created
    #[response(status = 201, headers(
        ("Location" = String, description = "URL of the content"),
        ("ETag" = String, description = "The content's SHA-256, quoted")))]
    Created(Artifact),
    /// Replaced, or (with `Idempotent-Replayed: true`) already stored as sent: nothing written
    #[response(status = 200, headers(
        ("Idempotent-Replayed" = String, description = "`true` when nothing was written"),
        ("ETag" = String, description = "The content's SHA-256, quoted")))]
    Replaced(Artifact),
}

/// What a read of the content answers (for the spec): any media type.
#[derive(IntoResponses)]
#[response(status = 200, content_type = "*/*", headers(
    ("ETag" = String, description = "The content's SHA-256, quoted")))]
#[allow(dead_code)]
/// The content, with the Content-Type it was stored with
struct Content(serde_json::Value);

#[derive(Serialize, ToSchema)]
pub struct ArtifactPage {
    /// Metadata only, in creation order.
    pub data: Vec<Artifact>,
    /// Pass as `cursor` (with the same filters) for the next page; null on the last.
    pub next_cursor: Option<String>,
}

fn missing(missing: Missing) -> ApiError {
    match missing {
        Missing::Project => ApiError::NotFound("project"),
        Missing::Task => ApiError::NotFound("task"),
        Missing::Artifact => ApiError::NotFound("artifact"),
        Missing::Contended => {
            ApiError::Conflict("the artifact kept changing while being written; retry".into())
        }
    }
}

/// List the metadata of a project's artifacts (of the project and of its tasks), oldest first.
#[utoipa::path(
    operation_id = "list_project_artifacts",
    tag = "artifacts",
    params(ProjectPath, ArtifactListParams, IfNoneMatch),
    responses(
        (status = 200, description = "One page of artifact metadata", body = ArtifactPage,
         headers(("ETag" = String, description = "For `If-None-Match`"))),
        (status = 404, response = r::NotFound),
        AuthenticatedErrors, NotModified,
    ),
)]
#[get("/projects/{project_id}/artifacts")]
pub async fn list_project(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<ProjectPath>,
    params: web::Query<ArtifactListParams>,
    req: HttpRequest,
    if_none_match: IfNoneMatch,
) -> ApiResult<HttpResponse> {
    let scope = (path.project_id, None);
    list(
        &tenant,
        &pool,
        scope,
        params.into_inner(),
        &req,
        &if_none_match,
    )
    .await
}

/// List the metadata of a task's artifacts, oldest first.
#[utoipa::path(
    operation_id = "list_task_artifacts",
    tag = "artifacts",
    params(TaskPath, TaskArtifactListParams, IfNoneMatch),
    responses(
        (status = 200, description = "One page of artifact metadata", body = ArtifactPage,
         headers(("ETag" = String, description = "For `If-None-Match`"))),
        (status = 404, response = r::NotFound),
        AuthenticatedErrors, NotModified,
    ),
)]
#[get("/projects/{project_id}/tasks/{task_id}/artifacts")]
pub async fn list_task(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<TaskPath>,
    params: web::Query<TaskArtifactListParams>,
    req: HttpRequest,
    if_none_match: IfNoneMatch,
) -> ApiResult<HttpResponse> {
    let scope = (path.project_id, Some(path.task_id));
    list(
        &tenant,
        &pool,
        scope,
        params.into_inner().into(),
        &req,
        &if_none_match,
    )
    .await
}

/// One page of the artifacts of `(project, task)` (`None`: all of the project's).
async fn list(
    tenant: &Tenant,
    pool: &Pool,
    (project_id, task_id): (i64, Option<i64>),
    mut params: ArtifactListParams,
    req: &HttpRequest,
    if_none_match: &IfNoneMatch,
) -> ApiResult<HttpResponse> {
    let (limit, cursor) = (params.limit, params.cursor.take());
    let mut filter = params.validate()?;
    let page = PageRequest::parse(limit, cursor.as_deref())?;
    let after_id = match &page.after {
        None => None,
        Some(Cursor::Id { id }) => Some(*id),
        Some(_) => return Err(wrong_cursor()),
    };
    // A task's list exists only while the task does, which the project's version cannot tell.
    let not_modified = match task_id {
        None => not_modified_project(pool, tenant.id, project_id, req, if_none_match).await?,
        Some(_) => {
            not_modified_within_project(pool, tenant.id, project_id, req, if_none_match).await?
        }
    };
    if let Some(response) = not_modified {
        return Ok(response);
    }
    filter.task_id = task_id.or(filter.task_id);
    let (within_task, limit) = (task_id.is_some(), page.limit);
    let listed = storage::artifacts::list(
        pool,
        tenant.id,
        project_id,
        &filter,
        within_task,
        after_id,
        limit,
    );
    let (mut data, version) = listed.await?.map_err(missing)?;
    let next_cursor = page.finish(&mut data, |a| Cursor::Id { id: a.id });
    let etag = data_etag(version, req);
    let page = ArtifactPage { data, next_cursor };
    Ok(tagged_unless_held(if_none_match, &etag, &page))
}

/// Delete an artifact of the project.
#[utoipa::path(
    operation_id = "delete_project_artifact",
    tag = "artifacts",
    params(ProjectArtifactPath, IterationParams),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, response = r::NotFound),
        AuthenticatedErrors,
    ),
)]
#[delete("/projects/{project_id}/artifacts/{kind}")]
pub async fn delete_project(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<ProjectArtifactPath>,
    query: web::Query<IterationParams>,
) -> ApiResult<HttpResponse> {
    let (project_id, key) = path.into_inner().key(query.into_inner())?;
    remove(&tenant, &pool, project_id, &key).await
}

/// Delete an artifact of a task.
#[utoipa::path(
    operation_id = "delete_task_artifact",
    tag = "artifacts",
    params(TaskArtifactPath, IterationParams),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, response = r::NotFound),
        AuthenticatedErrors,
    ),
)]
#[delete("/projects/{project_id}/tasks/{task_id}/artifacts/{kind}")]
pub async fn delete_task(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<TaskArtifactPath>,
    query: web::Query<IterationParams>,
) -> ApiResult<HttpResponse> {
    let (project_id, key) = path.into_inner().key(query.into_inner())?;
    remove(&tenant, &pool, project_id, &key).await
}

async fn remove(
    tenant: &Tenant,
    pool: &Pool,
    project_id: i64,
    key: &ArtifactKey,
) -> ApiResult<HttpResponse> {
    storage::artifacts::delete(pool, tenant.id, project_id, key)
        .await?
        .map_err(missing)?;
    Ok(HttpResponse::NoContent().finish())
}
