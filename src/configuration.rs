//! Command line and environment: every setting is a flag that can also come from the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use std::time::Duration;

use clap::{Args, FromArgMatches, Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};

use crate::domain::{Name, Scope};
use crate::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "taskdash",
    version,
    about = "Idempotent, multi-tenant task API for workflow dashboards, on PostgreSQL",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Serve settings, used when no subcommand is given (`taskdash` = `taskdash serve`).
    #[command(flatten)]
    pub serve: ServeSettings,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve(ServeSettings),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseSettings),
    /// Print the OpenAPI 3.1 document (JSON) to stdout.
    Openapi,
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Manage API keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant and its first API key (a `write` key); prints
    /// `{"tenant": …, "api_key": …}`.
    Create {
        /// Unique tenant name.
        name: String,
        #[command(flatten)]
        database: DatabaseSettings,
    },
    /// Delete a tenant and everything it owns: its API keys, projects (with their milestones,
    /// tasks, runs, artifacts and repositories) and change log. It cannot be undone.
    Delete {
        /// The tenant's name.
        name: String,
        /// Confirms the deletion; without it nothing is deleted.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        database: DatabaseSettings,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create another API key for a tenant; prints `{"tenant": …, "api_key": …, "scope": …}`.
    Create {
        /// Name of the tenant the key belongs to.
        #[arg(long)]
        tenant: String,
        /// `read` (GET, event streams and stream tokens: for a browser dashboard) or `write`
        /// (everything: for a workflow).
        #[arg(long, default_value = "write")]
        scope: Scope,
        /// What the key is for (`board`), shown by `key list`.
        #[arg(long, value_parser = parse_key_name)]
        name: Option<Name>,
        /// Refuse the key after this long (`30d`, `12h`); default: never.
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<Duration>,
        #[command(flatten)]
        database: DatabaseSettings,
    },
    /// List a tenant's API keys (never their secrets, which are not stored).
    List {
        /// Name of the tenant.
        #[arg(long)]
        tenant: String,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseSettings,
    },
    /// Revoke an API key at once; it is refused from then on.
    Revoke {
        /// The key's id (`api_key_id` in the output of `key create`).
        key_id: i64,
        #[command(flatten)]
        database: DatabaseSettings,
    },
}

fn parse_key_name(value: &str) -> Result<Name, String> {
    Name::parse(value.to_owned())
}

#[derive(Debug, Clone, Args)]
pub struct ServeSettings {
    /// Address to listen on.
    #[arg(long, env = "TASKDASH_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Serve `/metrics` on this address only (a separate listener, e.g. for a cluster-internal
    /// scrape), and not on the API's. Default: `/metrics` on the API's address.
    #[arg(long, env = "TASKDASH_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,

    /// HTTP worker threads (default: one per CPU core).
    #[arg(long, env = "TASKDASH_WORKERS")]
    pub workers: Option<usize>,

    /// Most tasks accepted by one bulk request.
    #[arg(long, env = "TASKDASH_MAX_BULK_TASKS", default_value_t = crate::state::DEFAULT_MAX_BULK_TASKS)]
    pub max_bulk_tasks: usize,

    /// Largest artifact content accepted (`PUT …/artifacts/{kind}`), in bytes.
    #[arg(long, env = "TASKDASH_MAX_ARTIFACT_BYTES", default_value_t = crate::state::DEFAULT_MAX_ARTIFACT_BYTES)]
    pub max_artifact_bytes: usize,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "TASKDASH_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Seconds a replica remembers an API key lookup: the longest a revoked key keeps working.
    /// 0 checks every request's key in the database.
    #[arg(long, env = "TASKDASH_AUTH_CACHE_SECS", default_value_t = 5)]
    pub auth_cache_secs: u64,

    /// Browser origins allowed to call the API (CORS), comma-separated, such as
    /// `https://dash.example.com`. Default: none.
    #[arg(long, env = "TASKDASH_CORS_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_allowed_origins: Vec<String>,

    /// Log filter, in `tracing` env-filter syntax (e.g. `info`, `taskdash=debug,info`).
    #[arg(long, env = "TASKDASH_LOG", default_value = "info")]
    pub log: String,

    /// Log format (default: text on a terminal, JSON otherwise).
    #[arg(long, env = "TASKDASH_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,

