//! The connection pool: deadpool holding sqlx `PgConnection`s, one pool per HTTP worker.
//!
//! Why not `sqlx::PgPool`: it pings every connection as it goes back to the pool — one more
//! message exchange with PostgreSQL per query, which on the hot path (one statement per
//! request) cost as much server and database CPU as the query itself. Here a connection goes
//! back as it is; sqlx drains whatever a cancelled query left behind at the start of the next
//! one, and a connection that failed at the connection level is discarded instead of reused.
//!
//! Why one pool per worker: actix runs each worker on its own single-threaded runtime, and a
//! socket is watched by the runtime that opened it. A connection opened on one worker and
//! used on another costs two thread wake-ups per reply instead of one; a per-worker pool
//! keeps every connection on the thread that uses it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{FutureExt, TryFutureExt, TryStreamExt};
use sqlx::postgres::{PgConnectOptions, PgQueryResult, PgRow, PgStatement, PgTypeInfo};
use sqlx::{Connection as _, Describe, Either, Execute, Executor, PgConnection, Postgres, SqlStr};

use crate::configuration::DatabaseSettings;

mod transaction;
pub use transaction::Transaction;

/// Connections are replaced after this long, so that server-side memory (caches of plans and
/// catalog entries) does not grow without bound.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// A connection idle for longer is pinged before use: firewalls, proxies and server-side
/// timeouts close idle connections silently.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(60);

/// A pooled PostgreSQL connection. Use it as an executor: `query.fetch_one(&mut *connection)`.
#[derive(Debug)]
pub struct Connection {
    raw: PgConnection,
    /// Set when a statement failed at the connection level (I/O, protocol): the connection is
    /// discarded rather than handed out again.
    broken: bool,
    /// How many [`Transaction`]s are open on it (beyond the first, each is a savepoint).
    depth: u32,
}

/// A connection borrowed from the pool; it goes back when dropped.
pub type PooledConnection = managed::Object<Connector>;

/// Opens connections for the pool and decides whether a returned one may be reused.
#[derive(Debug)]
pub struct Connector {
    options: PgConnectOptions,
}

impl managed::Manager for Connector {
    type Type = Connection;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<Connection, sqlx::Error> {
        let raw = PgConnection::connect_with(&self.options).await?;
        Ok(Connection {
            raw,
            broken: false,
            depth: 0,
        })
    }

    async fn recycle(
        &self,
        connection: &mut Connection,
        metrics: &Metrics,
    ) -> RecycleResult<sqlx::Error> {
        if connection.broken {
            return Err(RecycleError::message("the connection failed"));
        }
        if metrics.age() > MAX_LIFETIME {
            return Err(RecycleError::message("the connection reached its lifetime"));
        }
        if metrics.last_used() > PING_WHEN_IDLE_FOR {
            connection.raw.ping().await?;
        }
        Ok(())
    }
}

/// A pool of connections: bounded in size and in how long a request waits for one.
#[derive(Clone, Debug)]
pub struct Pool {
    inner: managed::Pool<Connector>,
    acquire_timeout: Duration,
}

impl Pool {
    pub fn new(options: PgConnectOptions, size: usize, acquire_timeout: Duration) -> Self {
        let inner = managed::Pool::builder(Connector { options })
            .max_size(size.max(1))
            // The connection used last is used next: its PostgreSQL backend is warm in the CPU
            // caches, and after a burst the extra connections stay idle instead of taking turns
            // (first-in-first-out cost one agent's claim loop a quarter of its throughput once
            // a burst of 16 had grown the pool).
            .queue_mode(managed::QueueMode::Lifo)
            .build()
            .expect("a pool without timeouts needs no runtime");
        Self {
            inner,
            acquire_timeout,
        }
    }

    /// A connection, opened if none is idle. Waits at most the acquire timeout (then
    /// `PoolTimedOut`, answered 503); the wait is recorded in `db_pool_acquire_seconds`.
    pub async fn acquire(&self) -> sqlx::Result<PooledConnection> {
        let started = Instant::now();
        let connection = tokio::time::timeout(self.acquire_timeout, self.inner.get()).await;
        metrics::histogram!("db_pool_acquire_seconds").record(started.elapsed().as_secs_f64());
        match connection {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(managed::PoolError::Backend(error))) => Err(error),
            Ok(Err(managed::PoolError::Closed)) => Err(sqlx::Error::PoolClosed),
            Ok(Err(_)) | Err(_) => Err(sqlx::Error::PoolTimedOut),
        }
    }

    /// Refuses new acquires and closes idle connections politely (PostgreSQL logs an abrupt
    /// disconnect as an error). Connections in use are dropped when returned.
    pub async fn close(&self) {
        close(&self.inner).await;
    }
}

