//! Claims: `tasks:claim` hands out the most urgent open task under a lease, heartbeats keep it,
//! releases and status changes end it, `worker_id` guards the claimant's writes, and under
//! concurrency every task is claimed exactly once.
//!
//! `claiming`: what a claim takes and answers, its filters and refusals; `leases`: lapses,
//! heartbeats, releases and who may write; `listing`: list filters by claimant and
//! claimability; `concurrency`: many agents on three replicas.

mod claiming;
mod concurrency;
mod leases;
mod listing;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, body};

async fn claim(app: &TestApp, project: i64, request: Value) -> (StatusCode, Value) {
    let response = app
        .post(&format!("/projects/{project}/tasks:claim"), &request)
        .send()
        .await
        .unwrap();
    (response.status(), body(response).await)
}

async fn act(
    app: &TestApp,
    project: i64,
    task: &Value,
    action: &str,
    request: Value,
) -> reqwest::Response {
    app.post(
        &format!("/projects/{project}/tasks/{}:{action}", task["id"]),
        &request,
    )
    .send()
    .await
    .unwrap()
}
