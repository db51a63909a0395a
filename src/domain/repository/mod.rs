//! A project's repositories: where its code lives. A repository is known by its *normalised*
//! URL, unique per project, so that every spelling of one remote is one repository.
//!
//! The stored [`Repository`] is here; `remote_url` holds the accepted URL forms and their
//! normalisation, `branch` the branch-name rule, and `inputs` the request bodies and their
//! validation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

mod branch;
mod inputs;
mod remote_url;

pub use branch::*;
pub use inputs::*;
pub use remote_url::*;

/// A repository as stored and returned (and as the change feed's `data`: `to_jsonb` of the row).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
#[schema(example = json!({
    "id": 3, "project_id": 1, "url": "git@github.com:acme/uploader.git",
    "normalized_url": "github.com/acme/uploader", "default_branch": "main",
    "created_at": "2026-11-29T12:00:00Z", "updated_at": "2026-11-29T12:00:00Z"
}))]
pub struct Repository {
    pub id: i64,
    pub project_id: i64,
    /// The clone URL as the client gave it (at creation, or in the last PATCH of `url`).
    pub url: String,
    /// What makes two URLs the same repository: the host (lower case, non-default port kept)
    /// and the path without a trailing slash or `.git`; scheme and user are left out.
    pub normalized_url: String,
    pub default_branch: String,
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}
