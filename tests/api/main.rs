//! All integration tests, in one binary: each test gets a fresh database and its own server,
//! and talks to it over HTTP.

mod artifacts;
mod board;
mod bulk;
mod changes;
mod claims;
mod cli;
mod conditional;
mod counts;
mod database;
mod dependencies;
mod events;
mod feed_access;
mod feed_guarantees;
mod feed_idle;
mod fixtures;
mod hardening;
mod helpers;
mod idempotency;
mod listing;
mod operations;
mod plans;
mod preconditions;
mod problems;
mod projects;
mod repositories;
mod run_events;
mod runs;
mod scopes;
mod spec;
mod tasks;
mod tenancy;
