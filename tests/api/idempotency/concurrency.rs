//! Concurrency: a key whose first request is still running is 409 with `Retry-After`, and
//! concurrent requests with one key create one task.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{keyed, send};
use crate::helpers::{assert_problem, body, spawn_app};

/// A request whose effect waits (here on a row lock the test holds) holds its key: a second
/// request with the key is told 409 with Retry-After, then, once the first committed, gets
/// its answer.
#[tokio::test]
async fn a_key_whose_first_request_is_still_running_is_409_in_flight() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let mut blocker = app.pool.acquire().await.unwrap();
    sqlx::raw_sql("BEGIN").execute(&mut *blocker).await.unwrap();
    sqlx::query("SELECT 1 FROM projects WHERE id = $1 FOR UPDATE")
        .bind(project)
        .execute(&mut *blocker)
        .await
        .unwrap();
    let path = format!("/projects/{project}/milestones");
    let request = json!({"name": "m", "slug": "m"});
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
}

#[tokio::test]
async fn concurrent_requests_with_one_key_create_one_task() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let path = format!("/projects/{project}/tasks");
    let request = json!({"title": "once"});
    let attempts = (0..16).map(|_| {
        let (app, path, request) = (&app, &path, &request);
        async move {
            for _ in 0..50 {
                let (status, _, task) = send(keyed(app, Method::POST, path, "race", request)).await;
                if status != StatusCode::CONFLICT {
                    return (status, task);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("still in flight");
        }
    });
    let answers = futures_util::future::join_all(attempts).await;
    assert!(
        answers
            .iter()
            .all(|(status, task)| *status == StatusCode::CREATED && *task == answers[0].1)
    );
    assert_eq!(app.task_count(project).await, 1);
}
