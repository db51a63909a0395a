//! PUT of an artifact: the body streamed against the size limit, then one upsert.

use super::*;

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
