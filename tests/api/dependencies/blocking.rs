//! Blocking: a task can be claimed only once every dependency is done or archived, reopening a
//! dependency blocks it again, a deleted dependency unblocks it, and a chain is worked strictly
//! in order by many agents.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{claim, get, patch};
use crate::helpers::{body, spawn_app};

#[tokio::test]
async fn a_task_is_claimable_only_when_every_dependency_is_done_or_archived() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (_, a) = app.create_task(project, json!({"title": "a"})).await;
    let (_, b) = app.create_task(project, json!({"title": "b"})).await;
    let (status, c) = app
        .create_task(
            project,
            json!({"title": "c", "priority_score": 100, "depends_on": [a["id"], b["id"]]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(c["depends_on"], json!([a["id"], b["id"]]));
    assert_eq!(c["blocked_by"], 2);

    let first = claim(&app, project, "w").await.unwrap();
    assert_eq!(first["title"], "a", "c outranks a but waits for it");
    patch(&app, project, &a["id"], json!({"status": "done"})).await;
    assert_eq!(get(&app, project, &c["id"]).await["blocked_by"], 1);
    patch(&app, project, &b["id"], json!({"status": "archived"})).await;
    let unblocked = get(&app, project, &c["id"]).await;
    assert_eq!(unblocked["blocked_by"], 0);
    assert_eq!(
        unblocked["version"], 3,
        "each recount is a change of the task"
    );
    assert_eq!(claim(&app, project, "w").await.unwrap()["title"], "c");

    // Reopening a dependency blocks its dependents again.
    patch(&app, project, &a["id"], json!({"status": "open"})).await;
    assert_eq!(get(&app, project, &c["id"]).await["blocked_by"], 1);
}

#[tokio::test]
async fn a_deleted_dependency_leaves_its_dependents_unblocked() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (_, a) = app.create_task(project, json!({"title": "a"})).await;
    let (_, b) = app
        .create_task(project, json!({"title": "b", "depends_on": [a["id"]]}))
        .await;
    let response = app
        .delete(&format!("/projects/{project}/tasks/{}", a["id"]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let after = get(&app, project, &b["id"]).await;
    assert_eq!(
        (after["depends_on"].clone(), after["blocked_by"].clone()),
        (json!([]), json!(0))
    );
}

/// Eight agents work a chain of 50 tasks (each waits for the one before; later ones rank
/// higher, to tempt them): the chain is worked strictly in order.
#[tokio::test]
async fn a_chain_of_fifty_is_worked_strictly_in_order_by_eight_agents() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let chain: Vec<Value> = (0..50)
        .map(|i| {
            let waits: Vec<String> = if i == 0 {
                vec![]
            } else {
                vec![format!("step-{}", i - 1)]
            };
            json!({"title": format!("{i}"), "external_id": format!("step-{i}"),
                   "priority_score": i, "depends_on_external_ids": waits})
        })
        .collect();
    let (status, _) = app.bulk(project, json!(chain)).await;
    assert_eq!(status, StatusCode::CREATED);
    let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut agents = Vec::new();
    for agent in 0..8 {
        let (client, key, base) = (app.client.clone(), app.api_key.clone(), app.address.clone());
        let order = order.clone();
        agents.push(tokio::spawn(async move {
            let worker = format!("agent-{agent}");
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while order.lock().unwrap().len() < 50 && tokio::time::Instant::now() < deadline {
                let response = client
                    .post(format!("{base}/projects/{project}/tasks:claim"))
                    .bearer_auth(&key)
                    .json(&json!({"worker_id": worker}))
                    .send()
                    .await
                    .unwrap();
                if response.status() == StatusCode::NO_CONTENT {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                let task = body(response).await;
                order
                    .lock()
                    .unwrap()
                    .push(task["title"].as_str().unwrap().parse::<i64>().unwrap());
                let done = client
                    .patch(format!("{base}/projects/{project}/tasks/{}", task["id"]))
                    .bearer_auth(&key)
                    .json(&json!({"status": "done", "worker_id": worker}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(done.status(), StatusCode::OK);
            }
        }));
    }
    for agent in agents {
        agent.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), (0..50).collect::<Vec<i64>>());
    assert!(claim(&app, project, "late").await.is_none());
}
