use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, body, pointers, serve_settings, spawn_app};

async fn claim(app: &TestApp, project: i64, request: Value) -> (StatusCode, Value) {
    let response = app
        .post(&format!("/projects/{project}/tasks:claim"), &request)
        .send()
        .await
        .unwrap();
    (response.status(), body(response).await)
}

async fn act(
    app: &TestApp,
    project: i64,
    task: &Value,
    action: &str,
    request: Value,
) -> reqwest::Response {
    app.post(
        &format!("/projects/{project}/tasks/{}:{action}", task["id"]),
        &request,
    )
    .send()
    .await
    .unwrap()
}

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
    let milestone = body(
        app.post(
            &format!("/projects/{project}/milestones"),
            &json!({"name": "m", "slug": "m"}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await["id"]
        .clone();
    let run = body(
        app.post(
            &format!("/projects/{project}/runs"),
            &json!({"workflow_type": "wf"}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await["id"]
        .clone();
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

#[tokio::test]
async fn a_lapsed_lease_is_claimed_again_after_it_lapses_and_not_before() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    app.create_task(project, json!({"title": "t"})).await;
    let (_, first) = claim(
        &app,
        project,
        json!({"worker_id": "crashed", "lease_secs": 1}),
    )
    .await;
    let (status, _) = claim(&app, project, json!({"worker_id": "other"})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "the lease still runs");

    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (status, again) = claim(&app, project, json!({"worker_id": "other"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["claimed_by"], "other");

    // The crashed worker comes back: it holds nothing any more.
    let response = act(
        &app,
        project,
        &first,
        "heartbeat",
        json!({"worker_id": "crashed"}),
    )
    .await;
    let problem = assert_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(problem["code"], "not_claimant");
    assert!(problem["detail"].as_str().unwrap().contains("`other`"));
    let response = app
        .patch(
            &format!("/projects/{project}/tasks/{}", first["id"]),
            &json!({"status": "done", "worker_id": "crashed"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        assert_problem(response, StatusCode::CONFLICT).await["code"],
        "not_claimant"
    );
}

#[tokio::test]
async fn heartbeats_keep_a_claim_past_its_first_lease() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    app.create_task(project, json!({"title": "t"})).await;
    let (_, task) = claim(&app, project, json!({"worker_id": "a", "lease_secs": 1})).await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let response = act(
            &app,
            project,
            &task,
            "heartbeat",
            json!({"worker_id": "a", "lease_secs": 1}),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        let (status, _) = claim(&app, project, json!({"worker_id": "b"})).await;
        assert_eq!(
            status,
            StatusCode::NO_CONTENT,
            "a kept claim is not claimable"
        );
    }
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (status, _) = claim(&app, project, json!({"worker_id": "b"})).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "without heartbeats the lease lapses"
    );
}

#[tokio::test]
async fn a_release_by_the_holder_reopens_the_task_and_by_anyone_else_is_refused() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    app.create_task(project, json!({"title": "t"})).await;
    let (_, task) = claim(&app, project, json!({"worker_id": "a"})).await;
    let response = act(&app, project, &task, "release", json!({"worker_id": "b"})).await;
    assert_eq!(
        assert_problem(response, StatusCode::CONFLICT).await["code"],
        "not_claimant"
    );

    let response = act(&app, project, &task, "release", json!({"worker_id": "a"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let released = body(response).await;
    assert_eq!(released["status"], "open");
    assert_eq!(released["claimed_by"], Value::Null);
    assert_eq!(released["claim_expires_at"], Value::Null);
    let (status, again) = claim(&app, project, json!({"worker_id": "b"})).await;
    assert_eq!(
        (status, again["id"].clone()),
        (StatusCode::OK, task["id"].clone())
    );

    let missing = json!({"id": 999_999});
    let response = act(
        &app,
        project,
        &missing,
        "release",
        json!({"worker_id": "b"}),
    )
    .await;
    assert_problem(response, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_status_change_by_anyone_clears_the_claim_and_worker_id_guards_a_patch() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    app.create_task(project, json!({"title": "t"})).await;
    let (_, task) = claim(&app, project, json!({"worker_id": "a"})).await;
    let path = format!("/projects/{project}/tasks/{}", task["id"]);

    let response = app
        .patch(&path, &json!({"title": "stolen", "worker_id": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        assert_problem(response, StatusCode::CONFLICT).await["code"],
        "not_claimant"
    );
    let response = app
        .patch(&path, &json!({"title": "renamed", "worker_id": "a"}))
        .send()
        .await
        .unwrap();
    let renamed = body(response).await;
    assert_eq!(
        (renamed["title"].as_str(), renamed["claimed_by"].as_str()),
        (Some("renamed"), Some("a"))
    );

    let response = app
        .patch(&path, &json!({"status": "done"}))
        .send()
        .await
        .unwrap();
    let done = body(response).await;
    assert_eq!(done["status"], "done");
    assert_eq!(done["claimed_by"], Value::Null);
    assert_eq!(done["claimed_at"], Value::Null);
}

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
