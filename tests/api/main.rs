//! All integration tests, in one binary: each test gets a fresh database and its own server,
//! and talks to it over HTTP.

mod bulk;
mod conditional;
mod counts;
mod hardening;
mod helpers;
mod listing;
mod operations;
mod projects;
mod spec;
mod tasks;
mod tenancy;
