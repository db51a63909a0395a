//! State shared by the server and its handlers: built at start-up, read per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The default of `--max-bulk-tasks`, which the committed spec states.
pub const DEFAULT_MAX_BULK_TASKS: usize = 1000;

/// Request limits handlers consult.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_bulk_tasks: usize,
}

/// Set when the process is shutting down: readiness answers 503 so balancers stop sending
/// new requests while in-flight ones finish.
#[derive(Clone, Debug, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn start(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
