//! Conditional GETs: every read of project data carries an `ETag`, and `If-None-Match` with the
//! current one is answered 304 with no body.
//!
//! Reads of a project's data (a page, a milestone, the summary) are tagged with the project's
//! data version (`storage::projects::data_version`, which every write bumps) and the URL, so a
//! 304 needs one small query and never builds the answer. A task is tagged with its own version,
//! the same `ETag` that `If-Match` takes.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};
use crate::extract::IfNoneMatch;
use crate::pool::Pool;
use crate::storage;

/// Per-tenant data: a browser may keep it (`private`; shared caches must not) but must ask
/// again every time (`no-cache`), which costs a 304 when nothing changed. Everything without
/// an `ETag` stays `no-store`.
const REVALIDATE: &str = "private, no-cache";

/// The tag of a read of project data at `version`: the URL is part of it (two pages of one
/// project differ), and so is the server's version (an upgrade may change the answer's shape).
pub fn data_etag(version: i64, req: &HttpRequest) -> String {
    let mut hash = Sha256::new();
    hash.update(env!("CARGO_PKG_VERSION"));
    hash.update(req.uri().to_string());
    let digest = hash.finalize();
    format!("W/\"{version}-{}\"", hex::encode(&digest[..8]))
}

/// The tag of an answer computed from its bytes (reads that have no version to go by).
pub fn body_etag(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(body)[..12]))
}

/// 304 when the client already holds `etag`.
pub fn not_modified(if_none_match: &IfNoneMatch, etag: &str) -> Option<HttpResponse> {
    if_none_match
        .matches(etag)
        .then(|| revalidated(HttpResponse::NotModified(), etag).finish())
}

/// A 200 with `body`, its `ETag` and the caching that lets clients revalidate.
pub fn tagged<T: Serialize>(etag: &str, body: &T) -> HttpResponse {
    revalidated(HttpResponse::Ok(), etag).json(body)
}

fn revalidated(mut response: HttpResponseBuilder, etag: &str) -> HttpResponseBuilder {
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, REVALIDATE))
        .insert_header((header::VARY, HeaderValue::from_static("Authorization")));
    response
}

/// For reads of project data, which tag their answer from their own statement: the 304 when
/// the client holds the current tag (one small query for the version); `None` when it holds
/// none or an old one (then read). 404 when the tenant has no such project.
pub async fn not_modified_project(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    req: &HttpRequest,
    if_none_match: &IfNoneMatch,
) -> ApiResult<Option<HttpResponse>> {
    if !if_none_match.is_present() {
        return Ok(None);
    }
    let version = storage::projects::data_version(pool, tenant_id, project_id)
        .await?
        .ok_or(ApiError::NotFound("project"))?;
    Ok(not_modified(if_none_match, &data_etag(version, req)))
}

/// Like [`not_modified_project`], for a read of one resource inside the project (a milestone,
/// a repository, a task's artifacts), whose existence the project's version does not tell:
/// `If-None-Match: *` matches only a resource that exists (RFC 9110 §13.1.2), so it is left to
/// the read, which answers with [`tagged_unless_held`].
pub async fn not_modified_within_project(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    req: &HttpRequest,
    if_none_match: &IfNoneMatch,
) -> ApiResult<Option<HttpResponse>> {
    if if_none_match.is_any() {
        return Ok(None);
    }
    not_modified_project(pool, tenant_id, project_id, req, if_none_match).await
}

/// The answer of a read that found its resource: 304 when the client holds `etag` (or any, with
/// `*`), else [`tagged`].
pub fn tagged_unless_held<T: Serialize>(
    if_none_match: &IfNoneMatch,
    etag: &str,
    body: &T,
) -> HttpResponse {
    not_modified(if_none_match, etag).unwrap_or_else(|| tagged(etag, body))
}

/// Like [`tagged`], for an answer already serialised.
pub fn tagged_bytes(etag: &str, body: Vec<u8>) -> HttpResponse {
    revalidated(HttpResponse::Ok(), etag)
        .content_type(mime::APPLICATION_JSON)
        .body(body)
}
