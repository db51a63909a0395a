//! Contention: creates into one hot milestone from many connections are counted on several
//! stripes, not queued on one row, and still add up.

use reqwest::StatusCode;
use serde_json::json;

use super::scalar;
use crate::helpers::{serve_settings, spawn_app_with};

#[tokio::test]
async fn creates_from_many_connections_spread_over_counter_stripes() {
    let mut settings = serve_settings();
    settings.workers = Some(2);
    settings.database.pool_size = 16;
    let app = spawn_app_with(settings).await;
    let project = app.create_project("p").await;
    let milestone = app.create_milestone(project, "v1").await;
    let creates = (0..16).map(|i| {
        app.create_task(
            project,
            json!({"title": format!("t{i}"), "milestone_id": milestone}),
        )
    });
    for (status, task) in futures_util::future::join_all(creates).await {
        assert_eq!(status, StatusCode::CREATED, "{task}");
    }
    let stripes = scalar(
        &app,
        "SELECT count(DISTINCT stripe) FROM task_counts WHERE milestone_id = $1",
        milestone,
    )
    .await;
    assert!(stripes > 1, "all 16 creates counted on {stripes} stripe");
    let total = scalar(
        &app,
        "SELECT sum(n)::bigint FROM task_counts WHERE milestone_id = $1",
        milestone,
    )
    .await;
    assert_eq!(total, 16);
}
