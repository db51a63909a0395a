//! Run events: idempotent single and batch writes, sequences given or assigned (also under
//! concurrent batches), the timeline in sequence order, validation, deletion with the run, the
//! change feed; and tenancy on every run and event route.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{HORIZON, TestApp, assert_problem, kinds, serve_settings, spawn_app};
use crate::runs::{BAD, CONFLICT, CREATED, GONE, MISSING, OK};
use crate::runs::{create_run, exchange, expect, refused, send};

/// A project with one run: (project id, the run's events path).
async fn run_with_events_path(app: &TestApp) -> (i64, String) {
    let project = app.create_project("p").await;
    let (_, run) = create_run(app, project, json!({"workflow_type": "w"})).await;
    let path = format!("/projects/{project}/runs/{}/events", run["id"]);
    (project, path)
}

/// `n` events without sequence, with event_ids `{prefix}{i}`.
fn batch(prefix: &str, n: usize) -> Value {
    let event = |i| json!({"event_id": format!("{prefix}{i}"), "event_type": "t", "payload": i});
    let events: Vec<Value> = (0..n).map(event).collect();
    json!({ "events": events })
}

fn sequences(events: &Value) -> Vec<i64> {
    let events = events.as_array().unwrap();
    events
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect()
}

async fn event_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM run_events")
        .fetch_one(&mut *app.pool.acquire().await.unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_single_event_is_201_and_its_replay_200_with_the_stored_event_unchanged() {
    let app = spawn_app().await;
    let (_, path) = run_with_events_path(&app).await;
    let event = json!({"event_id": "wf-1:task:7:a2:start", "event_type": "step.started",
                       "step_name": "create_tasks", "status": "ok", "duration_ms": 1500,
                       "ts": "2026-11-28T13:00:00+01:00", "payload": {"attempt": 2}});
    let stored = expect(app.post(&path, &event), CREATED).await;
    assert_eq!(stored["sequence"], 1);
    assert_eq!(stored["ts"], "2026-11-28T12:00:00Z");
    assert_eq!(stored["payload"], json!({"attempt": 2}));
    assert_eq!(stored["duration_ms"], 1500);
    assert_eq!(stored["step_name"], "create_tasks");

    let replay = json!({"event_id": "wf-1:task:7:a2:start", "event_type": "other", "sequence": 9});
    let (status, headers, replayed) = exchange(app.post(&path, &replay)).await;
    assert_eq!(status, OK);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(replayed, stored);
    // Without ts the server's time is used; without payload it is null.
    let next = json!({"event_id": "e2", "event_type": "t"});
    let next = expect(app.post(&path, &next), CREATED).await;
    assert_eq!(
        (&next["sequence"], &next["payload"]),
        (&json!(2), &json!(null))
    );
    assert_eq!(next["ts"], next["created_at"]);
    assert_eq!(event_count(&app).await, 2);
}

#[tokio::test]
async fn a_batch_of_100_events_posted_twice_is_written_once_and_the_second_time_all_skipped() {
    let app = spawn_app().await;
    let (_, path) = run_with_events_path(&app).await;
    let events = batch("wf-1:task:", 100);
    let first = expect(app.post(&path, &events), CREATED).await;
    let summary = json!({"totalRequested": 100, "created": 100, "skipped": 0});
    assert_eq!(first["summary"], summary);
    assert_eq!(sequences(&first["created"]), (1..=100).collect::<Vec<_>>());

    let second = expect(app.post(&path, &events), OK).await;
    let summary = json!({"totalRequested": 100, "created": 0, "skipped": 100});
    assert_eq!(second["summary"], summary);
    assert_eq!(second["created"], json!([]));
    let written = first["created"].as_array().unwrap();
    for (skipped, created) in second["skipped"].as_array().unwrap().iter().zip(written) {
        assert_eq!(skipped["reason"], "duplicate_event_id");
        assert_eq!(skipped["event_id"], created["event_id"]);
        assert_eq!(&skipped["event"], created);
    }
    assert_eq!(event_count(&app).await, 100);

    // Within one request, a repeated event_id is answered with its first occurrence.
    let event = |id: &str, kind: &str| json!({"event_id": id, "event_type": kind});
    let repeated = [event("x", "t"), event("y", "t"), event("x", "t2")];
    let repeated = json!({ "events": repeated });
    let result = expect(app.post(&path, &repeated), CREATED).await;
    assert_eq!(sequences(&result["created"]), [101, 102]);
    assert_eq!(result["skipped"][0]["reason"], "duplicate_in_request");
    assert_eq!(result["skipped"][0]["event"], result["created"][0]);
}

#[tokio::test]
async fn events_arriving_out_of_order_are_listed_by_sequence_page_by_page_with_filters() {
    let app = spawn_app().await;
    let (_, path) = run_with_events_path(&app).await;
    for arrival in [[7, 3, 9], [1, 10, 5], [2, 8, 4], [6, 0, 11]] {
        let events: Vec<Value> = arrival
            .iter()
            .map(|s| {
                let step = if *s < 6 { "early" } else { "late" };
                json!({"event_id": format!("e{s}"), "sequence": s,
                       "event_type": format!("t{}", s % 2), "step_name": step})
            })
            .collect();
        expect(app.post(&path, &json!({ "events": events })), CREATED).await;
    }
    let list = |query: &str| expect(app.get(&format!("{path}?{query}")), OK);
    let all = list("").await;
    assert_eq!(sequences(&all["data"]), (0..=11).collect::<Vec<_>>());
    assert_eq!(all["next_after_sequence"], Value::Null);
    let (mut seen, mut query) = (Vec::new(), "limit=5".to_owned());
    loop {
        let page = list(&query).await;
        seen.extend(sequences(&page["data"]));
        let Some(next) = page["next_after_sequence"].as_i64() else {
            break;
        };
        query = format!("limit=5&after_sequence={next}");
    }
    assert_eq!(seen, (0..=11).collect::<Vec<_>>());
    let odd_late = list("event_type=t1&step_name=late").await;
    assert_eq!(sequences(&odd_late["data"]), [7, 9, 11]);
    // A server-assigned sequence comes after the highest one the run holds.
    let auto = json!({"event_id": "auto", "event_type": "t"});
    let auto = expect(app.post(&path, &auto), CREATED).await;
    assert_eq!(auto["sequence"], 12);

    // Tagged by content: a poller of the timeline's end gets 304 until an event arrives.
    let end = format!("{path}?after_sequence=12");
    let (_, headers, _) = exchange(app.get(&end)).await;
    let etag = headers["etag"].clone();
    let cached = || app.get(&end).header("if-none-match", etag.clone());
    assert_eq!(send(cached()).await.0, StatusCode::NOT_MODIFIED);
    send(app.post(&path, &json!({"event_id": "later", "event_type": "t"}))).await;
    assert_eq!(send(cached()).await.0, OK);
    for (query, pointer) in [
        ("limit=0", "/query/limit"),
        ("after_sequence=-1", "/query/after_sequence"),
        ("step_name=%20", "/query/step_name"),
    ] {
        let request = app.get(&format!("{path}?{query}"));
        assert_eq!(refused(request, BAD).await, [pointer], "{query}");
    }
}

#[tokio::test]
async fn concurrent_batches_on_two_servers_get_unique_sequences_consecutive_within_each_batch() {
    let app = spawn_app().await;
    let replica = app.start_server(&serve_settings());
    let (_, path) = run_with_events_path(&app).await;
    let (batches, size) = (12, 40);
    let requests = (0..batches).map(|b| {
        let base = if b % 2 == 0 { &app.address } else { &replica };
        let url = format!("{base}{path}");
        let request = app.client.post(url).bearer_auth(&app.api_key);
        expect(request.json(&batch(&format!("b{b}:"), size)), CREATED)
    });
    let mut all = BTreeSet::new();
    for result in futures_util::future::join_all(requests).await {
        let assigned = sequences(&result["created"]);
        let first = assigned[0];
        let consecutive: Vec<i64> = (first..first + size as i64).collect();
        // A batch gets one run of numbers, in request order.
        assert_eq!(assigned, consecutive);
        all.extend(assigned);
    }
    let expected: BTreeSet<i64> = (1..=(batches * size) as i64).collect();
    assert_eq!(all, expected, "unique, and no gaps at all");
}

#[tokio::test]
async fn a_sequence_held_by_another_event_is_a_409_naming_its_pointer_and_nothing_is_written() {
    let app = spawn_app().await;
    let (_, path) = run_with_events_path(&app).await;
    let a = json!({"event_id": "a", "sequence": 5, "event_type": "t"});
    expect(app.post(&path, &a), CREATED).await;
    let event = |id: &str, sequence: Option<i64>| {
        let mut event = json!({"event_id": id, "event_type": "t"});
        event["sequence"] = json!(sequence);
        event
    };
    let taken = [event("c", None), event("d", Some(5))];
    let twice = [event("e", Some(7)), event("e", None), event("f", Some(7))];
    let cases = [
        (event("b", Some(5)), "/sequence"),
        (json!({ "events": taken }), "/events/1/sequence"),
        (json!({ "events": twice }), "/events/2/sequence"),
    ];
    for (payload, pointer) in cases {
        let response = app.post(&path, &payload).send().await.unwrap();
        let problem = assert_problem(response, CONFLICT).await;
        assert_eq!(problem["code"], "conflict");
        assert_eq!(crate::helpers::pointers(&problem), [pointer], "{payload}");
        assert!(problem["detail"].as_str().unwrap().contains(pointer));
    }
    assert_eq!(event_count(&app).await, 1);
    // The event that holds the sequence, sent again, is a replay, not a clash.
    expect(app.post(&path, &a), OK).await;
}

#[tokio::test]
async fn invalid_events_are_400_with_a_pointer_each_and_nothing_is_written() {
    let app = spawn_app().await;
    let (project, path) = run_with_events_path(&app).await;
    let ok = json!({"event_id": "ok", "event_type": "t"});
    let bad = |id: &str, field: &str, value: Value| {
        let mut event = json!({"event_id": id, "event_type": "t"});
        event[field] = value;
        event
    };
    let batch = json!({"events": [
        ok, bad("has space", "step_name", json!("s")), bad("s", "sequence", json!(-1)),
        bad("m", "sequence", json!(1_i64 << 53)), bad("d", "duration_ms", json!(-1)),
        bad("ts", "ts", json!("noon")), bad("p", "payload", json!("x".repeat(64 * 1024))),
        bad("n", "payload", json!(["\u{0}"])), bad("st", "step_name", json!("")),
        bad("et", "event_type", json!(" "))]});
    let every_invalid_item = [
        "/events/1/event_id",
        "/events/2/sequence",
        "/events/3/sequence",
        "/events/4/duration_ms",
        "/events/5/ts",
        "/events/6/payload",
        "/events/7/payload",
        "/events/8/step_name",
        "/events/9/event_type",
    ]
    .to_vec();
    let cases = [
        (json!({}), vec!["/event_id", "/event_type"]),
        (bad("x", "sequence", json!(1.5)), vec!["/sequence"]),
        (json!({"events": []}), vec!["/events"]),
        (json!({ "events": vec![ok.clone(); 1001] }), vec!["/events"]),
        (
            json!({"events": [ok, {"event_id": 7}]}),
            vec!["/events/1/event_id"],
        ),
        (batch, every_invalid_item),
    ];
    for (payload, expected) in cases {
        assert_eq!(refused(app.post(&path, &payload), BAD).await, expected);
    }
    assert_eq!(event_count(&app).await, 0);
    let missing = [
        format!("/projects/{project}/runs/424242/events"),
        "/projects/424242/runs/1/events".into(),
    ];
    for missing in missing {
        refused(app.post(&missing, &ok), MISSING).await;
        refused(app.get(&missing), MISSING).await;
    }
}

#[tokio::test]
async fn deleting_a_run_deletes_its_events() {
    let app = spawn_app().await;
    let (project, path) = run_with_events_path(&app).await;
    let (_, other) = create_run(&app, project, json!({"workflow_type": "w"})).await;
    let other_path = format!("/projects/{project}/runs/{}/events", other["id"]);
    expect(app.post(&path, &batch("e", 2)), CREATED).await;
    expect(app.post(&other_path, &batch("e", 2)), CREATED).await;
    let run_path = path.trim_end_matches("/events");
    expect(app.delete(run_path), GONE).await;
    // Only the other run's events are left.
    assert_eq!(event_count(&app).await, 2);
    refused(app.get(&path), MISSING).await;
    let left = expect(app.get(&other_path), OK).await;
    assert_eq!(sequences(&left["data"]), [1, 2]);
}

#[tokio::test]
async fn the_change_feed_gets_run_created_updated_deleted_and_one_run_event_created_per_event() {
    let app = spawn_app().await;
    let _horizon = HORIZON.read().await;
    let project = app.create_project("p").await;
    let changes = format!("/projects/{project}/changes");
    let (_, start) = app.settled_changes(&changes, None).await;
    let keyed = json!({"workflow_type": "w", "external_id": "k"});
    let (_, run) = create_run(&app, project, keyed.clone()).await;
    create_run(&app, project, keyed).await; // a replay appends nothing
    let id = run["id"].as_i64().unwrap();
    let run_path = format!("/projects/{project}/runs/{id}");
    let events = format!("{run_path}/events");
    let written = expect(app.post(&events, &batch("e", 3)), CREATED).await;
    expect(app.post(&events, &batch("e", 3)), OK).await; // nor does this one
    let patch = json!({"status": "completed"});
    let updated = expect(app.patch(&run_path, &patch), OK).await;
    expect(app.delete(&run_path), GONE).await;

    let (logged, _) = app.settled_changes(&changes, Some(&start)).await;
    let event = "run_event.created";
    let types = [
        "run.created",
        event,
        event,
        event,
        "run.updated",
        "run.deleted",
    ];
    let expected: Vec<(String, i64)> = types.map(|kind| (kind.to_owned(), id)).to_vec();
    assert_eq!(kinds(&logged), expected);
    // The data of a change is the resource as its GET returns it.
    assert_eq!(logged[0]["data"], run);
    let events: Vec<Value> = logged[1..4].iter().map(|c| c["data"].clone()).collect();
    assert_eq!(Value::Array(events), written["created"]);
    assert_eq!(logged[4]["data"], updated);
    assert_eq!(logged[5]["data"], Value::Null);
}

#[tokio::test]
async fn another_tenant_gets_404_on_every_run_and_event_route() {
    let app = spawn_app().await;
    let project = app.create_project("mine").await;
    let input = json!({"workflow_type": "w", "external_id": "k"});
    let (_, run) = create_run(&app, project, input).await;
    let run_path = format!("/projects/{project}/runs/{}", run["id"]);
    let events = format!("{run_path}/events");
    let event = json!({"event_id": "e", "event_type": "t"});
    expect(app.post(&events, &event), CREATED).await;
    let intruder = app.new_tenant_key("tenant-b").await;
    let payload = json!({"workflow_type": "w", "external_id": "k", "status": "failed",
                         "event_id": "e", "event_type": "t"});
    let batch = json!({ "events": [payload] });
    let runs = format!("/projects/{project}/runs");
    let routes = [
        (Method::POST, &runs, &payload),
        (Method::GET, &runs, &Value::Null),
        (Method::GET, &run_path, &Value::Null),
        (Method::PATCH, &run_path, &payload),
        (Method::DELETE, &run_path, &Value::Null),
        (Method::POST, &events, &payload),
        (Method::POST, &events, &batch),
        (Method::GET, &events, &Value::Null),
    ];
    for (method, path, payload) in routes {
        let request = app.client.request(method, app.url(path));
        let mut request = request.bearer_auth(&intruder);
        if !payload.is_null() {
            request = request.json(payload);
        }
        refused(request, MISSING).await;
    }
    // Nothing of the owner's was touched.
    assert_eq!(expect(app.get(&run_path), OK).await, run);
    let listed = expect(app.get(&events), OK).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
}
