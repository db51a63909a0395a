//! taskdash: an idempotent, multi-tenant task API for workflow dashboards, on PostgreSQL.
//!
//! A tour, from the outside in:

/// API keys and the `Tenant` extractor that authenticates a request.
pub mod auth;
/// The non-serving subcommands (tenants, keys, migrate).
pub mod commands;
/// Command line and environment settings.
pub mod configuration;
/// Finding or starting PostgreSQL, creating the database, migrating.
pub mod database;
/// Validated domain types: what storage accepts has passed every rule.
pub mod domain;
/// The private PostgreSQL cluster used when no DATABASE_URL is given.
pub mod embedded_postgres;
/// The one error type and its problem+json rendering.
pub mod error;
/// JSON body and parameter extraction with precise error pointers.
pub mod extract;
/// The generated OpenAPI document.
pub mod openapi;
/// Keyset pagination cursors.
pub mod pagination;
/// Connection pools, one per HTTP worker.
pub mod pool;
/// The handlers, one module per resource, each with its OpenAPI description.
pub mod routes;
/// Binding the port and assembling the actix-web app.
pub mod startup;
/// All SQL.
pub mod storage;
/// Logging set-up.
pub mod telemetry;
