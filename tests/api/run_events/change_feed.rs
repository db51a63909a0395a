//! The change feed gets run created, updated and deleted, and one `run_event.created` per event
//! written (replays append nothing), each with the resource as its GET returns it.

use serde_json::{Value, json};

use super::batch;
use crate::helpers::{HORIZON, kinds, spawn_app};
use crate::runs::{CREATED, GONE, OK, create_run, expect};

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
