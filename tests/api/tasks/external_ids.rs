//! `external_id` makes a create idempotent: a repeat returns the stored task (200), different
//! or no ids create separate tasks, each project has its own ids, and concurrent creates with
//! one id (on two servers, or waiting on an uncommitted duplicate) give one task.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{body, serve_settings, spawn_app};

#[tokio::test]
async fn a_repeated_external_id_returns_200_with_the_stored_task_unchanged() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (status, first) = app
        .create_task(
            project,
            json!({"title": "Original", "external_id": "wf-1:s:0"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let response = app
        .post(
            &format!("/projects/{project}/tasks"),
            &json!({"title": "Changed", "priority_score": 99, "external_id": "wf-1:s:0"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["idempotent-replayed"], "true");
    assert_eq!(body(response).await, first);
    assert_eq!(app.task_count(project).await, 1);
}

#[tokio::test]
async fn tasks_without_external_id_are_created_separately_every_time() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (s1, a) = app.create_task(project, json!({"title": "Same"})).await;
    let (s2, b) = app.create_task(project, json!({"title": "Same"})).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_ne!(a["id"], b["id"]);
    assert_eq!(app.task_count(project).await, 2);
}

#[tokio::test]
async fn different_external_ids_create_different_tasks() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (s1, a) = app
        .create_task(project, json!({"title": "A", "external_id": "wf-1:s:0"}))
        .await;
    let (s2, b) = app
        .create_task(project, json!({"title": "B", "external_id": "wf-1:s:1"}))
        .await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_ne!(a["id"], b["id"]);
}

#[tokio::test]
async fn the_same_external_id_may_exist_once_in_each_project() {
    let app = spawn_app().await;
    let (p1, p2) = (
        app.create_project("one").await,
        app.create_project("two").await,
    );
    let task = json!({"title": "T", "external_id": "wf-1:s:0"});
    let (s1, a) = app.create_task(p1, task.clone()).await;
    let (s2, b) = app.create_task(p2, task).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_ne!(a["id"], b["id"]);
    assert_eq!(b["project_id"], p2);
}

#[tokio::test]
async fn fifty_concurrent_creates_with_one_key_on_two_servers_give_one_201_and_49_200() {
    let app = spawn_app().await;
    let replica = app.start_server(&serve_settings());
    let project = app.create_project("p").await;
    let requests = (0..50).map(|i| {
        let base = if i % 2 == 0 { &app.address } else { &replica };
        app.client
            .post(format!("{base}/projects/{project}/tasks"))
            .bearer_auth(&app.api_key)
            .json(&json!({"title": format!("attempt {i}"), "external_id": "wf-race:s:0"}))
            .send()
    });
    let responses = futures_util::future::join_all(requests).await;
    let mut ids = Vec::new();
    let (mut created, mut replayed) = (0, 0);
    for response in responses {
        let response = response.unwrap();
        match response.status() {
            StatusCode::CREATED => created += 1,
            StatusCode::OK => replayed += 1,
            other => panic!("unexpected {other}: {}", response.text().await.unwrap()),
        }
        ids.push(body(response).await["id"].clone());
    }
    assert_eq!((created, replayed), (1, 49));
    ids.dedup();
    assert_eq!(ids.len(), 1, "every answer names the same task");
    assert_eq!(app.task_count(project).await, 1);
}

#[tokio::test]
async fn a_create_that_waited_on_an_uncommitted_duplicate_answers_200_with_the_winner() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    // The winner: inserted by another session, not yet committed when the request arrives.
    let mut winner = app.pool.acquire().await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "BEGIN; INSERT INTO tasks (project_id, title, external_id)
         VALUES ({project}, 'the winner', 'wf-race:s:1')"
    )))
    .execute(&mut *winner)
    .await
    .unwrap();
    let request = tokio::spawn(
        app.post(
            &format!("/projects/{project}/tasks"),
            &json!({"title": "the loser", "external_id": "wf-race:s:1"}),
        )
        .send(),
    );
    // The request's INSERT now waits on the winner's row; once it commits, the request's own
    // statement cannot see that row (its snapshot is older): only a second read finds it.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    sqlx::raw_sql("COMMIT").execute(&mut *winner).await.unwrap();
    let response = request.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["title"], "the winner");
    assert_eq!(app.task_count(project).await, 1);
}
