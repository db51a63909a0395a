//! The change log (written by triggers, see `migrations/*_changes.sql`): reading it in position
//! order below the horizon of running transactions, and pruning it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::domain::{Change, ChangeData, ChangeType, Position};
use crate::pool::Pool;
use crate::storage::MAX_PAGE_ROWS;

/// Whose changes a read returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every change: a replica's one read per wake-up, for all its subscribers.
    All,
    /// A tenant's changes, of all its projects.
    Tenant(i64),
    /// One project's changes (also after the project's deletion, while they are kept).
    Project { tenant_id: i64, project_id: i64 },
}

impl Scope {
    pub fn covers(self, tenant_id: i64, project_id: i64) -> bool {
        match self {
            Scope::All => true,
            Scope::Tenant(tenant) => tenant == tenant_id,
            Scope::Project {
                tenant_id: tenant,
                project_id: project,
            } => tenant == tenant_id && project == project_id,
        }
    }
}

/// A change with its tenant (which clients never see: it scopes the fan-out).
#[derive(Clone, Debug)]
pub struct Logged {
    pub tenant_id: i64,
    pub change: Change,
}

/// What a read of the log found.
#[derive(Debug)]
pub enum Read {
    /// The changes after the cursor (at most the limit), and the cursor to read on from: after
    /// a short page, the horizon itself, so that a quiet reader's cursor keeps up. `full`: the
    /// limit was reached, so more may follow right away.
    Page {
        changes: Vec<Logged>,
        next: Position,
        full: bool,
    },
    /// The cursor is older than the pruned part of the log: the reader may have missed changes.
    /// `head` is where to follow from after reloading.
    Expired { head: Position },
    /// The tenant has no such project, and no change of one is kept.
    NoProject,
}

/// The changes after `after` (`None`: from the oldest kept) that every reader may see: those of
/// transactions older than the oldest running one, in position order.
#[tracing::instrument(skip(pool))]
pub async fn read(
    pool: &Pool,
    scope: Scope,
    after: Option<Position>,
    limit: i64,
) -> sqlx::Result<Read> {
    let (condition, found) = match scope {
        Scope::All => ("true", "true"),
        Scope::Tenant(_) => ("c.tenant_id = $3", "true"),
        Scope::Project { .. } => (
            "c.tenant_id = $3 AND c.project_id = $4",
            "EXISTS (SELECT 1 FROM projects WHERE id = $4 AND tenant_id = $3) \
             OR EXISTS (SELECT 1 FROM changes WHERE project_id = $4 AND tenant_id = $3)",
        ),
    };
    let (tenant_id, project_id) = match scope {
        Scope::All => (0, 0),
        Scope::Tenant(tenant_id) => (tenant_id, 0),
        Scope::Project {
            tenant_id,
            project_id,
        } => (tenant_id, project_id),
    };
    // xid8 has no cast from bigint; through text it has.
    let sql = format!(
        "WITH cur AS MATERIALIZED (
             SELECT COALESCE($1::bigint::text::xid8, p.xid) AS xid,
                    CASE WHEN $1::bigint IS NULL THEN p.seq ELSE $2::bigint END AS seq,
                    ($1::bigint::text::xid8, $2::bigint) < (p.xid, p.seq) AS expired,
                    pg_snapshot_xmin(pg_current_snapshot()) AS horizon,
                    {found} AS found
             FROM changes_pruned p LIMIT 1)
         SELECT cur.expired IS TRUE, cur.found, cur.horizon::text::bigint,
                c.xid::text::bigint, c.seq, c.tenant_id, c.project_id, c.type, c.resource_id, c.at,
                c.data::text
         FROM cur LEFT JOIN LATERAL (
             SELECT * FROM (
                 SELECT * FROM changes c
                 WHERE {condition} AND (c.xid, c.seq) > (cur.xid, cur.seq) AND c.xid < cur.horizon
                   AND cur.expired IS NOT TRUE AND cur.found
                 ORDER BY c.xid, c.seq LIMIT {MAX_PAGE_ROWS}) c
             ORDER BY c.xid, c.seq LIMIT $5) c ON true
         ORDER BY c.xid, c.seq"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(after.map(|c| c.xid))
        .bind(after.map_or(0, |c| c.seq))
        .bind(tenant_id)
        .bind(project_id)
        .bind(limit)
        .fetch_all(&mut *pool.acquire().await?)
        .await?;
    let first = rows.first().ok_or_else(|| sqlx::Error::RowNotFound)?;
    let head = Position {
        xid: first.try_get(2)?,
        seq: 0,
    };
    if first.try_get::<bool, _>(0)? {
        return Ok(Read::Expired { head });
    }
    if !first.try_get::<bool, _>(1)? {
        return Ok(Read::NoProject);
    }
    let mut changes = Vec::with_capacity(rows.len());
    let mut last_read = None;
    for row in &rows {
        let Some(xid) = row.try_get::<Option<i64>, _>(3)? else {
            continue;
        };
        last_read = Some(Position {
            xid,
            seq: row.try_get(4)?,
        });
        match logged(row) {
            Ok(logged) => changes.push(logged),
            // A change this version cannot read (a type a newer replica's migration added,
            // during a rolling deploy) is passed over, not allowed to stop the feed for all.
            Err(error) => {
                metrics::counter!("changes_unreadable_total").increment(1);
                tracing::warn!(%error, position = ?last_read, "change feed: skipping a change this version cannot read");
            }
        }
    }
    let full = rows.len() as i64 == limit;
    let next = match last_read {
        Some(last) if full => last,
        // A short page: every change below the horizon was read.
        _ => head.max(after.unwrap_or_default()),
    };
    Ok(Read::Page {
        changes,
        next,
        full,
    })
}

