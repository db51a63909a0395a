//! taskdash: an idempotent, multi-tenant task API for workflow dashboards, on PostgreSQL.
//!
//! A tour, in dependency order: each layer imports only the layers below it.
//!
//! 1. Entry: `main.rs` parses the command line and hands over to [`commands`], which runs
//!    the server ([`startup`]) or a one-shot task (tenants, keys, migrations).
//! 2. HTTP: [`startup`] assembles the app from [`routes`] (one module per resource, a folder
//!    when a resource has several subjects, like `routes/tasks/`), [`openapi`] collects their
//!    spec, [`auth`] and [`extract`] turn requests into typed values, [`pagination`] encodes
//!    cursors, [`telemetry`] observes every request, [`feed`] fans the change log out to the
//!    replica's event streams.
//! 3. Rules and data: [`domain`] holds the validated types (`input.validate()?`), [`storage`]
//!    holds all SQL (one module per resource, taking domain types and plain keyset positions).
//! 4. Infrastructure: [`pool`] (connections), [`database`] and [`embedded_postgres`] (finding or
//!    starting PostgreSQL), [`state`] (limits, draining), [`configuration`].
//! 5. At the bottom: [`error`], the one error type every layer may return.

/// API keys: issuing them, and the `Tenant` extractor that authenticates a request.
pub mod auth;
/// The non-serving subcommands (tenants, keys, migrate) and `serve`'s start-up and shutdown.
pub mod commands;
/// Command line and environment settings.
pub mod configuration;
/// Finding or starting PostgreSQL, creating the database, migrating.
pub mod database;
/// Validated domain types: what storage accepts has passed every rule.
pub mod domain;
/// The private PostgreSQL cluster used when no DATABASE_URL is given.
pub mod embedded_postgres;
/// The one error type, its problem+json rendering, and where its side effects happen.
pub mod error;
/// JSON body and `If-Match` extraction with precise error pointers.
pub mod extract;
/// The live change feed: one LISTEN connection and one reader per replica, fanned out to streams.
pub mod feed;
/// The generated OpenAPI document.
pub mod openapi;
/// Keyset pagination cursors (the HTTP encoding of a storage position).
pub mod pagination;
/// Connection pools, one per HTTP worker.
pub mod pool;
/// The handlers, one module per resource, each with its OpenAPI description.
pub mod routes;
/// Binding the port and assembling the actix-web app.
pub mod startup;
/// State shared by the server and its handlers: limits, the draining flag.
pub mod state;
/// All SQL.
pub mod storage;
/// Logging set-up, request ids and metrics.
pub mod telemetry;
