//! Artifacts: what a workflow step produces (a plan, a summary, a context snapshot), stored
//! under a key (project, task or none, kind, iteration) with its content type and digest.
//! This module holds their metadata (never the content), the key's rules and the list filters.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use super::{Validate, Validator};
use crate::error::ApiError;

/// An artifact's metadata, as lists and writes return it (and as the change feed's `data`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": 12, "project_id": 1, "task_id": 42, "kind": "plan", "iteration": 2,
    "content_type": "text/markdown; charset=utf-8", "byte_size": 1834,
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "version": 1,
    "created_at": "2026-11-29T12:00:00Z", "updated_at": "2026-11-29T12:00:00Z"
}))]
pub struct Artifact {
    pub id: i64,
    pub project_id: i64,
    /// The task it belongs to; null for an artifact of the project itself.
    pub task_id: Option<i64>,
    pub kind: String,
    /// Null for an artifact stored without `iteration`.
    pub iteration: Option<i32>,
    /// As sent with the content (`application/octet-stream` when none was).
    pub content_type: String,
    pub byte_size: i64,
    /// Hex SHA-256 of the content: the content's `ETag`, quoted.
    pub sha256: String,
    /// 1 when created, incremented by every replacement (an identical upload changes nothing).
    pub version: i32,
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl Artifact {
    /// The content's entity tag: its digest (strong: equal digests, equal bytes).
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.sha256)
    }
}

/// What kind of artifact: 1 to 64 of `a-z`, `0-9`, `_` and `-` (`plan`, `context_snapshot`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::Type)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct ArtifactKind(String);

impl ArtifactKind {
    pub const MAX_CHARS: usize = 64;
    pub const PATTERN: &str = "^[a-z0-9_-]{1,64}$";

    pub fn parse(value: String) -> Result<Self, String> {
        let allowed =
            |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-';
        if value.is_empty() || value.len() > Self::MAX_CHARS || !value.bytes().all(allowed) {
            return Err(format!("must match {}", Self::PATTERN));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An iteration number from a query string: an integer from 0 to 2^31 − 1.
fn parse_iteration(raw: String) -> Result<i32, String> {
    raw.parse::<i32>()
        .ok()
        .filter(|i| *i >= 0 && raw.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| "must be an integer from 0 to 2147483647".into())
}

/// Where an artifact is: its key within a project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactKey {
    /// `None`: an artifact of the project itself.
    pub task_id: Option<i64>,
    pub kind: ArtifactKind,
    pub iteration: Option<i32>,
}

impl ArtifactKey {
    /// The key's path under the project (`/tasks/42/artifacts/plan?iteration=2`).
    pub fn path(&self) -> String {
        let task = self
            .task_id
            .map(|id| format!("/tasks/{id}"))
            .unwrap_or_default();
        let iteration = self
            .iteration
            .map(|i| format!("?iteration={i}"))
            .unwrap_or_default();
        format!("{task}/artifacts/{}{iteration}", self.kind.as_str())
    }
}

/// The `iteration` query parameter of one artifact's routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IterationParams {
    /// The iteration (0 or more); without it, the artifact stored without one.
    #[param(value_type = Option<i32>, minimum = 0, maximum = 2147483647)]
    pub iteration: Option<String>,
}

/// The path of an artifact of the project.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectArtifactPath {
    #[param(minimum = 1)]
    pub project_id: i64,
    /// The artifact's kind: 1 to 64 of `a-z`, `0-9`, `_`, `-`.
    #[param(pattern = "^[a-z0-9_-]{1,64}$")]
    pub kind: String,
}

/// The path of an artifact of a task.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TaskArtifactPath {
    #[param(minimum = 1)]
    pub project_id: i64,
    /// Task id.
    #[param(minimum = 1)]
    pub task_id: i64,
    /// The artifact's kind: 1 to 64 of `a-z`, `0-9`, `_`, `-`.
    #[param(pattern = "^[a-z0-9_-]{1,64}$")]
    pub kind: String,
}

impl ProjectArtifactPath {
    /// The project, and the key this path names at `query`'s iteration (400 naming each bad
    /// part: `/path/kind`, `/query/iteration`).
    pub fn key(self, query: IterationParams) -> Result<(i64, ArtifactKey), ApiError> {
        Ok((self.project_id, key(None, self.kind, query)?))
    }
}

impl TaskArtifactPath {
    /// Like [`ProjectArtifactPath::key`].
    pub fn key(self, query: IterationParams) -> Result<(i64, ArtifactKey), ApiError> {
        Ok((self.project_id, key(Some(self.task_id), self.kind, query)?))
    }
}

fn key(
    task_id: Option<i64>,
    kind: String,
    query: IterationParams,
) -> Result<ArtifactKey, ApiError> {
    let mut v = Validator::default();
    let kind = v.check("path/kind", ArtifactKind::parse(kind));
    let iteration = v.check_optional("query/iteration", query.iteration, parse_iteration);
    let key = match (kind, iteration) {
        (Some(kind), Some(iteration)) => Some(ArtifactKey {
            task_id,
            kind,
            iteration,
        }),
        _ => None,
    };
    v.finish(key)
}

/// A validated upload: the content with what is stored about it.
#[derive(Clone, Debug)]
pub struct ArtifactContent {
    pub content_type: String,
    pub sha256: [u8; 32],
    pub bytes: Vec<u8>,
}

impl ArtifactContent {
    pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";
    pub const MAX_CONTENT_TYPE_CHARS: usize = 255;

