//! Listing a project's tasks: filters, the work-queue order and keyset pages.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use sqlx::{Postgres, QueryBuilder, Row};

use super::{PageReader, task_columns};
use crate::domain::{ExternalId, Label, TaskStatus, TaskView, WorkerId};
use crate::pool::{Connection, Pool};
use crate::storage::{DATA_VERSION, MAX_PAGE_ROWS};
use conditions::{push_after, push_conditions, push_keyed, push_narrow};

mod conditions;

/// List orders. The default is the work queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskOrder {
    Queue,
    CreatedAt { descending: bool },
    UpdatedAt { descending: bool },
}

#[derive(Clone, Debug, Default)]
pub struct TaskFilter {
    pub statuses: Vec<TaskStatus>,
    pub milestone_id: Option<i64>,
    pub parent_task_id: Option<i64>,
    pub run_id: Option<i64>,
    pub label: Option<Label>,
    pub external_id: Option<ExternalId>,
    pub external_id_prefix: Option<ExternalId>,
    pub priority_min: Option<i32>,
    pub priority_max: Option<i32>,
    pub claimed_by: Option<WorkerId>,
    /// `true`: tasks a claim of open tasks would take (open, unclaimed, every dependency
    /// finished); `false`: all others.
    pub claimable: Option<bool>,
}

/// Keyset position after which a page starts: the sort keys of the last row served.
#[derive(Clone, Copy, Debug)]
pub enum After {
    Queue {
        priority: i32,
        created_at: DateTime<Utc>,
        id: i64,
    },
    Time {
        at: DateTime<Utc>,
        id: i64,
    },
}

/// Which page of the order: the `limit` tasks after `after` in `order`.
#[derive(Clone, Copy, Debug)]
pub struct Page {
    pub order: TaskOrder,
    pub after: Option<After>,
    pub limit: i64,
}

/// Up to this many matches of a narrow filter are fetched through the filter's own index and
/// sorted; beyond it, matches are common enough for the ordered index scan to meet a page soon.
const FEW_MATCHES: i64 = 1000;

/// A label or prefix filter first looks for its page among this many index entries in page
/// order (an index-only scan, ~3 ms): that finds the page when at least 1 % of them match.
const WALK_FIRST: i64 = 10_000;

/// How a statement finds out whether a filter matches few tasks.
enum Narrow {
    /// No narrow filter: the order's index serves the filters (status leads, or status and
    /// milestone_id are checked inside the order's index).
    No,
    /// Only milestone (and status) filters: the maintained counters say exactly how many match.
    Counted,
    /// A label, parent, run, external_id or prefix filter: matches are counted through the
    /// filter's index, up to [`FEW_MATCHES`] + 1. With `walk_first` (label and prefix filters
    /// only, which the order indexes carry) the first [`WALK_FIRST`] entries in page order are
    /// tried before.
    Probed { walk_first: bool },
}

impl Narrow {
    fn of(filter: &TaskFilter) -> Self {
        if filter.parent_task_id.is_some()
            || filter.run_id.is_some()
            || filter.external_id.is_some()
            || filter.claimed_by.is_some()
        {
            Narrow::Probed { walk_first: false }
        } else if filter.label.is_some() || filter.external_id_prefix.is_some() {
            Narrow::Probed { walk_first: true }
        } else if filter.milestone_id.is_some() {
            Narrow::Counted
        } else {
            Narrow::No
        }
    }
}

