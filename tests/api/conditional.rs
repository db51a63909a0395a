//! Conditional GETs: every read of project data carries an `ETag` and `Cache-Control: private,
//! no-cache`; `If-None-Match` with a current tag is answered 304, and writes change the tags.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, body, serve_settings, spawn_app, spawn_app_with};

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

#[tokio::test]
async fn every_read_of_project_data_carries_an_etag_and_revalidation_headers() {
    let app = spawn_app().await;
    let (project, milestone, task) = project_with_a_task(&app).await;
    for path in reads(project, milestone, task) {
        let response = app.get(&path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(!etag(&response).is_empty(), "{path}");
        assert_eq!(
            response.headers()["cache-control"],
            "private, no-cache",
            "{path}"
        );
        assert_ne!(body(response).await, Value::Null, "{path}");
    }
}

#[tokio::test]
async fn a_read_with_the_current_tag_in_if_none_match_is_answered_304_without_a_body() {
    let app = spawn_app().await;
    let (project, milestone, task) = project_with_a_task(&app).await;
    for path in reads(project, milestone, task) {
        let tag = tag_of(&app, &path).await;
        let response = get_if_none_match(&app, &path, &tag).await;
        assert_eq!(
            response
                .headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap()),
            Some("private, no-cache"),
            "{path}"
        );
        assert_not_modified(response, &tag).await;
    }
}

#[tokio::test]
async fn a_read_with_a_tag_that_does_not_match_is_answered_200_with_the_body() {
    let app = spawn_app().await;
    let (project, milestone, task) = project_with_a_task(&app).await;
    for path in reads(project, milestone, task) {
        let tag = tag_of(&app, &path).await;
        let response = get_if_none_match(&app, &path, "\"not-the-tag\"").await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(etag(&response), tag, "{path}");
        assert_ne!(body(response).await, Value::Null, "{path}");
    }
}

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

#[tokio::test]
async fn if_none_match_compares_weakly() {
    let app = spawn_app().await;
    let (project, milestone, task) = project_with_a_task(&app).await;
    for path in reads(project, milestone, task) {
        let tag = tag_of(&app, &path).await;
        let weak = format!("W/{}", strong(&tag));
        for held in [strong(&tag), weak.as_str()] {
            let response = get_if_none_match(&app, &path, held).await;
            assert_not_modified(response, &tag).await;
        }
    }
}

#[tokio::test]
async fn if_none_match_star_matches_any_current_answer() {
    let app = spawn_app().await;
    let (project, milestone, task) = project_with_a_task(&app).await;
    for path in reads(project, milestone, task) {
        let tag = tag_of(&app, &path).await;
        assert_not_modified(get_if_none_match(&app, &path, "*").await, &tag).await;
    }
}

#[tokio::test]
async fn if_none_match_with_a_list_of_tags_matches_when_any_of_them_does() {
    let app = spawn_app().await;
    let (project, milestone, task) = project_with_a_task(&app).await;
    for path in reads(project, milestone, task) {
        let tag = tag_of(&app, &path).await;
        let list = format!("\"a\", W/{}", strong(&tag));
        assert_not_modified(get_if_none_match(&app, &path, &list).await, &tag).await;
        let response = get_if_none_match(&app, &path, "\"a\", W/\"b\"").await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn each_page_of_a_list_has_its_own_tag_and_a_page_after_a_cursor_is_answered_304() {
    let app = spawn_app().await;
    let (project, _, _) = project_with_a_task(&app).await;
    for i in 0..4 {
        let (status, _) = app
            .create_task(project, json!({"title": format!("T{i}")}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let first = format!("/projects/{project}/tasks?limit=2");
    let response = app.get(&first).send().await.unwrap();
    let first_tag = etag(&response);
    let page = body(response).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let second = format!("/projects/{project}/tasks?limit=2&cursor={cursor}");
    let response = app.get(&second).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let second_tag = etag(&response);
    assert_ne!(body(response).await["data"], page["data"]);
    assert_ne!(first_tag, second_tag);

    assert_not_modified(
        get_if_none_match(&app, &second, &second_tag).await,
        &second_tag,
    )
    .await;
    let response = get_if_none_match(&app, &second, &first_tag).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(etag(&response), second_tag);
}

#[tokio::test]
async fn browsers_on_allowed_origins_may_send_if_none_match_and_read_the_etag() {
    let mut settings = serve_settings();
    settings.cors_allowed_origins = vec!["https://dash.example.com".into()];
    let app = spawn_app_with(settings).await;
    let project = app.create_project("p").await;
    let path = format!("/projects/{project}/summary");

    let preflight = app
        .client
        .request(Method::OPTIONS, app.url(&path))
        .header("origin", "https://dash.example.com")
        .header("access-control-request-method", "GET")
        .header(
            "access-control-request-headers",
            "authorization, if-none-match",
        )
        .send()
        .await
        .unwrap();
    let status = preflight.status();
    let headers = preflight.headers().clone();
    assert!(
        status.is_success(),
        "preflight answered {status}: {}",
        preflight.text().await.unwrap()
    );
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://dash.example.com"
    );
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(allowed.contains("if-none-match"), "{allowed}");

    let response = app
        .get(&path)
        .header("origin", "https://dash.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(exposed.contains("etag"), "{exposed}");

    // The 304 is readable by the page too.
    let tag = etag(&response);
    let response = app
        .get(&path)
        .header("origin", "https://dash.example.com")
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://dash.example.com"
    );
    assert_not_modified(response, &tag).await;
}
