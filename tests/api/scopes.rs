//! Key scopes and expiry: a `read` key reads (GETs, event streams, stream tokens) and is
//! refused 403 on every other operation of the spec; an expired key is refused like a revoked
//! one.

use std::time::Duration;

use chrono::Utc;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::json;
use taskdash::auth::KeyOptions;
use taskdash::domain::Scope;

use crate::fixtures::{Operation, Populated, etag_of, operations};
use crate::helpers::{TestApp, assert_problem, serve_settings, spawn_app, spawn_app_with};

/// A key of the app's tenant with these options.
pub async fn issue_key(app: &TestApp, options: KeyOptions) -> String {
    taskdash::auth::create_key(&app.pool, "tenant-a", options)
        .await
        .unwrap()
        .unwrap()
        .api_key
}

async fn read_key(app: &TestApp) -> String {
    let options = KeyOptions {
        scope: Scope::Read,
        ..KeyOptions::default()
    };
    issue_key(app, options).await
}

/// The operation's request with `key`, with a body that would be accepted.
fn request(app: &TestApp, operation: &Operation, path: &str, key: &str) -> RequestBuilder {
    let request = app
        .client
        .request(operation.method.clone(), app.url(path))
        .bearer_auth(key);
    if operation.method == Method::PUT {
        return request.header("content-type", "text/plain").body("content");
    }
    if operation.spec.get("requestBody").is_none() {
        return request;
    }
    let body = json!({"title": "t", "name": "n", "slug": "s", "workflow_type": "w",
                      "url": "https://h.io/a/c", "events": [{"event_id": "x", "event_type": "t"}]});
    if path.ends_with(":bulk") {
        request.json(&json!({"tasks": [body]}))
    } else {
        request.json(&body)
    }
}

fn secured(operation: &Operation) -> bool {
    operation.spec.get("security") != Some(&json!([{}]))
}

/// Whether the operation only reads: what a `read` key may do.
fn reads(operation: &Operation) -> bool {
    operation.method == Method::GET || operation.id() == "create_stream_token"
}

#[tokio::test]
async fn a_read_key_is_refused_403_naming_the_scope_on_every_operation_that_writes() {
    let app = spawn_app().await;
    let everything = Populated::create(&app).await;
    let key = read_key(&app).await;
    let project = everything.path("/projects/{project_id}");
    let before = etag_of(&app, &project).await;
    let writes: Vec<Operation> = operations()
        .into_iter()
        .filter(|operation| secured(operation) && !reads(operation))
        .collect();
    assert!(writes.len() >= 20, "{} writes", writes.len());
    for operation in &writes {
        let path = everything.path(&operation.template);
        let response = request(&app, operation, &path, &key).send().await.unwrap();
        let problem = assert_problem(response, StatusCode::FORBIDDEN).await;
        assert_eq!(problem["code"], "forbidden", "{}", operation.id());
        assert_eq!(problem["required_scope"], "write", "{}", operation.id());
        assert!(problem["detail"].as_str().unwrap().contains("`write`"));
        // The spec says so too.
        assert!(
            operation.spec["responses"].get("403").is_some(),
            "{} does not declare its 403",
            operation.id()
        );
    }
    // Nothing was written.
    assert_eq!(etag_of(&app, &project).await, before);
}

#[tokio::test]
async fn a_read_key_may_do_every_operation_that_reads_including_streams_and_stream_tokens() {
    let app = spawn_app().await;
    let everything = Populated::create(&app).await;
    let key = read_key(&app).await;
    for operation in operations().iter().filter(|o| secured(o) && reads(o)) {
        assert!(
            operation.spec["responses"].get("403").is_none(),
            "{} declares a 403",
            operation.id()
        );
        let path = everything.path(&operation.template);
        let mut request = request(&app, operation, &path, &key);
        if operation.id() == "create_stream_token" {
            request = request.json(&json!({"project_id": everything.project}));
        }
        // Event streams answer their headers at once, then stay open: only the status counts.
        let response = tokio::time::timeout(Duration::from_secs(10), request.send())
            .await
            .expect("an answer within 10 s")
            .unwrap();
        assert!(
            response.status().is_success(),
            "{} answered {}",
            operation.id(),
            response.status()
        );
    }
}

#[tokio::test]
async fn a_write_key_may_do_everything() {
    let app = spawn_app().await;
    let everything = Populated::create(&app).await;
    for operation in operations().iter().filter(|o| secured(o) && !reads(o)) {
        let path = everything.path(&operation.template);
        let response = request(&app, operation, &path, &app.api_key)
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(
            status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
            "{} answered {status}",
            operation.id()
        );
    }
}

#[tokio::test]
async fn an_expired_key_is_refused_like_a_revoked_one_and_a_key_before_its_expiry_works() {
    let app = spawn_app().await;
    let expired = issue_key(
        &app,
        KeyOptions {
            expires_at: Some(Utc::now() - chrono::Duration::seconds(1)),
            ..KeyOptions::default()
        },
    )
    .await;
    let valid = issue_key(
        &app,
        KeyOptions {
            expires_at: Some(Utc::now() + chrono::Duration::days(30)),
            ..KeyOptions::default()
        },
    )
    .await;
    let get = |key: &str| app.client.get(app.url("/projects")).bearer_auth(key);
    let problem = assert_problem(
        get(&expired).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(problem["code"], "unauthorized");
    assert_eq!(get(&valid).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn a_cached_key_stops_working_at_its_expiry_not_at_the_end_of_the_cache_ttl() {
    let mut settings = serve_settings();
    settings.auth_cache_secs = 600;
    let app = spawn_app_with(settings).await;
    let expires_at = Utc::now() + chrono::Duration::seconds(3);
    let key = issue_key(
        &app,
        KeyOptions {
            expires_at: Some(expires_at),
            ..KeyOptions::default()
        },
    )
    .await;
    let get = || app.client.get(app.url("/projects")).bearer_auth(&key);
    assert_eq!(get().send().await.unwrap().status(), StatusCode::OK);
    let left = (expires_at - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + Duration::from_millis(200)).await;
    assert_problem(get().send().await.unwrap(), StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn a_keys_last_use_is_recorded() {
    let app = spawn_app().await;
    let last_used = || async {
        sqlx::query_scalar::<_, Option<chrono::DateTime<Utc>>>(
            "SELECT last_used_at FROM api_keys WHERE id = $1",
        )
        .bind(app.api_key_id)
        .fetch_one(&mut *app.pool.acquire().await.unwrap())
        .await
        .unwrap()
    };
    assert_eq!(last_used().await, None);
    let started = Utc::now();
    assert_eq!(
        app.get("/projects").send().await.unwrap().status(),
        StatusCode::OK
    );
    // Recorded in the background, after the answer.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let recorded = loop {
        if let Some(at) = last_used().await {
            break at;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not recorded in 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(recorded >= started - chrono::Duration::seconds(5));
}
