//! After creation: repositories are listed, read, patched (a taken URL is 409) and deleted, and
//! the list is answered 304 until a repository changes.

use reqwest::StatusCode;
use serde_json::json;

use super::add;
use crate::helpers::{assert_problem, body, spawn_app};

#[tokio::test]
async fn repositories_are_listed_read_patched_and_deleted_and_a_taken_url_is_409() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let base = format!("/projects/{project}/repositories");
    let (_, _, first) = add(&app, project, json!({"url": "https://h.io/a/one"})).await;
    let (_, _, second) = add(&app, project, json!({"url": "https://h.io/a/two"})).await;
    let page = body(app.get(&format!("{base}?limit=1")).send().await.unwrap()).await;
    assert_eq!(page["data"], json!([first]));
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = body(
        app.get(&format!("{base}?limit=1&cursor={cursor}"))
            .send()
            .await
            .unwrap(),
    );
    assert_eq!(
        rest.await,
        json!({"data": [second.clone()], "next_cursor": null})
    );

    let one = format!("{base}/{}", first["id"]);
    let patched = app.patch(
        &one,
        &json!({"default_branch": "develop", "url": "git@h.io:a/one.git"}),
    );
    let patched = body(patched.send().await.unwrap()).await;
    assert_eq!(patched["default_branch"], "develop");
    assert_eq!(
        (&patched["url"], &patched["normalized_url"]),
        (&json!("git@h.io:a/one.git"), &first["normalized_url"])
    );
    let moved = body(
        app.patch(&one, &json!({"url": "https://h.io/a/three"}))
            .send()
            .await
            .unwrap(),
    );
    assert_eq!(moved.await["normalized_url"], "h.io/a/three");
    let taken = app
        .patch(&one, &json!({"url": "https://H.io/a/two.git"}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(taken, StatusCode::CONFLICT).await;
    assert_eq!(problem["code"], "conflict");
    let unchanged = body(app.get(&one).send().await.unwrap()).await;
    assert_eq!(unchanged["normalized_url"], "h.io/a/three");
    let (status, replayed, answer) =
        add(&app, project, json!({"url": "https://h.io/a/three"})).await;
    assert_eq!(
        (status, replayed, &answer["id"]),
        (StatusCode::OK, true, &first["id"])
    );

    assert_eq!(
        app.delete(&one).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    for response in [
        app.get(&one).send().await.unwrap(),
        app.delete(&one).send().await.unwrap(),
    ] {
        let problem = assert_problem(response, StatusCode::NOT_FOUND).await;
        assert_eq!(problem["detail"], "repository not found");
    }
    let (status, _, _) = add(&app, project, json!({"url": "https://h.io/a/one"})).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a deleted repository's URL is free again"
    );
}

#[tokio::test]
async fn a_repository_list_is_answered_304_until_a_repository_changes() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let path = format!("/projects/{project}/repositories");
    let tag =
        |response: &reqwest::Response| response.headers()["etag"].to_str().unwrap().to_owned();
    let listed = tag(&app.get(&path).send().await.unwrap());
    let cached = app
        .get(&path)
        .header("if-none-match", &listed)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    add(&app, project, json!({"url": "https://h.io/a/b"})).await;
    let fresh = app
        .get(&path)
        .header("if-none-match", &listed)
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);
    let listed = tag(&fresh);
    add(&app, project, json!({"url": "https://h.io/a/b.git"})).await; // replayed: no write
    let cached = app
        .get(&path)
        .header("if-none-match", &listed)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
}
