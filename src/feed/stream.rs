//! One client's stream: catch up from the log, then follow the replica's fan-out.
//!
//! Why nothing is lost or repeated: the stream subscribes to the fan-out *before* it reads the
//! log, and reads the log until a short page (everything below that read's horizon) that also
//! reaches the position the fan-out started publishing from; only then does it take changes
//! from the fan-out, and only those after the last one it sent. The fan-out publishes every
//! change after its start, horizons only grow, and positions order both sources the same way.
//! (A replica that just started has not read its start yet: its streams wait for it.)

use std::collections::VecDeque;
use std::sync::Arc;

use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::{Published, Subscription};
use crate::domain::Position;
use crate::pool::Pool;
use crate::storage::changes::{self, Read, Scope};

/// Changes per catch-up read.
const CATCH_UP: i64 = 500;
const _: () = assert!(CATCH_UP <= crate::storage::MAX_PAGE_ROWS);

/// What a stream sends.
pub enum FeedEvent {
    Change(Arc<Published>),
    /// The cursor was older than the kept log: the client should reload, then follow from
    /// `head` (which the stream does).
    Reset {
        head: Position,
    },
}

enum Phase {
    CatchUp,
    /// Caught up, but the replica's fan-out has not started publishing yet.
    AwaitFanOut,
    Live,
    Done,
}

struct State {
    subscription: Subscription,
    pool: Pool,
    scope: Scope,
    last: Position,
    phase: Phase,
    pending: VecDeque<FeedEvent>,
}

/// The events of `scope` after `after`, until the client goes, falls behind the fan-out's
/// buffer, or the replica shuts down.
pub fn follow(
    subscription: Subscription,
    pool: Pool,
    scope: Scope,
    after: Position,
) -> impl Stream<Item = FeedEvent> {
    let state = State {
        subscription,
        pool,
        scope,
        last: after,
        phase: Phase::CatchUp,
        pending: VecDeque::new(),
    };
    futures_util::stream::unfold(state, |mut state| async move {
        let event = state.next().await?;
        Some((event, state))
    })
}

impl State {
    async fn next(&mut self) -> Option<FeedEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            match self.phase {
                Phase::Done => return None,
                Phase::CatchUp => self.catch_up().await,
                Phase::AwaitFanOut => {
                    let published_from = &mut self.subscription.published_from;
                    self.phase = match published_from.wait_for(Option::is_some).await {
                        Ok(_) => Phase::CatchUp,
                        Err(_) => Phase::Done,
                    };
                }
                Phase::Live => {
                    let closing = &mut self.subscription.closing;
                    tokio::select! {
                        _ = closing.wait_for(|closing| *closing) => self.phase = Phase::Done,
                        received = self.subscription.receiver.recv() => match received {
                            Ok(published) => {
                                if published.id > self.last
                                    && self.scope.covers(published.tenant_id, published.project_id)
                                {
                                    self.last = published.id;
                                    return Some(FeedEvent::Change(published));
                                }
                            }
                            Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => {
                                self.phase = Phase::Done;
                            }
                        },
                    }
                }
            }
        }
    }

    async fn catch_up(&mut self) {
        match changes::read(&self.pool, self.scope, Some(self.last), CATCH_UP).await {
            Ok(Read::Page {
                changes,
                next,
                full,
            }) => {
                let short = !full;
                for logged in &changes {
                    self.pending
                        .push_back(FeedEvent::Change(Arc::new(Published::new(logged))));
                }
                self.last = next;
                if short {
                    // Live only from where the fan-out publishes everything: until it has
                    // started, or while this stream is behind its start, read on.
                    let published_from = &mut self.subscription.published_from;
                    match *published_from.borrow() {
                        Some(from) if self.last >= from => self.phase = Phase::Live,
                        Some(_) => {}
                        None => self.phase = Phase::AwaitFanOut,
                    }
                }
            }
            Ok(Read::Expired { head }) => {
                self.last = head;
                self.pending.push_back(FeedEvent::Reset { head });
            }
            Ok(Read::NoProject) => self.phase = Phase::Done,
            Err(error) => {
                // The client reconnects and resumes from its last event id.
                tracing::warn!(%error, "change feed: catching up failed; ending the stream");
                self.phase = Phase::Done;
            }
        }
    }
}
