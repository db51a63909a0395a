//! Workflow runs: idempotent creation, validation, the list, conditional writes, deletion,
//! tasks naming their run and the summary's run counts. Also the helpers of `run_events`.

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, body, pointers, serve_settings, spawn_app};

pub const OK: StatusCode = StatusCode::OK;
pub const CREATED: StatusCode = StatusCode::CREATED;
pub const GONE: StatusCode = StatusCode::NO_CONTENT;
pub const BAD: StatusCode = StatusCode::BAD_REQUEST;
pub const MISSING: StatusCode = StatusCode::NOT_FOUND;
pub const STALE: StatusCode = StatusCode::PRECONDITION_FAILED;
pub const CONFLICT: StatusCode = StatusCode::CONFLICT;

/// Sends a request: its status, headers and body.
pub async fn exchange(request: RequestBuilder) -> (StatusCode, HeaderMap, Value) {
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, body(response).await)
}

/// Sends a request: its status and body.
pub async fn send(request: RequestBuilder) -> (StatusCode, Value) {
    let (status, _, body) = exchange(request).await;
    (status, body)
}

/// Sends a request that must answer `status`: its body.
pub async fn expect(request: RequestBuilder, status: StatusCode) -> Value {
    let (answered, body) = send(request).await;
    assert_eq!(answered, status, "{body}");
    body
}

/// Sends a request that must answer a problem with `status`: its pointers.
pub async fn refused(request: RequestBuilder, status: StatusCode) -> Vec<String> {
    pointers(&assert_problem(request.send().await.unwrap(), status).await)
}

pub async fn create_run(app: &TestApp, project: i64, run: Value) -> (StatusCode, Value) {
    send(app.post(&format!("/projects/{project}/runs"), &run)).await
}

async fn run_count(app: &TestApp, project: i64) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM runs WHERE project_id = $1")
        .bind(project)
        .fetch_one(&mut *app.pool.acquire().await.unwrap())
        .await
        .unwrap()
}

/// A valid run body with one field set.
fn run_with(field: &str, value: Value) -> Value {
    let mut run = json!({"workflow_type": "w"});
    run[field] = value;
    run
}

#[tokio::test]
async fn a_run_created_twice_under_retry_is_201_then_200_with_the_stored_run_unchanged() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let runs = format!("/projects/{project}/runs");
    let input = json!({"external_id": "wf-1", "workflow_type": "feature", "source": "cli",
                       "model_profile": "fast", "metadata": {"branch": "main"}});
    let (status, headers, run) = exchange(app.post(&runs, &input)).await;
    assert_eq!(status, CREATED);
    assert_eq!(headers["etag"], "\"1\"");
    assert!(headers.get("idempotent-replayed").is_none());
    let location = headers["location"].to_str().unwrap();
    assert_eq!(location, format!("{runs}/{}", run["id"]));
    assert_eq!(run["status"], "running");
    assert_eq!(run["workflow_type"], "feature");
    assert_eq!(run["metadata"], json!({"branch": "main"}));
    assert!(run["started_at"].is_string() && run["completed_at"].is_null());
    assert_eq!(expect(app.get(location), OK).await, run);

    // The retry carries other fields: they are ignored, the stored run is the answer.
    let retry = json!({"external_id": "wf-1", "workflow_type": "other", "status": "failed"});
    let (status, headers, replayed) = exchange(app.post(&runs, &retry)).await;
    assert_eq!(status, OK);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(replayed, run);
    assert_eq!(run_count(&app, project).await, 1);
    // Without a key, every request is a run; a run created finished is completed at once.
    for _ in 0..2 {
        let failed = run_with("status", json!("failed"));
        let run = expect(app.post(&runs, &failed), CREATED).await;
        assert!(run["completed_at"].is_string());
    }
    assert_eq!(run_count(&app, project).await, 3);
}

#[tokio::test]
async fn metadata_numbers_at_the_edges_of_a_double_come_back_as_sent() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    // PostgreSQL's jsonb prints these with every digit (309 of them, or 230 zeros after the
    // point); reading them back must round exactly, not overflow into a 500.
    let metadata =
        json!({"largest": f64::MAX, "tiny": 3.0719950646076577e-230, "negative": -f64::MAX});
    let path = format!("/projects/{project}/runs");
    let created = app
        .post(&path, &json!({"workflow_type": "w", "metadata": metadata}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), CREATED);
    let created = body(created).await;
    assert_eq!(created["metadata"], metadata);
    let read = body(
        app.get(&format!("{path}/{}", created["id"]))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(read["metadata"], metadata);
}

