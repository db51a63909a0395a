//! Artifacts over HTTP: upserts keyed by (task or none, kind, iteration), idempotent
//! re-uploads, the size limit, the metadata lists, the content with its digest as `ETag`, and
//! what the change log records.
//!
//! `creation`: uploads, re-uploads and replacements (also racing on two servers); `listing`:
//! the metadata lists and conditional reads; `validation`: the size limit and malformed input;
//! `deletion`: deleting an artifact or its task; `tenancy`: another tenant's view;
//! `change_log`: what each write logs and the feed serves. The change-log readers here
//! (`logged_as`, `served`) are used by `repositories` too.

mod change_log;
mod creation;
mod deletion;
mod listing;
mod tenancy;
mod validation;

use reqwest::{Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, body};

pub async fn put(app: &TestApp, path: &str, content_type: Option<&str>, bytes: &[u8]) -> Response {
    let mut request = app.client.put(app.url(path)).bearer_auth(&app.api_key);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.body(bytes.to_vec()).send().await.unwrap()
}

async fn rows(app: &TestApp, project: i64) -> i64 {
    let sql = "SELECT count(*) FROM artifacts WHERE project_id = $1";
    let count = sqlx::query_scalar(sql).bind(project);
    count
        .fetch_one(&mut *app.pool.acquire().await.unwrap())
        .await
        .unwrap()
}

/// A project with one task: (project, task).
async fn project_with_task(app: &TestApp) -> (i64, i64) {
    let project = app.create_project("p").await;
    let (status, task) = app.create_task(project, json!({"title": "T"})).await;
    assert_eq!(status, StatusCode::CREATED);
    (project, task["id"].as_i64().unwrap())
}

/// The `data` of a list page.
async fn data(app: &TestApp, path: &str) -> Vec<Value> {
    let response = app.get(path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    body(response).await["data"].as_array().unwrap().clone()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn replayed(response: &Response) -> bool {
    response.headers().contains_key("idempotent-replayed")
}

/// `(type, resource_id, data)` of a project's changes whose type starts with `prefix`, read
/// from the log itself: the data must read as `T` (what the feed serves), shown as `T` shows.
pub async fn logged_as<T: DeserializeOwned + Serialize>(
    app: &TestApp,
    project: i64,
    prefix: &str,
) -> Vec<(String, i64, Value)> {
    let logged: Vec<(String, i64, Option<String>)> = sqlx::query_as(
        "SELECT type, resource_id, data::text FROM changes
         WHERE project_id = $1 AND starts_with(type, $2) ORDER BY xid, seq",
    )
    .bind(project)
    .bind(prefix)
    .fetch_all(&mut *app.pool.acquire().await.unwrap())
    .await
    .unwrap();
    let shown = |json: String| serde_json::to_value(serde_json::from_str::<T>(&json).unwrap());
    let logged = logged.into_iter().map(|(kind, id, data)| {
        (
            kind,
            id,
            data.map(|json| shown(json).unwrap()).unwrap_or_default(),
        )
    });
    logged.collect()
}

/// `(type, resource_id, data)` of a project's changes whose type starts with `prefix`, as the
/// change feed serves them.
pub async fn served(app: &TestApp, project: i64, prefix: &str) -> Vec<(String, i64, Value)> {
    let (changes, _) = app
        .settled_changes(&format!("/projects/{project}/changes"), None)
        .await;
    let changes = changes.into_iter().filter_map(|c| {
        let kind = c["type"].as_str().unwrap().to_owned();
        let id = c["resource_id"].as_i64().unwrap();
        kind.starts_with(prefix)
            .then(|| (kind, id, c["data"].clone()))
    });
    changes.collect()
}
