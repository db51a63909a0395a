//! What a claim takes: the most urgent open task (204 when none is left), answered with its
//! `ETag` and the lease asked for, narrowed by the filters; a bad claim is 400 naming each
//! field, another tenant's project 404.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::claim;
use crate::helpers::{assert_problem, body, pointers, spawn_app};

#[tokio::test]
async fn a_claim_takes_the_most_urgent_open_task_and_204_when_none_is_left() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    app.bulk(
        project,
        json!([
            {"title": "low", "priority_score": 1},
            {"title": "high", "priority_score": 9},
            {"title": "done", "priority_score": 10, "status": "done"},
            {"title": "mid", "priority_score": 5},
        ]),
    )
    .await;
    let mut titles = Vec::new();
    for _ in 0..3 {
        let (status, task) = claim(&app, project, json!({"worker_id": "agent-1"})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(task["status"], "in_progress");
        assert_eq!(task["claimed_by"], "agent-1");
        assert_eq!(task["version"], 2);
        assert!(task["claimed_at"].is_string() && task["claim_expires_at"].is_string());
        titles.push(task["title"].as_str().unwrap().to_owned());
    }
    assert_eq!(titles, ["high", "mid", "low"]);
    let (status, nothing) = claim(&app, project, json!({"worker_id": "agent-1"})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(nothing, Value::Null);
}

#[tokio::test]
async fn a_claim_answers_with_the_task_etag_and_the_lease_asked_for() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    app.create_task(project, json!({"title": "t"})).await;
    let response = app
        .post(
            &format!("/projects/{project}/tasks:claim"),
            &json!({"worker_id": "agent-1", "lease_secs": 60}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"], "\"2\"");
    let task = body(response).await;
    let at =
        |field: &str| chrono::DateTime::parse_from_rfc3339(task[field].as_str().unwrap()).unwrap();
    assert_eq!(
        (at("claim_expires_at") - at("claimed_at")).num_seconds(),
        60
    );
}

#[tokio::test]
async fn claims_filter_by_status_labels_milestone_and_run() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let milestone = app.create_milestone(project, "m").await;
    let run = app.create_run(project).await;
    app.bulk(
        project,
        json!([
            {"title": "top", "priority_score": 100},
            {"title": "review", "status": "in_review"},
            {"title": "labelled", "labels": ["gpu", "big"]},
            {"title": "milestone", "milestone_id": milestone},
            {"title": "run", "run_id": run},
        ]),
    )
    .await;
    let cases = [
        (json!({"statuses": ["in_review"]}), "review"),
        (json!({"labels": ["gpu"]}), "labelled"),
        (json!({"milestone_id": milestone}), "milestone"),
        (json!({"run_id": run}), "run"),
        (json!({}), "top"),
    ];
    for (mut request, expected) in cases {
        request["worker_id"] = json!("w");
        let (status, task) = claim(&app, project, request.clone()).await;
        assert_eq!(status, StatusCode::OK, "{request}");
        assert_eq!(task["title"], expected, "{request}");
    }
}

#[tokio::test]
async fn a_bad_claim_is_a_400_naming_each_field_and_an_unknown_project_a_404() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let response = app
        .post(
            &format!("/projects/{project}/tasks:claim"),
            &json!({"lease_secs": 0, "statuses": [], "worker_id": null}),
        )
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        pointers(&problem),
        ["/worker_id", "/lease_secs", "/statuses"]
    );
    let response = app
        .post(
            &format!("/projects/{project}/tasks:claim"),
            &json!({"worker_id": " "}),
        )
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST).await;

    let other = app.new_tenant_key("tenant-b").await;
    let response = app
        .client
        .post(app.url(&format!("/projects/{project}/tasks:claim")))
        .bearer_auth(other)
        .json(&json!({"worker_id": "w"}))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::NOT_FOUND).await;
}