#[tokio::test]
async fn concurrent_creates_of_one_run_on_two_servers_give_exactly_one_201() {
    let app = spawn_app().await;
    let replica = app.start_server(&serve_settings());
    let project = app.create_project("p").await;
    let requests = (0..30).map(|i| {
        let base = if i % 2 == 0 { &app.address } else { &replica };
        let run = json!({"external_id": "wf-race", "workflow_type": format!("attempt {i}")});
        let url = format!("{base}/projects/{project}/runs");
        send(app.client.post(url).bearer_auth(&app.api_key).json(&run))
    });
    let answers = futures_util::future::join_all(requests).await;
    let mut statuses: Vec<u16> = answers.iter().map(|(s, _)| s.as_u16()).collect();
    statuses.sort();
    assert_eq!(statuses, [vec![200; 29], vec![201]].concat());
    let mut ids: Vec<&Value> = answers.iter().map(|(_, run)| &run["id"]).collect();
    ids.dedup();
    assert_eq!(ids.len(), 1, "every answer names the same run");
    assert_eq!(run_count(&app, project).await, 1);
}

#[tokio::test]
async fn invalid_runs_are_400_with_a_pointer_each_and_nothing_is_written() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let big = json!({"big": "x".repeat(64 * 1024)});
    let long = json!("x".repeat(201));
    let cases = [
        (json!({}), "/workflow_type"),
        (run_with("workflow_type", json!("   ")), "/workflow_type"),
        (run_with("workflow_type", json!("a\nb")), "/workflow_type"),
        (run_with("workflow_type", long), "/workflow_type"),
        (run_with("status", json!("done")), "/status"),
        (run_with("external_id", json!("a b")), "/external_id"),
        (run_with("source", json!("")), "/source"),
        (run_with("model_profile", json!(5)), "/model_profile"),
        (run_with("metadata", json!([])), "/metadata"),
        (run_with("metadata", big), "/metadata"),
        (run_with("metadata", json!({"k": "\u{0}"})), "/metadata"),
    ];
    let runs = format!("/projects/{project}/runs");
    for (input, pointer) in cases {
        let problems = refused(app.post(&runs, &input), BAD).await;
        assert_eq!(problems, [pointer], "{input}");
    }
    let both = json!({"workflow_type": "", "metadata": "x"});
    let problems = refused(app.post(&runs, &both), BAD).await;
    assert_eq!(problems, ["/workflow_type", "/metadata"]);
    assert_eq!(run_count(&app, project).await, 0);
}

#[tokio::test]
async fn patch_and_delete_honour_expected_status_and_if_match_and_completed_at_follows_status() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let input = run_with("metadata", json!({"a": 1}));
    let (_, run) = create_run(&app, project, input).await;
    let path = format!("/projects/{project}/runs/{}", run["id"]);
    let cached = app.get(&path).header("if-none-match", "\"1\"");
    assert_eq!(send(cached).await.0, StatusCode::NOT_MODIFIED);

    let finish = json!({"status": "completed", "expected_status": "running"});
    let request = app.patch(&path, &finish).header("if-match", "\"1\"");
    let (status, headers, finished) = exchange(request).await;
    assert_eq!((status, &headers["etag"]), (OK, &"\"2\"".parse().unwrap()));
    assert!(finished["completed_at"].is_string());
    assert_eq!(finished["metadata"], json!({"a": 1}));
    let response = app.patch(&path, &finish).send().await.unwrap();
    let problem = assert_problem(response, CONFLICT).await;
    assert_eq!(problem["code"], "status_mismatch");
    let fail = json!({"status": "failed"});
    refused(app.patch(&path, &fail).header("if-match", "\"1\""), STALE).await;
    refused(app.delete(&path).header("if-match", "\"1\""), STALE).await;

    // Metadata is replaced; completed_at stays while the run is finished, goes when it resumes.
    let replace = json!({"metadata": {"b": 2}});
    let replaced = expect(app.patch(&path, &replace), OK).await;
    assert_eq!(replaced["metadata"], json!({"b": 2}));
    assert_eq!(replaced["completed_at"], finished["completed_at"]);
    let resume = json!({"status": "running"});
    let resumed = expect(app.patch(&path, &resume), OK).await;
    assert_eq!(resumed["completed_at"], Value::Null);
    assert_eq!(resumed["version"], 4);
    let bad = json!({"metadata": [1]});
    assert_eq!(refused(app.patch(&path, &bad), BAD).await, ["/metadata"]);

    expect(app.delete(&path).header("if-match", "\"4\""), GONE).await;
    refused(app.get(&path), MISSING).await;
    refused(app.delete(&path), MISSING).await;
    refused(app.patch(&path, &json!({})), MISSING).await;
}

