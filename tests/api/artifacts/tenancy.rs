//! Another tenant gets 404 on every artifact route and changes nothing.

use reqwest::{Method, StatusCode};

use super::{project_with_task, put};
use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn another_tenant_gets_404_on_every_artifact_route() {
    let app = spawn_app().await;
    let (project, task) = project_with_task(&app).await;
    let of_task = format!("/projects/{project}/tasks/{task}/artifacts/plan");
    let of_project = format!("/projects/{project}/artifacts/plan");
    for path in [&of_task, &of_project] {
        assert_eq!(
            put(&app, path, None, b"mine").await.status(),
            StatusCode::CREATED
        );
    }
    let intruder = app.new_tenant_key("tenant-b").await;
    let mut routes = vec![
        (Method::GET, format!("/projects/{project}/artifacts")),
        (
            Method::GET,
            format!("/projects/{project}/tasks/{task}/artifacts"),
        ),
    ];
    for path in [&of_task, &of_project] {
        for method in [Method::PUT, Method::GET, Method::DELETE] {
            routes.push((method, path.clone()));
        }
    }
    for (method, path) in routes {
        let request = app
            .client
            .request(method, app.url(&path))
            .bearer_auth(&intruder);
        let response = request.body("theirs").send().await.unwrap();
        assert_problem(response, StatusCode::NOT_FOUND).await;
    }
    for path in [&of_task, &of_project] {
        let content = app.get(path).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(&content[..], b"mine");
    }
}
