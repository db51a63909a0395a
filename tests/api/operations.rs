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
async fn with_metrics_bind_metrics_are_served_on_their_own_listener_only_and_stop_with_the_api() {
    let app = spawn_app().await;
    let mut settings = serve_settings();
    settings.metrics_bind = Some("127.0.0.1:0".parse().unwrap());
    let application = Application::build(&settings, app.database.clone()).unwrap();
    let api = format!("http://127.0.0.1:{}", application.port());
    let metrics = format!(
        "http://127.0.0.1:{}/metrics",
        application.metrics_port().unwrap()
    );
    let (handle, draining) = (application.handle(), application.draining());
    let server = tokio::spawn(application.run_until_stopped());
    let projects = app
        .client
        .get(format!("{api}/projects"))
        .bearer_auth(&app.api_key);
    assert_eq!(projects.send().await.unwrap().status(), StatusCode::OK);

    let response = app.client.get(&metrics).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(text.contains("route=\"/projects\""), "{text}");
    assert!(text.contains("db_pool_connections"), "{text}");
    let on_api = app
        .client
        .get(format!("{api}/metrics"))
        .send()
        .await
        .unwrap();
    assert_problem(on_api, StatusCode::NOT_FOUND).await;
    // The metrics listener serves nothing else.
    let other = metrics.replace("/metrics", "/health");
    assert_eq!(
        app.client.get(&other).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    Application::drain_and_stop(handle, draining, Duration::ZERO).await;
    server.await.unwrap().unwrap();
    assert!(
        app.client.get(&metrics).send().await.is_err(),
        "still listening"
    );
}

#[tokio::test]
async fn a_draining_replica_reports_not_ready_but_still_serves_then_stops() {
    let app = spawn_app().await;
    let application = Application::build(&serve_settings(), app.database.clone()).unwrap();
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
    settings.workers = Some(1);
    settings.database.pool_size = 1;
    settings.database.acquire_timeout_secs = 1;
    let app = spawn_app_with(settings).await;
    let project = app.create_project("p").await;

    // A lock held by the test blocks a create, which holds the server's only connection.
    let mut locker = app.pool.acquire().await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *locker)
        .await
        .unwrap();
    let blocked = tokio::spawn(
        app.post(
            &format!("/projects/{project}/tasks"),
            &json!({"title": "waits for the lock"}),
        )
        .send(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let response = app
        .get(&format!("/projects/{project}/tasks"))
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(response.headers()["retry-after"], "1");
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;

    sqlx::query("COMMIT").execute(&mut *locker).await.unwrap();
    assert_eq!(
        blocked.await.unwrap().unwrap().status(),
        StatusCode::CREATED
    );
    let response = app
        .get(&format!("/projects/{project}/tasks"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "recovers by itself");
}

#[tokio::test]
async fn connections_killed_by_the_database_are_replaced_not_reused() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    // Warm every pooled connection of the server, then have PostgreSQL end them all.
    let warm: Vec<_> = (0..20)
        .map(|_| app.get(&format!("/projects/{project}/tasks")).send())
        .collect();
    futures_util::future::join_all(warm).await;
    let terminated: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()) AS ended",
    )
    .fetch_one(&mut *app.pool.acquire().await.unwrap())
    .await
    .unwrap();
    assert!(terminated > 0);

    let mut statuses = Vec::new();
    for _ in 0..30 {
        let response = app
            .get(&format!("/projects/{project}/tasks"))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    // Each dead connection fails at most one request; the pool holds at most 10.
    assert!(statuses[10..].iter().all(|s| *s == 200), "{statuses:?}");
}

/// After a burst has grown the pool, one client's requests in a row keep using the connection
/// used last (its backend stays warm) instead of taking the pooled connections in turn.
#[tokio::test]
async fn after_a_burst_requests_in_a_row_reuse_the_connection_used_last() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let path = format!("/projects/{project}/tasks");
    let burst: Vec<_> = (0..32).map(|_| app.get(&path).send()).collect();
    futures_util::future::join_all(burst).await;
    let mut probe = app.pool.acquire().await.unwrap();
    let pooled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_one(&mut *probe)
    .await
    .unwrap();
    assert!(pooled > 2, "the burst opened several connections: {pooled}");

    let since: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(&mut *probe)
        .await
        .unwrap();
    // One client connection: one worker, one of its pools.
    let client = reqwest::Client::new();
    for _ in 0..20 {
        let response = client
            .get(app.url(&path))
            .bearer_auth(&app.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let used: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND query_start > $1
           AND query LIKE '%ORDER BY priority_score DESC%'",
    )
    .bind(since)
    .fetch_one(&mut *probe)
    .await
    .unwrap();
    assert_eq!(used, 1, "20 requests in a row used {used} connections");
}
