//! Test harness: one throwaway PostgreSQL cluster per test run (or `DATABASE_URL`), a fresh
//! database per test cloned from a migrated template, and the app on a random port.
//!
//! In parts: `database` (the cluster, the migrated template, a fresh database per test), `app`
//! (the settings, spawning servers, requests with the tenant's key), `responses` (reading bodies
//! and problems), `changes` (waiting for the change log to settle and reading the feed) and
//! `sse` (a client of event streams). Everything is re-exported here, so tests use
//! `crate::helpers::…`.

mod app;
mod changes;
mod database;
mod responses;
mod sse;

pub use app::{TestApp, serve_settings, spawn_app, spawn_app_with};
pub use changes::{HORIZON, kinds, position};
pub use responses::{assert_problem, body, pointers};
pub use sse::{EventStream, Next};
