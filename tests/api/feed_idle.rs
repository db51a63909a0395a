//! A replica with no stream open costs writers nothing: it does not `LISTEN` (so no commit
//! wakes it) and does not read the log per commit. A stream that opens on it gets every write.

use std::time::Duration;

use crate::events::{WITHIN, open, task_id};
use crate::helpers::{TestApp, serve_settings, spawn_app_with};

/// How many of this database's sessions are listening (their last statement was a `LISTEN`).
async fn listening(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN %'",
    )
    .fetch_one(&mut *app.pool.acquire().await.unwrap())
    .await
    .unwrap()
}

async fn until_listening(app: &TestApp, expected: i64) -> bool {
    let deadline = tokio::time::Instant::now() + WITHIN;
    while tokio::time::Instant::now() < deadline {
        if listening(app).await == expected {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn a_replica_listens_only_while_a_stream_is_open_and_a_stream_opened_on_it_misses_nothing() {
    // A closed stream is noticed at its next write: a heartbeat a second.
    let mut settings = serve_settings();
    settings.events_heartbeat_secs = 1;
    let app = spawn_app_with(settings).await;
    let project = app.create_project("p").await;
    task_id(&app, project, "before any stream").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(listening(&app).await, 0, "no stream: no LISTEN");

    let path = format!("/projects/{project}/events");
    let mut stream = open(&app, &path, None).await;
    assert!(until_listening(&app, 1).await, "a stream opened: LISTEN");
    let id = task_id(&app, project, "live").await;
    let frame = stream.event(WITHIN).await;
    assert_eq!(frame.event.as_deref(), Some("task.created"));
    assert_eq!(frame.change()["resource_id"], id);

    drop(stream);
    assert!(
        until_listening(&app, 0).await,
        "the last stream closed: UNLISTEN"
    );

    // Idle again, then a stream from before the idle writes: it catches up on all of them.
    let after = frame.id.clone().expect("an event id");
    let (first, second) = (
        task_id(&app, project, "idle 1").await,
        task_id(&app, project, "idle 2").await,
    );
    let mut stream = open(&app, &path, Some(&after)).await;
    let ids: Vec<_> = stream
        .changes(2, WITHIN)
        .await
        .iter()
        .map(|change| change["resource_id"].clone())
        .collect();
    assert_eq!(ids, [first, second]);
}
