//! Task and run counts as dashboards read them, from the maintained aggregates (never
//! `count(*)`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::MilestoneStatus;

/// Tasks per status. Every status is present (0 when none); read from the database as a JSON
/// object `{status: n}` that omits zeros.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct StatusCounts {
    pub open: i64,
    pub in_progress: i64,
    pub in_review: i64,
    pub blocked: i64,
    pub done: i64,
    pub archived: i64,
}

impl StatusCounts {
    pub fn total(&self) -> i64 {
        self.open + self.in_progress + self.in_review + self.blocked + self.done + self.archived
    }
}

/// A milestone's tasks: all of them, those done, and by status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(from = "StatusCounts")]
pub struct TaskCounts {
    pub total: i64,
    pub done: i64,
    pub by_status: StatusCounts,
}

impl From<StatusCounts> for TaskCounts {
    fn from(by_status: StatusCounts) -> Self {
        Self {
            total: by_status.total(),
            done: by_status.done,
            by_status,
        }
    }
}

/// Runs per status, like [`StatusCounts`]: every status present, read from a sparse object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct RunStatusCounts {
    pub running: i64,
    pub completed: i64,
    pub failed: i64,
    pub cancelled: i64,
}

/// A project's runs: all of them, and by status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(from = "RunStatusCounts")]
pub struct RunCounts {
    pub total: i64,
    pub by_status: RunStatusCounts,
}

impl From<RunStatusCounts> for RunCounts {
    fn from(by_status: RunStatusCounts) -> Self {
        let RunStatusCounts {
            running,
            completed,
            failed,
            cancelled,
        } = by_status;
        Self {
            total: running + completed + failed + cancelled,
            by_status,
        }
    }
}

/// One milestone in a project summary.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MilestoneSummary {
    pub id: i64,
    pub name: String,
    pub status: MilestoneStatus,
    #[serde(flatten)]
    pub tasks: TaskCounts,
}

/// What a dashboard's first screen needs, in one call and O(1) in the number of tasks.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "project_id": 1,
    "tasks": {"total": 12, "done": 5, "by_status": {"open": 4, "in_progress": 2, "in_review": 0,
              "blocked": 1, "done": 5, "archived": 0}},
    "blocked": 1,
    "milestones": [{"id": 3, "name": "v1.0", "status": "active", "total": 8, "done": 5,
                    "by_status": {"open": 1, "in_progress": 2, "in_review": 0, "blocked": 0,
                                  "done": 5, "archived": 0}}],
    "oldest_open_created_at": "2026-11-28T12:00:00Z",
    "last_activity_at": "2026-11-29T08:30:00Z",
    "runs": {"total": 3, "by_status": {"running": 1, "completed": 1, "failed": 1, "cancelled": 0}}
}))]
pub struct ProjectSummary {
    pub project_id: i64,
    /// All the project's tasks, and by status.
    pub tasks: TaskCounts,
    /// Tasks with status `blocked`.
    pub blocked: i64,
    /// Every milestone of the project, oldest first, with its counts.
    pub milestones: Vec<MilestoneSummary>,
    /// When the oldest task still `open` was created; null when none is open.
    pub oldest_open_created_at: Option<DateTime<Utc>>,
    /// `updated_at` of the most recently changed task; null when the project has none.
    pub last_activity_at: Option<DateTime<Utc>>,
    /// The project's workflow runs, in total and by status (maintained counters too).
    pub runs: RunCounts,
}

#[cfg(test)]
mod tests {
    use strum::VariantNames;

    use super::*;
    use crate::domain::{RunStatus, TaskStatus};

    fn fields<T: Serialize>(value: T) -> Vec<String> {
        let json = serde_json::to_value(value).unwrap();
        let mut fields: Vec<String> = json.as_object().unwrap().keys().cloned().collect();
        fields.sort();
        fields
    }

    #[test]
    fn run_status_counts_name_every_run_status_and_nothing_else() {
        let mut statuses = RunStatus::VARIANTS.to_vec();
        statuses.sort();
        assert_eq!(fields(RunStatusCounts::default()), statuses);
        let counts: RunCounts = serde_json::from_str(r#"{"running": 2, "failed": 1}"#).unwrap();
        assert_eq!((counts.total, counts.by_status.cancelled), (3, 0));
    }

    #[test]
    fn status_counts_name_every_status_and_nothing_else() {
        let json = serde_json::to_value(StatusCounts::default()).unwrap();
        let mut fields: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        let mut statuses = TaskStatus::VARIANTS.to_vec();
        fields.sort();
        statuses.sort();
        assert_eq!(fields, statuses);
    }

    #[test]
    fn counts_read_from_a_sparse_object_fill_in_zeros_and_total() {
        let counts: TaskCounts = serde_json::from_str(r#"{"open": 2, "done": 3}"#).unwrap();
        assert_eq!(
            (counts.total, counts.done, counts.by_status.blocked),
            (5, 3, 0)
        );
    }
}
