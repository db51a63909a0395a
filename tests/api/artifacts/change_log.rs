//! What artifact writes log: the metadata the API returned, once per real change, in order; and
//! the change feed serves the same.

use serde_json::Value;

use super::{logged_as, project_with_task, put, served};
use crate::helpers::{TestApp, body, spawn_app};

/// Writes every kind of artifact change; the (type, artifact id, data) each must log, in order:
/// the data as the API answered the write. An identical upload logs nothing.
async fn artifact_writes(app: &TestApp) -> (i64, Vec<(String, i64, Value)>) {
    let (project, task) = project_with_task(app).await;
    let of_project = format!("/projects/{project}/artifacts/plan?iteration=0");
    let created = body(put(app, &of_project, None, b"v1").await).await;
    put(app, &of_project, None, b"v1").await;
    let replaced = body(put(app, &of_project, None, b"v2").await).await;
    app.delete(&of_project).send().await.unwrap();
    let of_task = format!("/projects/{project}/tasks/{task}/artifacts/summary");
    let of_task = body(put(app, &of_task, Some("text/plain"), b"s").await).await;
    app.delete(&format!("/projects/{project}/tasks/{task}"))
        .send()
        .await
        .unwrap();
    let [id, task_artifact] = [&created, &of_task].map(|a| a["id"].as_i64().unwrap());
    let change = |kind: &str, id, data| (kind.to_owned(), id, data);
    let expected = vec![
        change("artifact.created", id, created),
        change("artifact.updated", id, replaced),
        change("artifact.deleted", id, Value::Null),
        change("artifact.created", task_artifact, of_task),
        change("artifact.deleted", task_artifact, Value::Null),
    ];
    (project, expected)
}

#[tokio::test]
async fn every_artifact_write_logs_the_metadata_the_api_returned_and_nothing_else() {
    let app = spawn_app().await;
    let (project, expected) = artifact_writes(&app).await;
    let logged = logged_as::<taskdash::domain::Artifact>(&app, project, "artifact.").await;
    assert_eq!(logged, expected);
}

#[tokio::test]
async fn the_change_feed_serves_artifact_changes_with_their_metadata() {
    let app = spawn_app().await;
    let (project, expected) = artifact_writes(&app).await;
    assert_eq!(served(&app, project, "artifact.").await, expected);
}
