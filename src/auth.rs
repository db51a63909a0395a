//! API keys and the [`Tenant`] extractor: a handler that takes a `Tenant` argument is
//! authenticated and authorised, and every storage call it makes is scoped by that tenant's id.
//!
//! Keys look like `tdk_` + 64 hex digits (256 random bits). The prefix lets secret scanners
//! spot leaked keys; only the SHA-256 of the whole key is stored, so a key is shown once.
//!
//! A key has a scope (`read` or `write`) and may expire. Which scope a request needs is decided
//! in one place, [`scope::required_scope`], by the extractor every authenticated handler takes:
//! no handler checks it itself, and a new route needs `write` unless listed there.
//!
//! Lookups are cached per replica for `--auth-cache-secs`, so authentication costs no database
//! round trip on the hot path; that is also the bound on how long a revoked key keeps working.
//! Expiry is exact: the cached lookup carries the expiry, checked on every request.

mod cache;
pub mod scope;

pub use cache::KeyCache;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;

use crate::pool::Pool;
use sha2::{Digest, Sha256};

use crate::domain::{Name, Scope};
use crate::error::ApiError;
use crate::storage;
use crate::storage::tenants::NewKey;

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

/// What a new key may do, and until when.
#[derive(Clone, Debug)]
pub struct KeyOptions {
    pub scope: Scope,
    /// What the key is for (`board`), shown by `key list`.
    pub name: Option<Name>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Default for KeyOptions {
    /// A write key without name or expiry: what `tenant create` issues.
    fn default() -> Self {
        Self {
            scope: Scope::Write,
            name: None,
            expires_at: None,
        }
    }
}

/// What `tenant create` and `key create` print: the key's secret appears here and nowhere else.
#[derive(Debug, serde::Serialize)]
pub struct IssuedKey {
    pub tenant: storage::tenants::TenantRecord,
    pub api_key_id: i64,
    pub api_key: String,
    pub scope: Scope,
    pub name: Option<Name>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Characters of a key shown in listings: `tdk_` and 8 of its 64 hex digits (32 of 256 bits).
const SHOWN_PREFIX_CHARS: usize = KEY_PREFIX.len() + 8;

impl GeneratedKey {
    fn to_store<'a>(&'a self, options: &'a KeyOptions) -> NewKey<'a> {
        NewKey {
            hash: &self.hash,
            prefix: &self.secret[..SHOWN_PREFIX_CHARS],
            scope: options.scope,
            name: options.name.as_ref(),
            expires_at: options.expires_at,
        }
    }

    fn issued(self, stored: storage::tenants::StoredKey, options: KeyOptions) -> IssuedKey {
        IssuedKey {
            tenant: stored.tenant,
            api_key_id: stored.api_key_id,
            api_key: self.secret,
            scope: options.scope,
            name: options.name,
            expires_at: options.expires_at,
        }
    }
}

/// Creates a tenant and its first key (a write key); `None` if the name is taken.
pub async fn create_tenant(pool: &Pool, name: &str) -> sqlx::Result<Option<IssuedKey>> {
    let (key, options) = (generate_key(), KeyOptions::default());
    let stored = storage::tenants::create_tenant(pool, name, &key.to_store(&options)).await?;
    Ok(stored.map(|stored| key.issued(stored, options)))
}

/// Issues another key for an existing tenant; `None` if there is no such tenant.
pub async fn create_key(
    pool: &Pool,
    tenant_name: &str,
    options: KeyOptions,
) -> sqlx::Result<Option<IssuedKey>> {
    let key = generate_key();
    let stored = storage::tenants::create_key(pool, tenant_name, &key.to_store(&options)).await?;
    Ok(stored.map(|stored| key.issued(stored, options)))
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

/// The authenticated caller, allowed to make this request.
#[derive(Clone, Copy, Debug)]
pub struct Tenant {
    pub id: i64,
    /// The key the request came with.
    pub key_id: i64,
    pub scope: Scope,
}

impl FromRequest for Tenant {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(req).filter(|token| well_formed(token));
        let pool = req.app_data::<web::Data<Pool>>().cloned();
        let cache = req.app_data::<web::Data<KeyCache>>().cloned();
        let route = req.match_pattern().unwrap_or_else(|| req.path().to_owned());
        let needed = scope::required_scope(req.method(), &route);
        Box::pin(async move {
            let (Some(token), Some(pool), Some(cache)) = (token, pool, cache) else {
                return Err(ApiError::Unauthorized);
            };
            let key = cache
                .key_for(&pool, hash_key(&token))
                .await?
                .filter(|key| key.expires_at.is_none_or(|at| at > Utc::now()))
                .ok_or(ApiError::Unauthorized)?;
            tracing::Span::current().record("tenant_id", key.tenant_id);
            cache.note_use(Pool::clone(&pool), key.id).await;
            if !key.scope.allows(needed) {
                return Err(ApiError::Forbidden {
                    needed: needed.as_str(),
                });
            }
            Ok(Tenant {
                id: key.tenant_id,
                key_id: key.id,
                scope: key.scope,
            })
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
