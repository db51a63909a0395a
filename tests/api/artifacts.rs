//! Artifacts over HTTP: upserts keyed by (task or none, kind, iteration), idempotent
//! re-uploads, the size limit, the metadata lists, the content with its digest as `ETag`, and
//! what the change log records.

use reqwest::{Method, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, assert_problem, body, pointers, serve_settings, spawn_app};

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

#[tokio::test]
async fn an_artifact_uploaded_three_times_is_created_then_unchanged_then_replaced() {
    let app = spawn_app().await;
    let (project, task) = project_with_task(&app).await;
    let path = format!("/projects/{project}/tasks/{task}/artifacts/plan?iteration=2");
    let (markdown, v1, v2) = (
        Some("text/markdown"),
        b"# Plan\n1. retry",
        b"# Plan\n2. test",
    );

    let created = put(&app, &path, markdown, v1).await;
    assert_eq!(
        (created.status(), replayed(&created)),
        (StatusCode::CREATED, false)
    );
    assert_eq!(created.headers()["location"], path.as_str());
    assert_eq!(
        created.headers()["etag"],
        format!("\"{}\"", sha256(v1)).as_str()
    );
    let first = body(created).await;
    let metadata = json!({
        "id": first["id"], "project_id": project, "task_id": task, "kind": "plan",
        "iteration": 2, "content_type": "text/markdown", "byte_size": 15, "sha256": sha256(v1),
        "version": 1, "created_at": first["created_at"], "updated_at": first["updated_at"]
    });
    assert_eq!(first, metadata);

    let unchanged = put(&app, &path, markdown, v1).await;
    assert_eq!(
        (unchanged.status(), replayed(&unchanged)),
        (StatusCode::OK, true)
    );
    assert_eq!(
        body(unchanged).await,
        first,
        "nothing written, not even updated_at"
    );

    let replaced = put(&app, &path, markdown, v2).await;
    assert_eq!(
        (replaced.status(), replayed(&replaced)),
        (StatusCode::OK, false)
    );
    let second = body(replaced).await;
    assert_eq!(
        (&second["id"], &second["version"]),
        (&first["id"], &json!(2))
    );
    assert_eq!(
        (&second["sha256"], &second["byte_size"]),
        (&json!(sha256(v2)), &json!(14))
    );
    assert_ne!(second["updated_at"], first["updated_at"]);

    let content = app.get(&path).send().await.unwrap();
    assert_eq!(content.headers()["content-type"], "text/markdown");
    assert_eq!(&content.bytes().await.unwrap()[..], v2);
    assert_eq!(
        data(&app, &format!("/projects/{project}/artifacts")).await,
        [second]
    );
    assert_eq!(rows(&app, project).await, 1);
}

#[tokio::test]
async fn content_types_are_kept_and_a_new_type_for_the_same_bytes_is_a_replacement() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let png = [0x89, b'P', b'N', b'G', 0, 0xff, 0x00, 0x10];
    for (kind, content_type, bytes, served) in [
        (
            "summary",
            Some("text/plain; charset=utf-8"),
            &b"done"[..],
            "text/plain; charset=utf-8",
        ),
        (
            "context",
            Some("application/json"),
            &br#"{"files": []}"#[..],
            "application/json",
        ),
        ("shot", Some("image/png"), &png[..], "image/png"),
        ("blob", None, &b"\x00\x01"[..], "application/octet-stream"),
        ("empty", Some("text/plain"), &b""[..], "text/plain"),
    ] {
        let path = format!("/projects/{project}/artifacts/{kind}");
        let stored = body(put(&app, &path, content_type, bytes).await).await;
        assert_eq!(stored["content_type"], served);
        let content = app.get(&path).send().await.unwrap();
        assert_eq!(content.headers()["content-type"], served);
        assert_eq!(content.headers()["x-content-type-options"], "nosniff");
        assert_eq!(&content.bytes().await.unwrap()[..], bytes, "{kind}");
    }
    let path = format!("/projects/{project}/artifacts/summary");
    let retyped = put(&app, &path, Some("text/markdown"), b"done").await;
    assert_eq!(
        (retyped.status(), replayed(&retyped)),
        (StatusCode::OK, false)
    );
    assert_eq!(body(retyped).await["version"], 2);
    assert_eq!(rows(&app, project).await, 5);
}

