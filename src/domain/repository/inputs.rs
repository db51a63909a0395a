//! The request bodies that create and change a repository, their spec schemas, and their
//! validation into the types storage accepts.

use serde::Deserialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

use super::{BranchName, REPOSITORY_URL_PATTERN, RepositoryUrl};
use crate::domain::{Validate, Validator};

/// A string of 1 to `max` characters matching `pattern`; null too when `nullable` (in a
/// PATCH, null is the same as leaving the field out).
fn text_schema(nullable: bool, max: usize, pattern: &str) -> Object {
    let types = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(types)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(pattern))
        .build()
}

fn url_schema() -> Object {
    text_schema(false, RepositoryUrl::MAX_CHARS, REPOSITORY_URL_PATTERN)
}

fn url_patch_schema() -> Object {
    text_schema(true, RepositoryUrl::MAX_CHARS, REPOSITORY_URL_PATTERN)
}

fn branch_schema() -> Object {
    text_schema(true, BranchName::MAX_CHARS, BranchName::PATTERN)
}

/// Body of `POST /projects/{project_id}/repositories`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"url": "git@github.com:acme/uploader.git", "default_branch": "main"}))]
pub struct RepositoryInput {
    /// The clone URL: `https://host/org/repo(.git)`, `ssh://…`, `git://…` or scp-style
    /// `git@host:org/repo.git`. Spellings of one repository (`.git`, a trailing slash, the
    /// scheme, the user, the host's case) are the same repository.
    #[schema(required = true, schema_with = url_schema)]
    pub url: Option<String>,
    /// Default `main`.
    #[schema(schema_with = branch_schema)]
    pub default_branch: Option<String>,
}

/// A validated repository creation.
#[derive(Clone, Debug)]
pub struct NewRepository {
    pub url: RepositoryUrl,
    pub default_branch: BranchName,
}

impl Validate for RepositoryInput {
    type Valid = NewRepository;
    fn validate_into(self, v: &mut Validator) -> Option<NewRepository> {
        let url = v
            .required("url", self.url)
            .and_then(|url| v.check("url", RepositoryUrl::parse(url)));
        let branch = v.check_optional("default_branch", self.default_branch, BranchName::parse);
        Some(NewRepository {
            url: url?,
            default_branch: branch?.unwrap_or_else(BranchName::main),
        })
    }
}

/// Body of `PATCH /projects/{project_id}/repositories/{repository_id}`: the fields present
/// change (null is the same as absent).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(example = json!({"default_branch": "develop"}))]
pub struct RepositoryPatch {
    /// A URL that names another repository of the project is refused (409).
    #[schema(schema_with = url_patch_schema)]
    pub url: Option<String>,
    #[schema(schema_with = branch_schema)]
    pub default_branch: Option<String>,
}

/// A validated change to a repository; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct RepositoryChanges {
    pub url: Option<RepositoryUrl>,
    pub default_branch: Option<BranchName>,
}

impl Validate for RepositoryPatch {
    type Valid = RepositoryChanges;
    fn validate_into(self, v: &mut Validator) -> Option<RepositoryChanges> {
        let url = v.check_optional("url", self.url, RepositoryUrl::parse);
        let branch = v.check_optional("default_branch", self.default_branch, BranchName::parse);
        Some(RepositoryChanges {
            url: url?,
            default_branch: branch?,
        })
    }
}