    /// `content_type` is the request's `Content-Type` (`None` when absent): a media type of at
    /// most 255 characters, kept as sent.
    pub fn new(content_type: Option<&str>, bytes: Vec<u8>) -> Result<Self, String> {
        let content_type = content_type.unwrap_or(Self::DEFAULT_CONTENT_TYPE).trim();
        // `mime` also reads `text/` (no subtype), which is no media type.
        let media_type = content_type.parse::<mime::Mime>().ok();
        let named = media_type
            .is_some_and(|m| !m.type_().as_str().is_empty() && !m.subtype().as_str().is_empty());
        if content_type.len() > Self::MAX_CONTENT_TYPE_CHARS || !named {
            return Err(format!(
                "must be a media type (`text/markdown; charset=utf-8`) of at most {} characters",
                Self::MAX_CONTENT_TYPE_CHARS
            ));
        }
        Ok(Self {
            content_type: content_type.to_owned(),
            sha256: Sha256::digest(&bytes).into(),
            bytes,
        })
    }
}

/// Filters of the artifact lists.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ArtifactListParams {
    /// Only artifacts of this kind.
    #[param(pattern = "^[a-z0-9_-]{1,64}$")]
    pub kind: Option<String>,
    /// Only the artifacts of this task (on `/projects/{project_id}/artifacts`; the task's own
    /// route lists only its artifacts anyway).
    #[param(value_type = Option<i64>, minimum = 1)]
    pub task_id: Option<String>,
    /// `true`: of each kind (per task, and for the project itself), only the highest iteration
    /// (an artifact without iteration counts as below 0).
    #[param(value_type = Option<bool>)]
    pub latest: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (with the same filters); absent or empty: the first.
    pub cursor: Option<String>,
}

/// Filters of a task's artifact list (its route names the task).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskArtifactListParams {
    /// Only artifacts of this kind.
    #[param(pattern = "^[a-z0-9_-]{1,64}$")]
    pub kind: Option<String>,
    /// `true`: of each kind, only the highest iteration (one without iteration counts as
    /// below 0).
    #[param(value_type = Option<bool>)]
    pub latest: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (with the same filters); absent or empty: the first.
    pub cursor: Option<String>,
}

impl From<TaskArtifactListParams> for ArtifactListParams {
    fn from(params: TaskArtifactListParams) -> Self {
        Self {
            kind: params.kind,
            task_id: None,
            latest: params.latest,
            limit: params.limit,
            cursor: params.cursor,
        }
    }
}

/// The validated filters of an artifact list, in creation order.
#[derive(Clone, Debug, Default)]
pub struct ArtifactFilter {
    pub kind: Option<ArtifactKind>,
    pub task_id: Option<i64>,
    pub latest: bool,
}

impl Validate for ArtifactListParams {
    type Valid = ArtifactFilter;
    const POINTER: &'static str = "/query";

    fn validate_into(self, v: &mut Validator) -> Option<ArtifactFilter> {
        let kind = v.check_optional("kind", self.kind, ArtifactKind::parse);
        let task_id = v.check_optional("task_id", self.task_id, |raw| {
            raw.parse::<i64>()
                .ok()
                .filter(|id| *id > 0 && raw.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| "must be a positive id".to_owned())
        });
        let latest = v.check_optional("latest", self.latest, |raw| match raw.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("must be `true` or `false`".to_owned()),
        });
        Some(ArtifactFilter {
            kind: kind?,
            task_id: task_id?,
            latest: latest?.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_1_to_64_lowercase_digits_underscores_and_dashes() {
        for good in ["plan", "context_snapshot", "step-2", &"k".repeat(64)] {
            assert!(ArtifactKind::parse(good.to_string()).is_ok(), "{good}");
        }
        for bad in ["", "Plan", "a b", "a.b", "ä", &"k".repeat(65)] {
            assert!(
                ArtifactKind::parse(bad.to_string()).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn iterations_are_non_negative_32_bit_integers_written_in_digits() {
        assert_eq!(parse_iteration("0".into()), Ok(0));
        assert_eq!(parse_iteration("2147483647".into()), Ok(i32::MAX));
        for bad in ["", "-1", "+1", "1.0", " 1", "2147483648", "one"] {
            assert!(parse_iteration(bad.into()).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn content_keeps_its_media_type_and_digest() {
        let content = ArtifactContent::new(Some("text/markdown; charset=utf-8"), b"abc".to_vec());
        let content = content.unwrap();
        assert_eq!(content.content_type, "text/markdown; charset=utf-8");
        assert_eq!(
            hex::encode(content.sha256),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let untyped = ArtifactContent::new(None, Vec::new()).unwrap();
        assert_eq!(untyped.content_type, "application/octet-stream");
        let long = format!("text/{}", "x".repeat(251));
        for bad in ["", "text", "text/", "/plain", "text plain", &long] {
            let refused = ArtifactContent::new(Some(bad), Vec::new());
            assert!(refused.is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keys_name_their_path_under_the_project() {
        let kind = ArtifactKind::parse("plan".into()).unwrap();
        let key = |task_id, iteration| ArtifactKey {
            task_id,
            kind: kind.clone(),
            iteration,
        };
        assert_eq!(key(None, None).path(), "/artifacts/plan");
        assert_eq!(
            key(Some(4), Some(2)).path(),
            "/tasks/4/artifacts/plan?iteration=2"
        );
    }
}
