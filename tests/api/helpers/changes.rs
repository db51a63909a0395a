//! The change feed from a test's side: waiting until the log is visible to readers, reading a
//! page of changes, and what a change id and a sequence of changes say.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::{TestApp, body};

/// Change-feed tests that hold a transaction open take this for writing: while they do, every
/// feed of the cluster is held back (see the changes migration), so the tests whose timing
/// matters take it for reading.
pub static HORIZON: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

impl TestApp {
    /// Waits until every change in the log is visible to the feed's readers: the cluster is
    /// shared with parallel tests, and any of their running transactions holds the feed back.
    pub async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !self.settled_now().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "changes still held back after 10 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Whether every change in the log is visible to the feed's readers now.
    pub async fn settled_now(&self) -> bool {
        sqlx::query_scalar(
            "SELECT NOT EXISTS (SELECT 1 FROM changes
                                WHERE xid >= pg_snapshot_xmin(pg_current_snapshot()))",
        )
        .fetch_one(&mut *self.pool.acquire().await.unwrap())
        .await
        .unwrap()
    }

    /// One page of a changes route (`/changes` or `/projects/{id}/changes`): its changes and
    /// its `next_cursor`.
    pub async fn changes(&self, path: &str, after: Option<&str>) -> (Vec<Value>, String) {
        let url = match after {
            Some(after) => format!("{path}?limit=1000&after={after}"),
            None => format!("{path}?limit=1000"),
        };
        let response = self.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path} after {after:?}");
        let mut page = body(response).await;
        let next = page["next_cursor"].as_str().unwrap().to_owned();
        (serde_json::from_value(page["data"].take()).unwrap(), next)
    }

    /// Once the log has settled, every change after `after` (all of them, from one page).
    pub async fn settled_changes(&self, path: &str, after: Option<&str>) -> (Vec<Value>, String) {
        self.settle().await;
        self.changes(path, after).await
    }
}

/// Where a change id (`<xid>-<seq>`) sorts.
pub fn position(id: &Value) -> (u64, u64) {
    let (xid, seq) = id.as_str().unwrap().split_once('-').unwrap();
    (xid.parse().unwrap(), seq.parse().unwrap())
}

/// `(type, resource_id)` of each change: what a sequence of changes says happened.
pub fn kinds(changes: &[Value]) -> Vec<(String, i64)> {
    changes
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap().to_owned(),
                c["resource_id"].as_i64().unwrap(),
            )
        })
        .collect()
}
