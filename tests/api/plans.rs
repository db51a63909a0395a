//! Statements that read pages keep their plan: PostgreSQL plans one for a connection once (after
//! five plans made for their calls' values), not again at every call. A page's LIMIT bound as a
//! parameter made every call plan the statement again: half of what a page of tasks cost
//! PostgreSQL (see `storage::MAX_PAGE_ROWS`). Called through storage, on a pool of one
//! connection, whose prepared statements the test then reads.

use std::time::Duration;

use taskdash::pool::Pool;
use taskdash::storage;
use taskdash::storage::changes::Scope;
use taskdash::storage::run_events::EventFilter;
use taskdash::storage::runs::RunFilter;
use taskdash::storage::tasks::{Page, TaskFilter, TaskOrder};

use crate::helpers::{TestApp, spawn_app};

/// Enough rows for a tenth of them (a generic plan's guess at a bound LIMIT) to outweigh a page.
const ROWS: i64 = 5000;

/// Calls made: five with plans for their values, then five that may reuse one plan.
const CALLS: usize = 10;

/// (generic plans, custom plans) made on `pool`'s connection for its prepared statements whose
/// text contains `marker`.
async fn plans(pool: &Pool, marker: &str) -> (i64, i64) {
    sqlx::query_as(
        "SELECT COALESCE(sum(generic_plans), 0)::bigint, COALESCE(sum(custom_plans), 0)::bigint
         FROM pg_prepared_statements WHERE strpos(statement, $1) > 0",
    )
    .bind(marker)
    .fetch_one(&mut *pool.acquire().await.unwrap())
    .await
    .unwrap()
}

/// A project with a run, and [`ROWS`] tasks (each with its change), runs and events of that
/// run, analyzed; (tenant id, project id, run id).
async fn big_project(app: &TestApp) -> (i64, i64, i64) {
    let project = app.create_project("p").await;
    let run = app.create_run(project).await;
    let mut connection = app.pool.acquire().await.unwrap();
    for statement in [
        "INSERT INTO tasks (project_id, title, priority_score)
         SELECT $1, 'task ' || g, g % 1000 FROM generate_series(1, $3) g",
        "INSERT INTO runs (project_id, workflow_type)
         SELECT $1, 'bench' FROM generate_series(2, $3) g",
        "INSERT INTO run_events (project_id, run_id, sequence, event_id, event_type, ts)
         SELECT $1, $2, g, 'e' || g, 'step', now() FROM generate_series(1, $3) g",
    ] {
        sqlx::query(statement)
            .bind(project)
            .bind(run)
            .bind(ROWS)
            .execute(&mut *connection)
            .await
            .unwrap();
    }
    sqlx::query("ANALYZE")
        .execute(&mut *connection)
        .await
        .unwrap();
    let tenant = sqlx::query_scalar("SELECT tenant_id FROM projects WHERE id = $1")
        .bind(project)
        .fetch_one(&mut *connection)
        .await
        .unwrap();
    (tenant, project, run)
}

fn one_connection(app: &TestApp) -> Pool {
    Pool::new(app.database.clone(), 1, Duration::from_secs(5))
}

#[tokio::test]
async fn a_page_of_tasks_is_planned_once_per_connection_not_at_every_call() {
    let app = spawn_app().await;
    let (tenant, project, _) = big_project(&app).await;
    let pool = one_connection(&app);
    let page = Page {
        order: TaskOrder::Queue,
        after: None,
        limit: 100,
    };
    for _ in 0..CALLS {
        let mut tasks = 0;
        storage::tasks::list(&pool, tenant, project, &TaskFilter::default(), page, |_| {
            tasks += 1
        })
        .await
        .unwrap();
        assert_eq!(tasks, 101);
    }
    assert_eq!(plans(&pool, "FROM tasks WHERE project_id").await, (5, 5));
}

#[tokio::test]
async fn a_page_of_changes_is_planned_once_per_connection_not_at_every_call() {
    let app = spawn_app().await;
    let (tenant_id, project_id, _) = big_project(&app).await;
    let pool = one_connection(&app);
    for scope in [
        Scope::All,
        Scope::Project {
            tenant_id,
            project_id,
        },
    ] {
        for _ in 0..CALLS {
            storage::changes::read(&pool, scope, None, 100)
                .await
                .unwrap();
        }
    }
    assert_eq!(plans(&pool, "FROM changes c").await, (10, 10));
}

#[tokio::test]
async fn a_page_of_runs_and_of_a_runs_events_is_planned_once_per_connection() {
    let app = spawn_app().await;
    let (tenant, project, run) = big_project(&app).await;
    let pool = one_connection(&app);
    let (runs_filter, events_filter) = (RunFilter::default(), EventFilter::default());
    for _ in 0..CALLS {
        let runs = storage::runs::list(&pool, tenant, project, &runs_filter, None, 100);
        assert_eq!(runs.await.unwrap().unwrap().0.len(), 101);
        let events = storage::run_events::list(&pool, tenant, project, run, &events_filter, 101);
        assert_eq!(events.await.unwrap().unwrap().len(), 101);
    }
    assert_eq!(plans(&pool, "FROM runs WHERE").await, (5, 5));
    assert_eq!(plans(&pool, "FROM run_events").await, (5, 5));
}
