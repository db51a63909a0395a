//! State shared by the server and its handlers: built at start-up, read per request.

use std::sync::Arc;

use tokio::sync::watch;

/// The default of `--max-bulk-tasks`, which the committed spec states.
pub const DEFAULT_MAX_BULK_TASKS: usize = 1000;

/// The default of `--max-artifact-bytes`: 8 MiB.
pub const DEFAULT_MAX_ARTIFACT_BYTES: usize = 8 * 1024 * 1024;

/// Request limits handlers consult.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_bulk_tasks: usize,
    pub max_artifact_bytes: usize,
}

/// Set when the process is shutting down: readiness answers 503 so balancers stop sending
/// new requests while in-flight ones finish, and event streams end so their clients reconnect
/// to another replica.
#[derive(Clone, Debug)]
pub struct Draining(Arc<watch::Sender<bool>>);

impl Default for Draining {
    fn default() -> Self {
        Self(Arc::new(watch::channel(false).0))
    }
}

impl Draining {
    pub fn start(&self) {
        self.0.send_replace(true);
    }
    pub fn is_draining(&self) -> bool {
        *self.0.borrow()
    }
    /// Wakes its holder when draining starts.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.0.subscribe()
    }
}
