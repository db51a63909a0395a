//! A task creation under a key takes one statement (lock, lookup, creation and the key's row),
//! and its replays are rebuilt from the task as created: they must be the first answer, byte
//! for byte, whatever became of the task, and every case the general path covers must hold.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{count, keyed, send};
use crate::helpers::{assert_problem, body, spawn_app};

/// Status, the headers a replay repeats, and the body's bytes.
async fn raw(request: reqwest::RequestBuilder) -> (StatusCode, Vec<(String, String)>, Vec<u8>) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = ["content-type", "location", "etag", "idempotent-replayed"]
        .iter()
        .filter_map(|name| {
            let value = response.headers().get(*name)?.to_str().unwrap();
            Some((name.to_string(), value.to_owned()))
        })
        .collect();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

fn replayed(mut headers: Vec<(String, String)>) -> Vec<(String, String)> {
    headers.push(("idempotent-replayed".into(), "true".into()));
    headers
}

#[tokio::test]
async fn a_keyed_task_creation_replays_its_first_answer_byte_for_byte_after_the_task_changed() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let path = format!("/projects/{project}/tasks");
    let request = json!({"title": "first", "labels": ["a", "b"], "priority_score": 7,
                         "description": "ü \"quoted\"\nline", "external_id": "wf-1:s:0"});
    let (status, headers, first) = raw(keyed(&app, Method::POST, &path, "k", &request)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        headers.len(),
        3,
        "content-type, location and etag: {headers:?}"
    );

    let location = headers[1].1.clone();
    let response = app
        .patch(&location, &json!({"title": "changed", "status": "done"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, again_headers, again) = raw(keyed(&app, Method::POST, &path, "k", &request)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again_headers, replayed(headers));
    assert_eq!(
        String::from_utf8(again).unwrap(),
        String::from_utf8(first).unwrap()
    );
    assert_eq!(app.task_count(project).await, 1);
    assert_eq!(
        snapshots(&app).await,
        (1, 0),
        "stored by the one-statement path"
    );
}

/// How many keys hold a task as created, and how many a response's bytes.
async fn snapshots(app: &crate::helpers::TestApp) -> (i64, i64) {
    sqlx::query_as("SELECT count(task), count(body) FROM idempotency_keys")
        .fetch_one(&mut *app.pool.acquire().await.unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_keyed_creation_of_a_taken_external_id_is_200_and_replays_as_200() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let path = format!("/projects/{project}/tasks");
    let request = json!({"title": "t", "external_id": "wf-1:s:0"});
    let (status, _) = app.create_task(project, request.clone()).await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, headers, first) = raw(keyed(&app, Method::POST, &path, "k", &request)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.contains(&("idempotent-replayed".into(), "true".into())));
    let (status, again_headers, again) = raw(keyed(&app, Method::POST, &path, "k", &request)).await;
    assert_eq!(
        (status, again_headers, again),
        (StatusCode::OK, headers, first)
    );
    assert_eq!(count(&app, "idempotency_keys").await, 1);
    assert_eq!(app.task_count(project).await, 1);
}

#[tokio::test]
async fn a_keyed_task_creation_that_failed_leaves_the_key_free_and_writes_nothing() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let path = format!("/projects/{project}/tasks");
    let unknown_milestone = json!({"title": "t", "milestone_id": 999999});
    let response = keyed(&app, Method::POST, &path, "k", &unknown_milestone)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(problem["code"], "reference_not_found");
    let response = keyed(
        &app,
        Method::POST,
        "/projects/999999/tasks",
        "k",
        &json!({"title": "t"}),
    )
    .send()
    .await
    .unwrap();
    assert_problem(response, StatusCode::NOT_FOUND).await;
    assert_eq!(count(&app, "idempotency_keys").await, 0);

    let (status, headers, _) = send(keyed(
        &app,
        Method::POST,
        &path,
        "k",
        &json!({"title": "t"}),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "the key was still free");
    assert!(headers.get("idempotent-replayed").is_none());
    assert_eq!(app.task_count(project).await, 1);
}

/// The creation waits in its foreign-key check on a project row the test holds locked; a second
/// request with the key meanwhile is told 409, and after the first commits, gets its answer.
#[tokio::test]
async fn a_keyed_task_creation_still_running_makes_its_key_409_in_flight() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let mut blocker = app.pool.acquire().await.unwrap();
    sqlx::raw_sql("BEGIN").execute(&mut *blocker).await.unwrap();
    sqlx::query("SELECT 1 FROM projects WHERE id = $1 FOR UPDATE")
        .bind(project)
        .execute(&mut *blocker)
        .await
        .unwrap();
    let path = format!("/projects/{project}/tasks");
    let request = json!({"title": "slow"});
    let first = tokio::spawn(keyed(&app, Method::POST, &path, "slow", &request).send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = keyed(&app, Method::POST, &path, "slow", &request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["retry-after"], "1");
    let problem = assert_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(problem["code"], "idempotency_key_in_flight");

    sqlx::raw_sql("COMMIT")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = body(first).await;
    let (status, _, retry) = send(keyed(&app, Method::POST, &path, "slow", &request)).await;
    assert_eq!((status, retry), (StatusCode::CREATED, first));
    assert_eq!(app.task_count(project).await, 1);
}

/// An expired key is overwritten by the general path; what it stores replays like any other.
#[tokio::test]
async fn an_expired_key_of_a_task_creation_is_taken_again_and_then_replays_the_new_answer() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let path = format!("/projects/{project}/tasks");
    let (status, _, _) = send(keyed(
        &app,
        Method::POST,
        &path,
        "k",
        &json!({"title": "a"}),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED);
    sqlx::query("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'")
        .execute(&mut *app.pool.acquire().await.unwrap())
        .await
        .unwrap();
    let request = json!({"title": "b"});
    let (status, headers, second) = send(keyed(&app, Method::POST, &path, "k", &request)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(headers.get("idempotent-replayed").is_none());
    let (status, headers, again) = send(keyed(&app, Method::POST, &path, "k", &request)).await;
    assert_eq!((status, again), (StatusCode::CREATED, second));
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(app.task_count(project).await, 2);
    assert_eq!(
        snapshots(&app).await,
        (0, 1),
        "overwritten by the general path"
    );
}
