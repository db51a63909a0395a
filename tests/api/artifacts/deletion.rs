//! Deleting an artifact, or the task it belongs to, removes it; a deleted task's artifact
//! routes answer 404.

use reqwest::{Response, StatusCode};

use super::{project_with_task, put, rows};
use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn deleting_an_artifact_or_its_task_removes_it_and_an_unknown_task_is_404() {
    let app = spawn_app().await;
    let (project, task) = project_with_task(&app).await;
    let of_task = format!("/projects/{project}/tasks/{task}/artifacts/plan");
    let of_project = format!("/projects/{project}/artifacts/plan");
    for path in [&of_task, &of_project] {
        assert_eq!(
            put(&app, path, None, b"x").await.status(),
            StatusCode::CREATED
        );
    }
    let not_found = async |response: Response| {
        assert_problem(response, StatusCode::NOT_FOUND).await["detail"].clone()
    };
    let at_iteration = format!("{of_project}?iteration=0");
    let response = app.delete(&at_iteration).send().await.unwrap();
    assert_eq!(not_found(response).await, "artifact not found");
    let response = app
        .delete(&format!("/projects/{project}/tasks/{task}"))
        .send()
        .await;
    assert_eq!(response.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(
        rows(&app, project).await,
        1,
        "the task's artifact went with it"
    );
    let list_of_task = format!("/projects/{project}/tasks/{task}/artifacts");
    for response in [
        put(&app, &of_task, None, b"x").await,
        app.get(&of_task).send().await.unwrap(),
        app.delete(&of_task).send().await.unwrap(),
        app.get(&list_of_task).send().await.unwrap(),
    ] {
        assert_eq!(not_found(response).await, "task not found");
    }
    let deleted = app.delete(&of_project).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let response = app.get(&of_project).send().await.unwrap();
    assert_eq!(not_found(response).await, "artifact not found");
    assert_eq!(rows(&app, project).await, 0);
}
