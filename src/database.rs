//! Reaching PostgreSQL: the configured server, or the embedded one; creating the database when
//! it is missing; running migrations.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

use crate::configuration::DatabaseSettings;
use crate::embedded_postgres::{Durability, EmbeddedPostgres};
use crate::pool::Pool;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Name of the database taskdash uses inside its embedded cluster.
const EMBEDDED_DATABASE: &str = "taskdash";

/// Where the database is, plus the embedded server when we run one (kept alive with it).
pub struct Database {
    pub connect_options: PgConnectOptions,
    pub embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Resolves the settings to a reachable, migrated database.
    pub async fn open(settings: &DatabaseSettings) -> anyhow::Result<Self> {
        let (connect_options, embedded) = match settings.database_url() {
            Some(url) => {
                let options = PgConnectOptions::from_str(url)
                    .context("DATABASE_URL is not a valid PostgreSQL URL")?;
                (options, None)
            }
            None => {
                let data_dir = settings.data_dir.join("postgres");
                let server = tokio::task::spawn_blocking(move || {
                    EmbeddedPostgres::start(&data_dir, Durability::Durable)
                })
                .await??;
                let options = server.connect_options().database(EMBEDDED_DATABASE);
                (options, Some(server))
            }
        };
        let connect_options = connect_options
            .application_name("taskdash")
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(
                tracing::log::LevelFilter::Warn,
                Duration::from_millis(settings.slow_statement_ms),
            );
        create_database_if_missing(&connect_options).await?;
        Ok(Self {
            connect_options,
            embedded,
        })
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        let mut connection = PgConnection::connect_with(&self.connect_options).await?;
        MIGRATOR
            .run(&mut connection)
            .await
            .context("running migrations")?;
        connection.close().await?;
        Ok(())
    }

    /// How every pooled connection connects: statements beyond the configured time are
    /// cancelled by PostgreSQL itself; and no JIT compilation, which costs short statements
    /// like ours far more than it saves (a plan's cost estimate past the JIT threshold made a
    /// 0.3 ms read of the change log take 150 ms).
    pub fn pool_options(&self, settings: &DatabaseSettings) -> PgConnectOptions {
        self.connect_options.clone().options([
            (
                "statement_timeout",
                format!("{}s", settings.statement_timeout_secs),
            ),
            ("jit", "off".to_owned()),
        ])
    }

    /// One pool, for the command-line tools.
    pub fn pool(&self, settings: &DatabaseSettings) -> Pool {
        Pool::new(
            self.pool_options(settings),
            settings.pool_size as usize,
            Duration::from_secs(settings.acquire_timeout_secs),
        )
    }

    /// Stops the embedded server, if this process started one.
    pub fn shutdown(mut self) {
        if let Some(mut server) = self.embedded.take() {
            server.stop();
        }
    }
}

/// Creates the target database unless it exists. It connects to the target first, and to the
/// `postgres` maintenance database only when the target does not exist: behind a connection
/// pooler that exposes only the application's database, or with a role that may connect to
/// nothing else, startup must not depend on reaching `postgres`. Replicas may race to create it:
/// losing the race is fine.
pub async fn create_database_if_missing(options: &PgConnectOptions) -> anyhow::Result<()> {
    let name = options
        .get_database()
        .context("the database URL names no database")?
        .to_owned();
    match PgConnection::connect_with(options).await {
        Ok(connection) => return Ok(connection.close().await?),
        Err(error) if names_missing_database(&error) => {}
        Err(error) => {
            return Err(error).with_context(|| format!("cannot connect to database `{name}`"));
        }
    }
    tracing::info!(database = %name, "the database does not exist; creating it");
    let mut admin = PgConnection::connect_with(&options.clone().database("postgres"))
        .await
        .with_context(|| {
            format!(
                "database `{name}` does not exist, and creating it needs a connection to the \
                 `postgres` maintenance database, which failed"
            )
        })?;
    let statement = format!("CREATE DATABASE {}", quote_identifier(&name));
    if let Err(error) = sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
        .execute(&mut admin)
        .await
    {
        // 42P04 duplicate_database, 23505 unique_violation: another process just created it.
        let raced = error
            .as_database_error()
            .and_then(|e| e.code())
            .is_some_and(|code| code == "42P04" || code == "23505");
        if !raced {
            return Err(error).context("creating the database");
        }
    }
    admin.close().await?;
    Ok(())
}

/// Whether connecting failed because the database does not exist (3D000 invalid_catalog_name).
fn names_missing_database(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "3D000")
}

pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
