use crate::pool::Pool;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::conditional::{
    body_etag, data_etag, not_modified, not_modified_project, tagged, tagged_bytes,
};
use super::responses::{self as r, AuthenticatedErrors, BodyErrors, NotModified};
use super::{PageParams, ProjectPath};
use crate::auth::Tenant;
use crate::domain::{Project, ProjectInput, ProjectPatch, Validate};
use crate::error::{ApiError, ApiResult};
use crate::extract::{IfNoneMatch, Json};
use crate::pagination::{Cursor, PageRequest, wrong_cursor};
use crate::routes::idempotency::{self, IdempotencyKeyHeader, IdempotentJson};
use crate::storage;

#[derive(Serialize, ToSchema)]
pub struct ProjectPage {
    pub data: Vec<Project>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Create a project.
#[utoipa::path(
    operation_id = "create_project",
    tag = "projects",
    params(IdempotencyKeyHeader),
    request_body = ProjectInput,
    responses(
        (status = 201, description = "Created", body = Project,
         headers(("Location" = String, description = "URL of the new project"))),
        (status = 409, response = r::Conflict),
        (status = 422, response = r::IdempotencyKeyReused),
        AuthenticatedErrors, BodyErrors,
    ),
)]
#[post("/projects")]
pub async fn create(
    tenant: Tenant,
    pool: web::Data<Pool>,
    input: IdempotentJson<ProjectInput>,
) -> ApiResult<HttpResponse> {
    let project = input.body.validate()?;
    let tenant_id = tenant.id;
    idempotency::respond(
        &pool,
        tenant_id,
        input.key,
        &project,
        move |connection, project| {
            Box::pin(async move {
                let project = storage::projects::create(connection, tenant_id, project).await?;
                Ok(HttpResponse::Created()
                    .insert_header(("Location", format!("/projects/{}", project.id)))
                    .json(project))
            })
        },
    )
    .await
}

/// List the tenant's projects, oldest first.
#[utoipa::path(
    operation_id = "list_projects",
    tag = "projects",
    params(PageParams, IfNoneMatch),
    responses(
        (status = 200, description = "One page of projects", body = ProjectPage,
         headers(("ETag" = String, description = "For `If-None-Match`"))),
        AuthenticatedErrors, NotModified,
    ),
)]
#[get("/projects")]
pub async fn list(
    tenant: Tenant,
    pool: web::Data<Pool>,
    page: web::Query<PageParams>,
    if_none_match: IfNoneMatch,
) -> ApiResult<HttpResponse> {
    let page = PageRequest::parse(page.limit, page.cursor.as_deref())?;
    let after_id = match &page.after {
        None => None,
        Some(Cursor::Id { id }) => Some(*id),
        Some(_) => return Err(wrong_cursor()),
    };
    let mut data = storage::projects::list(&pool, tenant.id, after_id, page.limit).await?;
    let next_cursor = page.finish(&mut data, |p| Cursor::Id { id: p.id });
    // A tenant's projects have no version to go by: the tag is the answer's own hash.
    let body =
        serde_json::to_vec(&ProjectPage { data, next_cursor }).map_err(anyhow::Error::from)?;
    let etag = body_etag(&body);
    if let Some(response) = not_modified(&if_none_match, &etag) {
        return Ok(response);
    }
    Ok(tagged_bytes(&etag, body))
}

/// Get a project.
#[utoipa::path(
    operation_id = "get_project",
    tag = "projects",
    params(ProjectPath, IfNoneMatch),
    responses(
        (status = 200, description = "The project", body = Project,
         headers(("ETag" = String, description = "For `If-None-Match`"))),
        (status = 404, response = r::NotFound),
        AuthenticatedErrors, NotModified,
    ),
)]
#[get("/projects/{project_id}")]
pub async fn get(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<ProjectPath>,
    req: HttpRequest,
    if_none_match: IfNoneMatch,
) -> ApiResult<HttpResponse> {
    if let Some(response) =
        not_modified_project(&pool, tenant.id, path.project_id, &req, &if_none_match).await?
    {
        return Ok(response);
    }
    let (project, version) = storage::projects::get(&pool, tenant.id, path.project_id)
        .await?
        .ok_or(ApiError::NotFound("project"))?;
    Ok(tagged(&data_etag(version, &req), &project))
}

/// Change a project's name, slug or description.
#[utoipa::path(
    operation_id = "update_project",
    tag = "projects",
    params(ProjectPath),
    request_body = ProjectPatch,
    responses(
        (status = 200, description = "The updated project", body = Project),
        (status = 404, response = r::NotFound),
        (status = 409, response = r::Conflict),
        AuthenticatedErrors, BodyErrors,
    ),
)]
#[patch("/projects/{project_id}")]
pub async fn update(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<ProjectPath>,
    Json(patch): Json<ProjectPatch>,
) -> ApiResult<HttpResponse> {
    let changes = patch.validate()?;
    let project = storage::projects::update(&pool, tenant.id, path.project_id, &changes)
        .await?
        .ok_or(ApiError::NotFound("project"))?;
    Ok(HttpResponse::Ok().json(project))
}

/// Delete a project with all its milestones and tasks.
#[utoipa::path(
    operation_id = "delete_project",
    tag = "projects",
    params(ProjectPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, response = r::NotFound),
        AuthenticatedErrors,
    ),
)]
#[delete("/projects/{project_id}")]
pub async fn delete(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<ProjectPath>,
) -> ApiResult<HttpResponse> {
    if storage::projects::delete(&pool, tenant.id, path.project_id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("project"))
    }
}
