//! Invalid fields are 400 with a pointer each and unreadable bodies a problem 4xx, never 5xx;
//! nothing is written.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_problem, pointers, spawn_app};

#[tokio::test]
async fn invalid_fields_are_400_with_a_pointer_each_and_nothing_is_written() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let cases = [
        (json!({}), "/title"),
        (json!({"title": ""}), "/title"),
        (json!({"title": "   "}), "/title"),
        (json!({"title": "x".repeat(501)}), "/title"),
        (json!({"title": "nul\u{0}byte"}), "/title"),
        (
            json!({"title": "ok", "priority_score": 10001}),
            "/priority_score",
        ),
        (
            json!({"title": "ok", "priority_score": -1}),
            "/priority_score",
        ),
        (
            json!({"title": "ok", "priority_score": "high"}),
            "/priority_score",
        ),
        (
            json!({"title": "ok", "priority_score": 1.5}),
            "/priority_score",
        ),
        (json!({"title": "ok", "status": "finished"}), "/status"),
        (json!({"title": "ok", "external_id": ""}), "/external_id"),
        (
            json!({"title": "ok", "external_id": "has space"}),
            "/external_id",
        ),
        (
            json!({"title": "ok", "external_id": "x".repeat(256)}),
            "/external_id",
        ),
        (json!({"title": "ok", "labels": [""]}), "/labels/0"),
        (json!({"title": "ok", "milestone_id": 0}), "/milestone_id"),
        (
            json!({"title": "ok", "milestone_id": u64::MAX}),
            "/milestone_id",
        ),
    ];
    for (input, pointer) in cases {
        let response = app
            .post(&format!("/projects/{project}/tasks"), &input)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(pointers(&problem), vec![pointer.to_owned()], "for {input}");
    }
    assert_eq!(app.task_count(project).await, 0);
}

#[tokio::test]
async fn unreadable_bodies_get_problem_json_4xx_never_5xx() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let url = app.url(&format!("/projects/{project}/tasks"));
    let send = |body: &'static str, content_type: &'static str| {
        app.client
            .post(&url)
            .bearer_auth(&app.api_key)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for (payload, content_type, status) in [
        ("{\"title\": ", "application/json", StatusCode::BAD_REQUEST),
        ("", "application/json", StatusCode::BAD_REQUEST),
        ("[1, 2]", "application/json", StatusCode::BAD_REQUEST),
        ("\"title\"", "application/json", StatusCode::BAD_REQUEST),
        (
            "{\"title\": \"a\"} trailing",
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "title=a",
            "application/x-www-form-urlencoded",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "{\"title\": \"a\"}",
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ] {
        assert_problem(send(payload, content_type).await.unwrap(), status).await;
    }
    for path in [
        "/projects/abc/tasks",
        "/projects/99999999999999999999/tasks",
    ] {
        let response = app.get(path).send().await.unwrap();
        assert_problem(response, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(app.task_count(project).await, 0);
}
