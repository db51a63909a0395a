//! The summary counts runs by status and follows every run write (a replay counts nothing).

use serde_json::json;

use super::{GONE, OK, create_run, exchange, expect, run_with};
use crate::helpers::spawn_app;

#[tokio::test]
async fn the_summary_counts_runs_by_status_and_follows_every_run_write() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let summary = format!("/projects/{project}/summary");
    let counts = |running: i64, completed: i64, failed: i64, cancelled: i64| {
        let by_status = json!({"running": running, "completed": completed, "failed": failed,
                               "cancelled": cancelled});
        let total = running + completed + failed + cancelled;
        json!({"total": total, "by_status": by_status})
    };
    let (_, headers, before) = exchange(app.get(&summary)).await;
    assert_eq!(before["runs"], counts(0, 0, 0, 0));
    let mut paths = Vec::new();
    for status in ["running", "running", "running", "failed"] {
        let input = run_with("status", json!(status));
        let (_, run) = create_run(&app, project, input).await;
        paths.push(format!("/projects/{project}/runs/{}", run["id"]));
    }
    // A replayed create counts nothing.
    for _ in 0..2 {
        create_run(&app, project, run_with("external_id", json!("k"))).await;
    }
    let patches = [
        json!({"status": "completed"}),
        json!({"metadata": {"x": 1}}),
        json!({"status": "cancelled"}),
    ];
    for (path, patch) in paths.iter().zip(patches) {
        expect(app.patch(path, &patch), OK).await;
    }
    expect(app.delete(&paths[3]), GONE).await;

    // Run writes change the summary's tag.
    let etag = headers["etag"].clone();
    let after = expect(app.get(&summary).header("if-none-match", etag), OK).await;
    assert_eq!(after["runs"], counts(2, 1, 0, 1));
    let sql = "SELECT status, count(*) FROM runs WHERE project_id = $1 GROUP BY 1 ORDER BY 1";
    let mut connection = app.pool.acquire().await.unwrap();
    let query = sqlx::query_as(sql).bind(project);
    let by_status: Vec<(String, i64)> = query.fetch_all(&mut *connection).await.unwrap();
    let expected = [("cancelled", 1), ("completed", 1), ("running", 2)];
    assert_eq!(by_status, expected.map(|(s, n)| (s.to_owned(), n)));
}
