use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::text::{description_schema, name_patch_schema, name_schema};
use super::{Description, Name, Slug, Validate, Validator};

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
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

/// Body of a project creation.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"name": "Uploader", "slug": "uploader"}))]
pub struct ProjectInput {
    /// 1 to 200 characters, one line, not blank.
    #[schema(required = true, schema_with = name_schema)]
    pub name: Option<String>,
    /// `^[a-z0-9-]+$`, unique among the tenant's projects.
    #[schema(required = true, value_type = String, pattern = "^[a-z0-9-]+$", min_length = 1, max_length = 100)]
    pub slug: Option<String>,
    #[schema(schema_with = description_schema)]
    pub description: Option<String>,
}

/// Body of a project PATCH; `description: null` clears it.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ProjectPatch {
    #[schema(schema_with = name_patch_schema)]
    pub name: Option<String>,
    #[schema(pattern = "^[a-z0-9-]+$", min_length = 1, max_length = 100)]
    pub slug: Option<String>,
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[schema(schema_with = description_schema)]
    pub description: Option<Option<String>>,
}

/// The name, slug and description that projects and milestones share, validated.
#[derive(Clone, Debug)]
pub struct Naming {
    pub name: Name,
    pub slug: Slug,
    pub description: Option<Description>,
}

/// A validated change to the shared fields; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct NamingChanges {
    pub name: Option<Name>,
    pub slug: Option<Slug>,
    pub description: Option<Option<Description>>,
}

impl Naming {
    pub(super) fn check(
        v: &mut Validator,
        name: Option<String>,
        slug: Option<String>,
        description: Option<String>,
    ) -> Option<Self> {
        let (name, slug) = (v.required("name", name), v.required("slug", slug));
        let name = name.and_then(|name| v.check("name", Name::parse(name)));
        let slug = slug.and_then(|slug| v.check("slug", Slug::parse(slug)));
        let description = v.check_optional("description", description, Description::parse);
        Some(Self {
            name: name?,
            slug: slug?,
            description: description?,
        })
    }
}

impl NamingChanges {
    pub(super) fn check(
        v: &mut Validator,
        name: Option<String>,
        slug: Option<String>,
        description: Option<Option<String>>,
    ) -> Option<Self> {
        let name = v.check_optional("name", name, Name::parse);
        let slug = v.check_optional("slug", slug, Slug::parse);
        let description = v.check_optional("description", description, |d| {
            d.map(Description::parse).transpose()
        });
        Some(Self {
            name: name?,
            slug: slug?,
            description: description?,
        })
    }
}

impl Validate for ProjectInput {
    type Valid = Naming;
    fn validate_into(self, v: &mut Validator) -> Option<Naming> {
        Naming::check(v, self.name, self.slug, self.description)
    }
}

impl Validate for ProjectPatch {
    type Valid = NamingChanges;
    fn validate_into(self, v: &mut Validator) -> Option<NamingChanges> {
        NamingChanges::check(v, self.name, self.slug, self.description)
    }
}
