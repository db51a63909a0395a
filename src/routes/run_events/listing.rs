//! Reading a run's timeline.

use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Tenant;
use crate::domain::{RunEvent, ShortText};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::extract::IfNoneMatch;
use crate::pagination::PageRequest;
use crate::pool::Pool;
use crate::routes::conditional::{body_etag, not_modified, tagged_bytes};
use crate::routes::responses::{self as r, AuthenticatedErrors, NotModified};
use crate::routes::runs::RunPath;
use crate::storage;
use crate::storage::run_events::EventFilter;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventListParams {
    /// Events after this sequence (the last one read); default: from the first.
    #[param(minimum = 0)]
    pub after_sequence: Option<i64>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Exact event_type.
    #[param(schema_with = crate::domain::name_schema)]
    pub event_type: Option<String>,
    /// Exact step_name.
    #[param(schema_with = crate::domain::name_schema)]
    pub step_name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RunEventPage {
    pub data: Vec<RunEvent>,
    /// Pass as `after_sequence` (with the same filters) for the next page; null on the last.
    pub next_after_sequence: Option<i64>,
}

/// A run's timeline: its events in sequence order, page by page.
///
/// Tagged by content: `If-None-Match` with the `ETag` of an earlier answer is a 304 while the
/// page is the same (a poller of the timeline's end gets 304s until events arrive).
#[utoipa::path(
    operation_id = "list_run_events",
    tag = "runs",
    params(RunPath, EventListParams, IfNoneMatch),
    responses(
        (status = 200, description = "One page of events", body = RunEventPage,
         headers(("ETag" = String, description = "For `If-None-Match`"))),
        (status = 404, response = r::NotFound),
        AuthenticatedErrors, NotModified,
    ),
)]
#[get("/projects/{project_id}/runs/{run_id}/events")]
pub async fn list(
    tenant: Tenant,
    pool: web::Data<Pool>,
    path: web::Path<RunPath>,
    web::Query(params): web::Query<EventListParams>,
    if_none_match: IfNoneMatch,
) -> ApiResult<HttpResponse> {
    let page = PageRequest::parse(params.limit, None)?;
    let mut errors = Vec::new();
    if params.after_sequence.is_some_and(|s| s < 0) {
        errors.push(FieldError::new(
            "/query/after_sequence",
            "must be at least 0",
        ));
    }
    let mut text = |name: &str, value: Option<String>| {
        let checked = value.map(ShortText::parse).transpose();
        checked.unwrap_or_else(|detail| {
            errors.push(FieldError::new(format!("/query/{name}"), detail));
            None
        })
    };
    let event_type = text("event_type", params.event_type);
    let step_name = text("step_name", params.step_name);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let filter = EventFilter {
        after_sequence: params.after_sequence,
        event_type: event_type.map(|t| t.as_str().to_owned()),
        step_name: step_name.map(|s| s.as_str().to_owned()),
    };
    let mut data = storage::run_events::list(
        &pool,
        tenant.id,
        path.project_id,
        path.run_id,
        &filter,
        page.limit + 1,
    )
    .await?
    .ok_or(ApiError::NotFound("run"))?;
    let more = data.len() as i64 > page.limit;
    data.truncate(page.limit as usize);
    let next_after_sequence = more.then(|| data.last().map(|e| e.sequence)).flatten();
    let body = serde_json::to_vec(&RunEventPage {
        data,
        next_after_sequence,
    })
    .map_err(|error| ApiError::Internal(error.into()))?;
    let etag = body_etag(&body);
    Ok(not_modified(&if_none_match, &etag).unwrap_or_else(|| tagged_bytes(&etag, body)))
}
