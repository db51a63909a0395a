//! Conditional GETs: every read of project data carries an `ETag` and `Cache-Control: private,
//! no-cache`; `If-None-Match` with a current tag is answered 304, and writes change the tags.
//!
//! `revalidation`: the headers, 304 for a matching tag (weak, `*`, lists of tags, pages) and
//! 200 otherwise; `invalidation`: which writes change which tags, and a replay changes none;
//! `cors`: browsers on allowed origins may revalidate.

mod cors;
mod invalidation;
mod revalidation;

use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, body};

/// A project with one milestone and one task in it: (project, milestone, task).
async fn project_with_a_task(app: &TestApp) -> (i64, i64, i64) {
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
    let milestone = body(response).await["id"].as_i64().unwrap();
    let (status, task) = app
        .create_task(
            project,
            json!({"title": "T", "milestone_id": milestone, "external_id": "wf-1:s:0"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    (project, milestone, task["id"].as_i64().unwrap())
}

/// Every GET of project data.
fn reads(project: i64, milestone: i64, task: i64) -> Vec<String> {
    vec![
        "/projects".into(),
        format!("/projects/{project}"),
        format!("/projects/{project}/milestones"),
        format!("/projects/{project}/milestones/{milestone}"),
        format!("/projects/{project}/tasks"),
        format!("/projects/{project}/tasks/{task}"),
        format!("/projects/{project}/summary"),
    ]
}

/// The reads whose tag follows the project's data (every write to the project changes it).
fn project_reads(project: i64, milestone: i64) -> Vec<String> {
    vec![
        format!("/projects/{project}"),
        format!("/projects/{project}/milestones"),
        format!("/projects/{project}/milestones/{milestone}"),
        format!("/projects/{project}/tasks"),
        format!("/projects/{project}/summary"),
    ]
}

fn etag(response: &Response) -> String {
    response
        .headers()
        .get("etag")
        .unwrap_or_else(|| panic!("no ETag on {}", response.url()))
        .to_str()
        .unwrap()
        .to_owned()
}

async fn tag_of(app: &TestApp, path: &str) -> String {
    let response = app.get(path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    etag(&response)
}

async fn tags_of(app: &TestApp, paths: &[String]) -> Vec<String> {
    let mut tags = Vec::new();
    for path in paths {
        tags.push(tag_of(app, path).await);
    }
    tags
}

async fn get_if_none_match(app: &TestApp, path: &str, tags: &str) -> Response {
    app.get(path)
        .header("if-none-match", tags)
        .send()
        .await
        .unwrap()
}

/// Asserts a 304 with no body that carries `tag`.
async fn assert_not_modified(response: Response, tag: &str) {
    let url = response.url().to_string();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{url}");
    assert_eq!(etag(&response), tag, "{url}");
    assert_eq!(response.text().await.unwrap(), "", "{url}");
}

fn assert_all_changed(paths: &[String], before: &[String], after: &[String]) {
    for ((path, before), after) in paths.iter().zip(before).zip(after) {
        assert_ne!(before, after, "the tag of {path} did not change");
    }
}

/// The tag without its weakness indicator: `W/"x"` → `"x"`.
fn strong(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}
