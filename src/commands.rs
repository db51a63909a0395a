//! What each subcommand does. `main` only parses the command line and calls in here; the
//! tenant and key commands are in [`tenants`].

mod keys;
pub use keys::{key, tenant};

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::auth;
use crate::configuration::{DatabaseSettings, ServeSettings};
use crate::database::Database;
use crate::pool::Pool;
use crate::startup::Application;
use crate::storage::tenants;

/// Tenant created on an embedded cluster's first start, so a newcomer can try the API at once.
const DEFAULT_TENANT: &str = "default";
const KEY_FILE: &str = "api-key.txt";

async fn open_migrated(settings: &DatabaseSettings) -> anyhow::Result<(Database, Pool)> {
    let database = Database::open(settings).await?;
    database.migrate().await?;
    let pool = database.pool(settings);
    Ok((database, pool))
}

pub async fn serve(settings: ServeSettings) -> anyhow::Result<()> {
    let (database, pool) = open_migrated(&settings.database).await?;
    if let Some(embedded) = &database.embedded {
        let data_dir = embedded.data_dir().parent().unwrap_or(embedded.data_dir());
        welcome_key(&pool, data_dir).await?;
    }
    pool.close().await;
    let application = Application::build(&settings, database.pool_options(&settings.database))?;
    tracing::info!(
        "taskdash serving on http://{}:{} (board at /board/, Swagger UI at /docs/)",
        settings.bind.ip(),
        application.port()
    );
    if let (Some(bind), Some(port)) = (settings.metrics_bind, application.metrics_port()) {
        tracing::info!("metrics on http://{}:{port}/metrics only", bind.ip());
    }
    let (handle, draining) = (application.handle(), application.draining());
    let server = tokio::spawn(application.run_until_stopped());
    let drain = match stop_signal().await? {
        // An operator's Ctrl-C: no balancer to drain from.
        StopSignal::Interrupt => Duration::ZERO,
        StopSignal::Terminate => Duration::from_secs(settings.drain_secs),
    };
    Application::drain_and_stop(handle, draining, drain).await;
    let served = server.await?;
    tracing::info!("HTTP server stopped");
    tokio::task::spawn_blocking(move || database.shutdown()).await?;
    served.context("the HTTP server failed")
}

enum StopSignal {
    Interrupt,
    Terminate,
}

async fn stop_signal() -> anyhow::Result<StopSignal> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = terminate.recv() => StopSignal::Terminate,
        _ = interrupt.recv() => StopSignal::Interrupt,
    })
}

/// On the first start of an embedded cluster, creates the `default` tenant and keeps its key in
/// the data directory; on every start, shows it.
async fn welcome_key(pool: &Pool, data_dir: &Path) -> anyhow::Result<()> {
    let key_path = data_dir.join(KEY_FILE);
    if tenants::find_tenant(pool, DEFAULT_TENANT).await?.is_none()
        && let Some(issued) = auth::create_tenant(pool, DEFAULT_TENANT).await?
    {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&key_path)
            .with_context(|| format!("cannot write {}", key_path.display()))?;
        writeln!(file, "{}", issued.api_key)?;
    }
    if let Ok(key) = std::fs::read_to_string(&key_path) {
        eprintln!(
            "\n  API key of tenant `{DEFAULT_TENANT}` (kept in {}):\n\n    {}\n\n  \
             Paste it into the board (/board/), use it as `Authorization: Bearer <key>`, or in \
             Swagger UI (/docs/) under Authorize.\n",
            key_path.display(),
            key.trim()
        );
    }
    Ok(())
}

pub async fn migrate(settings: DatabaseSettings) -> anyhow::Result<()> {
    let (database, pool) = open_migrated(&settings).await?;
    pool.close().await;
    finish(database).await;
    eprintln!("migrations applied");
    Ok(())
}

/// Stops the embedded cluster, if the command started one.
async fn finish(database: Database) {
    let _ = tokio::task::spawn_blocking(move || database.shutdown()).await;
}