/// A raw chunked PUT (no Content-Length: the server counts as it reads); the answer's status.
async fn put_chunked(app: &TestApp, path: &str, chunks: usize, chunk: usize) -> u16 {
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.api_key
    );
    // The server may answer and close before the last chunk: write errors are expected.
    let mut written = stream.write_all(head.as_bytes()).await;
    for _ in 0..chunks {
        let frame = format!("{chunk:x}\r\n{}\r\n", "x".repeat(chunk));
        written = written.and(stream.write_all(frame.as_bytes()).await);
    }
    let _ = written.and(stream.write_all(b"0\r\n\r\n").await);
    let mut answer = [0; 12];
    stream.read_exact(&mut answer).await.unwrap();
    std::str::from_utf8(&answer[9..]).unwrap().parse().unwrap()
}

#[tokio::test]
async fn content_over_max_artifact_bytes_is_413_and_stores_nothing_whatever_the_json_limit() {
    let mut settings = serve_settings();
    settings.max_artifact_bytes = 2048;
    settings.max_body_bytes = 512; // the JSON body limit does not bound artifacts
    let app = crate::helpers::spawn_app_with(settings).await;
    let project = app.create_project("p").await;
    let path = format!("/projects/{project}/artifacts/log");
    assert_eq!(
        put(&app, &path, None, &[b'a'; 2048]).await.status(),
        StatusCode::CREATED
    );
    for bytes in [2049, 100_000] {
        let response = put(&app, &path, None, &vec![b'b'; bytes]).await;
        let problem = assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
        assert_eq!(problem["code"], "payload_too_large");
    }
    let other = format!("/projects/{project}/artifacts/other");
    assert_eq!(put_chunked(&app, &other, 3, 1000).await, 413);
    assert_eq!(put_chunked(&app, &path, 1, 2049).await, 413);
    assert_eq!(put_chunked(&app, &other, 2, 1000).await, 201);
    assert_eq!(rows(&app, project).await, 2);
    let stored = app.get(&path).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(
        &stored[..],
        &[b'a'; 2048][..],
        "the stored artifact is untouched"
    );
}

