use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::text::{description_schema, labels_schema, title_schema};
use super::{
    Dependencies, Description, ExternalId, JsonInteger, Label, TaskTitle, Validate, Validator,
    parse_id,
};

// A task's status. Its names (`in_progress`) are spelled once, here, by the derives: serde for
// JSON, sqlx for the `text` column, strum for `as_str`, `FromStr` and the list of names.
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
pub enum TaskStatus {
    Open,
    InProgress,
    InReview,
    Blocked,
    Done,
    Archived,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Work-queue priority: 0 (lowest, the default) to 10 000.
#[derive(Clone, Copy, Debug, PartialEq, Eq, sqlx::Type)]
#[sqlx(transparent)]
pub struct PriorityScore(i32);

impl PriorityScore {
    pub const MAX: i64 = 10_000;
    pub fn parse(value: i64) -> Result<Self, String> {
        if (0..=Self::MAX).contains(&value) {
            Ok(Self(value as i32))
        } else {
            Err(format!("must be between 0 and {}", Self::MAX))
        }
    }
    pub fn get(self) -> i32 {
        self.0
    }
}

/// A task as stored and returned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": 42, "project_id": 1, "milestone_id": null, "parent_task_id": null, "run_id": 7,
    "title": "Add retry to the uploader", "description": "Found by the review step",
    "status": "open", "priority_score": 500, "external_id": "wf-123:create_tasks:0",
    "labels": ["backend"], "version": 1,
    "created_at": "2026-11-28T12:00:00Z", "updated_at": "2026-11-28T12:00:00Z", "completed_at": null,
    "claimed_by": "agent-7", "claimed_at": "2026-11-28T12:05:00Z",
    "claim_expires_at": "2026-11-28T12:10:00Z", "depends_on": [41], "blocked_by": 0
}))]
pub struct Task {
    pub id: i64,
    pub project_id: i64,
    pub milestone_id: Option<i64>,
    pub parent_task_id: Option<i64>,
    /// The workflow run that created or works on the task.
    pub run_id: Option<i64>,
    pub title: String,
    pub description: Option<String>,
    pub status: TaskStatus,
    pub priority_score: i32,
    pub external_id: Option<String>,
    pub labels: Vec<String>,
    /// Incremented by every change; the task's `ETag` is this number, quoted.
    pub version: i32,
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
    /// When the task last became `done`; null while it is not done.
    #[serde(serialize_with = "super::timestamp::serialize_option")]
    pub completed_at: Option<DateTime<Utc>>,
    /// The worker holding the task's claim (see `tasks:claim`); null when unclaimed.
    pub claimed_by: Option<String>,
    #[serde(serialize_with = "super::timestamp::serialize_option")]
    pub claimed_at: Option<DateTime<Utc>>,
    /// When the claim lapses unless extended by a heartbeat; a lapsed claim is claimable.
    #[serde(serialize_with = "super::timestamp::serialize_option")]
    pub claim_expires_at: Option<DateTime<Utc>>,
    /// Tasks of the same project this one waits for: it is claimable only when all are `done`
    /// or `archived`.
    pub depends_on: Vec<i64>,
    /// How many of `depends_on` are not finished yet.
    pub blocked_by: i32,
}

impl Task {
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }
}

/// Body of a task creation (alone or as a bulk item).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "title": "Add retry to the uploader", "priority_score": 500,
    "external_id": "wf-123:create_tasks:0", "labels": ["backend"]
}))]
pub struct TaskInput {
    /// 1 to 500 characters, one line, not blank.
    #[schema(required = true, schema_with = title_schema)]
    pub title: Option<String>,
    /// At most 20 000 characters; tabs and line breaks allowed.
    #[schema(schema_with = description_schema)]
    pub description: Option<String>,
    /// Default `open`.
    pub status: Option<TaskStatus>,
    /// 0 to 10 000, default 0.
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 10000)]
    pub priority_score: Option<JsonInteger>,
    /// Idempotency key, unique per project: 1 to 255 printable ASCII characters, no spaces.
    #[schema(max_length = 255, min_length = 1, pattern = "^[!-~]+$")]
    pub external_id: Option<String>,
    /// A milestone of the same project.
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub milestone_id: Option<JsonInteger>,
    /// A task of the same project.
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub parent_task_id: Option<JsonInteger>,
    /// A run of the same project.
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub run_id: Option<JsonInteger>,
    /// Up to 50 labels of 1 to 100 characters; duplicates are dropped.
    #[schema(schema_with = labels_schema)]
    pub labels: Option<Vec<String>>,
    /// Ids of tasks of the same project this one waits for (at most 100).
    #[schema(schema_with = super::dependency_ids_schema)]
    pub depends_on: Option<Vec<JsonInteger>>,
    /// Tasks this one waits for, by external_id: items of the same bulk request or tasks
    /// already in the project (at most 100). How a workflow posts a whole plan in one call.
    #[schema(schema_with = super::dependency_keys_schema)]
    pub depends_on_external_ids: Option<Vec<String>>,
}

/// A validated task creation.
#[derive(Clone, Debug)]
pub struct NewTask {
    pub title: TaskTitle,
    pub description: Option<Description>,
    pub status: TaskStatus,
    pub priority_score: PriorityScore,
    pub external_id: Option<ExternalId>,
    pub milestone_id: Option<i64>,
    pub parent_task_id: Option<i64>,
    pub run_id: Option<i64>,
    pub labels: Vec<Label>,
    pub depends_on: Dependencies,
}

impl Validate for TaskInput {
    type Valid = NewTask;
    fn validate_into(self, v: &mut Validator) -> Option<NewTask> {
        let title = v
            .required("title", self.title)
            .and_then(|title| v.check("title", TaskTitle::parse(title)));
        let description = v.check_optional("description", self.description, Description::parse);
        let priority_score = v.check_optional("priority_score", self.priority_score, |p| {
            PriorityScore::parse(p.0)
        });
        let external_id = v.check_optional("external_id", self.external_id, ExternalId::parse);
        let milestone_id = v.check_optional("milestone_id", self.milestone_id, |id| parse_id(id.0));
        let parent_task_id =
            v.check_optional("parent_task_id", self.parent_task_id, |id| parse_id(id.0));
        let run_id = v.check_optional("run_id", self.run_id, |id| parse_id(id.0));
        let labels = validate_labels(v, self.labels.unwrap_or_default());
        let depends_on = Dependencies::validate(v, self.depends_on, self.depends_on_external_ids);
        Some(NewTask {
            title: title?,
            description: description?,
            status: self.status.unwrap_or(TaskStatus::Open),
            priority_score: priority_score?.unwrap_or(PriorityScore(0)),
            external_id: external_id?,
            milestone_id: milestone_id?,
            parent_task_id: parent_task_id?,
            run_id: run_id?,
            labels: labels?,
            depends_on: depends_on?,
        })
    }
}

pub(super) fn validate_labels(v: &mut Validator, raw: Vec<String>) -> Option<Vec<Label>> {
    v.check_distinct("labels", raw, (Label::MAX_PER_TASK, "labels"), Label::parse)
}
