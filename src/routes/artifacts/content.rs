//! GET of an artifact's content, tagged with its digest.

use super::*;

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
