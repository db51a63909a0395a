//! Invalid events are 400 with a pointer each (every invalid item of a batch named), nothing is
//! written, and a missing run or project is 404.

use serde_json::{Value, json};

use super::{event_count, run_with_events_path};
use crate::helpers::spawn_app;
use crate::runs::{BAD, MISSING, refused};

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
