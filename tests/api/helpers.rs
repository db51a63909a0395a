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
    // A relative reference to the page that describes the code (see tests/api/problems.rs).
    let code = problem["code"].as_str().unwrap();
    assert_eq!(problem["type"], format!("/problems/{code}"));
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

/// Change-feed tests that hold a transaction open take this for writing: while they do, every
/// feed of the cluster is held back (see the changes migration), so the tests whose timing
/// matters take it for reading.
pub static HORIZON: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

impl TestApp {
    /// Waits until every change in the log is visible to the feed's readers: the cluster is
    /// shared with parallel tests, and any of their running transactions holds the feed back.
    pub async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !self.settled_now().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "changes still held back after 10 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Whether every change in the log is visible to the feed's readers now.
    pub async fn settled_now(&self) -> bool {
        sqlx::query_scalar(
            "SELECT NOT EXISTS (SELECT 1 FROM changes
                                WHERE xid >= pg_snapshot_xmin(pg_current_snapshot()))",
        )
        .fetch_one(&mut *self.pool.acquire().await.unwrap())
        .await
        .unwrap()
    }

    /// One page of a changes route (`/changes` or `/projects/{id}/changes`): its changes and
    /// its `next_cursor`.
    pub async fn changes(&self, path: &str, after: Option<&str>) -> (Vec<Value>, String) {
        let url = match after {
            Some(after) => format!("{path}?limit=1000&after={after}"),
            None => format!("{path}?limit=1000"),
        };
        let response = self.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path} after {after:?}");
        let mut page = body(response).await;
        let next = page["next_cursor"].as_str().unwrap().to_owned();
        (serde_json::from_value(page["data"].take()).unwrap(), next)
    }

    /// Once the log has settled, every change after `after` (all of them, from one page).
    pub async fn settled_changes(&self, path: &str, after: Option<&str>) -> (Vec<Value>, String) {
        self.settle().await;
        self.changes(path, after).await
    }
}

/// Where a change id (`<xid>-<seq>`) sorts.
pub fn position(id: &Value) -> (u64, u64) {
    let (xid, seq) = id.as_str().unwrap().split_once('-').unwrap();
    (xid.parse().unwrap(), seq.parse().unwrap())
}

/// `(type, resource_id)` of each change: what a sequence of changes says happened.
pub fn kinds(changes: &[Value]) -> Vec<(String, i64)> {
    changes
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap().to_owned(),
                c["resource_id"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// One Server-Sent Events frame (the lines up to a blank line).
#[derive(Debug, Default)]
pub struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: Option<String>,
    pub retry: Option<String>,
    pub comments: Vec<String>,
}

impl Frame {
    /// The change an event carries, checked against the event's `id:` and `event:` lines.
    pub fn change(&self) -> Value {
        let change: Value = serde_json::from_str(self.data.as_deref().unwrap()).unwrap();
        assert_eq!(change["id"].as_str(), self.id.as_deref(), "{self:?}");
        assert_eq!(change["type"].as_str(), self.event.as_deref(), "{self:?}");
        change
    }
}

/// What waiting on a stream gave.
#[derive(Debug)]
pub enum Next {
    Frame(Frame),
    Silence,
    End,
}

/// A client of an event stream, reading it frame by frame, never without a time limit.
pub struct EventStream {
    response: Response,
    buffer: Vec<u8>,
}

impl EventStream {
    /// Opens the stream, which must answer 200 `text/event-stream`.
    pub async fn open(request: RequestBuilder) -> Self {
        let response = tokio::time::timeout(Duration::from_secs(10), request.send())
            .await
            .expect("the stream answers within 10 s")
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            response,
            buffer: Vec::new(),
        }
    }

    /// The next frame, if one comes within `within`.
    pub async fn next(&mut self, within: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let raw: Vec<u8> = self.buffer.drain(..end + 2).collect();
                return Next::Frame(parse_frame(std::str::from_utf8(&raw).unwrap()));
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return Next::Silence,
                Ok(Ok(Some(chunk))) => self.buffer.extend_from_slice(&chunk),
                Ok(Ok(None)) | Ok(Err(_)) => return Next::End,
            }
        }
    }

    /// The next event (skipping comments and the `retry:` frame), which must come within
    /// `within`.
    pub async fn event(&mut self, within: Duration) -> Frame {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Next::Frame(frame) if frame.event.is_some() || frame.data.is_some() => {
                    return frame;
                }
                Next::Frame(_) => {}
                other => panic!("no event within {within:?}: {other:?}"),
            }
        }
    }

    /// The changes of the next `n` events, each within `within`.
    pub async fn changes(&mut self, n: usize, within: Duration) -> Vec<Value> {
        let mut changes = Vec::with_capacity(n);
        for _ in 0..n {
            changes.push(self.event(within).await.change());
        }
        changes
    }

    /// Asserts that no event comes for `within` (comments may), and the stream stays open.
    pub async fn assert_quiet(&mut self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Next::Silence => return,
                Next::Frame(frame) if frame.event.is_none() && frame.data.is_none() => {}
                other => panic!("expected no event for {within:?}, got {other:?}"),
            }
        }
    }
}

fn parse_frame(raw: &str) -> Frame {
    let mut frame = Frame::default();
    for line in raw.lines().filter(|line| !line.is_empty()) {
        if let Some(comment) = line.strip_prefix(':') {
            frame.comments.push(comment.trim_start().to_owned());
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
        match field {
            "id" => frame.id = Some(value),
            "event" => frame.event = Some(value),
            "data" => frame.data = Some(value),
            "retry" => frame.retry = Some(value),
            other => panic!("unknown SSE field {other:?} in {raw:?}"),
        }
    }
    frame
}
