//! Creating repositories: a new URL creates, every spelling of it returns the stored one
//! unchanged; other paths, hosts, ports and projects are separate; clients that list then
//! create at once on two servers end with one row.

use reqwest::StatusCode;
use serde_json::json;

use super::{add, rows};
use crate::helpers::{body, serve_settings, spawn_app};

#[tokio::test]
async fn a_new_url_creates_the_repository_and_every_spelling_of_it_returns_it_unchanged() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let path = format!("/projects/{project}/repositories");
    let response = app
        .post(&path, &json!({"url": "https://github.com/acme/uploader"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(response.headers().get("idempotent-replayed").is_none());
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let stored = body(response).await;
    assert_eq!(location, format!("{path}/{}", stored["id"]));
    assert_eq!(stored["url"], "https://github.com/acme/uploader");
    assert_eq!(stored["normalized_url"], "github.com/acme/uploader");
    assert_eq!(stored["default_branch"], "main");
    assert_eq!(body(app.get(&location).send().await.unwrap()).await, stored);

    for spelling in [
        "https://github.com/acme/uploader.git",
        "https://github.com/acme/uploader/",
        "https://GitHub.com/acme/uploader.git/",
        "git@github.com:acme/uploader.git",
        "git@GITHUB.COM:acme/uploader",
        "ssh://git@github.com/acme/uploader.git",
    ] {
        let input = json!({"url": spelling, "default_branch": "develop"});
        let (status, replayed, answer) = add(&app, project, input).await;
        assert_eq!((status, replayed), (StatusCode::OK, true), "{spelling}");
        assert_eq!(
            answer, stored,
            "{spelling}: the stored repository, unchanged"
        );
    }
    assert_eq!(rows(&app, project).await, 1);
}

#[tokio::test]
async fn other_repositories_hosts_ports_and_projects_are_separate_repositories() {
    let app = spawn_app().await;
    let (p1, p2) = (
        app.create_project("one").await,
        app.create_project("two").await,
    );
    for (project, url) in [
        (p1, "https://github.com/acme/uploader"),
        (p1, "https://github.com/acme/Uploader"),
        (p1, "https://github.com/acme/uploader-2"),
        (p1, "https://gitlab.com/acme/uploader"),
        (p1, "ssh://git@github.com:2222/acme/uploader"),
        (p2, "git@github.com:acme/uploader.git"),
    ] {
        let (status, _, stored) = add(&app, project, json!({"url": url})).await;
        assert_eq!(status, StatusCode::CREATED, "{url}: {stored}");
        assert_eq!(stored["project_id"], project);
    }
    let (status, _, stored) = add(
        &app,
        p2,
        json!({"url": "https://h.io/x", "default_branch": "trunk"}),
    )
    .await;
    assert_eq!(
        (status, &stored["default_branch"]),
        (StatusCode::CREATED, &json!("trunk"))
    );
    assert_eq!((rows(&app, p1).await, rows(&app, p2).await), (5, 2));
}

#[tokio::test]
async fn clients_that_list_then_create_if_missing_at_once_on_two_servers_end_with_one_row() {
    let app = spawn_app().await;
    let replica = app.start_server(&serve_settings());
    let project = app.create_project("p").await;
    let path = format!("/projects/{project}/repositories");
    let spellings = [
        "https://github.com/acme/uploader",
        "git@github.com:acme/uploader.git",
    ];
    // Every client lists first (all find nothing), then all create at once.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(16));
    let clients = (0..16).map(|i| {
        let (barrier, client, key) = (barrier.clone(), app.client.clone(), app.api_key.clone());
        let base = if i % 2 == 0 {
            app.address.clone()
        } else {
            replica.clone()
        };
        let (url, path) = (spellings[i % 2], path.clone());
        tokio::spawn(async move {
            let listed = client.get(format!("{base}{path}")).bearer_auth(&key).send();
            let listed = body(listed.await.unwrap()).await;
            let missing = !listed["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["normalized_url"] == "github.com/acme/uploader");
            barrier.wait().await;
            assert!(missing, "every client looked before any created");
            let created = client.post(format!("{base}{path}")).bearer_auth(&key);
            let response = created.json(&json!({"url": url})).send().await.unwrap();
            (response.status(), body(response).await["id"].clone())
        })
    });
    let mut statuses = Vec::new();
    let mut ids = Vec::new();
    for answer in futures_util::future::join_all(clients).await {
        let (status, id) = answer.unwrap();
        statuses.push(status);
        ids.push(id);
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let replayed = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!((created, replayed), (1, 15), "{statuses:?}");
    ids.dedup();
    assert_eq!(ids.len(), 1, "every client got the same repository");
    assert_eq!(rows(&app, project).await, 1);
}
