//! Sequences: concurrent batches on two servers get unique sequences, consecutive within each
//! batch; a sequence held by another event is a 409 naming its pointer.

use std::collections::BTreeSet;

use serde_json::json;

use super::{batch, event_count, run_with_events_path, sequences};
use crate::helpers::{assert_problem, serve_settings, spawn_app};
use crate::runs::{CONFLICT, CREATED, OK, expect};

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