    /// How long changes are kept for `/changes` and `/events` to resume from (`7d`, `12h`, `90s`).
    #[arg(long, env = "TASKDASH_CHANGES_RETENTION", default_value = "7d", value_parser = humantime::parse_duration)]
    pub changes_retention: Duration,

    /// How long an `Idempotency-Key` and its first response are kept (`24h`, `7d`, `90m`): a
    /// retry with the key within this time gets the first response again.
    #[arg(long, env = "TASKDASH_IDEMPOTENCY_KEY_TTL", default_value = "24h", value_parser = humantime::parse_duration)]
    pub idempotency_key_ttl: Duration,

    /// Seconds between keep-alive comments on an idle event stream (proxies close silent ones).
    #[arg(long, env = "TASKDASH_EVENTS_HEARTBEAT_SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    pub events_heartbeat_secs: u64,

    /// Most event streams one replica keeps open; beyond, opening one answers 503.
    #[arg(long, env = "TASKDASH_MAX_EVENT_STREAMS", default_value_t = 10_000)]
    pub max_event_streams: usize,

    /// On SIGTERM, seconds to keep serving with readiness at 503 before closing the listener.
    #[arg(long, env = "TASKDASH_DRAIN_SECS", default_value_t = 5)]
    pub drain_secs: u64,

    /// Seconds in-flight requests get to finish once the listener is closed.
    #[arg(long, env = "TASKDASH_SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    pub shutdown_timeout_secs: u64,

    #[command(flatten)]
    pub database: DatabaseSettings,
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseSettings {
    /// PostgreSQL URL. When unset, taskdash runs a private cluster in `<data-dir>/postgres`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_parser = parse_secret)]
    pub database_url: Option<SecretString>,

    /// Directory for the embedded cluster and the first API key (used without DATABASE_URL).
    #[arg(long, env = "TASKDASH_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Most connections this process opens to PostgreSQL, split evenly among the HTTP workers
    /// (at least one each).
    #[arg(long, env = "TASKDASH_POOL_SIZE", default_value_t = 16)]
    pub pool_size: u32,

    /// Seconds a request waits for a free connection before it is answered 503.
    #[arg(
        long = "pool-timeout-secs",
        env = "TASKDASH_POOL_TIMEOUT_SECS",
        default_value_t = 5
    )]
    pub acquire_timeout_secs: u64,

    /// Longest a single SQL statement may run before it is cancelled (answered 503).
    #[arg(long, env = "TASKDASH_STATEMENT_TIMEOUT_SECS", default_value_t = 10)]
    pub statement_timeout_secs: u64,

    /// A statement that takes longer, from sending it to its last row, is logged at `warn`
    /// with its SQL and how long it took; 0 logs every statement.
    #[arg(long, env = "TASKDASH_SLOW_STATEMENT_MS", default_value_t = 1000)]
    pub slow_statement_ms: u64,
}

impl ServeSettings {
    /// The settings a bare `taskdash serve` would get in an empty environment: clap's declared
    /// defaults, read through clap itself (so they cannot drift from the flags), with every `env`
    /// lookup switched off, so `TASKDASH_*` or `DATABASE_URL` in the caller's environment cannot
    /// leak in. For tests and embedders, which override the fields they care about; the binary
    /// parses [`Cli`] as usual, environment included.
    pub fn defaults() -> Self {
        let command = Self::augment_args(clap::Command::new("taskdash"))
            .mut_args(|arg| arg.env(None::<&'static str>));
        let matches = command
            .try_get_matches_from(["taskdash"])
            .expect("every serve flag is optional or has a default");
        Self::from_arg_matches(&matches).expect("the declared defaults parse")
    }
}

impl DatabaseSettings {
    pub fn database_url(&self) -> Option<&str> {
        self.database_url.as_ref().map(|url| url.expose_secret())
    }
}

fn parse_secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value))
}

/// An origin is a scheme, host and optional port: `https://dash.example.com:8443`.
fn parse_origin(value: &str) -> Result<String, String> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or("an origin starts with http:// or https://")?;
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
        return Err("an origin has no path, query or fragment: `https://dash.example.com`".into());
    }
    Ok(value.to_owned())
}
