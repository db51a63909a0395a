//! A project's repositories: idempotent creation by normalised URL, list, get, patch, delete.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::conditional::{
    data_etag, not_modified_project, not_modified_within_project, tagged, tagged_unless_held,
};
use super::responses::{self as r, AuthenticatedErrors, BodyErrors, NotModified};
use super::{PageParams, ProjectPath, REPLAYED};
use crate::auth::Tenant;
use crate::domain::{Repository, RepositoryInput, RepositoryPatch, Validate};
use crate::error::{ApiError, ApiResult};
use crate::extract::{IfNoneMatch, Json};
use crate::pagination::{Cursor, PageRequest, wrong_cursor};
use crate::pool::Pool;
use crate::routes::idempotency::{self, IdempotencyKeyHeader, IdempotentJson};
use crate::storage;
use crate::storage::repositories::{Created, Refusal};

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
pub struct RepositoryPath {
    #[param(minimum = 1)]
    pub project_id: i64,
    /// Repository id.
    #[param(minimum = 1)]
    pub repository_id: i64,
}

#[derive(Serialize, ToSchema)]
pub struct RepositoryPage {
    pub data: Vec<Repository>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::ProjectNotFound => ApiError::NotFound("project"),
        Refusal::RepositoryNotFound => ApiError::NotFound("repository"),
        Refusal::UrlTaken => {
            ApiError::Conflict("another repository of the project has this URL".into())
        }
        Refusal::Contended => {
            ApiError::Conflict("the repository kept disappearing while being created; retry".into())
        }
    }
}

/// Add a repository to a project, idempotently by its normalised URL.
///
/// New: 201 with the repository. When the project already holds this repository under any
/// spelling of its URL (`https://host/org/repo`, `…/repo.git`, a trailing slash, scp-style
/// `git@host:org/repo.git`, the host in any case): 200 with the stored repository *unchanged*
/// and `Idempotent-Replayed: true`. Concurrent requests for one repository create one.
#[utoipa::path(
    operation_id = "create_repository",
    tag = "repositories",
    params(ProjectPath, IdempotencyKeyHeader),
    request_body = RepositoryInput,
    responses(
        (status = 201, description = "Created", body = Repository,
         headers(("Location" = String, description = "URL of the new repository"))),
        (status = 200, description = "The project already holds this repository: it, unchanged",
         body = Repository, headers(("Idempotent-Replayed" = String, description = "`true`"))),
        (status = 404, response = r::NotFound),
        (status = 409, response = r::Conflict),
        (status = 422, response = r::IdempotencyKeyReused),
        AuthenticatedErrors, BodyErrors,
    ),
)]
#[post("/projects/{project_id}/repositories")]
pub async fn create(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<ProjectPath>,
    input: IdempotentJson<RepositoryInput>,
) -> ApiResult<HttpResponse> {
    let repository = input.body.validate()?;
    let (tenant_id, project_id) = (tenant.id, path.project_id);
    idempotency::respond(
        &pool,
        tenant_id,
        input.key,
        &repository,
        move |connection, repository| {
            Box::pin(async move {
                let created =
                    storage::repositories::create(connection, tenant_id, project_id, repository)
                        .await?
                        .map_err(refused)?;
                Ok(created_answer(created))
            })
        },
    )
    .await
}

fn created_answer(created: Created) -> HttpResponse {
    match created {
        Created::New(repository) => {
            let location = format!(
                "/projects/{}/repositories/{}",
                repository.project_id, repository.id
            );
            HttpResponse::Created()
                .insert_header((header::LOCATION, location))
                .json(repository)
        }
        Created::Existing(repository) => HttpResponse::Ok()
            .insert_header((REPLAYED, "true"))
            .json(repository),
    }
}

/// List a project's repositories, oldest first.
#[utoipa::path(
    operation_id = "list_repositories",
    tag = "repositories",
    params(ProjectPath, PageParams, IfNoneMatch),
    responses(
        (status = 200, description = "One page of repositories", body = RepositoryPage,
         headers(("ETag" = String, description = "For `If-None-Match`"))),
        (status = 404, response = r::NotFound),
        AuthenticatedErrors, NotModified,
    ),
)]
#[get("/projects/{project_id}/repositories")]
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
        storage::repositories::list(&pool, tenant.id, project_id, after_id, page.limit)
            .await?
            .ok_or(ApiError::NotFound("project"))?;
    let next_cursor = page.finish(&mut data, |r| Cursor::Id { id: r.id });
    Ok(tagged(
        &data_etag(version, &req),
        &RepositoryPage { data, next_cursor },
    ))
}

/// Get a repository.
#[utoipa::path(
    operation_id = "get_repository",
    tag = "repositories",
    params(RepositoryPath, IfNoneMatch),
    responses(
        (status = 200, description = "The repository", body = Repository,
         headers(("ETag" = String, description = "For `If-None-Match`"))),
        (status = 404, response = r::NotFound),
        AuthenticatedErrors, NotModified,
    ),
)]
#[get("/projects/{project_id}/repositories/{repository_id}")]
pub async fn get(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<RepositoryPath>,
    req: HttpRequest,
    if_none_match: IfNoneMatch,
) -> ApiResult<HttpResponse> {
    let (project_id, id) = (path.project_id, path.repository_id);
    if let Some(response) =
        not_modified_within_project(&pool, tenant.id, project_id, &req, &if_none_match).await?
    {
        return Ok(response);
    }
    let (repository, version) = storage::repositories::get(&pool, tenant.id, project_id, id)
        .await?
        .ok_or(ApiError::NotFound("repository"))?;
    let etag = data_etag(version, &req);
    Ok(tagged_unless_held(&if_none_match, &etag, &repository))
}

/// Change a repository's `url` or `default_branch`.
///
/// A `url` that names another repository of the project (under any spelling) is refused with
/// 409 `conflict`; another spelling of its own URL just replaces the spelling.
#[utoipa::path(
    operation_id = "update_repository",
    tag = "repositories",
    params(RepositoryPath),
    request_body = RepositoryPatch,
    responses(
        (status = 200, description = "The updated repository", body = Repository),
        (status = 404, response = r::NotFound),
        (status = 409, response = r::Conflict),
        AuthenticatedErrors, BodyErrors,
    ),
)]
#[patch("/projects/{project_id}/repositories/{repository_id}")]
pub async fn update(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<RepositoryPath>,
    Json(patch): Json<RepositoryPatch>,
) -> ApiResult<HttpResponse> {
    let changes = patch.validate()?;
    let (project_id, id) = (path.project_id, path.repository_id);
    let repository = storage::repositories::update(&pool, tenant.id, project_id, id, &changes)
        .await?
        .map_err(refused)?;
    Ok(HttpResponse::Ok().json(repository))
}

/// Remove a repository from a project.
#[utoipa::path(
    operation_id = "delete_repository",
    tag = "repositories",
    params(RepositoryPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, response = r::NotFound),
        AuthenticatedErrors,
    ),
)]
#[delete("/projects/{project_id}/repositories/{repository_id}")]
pub async fn delete(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<RepositoryPath>,
) -> ApiResult<HttpResponse> {
    let (project_id, id) = (path.project_id, path.repository_id);
    if storage::repositories::delete(&pool, tenant.id, project_id, id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("repository"))
    }
}
