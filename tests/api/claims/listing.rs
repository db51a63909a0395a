//! The task list filters by claimant and by whether a task can be claimed.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::claim;
use crate::helpers::{assert_problem, body, spawn_app};

#[tokio::test]
async fn lists_filter_by_claimant_and_by_claimability() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    app.bulk(
        project,
        json!([{"title": "a"}, {"title": "b"}, {"title": "c"}, {"title": "d", "status": "done"}]),
    )
    .await;
    claim(&app, project, json!({"worker_id": "w1"})).await;
    claim(&app, project, json!({"worker_id": "w2"})).await;
    let titles = |page: Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = |query: &str| {
        app.get(&format!(
            "/projects/{project}/tasks?sort=created_at&{query}"
        ))
        .send()
    };
    assert_eq!(
        titles(body(list("claimed_by=w1").await.unwrap()).await),
        ["a"]
    );
    assert_eq!(
        titles(body(list("claimable=true").await.unwrap()).await),
        ["c"]
    );
    assert_eq!(
        titles(body(list("claimable=false").await.unwrap()).await),
        ["a", "b", "d"]
    );
    let response = list("claimed_by=").await.unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST).await;
}
