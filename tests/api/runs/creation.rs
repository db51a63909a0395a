//! Creating runs: a run created twice under one external id is 201 then 200 with the stored
//! run (without one, every request is a run), metadata numbers come back as sent, and
//! concurrent creates on two servers give exactly one 201.

use serde_json::{Value, json};

use super::{CREATED, OK, exchange, expect, run_count, run_with, send};
use crate::helpers::{body, serve_settings, spawn_app};

#[tokio::test]
async fn a_run_created_twice_under_retry_is_201_then_200_with_the_stored_run_unchanged() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let runs = format!("/projects/{project}/runs");
    let input = json!({"external_id": "wf-1", "workflow_type": "feature", "source": "cli",
                       "model_profile": "fast", "metadata": {"branch": "main"}});
    let (status, headers, run) = exchange(app.post(&runs, &input)).await;
    assert_eq!(status, CREATED);
    assert_eq!(headers["etag"], "\"1\"");
    assert!(headers.get("idempotent-replayed").is_none());
    let location = headers["location"].to_str().unwrap();
    assert_eq!(location, format!("{runs}/{}", run["id"]));
    assert_eq!(run["status"], "running");
    assert_eq!(run["workflow_type"], "feature");
    assert_eq!(run["metadata"], json!({"branch": "main"}));
    assert!(run["started_at"].is_string() && run["completed_at"].is_null());
    assert_eq!(expect(app.get(location), OK).await, run);

    // The retry carries other fields: they are ignored, the stored run is the answer.
    let retry = json!({"external_id": "wf-1", "workflow_type": "other", "status": "failed"});
    let (status, headers, replayed) = exchange(app.post(&runs, &retry)).await;
    assert_eq!(status, OK);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(replayed, run);
    assert_eq!(run_count(&app, project).await, 1);
    // Without a key, every request is a run; a run created finished is completed at once.
    for _ in 0..2 {
        let failed = run_with("status", json!("failed"));
        let run = expect(app.post(&runs, &failed), CREATED).await;
        assert!(run["completed_at"].is_string());
    }
    assert_eq!(run_count(&app, project).await, 3);
}

#[tokio::test]
async fn metadata_numbers_at_the_edges_of_a_double_come_back_as_sent() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    // PostgreSQL's jsonb prints these with every digit (309 of them, or 230 zeros after the
    // point); reading them back must round exactly, not overflow into a 500.
    let metadata =
        json!({"largest": f64::MAX, "tiny": 3.0719950646076577e-230, "negative": -f64::MAX});
    let path = format!("/projects/{project}/runs");
    let created = app
        .post(&path, &json!({"workflow_type": "w", "metadata": metadata}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), CREATED);
    let created = body(created).await;
    assert_eq!(created["metadata"], metadata);
    let read = body(
        app.get(&format!("{path}/{}", created["id"]))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(read["metadata"], metadata);
}

#[tokio::test]
async fn concurrent_creates_of_one_run_on_two_servers_give_exactly_one_201() {
    let app = spawn_app().await;
    let replica = app.start_server(&serve_settings());
    let project = app.create_project("p").await;
    let requests = (0..30).map(|i| {
        let base = if i % 2 == 0 { &app.address } else { &replica };
        let run = json!({"external_id": "wf-race", "workflow_type": format!("attempt {i}")});
        let url = format!("{base}/projects/{project}/runs");
        send(app.client.post(url).bearer_auth(&app.api_key).json(&run))
    });
    let answers = futures_util::future::join_all(requests).await;
    let mut statuses: Vec<u16> = answers.iter().map(|(s, _)| s.as_u16()).collect();
    statuses.sort();
    assert_eq!(statuses, [vec![200; 29], vec![201]].concat());
    let mut ids: Vec<&Value> = answers.iter().map(|(_, run)| &run["id"]).collect();
    ids.dedup();
    assert_eq!(ids.len(), 1, "every answer names the same run");
    assert_eq!(run_count(&app, project).await, 1);
}
