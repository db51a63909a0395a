use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{pointers, serve_settings, spawn_app, spawn_app_with};

fn titles(tasks: &Value) -> Vec<&str> {
    tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_bulk_of_new_tasks_creates_them_all_in_request_order() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let tasks: Vec<Value> = (0..5)
        .map(|i| json!({"title": format!("t{i}"), "external_id": format!("wf-1:s:{}", 4 - i)}))
        .collect();
    let (status, result) = app.bulk(project, json!(tasks)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(titles(&result["created"]), ["t0", "t1", "t2", "t3", "t4"]);
    assert_eq!(result["skipped"], json!([]));
    assert_eq!(
        result["summary"],
        json!({"totalRequested": 5, "created": 5, "skipped": 0})
    );
    assert_eq!(app.task_count(project).await, 5);
}

#[tokio::test]
async fn stored_duplicates_are_skipped_with_reason_and_the_stored_task() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (_, stored) = app
        .create_task(
            project,
            json!({"title": "stored", "external_id": "wf-1:s:1"}),
        )
        .await;
    let (status, result) = app
        .bulk(
            project,
            json!([
                {"title": "new", "external_id": "wf-1:s:0"},
                {"title": "ignored", "external_id": "wf-1:s:1"},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(titles(&result["created"]), ["new"]);
    assert_eq!(
        result["skipped"],
        json!([{"task": stored, "reason": "duplicate_external_id", "external_id": "wf-1:s:1"}])
    );
    assert_eq!(
        result["summary"],
        json!({"totalRequested": 2, "created": 1, "skipped": 1})
    );
}

#[tokio::test]
async fn a_mix_with_and_without_external_ids_creates_every_keyless_item() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    app.create_task(project, json!({"title": "stored", "external_id": "k1"}))
        .await;
    let (status, result) = app
        .bulk(
            project,
            json!([
                {"title": "a"},
                {"title": "dup", "external_id": "k1"},
                {"title": "b", "external_id": "k2"},
                {"title": "a"},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(titles(&result["created"]), ["a", "b", "a"]);
    assert_eq!(result["summary"]["skipped"], 1);
    assert_eq!(app.task_count(project).await, 4);
}

#[tokio::test]
async fn rerunning_a_whole_bulk_creates_nothing_and_answers_200() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let tasks = json!([
        {"title": "a", "external_id": "wf-9:s:0"},
        {"title": "b", "external_id": "wf-9:s:1"},
    ]);
    let (first_status, first) = app.bulk(project, tasks.clone()).await;
    assert_eq!(first_status, StatusCode::CREATED);
    let (status, rerun) = app.bulk(project, tasks).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rerun["created"], json!([]));
    let skipped_tasks: Vec<Value> = rerun["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["reason"], "duplicate_external_id");
            s["task"].clone()
        })
        .collect();
    assert_eq!(json!(skipped_tasks), first["created"]);
    assert_eq!(
        rerun["summary"],
        json!({"totalRequested": 2, "created": 0, "skipped": 2})
    );
    assert_eq!(app.task_count(project).await, 2);
}

#[tokio::test]
async fn a_key_repeated_within_one_bulk_is_skipped_in_favour_of_its_first_occurrence() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (status, result) = app
        .bulk(
            project,
            json!([
                {"title": "first", "external_id": "k"},
                {"title": "second", "external_id": "k"},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(titles(&result["created"]), ["first"]);
    let skipped = &result["skipped"][0];
    assert_eq!(skipped["reason"], "duplicate_in_request");
    assert_eq!(skipped["external_id"], "k");
    assert_eq!(skipped["task"], result["created"][0]);
    assert_eq!(app.task_count(project).await, 1);
}

#[tokio::test]
async fn any_invalid_item_rejects_the_whole_bulk_listing_every_problem() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (status, problem) = app
        .bulk(
            project,
            json!([
                {"title": "fine", "external_id": "ok"},
                {"title": ""},
                {"title": "fine"},
                {"title": "x", "priority_score": 20000, "labels": ["ok", ""]},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        pointers(&problem),
        [
            "/tasks/1/title",
            "/tasks/3/priority_score",
            "/tasks/3/labels/1"
        ]
    );
    assert_eq!(app.task_count(project).await, 0);

    let (status, problem) = app
        .bulk(
            project,
            json!([{"title": "a"}, {"title": "b", "status": "nope"}]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(pointers(&problem), ["/tasks/1/status"]);
    assert_eq!(app.task_count(project).await, 0);
}

#[tokio::test]
async fn unknown_references_in_a_bulk_are_a_409_naming_each_item_and_nothing_is_written() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (status, problem) = app
        .bulk(
            project,
            json!([{"title": "a"}, {"title": "b", "milestone_id": 777}, {"title": "c", "parent_task_id": 9}]),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "reference_not_found");
    assert_eq!(
        pointers(&problem),
        ["/tasks/1/milestone_id", "/tasks/2/parent_task_id"]
    );
    assert_eq!(app.task_count(project).await, 0);
}

#[tokio::test]
async fn empty_and_oversized_bulks_are_rejected() {
    let mut settings = serve_settings();
    settings.max_bulk_tasks = 3;
    let app = spawn_app_with(settings).await;
    let project = app.create_project("p").await;
    let (status, problem) = app.bulk(project, json!([])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(pointers(&problem), ["/tasks"]);
    let four: Vec<Value> = (0..4).map(|i| json!({"title": format!("{i}")})).collect();
    let (status, _) = app.bulk(project, json!(four)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(app.task_count(project).await, 0);
}

#[tokio::test]
async fn concurrent_bulks_with_the_same_keys_in_opposite_orders_both_succeed() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    for round in 0..5 {
        let forward: Vec<Value> = (0..200)
            .map(|i| json!({"title": format!("t{i}"), "external_id": format!("wf-{round}:s:{i:03}")}))
            .collect();
        let backward: Vec<Value> = forward.iter().rev().cloned().collect();
        let (a, b) = tokio::join!(
            app.bulk(project, json!(forward)),
            app.bulk(project, json!(backward))
        );
        for (status, result) in [&a, &b] {
            assert!(status.is_success(), "{status}: {result}");
            assert_eq!(result["summary"]["totalRequested"], 200);
        }
        let created = |r: &Value| r["summary"]["created"].as_i64().unwrap();
        assert_eq!(
            created(&a.1) + created(&b.1),
            200,
            "each key created exactly once"
        );
    }
    assert_eq!(app.task_count(project).await, 1000);
}
