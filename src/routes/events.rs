//! The live change feed as Server-Sent Events, and the stream tokens browsers open it with.

use std::convert::Infallible;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, Responder, get, post, web};
use actix_web_lab::sse;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ProjectPath;
use super::responses::{self as r, AuthenticatedErrors, BodyErrors};
use crate::auth::{StreamReader, Tenant, generate_stream_token};
use crate::domain::{JsonInteger, Position, parse_id};
use crate::error::{ApiError, ApiResult};
use crate::feed::{Feed, FeedEvent, follow};
use crate::pool::Pool;
use crate::routes::idempotency::{self, IdempotencyKeyHeader, IdempotentJson};
use crate::storage::{self, changes::Scope};

/// How long a stream token may be used to open a stream.
const TOKEN_TTL: Duration = Duration::from_secs(60);
/// How soon a browser reconnects after a stream ends (the `retry:` field).
const RETRY: Duration = Duration::from_secs(1);

const EVENT_STREAM_DESCRIPTION: &str = "`text/event-stream`: one event per change, in commit \
order: `id:` the change's cursor, `event:` its type (`task.created`, …), `data:` the change as \
JSON (as in `GET /changes`). A comment line (`: keep-alive`) comes every `--events-heartbeat` \
(15 s); `retry:` asks browsers to reconnect after 1 s. If the cursor is older than the kept \
changes, one `event: reset` (data `{\"cursor\": …}`) comes first: reload, the stream goes on \
from there. The stream ends when this replica shuts down or the client falls too far behind; \
reconnect with `Last-Event-ID` (browsers do) and nothing is lost.";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsParams {
    /// Start after this cursor (a change's `id` or a `next_cursor`). The `Last-Event-ID`
    /// header, which browsers send when they reconnect, takes precedence. Neither: from now.
    #[param(pattern = "^[0-9]{1,18}-[0-9]{1,18}$")]
    pub after: Option<String>,
    /// A stream token (`POST /stream-tokens`), for clients that cannot send `Authorization`
    /// (`EventSource`). API keys are never accepted here.
    #[param(pattern = "^tds_[0-9a-f]{64}$")]
    #[allow(dead_code)] // Read by the `StreamReader` extractor; declared here for the spec.
    pub token: Option<String>,
}

/// Follows every change of the tenant's projects, live.
#[utoipa::path(
    operation_id = "follow_changes",
    tag = "changes",
    params(EventsParams),
    responses(
        (status = 200, description = EVENT_STREAM_DESCRIPTION, content_type = "text/event-stream", body = String),
        (status = 400, response = r::BadRequest),
        AuthenticatedErrors,
    ),
)]
#[get("/events")]
pub async fn follow_all(
    reader: StreamReader,
    pool: web::Data<Pool>,
    feed: web::Data<Feed>,
    params: web::Query<EventsParams>,
    req: HttpRequest,
) -> ApiResult<impl Responder> {
    if reader.project_id.is_some() {
        // A token for one project opens only that project's stream.
        return Err(ApiError::Unauthorized);
    }
    let scope = Scope::Tenant(reader.tenant_id);
    open(&pool, &feed, scope, params.into_inner(), &req).await
}

/// Follows one project's changes, live.
///
/// A deleted project's stream can still be resumed (up to its `project.deleted` and the
/// deletes of its milestones and tasks) while its changes are kept.
#[utoipa::path(
    operation_id = "follow_project_changes",
    tag = "changes",
    params(ProjectPath, EventsParams),
    responses(
        (status = 200, description = EVENT_STREAM_DESCRIPTION, content_type = "text/event-stream", body = String),
        (status = 400, response = r::BadRequest),
        (status = 404, response = r::NotFound),
        AuthenticatedErrors,
    ),
)]
#[get("/projects/{project_id}/events")]
pub async fn follow_project(
    reader: StreamReader,
    pool: web::Data<Pool>,
    feed: web::Data<Feed>,
    path: web::Path<ProjectPath>,
    params: web::Query<EventsParams>,
    req: HttpRequest,
) -> ApiResult<impl Responder> {
    if reader.project_id.is_some_and(|id| id != path.project_id) {
        return Err(ApiError::Unauthorized);
    }
    if !storage::changes::project_known(&pool, reader.tenant_id, path.project_id).await? {
        return Err(ApiError::NotFound("project"));
    }
    let scope = Scope::Project {
        tenant_id: reader.tenant_id,
        project_id: path.project_id,
    };
    open(&pool, &feed, scope, params.into_inner(), &req).await
}

