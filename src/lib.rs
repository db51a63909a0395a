//! taskdash: an idempotent, multi-tenant task API for workflow dashboards, on PostgreSQL.
//!
//! A tour, from the outside in:

/// Command line and environment settings.
pub mod configuration;
/// Binding the port and assembling the actix-web app.
pub mod startup;
/// The handlers, one module per resource, each with its OpenAPI description.
pub mod routes;
/// The generated OpenAPI document.
pub mod openapi;
/// API keys and the `Tenant` extractor that authenticates a request.
pub mod auth;
/// JSON body and parameter extraction with precise error pointers.
pub mod extract;
/// Validated domain types: what storage accepts has passed every rule.
pub mod domain;
/// Keyset pagination cursors.
pub mod pagination;
/// All SQL.
pub mod storage;
/// The one error type and its problem+json rendering.
pub mod error;
/// Finding or starting PostgreSQL, creating the database, migrating.
pub mod database;
/// The private PostgreSQL cluster used when no DATABASE_URL is given.
pub mod embedded_postgres;
/// Logging set-up.
pub mod telemetry;
/// The non-serving subcommands (tenants, keys, migrate).
pub mod commands;
