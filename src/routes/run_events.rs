//! A run's events (its timeline): written one at a time or in batches, idempotently by
//! `event_id`, in one statement; read in sequence order.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::conditional::{body_etag, not_modified, tagged_bytes};
use super::responses::{self as r, AuthenticatedErrors, BodyErrors, NotModified};
use super::runs::RunPath;
use crate::auth::Tenant;
use crate::domain::{
    EventSkipReason, NewRunEvent, RunEvent, RunEventInput, ShortText, Validate,
    earlier_event_duplicates, repeated_sequences, validate_items,
};
use crate::error::{ApiError, ApiResult, FieldError, PROBLEM_JSON};
use crate::extract::{IfNoneMatch, Json};
use crate::pagination::PageRequest;
use crate::pool::Pool;
use crate::state::Limits;
use crate::storage;
use crate::storage::run_events::{AppendError, Appended, EventFilter};

/// Registers this module's handlers (each with its `#[utoipa::path]`).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(append).service(list);
}

/// The batch form of a `POST …/events` body.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the body; `RunEventInput` reads both forms
pub struct RunEventBatchInput {
    /// 1 to the configured maximum (`--max-bulk-tasks`, default 1000) events.
    #[schema(min_items = 1, max_items = 1000)]
    events: Vec<RunEventInput>,
}

/// One event, or a batch of them.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // documents the body
#[serde(untagged)]
pub enum RunEventsBody {
    One(RunEventInput),
    Batch(RunEventBatchInput),
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SkippedEvent {
    /// The stored event holding this event_id.
    pub event: RunEvent,
    pub reason: EventSkipReason,
    pub event_id: String,
}

// camelCase, as the task bulk's summary, which the workflow clients read.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventBatchSummary {
    pub total_requested: usize,
    pub created: usize,
    pub skipped: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventBatchResult {
    /// Events written by this request, in request order.
    pub created: Vec<RunEvent>,
    /// Events not written because their event_id was taken, in request order.
    pub skipped: Vec<SkippedEvent>,
    pub summary: EventBatchSummary,
}

/// What a `POST …/events` answers: the event for one, the outcome of each for a batch.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum EventsWritten {
    One(RunEvent),
    Batch(EventBatchResult),
}

/// A 409 naming the events whose sequence another event of the run holds.
fn sequences_taken(pointers: Vec<String>) -> HttpResponse {
    let detail = format!(
        "another event of the run holds the sequence of {}",
        pointers.join(", ")
    );
    let mut problem = ApiError::Conflict(detail).problem();
    problem.errors = pointers
        .into_iter()
        .map(|pointer| FieldError::new(pointer, "taken by another event of the run"))
        .collect();
    HttpResponse::build(StatusCode::CONFLICT)
        .content_type(PROBLEM_JSON)
        .json(problem)
}

