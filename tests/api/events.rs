//! The live feed as Server-Sent Events: format, liveness, resuming, replicas, commit order,
//! expiry, the stream cap and CORS.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use taskdash::startup::Application;

use crate::helpers::{
    EventStream, HORIZON, Next, TestApp, assert_problem, body, kinds, pointers, serve_settings,
    spawn_app, spawn_app_with,
};

pub const WITHIN: Duration = Duration::from_secs(5);

pub async fn task_id(app: &TestApp, project: i64, title: &str) -> i64 {
    let (status, task) = app.create_task(project, json!({ "title": title })).await;
    assert_eq!(status, StatusCode::CREATED);
    task["id"].as_i64().unwrap()
}

/// Opens a stream with the app's key; its first frame is `retry:`, alone.
pub async fn open(app: &TestApp, path: &str, last_event_id: Option<&str>) -> EventStream {
    let mut request = app.get(path);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let mut stream = EventStream::open(request).await;
    match stream.next(WITHIN).await {
        Next::Frame(frame) => {
            assert_eq!(frame.retry.as_deref(), Some("1000"), "{frame:?}");
            assert!(frame.event.is_none() && frame.data.is_none(), "{frame:?}");
        }
        other => panic!("no retry frame: {other:?}"),
    }
    stream
}

#[tokio::test]
async fn a_write_arrives_on_the_stream_within_a_second_with_its_cursor_type_and_change() {
    let _shared = HORIZON.read().await;
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    app.settle().await;
    let mut stream = open(&app, &format!("/projects/{project}/events"), None).await;

    let started = Instant::now();
    let task = task_id(&app, project, "live").await;
    // A transaction of a parallel test (the cluster is shared) may hold the feed back; the
    // fan-out then finds the change at its next poll, a second later.
    let bound = match app.settled_now().await {
        true => Duration::from_secs(1),
        false => Duration::from_millis(2500),
    };
    let frame = stream.event(WITHIN).await;
    let latency = started.elapsed();
    let change = frame.change();
    assert_eq!(frame.event.as_deref(), Some("task.created"));
    assert_eq!(change["resource_id"], task);
    assert_eq!(change["project_id"], project);
    let path = format!("/projects/{project}/tasks/{task}");
    let task_now = body(app.get(&path).send().await.unwrap()).await;
    assert_eq!(change["data"], task_now);
    // The same change as the log pages it.
    let (logged, _) = app.settled_changes("/changes", None).await;
    assert_eq!(logged.last().unwrap(), &change);
    assert!(latency < bound, "{latency:?}");

    app.patch(&path, &json!({"status": "done"}))
        .send()
        .await
        .unwrap();
    app.delete(&path).send().await.unwrap();
    let changes = stream.changes(2, WITHIN).await;
    let expected = [
        ("task.updated".to_owned(), task),
        ("task.deleted".to_owned(), task),
    ];
    assert_eq!(kinds(&changes), expected);
    assert_eq!(changes[0]["data"]["version"], 2);
    assert_eq!(changes[1]["data"], Value::Null);
}

#[tokio::test]
async fn an_idle_stream_gets_a_keep_alive_comment_every_heartbeat() {
    let mut settings = serve_settings();
    settings.events_heartbeat_secs = 1;
    let app = spawn_app_with(settings).await;
    let mut stream = open(&app, "/events", None).await;
    let mut beats = Vec::new();
    while beats.len() < 3 {
        match stream.next(Duration::from_millis(1500)).await {
            Next::Frame(frame) => {
                assert_eq!(frame.comments, ["keep-alive"], "{frame:?}");
                assert!(frame.event.is_none() && frame.data.is_none() && frame.id.is_none());
                beats.push(Instant::now());
            }
            other => panic!("no keep-alive within 1.5 s: {other:?} after {beats:?}"),
        }
    }
    // (The first comes at once; then one per heartbeat.)
    for gap in [beats[2] - beats[1], beats[1] - beats[0]] {
        assert!(gap > Duration::from_millis(800), "{gap:?}");
    }
}

