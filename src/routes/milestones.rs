use crate::pool::Pool;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::conditional::{
    data_etag, not_modified_project, not_modified_within_project, tagged, tagged_unless_held,
};
use super::responses::{self as r, AuthenticatedErrors, BodyErrors, NotModified};
use super::{MilestonePath, PageParams, ProjectPath};
use crate::auth::Tenant;
use crate::domain::{Milestone, MilestoneInput, MilestonePatch, Validate};
use crate::error::{ApiError, ApiResult};
use crate::extract::{IfNoneMatch, Json};
use crate::pagination::{Cursor, PageRequest, wrong_cursor};
use crate::routes::idempotency::{self, IdempotencyKeyHeader, IdempotentJson};
use crate::storage;

#[derive(Serialize, ToSchema)]
pub struct MilestonePage {
    pub data: Vec<Milestone>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Create a milestone in a project.
#[utoipa::path(
    operation_id = "create_milestone",
    tag = "milestones",
    params(ProjectPath, IdempotencyKeyHeader),
    request_body = MilestoneInput,
    responses(
        (status = 201, description = "Created", body = Milestone,
         headers(("Location" = String, description = "URL of the new milestone"))),
        (status = 404, response = r::NotFound),
        (status = 409, response = r::Conflict),
        (status = 422, response = r::IdempotencyKeyReused),
        AuthenticatedErrors, BodyErrors,
    ),
)]
#[post("/projects/{project_id}/milestones")]
pub async fn create(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<ProjectPath>,
    input: IdempotentJson<MilestoneInput>,
) -> ApiResult<HttpResponse> {
    let milestone = input.body.validate()?;
    let (tenant_id, project_id) = (tenant.id, path.project_id);
    idempotency::respond(
        &pool,
        tenant_id,
        input.key,
        &milestone,
        move |connection, milestone| {
            Box::pin(async move {
                let milestone =
                    storage::milestones::create(connection, tenant_id, project_id, milestone)
                        .await?
                        .ok_or(ApiError::NotFound("project"))?;
                let location = format!(
                    "/projects/{}/milestones/{}",
                    milestone.project_id, milestone.id
                );
                Ok(HttpResponse::Created()
                    .insert_header(("Location", location))
                    .json(milestone))
            })
        },
    )
    .await
}

/// List a project's milestones, oldest first.
#[utoipa::path(
    operation_id = "list_milestones",
    tag = "milestones",
    params(ProjectPath, PageParams, IfNoneMatch),
    responses(
        (status = 200, description = "One page of milestones", body = MilestonePage,
         headers(("ETag" = String, description = "For `If-None-Match`"))),
        (status = 404, response = r::NotFound),
        AuthenticatedErrors, NotModified,
    ),
)]
#[get("/projects/{project_id}/milestones")]
pub async fn list(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<ProjectPath>,
    page: web::Query<PageParams>,
    req: HttpRequest,
    if_none_match: IfNoneMatch,
) -> ApiResult<HttpResponse> {
    let page = PageRequest::parse(page.limit, page.cursor.as_deref())?;
    let after_id = match &page.after {
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
        storage::milestones::list(&pool, tenant.id, project_id, after_id, page.limit)
            .await?
            .ok_or(ApiError::NotFound("project"))?;
    let next_cursor = page.finish(&mut data, |m| Cursor::Id { id: m.id });
    Ok(tagged(
        &data_etag(version, &req),
        &MilestonePage { data, next_cursor },
    ))
}

/// Get a milestone with its task counts.
#[utoipa::path(
    operation_id = "get_milestone",
    tag = "milestones",
    params(MilestonePath, IfNoneMatch),
    responses(
        (status = 200, description = "The milestone", body = Milestone,
         headers(("ETag" = String, description = "For `If-None-Match`"))),
        (status = 404, response = r::NotFound),
        AuthenticatedErrors, NotModified,
    ),
)]
#[get("/projects/{project_id}/milestones/{milestone_id}")]
pub async fn get(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<MilestonePath>,
    req: HttpRequest,
    if_none_match: IfNoneMatch,
) -> ApiResult<HttpResponse> {
    let (project_id, id) = (path.project_id, path.milestone_id);
    if let Some(response) =
        not_modified_within_project(&pool, tenant.id, project_id, &req, &if_none_match).await?
    {
        return Ok(response);
    }
    let (milestone, version) = storage::milestones::get(&pool, tenant.id, project_id, id)
        .await?
        .ok_or(ApiError::NotFound("milestone"))?;
    let etag = data_etag(version, &req);
    Ok(tagged_unless_held(&if_none_match, &etag, &milestone))
}

/// Change a milestone's name, slug, status or description.
#[utoipa::path(
    operation_id = "update_milestone",
    tag = "milestones",
    params(MilestonePath),
    request_body = MilestonePatch,
    responses(
        (status = 200, description = "The updated milestone", body = Milestone),
        (status = 404, response = r::NotFound),
        (status = 409, response = r::Conflict),
        AuthenticatedErrors, BodyErrors,
    ),
)]
#[patch("/projects/{project_id}/milestones/{milestone_id}")]
pub async fn update(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<MilestonePath>,
    Json(patch): Json<MilestonePatch>,
) -> ApiResult<HttpResponse> {
    let changes = patch.validate()?;
    let (project_id, id) = (path.project_id, path.milestone_id);
    let milestone = storage::milestones::update(&pool, tenant.id, project_id, id, &changes)
        .await?
        .ok_or(ApiError::NotFound("milestone"))?;
    Ok(HttpResponse::Ok().json(milestone))
}

/// Delete a milestone; its tasks stay, with `milestone_id` cleared.
#[utoipa::path(
    operation_id = "delete_milestone",
    tag = "milestones",
    params(MilestonePath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, response = r::NotFound),
        AuthenticatedErrors,
    ),
)]
#[delete("/projects/{project_id}/milestones/{milestone_id}")]
pub async fn delete(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<MilestonePath>,
) -> ApiResult<HttpResponse> {
    let (project_id, id) = (path.project_id, path.milestone_id);
    if storage::milestones::delete(&pool, tenant.id, project_id, id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("milestone"))
    }
}
