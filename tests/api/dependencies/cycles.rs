//! No dependency cycles: a bulk plan looping on itself is refused whole, a PATCH closing a cycle
//! is refused, and two concurrent PATCHes never close one together.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{get, patch};
use crate::helpers::{assert_problem, body, spawn_app};

#[tokio::test]
async fn a_plan_whose_items_wait_for_each_other_in_a_loop_is_refused_whole() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (status, problem) = app
        .bulk(
            project,
            json!([
                {"title": "a", "external_id": "a", "depends_on_external_ids": ["c"]},
                {"title": "b", "external_id": "b", "depends_on_external_ids": ["a"]},
                {"title": "c", "external_id": "c", "depends_on_external_ids": ["b"]},
            ]),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    assert!(problem["detail"].as_str().unwrap().contains("/tasks/"));
    assert_eq!(app.task_count(project).await, 0);
}

#[tokio::test]
async fn a_patch_that_would_close_a_dependency_cycle_is_refused() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (_, a) = app.create_task(project, json!({"title": "a"})).await;
    let (_, b) = app
        .create_task(project, json!({"title": "b", "depends_on": [a["id"]]}))
        .await;
    let (_, c) = app
        .create_task(project, json!({"title": "c", "depends_on": [b["id"]]}))
        .await;
    for (task, depends_on) in [(&a, &c), (&a, &a)] {
        let response = patch(
            &app,
            project,
            &task["id"],
            json!({"depends_on": [depends_on["id"]]}),
        )
        .await;
        let problem = assert_problem(response, StatusCode::CONFLICT).await;
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .starts_with("depends_on would make")
        );
    }
    assert_eq!(get(&app, project, &a["id"]).await["depends_on"], json!([]));
    let response = patch(&app, project, &c["id"], json!({"depends_on": [a["id"]]})).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a dependency that closes no cycle"
    );
    assert_eq!(body(response).await["blocked_by"], 1);
}

/// Pairs of PATCHes, each harmless alone, that close a cycle together: exactly one of each
/// pair may win, for dependencies and for parents alike.
#[tokio::test]
async fn two_concurrent_patches_never_close_a_cycle_together() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    for field in ["depends_on", "parent_task_id"] {
        let mut races = Vec::new();
        for _ in 0..12 {
            let (_, a) = app.create_task(project, json!({"title": "a"})).await;
            let (_, b) = app.create_task(project, json!({"title": "b"})).await;
            let value = |id: &Value| {
                if field == "depends_on" {
                    json!([id])
                } else {
                    id.clone()
                }
            };
            let (first, second) = (
                json!({ field: value(&b["id"]) }),
                json!({ field: value(&a["id"]) }),
            );
            let app = &app;
            races.push(async move {
                let (one, other) = tokio::join!(
                    patch(app, project, &a["id"], first),
                    patch(app, project, &b["id"], second)
                );
                (one.status(), other.status())
            });
        }
        for (one, other) in futures_util::future::join_all(races).await {
            let mut statuses = [one, other];
            statuses.sort();
            assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT], "{field}");
        }
    }
}