#[tokio::test]
async fn last_event_id_resumes_right_after_that_event_and_wins_over_after() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    for i in 0..4 {
        task_id(&app, project, &format!("t{i}")).await;
    }
    let (all, _) = app.settled_changes("/changes", None).await;
    assert_eq!(all.len(), 5);
    let id = |i: usize| all[i]["id"].as_str().unwrap().to_owned();

    let mut resumed = open(&app, "/events", Some(&id(1))).await;
    assert_eq!(resumed.changes(3, WITHIN).await, all[2..]);
    let mut header_wins = open(&app, &format!("/events?after={}", id(3)), Some(&id(0))).await;
    assert_eq!(header_wins.changes(4, WITHIN).await, all[1..]);
    let path = format!("/projects/{project}/events?after={}", id(2));
    let mut after = open(&app, &path, None).await;
    assert_eq!(after.changes(2, WITHIN).await, all[3..]);

    // Then live, and nothing of the catch-up again.
    let task = task_id(&app, project, "live").await;
    for stream in [&mut resumed, &mut header_wins, &mut after] {
        let live = stream.changes(1, WITHIN).await;
        assert_eq!(kinds(&live), [("task.created".to_owned(), task)]);
        stream.assert_quiet(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn malformed_cursors_and_limits_out_of_range_are_refused_with_their_pointer() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let bad_cursors = [
        "abc",
        "1-",
        "-1",
        "1-2-3",
        "1",
        "1--2",
        "%201-2",
        "99999999999999999999-1",
    ];
    for path in [
        "/changes".to_owned(),
        format!("/projects/{project}/changes"),
    ] {
        for after in bad_cursors {
            let response = app
                .get(&format!("{path}?after={after}"))
                .send()
                .await
                .unwrap();
            let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
            assert_eq!(pointers(&problem), ["/query/after"], "{after:?}");
        }
        for (limit, status) in [
            ("0", 400),
            ("1001", 400),
            ("-1", 400),
            ("1", 200),
            ("1000", 200),
        ] {
            let response = app
                .get(&format!("{path}?limit={limit}"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), status, "{limit}");
            if status == 400 {
                let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
                assert_eq!(pointers(&problem), ["/query/limit"], "{limit}");
            }
        }
    }
    for path in ["/events".to_owned(), format!("/projects/{project}/events")] {
        for bad in bad_cursors {
            if !bad.starts_with('%') {
                let request = app.get(&path).header("last-event-id", bad);
                let problem =
                    assert_problem(request.send().await.unwrap(), StatusCode::BAD_REQUEST);
                assert_eq!(pointers(&problem.await), ["/header/Last-Event-ID"], "{bad}");
            }
            let request = app.get(&format!("{path}?after={bad}"));
            let problem = assert_problem(request.send().await.unwrap(), StatusCode::BAD_REQUEST);
            assert_eq!(pointers(&problem.await), ["/query/after"], "{bad}");
        }
    }
}

#[tokio::test]
async fn without_a_cursor_a_stream_starts_at_now() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    task_id(&app, project, "before").await;
    app.settle().await;
    let mut stream = open(&app, "/events", None).await;
    let after = task_id(&app, project, "after").await;
    let changes = stream.changes(1, WITHIN).await;
    assert_eq!(kinds(&changes), [("task.created".to_owned(), after)]);
    stream.assert_quiet(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_stream_on_one_replica_gets_the_writes_made_through_another() {
    let app = spawn_app().await;
    let other = app.start_server(&serve_settings());
    let project = app.create_project("p").await;
    app.settle().await;
    let mut here = open(&app, "/events", None).await;
    let there_client = reqwest::Client::new();
    let there = there_client
        .get(format!("{other}/events"))
        .bearer_auth(&app.api_key);
    let mut there = EventStream::open(there).await;

    let response = there_client
        .post(format!("{other}/projects/{project}/tasks"))
        .bearer_auth(&app.api_key)
        .json(&json!({"title": "via replica 2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let task = body(response).await["id"].as_i64().unwrap();
    let first = task_id(&app, project, "via replica 1").await;
    let expected = [
        ("task.created".to_owned(), task),
        ("task.created".to_owned(), first),
    ];
    let on_here = here.changes(2, WITHIN).await;
    assert_eq!(kinds(&on_here), expected);
    assert_eq!(there.changes(2, WITHIN).await, on_here);
}

/// Opens streams until one is refused for the cap, after `first` closed: how long that took.
async fn time_to_reopen(app: &TestApp, first: EventStream, limit: Duration) -> Option<Duration> {
    let refused = app.get("/events").send().await.unwrap();
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_problem(refused, StatusCode::SERVICE_UNAVAILABLE).await;
    drop(first);
    let closed = Instant::now();
    while closed.elapsed() < limit {
        let response = app.get("/events").send().await.unwrap();
        if response.status() == StatusCode::OK {
            return Some(closed.elapsed());
        }
        assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[tokio::test]
async fn beyond_max_event_streams_a_stream_is_refused_503_with_retry_after_until_one_closes() {
    let mut settings = serve_settings();
    settings.max_event_streams = 1;
    settings.events_heartbeat_secs = 1;
    let app = spawn_app_with(settings).await;
    let first = open(&app, "/events", None).await;
    let reopened = time_to_reopen(&app, first, Duration::from_secs(5)).await;
    assert!(
        reopened.is_some(),
        "the closed stream's place was not given back"
    );
}

#[tokio::test]
async fn when_the_replica_starts_draining_its_streams_end_and_no_new_one_opens() {
    let app = spawn_app().await;
    let application = Application::build(&serve_settings(), app.database.clone()).unwrap();
    let replica = format!("http://127.0.0.1:{}", application.port());
    let draining = application.draining();
    tokio::spawn(application.run_until_stopped());
    let request = app
        .client
        .get(format!("{replica}/events"))
        .bearer_auth(&app.api_key);
    let mut stream = EventStream::open(request).await;
    stream.assert_quiet(Duration::from_millis(200)).await;

    draining.start();
    // The stream ends at once (its client reconnects elsewhere, with its Last-Event-ID).
    loop {
        match stream.next(Duration::from_secs(2)).await {
            Next::End => break,
            Next::Frame(frame) => assert!(frame.event.is_none(), "{frame:?}"),
            Next::Silence => panic!("the stream did not end within 2 s of the drain"),
        }
    }
    let request = app
        .client
        .get(format!("{replica}/events"))
        .bearer_auth(&app.api_key);
    let refused = request.send().await.unwrap();
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_problem(refused, StatusCode::SERVICE_UNAVAILABLE).await;
}

#[tokio::test]
async fn a_cors_preflight_for_events_allows_the_last_event_id_header() {
    let mut settings = serve_settings();
    let origin = "https://dash.example.com";
    settings.cors_allowed_origins = vec![origin.to_owned()];
    let app = spawn_app_with(settings).await;
    let preflight = |headers: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/events"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", headers)
            .send()
    };
    let response = preflight("last-event-id").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["access-control-allow-origin"], origin);
    let allowed = response.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.split(", ").any(|h| h == "last-event-id"),
        "{allowed}"
    );
    // A header the API does not take is not allowed.
    let response = preflight("x-not-allowed").await.unwrap();
    assert_ne!(response.status(), StatusCode::OK);
}
