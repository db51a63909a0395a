//! What the feed guarantees when writers race and time passes: a transaction that started
//! first but commits last is handed out first, exactly once (pages and streams); a cursor
//! older than the retention is answered 410 / `reset`; a stream misses nothing, whenever it
//! opens.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use crate::changes::{answer, assert_in_cursor_order, get};
use crate::events::{WITHIN, open, task_id};
use taskdash::startup::Application;

use crate::helpers::{
    EventStream, HORIZON, Next, TestApp, assert_problem, body, kinds, position, serve_settings,
    spawn_app, spawn_app_with,
};

/// Polls `after` until `n` changes show (the cluster's other transactions may hold them back).
async fn wait_for_changes(app: &TestApp, after: &str, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (changes, _) = app.changes("/changes", Some(after)).await;
        if changes.len() >= n || tokio::time::Instant::now() > deadline {
            return changes;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Inserts a task with raw SQL in a transaction that stays open: the writer that started first.
pub async fn hold_writer(app: &TestApp, project: i64) -> (PgConnection, i64) {
    let mut connection = PgConnection::connect_with(&app.database).await.unwrap();
    sqlx::raw_sql("BEGIN")
        .execute(&mut connection)
        .await
        .unwrap();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO tasks (project_id, title) VALUES ($1, 'held') RETURNING id",
    )
    .bind(project)
    .fetch_one(&mut connection)
    .await
    .unwrap();
    (connection, id)
}

pub async fn commit(mut connection: PgConnection) {
    sqlx::raw_sql("COMMIT")
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
}

#[tokio::test]
async fn a_transaction_that_started_first_but_commits_last_is_read_before_the_later_one_exactly_once()
 {
    let _exclusive = HORIZON.write().await;
    let app = spawn_app().await;
    // Two projects: writers of one project may share a counter row (and would then queue).
    let held_project = app.create_project("held").await;
    let project = app.create_project("p").await;
    let (_, cursor) = app.settled_changes("/changes", None).await;

    // A starts and writes first, and stays open; B starts later and commits.
    let (a, a_task) = hold_writer(&app, held_project).await;
    let (status, b_task) = app.create_task(project, json!({"title": "b"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let b_task = b_task["id"].as_i64().unwrap();
    get(&app, &format!("/projects/{project}/tasks/{b_task}")).await;

    // B is committed, yet not handed out while A, older, may still commit: a reader that
    // passed B now would never get A.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (seen, in_between) = app.changes("/changes", Some(&cursor)).await;
    assert_eq!(kinds(&seen), []);
    let (seen, _) = app
        .changes(&format!("/projects/{project}/changes"), Some(&cursor))
        .await;
    assert_eq!(kinds(&seen), []);

    commit(a).await;
    let expected = [
        ("task.created".to_owned(), a_task),
        ("task.created".to_owned(), b_task),
    ];
    // From the old cursor, and from the one handed out in between: both, A first, once.
    for after in [&cursor, &in_between] {
        let changes = wait_for_changes(&app, after, 2).await;
        assert_eq!(kinds(&changes), expected, "after {after}");
        assert_in_cursor_order(&changes);
    }
    let (changes, _) = app.settled_changes("/changes", Some(&in_between)).await;
    assert_eq!(kinds(&changes), expected);
    // Paging one by one gives the same.
    let first = answer(
        app.get(&format!("/changes?after={in_between}&limit=1")),
        StatusCode::OK,
    )
    .await;
    assert_eq!(first["data"][0], changes[0]);
    let (rest, _) = app.changes("/changes", first["next_cursor"].as_str()).await;
    assert_eq!(rest, changes[1..]);
}

#[tokio::test]
async fn a_cursor_older_than_the_retention_gets_410_with_a_cursor_to_follow_from() {
    let mut settings = serve_settings();
    settings.changes_retention = Duration::from_secs(1);
    let app = spawn_app_with(settings).await;
    let project = app.create_project("p").await;
    app.create_task(project, json!({"title": "old"})).await;
    let (old, _) = app.settled_changes("/changes", None).await;
    let oldest = old[0]["id"].as_str().unwrap().to_owned();

    // Pruning runs every second; wait (bounded) until it has passed the old cursor.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let response = loop {
        let response = app
            .get(&format!("/changes?after={oldest}"))
            .send()
            .await
            .unwrap();
        if response.status() != StatusCode::OK || tokio::time::Instant::now() > deadline {
            break response;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let problem = assert_problem(response, StatusCode::GONE).await;
    assert_eq!(problem["code"], "cursor_expired");
    let cursor = problem["cursor"].as_str().unwrap().to_owned();
    assert!(position(&json!(cursor)) > position(&old[1]["id"]));
    let scoped = app.get(&format!("/projects/{project}/changes?after={oldest}"));
    let problem = assert_problem(scoped.send().await.unwrap(), StatusCode::GONE).await;
    assert_eq!(problem["code"], "cursor_expired");

    // The cursor given works as `after`: what comes next, and nothing before.
    let (_, task) = app.create_task(project, json!({"title": "new"})).await;
    let (changes, _) = app.settled_changes("/changes", Some(&cursor)).await;
    assert_eq!(
        kinds(&changes),
        [("task.created".to_owned(), task["id"].as_i64().unwrap())]
    );
}

#[tokio::test]
async fn a_stream_gets_a_transaction_that_started_first_but_committed_last_before_the_later_one_once()
 {
    let _exclusive = HORIZON.write().await;
    let app = spawn_app().await;
    let held_project = app.create_project("held").await;
    let project = app.create_project("p").await;
    app.settle().await;
    let mut stream = open(&app, "/events", None).await;

    let (a, a_task) = hold_writer(&app, held_project).await;
    let b_task = task_id(&app, project, "b").await;
    // B committed, but A (older) is still running: B is held back, on the stream too.
    stream.assert_quiet(Duration::from_millis(1300)).await;
    commit(a).await;
    let changes = stream.changes(2, WITHIN).await;
    let expected = [
        ("task.created".to_owned(), a_task),
        ("task.created".to_owned(), b_task),
    ];
    assert_eq!(kinds(&changes), expected);
    stream.assert_quiet(Duration::from_millis(1300)).await;
    let (logged, _) = app.settled_changes("/changes", None).await;
    assert_eq!(changes, logged[2..]);
}

#[tokio::test]
async fn an_expired_last_event_id_gets_one_reset_event_then_the_stream_goes_on_live() {
    let mut settings = serve_settings();
    settings.changes_retention = Duration::from_secs(1);
    let app = spawn_app_with(settings).await;
    let project = app.create_project("p").await;
    task_id(&app, project, "old").await;
    let (old, _) = app.settled_changes("/changes", None).await;
    let oldest = old[0]["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    let expired = loop {
        let url = format!("/changes?after={oldest}");
        let response = app.get(&url).send().await.unwrap();
        if response.status() == StatusCode::GONE {
            break body(response).await["cursor"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "never pruned");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let mut stream = open(&app, "/events", Some(&oldest)).await;
    let reset = stream.event(WITHIN).await;
    assert_eq!(reset.event.as_deref(), Some("reset"));
    let data: Value = serde_json::from_str(reset.data.as_deref().unwrap()).unwrap();
    assert_eq!(data, json!({"cursor": reset.id.clone().unwrap()}));
    // Where the log resumes: no older than the cursor the 410 gave.
    let cursor = json!(reset.id.unwrap());
    assert!(crate::helpers::position(&cursor) >= crate::helpers::position(&json!(expired)));
    let task = task_id(&app, project, "new").await;
    let changes = stream.changes(1, WITHIN).await;
    assert_eq!(kinds(&changes), [("task.created".to_owned(), task)]);
}

#[tokio::test]
async fn a_stream_opened_before_its_replicas_fan_out_first_read_the_log_misses_nothing() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    app.settle().await;
    // A new replica whose feed tasks (spawned by `build`) run on this test's runtime, and its
    // HTTP server on another thread's: while this thread is blocked below, the replica serves
    // but its fan-out has not read the log yet (as when its LISTEN connection is slow to come
    // up: up to a second).
    let application = Application::build(&serve_settings(), app.database.clone()).unwrap();
    let replica = format!("http://127.0.0.1:{}", application.port());
    let (key, address) = (app.api_key.clone(), app.address.clone());
    let (committed, on_commit) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.spawn(application.run_until_stopped());
        runtime.block_on(async move {
            let client = reqwest::Client::new();
            let request = client.get(format!("{replica}/events")).bearer_auth(&key);
            let mut stream = EventStream::open(request).await;
            assert!(matches!(stream.next(WITHIN).await, Next::Frame(f) if f.retry.is_some()));
            tokio::time::sleep(Duration::from_millis(300)).await; // caught up, now live
            let response = client
                .post(format!("{address}/projects/{project}/tasks"))
                .bearer_auth(&key)
                .json(&json!({"title": "x"}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            committed
                .send(body(response).await["id"].as_i64().unwrap())
                .unwrap();
            let deadline = Instant::now() + WITHIN;
            let mut seen = Vec::new();
            while seen.len() < 2 && Instant::now() < deadline {
                match stream.next(deadline - Instant::now()).await {
                    Next::Frame(frame) if frame.event.is_some() => {
                        seen.push(frame.change()["resource_id"].as_i64().unwrap());
                    }
                    Next::Frame(_) => {}
                    Next::Silence | Next::End => break,
                }
            }
            seen
        })
    });
    // Blocks this runtime (and so the new replica's fan-out) until x has committed; for 3 s at
    // most (a replica that holds streams back until its fan-out has started needs it).
    let x = match on_commit.recv_timeout(Duration::from_secs(3)) {
        Ok(x) => x,
        Err(_) => tokio::task::spawn_blocking(move || on_commit.recv().unwrap())
            .await
            .unwrap(),
    };
    let y = task_id(&app, project, "y").await;
    let seen = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    assert_eq!(seen, [x, y], "the stream skipped x");
}

#[tokio::test]
async fn a_deleted_projects_stream_resumes_up_to_its_deletion_and_its_cascade() {
    let app = spawn_app().await;
    let project = app.create_project("doomed").await;
    let task = task_id(&app, project, "a").await;
    let path = format!("/projects/{project}/changes");
    let (_, cursor) = app.settled_changes(&path, None).await;
    answer(
        app.delete(&format!("/projects/{project}")),
        StatusCode::NO_CONTENT,
    )
    .await;
    let (deletes, _) = app.settled_changes(&path, Some(&cursor)).await;

    let events = format!("/projects/{project}/events");
    let mut stream = open(&app, &events, Some(&cursor)).await;
    let changes = stream.changes(2, WITHIN).await;
    let expected = [
        ("project.deleted".to_owned(), project),
        ("task.deleted".to_owned(), task),
    ];
    assert_eq!(kinds(&changes), expected);
    assert_eq!(changes, deletes);
    stream.assert_quiet(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_change_this_version_cannot_read_is_passed_over_without_stopping_the_feed() {
    // As during a rolling deploy, when a newer replica's migration logs a type this one does
    // not know: pages and streams skip it and go on.
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let path = format!("/projects/{project}/changes");
    let (_, cursor) = app.settled_changes(&path, None).await;
    let mut stream = open(&app, &format!("/projects/{project}/events"), Some(&cursor)).await;
    let before = task_id(&app, project, "before").await;
    let mut connection = app.pool.acquire().await.unwrap();
    sqlx::query(
        "INSERT INTO changes (project_id, tenant_id, type, resource_id, data)
         SELECT id, tenant_id, 'gadget.created', 1, '{}' FROM projects WHERE id = $1",
    )
    .bind(project)
    .execute(&mut *connection)
    .await
    .unwrap();
    let after = task_id(&app, project, "after").await;
    let expected = [
        ("task.created".to_owned(), before),
        ("task.created".to_owned(), after),
    ];
    assert_eq!(kinds(&stream.changes(2, WITHIN).await), expected);
    let (changes, _) = app.settled_changes(&path, Some(&cursor)).await;
    assert_eq!(kinds(&changes), expected);
    // Paging one by one steps over it too.
    let (first, next) = get_page(&app, &path, &cursor).await;
    assert_eq!(kinds(&first), expected[..1]);
    let (second, next) = get_page(&app, &path, &next).await;
    assert!(
        second.is_empty(),
        "the unreadable change is a page of its own: {second:?}"
    );
    let (third, _) = get_page(&app, &path, &next).await;
    assert_eq!(kinds(&third), expected[1..]);
}

async fn get_page(app: &TestApp, path: &str, after: &str) -> (Vec<Value>, String) {
    let page = get(app, &format!("{path}?limit=1&after={after}")).await;
    (
        page["data"].as_array().unwrap().clone(),
        page["next_cursor"].as_str().unwrap().to_owned(),
    )
}
