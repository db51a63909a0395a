//! `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header) for every POST that creates
//! or acts: a retry of a request that carried a key gets the first response again, whatever
//! state the resource is in now.
//!
//! The key and its response are stored in the transaction of the request's effect, so a key is
//! taken exactly when the effect committed: a first attempt that failed (a 4xx, a 5xx, a lost
//! connection before the commit) leaves it free. Two requests with one key cannot both run the
//! effect: the first holds the key's lock until it commits (the second is told 409
//! `idempotency_key_in_flight`), and the stored row's primary key settles any race left.

use std::time::Duration;

use actix_web::body::to_bytes;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use utoipa::IntoParams;

use crate::error::{ApiError, ApiResult};
use crate::extract::{json_body, parse_json};
use crate::pool::{Connection, Pool, Transaction};
use crate::routes::REPLAYED;
use crate::routes::tasks::creation_answer;
use crate::storage::idempotency::{self, Lookup, NewKey, Stored, StoredResponse};

pub const HEADER: &str = "Idempotency-Key";

/// The response headers a replay repeats.
const KEPT_HEADERS: [HeaderName; 3] = [header::CONTENT_TYPE, header::LOCATION, header::ETAG];

/// How many times a request re-reads the key after another request with it committed first.
const ATTEMPTS: usize = 3;

/// How long keys are kept (`--idempotency-key-ttl`), as app data.
#[derive(Clone, Copy, Debug)]
pub struct KeyTtl(pub Duration);

impl Default for KeyTtl {
    fn default() -> Self {
        Self(Duration::from_secs(24 * 3600))
    }
}

/// The `Idempotency-Key` header, declared on every operation that honours it.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyKeyHeader {
    /// Makes the request safe to retry: a retry with the same key and the same request gets the
    /// first response again (with `Idempotent-Replayed: true`); the same key with another
    /// request is 422 `idempotency_key_reused`; while the first is still running, 409
    /// `idempotency_key_in_flight`. A structured-header string of 1 to 255 characters, such as
    /// `"8e03978e-40d5-43e8-bc93-6894a57f9324"`. Kept per tenant for `--idempotency-key-ttl`
    /// (24 h); only requests whose effect committed take a key.
    #[param(
        rename = "Idempotency-Key",
        nullable = false,
        pattern = r#"^"[\x20\x21\x23-\x5B\x5D-\x7E]{1,255}"$"#
    )]
    idempotency_key: Option<String>,
}

/// A request's key and the fingerprint of the request (method, path, body).
#[derive(Clone, Debug)]
pub struct Key {
    value: String,
    fingerprint: Vec<u8>,
    ttl: KeyTtl,
}

impl Key {
    /// The key as a statement that stores it takes it.
    pub fn as_new_key(&self) -> NewKey<'_> {
        NewKey {
            key: &self.value,
            fingerprint: &self.fingerprint,
            ttl: self.ttl.0,
        }
    }
}

/// A JSON body, with the request's `Idempotency-Key` (if any).
pub struct IdempotentJson<T> {
    pub body: T,
    pub key: Option<Key>,
}

impl<T: DeserializeOwned + 'static> FromRequest for IdempotentJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let key = parse_header(req);
        let ttl = req
            .app_data::<actix_web::web::Data<KeyTtl>>()
            .map(|ttl| *ttl.get_ref())
            .unwrap_or_default();
        let method = req.method().clone();
        let path = req.uri().path_and_query().map(|p| p.to_string());
        let body = json_body(req, payload);
        Box::pin(async move {
            let key = key?;
            let bytes = body.await?;
            let body = parse_json(&bytes)?;
            let key = key.map(|value| {
                let mut hash = Sha256::new();
                hash.update(method.as_str());
                hash.update([0]);
                hash.update(path.unwrap_or_default());
                hash.update([0]);
                hash.update(&bytes);
                Key {
                    value,
                    fingerprint: hash.finalize().to_vec(),
                    ttl,
                }
            });
            Ok(Self { body, key })
        })
    }
}

