use actix_web::{HttpRequest, HttpResponse, get, web};

use super::ProjectPath;
use super::conditional::{data_etag, not_modified_project, tagged};
use super::responses::{self as r, AuthenticatedErrors, NotModified};
use crate::auth::Tenant;
use crate::domain::ProjectSummary;
use crate::error::{ApiError, ApiResult};
use crate::extract::IfNoneMatch;
use crate::pool::Pool;
use crate::storage;

/// A dashboard's first screen in one call: task counts by status, per milestone, blocked
/// tasks, the oldest open task, the last activity, and workflow runs by status.
///
/// Read from counters maintained with every write: it costs the same at 100 and at 10 million
/// tasks. Poll it with `If-None-Match`: while nothing changed the answer is a 304.
#[utoipa::path(
    operation_id = "get_project_summary",
    tag = "projects",
    params(ProjectPath, IfNoneMatch),
    responses(
        (status = 200, description = "The summary", body = ProjectSummary,
         headers(("ETag" = String, description = "For `If-None-Match`"))),
        (status = 404, response = r::NotFound),
        AuthenticatedErrors, NotModified,
    ),
)]
#[get("/projects/{project_id}/summary")]
pub async fn get(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<ProjectPath>,
    req: HttpRequest,
    if_none_match: IfNoneMatch,
) -> ApiResult<HttpResponse> {
    // A client that holds a tag is answered from the version alone when it is current; the
    // summary itself reads the version in its own statement (one round trip without a tag).
    if let Some(response) =
        not_modified_project(&pool, tenant.id, path.project_id, &req, &if_none_match).await?
    {
        return Ok(response);
    }
    let (summary, version) = storage::summary::get(&pool, tenant.id, path.project_id)
        .await?
        .ok_or(ApiError::NotFound("project"))?;
    Ok(tagged(&data_etag(version, &req), &summary))
}
