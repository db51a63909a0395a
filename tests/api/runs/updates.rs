//! Changing runs: PATCH and DELETE honour `expected_status` and `If-Match`, metadata is
//! replaced, and `completed_at` follows the status.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{BAD, CONFLICT, GONE, MISSING, OK, STALE};
use super::{create_run, exchange, expect, refused, run_with, send};
use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn patch_and_delete_honour_expected_status_and_if_match_and_completed_at_follows_status() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let input = run_with("metadata", json!({"a": 1}));
    let (_, run) = create_run(&app, project, input).await;
    let path = format!("/projects/{project}/runs/{}", run["id"]);
    let cached = app.get(&path).header("if-none-match", "\"1\"");
    assert_eq!(send(cached).await.0, StatusCode::NOT_MODIFIED);

    let finish = json!({"status": "completed", "expected_status": "running"});
    let request = app.patch(&path, &finish).header("if-match", "\"1\"");
    let (status, headers, finished) = exchange(request).await;
    assert_eq!((status, &headers["etag"]), (OK, &"\"2\"".parse().unwrap()));
    assert!(finished["completed_at"].is_string());
    assert_eq!(finished["metadata"], json!({"a": 1}));
    let response = app.patch(&path, &finish).send().await.unwrap();
    let problem = assert_problem(response, CONFLICT).await;
    assert_eq!(problem["code"], "status_mismatch");
    let fail = json!({"status": "failed"});
    refused(app.patch(&path, &fail).header("if-match", "\"1\""), STALE).await;
    refused(app.delete(&path).header("if-match", "\"1\""), STALE).await;

    // Metadata is replaced; completed_at stays while the run is finished, goes when it resumes.
    let replace = json!({"metadata": {"b": 2}});
    let replaced = expect(app.patch(&path, &replace), OK).await;
    assert_eq!(replaced["metadata"], json!({"b": 2}));
    assert_eq!(replaced["completed_at"], finished["completed_at"]);
    let resume = json!({"status": "running"});
    let resumed = expect(app.patch(&path, &resume), OK).await;
    assert_eq!(resumed["completed_at"], Value::Null);
    assert_eq!(resumed["version"], 4);
    let bad = json!({"metadata": [1]});
    assert_eq!(refused(app.patch(&path, &bad), BAD).await, ["/metadata"]);

    expect(app.delete(&path).header("if-match", "\"4\""), GONE).await;
    refused(app.get(&path), MISSING).await;
    refused(app.delete(&path), MISSING).await;
    refused(app.patch(&path, &json!({})), MISSING).await;
}
