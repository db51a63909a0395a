//! The change log, page by page: for catching up and for clients that poll.

use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ProjectPath;
use super::responses::{self as r, AuthenticatedErrors};
use crate::auth::Tenant;
use crate::domain::{Change, Position, Validate, Validator};
use crate::error::{ApiError, ApiResult};
use crate::pool::Pool;
use crate::storage::changes::{self, Read, Scope};

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;
const _: () = assert!(MAX_LIMIT <= crate::storage::MAX_PAGE_ROWS);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesParams {
    /// A `next_cursor`, or a change's `id`: the changes after it. Without it: from the oldest
    /// change kept (`--changes-retention`).
    #[param(pattern = "^[0-9]{1,18}-[0-9]{1,18}$")]
    pub after: Option<String>,
    /// Changes per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// A validated [`ChangesParams`].
pub struct ChangesRequest {
    pub after: Option<Position>,
    pub limit: i64,
}

impl Validate for ChangesParams {
    type Valid = ChangesRequest;
    const POINTER: &'static str = "/query";

    fn validate_into(self, v: &mut Validator) -> Option<ChangesRequest> {
        let after = v.check_optional("after", self.after, |raw| raw.parse());
        let limit = v.check("limit", {
            let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
            if (1..=MAX_LIMIT).contains(&limit) {
                Ok(limit)
            } else {
                Err(format!("must be between 1 and {MAX_LIMIT}"))
            }
        });
        Some(ChangesRequest {
            after: after?,
            limit: limit?,
        })
    }
}

/// One page of the change feed.
#[derive(Serialize, ToSchema)]
pub struct ChangePage {
    /// Changes in the order they committed (exactly once each across pages).
    pub data: Vec<Change>,
    /// Where to read on from: always present; poll with it to get later changes.
    pub next_cursor: String,
}

/// The changes of all the tenant's projects after a cursor, oldest first.
///
/// Every write of a project, milestone or task appends one change per row written, in the same
/// transaction; pages hand them out in commit order, and a cursor never skips a change that
/// commits later. Poll with `next_cursor`, or follow `/events` live.
#[utoipa::path(
    operation_id = "list_changes",
    tag = "changes",
    params(ChangesParams),
    responses(
        (status = 200, description = "A page of changes", body = ChangePage),
        (status = 400, response = r::BadRequest),
        (status = 410, response = r::CursorExpired),
        AuthenticatedErrors,
    ),
)]
#[get("/changes")]
pub async fn list(
    tenant: Tenant,
    pool: web::Data<Pool>,
    params: web::Query<ChangesParams>,
) -> ApiResult<HttpResponse> {
    page(&pool, Scope::Tenant(tenant.id), params.into_inner()).await
}

/// One project's changes after a cursor, oldest first (see `GET /changes`).
///
/// A deleted project's changes (its `project.deleted` last) stay readable while they are kept.
#[utoipa::path(
    operation_id = "list_project_changes",
    tag = "changes",
    params(ProjectPath, ChangesParams),
    responses(
        (status = 200, description = "A page of changes", body = ChangePage),
        (status = 400, response = r::BadRequest),
        (status = 404, response = r::NotFound),
        (status = 410, response = r::CursorExpired),
        AuthenticatedErrors,
    ),
)]
#[get("/projects/{project_id}/changes")]
pub async fn list_for_project(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<ProjectPath>,
    params: web::Query<ChangesParams>,
) -> ApiResult<HttpResponse> {
    let scope = Scope::Project {
        tenant_id: tenant.id,
        project_id: path.project_id,
    };
    page(&pool, scope, params.into_inner()).await
}

async fn page(pool: &Pool, scope: Scope, params: ChangesParams) -> ApiResult<HttpResponse> {
    let request = params.validate()?;
    match changes::read(pool, scope, request.after, request.limit).await? {
        Read::Page { changes, next, .. } => Ok(HttpResponse::Ok().json(ChangePage {
            data: changes.into_iter().map(|logged| logged.change).collect(),
            next_cursor: next.to_string(),
        })),
        Read::Expired { head } => Err(ApiError::CursorExpired {
            cursor: head.to_string(),
        }),
        Read::NoProject => Err(ApiError::NotFound("project")),
    }
}
