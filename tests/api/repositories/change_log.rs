//! What repository writes log: the repository as its GET returns it, once per real change; and
//! the change feed serves the same.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::add;
use crate::artifacts::{logged_as, served};
use crate::helpers::{TestApp, body, spawn_app};

/// Writes every kind of repository change; the (type, id, data) each must log, in order: the
/// data as the API's GET returned it.
async fn repository_writes(app: &TestApp) -> (i64, Vec<(String, i64, Value)>) {
    let project = app.create_project("p").await;
    let (_, _, created) = add(app, project, json!({"url": "https://h.io/a/b"})).await;
    add(app, project, json!({"url": "git@h.io:a/b.git"})).await; // replayed: logs nothing
    let one = format!("/projects/{project}/repositories/{}", created["id"]);
    app.patch(&one, &json!({"default_branch": "dev"}))
        .send()
        .await
        .unwrap();
    let updated = body(app.get(&one).send().await.unwrap()).await;
    assert_eq!(
        app.delete(&one).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let id = created["id"].as_i64().unwrap();
    let change = |kind: &str, data| (kind.to_owned(), id, data);
    let expected = vec![
        change("repository.created", created),
        change("repository.updated", updated),
        change("repository.deleted", Value::Null),
    ];
    (project, expected)
}

#[tokio::test]
async fn every_repository_write_logs_the_repository_as_its_get_returns_it() {
    let app = spawn_app().await;
    let (project, expected) = repository_writes(&app).await;
    let logged = logged_as::<taskdash::domain::Repository>(&app, project, "repository.").await;
    assert_eq!(logged, expected);
}

#[tokio::test]
async fn the_change_feed_serves_repository_changes_as_their_get_returns_them() {
    let app = spawn_app().await;
    let (project, expected) = repository_writes(&app).await;
    assert_eq!(served(&app, project, "repository.").await, expected);
}
