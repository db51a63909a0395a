//! The PostgreSQL side of the harness: one throwaway cluster per test run (or the server of
//! `DATABASE_URL`), a template database migrated once, and a fresh database per test cloned
//! from it.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use taskdash::database::{self, MIGRATOR};
use taskdash::embedded_postgres::{Durability, EmbeddedPostgres};
use tokio::sync::OnceCell;

struct TestCluster {
    server: EmbeddedPostgres,
    _dir: tempfile::TempDir,
}

/// Taken out and stopped at process exit (statics are never dropped).
static CLUSTER: Mutex<Option<TestCluster>> = Mutex::new(None);
static SERVER_OPTIONS: OnceLock<PgConnectOptions> = OnceLock::new();
static TEMPLATE: OnceCell<String> = OnceCell::const_new();

extern "C" fn stop_cluster_at_exit() {
    if let Ok(mut cluster) = CLUSTER.lock()
        && let Some(mut cluster) = cluster.take()
    {
        cluster.server.stop();
    }
}

/// The server every test database lives on.
fn server_options() -> PgConnectOptions {
    SERVER_OPTIONS
        .get_or_init(|| {
            if let Ok(url) = std::env::var("DATABASE_URL") {
                return PgConnectOptions::from_str(&url).expect("DATABASE_URL is a valid URL");
            }
            let dir = tempfile::Builder::new()
                .prefix("taskdash-test-")
                .tempdir_in("/tmp")
                .expect("temp dir");
            let data: PathBuf = dir.path().join("pg");
            let server = EmbeddedPostgres::start(&data, Durability::Throwaway)
                .expect("start the test PostgreSQL cluster");
            let options = server.connect_options();
            *CLUSTER.lock().unwrap() = Some(TestCluster { server, _dir: dir });
            // SAFETY: registering a plain extern "C" function with no captured state.
            unsafe { nix::libc::atexit(stop_cluster_at_exit) };
            options
        })
        .clone()
}

/// The end of the throwaway cluster's log (empty for a `DATABASE_URL` server).
fn cluster_log_tail() -> String {
    CLUSTER
        .lock()
        .map(|cluster| {
            cluster
                .as_ref()
                .map(|c| c.server.log_tail())
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

fn unique_name(prefix: &str) -> String {
    let suffix: u64 = rand_suffix();
    format!("{prefix}_{}_{suffix:x}", std::process::id())
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// A migrated database that each test's database is cloned from (much faster than migrating).
async fn template() -> &'static str {
    TEMPLATE
        .get_or_init(|| async {
            let name = unique_name("taskdash_template");
            let options = server_options().database(&name);
            database::create_database_if_missing(&options)
                .await
                .expect("create template");
            let mut connection = PgConnection::connect_with(&options).await.unwrap();
            MIGRATOR.run(&mut connection).await.expect("migrate");
            connection.close().await.unwrap();
            name
        })
        .await
}

/// A new database cloned from the template: how to connect to it.
pub(super) async fn fresh_database() -> PgConnectOptions {
    let template = template().await;
    let name = unique_name("taskdash_test");
    let mut admin = match PgConnection::connect_with(&server_options().database("postgres")).await {
        Ok(admin) => admin,
        Err(error) => panic!(
            "connect to the test server: {error}\nthe test server's log ends with:\n{}",
            cluster_log_tail()
        ),
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE {} TEMPLATE {}",
        database::quote_identifier(&name),
        database::quote_identifier(template)
    )))
    .execute(&mut admin)
    .await
    .expect("create the test database");
    admin.close().await.unwrap();
    server_options().database(&name)
}
