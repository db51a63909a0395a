//! Run events: a run's timeline, written by workflow engines one at a time or in batches,
//! idempotently by `event_id`.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::text::{name_patch_schema, name_schema};
use super::{ExternalId, JsonInteger, ShortText, Validate, Validator, check_json};

/// An event of a run's timeline, as stored and returned.
// Also read from the change log's copy of the row (`to_jsonb`): field names are column names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "project_id": 1, "run_id": 7, "sequence": 3, "event_id": "wf-123:task:7:a2:start",
    "event_type": "step.started", "step_name": "create_tasks", "status": "ok",
    "duration_ms": null, "ts": "2026-11-28T12:00:01Z", "payload": {"attempt": 2},
    "created_at": "2026-11-28T12:00:01Z"
}))]
pub struct RunEvent {
    pub project_id: i64,
    pub run_id: i64,
    /// The event's place in the run's timeline, unique per run.
    pub sequence: i64,
    pub event_id: String,
    pub event_type: String,
    pub step_name: Option<String>,
    pub status: Option<String>,
    pub duration_ms: Option<i64>,
    /// When it happened: as sent, else when the server received it.
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub ts: DateTime<Utc>,
    #[schema(required = true, schema_with = any_json)]
    pub payload: Option<Value>,
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
}

/// The schema of a payload: a free JSON value (any type, null included).
fn any_json() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType};
    ObjectBuilder::new()
        .schema_type(SchemaType::AnyValue)
        .description(Some(
            "Any JSON value, at most 64 KiB encoded; null for none.",
        ))
        .build()
}

/// Largest sequence a client may give: 2^53 - 1, exact in every JSON reader; the run's counter
/// then stays far from i64's limit.
pub const MAX_SEQUENCE: i64 = (1 << 53) - 1;

/// One event of a `POST …/events` body; the body is one of these, or `{events: [...]}`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "event_id": "wf-123:task:7:a2:start", "event_type": "step.started",
    "step_name": "create_tasks", "payload": {"attempt": 2}
}))]
pub struct RunEventInput {
    /// Idempotency key, unique per run: 1 to 255 printable ASCII characters, no spaces.
    #[schema(required = true, value_type = String, max_length = 255, min_length = 1)]
    #[schema(pattern = "^[!-~]+$")]
    pub event_id: Option<String>,
    /// 0 to 2^53 - 1, unique per run; without it the server assigns the run's next one.
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 9007199254740991_i64)]
    pub sequence: Option<JsonInteger>,
    /// 1 to 200 characters, one line, not blank.
    #[schema(required = true, schema_with = name_schema)]
    pub event_type: Option<String>,
    #[schema(schema_with = name_patch_schema)]
    pub step_name: Option<String>,
    /// The engine's own status word for the event (free text, like `event_type`).
    #[schema(schema_with = name_patch_schema)]
    pub status: Option<String>,
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub duration_ms: Option<JsonInteger>,
    /// RFC 3339, years 0001 to 9999; default: when the server receives the event.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ts: Option<String>,
    #[schema(schema_with = any_json)]
    pub payload: Option<Value>,
    /// The batch form of the body (`{events: [...]}`), read here so that one pass over the body
    /// keeps every error's pointer; documented as its own schema.
    #[schema(ignore)]
    pub events: Option<Vec<RunEventInput>>,
}

/// A validated event.
#[derive(Clone, Debug)]
pub struct NewRunEvent {
    pub event_id: ExternalId,
    pub sequence: Option<i64>,
    pub event_type: ShortText,
    pub step_name: Option<ShortText>,
    pub status: Option<ShortText>,
    pub duration_ms: Option<i64>,
    pub ts: Option<DateTime<Utc>>,
    pub payload: Option<Value>,
}

fn parse_sequence(value: JsonInteger) -> Result<i64, String> {
    if (0..=MAX_SEQUENCE).contains(&value.0) {
        Ok(value.0)
    } else {
        Err(format!("must be between 0 and {MAX_SEQUENCE}"))
    }
}

/// An RFC 3339 instant in the years 1 to 9999 (UTC): PostgreSQL writes earlier ones with a
/// ` BC` suffix, which no JSON reader (the change log's included) takes for a date-time.
fn parse_ts(value: String) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(&value)
        .map(|at| at.with_timezone(&Utc))
        .ok()
        .filter(|at| (1..=9999).contains(&at.year()))
        .ok_or_else(|| "must be an RFC 3339 date-time in the years 0001 to 9999 (UTC)".into())
}

