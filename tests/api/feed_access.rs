//! Who may read which feed: tenants see only their own changes, and stream tokens open only
//! the streams they were issued for, while they are fresh.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{EventStream, Next, TestApp, assert_problem, body, kinds, spawn_app};

const WITHIN: Duration = Duration::from_secs(5);

/// A second tenant's key, with one project of its own.
struct Other {
    key: String,
    project: i64,
}

impl Other {
    async fn new(app: &TestApp) -> Self {
        let key = app.new_tenant_key("tenant-b").await;
        let response = app
            .client
            .post(app.url("/projects"))
            .bearer_auth(&key)
            .json(&json!({"name": "b", "slug": "b"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let project = body(response).await["id"].as_i64().unwrap();
        Self { key, project }
    }

    async fn create_task(&self, app: &TestApp, title: &str) -> i64 {
        let response = app
            .client
            .post(app.url(&format!("/projects/{}/tasks", self.project)))
            .bearer_auth(&self.key)
            .json(&json!({ "title": title }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        body(response).await["id"].as_i64().unwrap()
    }
}

async fn create_task(app: &TestApp, project: i64, title: &str) -> i64 {
    let (status, task) = app.create_task(project, json!({ "title": title })).await;
    assert_eq!(status, StatusCode::CREATED);
    task["id"].as_i64().unwrap()
}

/// Issues a stream token with `key`; the answer's body.
async fn issue_token(app: &TestApp, key: &str, body_json: Value) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/stream-tokens"))
        .bearer_auth(key)
        .json(&body_json)
        .send()
        .await
        .unwrap();
    (response.status(), body(response).await)
}

async fn token(app: &TestApp, key: &str, project: Option<i64>) -> String {
    let (status, issued) = issue_token(app, key, json!({ "project_id": project })).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    issued["token"].as_str().unwrap().to_owned()
}

/// Opens `path` with `?token=`, without `Authorization`; the stream is past its `retry:`.
async fn open_with(app: &TestApp, path: &str, token: &str) -> EventStream {
    let mut stream =
        EventStream::open(app.client.get(app.url(&format!("{path}?token={token}")))).await;
    assert!(matches!(stream.next(WITHIN).await, Next::Frame(f) if f.retry.is_some()));
    stream
}

async fn assert_refused(app: &TestApp, path: &str, token: &str, status: StatusCode) {
    let url = app.url(&format!("{path}?token={token}"));
    let response = app.client.get(url).send().await.unwrap();
    assert_problem(response, status).await;
}

#[tokio::test]
async fn another_tenants_changes_never_appear_in_a_tenants_changes_or_events() {
    let app = spawn_app().await;
    let project = app.create_project("a").await;
    let other = Other::new(&app).await;
    app.settle().await;
    let mut ours = EventStream::open(app.get("/events")).await;
    let theirs = app.client.get(app.url("/events")).bearer_auth(&other.key);
    let mut theirs = EventStream::open(theirs).await;

    let b1 = other.create_task(&app, "b1").await;
    let a1 = create_task(&app, project, "a1").await;
    let b2 = other.create_task(&app, "b2").await;

    let seen = ours.changes(1, WITHIN).await;
    assert_eq!(kinds(&seen), [("task.created".to_owned(), a1)]);
    ours.assert_quiet(Duration::from_millis(500)).await;
    let expected = [
        ("task.created".to_owned(), b1),
        ("task.created".to_owned(), b2),
    ];
    assert_eq!(kinds(&theirs.changes(2, WITHIN).await), expected);

    let (logged, _) = app.settled_changes("/changes", None).await;
    let expected = [
        ("project.created".to_owned(), project),
        ("task.created".to_owned(), a1),
    ];
    assert_eq!(kinds(&logged), expected);

    // Their project's feeds are not found, as their project is not; nor once it is deleted
    // (when its own tenant can still resume them).
    for deleted in [false, true] {
        if deleted {
            let url = app.url(&format!("/projects/{}", other.project));
            let response = app.client.delete(url).bearer_auth(&other.key).send().await;
            assert_eq!(response.unwrap().status(), StatusCode::NO_CONTENT);
            app.settle().await;
        }
        for path in ["changes", "events"] {
            let path = format!("/projects/{}/{path}", other.project);
            let response = app.get(&path).send().await.unwrap();
            assert_problem(response, StatusCode::NOT_FOUND).await;
            let theirs = app.client.get(app.url(&path)).bearer_auth(&other.key);
            let status = theirs.send().await.unwrap().status();
            assert_eq!(status, StatusCode::OK, "{path}, deleted: {deleted}");
        }
    }
}

#[tokio::test]
async fn a_stream_token_is_hashed_short_lived_and_opens_only_its_tenants_streams() {
    let app = spawn_app().await;
    let project = app.create_project("a").await;
    let other = Other::new(&app).await;
    let (status, issued) = issue_token(&app, &app.api_key, json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    let secret = issued["token"].as_str().unwrap().to_owned();
    let hex = secret.strip_prefix("tds_").unwrap();
    assert!(
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "{secret}"
    );
    assert_eq!(issued["project_id"], Value::Null);
    let expires_at: DateTime<Utc> = issued["expires_at"].as_str().unwrap().parse().unwrap();
    let ttl = (expires_at - Utc::now()).num_seconds();
    assert!((55..=60).contains(&ttl), "{ttl}");
    // Only its SHA-256 is stored.
    let (hashed, plain): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE token_hash = sha256(convert_to($1, 'UTF8'))),
                count(*) FILTER (WHERE token_hash = convert_to($1, 'UTF8'))
         FROM stream_tokens",
    )
    .bind(&secret)
    .fetch_one(&mut *app.pool.acquire().await.unwrap())
    .await
    .unwrap();
    assert_eq!((hashed, plain), (1, 0));

    // It opens the tenant's streams (theirs only), and nothing but streams.
    app.settle().await;
    let mut all = open_with(&app, "/events", &secret).await;
    let mut one = open_with(&app, &format!("/projects/{project}/events"), &secret).await;
    other.create_task(&app, "theirs").await;
    let task = create_task(&app, project, "ours").await;
    for stream in [&mut all, &mut one] {
        assert_eq!(
            kinds(&stream.changes(1, WITHIN).await),
            [("task.created".to_owned(), task)]
        );
    }
    assert_refused(&app, "/projects", &secret, StatusCode::UNAUTHORIZED).await;
    assert_refused(&app, "/changes", &secret, StatusCode::UNAUTHORIZED).await;
    let theirs = format!("/projects/{}/events", other.project);
    assert_refused(&app, &theirs, &secret, StatusCode::NOT_FOUND).await;

    let (status, problem) = issue_token(&app, &app.api_key, json!({ "project_id": 0 })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["errors"][0]["pointer"], "/project_id");
    // No token for another tenant's project (or none at all), and theirs does not open ours.
    for project_id in [other.project, other.project + 1000] {
        let (status, _) =
            issue_token(&app, &app.api_key, json!({ "project_id": project_id })).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let ours = format!("/projects/{project}/events");
    let their_token = token(&app, &other.key, None).await;
    assert_refused(&app, &ours, &their_token, StatusCode::NOT_FOUND).await;
    let their_scoped = token(&app, &other.key, Some(other.project)).await;
    assert_refused(&app, &ours, &their_scoped, StatusCode::UNAUTHORIZED).await;
    open_with(&app, &theirs, &their_scoped).await;
}

#[tokio::test]
async fn a_project_token_opens_only_that_projects_stream() {
    let app = spawn_app().await;
    let project = app.create_project("a").await;
    let sibling = app.create_project("sibling").await;
    let scoped = token(&app, &app.api_key, Some(project)).await;
    app.settle().await;
    let mut stream = open_with(&app, &format!("/projects/{project}/events"), &scoped).await;
    create_task(&app, sibling, "elsewhere").await;
    let task = create_task(&app, project, "here").await;
    assert_eq!(
        kinds(&stream.changes(1, WITHIN).await),
        [("task.created".to_owned(), task)]
    );

    assert_refused(&app, "/events", &scoped, StatusCode::UNAUTHORIZED).await;
    let path = format!("/projects/{sibling}/events");
    assert_refused(&app, &path, &scoped, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn api_keys_unknown_malformed_and_expired_tokens_cannot_open_a_stream() {
    let app = spawn_app().await;
    let project = app.create_project("a").await;
    let paths = ["/events".to_owned(), format!("/projects/{project}/events")];
    let unknown = format!("tds_{}", "0".repeat(64));
    let upper = format!("tds_{}", "A".repeat(64));
    let garbage = ["", "abc", "tds_", "tds_xyz", &unknown, &upper, &app.api_key];
    for path in &paths {
        for token in garbage {
            let url = app.url(&format!("{path}?token={token}"));
            let response = app.client.get(url).send().await.unwrap();
            assert_eq!(
                response.headers()["www-authenticate"],
                "Bearer realm=\"taskdash\""
            );
            assert_problem(response, StatusCode::UNAUTHORIZED).await;
        }
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_problem(response, StatusCode::UNAUTHORIZED).await;
    }

    // A token works until it expires; a stream it opened outlives it.
    let secret = token(&app, &app.api_key, None).await;
    app.settle().await;
    let mut opened = open_with(&app, &paths[0], &secret).await;
    sqlx::query(
        "UPDATE stream_tokens SET expires_at = now() - interval '1 second'
         WHERE token_hash = sha256(convert_to($1, 'UTF8'))",
    )
    .bind(&secret)
    .execute(&mut *app.pool.acquire().await.unwrap())
    .await
    .unwrap();
    for path in &paths {
        assert_refused(&app, path, &secret, StatusCode::UNAUTHORIZED).await;
    }
    let task = create_task(&app, project, "still delivered").await;
    assert_eq!(
        kinds(&opened.changes(1, WITHIN).await),
        [("task.created".to_owned(), task)]
    );
}