/// Write one event of a run, or a batch (`{events: [...]}`), idempotently by `event_id`.
///
/// One event: 201 with it; when the run already holds its `event_id`, 200 with the stored
/// event unchanged and `Idempotent-Replayed: true`. A batch (1 to `--max-bulk-tasks` events,
/// atomic) is validated first and answers like the task bulk: events whose event_id is stored
/// or repeated in the request are skipped; 201 if any was written, else 200. Either way, one
/// statement. An event without `sequence` gets the run's next one (in request order, a batch's
/// numbers consecutive); a `sequence` another event of the run holds is a 409 naming the
/// event's pointer (`/events/3/sequence`), and nothing is written.
#[utoipa::path(
    operation_id = "create_run_events",
    tag = "runs",
    params(RunPath),
    request_body = RunEventsBody,
    responses(
        (status = 201, description = "Written: the event, or the batch's outcome", body = EventsWritten),
        (status = 200, description = "Nothing new: the stored event (`Idempotent-Replayed: true`), or the batch's outcome",
         body = EventsWritten,
         headers(("Idempotent-Replayed" = String, description = "`true`, for one event"))),
        (status = 404, response = r::NotFound),
        (status = 409, response = r::Conflict),
        AuthenticatedErrors, BodyErrors,
    ),
)]
#[post("/projects/{project_id}/runs/{run_id}/events")]
pub async fn append(
    tenant: Tenant,
    pool: web::Data<Pool>,
    limits: web::Data<Limits>,
    path: web::Path<RunPath>,
    Json(mut input): Json<RunEventInput>,
) -> ApiResult<HttpResponse> {
    let Some(batch) = input.events.take() else {
        let event = input.validate()?;
        let mut outcome = match write(&tenant, &pool, &path, &[&event], |_| String::new()).await? {
            Ok(outcome) => outcome,
            Err(refused) => return Ok(refused),
        };
        return Ok(match outcome.pop().expect("one outcome") {
            Appended::New(event) => {
                metrics::counter!("run_events_created_total").increment(1);
                HttpResponse::Created().json(EventsWritten::One(event))
            }
            Appended::Existing(event) => {
                count_skipped(EventSkipReason::DuplicateEventId);
                HttpResponse::Ok()
                    .insert_header((super::REPLAYED, "true"))
                    .json(EventsWritten::One(event))
            }
        });
    };
    let count = batch.len();
    if count == 0 || count > limits.max_bulk_tasks {
        return Err(ApiError::field(
            "/events",
            format!("must hold 1 to {} events", limits.max_bulk_tasks),
        ));
    }
    let events = validate_items("/events", batch)?;
    let repeats = earlier_event_duplicates(&events);
    let (firsts, first_index): (Vec<&NewRunEvent>, Vec<usize>) = events
        .iter()
        .enumerate()
        .filter(|(index, _)| repeats[*index].is_none())
        .map(|(index, event)| (event, index))
        .unzip();
    let pointer = |i: usize| format!("/events/{}", first_index[i]);
    let repeated = repeated_sequences(&firsts);
    if !repeated.is_empty() {
        let pointers = repeated.into_iter().map(|i| pointer(i) + "/sequence");
        return Ok(sequences_taken(pointers.collect()));
    }
    let mut stored = match write(&tenant, &pool, &path, &firsts, pointer).await? {
        Ok(stored) => stored.into_iter(),
        Err(refused) => return Ok(refused),
    };
    // Back to request order: each first occurrence takes its outcome, each repeat the event
    // of its first occurrence.
    let mut outcomes: Vec<(RunEvent, Option<EventSkipReason>)> = Vec::with_capacity(count);
    for repeat in repeats {
        outcomes.push(match repeat {
            None => match stored.next().expect("one outcome per first occurrence") {
                Appended::New(event) => (event, None),
                Appended::Existing(event) => (event, Some(EventSkipReason::DuplicateEventId)),
            },
            Some(first) => (
                outcomes[first].0.clone(),
                Some(EventSkipReason::DuplicateInRequest),
            ),
        });
    }
    let (mut created, mut skipped) = (Vec::new(), Vec::new());
    for (event, reason) in outcomes {
        match reason {
            None => created.push(event),
            Some(reason) => {
                count_skipped(reason);
                let event_id = event.event_id.clone();
                skipped.push(SkippedEvent {
                    event,
                    reason,
                    event_id,
                });
            }
        }
    }
    metrics::counter!("run_events_created_total").increment(created.len() as u64);
    let summary = EventBatchSummary {
        total_requested: count,
        created: created.len(),
        skipped: skipped.len(),
    };
    let mut response = if created.is_empty() {
        HttpResponse::Ok()
    } else {
        HttpResponse::Created()
    };
    Ok(response.json(EventsWritten::Batch(EventBatchResult {
        created,
        skipped,
        summary,
    })))
}

/// Stores `events`: their outcomes, or the finished 409 when sequences were taken (`pointer`
/// gives the JSON pointer of the event at an index).
async fn write(
    tenant: &Tenant,
    pool: &Pool,
    path: &RunPath,
    events: &[&NewRunEvent],
    pointer: impl Fn(usize) -> String,
) -> ApiResult<Result<Vec<Appended>, HttpResponse>> {
    let written =
        storage::run_events::append(pool, tenant.id, path.project_id, path.run_id, events).await;
    match written {
        Ok(outcomes) => Ok(Ok(outcomes)),
        Err(AppendError::SequencesTaken(indices)) => Ok(Err(sequences_taken(
            indices
                .into_iter()
                .map(|i| pointer(i) + "/sequence")
                .collect(),
        ))),
        Err(AppendError::RunNotFound) => Err(ApiError::NotFound("run")),
        Err(error @ AppendError::Contended) => Err(ApiError::Conflict(error.to_string())),
        Err(AppendError::Database(error)) => Err(error.into()),
    }
}

fn count_skipped(reason: EventSkipReason) {
    metrics::counter!("run_events_skipped_total", "reason" => reason.as_str()).increment(1);
}

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
