//! All integration tests, in one binary: each test gets a fresh database and its own server,
//! and talks to it over HTTP.

mod artifacts;
mod board;
mod bulk;
mod changes;
mod claims;
mod conditional;
mod counts;
mod dependencies;
mod events;
mod feed_access;
mod feed_guarantees;
mod hardening;
mod helpers;
mod idempotency;
mod listing;
mod operations;
mod projects;
mod repositories;
mod run_events;
mod runs;
mod spec;
mod tasks;
mod tenancy;
