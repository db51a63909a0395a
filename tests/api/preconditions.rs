//! `If-Match` and `If-None-Match` as RFC 9110 says, on every route of the spec that declares
//! them: a well-formed tag that does not match is a 412 (or a 200 for reads), lists match when
//! any tag does, `If-Match` compares strongly; only a malformed header is a 400. And an empty
//! `cursor=` is the first page of every list.

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::json;

use crate::fixtures::{Operation, Populated, etag_of, operations};
use crate::helpers::{TestApp, assert_problem, body, pointers, spawn_app};

fn declaring(parameter: &str) -> Vec<Operation> {
    let found: Vec<Operation> = operations()
        .into_iter()
        .filter(|operation| operation.has_parameter(parameter))
        .collect();
    assert!(!found.is_empty(), "no operation declares {parameter}");
    found
}

/// A conditional write: PATCH with a body that changes something, or DELETE.
fn write(app: &TestApp, operation: &Operation, path: &str) -> RequestBuilder {
    let patch = if operation.template.contains("/runs/") {
        json!({"metadata": {"touched": true}})
    } else {
        json!({"title": "touched"})
    };
    match operation.method {
        Method::PATCH => app.patch(path, &patch),
        Method::DELETE => app.delete(path),
        ref other => panic!("{other} {} declares If-Match", operation.template),
    }
}

/// What a conditional write answers when its precondition holds.
fn success(operation: &Operation) -> StatusCode {
    if operation.method == Method::DELETE {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::OK
    }
}

#[tokio::test]
async fn if_match_with_well_formed_tags_that_do_not_match_is_412_and_changes_nothing() {
    let app = spawn_app().await;
    let everything = Populated::create(&app).await;
    for operation in declaring("If-Match") {
        let path = everything.path(&operation.template);
        let current = etag_of(&app, &path).await;
        assert_eq!(current, "\"1\"", "{path}");
        for stale in [
            "\"definitely-stale\"".to_owned(),
            "\"98\", \"99\"".to_owned(),
            // Weak tags never match If-Match, even the current version's.
            format!("W/{current}"),
            "\"01\"".to_owned(),
            "\"\", \"+1\", \"-1\", \"9999999999\"".to_owned(),
        ] {
            let response = write(&app, &operation, &path)
                .header("if-match", &stale)
                .send()
                .await
                .unwrap();
            let problem = assert_problem(response, StatusCode::PRECONDITION_FAILED).await;
            assert_eq!(problem["code"], "precondition_failed", "{stale}");
            assert_eq!(
                etag_of(&app, &path).await,
                current,
                "{} {stale}",
                operation.id()
            );
        }
    }
}

#[tokio::test]
async fn if_match_with_a_list_holding_the_current_tag_or_a_star_lets_the_write_happen() {
    let app = spawn_app().await;
    let everything = Populated::create(&app).await;
    let mut writes = declaring("If-Match");
    // Changes first, so that the deletes come last.
    writes.sort_by_key(|operation| operation.method == Method::DELETE);
    for operation in writes {
        let path = everything.path(&operation.template);
        let attempts = if operation.method == Method::PATCH {
            3
        } else {
            1
        };
        for attempt in 0..attempts {
            let current = etag_of(&app, &path).await;
            let held = match attempt {
                0 => format!("\"7\", W/\"8\", {current}"),
                // Without quotes, as some clients send it.
                1 => current.trim_matches('"').to_owned(),
                _ => "*".to_owned(),
            };
            let response = write(&app, &operation, &path)
                .header("if-match", &held)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), success(&operation), "{path} {held}");
        }
    }
}

#[tokio::test]
async fn if_match_sent_as_several_header_lines_is_one_list() {
    let app = spawn_app().await;
    let everything = Populated::create(&app).await;
    let path = everything.path("/projects/{project_id}/tasks/{task_id}");
    let response = app
        .patch(&path, &json!({"title": "x"}))
        .header("if-match", "\"5\"")
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn if_match_on_a_resource_that_does_not_exist_is_404_not_412() {
    let app = spawn_app().await;
    let everything = Populated::create(&app).await;
    for operation in declaring("If-Match") {
        let path = everything.path(&operation.template);
        let (parent, _) = path.rsplit_once('/').unwrap();
        let path = format!("{parent}/999999");
        let response = write(&app, &operation, &path)
            .header("if-match", "\"1\"")
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::NOT_FOUND).await;
    }
}

#[tokio::test]
async fn only_a_syntactically_invalid_precondition_header_is_400_naming_it() {
    let app = spawn_app().await;
    let everything = Populated::create(&app).await;
    let malformed = [
        "W/3", "null", "\"3", "3\"", "*, \"3\"", "\"a b\"", ",", "w/\"3\"",
    ];
    for operation in declaring("If-Match") {
        let path = everything.path(&operation.template);
        for bad in malformed {
            let response = write(&app, &operation, &path)
                .header("if-match", bad)
                .send()
                .await
                .unwrap();
            let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
            assert_eq!(pointers(&problem), ["/header/If-Match"], "{path} {bad}");
        }
        assert_eq!(etag_of(&app, &path).await, "\"1\"", "{path}");
    }
    for operation in declaring("If-None-Match") {
        let path = everything.path(&operation.template);
        for bad in malformed {
            let response = app
                .get(&path)
                .header("if-none-match", bad)
                .send()
                .await
                .unwrap();
            let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
            assert_eq!(
                pointers(&problem),
                ["/header/If-None-Match"],
                "{path} {bad}"
            );
        }
    }
}

#[tokio::test]
async fn every_conditional_read_is_304_for_a_list_holding_its_tag_and_200_for_foreign_tags() {
    let app = spawn_app().await;
    let everything = Populated::create(&app).await;
    for operation in declaring("If-None-Match") {
        assert_eq!(operation.method, Method::GET);
        let path = everything.path(&operation.template);
        let current = etag_of(&app, &path).await;
        let opaque = current.strip_prefix("W/").unwrap_or(&current);
        for held in [format!("\"x\", W/{opaque}"), "*".to_owned()] {
            let response = app
                .get(&path)
                .header("if-none-match", &held)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{path} {held}");
        }
        for foreign in ["\"definitely-stale\"", "\"a,b\", W/\"\""] {
            let response = app
                .get(&path)
                .header("if-none-match", foreign)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path} {foreign}");
            assert!(!response.text().await.unwrap().is_empty(), "{path}");
        }
    }
}

#[tokio::test]
async fn if_none_match_star_on_something_that_does_not_exist_is_404_not_304() {
    let app = spawn_app().await;
    let everything = Populated::create(&app).await;
    for operation in declaring("If-None-Match") {
        let path = everything.missing(&operation.template);
        if path == "/projects" {
            continue; // always exists
        }
        let response = app
            .get(&path)
            .header("if-none-match", "*")
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::NOT_FOUND).await;
    }
}

#[tokio::test]
async fn an_empty_cursor_is_the_first_page_of_every_list() {
    let app = spawn_app().await;
    let everything = Populated::create(&app).await;
    for operation in declaring("cursor") {
        let path = everything.path(&operation.template);
        let first = body(app.get(&path).send().await.unwrap()).await;
        assert!(!first["data"].as_array().unwrap().is_empty(), "{path}");
        let response = app.get(&format!("{path}?cursor=")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(body(response).await, first, "{path}");
    }
}
