//! Per-replica memory of API keys: recent lookups (so authentication costs no database round
//! trip on the hot path), and when each key's use was last recorded (so `last_used_at` costs a
//! write every few minutes per key, never one per request).

use std::sync::Arc;
use std::time::Duration;

use crate::error::ApiError;
use crate::pool::Pool;
use crate::storage;
use crate::storage::tenants::ActiveKey;

/// How precise `last_used_at` is: each replica records a key's use at most this often.
pub const USE_GRANULARITY: Duration = Duration::from_secs(300);

/// Recent key lookups (hash → the active key, or `None` for no such active key), shared by a
/// replica's workers. Concurrent lookups of one key share one query.
#[derive(Clone)]
pub struct KeyCache {
    lookups: Option<moka::future::Cache<Vec<u8>, Option<ActiveKey>>>,
    /// Keys whose use this replica recorded within the last [`USE_GRANULARITY`].
    recorded: moka::future::Cache<i64, ()>,
}

impl KeyCache {
    /// `ttl` zero disables caching lookups: every request checks its key in the database.
    pub fn new(ttl: Duration) -> Self {
        let lookups = (!ttl.is_zero()).then(|| {
            moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build()
        });
        let recorded = moka::future::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(USE_GRANULARITY)
            .build();
        Self { lookups, recorded }
    }

    pub(super) async fn key_for(
        &self,
        pool: &Pool,
        hash: Vec<u8>,
    ) -> Result<Option<ActiveKey>, ApiError> {
        let Some(lookups) = &self.lookups else {
            return Ok(storage::tenants::active_key(pool, &hash).await?);
        };
        lookups
            .try_get_with(hash.clone(), storage::tenants::active_key(pool, &hash))
            .await
            .map_err(|error: Arc<sqlx::Error>| {
                tracing::warn!(error = %error, "API key lookup failed");
                ApiError::Unavailable
            })
    }

    /// Records that the key was used, in the background and only when this replica has not
    /// done so within [`USE_GRANULARITY`]: the request never waits for it, and a failure only
    /// leaves `last_used_at` a little older.
    pub(super) async fn note_use(&self, pool: Pool, key_id: i64) {
        if !self.first_use_in_a_while(key_id).await {
            return;
        }
        actix_web::rt::spawn(async move {
            if let Err(error) = storage::tenants::record_use(&pool, key_id, USE_GRANULARITY).await {
                tracing::warn!(error = %error, key_id, "recording an API key's use failed");
            }
        });
    }

    /// Whether this replica has not seen the key for [`USE_GRANULARITY`] (and now has).
    async fn first_use_in_a_while(&self, key_id: i64) -> bool {
        self.recorded.entry(key_id).or_insert(()).await.is_fresh()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_keys_use_is_recorded_once_per_interval_not_once_per_request() {
        let cache = KeyCache::new(Duration::ZERO);
        assert!(cache.first_use_in_a_while(1).await);
        for _ in 0..100 {
            assert!(!cache.first_use_in_a_while(1).await);
        }
        assert!(cache.first_use_in_a_while(2).await);
    }
}
