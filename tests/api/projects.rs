use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, body, pointers, spawn_app};

#[tokio::test]
async fn projects_can_be_created_read_renamed_listed_and_deleted() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/projects",
            &json!({"name": "Uploader", "slug": "uploader", "description": "d"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let project = body(response).await;
    assert_eq!(
        body(app.get(&location).send().await.unwrap()).await,
        project
    );

    let renamed = body(
        app.patch(
            &location,
            &json!({"name": "Uploader 2", "description": null}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(renamed["name"], "Uploader 2");
    assert_eq!(renamed["slug"], "uploader");
    assert_eq!(renamed["description"], Value::Null);

    for slug in ["b", "c"] {
        app.create_project(slug).await;
    }
    let first = body(app.get("/projects?limit=2").send().await.unwrap()).await;
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = body(
        app.get(&format!("/projects?limit=2&cursor={cursor}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(second["data"][0]["slug"], "c");
    assert_eq!(second["next_cursor"], Value::Null);

    let project_id = project["id"].as_i64().unwrap();
    app.create_task(project_id, json!({"title": "T"})).await;
    assert_eq!(
        app.delete(&location).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_problem(
        app.get(&location).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        app.task_count(project_id).await,
        0,
        "tasks go with their project"
    );
}

#[tokio::test]
async fn slugs_are_validated_and_unique_per_tenant() {
    let app = spawn_app().await;
    app.create_project("taken").await;
    let response = app
        .post("/projects", &json!({"name": "x", "slug": "taken"}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(problem["code"], "conflict");
    for (input, expected) in [
        (json!({"name": "x", "slug": "Not Valid"}), vec!["/slug"]),
        (json!({"name": "", "slug": "ok"}), vec!["/name"]),
        (json!({}), vec!["/name", "/slug"]),
    ] {
        let response = app.post("/projects", &input).send().await.unwrap();
        let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(pointers(&problem), expected, "{input}");
    }
    // Another tenant may use the same slug.
    let other = app.new_tenant_key("tenant-b").await;
    let response = app
        .client
        .post(app.url("/projects"))
        .bearer_auth(other)
        .json(&json!({"name": "x", "slug": "taken"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn milestones_carry_their_task_counts_and_release_tasks_when_deleted() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let response = app
        .post(
            &format!("/projects/{project}/milestones"),
            &json!({"name": "v1", "slug": "v1"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let milestone = body(response).await;
    assert_eq!(milestone["status"], "active");
    let zero = json!({"open": 0, "in_progress": 0, "in_review": 0, "blocked": 0, "done": 0, "archived": 0});
    assert_eq!(
        milestone["task_counts"],
        json!({"total": 0, "done": 0, "by_status": zero})
    );
    let id = &milestone["id"];
    for status in ["open", "done", "done"] {
        app.create_task(
            project,
            json!({"title": "T", "milestone_id": id, "status": status}),
        )
        .await;
    }
    let path = format!("/projects/{project}/milestones/{id}");
    let fetched = body(app.get(&path).send().await.unwrap()).await;
    let counts = json!({"total": 3, "done": 2, "by_status": {
        "open": 1, "in_progress": 0, "in_review": 0, "blocked": 0, "done": 2, "archived": 0}});
    assert_eq!(fetched["task_counts"], counts);
    let listed = body(
        app.get(&format!("/projects/{project}/milestones"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(listed["data"][0]["task_counts"], counts);

    let completed = body(
        app.patch(&path, &json!({"status": "completed"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["task_counts"]["total"], 3);
    let response = app
        .post(
            &format!("/projects/{project}/milestones"),
            &json!({"name": "again", "slug": "v1"}),
        )
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::CONFLICT).await;

    assert_eq!(
        app.delete(&path).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.task_count(project).await,
        3,
        "tasks outlive their milestone"
    );
    let tasks = body(
        app.get(&format!("/projects/{project}/tasks"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        tasks["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["milestone_id"].is_null())
    );
}

#[tokio::test]
async fn a_project_without_milestones_lists_an_empty_page_and_a_missing_project_is_404() {
    let app = spawn_app().await;
    let project = app.create_project("bare").await;
    let response = app
        .get(&format!("/projects/{project}/milestones"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        body(response).await,
        json!({"data": [], "next_cursor": null})
    );
    let response = app
        .get(&format!("/projects/{}/milestones", project + 1000))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::NOT_FOUND).await;
}
