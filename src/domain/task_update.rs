use serde::Deserialize;
use utoipa::ToSchema;

use super::dependencies::validate_ids;
use super::task::validate_labels;
use super::text::{description_schema, labels_schema, title_patch_schema, worker_id_schema};
use super::{
    Description, JsonInteger, Label, PriorityScore, TaskStatus, TaskTitle, Validate, Validator,
    WorkerId, parse_id,
};

/// Body of `PATCH /projects/{project_id}/tasks/{task_id}`: only the fields present change;
/// `null` clears a nullable field.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(example = json!({"status": "in_progress", "expected_status": "open"}))]
pub struct TaskPatch {
    #[schema(schema_with = title_patch_schema)]
    pub title: Option<String>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(schema_with = description_schema)]
    pub description: Option<Option<String>>,
    pub status: Option<TaskStatus>,
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 10000)]
    pub priority_score: Option<JsonInteger>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub milestone_id: Option<Option<JsonInteger>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub parent_task_id: Option<Option<JsonInteger>>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub run_id: Option<Option<JsonInteger>>,
    #[schema(schema_with = labels_schema)]
    pub labels: Option<Vec<String>>,
    /// Replaces the tasks this one waits for (`[]`: none). A dependency that would make the
    /// task wait for itself, directly or through others, is refused with 409.
    #[schema(schema_with = super::dependency_ids_schema)]
    pub depends_on: Option<Vec<JsonInteger>>,
    /// Apply the change only if this worker holds the task's claim (else 409 `not_claimant`).
    /// Any status change clears the claim.
    #[schema(schema_with = worker_id_schema)]
    pub worker_id: Option<String>,
    /// Apply the change only if the task's status is this one (else 409): how workers claim
    /// work, e.g. `{"status": "in_progress", "expected_status": "open"}`.
    pub expected_status: Option<TaskStatus>,
}

/// A validated change to a task; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct TaskChanges {
    pub title: Option<TaskTitle>,
    pub description: Option<Option<Description>>,
    pub status: Option<TaskStatus>,
    pub priority_score: Option<PriorityScore>,
    pub milestone_id: Option<Option<i64>>,
    pub parent_task_id: Option<Option<i64>>,
    pub run_id: Option<Option<i64>>,
    pub labels: Option<Vec<Label>>,
    pub depends_on: Option<Vec<i64>>,
}

/// A validated PATCH: the changes, and the status the task must have for them to apply.
#[derive(Clone, Debug, Default)]
pub struct TaskUpdate {
    pub changes: TaskChanges,
    pub expected_status: Option<TaskStatus>,
    /// The worker that must hold the claim.
    pub worker: Option<WorkerId>,
}

impl TaskChanges {
    /// Whether the change moves the task in the dependency or parent graph (which takes the
    /// project's graph lock, to refuse cycles).
    pub fn moves_in_graph(&self) -> bool {
        self.depends_on.is_some() || matches!(self.parent_task_id, Some(Some(_)))
    }
}

impl Validate for TaskPatch {
    type Valid = TaskUpdate;
    fn validate_into(self, v: &mut Validator) -> Option<TaskUpdate> {
        let title = v.check_optional("title", self.title, TaskTitle::parse);
        let description = v.check_optional("description", self.description, |d| {
            d.map(Description::parse).transpose()
        });
        let priority_score = v.check_optional("priority_score", self.priority_score, |p| {
            PriorityScore::parse(p.0)
        });
        let milestone_id = v.check_optional("milestone_id", self.milestone_id, |id| {
            id.map(|id| parse_id(id.0)).transpose()
        });
        let parent_task_id = v.check_optional("parent_task_id", self.parent_task_id, |id| {
            id.map(|id| parse_id(id.0)).transpose()
        });
        let run_id = v.check_optional("run_id", self.run_id, |id| {
            id.map(|id| parse_id(id.0)).transpose()
        });
        let labels = match self.labels {
            Some(raw) => validate_labels(v, raw).map(Some),
            None => Some(None),
        };
        let depends_on = match self.depends_on {
            Some(raw) => validate_ids(v, "depends_on", raw).map(Some),
            None => Some(None),
        };
        let worker = v.check_optional("worker_id", self.worker_id, WorkerId::parse);
        let changes = TaskChanges {
            title: title?,
            description: description?,
            status: self.status,
            priority_score: priority_score?,
            milestone_id: milestone_id?,
            parent_task_id: parent_task_id?,
            run_id: run_id?,
            labels: labels?,
            depends_on: depends_on?,
        };
        Some(TaskUpdate {
            changes,
            expected_status: self.expected_status,
            worker: worker?,
        })
    }
}
