//! The live change feed of one replica.
//!
//! One dedicated connection `LISTEN`s (not from the request pools); writers' triggers `NOTIFY`
//! at commit, as a wake-up only, one writer at a time (see the notify migration). On a wake-up,
//! or every [`POLL`] whatever happens (a writer that did not notify, a lost connection, a
//! notification that came before its transaction was visible to all), one task
//! reads the new changes once and fans them out to every open stream of this replica through a
//! bounded broadcast buffer. A stream that falls behind that buffer is ended; its client resumes
//! from its last event id. Another task prunes the log, one replica at a time.
//!
//! While no stream is open on the replica, it does not `LISTEN` and reads the log on the poll
//! only, so writes cost it nothing: no notification to deliver, no read of the log per commit.
//! Nothing is lost by idling: a stream catches up from the log itself, and the fan-out, woken
//! when a stream opens, still publishes every change after its start, in order.

mod stream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytestring::ByteString;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::{Notify, broadcast, watch};

use crate::state::Draining;

use crate::domain::{ChangeType, Position};
use crate::pool::Pool;
use crate::storage::changes::{self, Logged, Read, Scope};

pub use stream::{FeedEvent, follow};

/// The channel the triggers notify (see the changes migration).
const CHANNEL: &str = "taskdash_changes";
/// How often the log is read when no notification comes (writers notify one at a time, so a
/// write made while another was notifying waits for the next wake-up: at most this long).
const POLL: Duration = Duration::from_millis(250);
/// Changes per read of the log.
const BATCH: i64 = 1000;
const _: () = assert!(BATCH <= crate::storage::MAX_PAGE_ROWS);
/// Changes the broadcast buffer holds; a stream further behind is ended.
const BUFFER: usize = 4096;

#[derive(Clone, Copy, Debug)]
pub struct FeedSettings {
    pub retention: Duration,
    pub heartbeat: Duration,
    pub max_streams: usize,
}

/// A change as every stream sends it: encoded once per replica, not once per stream.
#[derive(Debug)]
pub struct Published {
    pub tenant_id: i64,
    pub project_id: i64,
    pub id: Position,
    pub kind: ChangeType,
    pub json: ByteString,
}

impl Published {
    pub fn new(logged: &Logged) -> Self {
        let json = serde_json::to_string(&logged.change).expect("a change always serialises");
        Self {
            tenant_id: logged.tenant_id,
            project_id: logged.change.project_id,
            id: logged.change.id,
            kind: logged.change.kind,
            json: json.into(),
        }
    }
}

/// The replica's feed: cheap to clone, shared by the workers.
#[derive(Clone)]
pub struct Feed {
    inner: Arc<Inner>,
}

struct Inner {
    sender: broadcast::Sender<Arc<Published>>,
    /// Where the fan-out started publishing; `None` until it has read the log's head.
    published_from: watch::Receiver<Option<Position>>,
    /// How many streams are open on this replica; the listener and the fan-out idle at zero.
    open: watch::Sender<usize>,
    settings: FeedSettings,
    draining: Draining,
}

/// A place among the open streams, given back when the stream ends.
pub struct Subscription {
    receiver: broadcast::Receiver<Arc<Published>>,
    published_from: watch::Receiver<Option<Position>>,
    closing: watch::Receiver<bool>,
    feed: Arc<Inner>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.feed.open.send_modify(|open| *open -= 1);
        metrics::gauge!("event_streams_open").set(*self.feed.open.borrow() as f64);
    }
}

impl Feed {
    /// Starts the listening, fan-out and pruning tasks on the current runtime. `pool` serves
    /// the fan-out's reads and pruning; `listen_options` open the listening connection.
    /// Streams end when `draining` starts (so their clients reconnect to another replica and
    /// resume from their last event id), and no new one opens.
    pub fn start(
        pool: Pool,
        listen_options: PgConnectOptions,
        settings: FeedSettings,
        draining: Draining,
    ) -> Self {
        let (sender, _) = broadcast::channel(BUFFER);
        let (started, published_from) = watch::channel(None);
        let wake = Arc::new(Notify::new());
        let (open, streams) = watch::channel(0);
        tokio::spawn(listen(listen_options, wake.clone(), streams.clone()));
        tokio::spawn(fan_out(
            pool.clone(),
            sender.clone(),
            (wake, streams),
            started,
        ));
        tokio::spawn(prune(pool, settings.retention));
        Self {
            inner: Arc::new(Inner {
                sender,
                published_from,
                open,
                settings,
                draining,
            }),
        }
    }

