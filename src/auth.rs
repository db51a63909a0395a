//! API keys and the [`Tenant`] extractor: a handler that takes a `Tenant` argument is
//! authenticated, and every storage call it makes is scoped by that tenant's id.
//!
//! Keys look like `tdk_` + 64 hex digits (256 random bits). The prefix lets secret scanners
//! spot leaked keys; only the SHA-256 of the whole key is stored, so a key is shown once.
//!
//! Lookups are cached per replica for `--auth-cache-secs`, so authentication costs no database
//! round trip on the hot path; that is also the bound on how long a revoked key keeps working.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use std::sync::Arc;
use std::time::Duration;

use crate::pool::Pool;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::storage;

const KEY_PREFIX: &str = "tdk_";
const SECRET_BYTES: usize = 32;

/// A freshly generated key: the secret to show once, and the hash to store.
struct GeneratedKey {
    secret: String,
    hash: Vec<u8>,
}

fn generate_key() -> GeneratedKey {
    let bytes: [u8; SECRET_BYTES] = rand::random();
    let secret = format!("{KEY_PREFIX}{}", hex::encode(bytes));
    let hash = hash_key(&secret);
    GeneratedKey { secret, hash }
}

/// What `tenant create` and `key create` print: the key's secret appears here and nowhere else.
#[derive(Debug, serde::Serialize)]
pub struct IssuedKey {
    pub tenant: storage::tenants::TenantRecord,
    pub api_key_id: i64,
    pub api_key: String,
}

impl IssuedKey {
    fn new(stored: storage::tenants::StoredKey, key: GeneratedKey) -> Self {
        Self {
            tenant: stored.tenant,
            api_key_id: stored.api_key_id,
            api_key: key.secret,
        }
    }
}

/// Creates a tenant and its first key; `None` if the name is taken.
pub async fn create_tenant(pool: &Pool, name: &str) -> sqlx::Result<Option<IssuedKey>> {
    let key = generate_key();
    let stored = storage::tenants::create_tenant(pool, name, &key.hash).await?;
    Ok(stored.map(|stored| IssuedKey::new(stored, key)))
}

/// Issues another key for an existing tenant; `None` if there is no such tenant.
pub async fn create_key(pool: &Pool, tenant_name: &str) -> sqlx::Result<Option<IssuedKey>> {
    let key = generate_key();
    let stored = storage::tenants::create_key(pool, tenant_name, &key.hash).await?;
    Ok(stored.map(|stored| IssuedKey::new(stored, key)))
}

pub fn hash_key(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Whether `token` has the shape of a key at all; malformed tokens are refused without a lookup.
fn well_formed(token: &str) -> bool {
    has_secret_after(token, KEY_PREFIX)
}

/// `prefix` then the hex digits of a secret.
fn has_secret_after(token: &str, prefix: &str) -> bool {
    token.strip_prefix(prefix).is_some_and(|hex| {
        hex.len() == SECRET_BYTES * 2 && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// Recent key lookups (hash → tenant, or `None` for no such active key), shared by a replica's
/// workers. Concurrent lookups of one key share one query.
#[derive(Clone)]
pub struct KeyCache {
    cache: Option<moka::future::Cache<Vec<u8>, Option<i64>>>,
}

impl KeyCache {
    /// `ttl` zero disables caching: every request checks its key in the database.
    pub fn new(ttl: Duration) -> Self {
        let cache = (!ttl.is_zero()).then(|| {
            moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build()
        });
        Self { cache }
    }

    async fn tenant_for(&self, pool: &Pool, hash: Vec<u8>) -> Result<Option<i64>, ApiError> {
        let Some(cache) = &self.cache else {
            return Ok(storage::tenants::tenant_for_key(pool, &hash).await?);
        };
        cache
            .try_get_with(hash.clone(), storage::tenants::tenant_for_key(pool, &hash))
            .await
            .map_err(|error: Arc<sqlx::Error>| {
                tracing::warn!(error = %error, "API key lookup failed");
                ApiError::Unavailable
            })
    }
}

/// The authenticated caller.
#[derive(Clone, Copy, Debug)]
pub struct Tenant {
    pub id: i64,
}

impl FromRequest for Tenant {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(req).filter(|token| well_formed(token));
        let pool = req.app_data::<web::Data<Pool>>().cloned();
        let cache = req.app_data::<web::Data<KeyCache>>().cloned();
        Box::pin(async move {
            let (Some(token), Some(pool), Some(cache)) = (token, pool, cache) else {
                return Err(ApiError::Unauthorized);
            };
            let tenant_id = cache
                .tenant_for(&pool, hash_key(&token))
                .await?
                .ok_or(ApiError::Unauthorized)?;
            tracing::Span::current().record("tenant_id", tenant_id);
            Ok(Tenant { id: tenant_id })
        })
    }
}

const STREAM_TOKEN_PREFIX: &str = "tds_";

/// A fresh stream token (`tds_` + 64 hex digits) and the hash to store.
pub fn generate_stream_token() -> (String, Vec<u8>) {
    let bytes: [u8; SECRET_BYTES] = rand::random();
    let token = format!("{STREAM_TOKEN_PREFIX}{}", hex::encode(bytes));
    let hash = hash_key(&token);
    (token, hash)
}

/// Who reads a change stream: a tenant with its API key (`Authorization`), or the holder of a
/// stream token (`?token=`, for browsers' `EventSource`, which cannot send headers), which may
/// be limited to one project. An API key is never accepted in a URL.
#[derive(Clone, Copy, Debug)]
pub struct StreamReader {
    pub tenant_id: i64,
    pub project_id: Option<i64>,
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

impl FromRequest for StreamReader {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if req.headers().contains_key(header::AUTHORIZATION) {
            let tenant = Tenant::from_request(req, payload);
            return Box::pin(async move {
                let tenant = tenant.await?;
                Ok(StreamReader {
                    tenant_id: tenant.id,
                    project_id: None,
                })
            });
        }
        let token = web::Query::<TokenQuery>::from_query(req.query_string())
            .ok()
            .and_then(|query| query.into_inner().token);
        let pool = req.app_data::<web::Data<Pool>>().cloned();
        Box::pin(async move {
            let (Some(token), Some(pool)) = (token, pool) else {
                return Err(ApiError::Unauthorized);
            };
            if !has_secret_after(&token, STREAM_TOKEN_PREFIX) {
                return Err(ApiError::Unauthorized);
            }
            let (tenant_id, project_id) = storage::stream_tokens::redeem(&pool, &hash_key(&token))
                .await?
                .ok_or(ApiError::Unauthorized)?;
            tracing::Span::current().record("tenant_id", tenant_id);
            Ok(StreamReader {
                tenant_id,
                project_id,
            })
        })
    }
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_well_formed_distinct_and_hash_to_what_is_stored() {
        let (a, b) = (generate_key(), generate_key());
        assert!(well_formed(&a.secret));
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.hash, hash_key(&a.secret));
        assert_eq!(a.hash.len(), 32);
    }

    #[test]
    fn malformed_tokens_are_refused_before_any_lookup() {
        for token in [
            "",
            "tdk_",
            "tdk_xyz",
            "abc",
            &format!("tdk_{}", "g".repeat(64)),
        ] {
            assert!(!well_formed(token), "{token:?}");
        }
    }
}
