//! The pages that problem `type`s point at: `/problems/{code}`, one short human-readable page
//! per stable error code, served by every deployment (so the reference never points at a
//! domain the operator does not control).

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use utoipa::IntoParams;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::routes::responses as r;

/// What the code means, and what a client should do about it.
fn explanation(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::ValidationFailed => {
            "A field of the body, a query or path parameter or a header breaks a rule. Each is \
             listed in <code>errors</code> with a JSON pointer (<code>/tasks/3/title</code>, \
             <code>/query/limit</code>, <code>/header/If-Match</code>) and what is wrong. Fix \
             the request; retrying it unchanged gives the same answer."
        }
        ErrorCode::MalformedRequest => {
            "The request could not be read: the body is not JSON, or a parameter could not be \
             parsed at all. Fix the request."
        }
        ErrorCode::Unauthorized => {
            "No API key was sent (<code>Authorization: Bearer tdk_…</code>), or the key is \
             malformed, unknown, revoked or expired. On the event streams, the stream token is \
             missing, expired or for another project. Ask the operator for a key \
             (<code>taskdash key create</code>)."
        }
        ErrorCode::Forbidden => {
            "The API key is valid but its scope does not allow the request: a <code>read</code> \
             key may only read (GET, event streams, stream tokens). <code>required_scope</code> \
             names the scope needed; use a <code>write</code> key for this request."
        }
        ErrorCode::NotFound => {
            "There is no such resource for this tenant (another tenant's resources look exactly \
             the same), or no such route."
        }
        ErrorCode::ReferenceNotFound => {
            "An id in the body (a milestone, a parent task) names nothing in the project; each \
             is listed in <code>errors</code> by its pointer. Create it first, or fix the id."
        }
        ErrorCode::MethodNotAllowed => {
            "The path exists but does not take this method; the <code>Allow</code> header lists \
             those it takes."
        }
        ErrorCode::Conflict => {
            "The request conflicts with the stored state: a slug, URL or sequence already in \
             use, or a parent that would make a task its own ancestor. Read the current state \
             and decide."
        }
        ErrorCode::StatusMismatch => {
            "<code>expected_status</code> differs from the resource's current status: another \
             worker got there first. Re-read, then decide."
        }
        ErrorCode::NotClaimant => {
            "The task's claim is not held by the <code>worker_id</code> sent: another worker              claimed it after this one's lease lapsed, or it was released or finished. Stop              working on it; claim another task."
        }
        ErrorCode::IdempotencyKeyReused => {
            "This <code>Idempotency-Key</code> was used for another request (another method,              path or body). A key names one request: send a new key with a new request."
        }
        ErrorCode::IdempotencyKeyInFlight => {
            "The first request with this <code>Idempotency-Key</code> is still running. Retry              after <code>Retry-After</code>: you then get its answer."
        }
        ErrorCode::PreconditionFailed => {
            "<code>If-Match</code> names no current version of the resource (a stale, weak or \
             foreign entity tag): someone changed it since it was read. Re-read it, then retry \
             with its new <code>ETag</code>."
        }
        ErrorCode::PayloadTooLarge => {
            "The body exceeds the server's configured limit (<code>--max-body-bytes</code>, or \
             <code>--max-artifact-bytes</code> for artifact content). Send less."
        }
        ErrorCode::UnsupportedMediaType => {
            "The body is not sent with a content type this route reads: JSON bodies need \
             <code>Content-Type: application/json</code>."
        }
        ErrorCode::CursorExpired => {
            "The change-feed cursor is older than the kept change log, so changes after it may \
             have been pruned. Reload what you show, then follow the feed from the \
             <code>cursor</code> in the answer."
        }
        ErrorCode::ServiceUnavailable => {
            "The server cannot answer right now: the database is unreachable or busy, the \
             replica is shutting down, or it serves its maximum of event streams. Retry after \
             <code>Retry-After</code> seconds; a load balancer may send the retry elsewhere."
        }
        ErrorCode::Internal => {
            "An unexpected failure in the server. It has been logged in full (find it by the \
             answer's <code>X-Request-Id</code>); the answer says nothing of internals."
        }
    }
}

#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProblemPath {
    /// An error code, as in a problem's `code`.
    #[param(value_type = ErrorCode)]
    pub code: String,
}

/// The page describing an error code: what it means and what to do. Every problem's `type` is
/// this page's URI, relative to the API (`/problems/not_found`).
#[utoipa::path(
    operation_id = "get_problem_type",
    tag = "operations",
    params(ProblemPath),
    responses(
        (status = 200, description = "A short HTML page", content_type = "text/html", body = String),
        (status = 404, response = r::NotFound),
    ),
    security(())
)]
#[get("/problems/{code}")]
pub async fn get(path: web::Path<ProblemPath>) -> ApiResult<HttpResponse> {
    let code: ErrorCode = path
        .code
        .parse()
        .map_err(|_| ApiError::NotFound("problem type"))?;
    let (name, title, status) = (code.as_str(), code.title(), code.status());
    let page = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">\
         <title>{name} — taskdash</title></head>\n<body>\n<h1>{title}</h1>\n\
         <p>Code <code>{name}</code>, HTTP status {status}.</p>\n<p>{}</p>\n\
         <p>Every error of the API is an RFC 9457 <code>application/problem+json</code> \
         document whose <code>type</code> is this page and whose <code>code</code> is \
         <code>{name}</code>. See <a href=\"/docs/\">the API documentation</a>.</p>\n\
         </body>\n</html>\n",
        explanation(code)
    );
    Ok(HttpResponse::Ok()
        .content_type(mime::TEXT_HTML_UTF_8)
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(page))
}
