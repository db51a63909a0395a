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

use super::conditional::{data_etag, not_modified, not_modified_project, tagged, tagged_bytes};
use super::responses::{self as r, AuthenticatedErrors, BodyErrors, NotModified};
use super::{ProjectPath, TaskPath};
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

/// Registers this module's handlers (each with its `#[utoipa::path]`).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(put_project)
        .service(put_task)
        .service(list_project)
        .service(list_task)
        .service(get_project)
        .service(get_task)
        .service(delete_project)
        .service(delete_task);
}

const REPLAYED: &str = "Idempotent-Replayed";
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

/// Create or replace an artifact of the project (no task).
///
/// The body is the content, of any media type (its `Content-Type` is stored and served back;
/// none is `application/octet-stream`), sent uncompressed, up to `--max-artifact-bytes`
/// (default 8 MiB). New key: 201. Other content: 200, replaced (`version` + 1). The same
/// digest and content type as stored: 200 with `Idempotent-Replayed: true`, nothing written.
/// Concurrent PUTs of one key never fail: the last one wins.
#[utoipa::path(
    operation_id = "put_project_artifact",
    tag = "artifacts",
    params(ProjectArtifactPath, IterationParams),
    request_body(description = "The content, of any media type", content(("*/*"))),
    responses(
        Written,
        (status = 404, response = r::NotFound),
        (status = 409, response = r::Conflict),
        AuthenticatedErrors, BodyErrors,
    ),
)]
#[put("/projects/{project_id}/artifacts/{kind}")]
pub async fn put_project(
    tenant: Tenant,
    pool: web::Data<Pool>,
    limits: web::Data<Limits>,
    path: web::Path<ProjectArtifactPath>,
    query: web::Query<IterationParams>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let (project_id, key) = path.into_inner().key(query.into_inner())?;
    write(&tenant, &pool, &limits, project_id, key, &req, payload).await
}

/// Create or replace an artifact of a task (see `PUT /projects/{project_id}/artifacts/{kind}`).
#[utoipa::path(
    operation_id = "put_task_artifact",
    tag = "artifacts",
    params(TaskArtifactPath, IterationParams),
    request_body(description = "The content, of any media type", content(("*/*"))),
    responses(
        Written,
        (status = 404, response = r::NotFound),
        (status = 409, response = r::Conflict),
        AuthenticatedErrors, BodyErrors,
    ),
)]
#[put("/projects/{project_id}/tasks/{task_id}/artifacts/{kind}")]
pub async fn put_task(
    tenant: Tenant,
    pool: web::Data<Pool>,
    limits: web::Data<Limits>,
    path: web::Path<TaskArtifactPath>,
    query: web::Query<IterationParams>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let (project_id, key) = path.into_inner().key(query.into_inner())?;
    write(&tenant, &pool, &limits, project_id, key, &req, payload).await
}

async fn write(
    tenant: &Tenant,
    pool: &Pool,
    limits: &Limits,
    project_id: i64,
    key: ArtifactKey,
    req: &HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let content_type = match req.headers().get(header::CONTENT_TYPE) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| ApiError::field("/header/Content-Type", "must be a media type"))?,
        ),
    };
    let bytes = read_body(req, payload, limits.max_artifact_bytes).await?;
    let content = ArtifactContent::new(content_type, bytes)
        .map_err(|detail| ApiError::field("/header/Content-Type", detail))?;
    let written = storage::artifacts::put(pool, tenant.id, project_id, &key, &content)
        .await?
        .map_err(missing)?;
    let (mut response, artifact) = match written {
        Put::Created(artifact) => {
            let mut response = HttpResponse::Created();
            let location = format!("/projects/{project_id}{}", key.path());
            response.insert_header((header::LOCATION, location));
            (response, artifact)
        }
        Put::Replaced(artifact) => (HttpResponse::Ok(), artifact),
        Put::Unchanged(artifact) => {
            let mut response = HttpResponse::Ok();
            response.insert_header((REPLAYED, "true"));
            (response, artifact)
        }
    };
    Ok(response
        .insert_header((header::ETAG, artifact.etag()))
        .json(artifact))
}

/// The raw body, up to `limit` bytes: never more is read or held (413 beyond). The app-wide
/// `--max-body-bytes` applies to JSON bodies only.
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> ApiResult<Vec<u8>> {
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "the artifact exceeds the configured limit of {limit} bytes"
        ))
    };
    let encoding = req.headers().get(header::CONTENT_ENCODING);
    if encoding.is_some_and(|e| !e.as_bytes().eq_ignore_ascii_case(b"identity")) {
        return Err(ApiError::UnsupportedMediaType(
            "send the artifact uncompressed (no Content-Encoding)".into(),
        ));
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| {
            ApiError::Malformed(format!("the request body could not be read: {error}"))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
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
    if let Some(response) =
        not_modified_project(pool, tenant.id, project_id, req, if_none_match).await?
    {
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
    Ok(tagged(
        &data_etag(version, req),
        &ArtifactPage { data, next_cursor },
    ))
}

/// Get the content of an artifact of the project, as stored, with its `Content-Type`.
///
/// The `ETag` is the content's SHA-256: `If-None-Match` with it answers 304.
#[utoipa::path(
    operation_id = "get_project_artifact",
    tag = "artifacts",
    params(ProjectArtifactPath, IterationParams, IfNoneMatch),
    responses(
        Content,
        (status = 404, response = r::NotFound),
        AuthenticatedErrors, NotModified,
    ),
)]
#[get("/projects/{project_id}/artifacts/{kind}")]
pub async fn get_project(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<ProjectArtifactPath>,
    query: web::Query<IterationParams>,
    if_none_match: IfNoneMatch,
) -> ApiResult<HttpResponse> {
    let (project_id, key) = path.into_inner().key(query.into_inner())?;
    read(&tenant, &pool, project_id, &key, &if_none_match).await
}

/// Get the content of an artifact of a task (see `GET /projects/{project_id}/artifacts/{kind}`).
#[utoipa::path(
    operation_id = "get_task_artifact",
    tag = "artifacts",
    params(TaskArtifactPath, IterationParams, IfNoneMatch),
    responses(
        Content,
        (status = 404, response = r::NotFound),
        AuthenticatedErrors, NotModified,
    ),
)]
#[get("/projects/{project_id}/tasks/{task_id}/artifacts/{kind}")]
pub async fn get_task(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<TaskArtifactPath>,
    query: web::Query<IterationParams>,
    if_none_match: IfNoneMatch,
) -> ApiResult<HttpResponse> {
    let (project_id, key) = path.into_inner().key(query.into_inner())?;
    read(&tenant, &pool, project_id, &key, &if_none_match).await
}

/// A client holding a tag is answered from the metadata (the content is not read for a 304).
async fn read(
    tenant: &Tenant,
    pool: &Pool,
    project_id: i64,
    key: &ArtifactKey,
    if_none_match: &IfNoneMatch,
) -> ApiResult<HttpResponse> {
    if if_none_match.is_present() {
        let artifact = storage::artifacts::get(pool, tenant.id, project_id, key).await?;
        let etag = artifact.map_err(missing)?.etag();
        if let Some(response) = not_modified(if_none_match, &etag) {
            return Ok(response);
        }
    }
    let (artifact, content) = storage::artifacts::content(pool, tenant.id, project_id, key)
        .await?
        .map_err(missing)?;
    let content_type = HeaderValue::from_str(&artifact.content_type)
        .map_err(|error| anyhow::anyhow!("stored content type: {error}"))?;
    let mut response = tagged_bytes(&artifact.etag(), content);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_POLICY),
    );
    Ok(response)
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
