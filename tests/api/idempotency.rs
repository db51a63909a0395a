use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_problem, body, pointers, serve_settings, spawn_app, spawn_app_with,
};

fn keyed(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: &Value,
) -> reqwest::RequestBuilder {
    app.client
        .request(method, app.url(path))
        .bearer_auth(&app.api_key)
        .header("Idempotency-Key", format!("\"{key}\""))
        .json(body)
}

async fn send(request: reqwest::RequestBuilder) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, body(response).await)
}

async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(&mut *app.pool.acquire().await.unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_retry_with_the_same_key_gets_the_first_response_again_and_nothing_twice() {
    let app = spawn_app().await;
    let request = json!({"name": "Site", "slug": "site"});
    let (status, headers, first) =
        send(keyed(&app, Method::POST, "/projects", "k-1", &request)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(headers.get("idempotent-replayed").is_none());
    let (status, again_headers, again) =
        send(keyed(&app, Method::POST, "/projects", "k-1", &request)).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the first answer, not a 409 on the slug"
    );
    assert_eq!(again, first);
    assert_eq!(again_headers["idempotent-replayed"], "true");
    assert_eq!(again_headers["location"], headers["location"]);
    assert_eq!(again_headers["content-type"], "application/json");
    assert_eq!(count(&app, "projects").await, 1);

    // Whatever the resource's state now: deleted, the retry still gets the first answer.
    let response = app
        .delete(headers["location"].to_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _, replay) = send(keyed(&app, Method::POST, "/projects", "k-1", &request)).await;
    assert_eq!((status, replay), (StatusCode::CREATED, first));
}

#[tokio::test]
async fn every_create_and_action_replays_its_first_response() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (_, run) = crate::runs::create_run(&app, project, json!({"workflow_type": "w"})).await;
    let (_, held) = app.create_task(project, json!({"title": "held"})).await;
    let p = format!("/projects/{project}");
    let claimed = body(
        app.post(&format!("{p}/tasks:claim"), &json!({"worker_id": "w"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(claimed["id"], held["id"]);
    let task = format!("{p}/tasks/{}", held["id"]);
    let cases = [
        (
            format!("{p}/milestones"),
            json!({"name": "m", "slug": "m"}),
            "milestones",
        ),
        (
            format!("{p}/tasks"),
            json!({"title": "no external_id"}),
            "tasks",
        ),
        (
            format!("{p}/tasks:bulk"),
            json!({"tasks": [{"title": "a"}, {"title": "b"}]}),
            "tasks",
        ),
        (format!("{p}/runs"), json!({"workflow_type": "w"}), "runs"),
        (
            format!("{p}/runs/{}/events", run["id"]),
            json!({"event_id": "e1", "event_type": "t"}),
            "run_events",
        ),
        (
            format!("{p}/repositories"),
            json!({"url": "https://git.example.com/a/b"}),
            "repositories",
        ),
        (
            "/stream-tokens".to_owned(),
            json!({"project_id": project}),
            "stream_tokens",
        ),
        (
            format!("{task}:heartbeat"),
            json!({"worker_id": "w"}),
            "tasks",
        ),
        (
            format!("{p}/tasks:claim"),
            json!({"worker_id": "w2"}),
            "tasks",
        ),
    ];
    for (index, (path, request, table)) in cases.iter().enumerate() {
        let key = format!("route-{index}");
        let before = count(&app, table).await;
        let (status, _, first) = send(keyed(&app, Method::POST, path, &key, request)).await;
        assert!(status.is_success(), "{path}: {status} {first}");
        let written = count(&app, table).await;
        let (again_status, headers, again) =
            send(keyed(&app, Method::POST, path, &key, request)).await;
        assert_eq!((again_status, &again), (status, &first), "{path}");
        assert_eq!(headers["idempotent-replayed"], "true", "{path}");
        assert_eq!(
            count(&app, table).await,
            written,
            "{path}: the retry wrote nothing"
        );
        assert!(written >= before, "{path}");
    }
}

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
async fn a_failed_first_attempt_does_not_take_the_key() {
    let app = spawn_app().await;
    app.create_project("taken").await;
    // A validation failure, then a conflict: nothing committed, so the key stays free.
    let (status, _, _) = send(keyed(
        &app,
        Method::POST,
        "/projects",
        "k",
        &json!({"name": "x"}),
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = send(keyed(
        &app,
        Method::POST,
        "/projects",
        "k",
        &json!({"name": "x", "slug": "taken"}),
    ))
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, headers, _) = send(keyed(
        &app,
        Method::POST,
        "/projects",
        "k",
        &json!({"name": "x", "slug": "free"}),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(headers.get("idempotent-replayed").is_none());
}

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
async fn a_plan_with_dependencies_under_a_key_commits_and_replays_as_one() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let path = format!("/projects/{project}/tasks:bulk");
    let plan = json!({"tasks": [
        {"title": "a", "external_id": "a"},
        {"title": "b", "external_id": "b", "depends_on_external_ids": ["a"]},
    ]});
    let (status, _, first) = send(keyed(&app, Method::POST, &path, "plan", &plan)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(first["created"][1]["blocked_by"], 1);
    let (status, headers, again) = send(keyed(&app, Method::POST, &path, "plan", &plan)).await;
    assert_eq!((status, &again), (StatusCode::CREATED, &first));
    assert_eq!(headers["idempotent-replayed"], "true");
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

/// Under a key the request runs in a transaction; a statement that fails there (a foreign key,
/// a taken sequence) must still let the cold path say why, and leave the key free.
#[tokio::test]
async fn failures_explained_after_a_failed_statement_are_4xx_under_a_key_too() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let path = format!("/projects/{project}/tasks:bulk");
    let bad = json!({"tasks": [{"title": "a"}, {"title": "b", "milestone_id": 999}]});
    let (status, _, problem) = send(keyed(&app, Method::POST, &path, "fk", &bad)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("reference_not_found"))
    );
    assert_eq!(pointers(&problem), ["/tasks/1/milestone_id"]);

    let (_, run) = crate::runs::create_run(&app, project, json!({"workflow_type": "w"})).await;
    let events = format!("/projects/{project}/runs/{}/events", run["id"]);
    let first = json!({"event_id": "e1", "event_type": "t", "sequence": 1});
    send(keyed(&app, Method::POST, &events, "seq-1", &first)).await;
    let taken = json!({"event_id": "e2", "event_type": "t", "sequence": 1});
    let (status, _, problem) = send(keyed(&app, Method::POST, &events, "seq-2", &taken)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );

    let good = json!({"tasks": [{"title": "a"}]});
    let (status, _, _) = send(keyed(&app, Method::POST, &path, "fk-2", &good)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(app.task_count(project).await, 1);
}
