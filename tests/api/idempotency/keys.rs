//! What a key is: the same key with another request is 422, a malformed key 400; a key expires
//! after its TTL; browsers may send one.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{keyed, send};
use crate::helpers::{assert_problem, pointers, serve_settings, spawn_app, spawn_app_with};

#[tokio::test]
async fn the_same_key_with_another_request_is_422_and_a_malformed_key_400() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let path = format!("/projects/{project}/tasks");
    send(keyed(
        &app,
        Method::POST,
        &path,
        "k",
        &json!({"title": "a"}),
    ))
    .await;
    for (path, request) in [
        (path.clone(), json!({"title": "b"})),
        (
            format!("/projects/{project}/milestones"),
            json!({"name": "a", "slug": "a"}),
        ),
    ] {
        let response = keyed(&app, Method::POST, &path, "k", &request)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["code"], "idempotency_key_reused");
    }
    let long = format!("\"{}\"", "x".repeat(256));
    for bad in [
        "unquoted",
        "\"\"",
        long.as_str(),
        "\"a\", \"b\"",
        "\"caf\u{e9}\"",
    ] {
        let response = app
            .post(&path, &json!({"title": "a"}))
            .header("Idempotency-Key", bad)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(pointers(&problem), ["/header/Idempotency-Key"], "{bad}");
    }
    assert_eq!(app.task_count(project).await, 1);
}

#[tokio::test]
async fn a_key_expires_after_its_ttl() {
    let mut settings = serve_settings();
    settings.idempotency_key_ttl = Duration::from_secs(1);
    let app = spawn_app_with(settings).await;
    let project = app.create_project("p").await;
    let path = format!("/projects/{project}/tasks");
    send(keyed(
        &app,
        Method::POST,
        &path,
        "short",
        &json!({"title": "a"}),
    ))
    .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (status, headers, _) = send(keyed(
        &app,
        Method::POST,
        &path,
        "short",
        &json!({"title": "b"}),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "an expired key is free again");
    assert!(headers.get("idempotent-replayed").is_none());
    assert_eq!(app.task_count(project).await, 2);
}

#[tokio::test]
async fn browsers_may_send_an_idempotency_key() {
    let mut settings = serve_settings();
    settings.cors_allowed_origins = vec!["https://dash.example.com".into()];
    let app = spawn_app_with(settings).await;
    let preflight = app
        .client
        .request(Method::OPTIONS, app.url("/projects"))
        .header("origin", "https://dash.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, idempotency-key",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(allowed.contains("idempotency-key"), "{allowed}");
}

/// Every keyed request looks its key up through `idempotency_key(tenant, key)`. Inline, the
/// lookup kept whatever plan its connection made first: a sequential scan, made while the table
/// was nearly empty, read every key on every request once the table had grown.
#[tokio::test]
async fn a_key_is_looked_up_through_its_index_even_when_the_table_looked_empty_to_the_planner() {
    let app = spawn_app().await;
    let mut connection = app.pool.acquire().await.unwrap();
    for statement in [
        "ANALYZE idempotency_keys",
        "BEGIN",
        // The plan a connection keeps after five runs of a statement, made on the empty table.
        "SET LOCAL plan_cache_mode = force_generic_plan",
    ] {
        sqlx::query(statement)
            .execute(&mut *connection)
            .await
            .unwrap();
    }
    for key in ["a", "b", "c"] {
        let found: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT fingerprint FROM idempotency_key($1, $2)")
                .bind(1_i64)
                .bind(key)
                .fetch_optional(&mut *connection)
                .await
                .unwrap();
        assert_eq!(found, None);
    }
    let (sequential, indexed): (i64, i64) = sqlx::query_as(
        "SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables
         WHERE relname = 'idempotency_keys'",
    )
    .fetch_one(&mut *connection)
    .await
    .unwrap();
    assert_eq!((sequential, indexed), (0, 3));
}
