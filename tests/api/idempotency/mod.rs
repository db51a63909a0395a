//! `Idempotency-Key`: a retry under the same key gets the first response again and writes
//! nothing twice, on every create and action.
//!
//! `replays`: what a retry gets, route by route and for a plan; `keys`: what a key is (its
//! syntax, one request per key, its lifetime, its CORS); `failures`: a failed attempt leaves the
//! key free and is explained as without a key; `concurrency`: a key whose first request still
//! runs, and many requests racing with one key; `task_creation`: the one-statement path a task
//! creation under a key takes.

mod concurrency;
mod failures;
mod keys;
mod replays;
mod task_creation;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{TestApp, body};

fn keyed(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: &Value,
) -> reqwest::RequestBuilder {
    app.client
        .request(method, app.url(path))
        .bearer_auth(&app.api_key)
        .header("Idempotency-Key", format!("\"{key}\""))
        .json(body)
}

async fn send(request: reqwest::RequestBuilder) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, body(response).await)
}

async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(&mut *app.pool.acquire().await.unwrap())
        .await
        .unwrap()
}
