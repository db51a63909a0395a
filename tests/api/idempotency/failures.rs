//! Failures under a key: a failed first attempt does not take the key, and failures explained
//! after a failed statement in the key's transaction are 4xx as without a key.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{keyed, send};
use crate::helpers::{pointers, spawn_app};

#[tokio::test]
async fn a_failed_first_attempt_does_not_take_the_key() {
    let app = spawn_app().await;
    app.create_project("taken").await;
    // A validation failure, then a conflict: nothing committed, so the key stays free.
    let (status, _, _) = send(keyed(
        &app,
        Method::POST,
        "/projects",
        "k",
        &json!({"name": "x"}),
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = send(keyed(
        &app,
        Method::POST,
        "/projects",
        "k",
        &json!({"name": "x", "slug": "taken"}),
    ))
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, headers, _) = send(keyed(
        &app,
        Method::POST,
        "/projects",
        "k",
        &json!({"name": "x", "slug": "free"}),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(headers.get("idempotent-replayed").is_none());
}

/// Under a key the request runs in a transaction; a statement that fails there (a foreign key,
/// a taken sequence) must still let the cold path say why, and leave the key free.
#[tokio::test]
async fn failures_explained_after_a_failed_statement_are_4xx_under_a_key_too() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let path = format!("/projects/{project}/tasks:bulk");
    let bad = json!({"tasks": [{"title": "a"}, {"title": "b", "milestone_id": 999}]});
    let (status, _, problem) = send(keyed(&app, Method::POST, &path, "fk", &bad)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("reference_not_found"))
    );
    assert_eq!(pointers(&problem), ["/tasks/1/milestone_id"]);

    let (_, run) = crate::runs::create_run(&app, project, json!({"workflow_type": "w"})).await;
    let events = format!("/projects/{project}/runs/{}/events", run["id"]);
    let first = json!({"event_id": "e1", "event_type": "t", "sequence": 1});
    send(keyed(&app, Method::POST, &events, "seq-1", &first)).await;
    let taken = json!({"event_id": "e2", "event_type": "t", "sequence": 1});
    let (status, _, problem) = send(keyed(&app, Method::POST, &events, "seq-2", &taken)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );

    let good = json!({"tasks": [{"title": "a"}]});
    let (status, _, _) = send(keyed(&app, Method::POST, &path, "fk-2", &good)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(app.task_count(project).await, 1);
}
