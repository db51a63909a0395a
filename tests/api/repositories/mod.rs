//! Repositories over HTTP: idempotent creation by normalised URL (also under a race of "list,
//! then create if missing"), reads, PATCH with URL conflicts, DELETE, validation, tenancy.
//!
//! `creation`: one repository per normalised URL and project, whatever the spelling or race;
//! `lifecycle`: list, read, patch, delete and conditional lists; `validation`: bad URLs and
//! branches; `tenancy`: another tenant's view; `change_log`: what each write logs and the feed
//! serves.

mod change_log;
mod creation;
mod lifecycle;
mod tenancy;
mod validation;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, body};

async fn add(app: &TestApp, project: i64, input: Value) -> (StatusCode, bool, Value) {
    let path = format!("/projects/{project}/repositories");
    let response = app.post(&path, &input).send().await.unwrap();
    let replayed = response.headers().get("idempotent-replayed").is_some();
    (response.status(), replayed, body(response).await)
}

async fn rows(app: &TestApp, project: i64) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM repositories WHERE project_id = $1")
        .bind(project)
        .fetch_one(&mut *app.pool.acquire().await.unwrap())
        .await
        .unwrap()
}