fn logged(row: &PgRow) -> sqlx::Result<Logged> {
    let decode = |error: Box<dyn std::error::Error + Send + Sync>| sqlx::Error::Decode(error);
    let kind: ChangeType = row
        .try_get::<&str, _>(7)?
        .parse()
        .map_err(|e: strum::ParseError| decode(e.into()))?;
    let data = row
        .try_get::<Option<&str>, _>(10)?
        .map(|json| ChangeData::from_row_json(kind, json))
        .transpose()
        .map_err(|e| decode(e.into()))?;
    Ok(Logged {
        tenant_id: row.try_get(5)?,
        change: Change {
            id: Position {
                xid: row.try_get(3)?,
                seq: row.try_get(4)?,
            },
            kind,
            project_id: row.try_get(6)?,
            resource_id: row.try_get(8)?,
            at: row.try_get::<DateTime<Utc>, _>(9)?,
            data,
        },
    })
}

/// Whether the tenant has this project, or had it and its changes are still kept (a deleted
/// project's stream can still be resumed up to its `project.deleted`).
pub async fn project_known(pool: &Pool, tenant_id: i64, project_id: i64) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1 AND tenant_id = $2)
             OR EXISTS (SELECT 1 FROM changes WHERE project_id = $1 AND tenant_id = $2)",
    )
    .bind(project_id)
    .bind(tenant_id)
    .fetch_one(&mut *pool.acquire().await?)
    .await
}

/// "Now": the position before every change not yet visible to all.
pub async fn head(pool: &Pool) -> sqlx::Result<Position> {
    let xid: i64 =
        sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            .fetch_one(&mut *pool.acquire().await?)
            .await?;
    Ok(Position { xid, seq: 0 })
}

/// Any constant: the advisory lock that lets one replica at a time prune.
const PRUNE_LOCK: i64 = 0x7461_736b_6461_7368;

/// Deletes up to `batch` of the oldest changes written more than `retention` ago, expired
/// stream tokens and up to `batch` expired idempotency keys, unless another replica is pruning. Returns how many changes went (`None`
/// when another replica holds the lock). Only old rows are touched: writers never wait.
#[tracing::instrument(skip(pool))]
pub async fn prune(pool: &Pool, retention: Duration, batch: i64) -> sqlx::Result<Option<u64>> {
    // Candidates are the oldest `batch` by position (time order, but for long transactions):
    // the scan stops there, however large the log.
    let (held, pruned): (bool, i64) = sqlx::query_as(
        "WITH lock AS MATERIALIZED (SELECT pg_try_advisory_xact_lock($1) AS held),
         old AS (SELECT o.project_id, o.xid, o.seq FROM (
                     SELECT project_id, xid, seq, at FROM changes
                     WHERE (SELECT held FROM lock) ORDER BY xid, seq LIMIT $3) o
                 WHERE o.at < now() - make_interval(secs => $2)),
         gone AS (DELETE FROM changes c USING old
                  WHERE (c.project_id, c.xid, c.seq) = (old.project_id, old.xid, old.seq)
                  RETURNING c.xid, c.seq),
         top AS (SELECT xid, seq FROM gone ORDER BY xid DESC, seq DESC LIMIT 1),
         moved AS (UPDATE changes_pruned p SET xid = top.xid, seq = top.seq FROM top
                   WHERE (top.xid, top.seq) > (p.xid, p.seq) RETURNING 1),
         tokens AS (DELETE FROM stream_tokens
                    WHERE (SELECT held FROM lock) AND expires_at < now() RETURNING 1),
         keys AS (DELETE FROM idempotency_keys WHERE (tenant_id, key) IN (
                      SELECT tenant_id, key FROM idempotency_keys
                      WHERE (SELECT held FROM lock) AND expires_at < now()
                      ORDER BY expires_at LIMIT $3)
                  RETURNING 1)
         SELECT (SELECT held FROM lock), (SELECT count(*) FROM gone)",
    )
    .bind(PRUNE_LOCK)
    .bind(retention.as_secs_f64())
    .bind(batch)
    .fetch_one(&mut *pool.acquire().await?)
    .await?;
    Ok(held.then_some(pruned as u64))
}