/// One page of a project's tasks (`limit + 1` rows, to tell whether another page follows), each
/// handed to `each` as soon as its row arrives (so that the caller writes the answer while
/// PostgreSQL still sends the rest). Returns the project's data version, read in the same
/// statement (so the page's `ETag` is exact), or `None` when the tenant has no such project.
///
/// Built with a `QueryBuilder` rather than one static statement with `($n IS NULL OR …)`
/// filters: a static statement gets one generic plan for every combination of filters, which
/// cannot use the index that fits the filters present; a statement holding only the present
/// filters is planned for them.
///
/// Narrow filters are where a planner's estimate goes wrong: a label no task carries is
/// estimated at thousands of rows, so the page order's index is walked in the hope of meeting
/// them, through the whole project. So a narrow filter's statement has up to three branches,
/// each behind a one-time filter, and runs the first that fits:
/// 1. `walk_first`: the page among the first [`WALK_FIRST`] entries of the order's index;
/// 2. at most [`FEW_MATCHES`] matches (see [`Narrow`]): fetched through the filter's index and
///    sorted (a subquery behind `OFFSET 0` is planned without the page order);
/// 3. otherwise the walk of the order's index, to the end of the page.
///
/// Walks yield ids from an index-only scan (the order indexes include `labels` and
/// `external_id`), then read only the page's rows.
#[tracing::instrument(skip(pool, filter, each))]
pub async fn list(
    pool: &Pool,
    tenant_id: i64,
    project_id: i64,
    filter: &TaskFilter,
    page: Page,
    mut each: impl FnMut(TaskView<'_>),
) -> sqlx::Result<Option<i64>> {
    let narrow = Narrow::of(filter);
    let page_of = |streamed| statement(tenant_id, project_id, filter, page, &narrow, streamed);
    // A narrow filter's statement is planned for its values every time (not kept prepared): a
    // prepared statement switches to one generic plan after a few runs, and a plan made for a
    // label common in one big project would then walk that label's entries for every project.
    let persistent = matches!(narrow, Narrow::No);
    let mut connection = pool.acquire().await?;
    let version = read(&mut connection, page_of(true), persistent, &mut each).await?;
    if version.is_some() || !matches!(narrow, Narrow::No) {
        return Ok(version);
    }
    // No row: no project, or an empty page. The joined statement tells which, with the version
    // read in the page's own snapshot (read apart, it could be newer than the empty page it
    // would tag, and a later poll would be answered 304 over tasks the client never saw).
    read(&mut connection, page_of(false), persistent, &mut each).await
}

/// Runs a page's statement, handing each task to `each`; the project's version, `None` when
/// no row came.
async fn read(
    connection: &mut Connection,
    mut query: QueryBuilder<Postgres>,
    persistent: bool,
    each: &mut impl FnMut(TaskView<'_>),
) -> sqlx::Result<Option<i64>> {
    let mut rows = query.build().persistent(persistent).fetch(&mut *connection);
    let (mut version, mut reader) = (None, PageReader::default());
    while let Some(row) = rows.try_next().await? {
        if version.is_none() {
            version = row.try_get(0)?;
        }
        if let Some(task) = reader.read(&row, 1)? {
            each(task);
        }
    }
    Ok(version)
}

/// The statement of a page and its project's version. Without narrow filters, `streamed`: each
/// row carries the version, and rows leave PostgreSQL as the order's index yields them, so the
/// server decodes while PostgreSQL still reads; no row for an empty page; and the plan is kept
/// (see `MAX_PAGE_ROWS`). Otherwise the page is joined to the version: one row of NULL task
/// columns for an empty page, none without the project (the join's order is not the page's, so
/// PostgreSQL sorts the page whole first).
fn statement(
    tenant_id: i64,
    project_id: i64,
    filter: &TaskFilter,
    Page {
        order,
        after,
        limit,
    }: Page,
    narrow: &Narrow,
    streamed: bool,
) -> QueryBuilder<Postgres> {
    let order_by = match order {
        TaskOrder::Queue => " ORDER BY priority_score DESC, created_at ASC, id ASC",
        TaskOrder::CreatedAt { descending: false } => " ORDER BY created_at ASC, id ASC",
        TaskOrder::CreatedAt { descending: true } => " ORDER BY created_at DESC, id DESC",
        TaskOrder::UpdatedAt { descending: false } => " ORDER BY updated_at ASC, id ASC",
        TaskOrder::UpdatedAt { descending: true } => " ORDER BY updated_at DESC, id DESC",
    };
    let page = limit + 1;
    let mut query: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "WITH v AS MATERIALIZED (SELECT {DATA_VERSION} AS version FROM projects WHERE id = "
    ));
    query
        .push_bind(project_id)
        .push(" AND tenant_id = ")
        .push_bind(tenant_id)
        .push(")");
    if let Narrow::Probed { walk_first: true } = narrow {
        // The inner LIMIT bounds the entries walked; the narrow filter applies after it.
        query.push(concat!(
            ", walked AS MATERIALIZED (SELECT id FROM (SELECT id, labels, external_id",
            " FROM tasks WHERE project_id = "
        ));
        query.push_bind(project_id);
        push_keyed(&mut query, filter);
        push_after(&mut query, order, after);
        query.push(order_by).push(" LIMIT ").push_bind(WALK_FIRST);
        query.push(") s WHERE true");
        push_narrow(&mut query, filter);
        query.push(" LIMIT ").push_bind(page).push(")");
    }
    if matches!(narrow, Narrow::No) {
        // The page alone with the version in each row (streamed), or joined to it.
        query.push(if streamed {
            " SELECT (SELECT version FROM v) AS version, t.* FROM ("
        } else {
            " SELECT v.version, t.* FROM v LEFT JOIN LATERAL ("
        });
        query
            .push(concat!(
                "SELECT ",
                task_columns!(),
                " FROM tasks WHERE project_id = "
            ))
            .push_bind(project_id);
        if streamed {
            query.push(" AND EXISTS (SELECT FROM v)");
        }
        push_conditions(&mut query, filter, order, after);
        if streamed {
            // Bounded by a constant inside, by the page outside: see `MAX_PAGE_ROWS`.
            query
                .push(order_by)
                .push(format_args!(" LIMIT {MAX_PAGE_ROWS}) t"))
                .push(order_by)
                .push(" LIMIT ")
                .push_bind(page);
        } else {
            query.push(order_by).push(" LIMIT ").push_bind(page);
            query.push(") t ON true").push(order_by);
        }
        return query;
    }
    push_way(&mut query, narrow, project_id, filter, order, after, page);
    query.push(" SELECT v.version, t.* FROM v LEFT JOIN LATERAL (");
    // 1: the page found by the first walk.
    if let Narrow::Probed { walk_first: true } = narrow {
        query
            .push(concat!(
                "(SELECT ",
                task_columns!(),
                " FROM tasks WHERE project_id = "
            ))
            .push_bind(project_id)
            .push(" AND (SELECT n FROM way) = 1")
            .push(" AND id = ANY(ARRAY(SELECT id FROM walked))) UNION ALL ");
    }
    // 2: few matches, fetched through the filter's index and sorted.
    query
        .push(concat!(
            "(SELECT * FROM (SELECT ",
            task_columns!(),
            " FROM tasks WHERE project_id = "
        ))
        .push_bind(project_id);
    push_conditions(&mut query, filter, order, after);
    query
        .push(" OFFSET 0) f WHERE (SELECT n FROM way) = 2")
        .push(order_by)
        .push(" LIMIT ")
        .push_bind(page);
    // 3: the walk: ids in page order from the order's index, then their rows.
    query
        .push(concat!(
            ") UNION ALL (SELECT ",
            task_columns!(),
            " FROM tasks WHERE project_id = "
        ))
        .push_bind(project_id)
        .push(" AND id = ANY(ARRAY(SELECT id FROM tasks WHERE project_id = ")
        .push_bind(project_id);
    push_conditions(&mut query, filter, order, after);
    query
        .push(" AND (SELECT n FROM way) = 3")
        .push(order_by)
        .push(" LIMIT ")
        .push_bind(page)
        .push(")))");
    query.push(") t ON true").push(order_by);
    query
}

