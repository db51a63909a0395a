//! Changing a task: `completed_at` follows `done`, PATCH changes only the fields sent,
//! `expected_status` lets exactly one worker win, and a stale `If-Match` is 412.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, body, pointers, spawn_app};

#[tokio::test]
async fn becoming_done_sets_completed_at_and_leaving_done_clears_it() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (_, task) = app.create_task(project, json!({"title": "T"})).await;
    let path = format!("/projects/{project}/tasks/{}", task["id"]);
    let done = body(
        app.patch(&path, &json!({"status": "done"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(done["completed_at"].is_string());
    let still_done = body(
        app.patch(&path, &json!({"title": "T2"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(still_done["completed_at"], done["completed_at"]);
    let reopened = body(
        app.patch(&path, &json!({"status": "open"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reopened["completed_at"], Value::Null);
    let (_, created_done) = app
        .create_task(project, json!({"title": "D", "status": "done"}))
        .await;
    assert!(created_done["completed_at"].is_string());
}

#[tokio::test]
async fn patch_changes_only_the_fields_sent_and_null_clears() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (_, task) = app
        .create_task(
            project,
            json!({"title": "T", "description": "d", "labels": ["a"]}),
        )
        .await;
    let path = format!("/projects/{project}/tasks/{}", task["id"]);
    let updated = body(
        app.patch(&path, &json!({"description": null, "priority_score": 5}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(updated["description"], Value::Null);
    assert_eq!(updated["priority_score"], 5);
    assert_eq!(updated["title"], "T");
    assert_eq!(updated["labels"], json!(["a"]));
    assert_eq!(updated["version"], 2);
    let response = app
        .patch(&path, &json!({"title": ""}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(pointers(&problem), vec!["/title"]);
}

#[tokio::test]
async fn expected_status_lets_exactly_one_worker_claim_a_task() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (_, task) = app.create_task(project, json!({"title": "T"})).await;
    let path = format!("/projects/{project}/tasks/{}", task["id"]);
    let claim = json!({"status": "in_progress", "expected_status": "open"});
    let claims =
        futures_util::future::join_all((0..10).map(|_| app.patch(&path, &claim).send())).await;
    let mut statuses: Vec<u16> = claims
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    statuses.sort();
    assert_eq!(statuses, [vec![200], vec![409; 9]].concat());
    let response = app.patch(&path, &claim).send().await.unwrap();
    let problem = assert_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(problem["code"], "status_mismatch");
}

#[tokio::test]
async fn a_stale_if_match_is_412_on_patch_and_delete_and_changes_nothing() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (_, task) = app.create_task(project, json!({"title": "T"})).await;
    let path = format!("/projects/{project}/tasks/{}", task["id"]);
    let etag = app.get(&path).send().await.unwrap().headers()["etag"].clone();

    // Dashboard A saves with the ETag it read: fine, and the ETag moves on.
    let response = app
        .patch(&path, &json!({"title": "A"}))
        .header("if-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"2\"");
    // Dashboard B saves with the same, now stale, ETag: refused, A's change survives.
    let response = app
        .patch(&path, &json!({"title": "B"}))
        .header("if-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::PRECONDITION_FAILED).await;
    let response = app
        .delete(&path)
        .header("if-match", etag)
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::PRECONDITION_FAILED).await;
    assert_eq!(
        body(app.get(&path).send().await.unwrap()).await["title"],
        "A"
    );

    let response = app
        .delete(&path)
        .header("if-match", "\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_problem(app.get(&path).send().await.unwrap(), StatusCode::NOT_FOUND).await;
    assert_problem(
        app.delete(&path).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
}