#[tokio::test]
async fn the_run_list_pages_newest_first_and_filters_by_status_type_key_and_creation_time() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let base = format!("/projects/{project}/runs");
    let mut runs = Vec::new();
    let types = ["a", "b", "a", "b", "a"];
    let statuses = ["running", "completed", "failed", "running", "cancelled"];
    for (i, (kind, status)) in types.into_iter().zip(statuses).enumerate() {
        let key = format!("wf-{i}");
        let input = json!({"workflow_type": kind, "status": status, "external_id": key});
        runs.push(expect(app.post(&base, &input), CREATED).await);
    }
    let id = |i: usize| runs[i]["id"].as_i64().unwrap();
    let list = |query: String| expect(app.get(&format!("{base}{query}")), OK);
    let ids = |page: Value| -> Vec<i64> {
        let data = page["data"].as_array().unwrap();
        data.iter().map(|r| r["id"].as_i64().unwrap()).collect()
    };
    // Pages of 2, newest first, chained by next_cursor.
    let (mut seen, mut query) = (Vec::new(), "?limit=2".to_owned());
    loop {
        let page = list(query).await;
        let cursor = page["next_cursor"].as_str();
        let next = cursor.map(|c| format!("?limit=2&cursor={c}"));
        seen.extend(ids(page));
        let Some(next) = next else { break };
        query = next;
    }
    assert_eq!(seen, [id(4), id(3), id(2), id(1), id(0)]);
    let page = list("?status=running,failed".into()).await;
    assert_eq!(ids(page), [id(3), id(2), id(0)]);
    assert_eq!(ids(list("?workflow_type=b".into()).await), [id(3), id(1)]);
    assert_eq!(ids(list("?external_id=wf-2".into()).await), [id(2)]);
    let at = |i: usize| runs[i]["created_at"].as_str().unwrap().to_owned();
    let range = format!("?created_after={}&created_before={}", at(0), at(3));
    assert_eq!(ids(list(range).await), [id(2), id(1)]);
    for (query, pointer) in [
        ("status=done", "/query/status"),
        ("created_after=yesterday", "/query/created_after"),
        ("workflow_type=", "/query/workflow_type"),
        ("limit=0", "/query/limit"),
    ] {
        let problems = refused(app.get(&format!("{base}?{query}")), BAD).await;
        assert_eq!(problems, [pointer], "{query}");
    }
    // Tagged by the project's data version, which every run write bumps.
    let (_, headers, _) = exchange(app.get(&base)).await;
    let etag = headers["etag"].clone();
    let cached = || app.get(&base).header("if-none-match", etag.clone());
    assert_eq!(send(cached()).await.0, StatusCode::NOT_MODIFIED);
    let finish = json!({"status": "completed"});
    expect(app.patch(&format!("{base}/{}", id(0)), &finish), OK).await;
    assert_eq!(send(cached()).await.0, OK);
}

