//! Writing a run's events: one or a batch, idempotently by `event_id`.

use actix_web::{HttpResponse, post, web};

use super::{
    EventBatchResult, EventBatchSummary, EventsWritten, RunEventsBody, SkippedEvent,
    sequences_taken,
};
use crate::auth::Tenant;
use crate::domain::{
    EventSkipReason, NewRunEvent, RunEventInput, Validate, earlier_event_duplicates,
    in_request_order, repeated_sequences, validate_items,
};
use crate::error::{ApiError, ApiResult};
use crate::pool::{Connection, Pool};
use crate::routes::idempotency::{self, IdempotencyKeyHeader, IdempotentJson};
use crate::routes::responses::{self as r, AuthenticatedErrors, BodyErrors};
use crate::routes::runs::RunPath;
use crate::state::Limits;
use crate::storage;
use crate::storage::run_events::{AppendError, Appended};

/// A validated `POST …/events`.
enum Append {
    One(NewRunEvent),
    /// The events, for each its first occurrence's index if it repeats one, and the indices
    /// of the first occurrences (the events written).
    Batch {
        events: Vec<NewRunEvent>,
        repeats: Vec<Option<usize>>,
        firsts: Vec<usize>,
    },
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
    params(RunPath, IdempotencyKeyHeader),
    request_body = RunEventsBody,
    responses(
        (status = 201, description = "Written: the event, or the batch's outcome", body = EventsWritten),
        (status = 200, description = "Nothing new: the stored event (`Idempotent-Replayed: true`), or the batch's outcome",
         body = EventsWritten,
         headers(("Idempotent-Replayed" = String, description = "`true`, for one event"))),
        (status = 404, response = r::NotFound),
        (status = 409, response = r::Conflict),
        (status = 422, response = r::IdempotencyKeyReused),
        AuthenticatedErrors, BodyErrors,
    ),
)]
#[post("/projects/{project_id}/runs/{run_id}/events")]
pub async fn append(
    tenant: Tenant,
    pool: web::Data<Pool>,
    limits: web::Data<Limits>,
    path: web::Path<RunPath>,
    input: IdempotentJson<RunEventInput>,
) -> ApiResult<HttpResponse> {
    let (key, mut input) = (input.key, input.body);
    let request = match input.events.take() {
        None => Append::One(input.validate()?),
        Some(batch) => {
            let count = batch.len();
            if count == 0 || count > limits.max_bulk_tasks {
                return Err(ApiError::field(
                    "/events",
                    format!("must hold 1 to {} events", limits.max_bulk_tasks),
                ));
            }
            let events = validate_items("/events", batch)?;
            let repeats = earlier_event_duplicates(&events);
            let firsts: Vec<usize> = (0..count).filter(|&i| repeats[i].is_none()).collect();
            let first_events: Vec<&NewRunEvent> = firsts.iter().map(|&i| &events[i]).collect();
            let repeated = repeated_sequences(&first_events);
            if !repeated.is_empty() {
                let pointers = repeated.into_iter();
                let pointers = pointers.map(|i| format!("/events/{}/sequence", firsts[i]));
                return Ok(sequences_taken(pointers.collect()));
            }
            Append::Batch {
                events,
                repeats,
                firsts,
            }
        }
    };
    let ids = (tenant.id, path.project_id, path.run_id);
    idempotency::respond(
        &pool,
        tenant.id,
        key,
        &request,
        move |connection, request| {
            Box::pin(async move {
                Ok(match request {
                    Append::One(event) => {
                        match write(connection, ids, &[event], |_| String::new()).await? {
                            Ok(mut outcome) => one_answer(outcome.pop().expect("one outcome")),
                            Err(refused) => refused,
                        }
                    }
                    Append::Batch {
                        events,
                        repeats,
                        firsts,
                    } => {
                        let first_events: Vec<&NewRunEvent> =
                            firsts.iter().map(|&i| &events[i]).collect();
                        let pointer = |i: usize| format!("/events/{}", firsts[i]);
                        match write(connection, ids, &first_events, pointer).await? {
                            Ok(stored) => batch_answer(stored, repeats),
                            Err(refused) => refused,
                        }
                    }
                })
            })
        },
    )
    .await
}

fn one_answer(outcome: Appended) -> HttpResponse {
    match outcome {
        Appended::New(event) => {
            metrics::counter!("run_events_created_total").increment(1);
            HttpResponse::Created().json(EventsWritten::One(event))
        }
        Appended::Existing(event) => {
            count_skipped(EventSkipReason::DuplicateEventId);
            HttpResponse::Ok()
                .insert_header((crate::routes::REPLAYED, "true"))
                .json(EventsWritten::One(event))
        }
    }
}

/// A batch's answer in request order: each first occurrence takes its outcome, each repeat the
/// event of its first occurrence.
fn batch_answer(stored: Vec<Appended>, repeats: &[Option<usize>]) -> HttpResponse {
    let count = repeats.len();
    let stored = stored.into_iter().map(|appended| match appended {
        Appended::New(event) => (event, None),
        Appended::Existing(event) => (event, Some(EventSkipReason::DuplicateEventId)),
    });
    let outcomes = in_request_order(stored, repeats, EventSkipReason::DuplicateInRequest);
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
    response.json(EventsWritten::Batch(EventBatchResult {
        created,
        skipped,
        summary,
    }))
}

/// Stores `events`: their outcomes, or the finished 409 when sequences were taken (`pointer`
/// gives the JSON pointer of the event at an index).
async fn write(
    connection: &mut Connection,
    (tenant_id, project_id, run_id): (i64, i64, i64),
    events: &[&NewRunEvent],
    pointer: impl Fn(usize) -> String,
) -> ApiResult<Result<Vec<Appended>, HttpResponse>> {
    let written =
        storage::run_events::append(connection, tenant_id, project_id, run_id, events).await;
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
