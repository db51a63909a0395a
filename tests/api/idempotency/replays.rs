//! Replays: a retry with the same key gets the first response again (whatever happened to the
//! resource since) and writes nothing, on every create and action, and a plan with
//! dependencies commits and replays as one.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{count, keyed, send};
use crate::helpers::{body, spawn_app};

#[tokio::test]
async fn a_retry_with_the_same_key_gets_the_first_response_again_and_nothing_twice() {
    let app = spawn_app().await;
    let request = json!({"name": "Site", "slug": "site"});
    let (status, headers, first) =
        send(keyed(&app, Method::POST, "/projects", "k-1", &request)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(headers.get("idempotent-replayed").is_none());
    let (status, again_headers, again) =
        send(keyed(&app, Method::POST, "/projects", "k-1", &request)).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the first answer, not a 409 on the slug"
    );
    assert_eq!(again, first);
    assert_eq!(again_headers["idempotent-replayed"], "true");
    assert_eq!(again_headers["location"], headers["location"]);
    assert_eq!(again_headers["content-type"], "application/json");
    assert_eq!(count(&app, "projects").await, 1);

    // Whatever the resource's state now: deleted, the retry still gets the first answer.
    let response = app
        .delete(headers["location"].to_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _, replay) = send(keyed(&app, Method::POST, "/projects", "k-1", &request)).await;
    assert_eq!((status, replay), (StatusCode::CREATED, first));
}

#[tokio::test]
async fn every_create_and_action_replays_its_first_response() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (_, run) = crate::runs::create_run(&app, project, json!({"workflow_type": "w"})).await;
    let (_, held) = app.create_task(project, json!({"title": "held"})).await;
    let p = format!("/projects/{project}");
    let claimed = body(
        app.post(&format!("{p}/tasks:claim"), &json!({"worker_id": "w"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(claimed["id"], held["id"]);
    let task = format!("{p}/tasks/{}", held["id"]);
    let cases = [
        (
            format!("{p}/milestones"),
            json!({"name": "m", "slug": "m"}),
            "milestones",
        ),
        (
            format!("{p}/tasks"),
            json!({"title": "no external_id"}),
            "tasks",
        ),
        (
            format!("{p}/tasks:bulk"),
            json!({"tasks": [{"title": "a"}, {"title": "b"}]}),
            "tasks",
        ),
        (format!("{p}/runs"), json!({"workflow_type": "w"}), "runs"),
        (
            format!("{p}/runs/{}/events", run["id"]),
            json!({"event_id": "e1", "event_type": "t"}),
            "run_events",
        ),
        (
            format!("{p}/repositories"),
            json!({"url": "https://git.example.com/a/b"}),
            "repositories",
        ),
        (
            "/stream-tokens".to_owned(),
            json!({"project_id": project}),
            "stream_tokens",
        ),
        (
            format!("{task}:heartbeat"),
            json!({"worker_id": "w"}),
            "tasks",
        ),
        (
            format!("{p}/tasks:claim"),
            json!({"worker_id": "w2"}),
            "tasks",
        ),
    ];
    for (index, (path, request, table)) in cases.iter().enumerate() {
        let key = format!("route-{index}");
        let before = count(&app, table).await;
        let (status, _, first) = send(keyed(&app, Method::POST, path, &key, request)).await;
        assert!(status.is_success(), "{path}: {status} {first}");
        let written = count(&app, table).await;
        let (again_status, headers, again) =
            send(keyed(&app, Method::POST, path, &key, request)).await;
        assert_eq!((again_status, &again), (status, &first), "{path}");
        assert_eq!(headers["idempotent-replayed"], "true", "{path}");
        assert_eq!(
            count(&app, table).await,
            written,
            "{path}: the retry wrote nothing"
        );
        assert!(written >= before, "{path}");
    }
}

#[tokio::test]
async fn a_plan_with_dependencies_under_a_key_commits_and_replays_as_one() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let path = format!("/projects/{project}/tasks:bulk");
    let plan = json!({"tasks": [
        {"title": "a", "external_id": "a"},
        {"title": "b", "external_id": "b", "depends_on_external_ids": ["a"]},
    ]});
    let (status, _, first) = send(keyed(&app, Method::POST, &path, "plan", &plan)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(first["created"][1]["blocked_by"], 1);
    let (status, headers, again) = send(keyed(&app, Method::POST, &path, "plan", &plan)).await;
    assert_eq!((status, &again), (StatusCode::CREATED, &first));
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(app.task_count(project).await, 2);
}
