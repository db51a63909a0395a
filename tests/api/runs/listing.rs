//! The run list: pages newest first, filters by status, type, key and creation time, refuses
//! bad filters, and is tagged by the project's data version.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{BAD, CREATED, OK, exchange, expect, refused, send};
use crate::helpers::spawn_app;

#[tokio::test]
async fn the_run_list_pages_newest_first_and_filters_by_status_type_key_and_creation_time() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let base = format!("/projects/{project}/runs");
    let mut runs = Vec::new();
    let types = ["a", "b", "a", "b", "a"];
    let statuses = ["running", "completed", "failed", "running", "cancelled"];
    for (i, (kind, status)) in types.into_iter().zip(statuses).enumerate() {
        let key = format!("wf-{i}");
        let input = json!({"workflow_type": kind, "status": status, "external_id": key});
        runs.push(expect(app.post(&base, &input), CREATED).await);
    }
    let id = |i: usize| runs[i]["id"].as_i64().unwrap();
    let list = |query: String| expect(app.get(&format!("{base}{query}")), OK);
    let ids = |page: Value| -> Vec<i64> {
        let data = page["data"].as_array().unwrap();
        data.iter().map(|r| r["id"].as_i64().unwrap()).collect()
    };
    // Pages of 2, newest first, chained by next_cursor.
    let (mut seen, mut query) = (Vec::new(), "?limit=2".to_owned());
    loop {
        let page = list(query).await;
        let cursor = page["next_cursor"].as_str();
        let next = cursor.map(|c| format!("?limit=2&cursor={c}"));
        seen.extend(ids(page));
        let Some(next) = next else { break };
        query = next;
    }
    assert_eq!(seen, [id(4), id(3), id(2), id(1), id(0)]);
    let page = list("?status=running,failed".into()).await;
    assert_eq!(ids(page), [id(3), id(2), id(0)]);
    assert_eq!(ids(list("?workflow_type=b".into()).await), [id(3), id(1)]);
    assert_eq!(ids(list("?external_id=wf-2".into()).await), [id(2)]);
    let at = |i: usize| runs[i]["created_at"].as_str().unwrap().to_owned();
    let range = format!("?created_after={}&created_before={}", at(0), at(3));
    assert_eq!(ids(list(range).await), [id(2), id(1)]);
    for (query, pointer) in [
        ("status=done", "/query/status"),
        ("created_after=yesterday", "/query/created_after"),
        ("workflow_type=", "/query/workflow_type"),
        ("limit=0", "/query/limit"),
    ] {
        let problems = refused(app.get(&format!("{base}?{query}")), BAD).await;
        assert_eq!(problems, [pointer], "{query}");
    }
    // Tagged by the project's data version, which every run write bumps.
    let (_, headers, _) = exchange(app.get(&base)).await;
    let etag = headers["etag"].clone();
    let cached = || app.get(&base).header("if-none-match", etag.clone());
    assert_eq!(send(cached()).await.0, StatusCode::NOT_MODIFIED);
    let finish = json!({"status": "completed"});
    expect(app.patch(&format!("{base}/{}", id(0)), &finish), OK).await;
    assert_eq!(send(cached()).await.0, OK);
}
