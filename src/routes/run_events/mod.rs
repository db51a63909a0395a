//! A run's events (its timeline): written one at a time or in batches, idempotently by
//! `event_id`, in one statement (`append`); read in sequence order (`listing`).

mod append;
mod listing;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::domain::{EventSkipReason, RunEvent, RunEventInput};
use crate::error::{ApiError, FieldError, PROBLEM_JSON};

/// Registers this module's handlers (each with its `#[utoipa::path]`).
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(append::append).service(listing::list);
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
