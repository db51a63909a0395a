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

/// Stable error codes: clients may branch on `code`; `type` is the same code as a relative URI,
/// `/problems/{code}`, where the server describes it (a reference the deployment controls).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    ValidationFailed,
    MalformedRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    ReferenceNotFound,
    MethodNotAllowed,
    Conflict,
    StatusMismatch,
    NotClaimant,
    PreconditionFailed,
    IdempotencyKeyReused,
    IdempotencyKeyInFlight,
    PayloadTooLarge,
    UnsupportedMediaType,
    CursorExpired,
    ServiceUnavailable,
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            Self::ValidationFailed | Self::MalformedRequest => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict | Self::StatusMismatch | Self::NotClaimant | Self::ReferenceNotFound => {
                StatusCode::CONFLICT
            }
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::IdempotencyKeyInFlight => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::CursorExpired => StatusCode::GONE,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::ValidationFailed => "The request has invalid fields",
            Self::MalformedRequest => "The request could not be read",
            Self::Unauthorized => "A valid API key is required",
            Self::Forbidden => "The API key's scope does not allow this request",
            Self::NotFound => "Not found",
            Self::ReferenceNotFound => "A referenced resource does not exist",
            Self::MethodNotAllowed => "Method not allowed",
            Self::Conflict => "Conflict with the stored state",
            Self::StatusMismatch => "The task's status is not the expected one",
            Self::NotClaimant => "Another worker holds the task's claim",
            Self::PreconditionFailed => "The resource changed since it was read",
            Self::IdempotencyKeyReused => "The idempotency key was used for another request",
            Self::IdempotencyKeyInFlight => "A request with this idempotency key is in progress",
            Self::PayloadTooLarge => "The request body is too large",
            Self::UnsupportedMediaType => "Unsupported content type",
            Self::CursorExpired => "The cursor is older than the kept changes",
            Self::ServiceUnavailable => "The service is temporarily unavailable",
            Self::Internal => "Internal server error",
        }
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The problem type: a relative reference to the page that describes the code.
    pub fn type_uri(self) -> String {
        format!("/problems/{}", self.as_str())
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
    "type": "/problems/validation_failed",
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
    /// With `cursor_expired`: the cursor to follow the feed from, after reloading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// With `forbidden`: the scope an API key needs for this request.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "write")]
    pub required_scope: Option<&'static str>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{} invalid", plural(.0.len(), "field is", "fields are"))]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    Malformed(String),
    #[error("missing, malformed, unknown, revoked or expired API key")]
    Unauthorized,
    /// A key's scope is short of what the request needs (`needed`: the scope's name; this layer
    /// renders it, `auth` decides it).
    #[error("this request needs an API key with the `{needed}` scope")]
    Forbidden { needed: &'static str },
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
    #[error("{}", not_claimant(.holder))]
    NotClaimant { holder: Option<String> },
    #[error("the resource changed since it was read (If-Match names no current ETag)")]
    PreconditionFailed,
    #[error("this Idempotency-Key was used for another request (method, path or body differ)")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still running; retry after it")]
    IdempotencyKeyInFlight,
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
    #[error("changes after this cursor were pruned; reload, then follow from `cursor`")]
    CursorExpired { cursor: String },
    #[error("this replica serves its maximum of event streams; retry on another")]
    TooManyStreams,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

fn not_claimant(holder: &Option<String>) -> String {
    match holder {
        Some(holder) => format!("the task's claim is held by `{holder}`"),
        None => "the task is not claimed (its claim was released or cleared)".to_owned(),
    }
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
            Self::Forbidden { .. } => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::UnknownReference(_) => ErrorCode::ReferenceNotFound,
            Self::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::StatusMismatch { .. } => ErrorCode::StatusMismatch,
            Self::NotClaimant { .. } => ErrorCode::NotClaimant,
            Self::PreconditionFailed => ErrorCode::PreconditionFailed,
            Self::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
            Self::IdempotencyKeyInFlight => ErrorCode::IdempotencyKeyInFlight,
            Self::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            Self::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            Self::CursorExpired { .. } => ErrorCode::CursorExpired,
            Self::Unavailable
            | Self::DatabaseUnavailable(_)
            | Self::ShuttingDown
            | Self::TooManyStreams => ErrorCode::ServiceUnavailable,
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
            cursor: match self {
                Self::CursorExpired { cursor } => Some(cursor.clone()),
                _ => None,
            },
            required_scope: match self {
                Self::Forbidden { needed } => Some(*needed),
                _ => None,
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
            Self::Unavailable
            | Self::DatabaseUnavailable(_)
            | Self::ShuttingDown
            | Self::TooManyStreams
            | Self::IdempotencyKeyInFlight => {
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

mod database;
pub use database::Reference;