/// The header's string: one structured-header string (RFC 9651) of 1 to 255 characters.
fn parse_header(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let mut values = req.headers().get_all(HEADER);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let invalid = |detail: &str| ApiError::field(format!("/header/{HEADER}"), detail);
    if values.next().is_some() {
        return Err(invalid("must be sent once"));
    }
    let item: sfv::Item = sfv::Parser::new(value.as_bytes())
        .parse()
        .map_err(|_| invalid("must be a structured-header string, such as \"a1b2c3\""))?;
    let key = item
        .bare_item
        .as_string()
        .ok_or_else(|| invalid("must be a structured-header string, such as \"a1b2c3\""))?
        .as_str();
    if key.is_empty() || key.len() > 255 {
        return Err(invalid("must be 1 to 255 characters"));
    }
    Ok(Some(key.to_owned()))
}

/// Runs `effect` (with `input`) on a connection of `pool`: without a key, as it is; with one,
/// in a transaction that also stores its response (2xx only), or answers a retry with the
/// stored response instead.
pub async fn respond<D, F>(
    pool: &Pool,
    tenant_id: i64,
    key: Option<Key>,
    input: &D,
    effect: F,
) -> ApiResult<HttpResponse>
where
    D: ?Sized,
    F: for<'c> Fn(&'c mut Connection, &'c D) -> LocalBoxFuture<'c, ApiResult<HttpResponse>>,
{
    let mut connection = pool.acquire().await?;
    let Some(key) = key else {
        return effect(&mut connection, input).await;
    };
    for _ in 0..ATTEMPTS {
        let mut tx = Transaction::begin(&mut connection).await?;
        match idempotency::begin(&mut tx, tenant_id, &key.value).await? {
            Lookup::Free => {}
            Lookup::InFlight => {
                tx.rollback().await?;
                return Err(ApiError::IdempotencyKeyInFlight);
            }
            Lookup::Stored(stored) => {
                tx.rollback().await?;
                return answer_stored(stored, &key);
            }
        }
        let response = match effect(&mut tx, input).await {
            Ok(response) if response.status().is_success() => response,
            other => {
                tx.rollback().await?;
                return other;
            }
        };
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = KEPT_HEADERS
            .iter()
            .filter_map(|name| {
                let value = response.headers().get(name)?.to_str().ok()?;
                Some((name.as_str().to_owned(), value.to_owned()))
            })
            .chain(
                response
                    .headers()
                    .get(REPLAYED)
                    .map(|_| (REPLAYED.to_owned(), "true".to_owned())),
            )
            .collect();
        let body = to_bytes(response.into_body())
            .await
            .map_err(|error| anyhow::anyhow!("could not buffer a response: {error}"))?;
        let stored = idempotency::store(
            &mut tx,
            tenant_id,
            key.as_new_key(),
            status,
            &headers,
            &body,
        )
        .await?;
        if !stored {
            // Another request with this key committed since we looked: undo ours, answer theirs.
            tx.rollback().await?;
            continue;
        }
        tx.commit().await?;
        return Ok(rebuild(status, &headers, body.to_vec()));
    }
    Err(ApiError::IdempotencyKeyInFlight)
}

/// The answer to a request whose key holds a stored response: that response again, marked as
/// a replay, or 422 when the key was taken by another request.
pub fn answer_stored(stored: Stored, key: &Key) -> ApiResult<HttpResponse> {
    if stored.fingerprint != key.fingerprint {
        return Err(ApiError::IdempotencyKeyReused);
    }
    let status = stored.status as u16;
    let mut response = match stored.response {
        StoredResponse::Bytes { headers, body } => rebuild(status, &headers, body),
        StoredResponse::Task(task) => creation_answer(
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            &task,
        ),
    };
    response.headers_mut().insert(
        HeaderName::from_static("idempotent-replayed"),
        HeaderValue::from_static("true"),
    );
    Ok(response)
}

fn rebuild(status: u16, headers: &[(String, String)], body: Vec<u8>) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    for (name, value) in headers {
        response.insert_header((name.as_str(), value.as_str()));
    }
    if body.is_empty() && status == StatusCode::NO_CONTENT {
        return response.finish();
    }
    response.body(body)
}
