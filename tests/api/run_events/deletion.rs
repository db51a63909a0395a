//! Deleting a run deletes its events, and only its own.

use serde_json::json;

use super::{batch, event_count, run_with_events_path, sequences};
use crate::helpers::spawn_app;
use crate::runs::{CREATED, GONE, MISSING, OK, create_run, expect, refused};

#[tokio::test]
async fn deleting_a_run_deletes_its_events() {
    let app = spawn_app().await;
    let (project, path) = run_with_events_path(&app).await;
    let (_, other) = create_run(&app, project, json!({"workflow_type": "w"})).await;
    let other_path = format!("/projects/{project}/runs/{}/events", other["id"]);
    expect(app.post(&path, &batch("e", 2)), CREATED).await;
    expect(app.post(&other_path, &batch("e", 2)), CREATED).await;
    let run_path = path.trim_end_matches("/events");
    expect(app.delete(run_path), GONE).await;
    // Only the other run's events are left.
    assert_eq!(event_count(&app).await, 2);
    refused(app.get(&path), MISSING).await;
    let left = expect(app.get(&other_path), OK).await;
    assert_eq!(sequences(&left["data"]), [1, 2]);
}
