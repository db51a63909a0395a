//! Revalidation: every read carries a tag and `Cache-Control: private, no-cache`; a current tag
//! in `If-None-Match` (compared weakly, `*`, or one of a list) is a 304 without a body, any
//! other a 200 with it; each page of a list has its own tag.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{
    assert_not_modified, etag, get_if_none_match, project_with_a_task, reads, strong, tag_of,
};
use crate::helpers::{body, spawn_app};

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
