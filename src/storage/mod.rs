//! All SQL lives here, one module per resource. Every query of tenant data joins or filters on
//! the caller's tenant id, so a row of another tenant is indistinguishable from a missing one.
//! Storage takes validated domain types and plain values (ids, keyset positions) and answers
//! domain types; HTTP encodings (cursors, pointers, status codes) stay in `routes`.

use crate::pool::{Connection, Pool};

pub mod artifacts;
pub mod changes;
pub mod idempotency;
pub mod milestones;
pub mod projects;
pub mod repositories;
pub mod run_events;
pub mod runs;
pub mod stream_tokens;
pub mod summary;
pub mod tasks;
pub mod tenants;

/// A project's data version (see `projects::data_version`) as a column of a query over the
/// unaliased `projects`: the sum of its `project_versions` stripes, 0 before any write.
const DATA_VERSION: &str = "COALESCE((SELECT sum(v.version) FROM project_versions v WHERE v.project_id = projects.id), 0)::bigint";

/// The most rows a page's statement returns: the largest page (`limit` up to 1000) and one
/// more, which tells whether another page follows. A statement that reads pages of a big table
/// takes its rows from a subquery bounded by this constant and applies the page's own (bound)
/// LIMIT outside it. Why: a generic plan estimates a bound LIMIT at a tenth of the rows, so
/// against it the plan made for each call (which knows the limit) always looked far cheaper,
/// and PostgreSQL planned the statement again at every call: half of what a page of tasks cost
/// it. Under a constant bound the generic plan is estimated like the calls' own, and PostgreSQL
/// keeps it after five calls.
pub const MAX_PAGE_ROWS: i64 = 1001;

/// [`MAX_PAGE_ROWS`] as a literal, for statements written with `concat!`.
macro_rules! max_page_rows {
    () => {
        "1001"
    };
}
use max_page_rows;

/// A PATCH's nullable field as two bind parameters: whether to change it, and the new value
/// (`None` clears it) — for `CASE WHEN $set THEN $value ELSE column END`.
fn optional_change<T>(change: &Option<Option<T>>) -> (bool, Option<&T>) {
    match change {
        Some(value) => (true, value.as_ref()),
        None => (false, None),
    }
}

/// Whether the database answers (readiness).
pub async fn ping(pool: &Pool) -> sqlx::Result<()> {
    sqlx::query("SELECT 1")
        .execute(&mut *pool.acquire().await?)
        .await
        .map(drop)
}

/// Whether the tenant owns the project. Used on cold paths only (to tell "empty" from "not
/// yours"); hot paths fold the tenant check into their one statement.
pub async fn project_exists(pool: &Pool, tenant_id: i64, project_id: i64) -> sqlx::Result<bool> {
    project_exists_on(&mut *pool.acquire().await?, tenant_id, project_id).await
}

/// [`project_exists`] on a connection already held (inside a transaction, or to not take a
/// second connection from the pool).
pub async fn project_exists_on(
    connection: &mut Connection,
    tenant_id: i64,
    project_id: i64,
) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1 AND tenant_id = $2)")
        .bind(project_id)
        .bind(tenant_id)
        .fetch_one(&mut *connection)
        .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_bound_literal_is_the_page_bound() {
        assert_eq!(max_page_rows!(), super::MAX_PAGE_ROWS.to_string());
    }
}