#[tokio::test]
async fn latest_lists_only_the_highest_iteration_of_each_kind_per_task_and_for_the_project() {
    let app = spawn_app().await;
    let (project, a) = project_with_task(&app).await;
    let b = app.create_task(project, json!({"title": "B"})).await.1["id"].clone();
    let p = format!("/projects/{project}");
    let mut text_of = std::collections::HashMap::new();
    for (path, text) in [
        (format!("tasks/{a}/artifacts/plan?iteration=0"), "a plan 0"),
        (format!("tasks/{a}/artifacts/plan?iteration=2"), "a plan 2"),
        (format!("tasks/{a}/artifacts/plan?iteration=1"), "a plan 1"),
        (format!("tasks/{a}/artifacts/summary"), "a summary"),
        (format!("tasks/{b}/artifacts/plan?iteration=0"), "b plan 0"),
        ("artifacts/plan".to_owned(), "project plan"),
        ("artifacts/plan?iteration=5".to_owned(), "project plan 5"),
    ] {
        let response = put(&app, &format!("{p}/{path}"), None, text.as_bytes()).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{path}");
        text_of.insert(sha256(text.as_bytes()), text);
    }
    let texts = async |query: &str| -> Vec<&str> {
        let listed = data(&app, &format!("{p}/{query}")).await;
        assert!(
            listed.iter().all(|a| a.get("content").is_none()),
            "metadata only"
        );
        listed
            .iter()
            .map(|a| text_of[a["sha256"].as_str().unwrap()])
            .collect()
    };
    assert_eq!(texts("artifacts").await.len(), 7);
    let latest = ["a plan 2", "a summary", "b plan 0", "project plan 5"];
    assert_eq!(texts("artifacts?latest=true").await, latest);
    let plans = ["a plan 2", "b plan 0", "project plan 5"];
    assert_eq!(texts("artifacts?latest=true&kind=plan").await, plans);
    let of_a = format!("artifacts?task_id={a}&latest=true");
    assert_eq!(texts(&of_a).await, ["a plan 2", "a summary"]);
    assert_eq!(texts(&format!("tasks/{b}/artifacts")).await, ["b plan 0"]);
    let all_plans_of_a = format!("tasks/{a}/artifacts?latest=false&kind=plan");
    assert_eq!(
        texts(&all_plans_of_a).await,
        ["a plan 0", "a plan 2", "a plan 1"]
    );
    // The latest, page by page.
    let page = body(
        app.get(&format!("{p}/artifacts?latest=true&limit=3"))
            .send()
            .await
            .unwrap(),
    );
    let cursor = page.await["next_cursor"].as_str().unwrap().to_owned();
    let rest = format!("artifacts?latest=true&limit=3&cursor={cursor}");
    assert_eq!(texts(&rest).await, ["project plan 5"]);
}

#[tokio::test]
async fn the_content_is_tagged_with_its_sha256_so_if_none_match_answers_304() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let path = format!("/projects/{project}/artifacts/plan?iteration=0");
    put(&app, &path, None, b"v1").await;
    let first = app.get(&path).send().await.unwrap();
    let tag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(tag, format!("\"{}\"", sha256(b"v1")));
    assert_eq!(first.headers()["cache-control"], "private, no-cache");
    let get = |path: &str, tag: &str| app.get(path).header("if-none-match", tag).send();
    let cached = get(&path, &tag).await.unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(cached.headers()["etag"], tag.as_str());
    assert!(cached.bytes().await.unwrap().is_empty());

    let list = format!("/projects/{project}/artifacts");
    let listed = app.get(&list).send().await.unwrap();
    let list_tag = listed.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(
        get(&list, &list_tag).await.unwrap().status(),
        StatusCode::NOT_MODIFIED
    );

    put(&app, &path, None, b"v2").await;
    let fresh = get(&path, &tag).await.unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);
    assert_eq!(&fresh.bytes().await.unwrap()[..], b"v2");
    let relisted = get(&list, &list_tag).await.unwrap();
    assert_eq!(
        relisted.status(),
        StatusCode::OK,
        "a write changes the list's tag"
    );
}

#[tokio::test]
async fn concurrent_puts_of_one_key_on_two_servers_never_fail_and_leave_one_row() {
    let app = spawn_app().await;
    let replica = app.start_server(&serve_settings());
    let (project, task) = project_with_task(&app).await;
    let path = format!("/projects/{project}/tasks/{task}/artifacts/plan?iteration=1");
    // First 24 different contents, then (the key deleted) 24 times the same one.
    for distinct in [true, false] {
        let uploads = (0..24).map(|i| {
            let base = if i % 2 == 0 { &app.address } else { &replica };
            let text = if distinct {
                format!("attempt {i}")
            } else {
                "same".into()
            };
            let request = app
                .client
                .put(format!("{base}{path}"))
                .bearer_auth(&app.api_key);
            request.body(text).send()
        });
        let mut answers = Vec::new();
        for response in futures_util::future::join_all(uploads).await {
            let response = response.unwrap();
            answers.push((response.status(), replayed(&response)));
        }
        let count = |wanted| answers.iter().filter(|a| **a == wanted).count();
        assert_eq!(count((StatusCode::CREATED, false)), 1, "{answers:?}");
        assert_eq!(count((StatusCode::OK, !distinct)), 23, "{answers:?}");
        assert_eq!(rows(&app, project).await, 1);
        let stored = data(&app, &format!("/projects/{project}/artifacts")).await;
        // Distinct contents: every upload but the first replaced the row once.
        assert_eq!(stored[0]["version"], if distinct { 24 } else { 1 });
        let deleted = app.delete(&path).send().await.unwrap();
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    }
}

