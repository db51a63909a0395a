//! The timeline: events arriving out of order are listed by sequence, page by page and
//! filtered; an assigned sequence comes after the highest; the end of the timeline is answered
//! 304 until an event arrives.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{run_with_events_path, sequences};
use crate::helpers::spawn_app;
use crate::runs::{BAD, CREATED, OK, exchange, expect, refused, send};

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
