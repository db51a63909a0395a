//! Invalidation: creating, changing or deleting a task, renaming a milestone or the project
//! change the tags of the project's reads (a task's tag is its version); a replayed create
//! changes none.

use reqwest::StatusCode;
use serde_json::json;

use super::{
    assert_all_changed, assert_not_modified, etag, get_if_none_match, project_reads,
    project_with_a_task, tag_of, tags_of,
};
use crate::helpers::{body, spawn_app};

#[tokio::test]
async fn the_tags_of_a_projects_reads_change_when_a_task_is_created() {
    let app = spawn_app().await;
    let (project, milestone, _) = project_with_a_task(&app).await;
    let paths = project_reads(project, milestone);
    let before = tags_of(&app, &paths).await;
    let (status, _) = app
        .create_task(project, json!({"title": "new", "milestone_id": milestone}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let after = tags_of(&app, &paths).await;
    assert_all_changed(&paths, &before, &after);
    // A client holding an old tag gets the new answer.
    let response = get_if_none_match(&app, &paths[3], &before[3]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_tags_of_a_projects_reads_change_when_a_task_is_changed() {
    let app = spawn_app().await;
    let (project, milestone, task) = project_with_a_task(&app).await;
    let paths = project_reads(project, milestone);
    let before = tags_of(&app, &paths).await;
    let response = app
        .patch(
            &format!("/projects/{project}/tasks/{task}"),
            &json!({"status": "in_progress"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_all_changed(&paths, &before, &tags_of(&app, &paths).await);
}

#[tokio::test]
async fn the_tags_of_a_projects_reads_change_when_a_task_is_deleted() {
    let app = spawn_app().await;
    let (project, milestone, task) = project_with_a_task(&app).await;
    let paths = project_reads(project, milestone);
    let before = tags_of(&app, &paths).await;
    let response = app
        .delete(&format!("/projects/{project}/tasks/{task}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_all_changed(&paths, &before, &tags_of(&app, &paths).await);
}

#[tokio::test]
async fn the_tags_of_a_projects_reads_change_when_a_milestone_is_renamed() {
    let app = spawn_app().await;
    let (project, milestone, _) = project_with_a_task(&app).await;
    let paths = project_reads(project, milestone);
    let before = tags_of(&app, &paths).await;
    let response = app
        .patch(
            &format!("/projects/{project}/milestones/{milestone}"),
            &json!({"name": "v1 renamed"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_all_changed(&paths, &before, &tags_of(&app, &paths).await);
}

#[tokio::test]
async fn the_tags_of_a_projects_reads_and_of_the_project_list_change_when_the_project_is_renamed() {
    let app = spawn_app().await;
    let (project, milestone, _) = project_with_a_task(&app).await;
    let mut paths = project_reads(project, milestone);
    paths.push("/projects".into());
    let before = tags_of(&app, &paths).await;
    let response = app
        .patch(&format!("/projects/{project}"), &json!({"name": "renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_all_changed(&paths, &before, &tags_of(&app, &paths).await);
}

#[tokio::test]
async fn a_tasks_tag_is_its_version_and_changes_when_it_is_changed() {
    let app = spawn_app().await;
    let (project, _, task) = project_with_a_task(&app).await;
    let path = format!("/projects/{project}/tasks/{task}");
    assert_eq!(tag_of(&app, &path).await, "\"1\"");
    let response = app
        .patch(&path, &json!({"title": "renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(etag(&response), "\"2\"");
    assert_eq!(tag_of(&app, &path).await, "\"2\"");
    let stale = get_if_none_match(&app, &path, "\"1\"").await;
    assert_eq!(stale.status(), StatusCode::OK);
    assert_eq!(body(stale).await["title"], "renamed");
    assert_not_modified(get_if_none_match(&app, &path, "\"2\"").await, "\"2\"").await;
}

#[tokio::test]
async fn a_replayed_create_does_not_change_the_tags() {
    let app = spawn_app().await;
    let (project, milestone, _) = project_with_a_task(&app).await;
    let paths = project_reads(project, milestone);
    let before = tags_of(&app, &paths).await;
    let (status, _) = app
        .create_task(
            project,
            json!({"title": "again", "external_id": "wf-1:s:0"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .bulk(
            project,
            json!([{"title": "again", "external_id": "wf-1:s:0"}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tags_of(&app, &paths).await, before);
    for (path, tag) in paths.iter().zip(&before) {
        assert_not_modified(get_if_none_match(&app, path, tag).await, tag).await;
    }
}
