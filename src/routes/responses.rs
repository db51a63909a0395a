//! Reusable OpenAPI descriptions of the error answers, referenced from every `#[utoipa::path]`.
//! All share the [`Problem`] schema and the `application/problem+json` media type.
//!
//! Two groups are declared once and mixed into a handler's own responses:
//! `responses((status = 200, …), AuthenticatedErrors, BodyErrors)`.

use std::collections::BTreeMap;

use utoipa::openapi::{Ref, RefOr, Response};
use utoipa::{IntoResponses, ToResponse};

use crate::error::Problem;

/// A field is invalid (each is listed in `errors` with its JSON pointer), or the request could
/// not be read (malformed JSON, a bad path or query parameter).
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({
        "type": "/problems/validation_failed",
        "title": "The request has invalid fields", "status": 400, "detail": "1 field is invalid",
        "code": "validation_failed",
        "errors": [{"pointer": "/title", "detail": "must be 1 to 500 characters"}]
    })
)]
pub struct BadRequest(pub Problem);

/// No `Authorization: Bearer <api key>` header, or the key is unknown or revoked.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"taskdash\"`")),
    example = json!({
        "type": "/problems/unauthorized", "title": "A valid API key is required",
        "status": 401, "detail": "missing, malformed, unknown or revoked API key",
        "code": "unauthorized"
    })
)]
pub struct Unauthorized(pub Problem);

/// The API key's scope does not allow the request: a `read` key on a route that writes.
/// `required_scope` names the scope needed.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({
        "type": "/problems/forbidden",
        "title": "The API key's scope does not allow this request", "status": 403,
        "detail": "this request needs an API key with the `write` scope",
        "code": "forbidden", "required_scope": "write"
    })
)]
pub struct Forbidden(pub Problem);

/// No such resource for this tenant (another tenant's resources are reported the same way).
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({
        "type": "/problems/not_found", "title": "Not found", "status": 404,
        "detail": "project not found", "code": "not_found"
    })
)]
pub struct NotFound(pub Problem);

/// The change conflicts with the stored state: a slug in use (`conflict`), `expected_status`
/// differs (`status_mismatch`), an id in the body (`milestone_id`, `parent_task_id`,
/// `depends_on`) names nothing in the project (`reference_not_found`, with a pointer to each
/// such id), a parent or dependency would make the task its own ancestor or make it wait for
/// itself (`conflict`), another worker holds the task's claim (`not_claimant`), or the first
/// request with this `Idempotency-Key` is still running (`idempotency_key_in_flight`).
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({
        "type": "/problems/status_mismatch",
        "title": "The task's status is not the expected one", "status": 409,
        "detail": "the task's status is `in_progress`, not the expected `open`",
        "code": "status_mismatch"
    })
)]
pub struct Conflict(pub Problem);

/// Another worker holds the task's claim, or nobody does any more (it lapsed and was claimed
/// again, was released, or a status change cleared it): `not_claimant`.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({
        "type": "/problems/not_claimant",
        "title": "Another worker holds the task's claim", "status": 409,
        "detail": "the task's claim is held by `agent-9`", "code": "not_claimant"
    })
)]
pub struct NotClaimant(pub Problem);

/// The `Idempotency-Key` was used for another request (method, path or body differ): use a new
/// key for a new request.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({
        "type": "/problems/idempotency_key_reused",
        "title": "The idempotency key was used for another request", "status": 422,
        "detail": "this Idempotency-Key was used for another request (method, path or body differ)",
        "code": "idempotency_key_reused"
    })
)]
pub struct IdempotencyKeyReused(pub Problem);

/// The first request with this `Idempotency-Key` is still running: retry after `Retry-After`.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({
        "type": "/problems/idempotency_key_in_flight",
        "title": "A request with this idempotency key is in progress", "status": 409,
        "detail": "a request with this Idempotency-Key is still running; retry after it",
        "code": "idempotency_key_in_flight"
    })
)]
pub struct IdempotencyKeyInFlight(pub Problem);

/// `If-Match` names no current version (a stale, weak or foreign tag): re-read, then retry.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({
        "type": "/problems/precondition_failed",
        "title": "The resource changed since it was read", "status": 412,
        "detail": "the resource changed since it was read (If-Match names no current ETag)",
        "code": "precondition_failed"
    })
)]
pub struct PreconditionFailed(pub Problem);

/// The cursor is older than the kept changes (`--changes-retention`): changes after it may have
/// been pruned. Reload what the dashboard shows, then follow the feed from `cursor`.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({
        "type": "/problems/cursor_expired",
        "title": "The cursor is older than the kept changes", "status": 410,
        "detail": "changes after this cursor were pruned; reload, then follow from `cursor`",
        "code": "cursor_expired", "cursor": "7391-0"
    })
)]
pub struct CursorExpired(pub Problem);

/// The body exceeds the configured size limit.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({
        "type": "/problems/payload_too_large",
        "title": "The request body is too large", "status": 413,
        "detail": "the request body exceeds the configured limit", "code": "payload_too_large"
    })
)]
pub struct PayloadTooLarge(pub Problem);

/// The body is not sent as `application/json`.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({
        "type": "/problems/unsupported_media_type",
        "title": "Unsupported content type", "status": 415,
        "detail": "the body must be JSON, sent with `Content-Type: application/json`",
        "code": "unsupported_media_type"
    })
)]
pub struct UnsupportedMediaType(pub Problem);

/// An unexpected failure; details are in the server log, not in the answer.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({
        "type": "/problems/internal", "title": "Internal server error",
        "status": 500, "detail": "an unexpected error occurred; it has been logged",
        "code": "internal"
    })
)]
pub struct Internal(pub Problem);

/// The database cannot be reached right now; retry after the indicated delay.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Retry-After" = String, description = "Seconds to wait before retrying")),
    example = json!({
        "type": "/problems/service_unavailable",
        "title": "The service is temporarily unavailable", "status": 503,
        "detail": "the database is unavailable; retry shortly", "code": "service_unavailable"
    })
)]
pub struct Unavailable(pub Problem);

/// References to the named reusable responses, keyed by status.
fn refs(entries: &[(&str, &str)]) -> BTreeMap<String, RefOr<Response>> {
    entries
        .iter()
        .map(|(status, name)| (status.to_string(), Ref::from_response_name(*name).into()))
        .collect()
}

/// What every authenticated operation can answer: a bad path or query parameter (400), no
/// valid key (401), and the failures of the server (500, 503).
pub struct AuthenticatedErrors;

impl IntoResponses for AuthenticatedErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        refs(&[
            ("400", "BadRequest"),
            ("401", "Unauthorized"),
            ("500", "Internal"),
            ("503", "Unavailable"),
        ])
    }
}

/// What every operation with a JSON body can answer besides: too large (413), not JSON (415).
pub struct BodyErrors;

impl IntoResponses for BodyErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        refs(&[("413", "PayloadTooLarge"), ("415", "UnsupportedMediaType")])
    }
}

/// What every conditional read can answer besides: 304 when `If-None-Match` holds the current
/// `ETag`.
pub struct NotModified;

impl IntoResponses for NotModified {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let response = utoipa::openapi::ResponseBuilder::new()
            .description("The client's copy is current (`If-None-Match`): no body")
            .header(
                "ETag",
                utoipa::openapi::HeaderBuilder::new()
                    .schema(Some(
                        utoipa::openapi::ObjectBuilder::new()
                            .schema_type(utoipa::openapi::Type::String),
                    ))
                    .build(),
            )
            .build();
        BTreeMap::from([("304".to_owned(), response.into())])
    }
}
