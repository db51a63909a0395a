//! What an upload may not be: content over `max_artifact_bytes` (sized or chunked) is 413 and
//! stores nothing; bad kinds, iterations, content types, encodings and list filters are 4xx
//! with a pointer each.

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{project_with_task, put, rows};
use crate::helpers::{TestApp, assert_problem, pointers, serve_settings, spawn_app};

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
