//! Creating a task: 201 with `Location` and `ETag` and the stored task; 404 in a project that
//! does not exist.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, body, spawn_app};

#[tokio::test]
async fn a_new_external_id_creates_the_task_with_201_location_and_etag() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let response = app
        .post(
            &format!("/projects/{project}/tasks"),
            &json!({"title": "Write docs", "external_id": "wf-1:create_tasks:0", "priority_score": 7,
                    "labels": ["docs", "docs", "backend"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(response.headers()["etag"], "\"1\"");
    assert!(response.headers().get("idempotent-replayed").is_none());
    let task = body(response).await;
    assert_eq!(
        location,
        format!("/projects/{project}/tasks/{}", task["id"])
    );
    assert_eq!(task["title"], "Write docs");
    assert_eq!(task["status"], "open");
    assert_eq!(task["priority_score"], 7);
    assert_eq!(task["labels"], json!(["docs", "backend"]));
    assert_eq!(task["completed_at"], Value::Null);

    let fetched = body(app.get(&location).send().await.unwrap()).await;
    assert_eq!(fetched, task);
}

#[tokio::test]
async fn creating_in_a_project_that_does_not_exist_is_404() {
    let app = spawn_app().await;
    for task in [
        json!({"title": "T"}),
        json!({"title": "T", "external_id": "k"}),
    ] {
        let response = app
            .post("/projects/4242/tasks", &task)
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::NOT_FOUND).await;
    }
}
