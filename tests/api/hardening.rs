//! Input that is wrong in every way a client can make it wrong gets a clear 4xx, never a 5xx.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{assert_problem, body, pointers, serve_settings, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_wrong_method_on_a_known_path_is_405_with_allow() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let cases = [
        (Method::PUT, "/projects".to_owned(), "GET, POST"),
        (Method::DELETE, "/projects".to_owned(), "GET, POST"),
        (
            Method::POST,
            format!("/projects/{project}"),
            "GET, PATCH, DELETE",
        ),
        (
            Method::GET,
            format!("/projects/{project}/tasks:bulk"),
            "POST",
        ),
        (
            Method::PUT,
            format!("/projects/{project}/tasks/1"),
            "GET, PATCH, DELETE",
        ),
        (Method::POST, "/health".to_owned(), "GET"),
        // A suffix after a parameter is another resource than the bare parameter's.
        (
            Method::PATCH,
            format!("/projects/{project}/tasks/1:heartbeat"),
            "POST",
        ),
        (
            Method::OPTIONS,
            format!("/projects/{project}/tasks/1:release"),
            "POST",
        ),
        (
            Method::GET,
            format!("/projects/{project}/tasks:claim"),
            "POST",
        ),
    ];
    for (method, path, allow) in cases {
        let response = app
            .client
            .request(method.clone(), app.url(&path))
            .bearer_auth(&app.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        assert_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
    }
    assert_problem(
        app.get("/no/such/path").send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_deeply_nested_json_is_400() {
    let mut settings = serve_settings();
    settings.max_body_bytes = 1024;
    let app = spawn_app_with(settings).await;
    let project = app.create_project("p").await;
    let url = format!("/projects/{project}/tasks");
    let response = app
        .post(
            &url,
            &json!({"title": "x", "description": "y".repeat(2000)}),
        )
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;

    let nested = format!(
        "{{\"title\": \"x\", \"labels\": {}{}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    let response = app
        .client
        .post(app.url(&url))
        .bearer_auth(&app.api_key)
        .header("content-type", "application/json")
        .body(nested)
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(app.task_count(project).await, 0);
}

#[tokio::test]
async fn invalid_utf8_and_control_characters_in_paths_and_queries_are_400() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    for path in [
        "/projects/%FF/tasks".to_owned(),
        format!("/projects/{project}/tasks?label=%FF"),
        format!("/projects/{project}/tasks?label=%00"),
        format!("/projects/{project}/tasks?external_id=%00"),
        format!("/projects/{project}/tasks?external_id_prefix=%FF"),
        format!("/projects/{project}/tasks?status=open,%20done"),
        format!("/projects/{project}/tasks?milestone_id=1.5"),
        format!("/projects/{project}/tasks?priority_max=99999999999999999999"),
        format!("/projects/{project}/tasks/-"),
    ] {
        let response = app.get(&path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_problem(response, StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test]
async fn integers_written_as_integral_floats_are_accepted_as_json_schema_says() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (status, task) = app
        .create_task(project, json!({"title": "T", "priority_score": 3.0}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(task["priority_score"], 3);
    for bad in [json!(3.5), json!("3"), json!(1e300), json!(true)] {
        let (status, problem) = app
            .create_task(project, json!({"title": "T", "priority_score": bad}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(pointers(&problem), ["/priority_score"]);
    }
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = spawn_app().await;
    for (response, cache_control) in [
        // Tagged reads of tenant data may be kept by the browser, and revalidated every time.
        (
            app.get("/projects").send().await.unwrap(),
            "private, no-cache",
        ),
        // Everything else is never stored.
        (
            app.client.get(app.url("/projects")).send().await.unwrap(),
            "no-store",
        ),
        (
            app.client.get(app.url("/health")).send().await.unwrap(),
            "no-store",
        ),
        (
            app.get("/projects/9/tasks/9").send().await.unwrap(),
            "no-store",
        ),
    ] {
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(response.headers()["cache-control"], cache_control);
        assert_eq!(response.headers()["x-frame-options"], "DENY");
    }
}

#[tokio::test]
async fn cors_answers_preflights_for_configured_origins_only() {
    let mut settings = serve_settings();
    settings.cors_allowed_origins = vec!["https://dash.example.com".into()];
    let app = spawn_app_with(settings).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/projects"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight("https://dash.example.com").await.unwrap();
    assert!(allowed.status().is_success());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://dash.example.com"
    );
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        methods.contains("POST") && methods.contains("PATCH"),
        "{methods}"
    );

    let refused = preflight("https://evil.example.net").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let response = app
        .get("/projects")
        .header("origin", "https://dash.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://dash.example.com"
    );
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        exposed.contains("etag") && exposed.contains("idempotent-replayed"),
        "{exposed}"
    );
    assert_eq!(body(response).await["data"], json!([]));

    // Without configured origins there is no CORS at all.
    let plain = spawn_app().await;
    let response = plain
        .client
        .get(plain.url("/projects"))
        .bearer_auth(&plain.api_key)
        .header("origin", "https://dash.example.com")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn a_body_that_is_an_array_of_the_fields_is_refused_not_read_in_order() {
    let app = spawn_app().await;
    let project = app.create_project("arrays").await;
    for (path, is_patch) in [
        (format!("/projects/{project}"), true),
        ("/projects".to_owned(), false),
        (format!("/projects/{project}/tasks"), false),
    ] {
        let request = if is_patch {
            app.patch(&path, &json!([null, null]))
        } else {
            app.post(&path, &json!(["title", "slug"]))
        };
        let problem = assert_problem(request.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
        assert_eq!(
            problem["errors"][0]["detail"],
            "the body must be a JSON object"
        );
    }
}
