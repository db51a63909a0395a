use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn requests_without_a_valid_key_get_401_with_www_authenticate() {
    let app = spawn_app().await;
    let url = app.url("/projects");
    let unknown_key = format!("tdk_{}", "0".repeat(64));
    let headers = [
        None,
        Some("".to_owned()),
        Some("Bearer".to_owned()),
        Some("Basic dXNlcjpwYXNz".to_owned()),
        Some("Bearer not-a-key".to_owned()),
        Some(format!("Bearer {unknown_key}")),
        Some(format!("Token {}", app.api_key)),
    ];
    for header in headers {
        let mut request = app.client.get(&url);
        if let Some(header) = &header {
            request = request.header("authorization", header);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"taskdash\"",
            "{header:?}"
        );
        assert_problem(response, StatusCode::UNAUTHORIZED).await;
    }
    // The scheme is case-insensitive, as RFC 9110 says.
    let response = app
        .client
        .get(&url)
        .header("authorization", format!("bearer {}", app.api_key))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn health_and_docs_need_no_key() {
    let app = spawn_app().await;
    for path in ["/health", "/health/ready", "/openapi.json", "/docs/"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn a_revoked_key_is_refused_at_once() {
    let app = spawn_app().await;
    assert_eq!(
        app.get("/projects").send().await.unwrap().status(),
        StatusCode::OK
    );
    app.revoke_key().await;
    assert_problem(
        app.get("/projects").send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn with_the_key_cache_a_revoked_key_stops_working_within_its_ttl() {
    let mut settings = crate::helpers::serve_settings();
    settings.auth_cache_secs = 3;
    let app = crate::helpers::spawn_app_with(settings).await;
    assert_eq!(
        app.get("/projects").send().await.unwrap().status(),
        StatusCode::OK
    );
    app.revoke_key().await;
    // Served from the cache (no database round trip) until the entry expires, then refused.
    assert_eq!(
        app.get("/projects").send().await.unwrap().status(),
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
    assert_problem(
        app.get("/projects").send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn another_tenant_gets_404_on_every_route_of_a_project_it_does_not_own() {
    let app = spawn_app().await;
    let project = app.create_project("mine").await;
    let (_, task) = app
        .create_task(project, json!({"title": "T", "external_id": "k"}))
        .await;
    let milestone = crate::helpers::body(
        app.post(
            &format!("/projects/{project}/milestones"),
            &json!({"name": "M", "slug": "m"}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    let created = |path: String, body: Value| {
        let request = app.post(&path, &body);
        async move { crate::helpers::body(request.send().await.unwrap()).await }
    };
    let run = created(
        format!("/projects/{project}/runs"),
        json!({"workflow_type": "w"}),
    )
    .await;
    let repository = created(
        format!("/projects/{project}/repositories"),
        json!({"url": "https://h.io/a/b"}),
    )
    .await;
    let intruder = app.new_tenant_key("tenant-b").await;
    let task_path = format!("/projects/{project}/tasks/{}", task["id"]);
    let run_path = format!("/projects/{project}/runs/{}", run["id"]);
    let repository_path = format!("/projects/{project}/repositories/{}", repository["id"]);
    let milestone_path = format!("/projects/{project}/milestones/{}", milestone["id"]);
    // A parent_task_id and depends_on too: the graph checks must not tell an intruder the
    // task exists.
    let body = json!({"title": "x", "name": "x", "slug": "x", "external_id": "k", "parent_task_id": task["id"],
                      "workflow_type": "w", "url": "https://h.io/a/c", "event_id": "e", "event_type": "t",
                      "worker_id": "w", "depends_on": [task["id"]]});
    let routes = [
        (Method::GET, format!("/projects/{project}")),
        (Method::PATCH, format!("/projects/{project}")),
        (Method::DELETE, format!("/projects/{project}")),
        (Method::GET, format!("/projects/{project}/milestones")),
        (Method::POST, format!("/projects/{project}/milestones")),
        (Method::GET, milestone_path.clone()),
        (Method::PATCH, milestone_path.clone()),
        (Method::DELETE, milestone_path),
        (Method::GET, format!("/projects/{project}/tasks")),
        (Method::POST, format!("/projects/{project}/tasks")),
        (Method::POST, format!("/projects/{project}/tasks:bulk")),
        (Method::GET, format!("/projects/{project}/summary")),
        (Method::GET, format!("/projects/{project}/changes")),
        (Method::GET, format!("/projects/{project}/events")),
        (Method::GET, format!("/projects/{project}/runs")),
        (Method::POST, format!("/projects/{project}/runs")),
        (Method::GET, run_path.clone()),
        (Method::PATCH, run_path.clone()),
        (Method::GET, format!("{run_path}/events")),
        (Method::POST, format!("{run_path}/events")),
        (Method::DELETE, run_path),
        (Method::PUT, format!("/projects/{project}/artifacts/plan")),
        (Method::GET, format!("/projects/{project}/artifacts/plan")),
        (Method::GET, format!("/projects/{project}/artifacts")),
        (
            Method::DELETE,
            format!("/projects/{project}/artifacts/plan"),
        ),
        (Method::PUT, format!("{task_path}/artifacts/plan")),
        (Method::GET, format!("{task_path}/artifacts/plan")),
        (Method::GET, format!("{task_path}/artifacts")),
        (Method::DELETE, format!("{task_path}/artifacts/plan")),
        (Method::GET, format!("/projects/{project}/repositories")),
        (Method::POST, format!("/projects/{project}/repositories")),
        (Method::GET, repository_path.clone()),
        (Method::PATCH, repository_path.clone()),
        (Method::DELETE, repository_path),
        (Method::GET, task_path.clone()),
        (Method::PATCH, task_path.clone()),
        (Method::POST, format!("/projects/{project}/tasks:claim")),
        (Method::POST, format!("{task_path}:heartbeat")),
        (Method::POST, format!("{task_path}:release")),
        (Method::DELETE, task_path),
    ];
    for (method, path) in routes {
        let mut request = app
            .client
            .request(method.clone(), app.url(&path))
            .bearer_auth(&intruder);
        if method == Method::PUT {
            request = request.header("content-type", "text/plain").body("content");
        } else if method == Method::POST || method == Method::PATCH {
            let payload = if path.ends_with(":bulk") {
                json!({"tasks": [body.clone()]})
            } else {
                body.clone()
            };
            request = request.json(&payload);
        }
        let response = request.send().await.unwrap();
        assert_problem(response, StatusCode::NOT_FOUND).await;
    }
    let listed = crate::helpers::body(
        app.client
            .get(app.url("/projects"))
            .bearer_auth(&intruder)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(listed["data"], json!([]));
    // Nothing of the owner's was touched.
    assert_eq!(app.task_count(project).await, 1);
    let owned = crate::helpers::body(
        app.get(&format!("/projects/{project}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(owned["slug"], "mine");
}
