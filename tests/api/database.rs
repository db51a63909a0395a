//! Startup against a server where the `postgres` maintenance database is out of reach (as
//! behind a pooler that exposes only the application's database): taskdash connects to its own
//! database first and needs `postgres` only to create a missing one.

use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use taskdash::configuration::DatabaseSettings;
use taskdash::database::Database;
use taskdash::embedded_postgres::{Durability, EmbeddedPostgres};

use crate::helpers::serve_settings;

fn settings_for(options: &PgConnectOptions, database: &str) -> DatabaseSettings {
    let mut settings = serve_settings().database;
    let url = options
        .clone()
        .database(database)
        .to_url_lossy()
        .to_string();
    settings.database_url = Some(url.into());
    settings
}

/// Opens (creating it if need be) and migrates the database, as `taskdash serve` starts.
async fn start_on(options: &PgConnectOptions, database: &str) -> anyhow::Result<()> {
    let opened = Database::open(&settings_for(options, database)).await?;
    opened.migrate().await?;
    opened.shutdown();
    Ok(())
}

/// Refuses every connection to the `postgres` database from now on (pg_hba.conf, reloaded).
async fn block_maintenance_database(server: &EmbeddedPostgres, options: &PgConnectOptions) {
    let hba = server.data_dir().join("pg_hba.conf");
    let rules = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(&hba, format!("local postgres all reject\n{rules}")).unwrap();
    let mut connection = PgConnection::connect_with(&options.clone().database("template1"))
        .await
        .unwrap();
    sqlx::query("SELECT pg_reload_conf()")
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    // The server applies the reload in its own time.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while PgConnection::connect_with(&options.clone().database("postgres"))
        .await
        .is_ok()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "pg_hba.conf not reloaded in 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn startup_connects_to_its_own_database_first_and_needs_postgres_only_to_create_it() {
    let dir = tempfile::Builder::new()
        .prefix("taskdash-test-pooler-")
        .tempdir_in("/tmp")
        .unwrap();
    let data = dir.path().join("pg");
    let server =
        tokio::task::spawn_blocking(move || EmbeddedPostgres::start(&data, Durability::Throwaway))
            .await
            .unwrap()
            .expect("start a second PostgreSQL cluster");
    let options = server.connect_options();

    // While `postgres` is reachable, a missing database is created.
    start_on(&options, "created_first").await.unwrap();

    block_maintenance_database(&server, &options).await;
    // An existing database needs nothing else.
    start_on(&options, "created_first").await.unwrap();
    // A missing one cannot be created now, and the error says why.
    let error = start_on(&options, "absent").await.unwrap_err();
    let message = format!("{error:#}");
    assert!(message.contains("`absent` does not exist"), "{message}");
    assert!(message.contains("maintenance database"), "{message}");

    let mut server = server;
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
}
