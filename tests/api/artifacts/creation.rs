//! Creating artifacts: an upload creates, an identical one changes nothing, a different one
//! (other bytes or another content type) replaces; concurrent uploads of one key on two
//! servers never fail and leave one row.

use reqwest::StatusCode;
use serde_json::json;

use super::{data, project_with_task, put, replayed, rows, sha256};
use crate::helpers::{body, serve_settings, spawn_app};

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