/// The `way` CTE: which branch of a narrow filter's statement runs (see [`list`]). One `CASE`,
/// so that each way is only looked into when the ones before it failed.
fn push_way(
    query: &mut QueryBuilder<Postgres>,
    narrow: &Narrow,
    project_id: i64,
    filter: &TaskFilter,
    order: TaskOrder,
    after: Option<After>,
    page: i64,
) {
    query.push(", way AS MATERIALIZED (SELECT CASE");
    if let Narrow::Probed { walk_first: true } = narrow {
        query
            .push(" WHEN (SELECT count(*) FROM walked) = ")
            .push_bind(page)
            .push(" THEN 1");
    }
    match narrow {
        Narrow::Counted => {
            query
                .push(" WHEN (SELECT COALESCE(sum(n), 0) FROM task_counts WHERE project_id = ")
                .push_bind(project_id)
                .push(" AND milestone_id = ")
                .push_bind(filter.milestone_id);
            if !filter.statuses.is_empty() {
                query
                    .push(" AND status = ANY(")
                    .push_bind(filter.statuses.clone())
                    .push(")");
            }
        }
        _ => {
            // Counted through the narrow filter's own index only: with the other filters, the
            // planner may prefer walking an order index, which carries labels and external_id.
            query
                .push(" WHEN (SELECT count(*) FROM (SELECT 1 FROM tasks WHERE project_id = ")
                .push_bind(project_id);
            push_narrow(query, filter);
            push_after(query, order, after);
            query.push(" LIMIT ").push_bind(FEW_MATCHES + 1).push(") m");
        }
    }
    query
        .push(") <= ")
        .push_bind(FEW_MATCHES)
        .push(" THEN 2 ELSE 3 END AS n)");
}