#[tokio::test]
async fn deleting_an_artifact_or_its_task_removes_it_and_an_unknown_task_is_404() {
    let app = spawn_app().await;
    let (project, task) = project_with_task(&app).await;
    let of_task = format!("/projects/{project}/tasks/{task}/artifacts/plan");
    let of_project = format!("/projects/{project}/artifacts/plan");
    for path in [&of_task, &of_project] {
        assert_eq!(
            put(&app, path, None, b"x").await.status(),
            StatusCode::CREATED
        );
    }
    let not_found = async |response: Response| {
        assert_problem(response, StatusCode::NOT_FOUND).await["detail"].clone()
    };
    let at_iteration = format!("{of_project}?iteration=0");
    let response = app.delete(&at_iteration).send().await.unwrap();
    assert_eq!(not_found(response).await, "artifact not found");
    let response = app
        .delete(&format!("/projects/{project}/tasks/{task}"))
        .send()
        .await;
    assert_eq!(response.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(
        rows(&app, project).await,
        1,
        "the task's artifact went with it"
    );
    let list_of_task = format!("/projects/{project}/tasks/{task}/artifacts");
    for response in [
        put(&app, &of_task, None, b"x").await,
        app.get(&of_task).send().await.unwrap(),
        app.delete(&of_task).send().await.unwrap(),
        app.get(&list_of_task).send().await.unwrap(),
    ] {
        assert_eq!(not_found(response).await, "task not found");
    }
    let deleted = app.delete(&of_project).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let response = app.get(&of_project).send().await.unwrap();
    assert_eq!(not_found(response).await, "artifact not found");
    assert_eq!(rows(&app, project).await, 0);
}

#[tokio::test]
async fn bad_kinds_iterations_content_types_and_filters_are_400_with_a_pointer_each() {
    let app = spawn_app().await;
    let (project, task) = project_with_task(&app).await;
    let (kind, iteration) = ("/path/kind", "/query/iteration");
    let long = format!("artifacts/{}", "k".repeat(65));
    let of_task = format!("tasks/{task}/artifacts/a.b");
    for (path, content_type, expected) in [
        ("artifacts/Plan", None, vec![kind]),
        (&long, None, vec![kind]),
        (&of_task, None, vec![kind]),
        ("artifacts/plan?iteration=-1", None, vec![iteration]),
        ("artifacts/plan?iteration=one", None, vec![iteration]),
        ("artifacts/plan?iteration=2147483648", None, vec![iteration]),
        ("artifacts/P?iteration=x", None, vec![kind, iteration]),
        (
            "artifacts/plan",
            Some("plain"),
            vec!["/header/Content-Type"],
        ),
    ] {
        let path = format!("/projects/{project}/{path}");
        let response = put(&app, &path, content_type, b"x").await;
        let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(pointers(&problem), expected, "PUT {path}");
        if content_type.is_none() {
            let response = app.get(&path).send().await.unwrap();
            let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
            assert_eq!(pointers(&problem), expected, "GET {path}");
        }
    }
    for (query, pointer) in [
        ("kind=Plan", "/query/kind"),
        ("task_id=0", "/query/task_id"),
        ("task_id=x", "/query/task_id"),
        ("latest=yes", "/query/latest"),
        ("limit=0", "/query/limit"),
    ] {
        let path = format!("/projects/{project}/artifacts?{query}");
        let problem = assert_problem(
            app.get(&path).send().await.unwrap(),
            StatusCode::BAD_REQUEST,
        );
        assert_eq!(pointers(&problem.await), [pointer], "{query}");
    }
    let path = app.url(&format!("/projects/{project}/artifacts/plan"));
    let gzipped = app.client.put(path).bearer_auth(&app.api_key);
    let response = gzipped.header("content-encoding", "gzip").body("x").send();
    assert_problem(response.await.unwrap(), StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert_eq!(rows(&app, project).await, 0);
}

#[tokio::test]
async fn another_tenant_gets_404_on_every_artifact_route() {
    let app = spawn_app().await;
    let (project, task) = project_with_task(&app).await;
    let of_task = format!("/projects/{project}/tasks/{task}/artifacts/plan");
    let of_project = format!("/projects/{project}/artifacts/plan");
    for path in [&of_task, &of_project] {
        assert_eq!(
            put(&app, path, None, b"mine").await.status(),
            StatusCode::CREATED
        );
    }
    let intruder = app.new_tenant_key("tenant-b").await;
    let mut routes = vec![
        (Method::GET, format!("/projects/{project}/artifacts")),
        (
            Method::GET,
            format!("/projects/{project}/tasks/{task}/artifacts"),
        ),
    ];
    for path in [&of_task, &of_project] {
        for method in [Method::PUT, Method::GET, Method::DELETE] {
            routes.push((method, path.clone()));
        }
    }
    for (method, path) in routes {
        let request = app
            .client
            .request(method, app.url(&path))
            .bearer_auth(&intruder);
        let response = request.body("theirs").send().await.unwrap();
        assert_problem(response, StatusCode::NOT_FOUND).await;
    }
    for path in [&of_task, &of_project] {
        let content = app.get(path).send().await.unwrap().bytes().await.unwrap();
        assert_eq!(&content[..], b"mine");
    }
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

/// Writes every kind of artifact change; the (type, artifact id, data) each must log, in order:
/// the data as the API answered the write. An identical upload logs nothing.
async fn artifact_writes(app: &TestApp) -> (i64, Vec<(String, i64, Value)>) {
    let (project, task) = project_with_task(app).await;
    let of_project = format!("/projects/{project}/artifacts/plan?iteration=0");
    let created = body(put(app, &of_project, None, b"v1").await).await;
    put(app, &of_project, None, b"v1").await;
    let replaced = body(put(app, &of_project, None, b"v2").await).await;
    app.delete(&of_project).send().await.unwrap();
    let of_task = format!("/projects/{project}/tasks/{task}/artifacts/summary");
    let of_task = body(put(app, &of_task, Some("text/plain"), b"s").await).await;
    app.delete(&format!("/projects/{project}/tasks/{task}"))
        .send()
        .await
        .unwrap();
    let [id, task_artifact] = [&created, &of_task].map(|a| a["id"].as_i64().unwrap());
    let change = |kind: &str, id, data| (kind.to_owned(), id, data);
    let expected = vec![
        change("artifact.created", id, created),
        change("artifact.updated", id, replaced),
        change("artifact.deleted", id, Value::Null),
        change("artifact.created", task_artifact, of_task),
        change("artifact.deleted", task_artifact, Value::Null),
    ];
    (project, expected)
}

#[tokio::test]
async fn every_artifact_write_logs_the_metadata_the_api_returned_and_nothing_else() {
    let app = spawn_app().await;
    let (project, expected) = artifact_writes(&app).await;
    let logged = logged_as::<taskdash::domain::Artifact>(&app, project, "artifact.").await;
    assert_eq!(logged, expected);
}

#[tokio::test]
async fn the_change_feed_serves_artifact_changes_with_their_metadata() {
    let app = spawn_app().await;
    let (project, expected) = artifact_writes(&app).await;
    assert_eq!(served(&app, project, "artifact.").await, expected);
}
