//! Test harness: one throwaway PostgreSQL cluster per test run (or `DATABASE_URL`), a fresh
//! database per test cloned from a migrated template, and the app on a random port.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use taskdash::configuration::ServeSettings;
use taskdash::database::{self, MIGRATOR};
use taskdash::embedded_postgres::{Durability, EmbeddedPostgres};
use taskdash::pool::Pool;
use taskdash::startup::Application;
use taskdash::storage::tenants;
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

async fn fresh_database() -> PgConnectOptions {
    let template = template().await;
    let name = unique_name("taskdash_test");
    let mut admin = PgConnection::connect_with(&server_options().database("postgres"))
        .await
        .expect("connect to the test server");
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

/// The real defaults (`ServeSettings::defaults()`: clap's, with the environment ignored) and
/// only what tests change.
pub fn serve_settings() -> ServeSettings {
    let mut settings = ServeSettings::defaults();
    settings.bind = "127.0.0.1:0".parse().unwrap(); // a free port each time
    settings.workers = Some(2);
    settings.auth_cache_secs = 0; // a revoked key is refused at once
    settings.log = "warn".into();
    settings.drain_secs = 0;
    settings.shutdown_timeout_secs = 5;
    // `Application::build` is given the test database's connect options directly: no URL, and
    // no data dir (which would hold an embedded cluster).
    settings.database.database_url = None;
    settings.database.data_dir = PathBuf::from("unused");
    settings.database.pool_size = 10;
    settings
}

pub struct TestApp {
    pub address: String,
    /// How servers started by the test connect to its database.
    pub database: PgConnectOptions,
    /// For the test's own queries (not shared with any server).
    pub pool: Pool,
    pub api_key: String,
    pub api_key_id: i64,
    pub client: reqwest::Client,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(serve_settings()).await
}

pub async fn spawn_app_with(settings: ServeSettings) -> TestApp {
    let options = fresh_database().await;
    let pool = Pool::new(options.clone(), 4, Duration::from_secs(5));
    let issued = taskdash::auth::create_tenant(&pool, "tenant-a")
        .await
        .unwrap()
        .unwrap();
    let mut app = TestApp {
        address: String::new(),
        database: options,
        pool,
        api_key: issued.api_key,
        api_key_id: issued.api_key_id,
        client: reqwest::Client::new(),
    };
    app.address = app.start_server(&settings);
    app
}

impl TestApp {
    /// Starts one more server process-equivalent on the same database (a "replica").
    pub fn start_server(&self, settings: &ServeSettings) -> String {
        let application = Application::build(settings, self.database.clone()).expect("build app");
        let address = format!("http://127.0.0.1:{}", application.port());
        tokio::spawn(application.run_until_stopped());
        address
    }

    pub async fn new_tenant_key(&self, name: &str) -> String {
        taskdash::auth::create_tenant(&self.pool, name)
            .await
            .unwrap()
            .unwrap()
            .api_key
    }

    /// Revokes the app's key the way `taskdash key revoke` does.
    pub async fn revoke_key(&self) {
        assert!(
            tenants::revoke_key(&self.pool, self.api_key_id)
                .await
                .unwrap()
        );
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(&self.api_key)
    }

    pub fn post(&self, path: &str, body: &Value) -> RequestBuilder {
        self.client
            .post(self.url(path))
            .bearer_auth(&self.api_key)
            .json(body)
    }

    pub fn patch(&self, path: &str, body: &Value) -> RequestBuilder {
        self.client
            .patch(self.url(path))
            .bearer_auth(&self.api_key)
            .json(body)
    }

    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.client
            .delete(self.url(path))
            .bearer_auth(&self.api_key)
    }

    /// Creates a project and returns its id.
    pub async fn create_project(&self, slug: &str) -> i64 {
        let response = self
            .post("/projects", &json!({"name": slug, "slug": slug}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        body(response).await["id"].as_i64().unwrap()
    }

    pub async fn create_task(&self, project_id: i64, task: Value) -> (StatusCode, Value) {
        let response = self
            .post(&format!("/projects/{project_id}/tasks"), &task)
            .send()
            .await
            .unwrap();
        (response.status(), body(response).await)
    }

    pub async fn bulk(&self, project_id: i64, tasks: Value) -> (StatusCode, Value) {
        let response = self
            .post(
                &format!("/projects/{project_id}/tasks:bulk"),
                &json!({ "tasks": tasks }),
            )
            .send()
            .await
            .unwrap();
        (response.status(), body(response).await)
    }

    pub async fn task_count(&self, project_id: i64) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM tasks WHERE project_id = $1")
            .bind(project_id)
            .fetch_one(&mut *self.pool.acquire().await.unwrap())
            .await
            .unwrap()
    }
}

pub async fn body(response: Response) -> Value {
    let text = response.text().await.unwrap();
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    }
}

/// Asserts an RFC 9457 answer with this status, returning the problem document.
pub async fn assert_problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "unexpected status");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let problem = body(response).await;
    assert_eq!(problem["status"], status.as_u16());
    assert!(problem["type"].as_str().unwrap().starts_with("https://"));
    assert!(problem["title"].is_string() && problem["detail"].is_string());
    problem
}

/// The JSON pointers listed in a validation problem.
pub fn pointers(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["pointer"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}
