//! The change feed's types: a change as clients receive it, its type, and the cursor.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Artifact, Milestone, Project, Repository, Run, RunEvent, Task};

/// A position in the change log: the writing transaction's id, then the change's number. Clients
/// see it as an opaque cursor, `<xid>-<seq>`; positions only grow (see the migration).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub xid: i64,
    pub seq: i64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.xid, self.seq)
    }
}

impl FromStr for Position {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let invalid = || "is not a change cursor (a `next_cursor` or an event id)".to_owned();
        let (xid, seq) = value.split_once('-').ok_or_else(invalid)?;
        let number = |part: &str| {
            (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse::<i64>().ok())
                .flatten()
                .ok_or_else(invalid)
        };
        Ok(Self {
            xid: number(xid)?,
            seq: number(seq)?,
        })
    }
}

/// What happened.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    strum::EnumString,
    strum::IntoStaticStr,
)]
pub enum ChangeType {
    #[serde(rename = "task.created")]
    #[strum(serialize = "task.created")]
    TaskCreated,
    #[serde(rename = "task.updated")]
    #[strum(serialize = "task.updated")]
    TaskUpdated,
    #[serde(rename = "task.deleted")]
    #[strum(serialize = "task.deleted")]
    TaskDeleted,
    #[serde(rename = "milestone.created")]
    #[strum(serialize = "milestone.created")]
    MilestoneCreated,
    #[serde(rename = "milestone.updated")]
    #[strum(serialize = "milestone.updated")]
    MilestoneUpdated,
    #[serde(rename = "milestone.deleted")]
    #[strum(serialize = "milestone.deleted")]
    MilestoneDeleted,
    #[serde(rename = "project.created")]
    #[strum(serialize = "project.created")]
    ProjectCreated,
    #[serde(rename = "project.updated")]
    #[strum(serialize = "project.updated")]
    ProjectUpdated,
    #[serde(rename = "project.deleted")]
    #[strum(serialize = "project.deleted")]
    ProjectDeleted,
    #[serde(rename = "run.created")]
    #[strum(serialize = "run.created")]
    RunCreated,
    #[serde(rename = "run.updated")]
    #[strum(serialize = "run.updated")]
    RunUpdated,
    #[serde(rename = "run.deleted")]
    #[strum(serialize = "run.deleted")]
    RunDeleted,
    /// One per event written; `resource_id` is the run's id.
    #[serde(rename = "run_event.created")]
    #[strum(serialize = "run_event.created")]
    RunEventCreated,
    #[serde(rename = "artifact.created")]
    #[strum(serialize = "artifact.created")]
    ArtifactCreated,
    #[serde(rename = "artifact.updated")]
    #[strum(serialize = "artifact.updated")]
    ArtifactUpdated,
    #[serde(rename = "artifact.deleted")]
    #[strum(serialize = "artifact.deleted")]
    ArtifactDeleted,
    #[serde(rename = "repository.created")]
    #[strum(serialize = "repository.created")]
    RepositoryCreated,
    #[serde(rename = "repository.updated")]
    #[strum(serialize = "repository.updated")]
    RepositoryUpdated,
    #[serde(rename = "repository.deleted")]
    #[strum(serialize = "repository.deleted")]
    RepositoryDeleted,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The resource after the change, as its `GET` returns it.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum ChangeData {
    Task(Task),
    Milestone(Milestone),
    Project(Project),
    Run(Run),
    RunEvent(RunEvent),
    /// An artifact's metadata (never its content).
    Artifact(Artifact),
    Repository(Repository),
}

impl ChangeData {
    /// Reads the row a change recorded (`to_jsonb` of the row) as the resource its type names.
    pub fn from_row_json(kind: ChangeType, json: &str) -> serde_json::Result<Self> {
        use ChangeType::*;
        Ok(match kind {
            TaskCreated | TaskUpdated | TaskDeleted => Self::Task(serde_json::from_str(json)?),
            MilestoneCreated | MilestoneUpdated | MilestoneDeleted => {
                Self::Milestone(serde_json::from_str(json)?)
            }
            ProjectCreated | ProjectUpdated | ProjectDeleted => {
                Self::Project(serde_json::from_str(json)?)
            }
            RunCreated | RunUpdated | RunDeleted => Self::Run(serde_json::from_str(json)?),
            RunEventCreated => Self::RunEvent(serde_json::from_str(json)?),
            ArtifactCreated | ArtifactUpdated | ArtifactDeleted => {
                Self::Artifact(serde_json::from_str(json)?)
            }
            RepositoryCreated | RepositoryUpdated | RepositoryDeleted => {
                Self::Repository(serde_json::from_str(json)?)
            }
        })
    }
}

/// One change of the feed.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "7391-1042", "type": "task.updated", "project_id": 1, "resource_id": 42,
    "at": "2026-11-29T08:30:00Z",
    "data": {"id": 42, "project_id": 1, "milestone_id": null, "parent_task_id": null,
             "title": "Add retry to the uploader", "description": null, "status": "done",
             "priority_score": 500, "external_id": "wf-123:create_tasks:0", "labels": [],
             "version": 3, "created_at": "2026-11-28T12:00:00Z",
             "updated_at": "2026-11-29T08:30:00Z", "completed_at": "2026-11-29T08:30:00Z"}
}))]
pub struct Change {
    /// This change's cursor: resume after it with `after=` or `Last-Event-ID`.
    #[serde(serialize_with = "serialize_cursor")]
    #[schema(value_type = String)]
    pub id: Position,
    #[serde(rename = "type")]
    pub kind: ChangeType,
    pub project_id: i64,
    /// The id of the task, milestone, project, run, artifact or repository that changed (for a
    /// run event, its run).
    pub resource_id: i64,
    /// When the writing transaction started.
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub at: DateTime<Utc>,
    /// The resource as its `GET` returned it after the change (a task, milestone, project, run
    /// or run event, as `type` says); null for a delete.
    #[schema(schema_with = change_data_schema)]
    pub data: Option<ChangeData>,
}