async fn open(
    pool: &Pool,
    feed: &Feed,
    scope: Scope,
    params: EventsParams,
    req: &HttpRequest,
) -> ApiResult<impl Responder + use<>> {
    let last_event_id = req.headers().get("last-event-id").map(|value| {
        value
            .to_str()
            .map_err(|_| ())
            .and_then(|s| s.parse().map_err(|_| ()))
    });
    let after = match (last_event_id, params.after) {
        (Some(Ok(position)), _) => position,
        (Some(Err(())), _) => {
            return Err(ApiError::field(
                "/header/Last-Event-ID",
                "is not a change cursor (an event id)",
            ));
        }
        (None, Some(after)) => after
            .parse::<Position>()
            .map_err(|detail| ApiError::field("/query/after", detail))?,
        (None, None) => storage::changes::head(pool).await?,
    };
    let subscription = feed.subscribe().ok_or(ApiError::TooManyStreams)?;
    let events = follow(subscription, pool.clone(), scope, after)
        .map(|event| Ok::<_, Infallible>(to_sse(event)));
    Ok(sse::Sse::from_stream(events)
        .with_keep_alive(feed.settings().heartbeat)
        .with_retry_duration(RETRY)
        .customize()
        // nginx would otherwise buffer the stream (deploy/nginx.conf also says so).
        .insert_header(("X-Accel-Buffering", "no")))
}

fn to_sse(event: FeedEvent) -> sse::Event {
    match event {
        FeedEvent::Change(change) => sse::Event::Data(
            sse::Data::new(change.json.clone())
                .event(change.kind.as_str())
                .id(change.id.to_string()),
        ),
        FeedEvent::Reset { head } => sse::Event::Data(
            sse::Data::new(serde_json::json!({ "cursor": head.to_string() }).to_string())
                .event("reset")
                .id(head.to_string()),
        ),
    }
}

/// Body of a stream token request.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct StreamTokenInput {
    /// Limit the token to this project's stream; without it, the token opens `/events` too.
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub project_id: Option<JsonInteger>,
}

/// A stream token: shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamToken {
    /// Pass as `?token=` to an events route. Read-only; opens streams until `expires_at`.
    #[schema(example = "tds_5f2c…")]
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub project_id: Option<i64>,
}

/// Issues a short-lived token to open an event stream from a browser.
///
/// `EventSource` cannot send `Authorization`, and an API key must never travel in a URL (logs,
/// history). The token is read-only, scoped to the tenant (and the project, if given), and
/// opens streams for 60 s; an open stream outlives it.
#[utoipa::path(
    operation_id = "create_stream_token",
    tag = "changes",
    params(IdempotencyKeyHeader),
    request_body = StreamTokenInput,
    responses(
        (status = 201, description = "The token", body = StreamToken),
        (status = 404, response = r::NotFound),
        (status = 409, response = r::IdempotencyKeyInFlight),
        (status = 422, response = r::IdempotencyKeyReused),
        AuthenticatedErrors, BodyErrors,
    ),
)]
#[post("/stream-tokens")]
pub async fn create_token(
    tenant: Tenant,
    pool: web::Data<Pool>,
    input: IdempotentJson<StreamTokenInput>,
) -> ApiResult<HttpResponse> {
    let project_id = input
        .body
        .project_id
        .map(|id| parse_id(id.0).map_err(|detail| ApiError::field("/project_id", detail)))
        .transpose()?;
    let tenant_id = tenant.id;
    idempotency::respond(
        &pool,
        tenant_id,
        input.key,
        &project_id,
        move |connection, &project_id| {
            Box::pin(async move {
                let (token, hash) = generate_stream_token();
                let expires_at = storage::stream_tokens::create(
                    connection, tenant_id, project_id, &hash, TOKEN_TTL,
                )
                .await?
                .ok_or(ApiError::NotFound("project"))?;
                Ok(HttpResponse::Created().json(StreamToken {
                    token,
                    expires_at,
                    project_id,
                }))
            })
        },
    )
    .await
}
