//! Concurrent claimers on three replicas claim every task exactly once.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{body, serve_settings, spawn_app};

/// 32 agents on three replicas drain 300 tasks: claim, then finish with a PATCH guarded by
/// `worker_id`. Every task is claimed exactly once and none is lost.
#[tokio::test]
async fn concurrent_claimers_on_three_replicas_claim_every_task_exactly_once() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let tasks: Vec<Value> = (0..300)
        .map(|i| json!({"title": format!("t{i}"), "priority_score": i % 7}))
        .collect();
    app.bulk(project, json!(tasks)).await;
    let replicas = [
        app.address.clone(),
        app.start_server(&serve_settings()),
        app.start_server(&serve_settings()),
    ];
    let mut agents = Vec::new();
    for agent in 0..32 {
        let client = app.client.clone();
        let key = app.api_key.clone();
        let base = replicas[agent % 3].clone();
        agents.push(tokio::spawn(async move {
            let worker = format!("agent-{agent}");
            let mut claimed = Vec::new();
            loop {
                let response = client
                    .post(format!("{base}/projects/{project}/tasks:claim"))
                    .bearer_auth(&key)
                    .json(&json!({"worker_id": worker}))
                    .send()
                    .await
                    .unwrap();
                if response.status() == StatusCode::NO_CONTENT {
                    return claimed;
                }
                assert_eq!(response.status(), StatusCode::OK);
                let task = body(response).await;
                assert_eq!(task["claimed_by"], json!(worker));
                let done = client
                    .patch(format!("{base}/projects/{project}/tasks/{}", task["id"]))
                    .bearer_auth(&key)
                    .json(&json!({"status": "done", "worker_id": worker}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    done.status(),
                    StatusCode::OK,
                    "the claimant finishes its task"
                );
                claimed.push(task["id"].as_i64().unwrap());
            }
        }));
    }
    let mut all = Vec::new();
    for agent in agents {
        all.extend(agent.await.unwrap());
    }
    let distinct: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 300, "every task claimed once");
    assert_eq!(distinct.len(), 300, "no task claimed twice");
    let open: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tasks WHERE project_id = $1 AND status <> 'done'")
            .bind(project)
            .fetch_one(&mut *app.pool.acquire().await.unwrap())
            .await
            .unwrap();
    assert_eq!(open, 0);
}
