//! Writing events: a single event is 201 and its replay 200 with the stored event; a batch
//! posted twice is written once and skipped the second time, and a repeat within one request
//! is answered with its first occurrence.

use serde_json::json;

use super::{batch, event_count, run_with_events_path, sequences};
use crate::helpers::spawn_app;
use crate::runs::{CREATED, OK, exchange, expect};

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
