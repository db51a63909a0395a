//! Another tenant gets 404 on every repository route and changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::add;
use crate::helpers::{assert_problem, body, spawn_app};

#[tokio::test]
async fn another_tenant_gets_404_on_every_repository_route() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (_, _, stored) = add(&app, project, json!({"url": "https://h.io/a/b"})).await;
    let intruder = app.new_tenant_key("tenant-b").await;
    let list = format!("/projects/{project}/repositories");
    let one = format!("{list}/{}", stored["id"]);
    let input = json!({"url": "https://h.io/a/b", "default_branch": "theirs"});
    for (method, path) in [
        (Method::POST, &list),
        (Method::GET, &list),
        (Method::GET, &one),
        (Method::PATCH, &one),
        (Method::DELETE, &one),
    ] {
        let request = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(&intruder);
        let request = if method == Method::POST || method == Method::PATCH {
            request.json(&input)
        } else {
            request
        };
        assert_problem(request.send().await.unwrap(), StatusCode::NOT_FOUND).await;
    }
    assert_eq!(body(app.get(&one).send().await.unwrap()).await, stored);
}
