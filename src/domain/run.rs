//! Workflow runs: what a workflow engine reports about one execution of a workflow.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::text::{name_patch_schema, name_schema};
use super::{ExternalId, Name, Validate, Validator};

// A run's status; names spelled once, by the derives (as for tasks).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    sqlx::Type,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A workflow run as stored and returned.
// Also read from the change log's copy of the row (`to_jsonb`), hence `Deserialize`: the field
// names are the column names (`last_sequence`, internal, is dropped by the trigger).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
#[schema(example = json!({
    "id": 7, "project_id": 1, "external_id": "wf-123", "workflow_type": "feature_development",
    "status": "running", "source": "cli", "model_profile": "balanced",
    "metadata": {"branch": "feat/retry"}, "version": 1,
    "started_at": "2026-11-28T12:00:00Z", "completed_at": null,
    "created_at": "2026-11-28T12:00:00Z", "updated_at": "2026-11-28T12:00:00Z"
}))]
pub struct Run {
    pub id: i64,
    pub project_id: i64,
    pub external_id: Option<String>,
    pub workflow_type: String,
    pub status: RunStatus,
    pub source: Option<String>,
    pub model_profile: Option<String>,
    /// A JSON object, at most 64 KiB encoded.
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// Incremented by every PATCH; the run's `ETag` is this number, quoted.
    pub version: i32,
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub started_at: DateTime<Utc>,
    /// When the run last left `running`; null while it runs.
    #[serde(serialize_with = "super::timestamp::serialize_option")]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl Run {
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }
}

/// One-line text of 1 to 200 characters, not blank (the rules of a [`Name`]): a run's
/// `workflow_type`, `source` and `model_profile`, an event's `event_type`, `step_name` and
/// `status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::Type)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct ShortText(String);

impl ShortText {
    pub fn parse(value: String) -> Result<Self, String> {
        Name::parse(value).map(|name| Self(name.as_str().to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Most bytes a run's `metadata` or an event's `payload` may take, encoded as JSON: 64 KiB.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

/// Checks a free JSON value (metadata, payload): at most [`MAX_JSON_BYTES`] encoded, and no
/// NUL character in any string or key (PostgreSQL's `jsonb` cannot hold one).
pub fn check_json(value: &Value) -> Result<(), String> {
    fn has_nul(value: &Value) -> bool {
        match value {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().any(has_nul),
            Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    let mut counter = ByteCounter(0);
    serde_json::to_writer(&mut counter, value).map_err(|e| e.to_string())?;
    if counter.0 > MAX_JSON_BYTES {
        return Err(format!(
            "must be at most {MAX_JSON_BYTES} bytes encoded as JSON, is {}",
            counter.0
        ));
    }
    if has_nul(value) {
        return Err("must not contain NUL characters (\\u0000)".into());
    }
    Ok(())
}

/// Counts the bytes written to it (the encoded size, without building the encoding).
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn parse_metadata(value: Value) -> Result<Value, String> {
    if !value.is_object() {
        return Err("must be a JSON object".into());
    }
    check_json(&value)?;
    Ok(value)
}

/// Body of a run creation.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "external_id": "wf-123", "workflow_type": "feature_development", "source": "cli",
    "model_profile": "balanced", "metadata": {"branch": "feat/retry"}
}))]
pub struct RunInput {
    /// Idempotency key, unique per project: 1 to 255 printable ASCII characters, no spaces.
    #[schema(max_length = 255, min_length = 1, pattern = "^[!-~]+$")]
    pub external_id: Option<String>,
    /// 1 to 200 characters, one line, not blank.
    #[schema(required = true, schema_with = name_schema)]
    pub workflow_type: Option<String>,
    /// Default `running`; any other status sets `completed_at`.
    pub status: Option<RunStatus>,
    /// What started the run: 1 to 200 characters, one line, not blank.
    #[schema(schema_with = name_patch_schema)]
    pub source: Option<String>,
    /// 1 to 200 characters, one line, not blank.
    #[schema(schema_with = name_patch_schema)]
    pub model_profile: Option<String>,
    /// A JSON object, at most 64 KiB encoded; default `{}`.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// A validated run creation.
#[derive(Clone, Debug)]
pub struct NewRun {
    pub external_id: Option<ExternalId>,
    pub workflow_type: ShortText,
    pub status: RunStatus,
    pub source: Option<ShortText>,
    pub model_profile: Option<ShortText>,
    pub metadata: Value,
}

impl Validate for RunInput {
    type Valid = NewRun;
    fn validate_into(self, v: &mut Validator) -> Option<NewRun> {
        let external_id = v.check_optional("external_id", self.external_id, ExternalId::parse);
        let workflow_type = v
            .required("workflow_type", self.workflow_type)
            .and_then(|w| v.check("workflow_type", ShortText::parse(w)));
        let source = v.check_optional("source", self.source, ShortText::parse);
        let model_profile = v.check_optional("model_profile", self.model_profile, ShortText::parse);
        let metadata = v.check_optional("metadata", self.metadata, parse_metadata);
        Some(NewRun {
            external_id: external_id?,
            workflow_type: workflow_type?,
            status: self.status.unwrap_or(RunStatus::Running),
            source: source?,
            model_profile: model_profile?,
            metadata: metadata?.unwrap_or_else(|| Value::Object(Default::default())),
        })
    }
}

/// Body of `PATCH /projects/{project_id}/runs/{run_id}`: only the fields present change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(example = json!({"status": "completed", "expected_status": "running"}))]
pub struct RunPatch {
    /// Leaving `running` sets `completed_at`; returning to it clears it.
    pub status: Option<RunStatus>,
    /// Replaces the metadata: a JSON object, at most 64 KiB encoded.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// Apply the change only if the run's status is this one (else 409 `status_mismatch`).
    pub expected_status: Option<RunStatus>,
}

/// A validated PATCH of a run.
#[derive(Clone, Debug, Default)]
pub struct RunUpdate {
    pub status: Option<RunStatus>,
    pub metadata: Option<Value>,
    pub expected_status: Option<RunStatus>,
}

impl Validate for RunPatch {
    type Valid = RunUpdate;
    fn validate_into(self, v: &mut Validator) -> Option<RunUpdate> {
        let metadata = v.check_optional("metadata", self.metadata, parse_metadata);
        Some(RunUpdate {
            status: self.status,
            metadata: metadata?,
            expected_status: self.expected_status,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn metadata_is_an_object_of_at_most_64_kib_without_nul() {
        assert!(parse_metadata(json!({"a": [1, {"b": "c"}]})).is_ok());
        for bad in [json!([]), json!("x"), json!(null), json!({"a": "nul\u{0}"})] {
            assert!(parse_metadata(bad.clone()).is_err(), "{bad} accepted");
        }
        assert!(parse_metadata(json!({"k\u{0}": 1})).is_err());
        // {"x":"…"} is 8 bytes around the string.
        assert!(parse_metadata(json!({"x": "a".repeat(MAX_JSON_BYTES - 8)})).is_ok());
        assert!(parse_metadata(json!({"x": "a".repeat(MAX_JSON_BYTES - 7)})).is_err());
    }

    #[test]
    fn a_run_status_reads_and_prints_its_wire_name() {
        assert_eq!(RunStatus::Cancelled.as_str(), "cancelled");
        assert_eq!("running".parse(), Ok(RunStatus::Running));
    }
}
