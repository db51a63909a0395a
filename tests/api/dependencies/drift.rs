//! Drift: after concurrent creates, status changes and deletes, every `blocked_by` equals a
//! recount and no `depends_on` names a deleted task.

use serde_json::{Value, json};

use super::patch;
use crate::helpers::spawn_app;

/// Creates that depend on tasks, status changes of those tasks and deletes, all at once from
/// many connections: afterwards every `blocked_by` equals a recount, and no `depends_on`
/// names a deleted task.
#[tokio::test]
async fn blocked_by_stays_exact_under_concurrent_creates_status_changes_and_deletes() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let base: Vec<Value> = (0..16)
        .map(|i| json!({"title": format!("base {i}")}))
        .collect();
    let (_, created) = app.bulk(project, json!(base)).await;
    let ids: Vec<i64> = created["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    let mut seed = 7u64;
    let mut next = move |n: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize % n
    };
    let mut writes = Vec::new();
    for i in 0..90 {
        let app = &app;
        let (a, b, op) = (ids[next(16)], ids[next(16)], next(9));
        writes.push(async move {
            let status = match op {
                0..=3 => app
                    .create_task(project, json!({"title": format!("d{i}"), "depends_on": [a, b]}))
                    .await
                    .0,
                4..=6 => patch(app, project, &json!(a), json!({"status": (["done", "open", "archived"][op - 4])}))
                    .await
                    .status(),
                7 => app
                    .bulk(project, json!([{"title": "x", "external_id": format!("x{i}"), "depends_on": [a]},
                                          {"title": "y", "depends_on_external_ids": [format!("x{i}")], "depends_on": [b]}]))
                    .await
                    .0,
                _ => app
                    .delete(&format!("/projects/{project}/tasks/{a}"))
                    .send()
                    .await
                    .unwrap()
                    .status(),
            };
            assert!(!status.is_server_error(), "{status}");
        });
    }
    futures_util::future::join_all(writes).await;
    let drift: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tasks t
         WHERE t.project_id = $1
           AND (t.blocked_by <> (SELECT count(*) FROM tasks d WHERE d.project_id = t.project_id
                                   AND d.id = ANY(t.depends_on) AND d.status NOT IN ('done', 'archived'))
                OR cardinality(t.depends_on) <> (SELECT count(*) FROM tasks d
                                                 WHERE d.project_id = t.project_id AND d.id = ANY(t.depends_on)))",
    )
    .bind(project)
    .fetch_one(&mut *app.pool.acquire().await.unwrap())
    .await
    .unwrap();
    assert_eq!(drift, 0);
}