async fn close(pool: &managed::Pool<Connector>) {
    let idle = pool.retain(|_, _| false).removed;
    pool.close();
    for connection in idle {
        let _ = connection.raw.close().await;
    }
}

/// The pools of one server process: one per HTTP worker, each with an even share of the
/// configured connections (at least one), all visible for metrics and shutdown. Held weakly:
/// a pool lives as long as its worker, so a worker that actix replaces (after a panic) takes
/// its connections with it.
#[derive(Clone, Debug)]
pub struct Pools {
    options: PgConnectOptions,
    per_worker: usize,
    acquire_timeout: Duration,
    created: Arc<Mutex<Vec<managed::WeakPool<Connector>>>>,
}

impl Pools {
    pub fn new(options: PgConnectOptions, settings: &DatabaseSettings, workers: usize) -> Self {
        Self {
            options,
            per_worker: (settings.pool_size as usize / workers.max(1)).max(1),
            acquire_timeout: Duration::from_secs(settings.acquire_timeout_secs),
            created: Arc::default(),
        }
    }

    /// A new pool for the calling worker.
    pub fn for_worker(&self) -> Pool {
        let pool = Pool::new(self.options.clone(), self.per_worker, self.acquire_timeout);
        let mut created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        created.retain(|pool| pool.upgrade().is_some());
        created.push(pool.inner.weak());
        pool
    }

    /// Connections across the live workers: (open, idle, most allowed).
    pub fn usage(&self) -> (usize, usize, usize) {
        self.live()
            .iter()
            .map(managed::Pool::status)
            .fold((0, 0, 0), |(open, idle, max), s| {
                (open + s.size, idle + s.available, max + s.max_size)
            })
    }

    /// Closes the pools of workers still alive (those that stopped dropped theirs).
    pub async fn close(&self) {
        for pool in self.live() {
            close(&pool).await;
        }
    }

    fn live(&self) -> Vec<managed::Pool<Connector>> {
        let created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        created
            .iter()
            .filter_map(managed::WeakPool::upgrade)
            .collect()
    }
}

/// Marks the connection broken after an error that leaves its state unknown (I/O, protocol,
/// TLS), or that PostgreSQL sends as it ends the session (class 57P: an administrator's or a
/// crash shutdown, as in a restart; class 08: connection exceptions), so it is not reused.
/// Other errors PostgreSQL reports (constraint violations, timeouts) leave it usable.
fn note_failure(broken: &mut bool, error: &sqlx::Error) {
    let session_ended = error
        .as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code.starts_with("57P") || code.starts_with("08"));
    if session_ended
        || matches!(
            error,
            sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::Tls(_)
        )
    {
        *broken = true;
    }
}

/// Executes on the underlying `PgConnection`, noting connection-level failures on the way.
impl<'c> Executor<'c> for &'c mut Connection {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, sqlx::Result<Either<PgQueryResult, PgRow>>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let Connection { raw, broken, .. } = self;
        Box::pin(
            raw.fetch_many(query)
                .inspect_err(move |error| note_failure(broken, error)),
        )
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, sqlx::Result<Option<PgRow>>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let Connection { raw, broken, .. } = self;
        raw.fetch_optional(query)
            .inspect_err(move |error| note_failure(broken, error))
            .boxed()
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, sqlx::Result<PgStatement>>
    where
        'c: 'e,
    {
        let Connection { raw, broken, .. } = self;
        raw.prepare_with(sql, parameters)
            .inspect_err(move |error| note_failure(broken, error))
            .boxed()
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, sqlx::Result<Describe<Postgres>>>
    where
        'c: 'e,
    {
        let Connection { raw, broken, .. } = self;
        raw.describe(sql)
            .inspect_err(move |error| note_failure(broken, error))
            .boxed()
    }
}
