//! Workflow runs: idempotent creation, validation, the list, conditional writes, deletion,
//! tasks naming their run and the summary's run counts. Also the helpers of `run_events`.
//!
//! `creation`: idempotent by external id (also racing on two servers), metadata as sent;
//! `validation`: bad runs; `updates`: conditional PATCH and DELETE; `listing`: pages, filters
//! and tags of the list; `task_links`: tasks naming a run; `summary`: the summary's run counts.

mod creation;
mod listing;
mod summary;
mod task_links;
mod updates;
mod validation;

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, body, pointers};

pub const OK: StatusCode = StatusCode::OK;
pub const CREATED: StatusCode = StatusCode::CREATED;
pub const GONE: StatusCode = StatusCode::NO_CONTENT;
pub const BAD: StatusCode = StatusCode::BAD_REQUEST;
pub const MISSING: StatusCode = StatusCode::NOT_FOUND;
pub const STALE: StatusCode = StatusCode::PRECONDITION_FAILED;
pub const CONFLICT: StatusCode = StatusCode::CONFLICT;

/// Sends a request: its status, headers and body.
pub async fn exchange(request: RequestBuilder) -> (StatusCode, HeaderMap, Value) {
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, body(response).await)
}

/// Sends a request: its status and body.
pub async fn send(request: RequestBuilder) -> (StatusCode, Value) {
    let (status, _, body) = exchange(request).await;
    (status, body)
}

/// Sends a request that must answer `status`: its body.
pub async fn expect(request: RequestBuilder, status: StatusCode) -> Value {
    let (answered, body) = send(request).await;
    assert_eq!(answered, status, "{body}");
    body
}

/// Sends a request that must answer a problem with `status`: its pointers.
pub async fn refused(request: RequestBuilder, status: StatusCode) -> Vec<String> {
    pointers(&assert_problem(request.send().await.unwrap(), status).await)
}

pub async fn create_run(app: &TestApp, project: i64, run: Value) -> (StatusCode, Value) {
    send(app.post(&format!("/projects/{project}/runs"), &run)).await
}

async fn run_count(app: &TestApp, project: i64) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM runs WHERE project_id = $1")
        .bind(project)
        .fetch_one(&mut *app.pool.acquire().await.unwrap())
        .await
        .unwrap()
}

/// A valid run body with one field set.
fn run_with(field: &str, value: Value) -> Value {
    let mut run = json!({"workflow_type": "w"});
    run[field] = value;
    run
}
