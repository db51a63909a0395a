//! Invalid URLs and branches are 400 naming the field, on create and PATCH, and nothing is
//! written.

use reqwest::StatusCode;
use serde_json::json;

use super::{add, rows};
use crate::helpers::{assert_problem, body, pointers, spawn_app};

#[tokio::test]
async fn invalid_urls_and_branches_are_400_naming_the_field_and_nothing_is_written() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let cases = [
        (json!({}), "/url"),
        (json!({"url": ""}), "/url"),
        (json!({"url": 42}), "/url"),
        (json!({"url": "github.com/acme/uploader"}), "/url"),
        (json!({"url": "https://github.com"}), "/url"),
        (json!({"url": "ftp://github.com/acme/uploader"}), "/url"),
        (
            json!({"url": "https://me:secret@github.com/acme/uploader"}),
            "/url",
        ),
        (
            json!({"url": "https://github.com/acme/uploader?x=1"}),
            "/url",
        ),
        (json!({"url": "https://github.com/acme upload"}), "/url"),
        (
            json!({"url": "https://h.io/a", "default_branch": ""}),
            "/default_branch",
        ),
        (
            json!({"url": "https://h.io/a", "default_branch": "a b"}),
            "/default_branch",
        ),
        (
            json!({"url": "https://h.io/a", "default_branch": "a~1"}),
            "/default_branch",
        ),
    ];
    for (input, pointer) in cases {
        let response = app
            .post(&format!("/projects/{project}/repositories"), &input)
            .send();
        let problem = assert_problem(response.await.unwrap(), StatusCode::BAD_REQUEST).await;
        assert_eq!(pointers(&problem), vec![pointer], "{input}");
    }
    let (_, _, stored) = add(&app, project, json!({"url": "https://h.io/a"})).await;
    let one = format!("/projects/{project}/repositories/{}", stored["id"]);
    for (patch, pointer) in [
        (json!({"url": "nope"}), "/url"),
        (json!({"default_branch": "x:y"}), "/default_branch"),
    ] {
        let problem = assert_problem(
            app.patch(&one, &patch).send().await.unwrap(),
            StatusCode::BAD_REQUEST,
        );
        assert_eq!(pointers(&problem.await), vec![pointer]);
    }
    assert_eq!(body(app.get(&one).send().await.unwrap()).await, stored);
    assert_eq!(rows(&app, project).await, 1);
}
