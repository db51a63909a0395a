//! Problem `type`s are relative references (`/problems/{code}`) to pages every deployment
//! serves: one per code of the spec, without a key; unknown codes are 404.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, assert_problem, spawn_app};

/// The codes the spec publishes (`ErrorCode`).
fn codes_in_the_spec() -> Vec<String> {
    let spec: Value = serde_json::from_str(&taskdash::openapi::spec_json()).unwrap();
    let codes = spec["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap();
    codes
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

async fn page(app: &TestApp, path: &str) -> reqwest::Response {
    app.client.get(app.url(path)).send().await.unwrap()
}

#[tokio::test]
async fn every_code_of_the_spec_has_a_page_served_without_a_key() {
    let app = spawn_app().await;
    let codes = codes_in_the_spec();
    assert!(codes.len() >= 15, "{codes:?}");
    for code in codes {
        let response = page(&app, &format!("/problems/{code}")).await;
        assert_eq!(response.status(), StatusCode::OK, "{code}");
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=utf-8",
            "{code}"
        );
        let html = response.text().await.unwrap();
        assert!(html.contains(&format!("<code>{code}</code>")), "{code}");
        assert!(html.contains("<h1>") && html.len() > 300, "{code}");
    }
}

#[tokio::test]
async fn the_type_of_an_answered_problem_is_a_page_that_describes_it() {
    let app = spawn_app().await;
    let problem = assert_problem(
        app.get("/projects/999").send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    let response = page(&app, problem["type"].as_str().unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains(problem["title"].as_str().unwrap()), "{html}");
}

#[tokio::test]
async fn an_unknown_problem_type_is_404() {
    let app = spawn_app().await;
    for path in [
        "/problems/teapot",
        "/problems/NOT_FOUND",
        "/problems/not-found",
    ] {
        let problem = assert_problem(page(&app, path).await, StatusCode::NOT_FOUND).await;
        assert_eq!(problem["code"], "not_found", "{path}");
    }
}
