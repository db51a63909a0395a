//! The maintained task counters (`task_counts`, kept by triggers on `tasks`) and the project
//! summary read from them.
//!
//! `drift`: after a random concurrent workload (`workload`) every counter equals `count(*)`;
//! `contention`: concurrent creates into one milestone spread over the counter stripes;
//! `summary`: the summary's counts by status and milestone, and who may read it.

mod contention;
mod drift;
mod summary;
mod workload;

use crate::helpers::TestApp;

async fn scalar(app: &TestApp, sql: &'static str, bind: i64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(bind)
        .fetch_one(&mut *app.pool.acquire().await.unwrap())
        .await
        .unwrap()
}
