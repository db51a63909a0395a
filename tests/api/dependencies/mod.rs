//! Task dependencies: `depends_on` (by id) and `depends_on_external_ids` (within a bulk plan),
//! `blocked_by` kept exact, claims that wait for dependencies, and no cycles.
//!
//! `blocking`: a task waits until every dependency is done (also along a chain worked by many
//! agents); `references`: what a dependency may name; `cycles`: loops refused, also under
//! concurrent patches; `drift`: `blocked_by` equals a recount after concurrent writes.

mod blocking;
mod cycles;
mod drift;
mod references;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, body};

async fn claim(app: &TestApp, project: i64, worker: &str) -> Option<Value> {
    let response = app
        .post(
            &format!("/projects/{project}/tasks:claim"),
            &json!({"worker_id": worker}),
        )
        .send()
        .await
        .unwrap();
    match response.status() {
        StatusCode::NO_CONTENT => None,
        StatusCode::OK => Some(body(response).await),
        other => panic!("claim answered {other}"),
    }
}

async fn patch(app: &TestApp, project: i64, id: &Value, change: Value) -> reqwest::Response {
    app.patch(&format!("/projects/{project}/tasks/{id}"), &change)
        .send()
        .await
        .unwrap()
}

async fn get(app: &TestApp, project: i64, id: &Value) -> Value {
    body(
        app.get(&format!("/projects/{project}/tasks/{id}"))
            .send()
            .await
            .unwrap(),
    )
    .await
}
