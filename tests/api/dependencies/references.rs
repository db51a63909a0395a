//! What a dependency may name: a task of the project (409 naming the field otherwise, and a
//! bulk plan is refused whole), or an item of the same bulk plan by external id, which replays
//! unchanged.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{get, patch};
use crate::helpers::{assert_problem, pointers, spawn_app};

#[tokio::test]
async fn a_dependency_on_an_unknown_task_is_a_409_naming_the_field() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let other = app.create_project("q").await;
    let (_, elsewhere) = app.create_task(other, json!({"title": "x"})).await;
    let (status, problem) = app
        .create_task(
            project,
            json!({"title": "t", "depends_on": [elsewhere["id"]]}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("reference_not_found"))
    );
    assert_eq!(pointers(&problem), ["/depends_on"]);

    let (status, problem) = app
        .bulk(
            project,
            json!([{"title": "a"}, {"title": "b", "depends_on_external_ids": ["nowhere"]}]),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(pointers(&problem), ["/tasks/1/depends_on_external_ids"]);
    assert_eq!(app.task_count(project).await, 0, "nothing half-written");

    let (_, t) = app.create_task(project, json!({"title": "t"})).await;
    let response = patch(
        &app,
        project,
        &t["id"],
        json!({"depends_on": [elsewhere["id"]]}),
    )
    .await;
    let problem = assert_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(pointers(&problem), ["/depends_on"]);
}

#[tokio::test]
async fn a_bulk_plan_depends_on_its_own_items_by_external_id_and_replays_unchanged() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (_, stored) = app
        .create_task(
            project,
            json!({"title": "s", "external_id": "wf-1:0", "status": "done"}),
        )
        .await;
    let plan = json!([
        {"title": "build", "external_id": "wf-2:1", "depends_on_external_ids": ["wf-1:0"]},
        {"title": "test", "external_id": "wf-2:2", "depends_on_external_ids": ["wf-2:1"]},
        {"title": "ship", "external_id": "wf-2:3", "depends_on_external_ids": ["wf-2:2", "wf-2:1"]},
    ]);
    let (status, result) = app.bulk(project, plan.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let created = result["created"].as_array().unwrap();
    let ids: Vec<Value> = created.iter().map(|t| t["id"].clone()).collect();
    assert_eq!(created[0]["depends_on"], json!([stored["id"]]));
    assert_eq!(created[0]["blocked_by"], 0);
    assert_eq!(created[1]["depends_on"], json!([ids[0]]));
    assert_eq!(created[2]["depends_on"], json!([ids[1], ids[0]]));
    assert_eq!(created[2]["blocked_by"], 2);
    for task in created {
        assert_eq!(get(&app, project, &task["id"]).await, *task);
    }

    let (status, replay) = app.bulk(project, plan).await;
    assert_eq!(status, StatusCode::OK);
    let skipped: Vec<Value> = replay["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["task"].clone())
        .collect();
    assert_eq!(&skipped, created);
}
