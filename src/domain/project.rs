use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::text::{description_schema, name_patch_schema, name_schema};
use super::{Description, Name, Slug, Validator};

#[derive(Clone, Debug, Serialize, ToSchema, sqlx::FromRow)]
#[schema(example = json!({
    "id": 1, "name": "Uploader", "slug": "uploader", "description": null,
    "created_at": "2026-11-28T12:00:00Z", "updated_at": "2026-11-28T12:00:00Z"
}))]
pub struct Project {
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum MilestoneStatus {
    Active,
    Completed,
    Archived,
}

#[derive(Clone, Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct TaskCounts {
    pub total: i64,
    pub done: i64,
}

#[derive(Clone, Debug, Serialize, ToSchema, sqlx::FromRow)]
#[schema(example = json!({
    "id": 3, "project_id": 1, "name": "v1.0", "slug": "v1-0", "status": "active",
    "description": null, "task_counts": {"total": 12, "done": 5},
    "created_at": "2026-11-28T12:00:00Z", "updated_at": "2026-11-28T12:00:00Z"
}))]
pub struct Milestone {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    pub slug: String,
    pub status: MilestoneStatus,
    pub description: Option<String>,
    #[sqlx(flatten)]
    pub task_counts: TaskCounts,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Body of a project or milestone creation.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"name": "Uploader", "slug": "uploader"}))]
pub struct NamedInput {
    /// 1 to 200 characters, one line, not blank.
    #[schema(required = true, schema_with = name_schema)]
    pub name: Option<String>,
    /// `^[a-z0-9-]+$`, unique among its siblings.
    #[schema(required = true, value_type = String, pattern = "^[a-z0-9-]+$", min_length = 1, max_length = 100)]
    pub slug: Option<String>,
    #[schema(schema_with = description_schema)]
    pub description: Option<String>,
    /// Milestones only; default `active`.
    pub status: Option<MilestoneStatus>,
}

/// Body of a project or milestone PATCH; `description: null` clears it.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct NamedPatch {
    #[schema(schema_with = name_patch_schema)]
    pub name: Option<String>,
    #[schema(pattern = "^[a-z0-9-]+$", min_length = 1, max_length = 100)]
    pub slug: Option<String>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(schema_with = description_schema)]
    pub description: Option<Option<String>>,
    /// Milestones only.
    pub status: Option<MilestoneStatus>,
}

/// A validated project or milestone creation.
#[derive(Clone, Debug)]
pub struct NewNamed {
    pub name: Name,
    pub slug: Slug,
    pub description: Option<Description>,
    pub status: MilestoneStatus,
}

/// A validated change to a project or milestone.
#[derive(Clone, Debug, Default)]
pub struct NamedChanges {
    pub name: Option<Name>,
    pub slug: Option<Slug>,
    pub description: Option<Option<Description>>,
    pub status: Option<MilestoneStatus>,
}

impl NamedInput {
    pub fn validate(self, v: &mut Validator) -> Option<NewNamed> {
        let mut required = |field: &str, value: Option<String>| {
            if value.is_none() {
                v.fail(field, "is required");
            }
            value
        };
        let (name, slug) = (required("name", self.name), required("slug", self.slug));
        let name = name.and_then(|name| v.check("name", Name::parse(name)));
        let slug = slug.and_then(|slug| v.check("slug", Slug::parse(slug)));
        let description = v.check_optional("description", self.description, Description::parse);
        Some(NewNamed {
            name: name?,
            slug: slug?,
            description: description?,
            status: self.status.unwrap_or(MilestoneStatus::Active),
        })
    }
}

impl NamedPatch {
    pub fn validate(self, v: &mut Validator) -> Option<NamedChanges> {
        let name = v.check_optional("name", self.name, Name::parse);
        let slug = v.check_optional("slug", self.slug, Slug::parse);
        let description = v.check_optional("description", self.description, |d| {
            d.map(Description::parse).transpose()
        });
        Some(NamedChanges {
            name: name?,
            slug: slug?,
            description: description?,
            status: self.status,
        })
    }
}
