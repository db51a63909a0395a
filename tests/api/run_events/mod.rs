//! Run events: idempotent single and batch writes, sequences given or assigned (also under
//! concurrent batches), the timeline in sequence order, validation, deletion with the run, the
//! change feed; and tenancy on every run and event route.
//!
//! `writes`: single and batch writes and their replays; `timeline`: listing by sequence;
//! `sequences`: assigned under concurrency, or given and clashing; `validation`: bad events;
//! `deletion`: events go with their run; `change_feed`: what run writes log; `tenancy`: another
//! tenant's view. The request helpers are those of `runs`.

mod change_feed;
mod deletion;
mod sequences;
mod tenancy;
mod timeline;
mod validation;
mod writes;

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::runs::create_run;

/// A project with one run: (project id, the run's events path).
async fn run_with_events_path(app: &TestApp) -> (i64, String) {
    let project = app.create_project("p").await;
    let (_, run) = create_run(app, project, json!({"workflow_type": "w"})).await;
    let path = format!("/projects/{project}/runs/{}/events", run["id"]);
    (project, path)
}

/// `n` events without sequence, with event_ids `{prefix}{i}`.
fn batch(prefix: &str, n: usize) -> Value {
    let event = |i| json!({"event_id": format!("{prefix}{i}"), "event_type": "t", "payload": i});
    let events: Vec<Value> = (0..n).map(event).collect();
    json!({ "events": events })
}

fn sequences(events: &Value) -> Vec<i64> {
    let events = events.as_array().unwrap();
    events
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect()
}

async fn event_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM run_events")
        .fetch_one(&mut *app.pool.acquire().await.unwrap())
        .await
        .unwrap()
}
