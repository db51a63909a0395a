//! The one error type of the API and its RFC 9457 `application/problem+json` rendering.
//!
//! Every failure a handler can meet becomes an [`ApiError`]; [`ErrorCode`] is the table of stable,
//! machine-readable codes with their status and title. Database constraint violations are
//! translated to client errors in one place, [`ApiError::from`] for `sqlx::Error`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

pub type ApiResult<T, E = ApiError> = Result<T, E>;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// Stable error codes: clients may branch on `code`; `type` is the same code as a URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "kebab-case")]
pub enum ErrorCode {
    ValidationFailed,
    MalformedRequest,
    Unauthorized,
    NotFound,
    ReferenceNotFound,
    MethodNotAllowed,
    Conflict,
    StatusMismatch,
    PreconditionFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    ServiceUnavailable,
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            Self::ValidationFailed | Self::MalformedRequest => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict | Self::StatusMismatch | Self::ReferenceNotFound => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::ValidationFailed => "The request has invalid fields",
            Self::MalformedRequest => "The request could not be read",
            Self::Unauthorized => "A valid API key is required",
            Self::NotFound => "Not found",
            Self::ReferenceNotFound => "A referenced resource does not exist",
            Self::MethodNotAllowed => "Method not allowed",
            Self::Conflict => "Conflict with the stored state",
            Self::StatusMismatch => "The task's status is not the expected one",
            Self::PreconditionFailed => "The resource changed since it was read",
            Self::PayloadTooLarge => "The request body is too large",
            Self::UnsupportedMediaType => "Unsupported content type",
            Self::ServiceUnavailable => "The service is temporarily unavailable",
            Self::Internal => "Internal server error",
        }
    }

    pub fn type_uri(self) -> String {
        let slug: &str = self.into();
        format!("https://taskdash.dev/problems/{slug}")
    }
}

/// One invalid field, located by a JSON pointer into the request (RFC 6901), or into the
/// query string / path for parameters (`/query/limit`, `/path/task_id`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    #[schema(example = "/tasks/3/title")]
    pub pointer: String,
    #[schema(example = "must be 1 to 500 characters")]
    pub detail: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            detail: detail.into(),
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "https://taskdash.dev/problems/validation-failed",
    "title": "The request has invalid fields",
    "status": 400,
    "detail": "1 field is invalid",
    "code": "validation_failed",
    "errors": [{"pointer": "/tasks/3/title", "detail": "must be 1 to 500 characters"}]
}))]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    pub code: ErrorCode,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{} invalid", plural(.0.len(), "field is", "fields are"))]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    Malformed(String),
    #[error("missing, malformed, unknown or revoked API key")]
    Unauthorized,
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Ids in the body that name nothing in the project (each listed with its pointer).
    #[error("{} no existing resource of the project", plural(.0.len(), "reference names", "references name"))]
    UnknownReference(Vec<FieldError>),
    #[error("this path accepts only {allow}")]
    MethodNotAllowed { allow: String },
    #[error("{0}")]
    Conflict(String),
    #[error("the task's status is `{actual}`, not the expected `{expected}`")]
    StatusMismatch { expected: String, actual: String },
    #[error("the task changed since it was read (If-Match does not match the current ETag)")]
    PreconditionFailed,
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the database is unavailable; retry shortly")]
    Unavailable,
    /// The database could not be reached, or gave up on the statement: a 503, logged.
    #[error("the database is unavailable; retry shortly")]
    DatabaseUnavailable(#[source] sqlx::Error),
    /// A database failure the client did not cause: a 500, logged.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("this replica is shutting down; retry on another")]
    ShuttingDown,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

impl ApiError {
    pub fn field(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(pointer, detail)])
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Validation(_) => ErrorCode::ValidationFailed,
            Self::Malformed(_) => ErrorCode::MalformedRequest,
            Self::Unauthorized => ErrorCode::Unauthorized,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::UnknownReference(_) => ErrorCode::ReferenceNotFound,
            Self::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::StatusMismatch { .. } => ErrorCode::StatusMismatch,
            Self::PreconditionFailed => ErrorCode::PreconditionFailed,
            Self::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            Self::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            Self::Unavailable | Self::DatabaseUnavailable(_) | Self::ShuttingDown => {
                ErrorCode::ServiceUnavailable
            }
            Self::Database(_) | Self::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn problem(&self) -> Problem {
        let code = self.code();
        let detail = match self {
            // The client learns nothing of internals; the log has the whole chain.
            Self::Database(_) | Self::Internal(_) => {
                "an unexpected error occurred; it has been logged".to_owned()
            }
            other => other.to_string(),
        };
        Problem {
            problem_type: code.type_uri(),
            title: code.title(),
            status: code.status().as_u16(),
            detail,
            code,
            errors: match self {
                Self::Validation(errors) | Self::UnknownReference(errors) => errors.clone(),
                _ => Vec::new(),
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code().status()
    }

    fn error_response(&self) -> HttpResponse {
        self.record();
        let mut response = HttpResponse::build(self.status_code());
        response.content_type(PROBLEM_JSON);
        match self {
            Self::Unauthorized => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"taskdash\""));
            }
            Self::Unavailable | Self::DatabaseUnavailable(_) | Self::ShuttingDown => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            Self::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, allow.as_str()));
            }
            _ => {}
        }
        response.json(self.problem())
    }
}

