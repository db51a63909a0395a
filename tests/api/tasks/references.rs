//! A task's milestone and parent must be of its project (409 naming the field otherwise), and
//! a task can be neither its own parent nor its ancestor's.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, body, pointers, spawn_app};

#[tokio::test]
async fn a_milestone_or_parent_outside_the_project_is_a_409_naming_the_field() {
    let app = spawn_app().await;
    let (p1, p2) = (
        app.create_project("one").await,
        app.create_project("two").await,
    );
    let milestone = body(
        app.post(
            &format!("/projects/{p2}/milestones"),
            &json!({"name": "M", "slug": "m"}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    let (status, problem) = app
        .create_task(p1, json!({"title": "T", "milestone_id": milestone["id"]}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "reference_not_found");
    assert_eq!(pointers(&problem), vec!["/milestone_id"]);
    let (status, problem) = app
        .create_task(p1, json!({"title": "T", "parent_task_id": 424242}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(pointers(&problem), vec!["/parent_task_id"]);
    let (status, _) = app
        .create_task(p2, json!({"title": "T", "milestone_id": milestone["id"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_task_cannot_become_its_own_parent_or_ancestor() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (_, root) = app.create_task(project, json!({"title": "root"})).await;
    let (status, child) = app
        .create_task(
            project,
            json!({"title": "child", "parent_task_id": root["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let root_path = format!("/projects/{project}/tasks/{}", root["id"]);
    for parent in [&root["id"], &child["id"]] {
        let response = app
            .patch(&root_path, &json!({"parent_task_id": parent}))
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, StatusCode::CONFLICT).await;
        assert!(problem["detail"].as_str().unwrap().contains("ancestor"));
    }
    // Deleting the parent keeps the child, detached.
    app.delete(&root_path).send().await.unwrap();
    let child_path = format!("/projects/{project}/tasks/{}", child["id"]);
    let child = body(app.get(&child_path).send().await.unwrap()).await;
    assert_eq!(child["parent_task_id"], Value::Null);
}
