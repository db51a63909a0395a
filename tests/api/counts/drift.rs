//! Drift: after a random concurrent workload (and a project and milestones deleted under it)
//! the maintained counters equal `count(*)`, nothing is left of what was deleted, and the
//! summary agrees.

use std::sync::Mutex;

use reqwest::StatusCode;
use serde_json::json;

use super::scalar;
use super::workload::{Known, STATUSES, random_operations, send};
use crate::helpers::{TestApp, body, spawn_app};

type Count = (i64, i64, String, i64);

async fn counted(app: &TestApp, sql: &'static str) -> Vec<Count> {
    let mut rows: Vec<Count> = sqlx::query_as(sql)
        .fetch_all(&mut *app.pool.acquire().await.unwrap())
        .await
        .unwrap();
    rows.sort();
    rows
}

#[tokio::test]
async fn maintained_counts_match_count_star_after_a_random_concurrent_workload() {
    let app = spawn_app().await;
    let mut projects = Vec::new();
    for slug in ["kept", "dropped"] {
        let project = app.create_project(slug).await;
        let mut known = Known::default();
        for m in 0..3 {
            let (status, milestone) = send(
                app.post(
                    &format!("/projects/{project}/milestones"),
                    &json!({"name": format!("m{m}"), "slug": format!("m{m}")}),
                ),
                "setup milestone",
                &[StatusCode::CREATED],
            )
            .await;
            assert_eq!(status, StatusCode::CREATED);
            known.milestones.push(milestone["id"].as_i64().unwrap());
        }
        projects.push((project, Mutex::new(known)));
    }
    let deleted_milestones = Mutex::new(Vec::new());

    let workers =
        (0..12).map(|worker| random_operations(&app, worker, &projects, &deleted_milestones));
    futures_util::future::join_all(workers).await;

    let (kept, dropped) = (projects[0].0, projects[1].0);
    assert!(
        app.task_count(kept).await > 0 && app.task_count(dropped).await > 0,
        "the workload created tasks in both projects"
    );
    let deleted_milestones = deleted_milestones.into_inner().unwrap();
    assert!(
        !deleted_milestones.is_empty(),
        "the workload deleted milestones"
    );
    send(
        app.delete(&format!("/projects/{dropped}")),
        "delete project",
        &[StatusCode::NO_CONTENT],
    )
    .await;

    let maintained = counted(
        &app,
        "SELECT project_id, milestone_id, status, sum(n)::bigint FROM task_counts
         GROUP BY 1, 2, 3 HAVING sum(n) <> 0",
    )
    .await;
    let actual = counted(
        &app,
        "SELECT project_id, COALESCE(milestone_id, 0), status, count(*) FROM tasks
         GROUP BY 1, 2, 3",
    )
    .await;
    assert!(!actual.is_empty());
    assert_eq!(maintained, actual);

    let left = |sql| scalar(&app, sql, dropped);
    assert_eq!(
        left("SELECT count(*) FROM task_counts WHERE project_id = $1").await,
        0
    );
    assert_eq!(
        left("SELECT count(*) FROM project_versions WHERE project_id = $1").await,
        0
    );
    for (project, milestone) in deleted_milestones {
        let rows: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM task_counts WHERE project_id = $1 AND milestone_id = $2",
        )
        .bind(project)
        .bind(milestone)
        .fetch_one(&mut *app.pool.acquire().await.unwrap())
        .await
        .unwrap();
        assert_eq!(rows, 0, "counters of deleted milestone {milestone}");
    }
    let orphans = scalar(
        &app,
        "SELECT count(*) FROM task_counts c WHERE c.milestone_id <> $1 AND NOT EXISTS (
             SELECT 1 FROM milestones m WHERE m.project_id = c.project_id AND m.id = c.milestone_id)",
        0,
    )
    .await;
    assert_eq!(orphans, 0, "counters of milestones that no longer exist");

    // The summary of the surviving project agrees with count(*).
    let summary = body(
        app.get(&format!("/projects/{kept}/summary"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let by_status = |rows: &[Count], milestone: Option<i64>| {
        let mut counts = json!({});
        for status in STATUSES {
            let n: i64 = rows
                .iter()
                .filter(|(p, m, s, _)| {
                    *p == kept && s == status && milestone.is_none_or(|milestone| *m == milestone)
                })
                .map(|row| row.3)
                .sum();
            counts[status] = json!(n);
        }
        counts
    };
    let expected = by_status(&actual, None);
    assert_eq!(summary["tasks"]["by_status"], expected);
    assert_eq!(summary["tasks"]["total"], app.task_count(kept).await);
    assert_eq!(summary["tasks"]["done"], expected["done"]);
    assert_eq!(summary["blocked"], expected["blocked"]);
    let milestones: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM milestones WHERE project_id = $1 ORDER BY id")
            .bind(kept)
            .fetch_all(&mut *app.pool.acquire().await.unwrap())
            .await
            .unwrap();
    let summarised = summary["milestones"].as_array().unwrap();
    assert_eq!(
        summarised
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        milestones
    );
    for milestone in summarised {
        let id = milestone["id"].as_i64().unwrap();
        assert_eq!(milestone["by_status"], by_status(&actual, Some(id)), "{id}");
    }
}