impl ApiError {
    /// The side effects of an answered error, in one place: what the client did not cause is
    /// logged and counted.
    fn record(&self) {
        match self {
            Self::DatabaseUnavailable(error) => {
                metrics::counter!("db_errors_total", "kind" => "unavailable").increment(1);
                tracing::warn!(error = %error, "database unavailable");
            }
            Self::Database(error) => {
                metrics::counter!("db_errors_total", "kind" => "other").increment(1);
                tracing::error!(error = ?error, "request failed");
            }
            Self::Internal(error) => tracing::error!(error = ?error, "request failed"),
            _ => {}
        }
    }
}

/// A resource that a request body names by id (`milestone_id`), which must exist in the same
/// project. Later resources add their references here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference {
    Milestone,
    ParentTask,
}

impl Reference {
    /// The body field that holds the id.
    pub fn field(self) -> &'static str {
        match self {
            Self::Milestone => "milestone_id",
            Self::ParentTask => "parent_task_id",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Self::Milestone => "milestone",
            Self::ParentTask => "task",
        }
    }

    /// The foreign key (named in the migrations) that refuses an unknown id.
    pub fn from_constraint(constraint: &str) -> Option<Self> {
        match constraint {
            "tasks_milestone_fkey" => Some(Self::Milestone),
            "tasks_parent_task_fkey" => Some(Self::ParentTask),
            _ => None,
        }
    }

    /// The problem entry for this reference of the item at `item` (`""` for a body,
    /// `/tasks/3` for a bulk item) naming nothing.
    pub fn unknown_at(self, item: &str) -> FieldError {
        FieldError::new(
            format!("{item}/{}", self.field()),
            format!("no {} with this id in the project", self.noun()),
        )
    }
}

/// Constraint names from the migrations, mapped to what the client did wrong.
fn constraint_error(constraint: &str) -> Option<ApiError> {
    if let Some(reference) = Reference::from_constraint(constraint) {
        return Some(ApiError::UnknownReference(vec![reference.unknown_at("")]));
    }
    Some(match constraint {
        "projects_tenant_slug_key" => {
            ApiError::Conflict("a project with this slug already exists".into())
        }
        "milestones_project_slug_key" => {
            ApiError::Conflict("a milestone with this slug already exists in the project".into())
        }
        "tasks_not_own_parent_check" => {
            ApiError::Conflict("parent_task_id would make the task its own ancestor".into())
        }
        _ => return None,
    })
}

/// Whether a database error means "not available right now" (a 503 worth retrying): the pool
/// timed out or closed, the connection broke, or the server is shutting down, refusing
/// connections (class 08, 57P01-57P03, 53300), cancelled the statement (57014), or chose this
/// transaction as a deadlock's or serialisation conflict's victim (40P01, 40001).
fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            code.starts_with("08")
                || code.starts_with("57P")
                || ["57014", "53300", "40P01", "40001"].contains(&code.as_ref())
        }
        _ => false,
    }
}

/// A pure translation: logging and metrics happen when the error is answered ([`ApiError::record`]).
impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        let constraint = error.as_database_error().and_then(|db| db.constraint());
        if let Some(mapped) = constraint.and_then(constraint_error) {
            return mapped;
        }
        if is_unavailable(&error) {
            Self::DatabaseUnavailable(error)
        } else {
            Self::Database(error)
        }
    }
}
