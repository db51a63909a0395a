//! A claim's lease: it lapses (and the task is claimed again) unless heartbeats keep it; only
//! the holder may release it or write with its `worker_id`; any status change ends it.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{act, claim};
use crate::helpers::{assert_problem, body, spawn_app};

#[tokio::test]
async fn a_lapsed_lease_is_claimed_again_after_it_lapses_and_not_before() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    app.create_task(project, json!({"title": "t"})).await;
    let (_, first) = claim(
        &app,
        project,
        json!({"worker_id": "crashed", "lease_secs": 1}),
    )
    .await;
    let (status, _) = claim(&app, project, json!({"worker_id": "other"})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "the lease still runs");

    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (status, again) = claim(&app, project, json!({"worker_id": "other"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["claimed_by"], "other");

    // The crashed worker comes back: it holds nothing any more.
    let response = act(
        &app,
        project,
        &first,
        "heartbeat",
        json!({"worker_id": "crashed"}),
    )
    .await;
    let problem = assert_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(problem["code"], "not_claimant");
    assert!(problem["detail"].as_str().unwrap().contains("`other`"));
    let response = app
        .patch(
            &format!("/projects/{project}/tasks/{}", first["id"]),
            &json!({"status": "done", "worker_id": "crashed"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        assert_problem(response, StatusCode::CONFLICT).await["code"],
        "not_claimant"
    );
}

#[tokio::test]
async fn heartbeats_keep_a_claim_past_its_first_lease() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    app.create_task(project, json!({"title": "t"})).await;
    let (_, task) = claim(&app, project, json!({"worker_id": "a", "lease_secs": 1})).await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let response = act(
            &app,
            project,
            &task,
            "heartbeat",
            json!({"worker_id": "a", "lease_secs": 1}),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        let (status, _) = claim(&app, project, json!({"worker_id": "b"})).await;
        assert_eq!(
            status,
            StatusCode::NO_CONTENT,
            "a kept claim is not claimable"
        );
    }
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (status, _) = claim(&app, project, json!({"worker_id": "b"})).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "without heartbeats the lease lapses"
    );
}

#[tokio::test]
async fn a_release_by_the_holder_reopens_the_task_and_by_anyone_else_is_refused() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    app.create_task(project, json!({"title": "t"})).await;
    let (_, task) = claim(&app, project, json!({"worker_id": "a"})).await;
    let response = act(&app, project, &task, "release", json!({"worker_id": "b"})).await;
    assert_eq!(
        assert_problem(response, StatusCode::CONFLICT).await["code"],
        "not_claimant"
    );

    let response = act(&app, project, &task, "release", json!({"worker_id": "a"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let released = body(response).await;
    assert_eq!(released["status"], "open");
    assert_eq!(released["claimed_by"], Value::Null);
    assert_eq!(released["claim_expires_at"], Value::Null);
    let (status, again) = claim(&app, project, json!({"worker_id": "b"})).await;
    assert_eq!(
        (status, again["id"].clone()),
        (StatusCode::OK, task["id"].clone())
    );

    let missing = json!({"id": 999_999});
    let response = act(
        &app,
        project,
        &missing,
        "release",
        json!({"worker_id": "b"}),
    )
    .await;
    assert_problem(response, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_status_change_by_anyone_clears_the_claim_and_worker_id_guards_a_patch() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    app.create_task(project, json!({"title": "t"})).await;
    let (_, task) = claim(&app, project, json!({"worker_id": "a"})).await;
    let path = format!("/projects/{project}/tasks/{}", task["id"]);

    let response = app
        .patch(&path, &json!({"title": "stolen", "worker_id": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        assert_problem(response, StatusCode::CONFLICT).await["code"],
        "not_claimant"
    );
    let response = app
        .patch(&path, &json!({"title": "renamed", "worker_id": "a"}))
        .send()
        .await
        .unwrap();
    let renamed = body(response).await;
    assert_eq!(
        (renamed["title"].as_str(), renamed["claimed_by"].as_str()),
        (Some("renamed"), Some("a"))
    );

    let response = app
        .patch(&path, &json!({"status": "done"}))
        .send()
        .await
        .unwrap();
    let done = body(response).await;
    assert_eq!(done["status"], "done");
    assert_eq!(done["claimed_by"], Value::Null);
    assert_eq!(done["claimed_at"], Value::Null);
}