    pub fn settings(&self) -> FeedSettings {
        self.inner.settings
    }

    /// A place for one more stream; `None` at `--max-event-streams` or while shutting down.
    pub fn subscribe(&self) -> Option<Subscription> {
        if self.inner.draining.is_draining() {
            return None;
        }
        let max = self.inner.settings.max_streams;
        // Also wakes an idle listener and fan-out.
        let admitted = self.inner.open.send_if_modified(|open| {
            let admitted = *open < max;
            *open += usize::from(admitted);
            admitted
        });
        if !admitted {
            return None;
        }
        metrics::gauge!("event_streams_open").set(*self.inner.open.borrow() as f64);
        Some(Subscription {
            receiver: self.inner.sender.subscribe(),
            published_from: self.inner.published_from.clone(),
            closing: self.inner.draining.subscribe(),
            feed: self.inner.clone(),
        })
    }
}

/// While a stream is open, keeps one connection listening, reconnecting after a loss; every
/// notification, and every (re)connection, wakes the fan-out. With no stream open it stops
/// listening (`UNLISTEN`, as the listener is dropped) until one opens.
async fn listen(options: PgConnectOptions, wake: Arc<Notify>, mut streams: watch::Receiver<usize>) {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(options);
    loop {
        if streams.wait_for(|open| *open > 0).await.is_err() {
            return; // The feed is gone.
        }
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => {
                    wake.notify_one();
                    let failed = loop {
                        tokio::select! {
                            _ = streams.wait_for(|open| *open == 0) => break false,
                            received = listener.try_recv() => match received {
                                // `None`: the connection was lost and is being replaced.
                                Ok(_) => wake.notify_one(),
                                Err(error) => {
                                    tracing::warn!(%error, "change feed: listening failed; polling");
                                    break true;
                                }
                            },
                        }
                    };
                    if !failed {
                        continue;
                    }
                }
                Err(error) => tracing::warn!(%error, "change feed: LISTEN failed; polling"),
            },
            Err(error) => tracing::warn!(%error, "change feed: cannot connect to listen; polling"),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Reads the log after the last change published, on every wake-up while a stream is open and
/// every [`POLL`], and publishes what it finds, in order. It starts at the log's head, and says
/// where (`started`): streams only rely on it for changes after that.
async fn fan_out(
    pool: Pool,
    sender: broadcast::Sender<Arc<Published>>,
    (wake, mut streams): (Arc<Notify>, watch::Receiver<usize>),
    started: watch::Sender<Option<Position>>,
) {
    let mut after = loop {
        match changes::head(&pool).await {
            Ok(head) => break head,
            Err(error) => {
                tracing::warn!(%error, "change feed: cannot read the log's head");
                tokio::time::sleep(POLL).await;
            }
        }
    };
    started.send_replace(Some(after));
    let mut last_read = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = wake.notified() => {}
            // A stream opened (or closed): read now.
            _ = streams.changed() => {}
        }
        if *streams.borrow_and_update() == 0 && last_read.elapsed() < POLL {
            continue;
        }
        last_read = Instant::now();
        loop {
            match changes::read(&pool, Scope::All, Some(after), BATCH).await {
                Ok(Read::Page {
                    changes,
                    next,
                    full,
                }) => {
                    for logged in &changes {
                        // No stream open is no error.
                        let _ = sender.send(Arc::new(Published::new(logged)));
                    }
                    after = next;
                    if !full {
                        break;
                    }
                }
                // Down for longer than the retention: what was pruned is gone for everyone.
                Ok(Read::Expired { head }) => after = head,
                Ok(Read::NoProject) => break,
                Err(error) => {
                    tracing::warn!(%error, "change feed: reading the log failed");
                    break;
                }
            }
        }
    }
}

/// Prunes changes older than the retention, in batches, a few times per retention period.
async fn prune(pool: Pool, retention: Duration) {
    let every = (retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        tokio::time::sleep(every).await;
        loop {
            match changes::prune(&pool, retention, BATCH).await {
                Ok(Some(pruned)) if pruned as i64 == BATCH => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "change feed: pruning failed");
                    break;
                }
            }
        }
    }
}
