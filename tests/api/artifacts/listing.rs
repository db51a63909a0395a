//! Reading artifacts: the metadata lists (latest iteration per kind, filters, pages) and the
//! content and lists tagged so that `If-None-Match` is answered 304 until a write.

use reqwest::StatusCode;
use serde_json::json;

use super::{data, project_with_task, put, sha256};
use crate::helpers::{body, spawn_app};

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