impl Validate for RunEventInput {
    type Valid = NewRunEvent;
    fn validate_into(self, v: &mut Validator) -> Option<NewRunEvent> {
        let event_id = v
            .required("event_id", self.event_id)
            .and_then(|id| v.check("event_id", ExternalId::parse(id)));
        let sequence = v.check_optional("sequence", self.sequence, parse_sequence);
        let event_type = v
            .required("event_type", self.event_type)
            .and_then(|t| v.check("event_type", ShortText::parse(t)));
        let step_name = v.check_optional("step_name", self.step_name, ShortText::parse);
        let status = v.check_optional("status", self.status, ShortText::parse);
        let duration_ms = v.check_optional("duration_ms", self.duration_ms, |d| {
            (d.0 >= 0).then_some(d.0).ok_or("must be at least 0".into())
        });
        let ts = v.check_optional("ts", self.ts, parse_ts);
        let payload = v.check_optional("payload", self.payload, |p| check_json(&p).map(|_| p));
        Some(NewRunEvent {
            event_id: event_id?,
            sequence: sequence?,
            event_type: event_type?,
            step_name: step_name?,
            status: status?,
            duration_ms: duration_ms?,
            ts: ts?,
            payload: payload?,
        })
    }
}

/// Why an event of a batch was not written.
// Also the `reason` label of the `run_events_skipped_total` metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum EventSkipReason {
    /// The run already held this event_id before the request: the stored event, unchanged.
    DuplicateEventId,
    /// The event_id appeared earlier in the same request; the first occurrence won.
    DuplicateInRequest,
}

impl EventSkipReason {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// For each event, the index of the earlier event with the same event_id, if any: only the
/// first occurrence is written; later ones are answered with its event.
pub fn earlier_event_duplicates(events: &[NewRunEvent]) -> Vec<Option<usize>> {
    let mut first_with_id = HashMap::with_capacity(events.len());
    events
        .iter()
        .enumerate()
        .map(
            |(index, event)| match first_with_id.get(event.event_id.as_str()) {
                Some(&first) => Some(first),
                None => {
                    first_with_id.insert(event.event_id.as_str(), index);
                    None
                }
            },
        )
        .collect()
}

/// The indices (into `events`, the first occurrences) of the events that give a sequence an
/// earlier one of them already gave: a request cannot hold two events at one place.
pub fn repeated_sequences(events: &[&NewRunEvent]) -> Vec<usize> {
    let mut given = HashMap::with_capacity(events.len());
    events
        .iter()
        .enumerate()
        .filter(|(index, event)| {
            event
                .sequence
                .is_some_and(|sequence| *given.entry(sequence).or_insert(*index) != *index)
        })
        .map(|(index, _)| index)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event_id: &str, sequence: Option<i64>) -> NewRunEvent {
        RunEventInput {
            event_id: Some(event_id.into()),
            sequence: sequence.map(JsonInteger),
            event_type: Some("step.started".into()),
            step_name: None,
            status: None,
            duration_ms: None,
            ts: None,
            payload: None,
            events: None,
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn repeated_event_ids_point_at_their_first_occurrence() {
        let events = [event("a", None), event("b", None), event("a", Some(3))];
        assert_eq!(earlier_event_duplicates(&events), [None, None, Some(0)]);
    }

    #[test]
    fn a_sequence_given_twice_flags_every_later_event_that_gives_it() {
        let (a, b, c, d) = (
            event("a", Some(1)),
            event("b", None),
            event("c", Some(1)),
            event("d", Some(1)),
        );
        assert_eq!(repeated_sequences(&[&a, &b, &c, &d]), [2, 3]);
        assert!(repeated_sequences(&[&a, &b, &event("e", Some(2))]).is_empty());
    }

    #[test]
    fn timestamps_must_be_rfc_3339_and_sequences_in_range() {
        assert!(parse_ts("2026-11-28T12:00:00+02:00".into()).is_ok());
        assert!(parse_ts("2026-11-28 noon".into()).is_err());
        assert!(
            parse_ts("0001-01-01T00:30:00+01:00".into()).is_err(),
            "year 0 in UTC"
        );
        assert!(parse_ts("9999-12-31T23:59:59Z".into()).is_ok());
        assert!(parse_sequence(JsonInteger(MAX_SEQUENCE)).is_ok());
        assert!(parse_sequence(JsonInteger(MAX_SEQUENCE + 1)).is_err());
        assert!(parse_sequence(JsonInteger(-1)).is_err());
    }
}