/// `anyOf`, not `oneOf`: a milestone also satisfies the project schema (which allows more
/// properties), so "exactly one" would be false; `type` says which it is.
fn change_data_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Type};
    use utoipa::openapi::{Ref, schema::SchemaType};
    AnyOfBuilder::new()
        .description(Some(
            "The resource as its `GET` returned it after the change (a task, milestone, \
             project, run, run event, artifact's metadata or repository, as `type` says); null \
             for a delete.",
        ))
        .item(Ref::from_schema_name("Task"))
        .item(Ref::from_schema_name("Milestone"))
        .item(Ref::from_schema_name("Project"))
        .item(Ref::from_schema_name("Run"))
        .item(Ref::from_schema_name("RunEvent"))
        .item(Ref::from_schema_name("Artifact"))
        .item(Ref::from_schema_name("Repository"))
        .item(ObjectBuilder::new().schema_type(SchemaType::Type(Type::Null)))
        .build()
        .into()
}

fn serialize_cursor<S: serde::Serializer>(cursor: &Position, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(cursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_what_they_print_and_refuse_anything_else() {
        let cursor = Position { xid: 7391, seq: 12 };
        assert_eq!(cursor.to_string().parse::<Position>(), Ok(cursor));
        for bad in [
            "",
            "-",
            "1-",
            "-1",
            "1",
            "1-2-3",
            "a-1",
            "1-+2",
            "99999999999999999999-1",
        ] {
            assert!(bad.parse::<Position>().is_err(), "{bad}");
        }
    }

    #[test]
    fn positions_order_by_transaction_then_sequence() {
        assert!(Position { xid: 1, seq: 9 } < Position { xid: 2, seq: 1 });
        assert!(Position { xid: 2, seq: 1 } < Position { xid: 2, seq: 2 });
    }

    #[test]
    fn change_types_print_as_their_wire_names() {
        assert_eq!(ChangeType::TaskCreated.as_str(), "task.created");
        assert_eq!("project.deleted".parse(), Ok(ChangeType::ProjectDeleted));
        assert_eq!(ChangeType::RunEventCreated.as_str(), "run_event.created");
        assert_eq!("run.updated".parse(), Ok(ChangeType::RunUpdated));
    }
}
