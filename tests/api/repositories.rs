//! Repositories over HTTP: idempotent creation by normalised URL (also under a race of "list,
//! then create if missing"), reads, PATCH with URL conflicts, DELETE, validation, tenancy.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::artifacts::{logged_as, served};
use crate::helpers::{TestApp, assert_problem, body, pointers, serve_settings, spawn_app};

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

#[tokio::test]
async fn another_tenant_gets_404_on_every_repository_route() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (_, _, stored) = add(&app, project, json!({"url": "https://h.io/a/b"})).await;
    let intruder = app.new_tenant_key("tenant-b").await;
    let list = format!("/projects/{project}/repositories");
    let one = format!("{list}/{}", stored["id"]);
    let input = json!({"url": "https://h.io/a/b", "default_branch": "theirs"});
    for (method, path) in [
        (Method::POST, &list),
        (Method::GET, &list),
        (Method::GET, &one),
        (Method::PATCH, &one),
        (Method::DELETE, &one),
    ] {
        let request = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(&intruder);
        let request = if method == Method::POST || method == Method::PATCH {
            request.json(&input)
        } else {
            request
        };
        assert_problem(request.send().await.unwrap(), StatusCode::NOT_FOUND).await;
    }
    assert_eq!(body(app.get(&one).send().await.unwrap()).await, stored);
}

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
