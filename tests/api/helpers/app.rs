//! The app under test: the settings tests start from, a server (or more) on a fresh database,
//! and requests carrying the tenant's key.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use taskdash::configuration::ServeSettings;
use taskdash::pool::Pool;
use taskdash::startup::Application;
use taskdash::storage::tenants;

use super::database::fresh_database;
use super::responses::body;

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
        self.created_id("/projects", &json!({"name": slug, "slug": slug}))
            .await
    }

    /// Creates a milestone of the project and returns its id.
    pub async fn create_milestone(&self, project_id: i64, slug: &str) -> i64 {
        self.created_id(
            &format!("/projects/{project_id}/milestones"),
            &json!({"name": slug, "slug": slug}),
        )
        .await
    }

    /// Creates a run of the project and returns its id.
    pub async fn create_run(&self, project_id: i64) -> i64 {
        self.created_id(
            &format!("/projects/{project_id}/runs"),
            &json!({"workflow_type": "feature"}),
        )
        .await
    }

    async fn created_id(&self, path: &str, input: &Value) -> i64 {
        let response = self.post(path, input).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{path}");
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
