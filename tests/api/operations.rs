//! What operators rely on: request ids, metrics, readiness while draining, 503 under pressure.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use taskdash::startup::Application;

use crate::helpers::{assert_problem, serve_settings, spawn_app, spawn_app_with};

#[tokio::test]
async fn request_ids_are_taken_from_the_client_or_generated_and_returned() {
    let app = spawn_app().await;
    let response = app
        .get("/projects")
        .header("x-request-id", "wf-123-req-7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "wf-123-req-7");
    let first = app.get("/projects").send().await.unwrap().headers()["x-request-id"].clone();
    let second = app.get("/projects").send().await.unwrap().headers()["x-request-id"].clone();
    assert_ne!(first, second);
    assert!(first.len() >= 32, "a generated id: {first:?}");
    // An unusable client id (too long) is replaced, not echoed.
    let response = app
        .get("/projects")
        .header("x-request-id", "x".repeat(200))
        .send()
        .await
        .unwrap();
    assert_ne!(response.headers()["x-request-id"], "x".repeat(200).as_str());
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_tasks_by_outcome() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    app.create_task(project, json!({"title": "T", "external_id": "m:1"}))
        .await;
    app.create_task(project, json!({"title": "T", "external_id": "m:1"}))
        .await;
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    for needle in [
        "http_requests_total{method=\"POST\",route=\"/projects/{project_id}/tasks\",status=\"201\"}",
        "http_request_duration_seconds_bucket{method=\"POST\",route=\"/projects/{project_id}/tasks\"",
        "tasks_created_total{via=\"single\"}",
        "tasks_skipped_total{reason=\"duplicate_external_id\"}",
        "db_pool_connections{state=\"idle\"}",
        "db_pool_acquire_seconds_bucket",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
}

#[tokio::test]
async fn a_draining_replica_reports_not_ready_but_still_serves_then_stops() {
    let app = spawn_app().await;
    let application = Application::build(&serve_settings(), app.pool.clone()).unwrap();
    let base = format!("http://127.0.0.1:{}", application.port());
    let (handle, draining) = (application.handle(), application.draining());
    let server = tokio::spawn(application.run_until_stopped());
    let ready = || app.client.get(format!("{base}/health/ready")).send();
    assert_eq!(ready().await.unwrap().status(), StatusCode::OK);

    let stopping = tokio::spawn(Application::drain_and_stop(
        handle,
        draining,
        Duration::from_millis(800),
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let response = ready().await.unwrap();
    assert_eq!(response.headers()["retry-after"], "1");
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    let still_serving = app
        .client
        .get(format!("{base}/projects"))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(still_serving.status(), StatusCode::OK);

    stopping.await.unwrap();
    server.await.unwrap().unwrap();
    assert!(ready().await.is_err(), "the listener is closed");
}

#[tokio::test]
async fn an_exhausted_pool_is_a_503_with_retry_after_not_a_hang() {
    let mut settings = serve_settings();
    settings.database.pool_size = 1;
    settings.database.acquire_timeout_secs = 1;
    let app = spawn_app_with(settings).await;
    let project = app.create_project("p").await;
    let held = app.pool.acquire().await.unwrap();
    let started = std::time::Instant::now();
    let response = app
        .get(&format!("/projects/{project}/tasks"))
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(response.headers()["retry-after"], "1");
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    drop(held);
    let response = app
        .get(&format!("/projects/{project}/tasks"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "recovers by itself");
}
