//! The tenant and key commands, run as an operator runs them: the built binary against the
//! test's database, then the keys it prints used over HTTP.

use std::process::Output;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::ConnectOptions;

use crate::helpers::{TestApp, assert_problem, body, spawn_app};

/// Runs `taskdash <args> --database-url <the test database>` with nothing from the environment.
async fn taskdash(app: &TestApp, args: &[&str]) -> Output {
    let url = app.database.to_url_lossy().to_string();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_taskdash"));
    command
        .args(args)
        .args(["--database-url", &url])
        .env_clear()
        .env("TASKDASH_LOG", "warn");
    command.output().await.expect("run taskdash")
}

/// The JSON the command printed, after asserting it succeeded.
async fn succeeds(app: &TestApp, args: &[&str]) -> String {
    let output = taskdash(app, args).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "taskdash {args:?}: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

/// The error the command printed, after asserting it failed.
async fn fails(app: &TestApp, args: &[&str]) -> String {
    let output = taskdash(app, args).await;
    assert!(!output.status.success(), "taskdash {args:?} succeeded");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn status_of(request: reqwest::RequestBuilder) -> StatusCode {
    request.send().await.unwrap().status()
}

#[tokio::test]
async fn key_create_issues_a_named_read_key_that_expires_and_key_list_shows_it_without_secrets() {
    let app = spawn_app().await;
    let args = [
        "key",
        "create",
        "--tenant",
        "tenant-a",
        "--scope",
        "read",
        "--expires-in",
        "30d",
        "--name",
        "board",
    ];
    let issued: Value = serde_json::from_str(&succeeds(&app, &args).await).unwrap();
    let key = issued["api_key"].as_str().unwrap().to_owned();
    assert_eq!(issued["scope"], "read");
    assert_eq!(issued["name"], "board");
    let expires: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(issued["expires_at"].clone()).unwrap();
    let in_30_days = chrono::Utc::now() + chrono::Duration::days(30);
    assert!((expires - in_30_days).num_minutes().abs() < 5, "{expires}");

    let projects = app.url("/projects");
    let get = app.client.get(&projects).bearer_auth(&key);
    assert_eq!(status_of(get).await, StatusCode::OK);
    let post = app.client.post(&projects).bearer_auth(&key);
    let response = post.json(&json!({"name": "x", "slug": "x"})).send().await;
    assert_problem(response.unwrap(), StatusCode::FORBIDDEN).await;

    let listed = succeeds(&app, &["key", "list", "--tenant", "tenant-a", "--json"]).await;
    for secret in [&key, &app.api_key] {
        assert!(!listed.contains(&secret[4..]), "a secret is listed");
    }
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    let board = &listed[1];
    assert_eq!(board["id"], issued["api_key_id"]);
    assert_eq!(board["name"], "board");
    assert_eq!(board["scope"], "read");
    assert_eq!(board["prefix"].as_str().unwrap(), &key[..12]);
    assert_eq!(board["expires_at"], issued["expires_at"]);
    assert_eq!(board["revoked_at"], Value::Null);
    assert!(board["created_at"].is_string());
    assert!(board.get("last_used_at").is_some());
    assert_eq!(listed[0]["scope"], "write");

    let table = succeeds(&app, &["key", "list", "--tenant", "tenant-a"]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    for column in [
        "ID",
        "NAME",
        "SCOPE",
        "PREFIX",
        "CREATED",
        "LAST USED",
        "EXPIRES",
        "REVOKED",
    ] {
        assert!(lines[0].contains(column), "{table}");
    }
    assert!(
        lines[2].contains("board") && lines[2].contains(&key[..12]),
        "{table}"
    );
    assert!(!table.contains(&key[12..]), "the secret is in the table");
}

#[tokio::test]
async fn the_existing_forms_still_issue_write_keys() {
    let app = spawn_app().await;
    let created: Value =
        serde_json::from_str(&succeeds(&app, &["tenant", "create", "acme"]).await).unwrap();
    let another: Value =
        serde_json::from_str(&succeeds(&app, &["key", "create", "--tenant", "acme"]).await)
            .unwrap();
    for issued in [&created, &another] {
        assert_eq!(issued["tenant"]["name"], "acme");
        assert_eq!(issued["scope"], "write");
        assert_eq!(issued["expires_at"], Value::Null);
        let key = issued["api_key"].as_str().unwrap();
        let post = app.client.post(app.url("/projects")).bearer_auth(key);
        let slug = format!("p{}", issued["api_key_id"]);
        let response = post.json(&json!({"name": "x", "slug": slug})).send().await;
        assert_eq!(response.unwrap().status(), StatusCode::CREATED);
    }
    let id = another["api_key_id"].to_string();
    succeeds(&app, &["key", "revoke", &id]).await;
    let listed = succeeds(&app, &["key", "list", "--tenant", "acme", "--json"]).await;
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert!(listed[1]["revoked_at"].is_string());
}

#[tokio::test]
async fn key_commands_refuse_what_they_cannot_do() {
    let app = spawn_app().await;
    let cases: [&[&str]; 5] = [
        &["key", "create", "--tenant", "tenant-a", "--scope", "admin"],
        &[
            "key",
            "create",
            "--tenant",
            "tenant-a",
            "--expires-in",
            "soon",
        ],
        &[
            "key",
            "create",
            "--tenant",
            "tenant-a",
            "--expires-in",
            "0s",
        ],
        &["key", "create", "--tenant", "nobody"],
        &["key", "list", "--tenant", "nobody"],
    ];
    for args in cases {
        fails(&app, args).await;
    }
    let listed = succeeds(&app, &["key", "list", "--tenant", "tenant-a", "--json"]).await;
    assert_eq!(
        serde_json::from_str::<Value>(&listed)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// Rows of the tenant's data and of its project's, table by table.
async fn rows_of(app: &TestApp, tenant: i64, project: i64) -> Vec<(String, i64)> {
    let mut counts = Vec::new();
    for (table, column, id) in [
        ("tenants", "id", tenant),
        ("api_keys", "tenant_id", tenant),
        ("stream_tokens", "tenant_id", tenant),
        ("projects", "tenant_id", tenant),
        ("changes", "tenant_id", tenant),
        ("milestones", "project_id", project),
        ("tasks", "project_id", project),
        ("runs", "project_id", project),
        ("run_events", "project_id", project),
        ("artifacts", "project_id", project),
        ("repositories", "project_id", project),
    ] {
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table} WHERE {column} = $1"
        )))
        .bind(id)
        .fetch_one(&mut *app.pool.acquire().await.unwrap())
        .await
        .unwrap();
        counts.push((table.to_owned(), count));
    }
    counts
}

#[tokio::test]
async fn tenant_delete_needs_confirmation_then_removes_the_tenant_and_everything_it_owns() {
    let app = spawn_app().await;
    let doomed: Value =
        serde_json::from_str(&succeeds(&app, &["tenant", "create", "doomed"]).await).unwrap();
    let (tenant, key) = (
        doomed["tenant"]["id"].as_i64().unwrap(),
        doomed["api_key"].as_str().unwrap(),
    );
    let as_doomed = TestApp {
        api_key: key.to_owned(),
        ..spawned_like(&app)
    };
    let everything = crate::fixtures::Populated::create(&as_doomed).await;
    let token = as_doomed
        .post("/stream-tokens", &json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::CREATED);
    let mine = app.create_project("mine").await;
    let rows = rows_of(&app, tenant, everything.project).await;
    assert!(rows.iter().all(|(_, n)| *n > 0), "{rows:?}");

    let refused = fails(&app, &["tenant", "delete", "doomed"]).await;
    assert!(refused.contains("--yes"), "{refused}");
    assert_eq!(status_of(as_doomed.get("/projects")).await, StatusCode::OK);
    fails(&app, &["tenant", "delete", "nobody", "--yes"]).await;

    succeeds(&app, &["tenant", "delete", "doomed", "--yes"]).await;
    for (table, count) in rows_of(&app, tenant, everything.project).await {
        assert_eq!(count, 0, "{table} still holds rows of the deleted tenant");
    }
    let project = format!("/projects/{}", everything.project);
    assert_problem(
        as_doomed.get(&project).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // Another tenant's data is untouched.
    let response = app.get(&format!("/projects/{mine}")).send().await.unwrap();
    assert_eq!(body(response).await["slug"], "mine");
}

#[tokio::test]
async fn statements_over_the_slow_statement_threshold_are_logged_with_their_sql() {
    let app = spawn_app().await;
    let every = key_list_log(&app, "0").await;
    let warned_of_the_key_list = every
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .any(|line| {
            line["target"] == "sqlx::query"
                && line["level"] == "WARN"
                && line["fields"]["db.statement"]
                    .as_str()
                    .is_some_and(|sql| sql.contains("api_keys"))
        });
    assert!(warned_of_the_key_list, "{every}");
    let quiet = key_list_log(&app, "60000").await;
    assert!(!quiet.contains("sqlx::query"), "{quiet}");
}

/// What `taskdash key list` logged with this `--slow-statement-ms`.
async fn key_list_log(app: &TestApp, threshold: &str) -> String {
    let args = ["key", "list", "--tenant", "tenant-a"];
    let output = taskdash(
        app,
        &[&args[..], &["--slow-statement-ms", threshold]].concat(),
    )
    .await;
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{log}");
    log
}

/// Another handle on the same server and database.
fn spawned_like(app: &TestApp) -> TestApp {
    TestApp {
        address: app.address.clone(),
        database: app.database.clone(),
        pool: app.pool.clone(),
        api_key: app.api_key.clone(),
        api_key_id: app.api_key_id,
        client: app.client.clone(),
    }
}