#[tokio::test]
async fn tasks_name_a_run_of_their_project_and_the_task_list_filters_by_it() {
    let app = spawn_app().await;
    let (p1, p2) = (app.create_project("1").await, app.create_project("2").await);
    let run = create_run(&app, p1, json!({"workflow_type": "w"})).await.1["id"].clone();
    let foreign = create_run(&app, p2, json!({"workflow_type": "w"})).await.1["id"].clone();
    for bad in [&foreign, &json!(424242)] {
        let task = json!({"title": "T", "run_id": bad});
        let (status, problem) = app.create_task(p1, task).await;
        assert_eq!(status, CONFLICT);
        assert_eq!(problem["code"], "reference_not_found");
        assert_eq!(pointers(&problem), ["/run_id"]);
    }
    let items = json!([{"title": "ok", "run_id": run}, {"title": "bad", "run_id": foreign}]);
    let (status, problem) = app.bulk(p1, items).await;
    assert_eq!(status, CONFLICT);
    assert_eq!(pointers(&problem), ["/tasks/1/run_id"]);
    let zero = json!({"title": "T", "run_id": 0});
    let (status, problem) = app.create_task(p1, zero).await;
    assert_eq!((status, pointers(&problem)), (BAD, vec!["/run_id".into()]));
    assert_eq!(app.task_count(p1).await, 0);

    let of_run = json!({"title": "T", "run_id": run});
    let (status, task) = app.create_task(p1, of_run).await;
    assert_eq!((status, &task["run_id"]), (CREATED, &run));
    let (_, other) = app.create_task(p1, json!({"title": "no run"})).await;
    assert_eq!(other["run_id"], Value::Null);
    let filtered = format!("/projects/{p1}/tasks?run_id={run}");
    assert_eq!(expect(app.get(&filtered), OK).await["data"], json!([task]));

    let other_path = format!("/projects/{p1}/tasks/{}", other["id"]);
    let patch = |run_id: &Value| app.patch(&other_path, &json!({ "run_id": run_id }));
    assert_eq!(refused(patch(&foreign), CONFLICT).await, ["/run_id"]);
    assert_eq!(expect(patch(&run), OK).await["run_id"], run);
    assert_eq!(expect(patch(&Value::Null), OK).await["run_id"], Value::Null);

    // Deleting the run keeps its tasks, without run_id.
    expect(app.delete(&format!("/projects/{p1}/runs/{run}")), GONE).await;
    let kept = format!("/projects/{p1}/tasks/{}", task["id"]);
    assert_eq!(expect(app.get(&kept), OK).await["run_id"], Value::Null);
}

#[tokio::test]
async fn the_summary_counts_runs_by_status_and_follows_every_run_write() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let summary = format!("/projects/{project}/summary");
    let counts = |running: i64, completed: i64, failed: i64, cancelled: i64| {
        let by_status = json!({"running": running, "completed": completed, "failed": failed,
                               "cancelled": cancelled});
        let total = running + completed + failed + cancelled;
        json!({"total": total, "by_status": by_status})
    };
    let (_, headers, before) = exchange(app.get(&summary)).await;
    assert_eq!(before["runs"], counts(0, 0, 0, 0));
    let mut paths = Vec::new();
    for status in ["running", "running", "running", "failed"] {
        let input = run_with("status", json!(status));
        let (_, run) = create_run(&app, project, input).await;
        paths.push(format!("/projects/{project}/runs/{}", run["id"]));
    }
    // A replayed create counts nothing.
    for _ in 0..2 {
        create_run(&app, project, run_with("external_id", json!("k"))).await;
    }
    let patches = [
        json!({"status": "completed"}),
        json!({"metadata": {"x": 1}}),
        json!({"status": "cancelled"}),
    ];
    for (path, patch) in paths.iter().zip(patches) {
        expect(app.patch(path, &patch), OK).await;
    }
    expect(app.delete(&paths[3]), GONE).await;

    // Run writes change the summary's tag.
    let etag = headers["etag"].clone();
    let after = expect(app.get(&summary).header("if-none-match", etag), OK).await;
    assert_eq!(after["runs"], counts(2, 1, 0, 1));
    let sql = "SELECT status, count(*) FROM runs WHERE project_id = $1 GROUP BY 1 ORDER BY 1";
    let mut connection = app.pool.acquire().await.unwrap();
    let query = sqlx::query_as(sql).bind(project);
    let by_status: Vec<(String, i64)> = query.fetch_all(&mut *connection).await.unwrap();
    let expected = [("cancelled", 1), ("completed", 1), ("running", 2)];
    assert_eq!(by_status, expected.map(|(s, n)| (s.to_owned(), n)));
}
