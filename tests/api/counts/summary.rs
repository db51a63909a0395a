//! The project summary: tasks by status and by milestone, the oldest open task and the last
//! activity; zeros for an empty project; 404 for another tenant or a missing project.

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, body, spawn_app};

fn at(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_summary_counts_tasks_by_status_and_milestone_and_finds_the_oldest_open_task() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let mut milestones = Vec::new();
    for (slug, status) in [
        ("alpha", "active"),
        ("beta", "completed"),
        ("empty", "active"),
    ] {
        let response = app
            .post(
                &format!("/projects/{project}/milestones"),
                &json!({"name": slug.to_uppercase(), "slug": slug, "status": status}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        milestones.push(body(response).await["id"].as_i64().unwrap());
    }
    let (alpha, beta, empty) = (milestones[0], milestones[1], milestones[2]);
    let mut created = Vec::new();
    for (status, milestone) in [
        ("open", None),
        ("open", Some(alpha)),
        ("blocked", Some(alpha)),
        ("done", Some(beta)),
        ("in_progress", Some(beta)),
        ("archived", None),
        ("blocked", None),
    ] {
        let (code, task) = app
            .create_task(
                project,
                json!({"title": "T", "status": status, "milestone_id": milestone}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{task}");
        created.push(task);
    }
    let changed = body(
        app.patch(
            &format!("/projects/{project}/tasks/{}", created[4]["id"]),
            &json!({"status": "in_review"}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(changed["status"], "in_review");

    let summary = body(
        app.get(&format!("/projects/{project}/summary"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let counts = |open, in_review, blocked, done, archived| {
        json!({"open": open, "in_progress": 0, "in_review": in_review, "blocked": blocked,
               "done": done, "archived": archived})
    };
    assert_eq!(summary["project_id"], project);
    assert_eq!(
        summary["tasks"],
        json!({"total": 7, "done": 1, "by_status": counts(2, 1, 2, 1, 1)})
    );
    assert_eq!(summary["blocked"], 2);
    assert_eq!(
        summary["milestones"],
        json!([
            {"id": alpha, "name": "ALPHA", "status": "active", "total": 2, "done": 0,
             "by_status": counts(1, 0, 1, 0, 0)},
            {"id": beta, "name": "BETA", "status": "completed", "total": 2, "done": 1,
             "by_status": counts(0, 1, 0, 1, 0)},
            {"id": empty, "name": "EMPTY", "status": "active", "total": 0, "done": 0,
             "by_status": counts(0, 0, 0, 0, 0)},
        ])
    );
    assert_eq!(
        at(&summary["oldest_open_created_at"]),
        at(&created[0]["created_at"])
    );
    assert_eq!(at(&summary["last_activity_at"]), at(&changed["updated_at"]));
}

#[tokio::test]
async fn an_empty_projects_summary_has_zeros_nulls_and_no_milestones() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let summary = body(
        app.get(&format!("/projects/{project}/summary"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let zero = json!({"open": 0, "in_progress": 0, "in_review": 0, "blocked": 0, "done": 0, "archived": 0});
    assert_eq!(
        summary,
        json!({
            "project_id": project,
            "tasks": {"total": 0, "done": 0, "by_status": zero},
            "blocked": 0,
            "milestones": [],
            "oldest_open_created_at": null,
            "last_activity_at": null,
            "runs": {"total": 0, "by_status": {"running": 0, "completed": 0, "failed": 0, "cancelled": 0}},
        })
    );
}

#[tokio::test]
async fn the_summary_of_another_tenants_or_a_missing_project_is_404() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    app.create_task(project, json!({"title": "T"})).await;
    let other = app.new_tenant_key("other").await;
    let response = app
        .client
        .get(app.url(&format!("/projects/{project}/summary")))
        .bearer_auth(other)
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::NOT_FOUND).await;
    let response = app
        .get(&format!("/projects/{}/summary", project + 1000))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::NOT_FOUND).await;
}
