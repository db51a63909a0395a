use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::text::{description_schema, name_patch_schema, name_schema};
use super::{Naming, NamingChanges, TaskCounts, Validate, Validator};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum MilestoneStatus {
    Active,
    Completed,
    Archived,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
#[schema(example = json!({
    "id": 3, "project_id": 1, "name": "v1.0", "slug": "v1-0", "status": "active",
    "description": null, "task_counts": {"total": 12, "done": 5, "by_status": {"open": 4,
        "in_progress": 2, "in_review": 0, "blocked": 1, "done": 5, "archived": 0}},
    "created_at": "2026-11-28T12:00:00Z", "updated_at": "2026-11-28T12:00:00Z"
}))]
pub struct Milestone {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    pub slug: String,
    pub status: MilestoneStatus,
    pub description: Option<String>,
    /// From the maintained counters: reading them costs the same at 10 and 10 million tasks.
    #[sqlx(json)]
    pub task_counts: TaskCounts,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Body of a milestone creation.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"name": "v1.0", "slug": "v1-0"}))]
pub struct MilestoneInput {
    /// 1 to 200 characters, one line, not blank.
    #[schema(required = true, schema_with = name_schema)]
    pub name: Option<String>,
    /// `^[a-z0-9-]+$`, unique among the project's milestones.
    #[schema(required = true, value_type = String, pattern = "^[a-z0-9-]+$", min_length = 1, max_length = 100)]
    pub slug: Option<String>,
    #[schema(schema_with = description_schema)]
    pub description: Option<String>,
    /// Default `active`.
    pub status: Option<MilestoneStatus>,
}

/// Body of a milestone PATCH; `description: null` clears it.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct MilestonePatch {
    #[schema(schema_with = name_patch_schema)]
    pub name: Option<String>,
    #[schema(pattern = "^[a-z0-9-]+$", min_length = 1, max_length = 100)]
    pub slug: Option<String>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(schema_with = description_schema)]
    pub description: Option<Option<String>>,
    pub status: Option<MilestoneStatus>,
}

/// A validated milestone creation.
#[derive(Clone, Debug)]
pub struct NewMilestone {
    pub naming: Naming,
    pub status: MilestoneStatus,
}

/// A validated change to a milestone.
#[derive(Clone, Debug, Default)]
pub struct MilestoneChanges {
    pub naming: NamingChanges,
    pub status: Option<MilestoneStatus>,
}

impl Validate for MilestoneInput {
    type Valid = NewMilestone;
    fn validate_into(self, v: &mut Validator) -> Option<NewMilestone> {
        Some(NewMilestone {
            naming: Naming::check(v, self.name, self.slug, self.description)?,
            status: self.status.unwrap_or(MilestoneStatus::Active),
        })
    }
}

impl Validate for MilestonePatch {
    type Valid = MilestoneChanges;
    fn validate_into(self, v: &mut Validator) -> Option<MilestoneChanges> {
        Some(MilestoneChanges {
            naming: NamingChanges::check(v, self.name, self.slug, self.description)?,
            status: self.status,
        })
    }
}
