//! The maintained task counters (`task_counts`, kept by triggers on `tasks`) and the project
//! summary read from them.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, body, serve_settings, spawn_app, spawn_app_with};

const STATUSES: [&str; 6] = [
    "open",
    "in_progress",
    "in_review",
    "blocked",
    "done",
    "archived",
];

/// xorshift64*: deterministic per seed, no crate needed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// 0..n
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.below(items.len())].clone())
    }

    fn status(&mut self) -> &'static str {
        STATUSES[self.below(STATUSES.len())]
    }
}

/// What the workers know of one project; races make it approximate (a task listed here may
/// already be deleted by another worker), which the allowed answers account for.
#[derive(Default)]
struct Known {
    tasks: Vec<i64>,
    milestones: Vec<i64>,
    external_ids: Vec<String>,
}

/// Sends a request and asserts that its status is one of `allowed` (never a 5xx).
async fn send(request: RequestBuilder, what: &str, allowed: &[StatusCode]) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(
        !status.is_server_error() && allowed.contains(&status),
        "{what}: unexpected {status}: {text}"
    );
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, value)
}

/// A random milestone of the project (`null` a third of the time).
fn some_milestone(rng: &mut Rng, known: &Mutex<Known>) -> Value {
    if rng.chance(33) {
        return Value::Null;
    }
    rng.pick(&known.lock().unwrap().milestones)
        .map_or(Value::Null, Value::from)
}

/// An external_id: often none, sometimes a new one, sometimes one already stored (the
/// idempotent path).
fn some_external_id(rng: &mut Rng, known: &Mutex<Known>, fresh: String) -> Option<String> {
    match rng.below(3) {
        0 => None,
        1 => Some(fresh),
        _ => rng
            .pick(&known.lock().unwrap().external_ids)
            .or(Some(fresh)),
    }
}

fn task_input(rng: &mut Rng, known: &Mutex<Known>, external_id: Option<String>) -> Value {
    let mut task = json!({"title": "random", "status": rng.status()});
    let milestone = some_milestone(rng, known);
    if !milestone.is_null() {
        task["milestone_id"] = milestone;
    }
    if let Some(external_id) = external_id {
        task["external_id"] = json!(external_id);
    }
    task
}

fn remember_task(known: &Mutex<Known>, task: &Value) {
    let mut known = known.lock().unwrap();
    known.tasks.push(task["id"].as_i64().unwrap());
    if let Some(external_id) = task["external_id"].as_str() {
        known.external_ids.push(external_id.to_owned());
    }
}

/// One worker's random operations on the two projects.
async fn random_operations(
    app: &TestApp,
    worker: u64,
    projects: &[(i64, Mutex<Known>)],
    deleted_milestones: &Mutex<Vec<(i64, i64)>>,
) {
    use StatusCode as S;
    // COUNTS_SEED varies the workload (to explore); the default keeps it reproducible.
    let seed: u64 = std::env::var("COUNTS_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(0);
    let mut rng = Rng::new(seed * 1000 + worker + 1);
    for step in 0..40 {
        let (project, known) = &projects[rng.below(projects.len())];
        let project = *project;
        let tasks_path = format!("/projects/{project}/tasks");
        let roll = rng.below(100);
        if roll < 25 {
            let external_id = some_external_id(&mut rng, known, format!("w{worker}-s{step}"));
            let task = task_input(&mut rng, known, external_id);
            // 409: the milestone was deleted meanwhile.
            let (status, task) = send(
                app.post(&tasks_path, &task),
                &format!("worker {worker} step {step}: create"),
                &[S::CREATED, S::OK, S::CONFLICT],
            )
            .await;
            if status == S::CREATED {
                remember_task(known, &task);
            }
        } else if roll < 45 {
            let count = 1 + rng.below(20);
            let mut items: Vec<Value> = Vec::with_capacity(count);
            for k in 0..count {
                let external_id = if k > 0 && rng.chance(15) {
                    // Repeated within the request.
                    items[rng.below(k)]["external_id"]
                        .as_str()
                        .map(str::to_owned)
                } else {
                    some_external_id(&mut rng, known, format!("w{worker}-b{step}-{k}"))
                };
                items.push(task_input(&mut rng, known, external_id));
            }
            let (status, result) = send(
                app.post(&format!("{tasks_path}:bulk"), &json!({ "tasks": items })),
                &format!("worker {worker} step {step}: bulk"),
                &[S::CREATED, S::OK, S::CONFLICT],
            )
            .await;
            if status != S::CONFLICT {
                for task in result["created"].as_array().unwrap() {
                    remember_task(known, task);
                }
            }
        } else if roll < 70 {
            let Some(task) = rng.pick(&known.lock().unwrap().tasks) else {
                continue;
            };
            let patch = match rng.below(3) {
                0 => json!({"status": rng.status()}),
                1 => json!({"milestone_id": some_milestone(&mut rng, known)}),
                _ => {
                    json!({"status": rng.status(), "milestone_id": some_milestone(&mut rng, known)})
                }
            };
            // 404: the task was deleted meanwhile; 409: the milestone was.
            send(
                app.patch(&format!("{tasks_path}/{task}"), &patch),
                &format!("worker {worker} step {step}: patch"),
                &[S::OK, S::NOT_FOUND, S::CONFLICT],
            )
            .await;
        } else if roll < 82 {
            let task = {
                let mut known = known.lock().unwrap();
                if known.tasks.is_empty() {
                    continue;
                }
                let index = rng.below(known.tasks.len());
                known.tasks.swap_remove(index)
            };
            send(
                app.delete(&format!("{tasks_path}/{task}")),
                &format!("worker {worker} step {step}: delete task"),
                &[S::NO_CONTENT, S::NOT_FOUND],
            )
            .await;
        } else if roll < 90 {
            let slug = format!("w{worker}-m{step}");
            let (_, milestone) = send(
                app.post(
                    &format!("/projects/{project}/milestones"),
                    &json!({"name": slug, "slug": slug}),
                ),
                &format!("worker {worker} step {step}: create milestone"),
                &[S::CREATED],
            )
            .await;
            known
                .lock()
                .unwrap()
                .milestones
                .push(milestone["id"].as_i64().unwrap());
        } else if roll < 95 {
            let milestone = {
                let mut known = known.lock().unwrap();
                if known.milestones.len() < 2 {
                    continue;
                }
                let index = rng.below(known.milestones.len());
                known.milestones.swap_remove(index)
            };
            deleted_milestones
                .lock()
                .unwrap()
                .push((project, milestone));
            send(
                app.delete(&format!("/projects/{project}/milestones/{milestone}")),
                &format!("worker {worker} step {step}: delete milestone"),
                &[S::NO_CONTENT],
            )
            .await;
        } else {
            send(
                app.get(&format!("/projects/{project}/summary")),
                &format!("worker {worker} step {step}: summary"),
                &[S::OK],
            )
            .await;
        }
    }
}

type Count = (i64, i64, String, i64);

async fn counted(app: &TestApp, sql: &'static str) -> Vec<Count> {
    let mut rows: Vec<Count> = sqlx::query_as(sql)
        .fetch_all(&mut *app.pool.acquire().await.unwrap())
        .await
        .unwrap();
    rows.sort();
    rows
}

async fn scalar(app: &TestApp, sql: &'static str, bind: i64) -> i64 {
    sqlx::query_scalar(sql)
        .bind(bind)
        .fetch_one(&mut *app.pool.acquire().await.unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn maintained_counts_match_count_star_after_a_random_concurrent_workload() {
    let app = spawn_app().await;
    let mut projects = Vec::new();
    for slug in ["kept", "dropped"] {
        let project = app.create_project(slug).await;
        let mut known = Known::default();
        for m in 0..3 {
            let (status, milestone) = send(
                app.post(
                    &format!("/projects/{project}/milestones"),
                    &json!({"name": format!("m{m}"), "slug": format!("m{m}")}),
                ),
                "setup milestone",
                &[StatusCode::CREATED],
            )
            .await;
            assert_eq!(status, StatusCode::CREATED);
            known.milestones.push(milestone["id"].as_i64().unwrap());
        }
        projects.push((project, Mutex::new(known)));
    }
    let deleted_milestones = Mutex::new(Vec::new());

    let workers =
        (0..12).map(|worker| random_operations(&app, worker, &projects, &deleted_milestones));
    futures_util::future::join_all(workers).await;

    let (kept, dropped) = (projects[0].0, projects[1].0);
    assert!(
        app.task_count(kept).await > 0 && app.task_count(dropped).await > 0,
        "the workload created tasks in both projects"
    );
    let deleted_milestones = deleted_milestones.into_inner().unwrap();
    assert!(
        !deleted_milestones.is_empty(),
        "the workload deleted milestones"
    );
    send(
        app.delete(&format!("/projects/{dropped}")),
        "delete project",
        &[StatusCode::NO_CONTENT],
    )
    .await;

    let maintained = counted(
        &app,
        "SELECT project_id, milestone_id, status, sum(n)::bigint FROM task_counts
         GROUP BY 1, 2, 3 HAVING sum(n) <> 0",
    )
    .await;
    let actual = counted(
        &app,
        "SELECT project_id, COALESCE(milestone_id, 0), status, count(*) FROM tasks
         GROUP BY 1, 2, 3",
    )
    .await;
    assert!(!actual.is_empty());
    assert_eq!(maintained, actual);

    let left = |sql| scalar(&app, sql, dropped);
    assert_eq!(
        left("SELECT count(*) FROM task_counts WHERE project_id = $1").await,
        0
    );
    assert_eq!(
        left("SELECT count(*) FROM project_versions WHERE project_id = $1").await,
        0
    );
    for (project, milestone) in deleted_milestones {
        let rows: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM task_counts WHERE project_id = $1 AND milestone_id = $2",
        )
        .bind(project)
        .bind(milestone)
        .fetch_one(&mut *app.pool.acquire().await.unwrap())
        .await
        .unwrap();
        assert_eq!(rows, 0, "counters of deleted milestone {milestone}");
    }
    let orphans = scalar(
        &app,
        "SELECT count(*) FROM task_counts c WHERE c.milestone_id <> $1 AND NOT EXISTS (
             SELECT 1 FROM milestones m WHERE m.project_id = c.project_id AND m.id = c.milestone_id)",
        0,
    )
    .await;
    assert_eq!(orphans, 0, "counters of milestones that no longer exist");

    // The summary of the surviving project agrees with count(*).
    let summary = body(
        app.get(&format!("/projects/{kept}/summary"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let by_status = |rows: &[Count], milestone: Option<i64>| {
        let mut counts = json!({});
        for status in STATUSES {
            let n: i64 = rows
                .iter()
                .filter(|(p, m, s, _)| {
                    *p == kept && s == status && milestone.is_none_or(|milestone| *m == milestone)
                })
                .map(|row| row.3)
                .sum();
            counts[status] = json!(n);
        }
        counts
    };
    let expected = by_status(&actual, None);
    assert_eq!(summary["tasks"]["by_status"], expected);
    assert_eq!(summary["tasks"]["total"], app.task_count(kept).await);
    assert_eq!(summary["tasks"]["done"], expected["done"]);
    assert_eq!(summary["blocked"], expected["blocked"]);
    let milestones: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM milestones WHERE project_id = $1 ORDER BY id")
            .bind(kept)
            .fetch_all(&mut *app.pool.acquire().await.unwrap())
            .await
            .unwrap();
    let summarised = summary["milestones"].as_array().unwrap();
    assert_eq!(
        summarised
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        milestones
    );
    for milestone in summarised {
        let id = milestone["id"].as_i64().unwrap();
        assert_eq!(milestone["by_status"], by_status(&actual, Some(id)), "{id}");
    }
}

#[tokio::test]
async fn creates_from_many_connections_spread_over_counter_stripes() {
    let mut settings = serve_settings();
    settings.workers = Some(2);
    settings.database.pool_size = 16;
    let app = spawn_app_with(settings).await;
    let project = app.create_project("p").await;
    let milestone = body(
        app.post(
            &format!("/projects/{project}/milestones"),
            &json!({"name": "v1", "slug": "v1"}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let creates = (0..16).map(|i| {
        app.create_task(
            project,
            json!({"title": format!("t{i}"), "milestone_id": milestone}),
        )
    });
    for (status, task) in futures_util::future::join_all(creates).await {
        assert_eq!(status, StatusCode::CREATED, "{task}");
    }
    let stripes = scalar(
        &app,
        "SELECT count(DISTINCT stripe) FROM task_counts WHERE milestone_id = $1",
        milestone,
    )
    .await;
    assert!(stripes > 1, "all 16 creates counted on {stripes} stripe");
    let total = scalar(
        &app,
        "SELECT sum(n)::bigint FROM task_counts WHERE milestone_id = $1",
        milestone,
    )
    .await;
    assert_eq!(total, 16);
}

fn at(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_summary_counts_tasks_by_status_and_milestone_and_finds_the_oldest_open_task() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let mut milestones = Vec::new();
    for (slug, status) in [
        ("alpha", "active"),
        ("beta", "completed"),
        ("empty", "active"),
    ] {
        let response = app
            .post(
                &format!("/projects/{project}/milestones"),
                &json!({"name": slug.to_uppercase(), "slug": slug, "status": status}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        milestones.push(body(response).await["id"].as_i64().unwrap());
    }
    let (alpha, beta, empty) = (milestones[0], milestones[1], milestones[2]);
    let mut created = Vec::new();
    for (status, milestone) in [
        ("open", None),
        ("open", Some(alpha)),
        ("blocked", Some(alpha)),
        ("done", Some(beta)),
        ("in_progress", Some(beta)),
        ("archived", None),
        ("blocked", None),
    ] {
        let (code, task) = app
            .create_task(
                project,
                json!({"title": "T", "status": status, "milestone_id": milestone}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{task}");
        created.push(task);
    }
    let changed = body(
        app.patch(
            &format!("/projects/{project}/tasks/{}", created[4]["id"]),
            &json!({"status": "in_review"}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(changed["status"], "in_review");

    let summary = body(
        app.get(&format!("/projects/{project}/summary"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let counts = |open, in_review, blocked, done, archived| {
        json!({"open": open, "in_progress": 0, "in_review": in_review, "blocked": blocked,
               "done": done, "archived": archived})
    };
    assert_eq!(summary["project_id"], project);
    assert_eq!(
        summary["tasks"],
        json!({"total": 7, "done": 1, "by_status": counts(2, 1, 2, 1, 1)})
    );
    assert_eq!(summary["blocked"], 2);
    assert_eq!(
        summary["milestones"],
        json!([
            {"id": alpha, "name": "ALPHA", "status": "active", "total": 2, "done": 0,
             "by_status": counts(1, 0, 1, 0, 0)},
            {"id": beta, "name": "BETA", "status": "completed", "total": 2, "done": 1,
             "by_status": counts(0, 1, 0, 1, 0)},
            {"id": empty, "name": "EMPTY", "status": "active", "total": 0, "done": 0,
             "by_status": counts(0, 0, 0, 0, 0)},
        ])
    );
    assert_eq!(
        at(&summary["oldest_open_created_at"]),
        at(&created[0]["created_at"])
    );
    assert_eq!(at(&summary["last_activity_at"]), at(&changed["updated_at"]));
}

#[tokio::test]
async fn an_empty_projects_summary_has_zeros_nulls_and_no_milestones() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let summary = body(
        app.get(&format!("/projects/{project}/summary"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let zero = json!({"open": 0, "in_progress": 0, "in_review": 0, "blocked": 0, "done": 0, "archived": 0});
    assert_eq!(
        summary,
        json!({
            "project_id": project,
            "tasks": {"total": 0, "done": 0, "by_status": zero},
            "blocked": 0,
            "milestones": [],
            "oldest_open_created_at": null,
            "last_activity_at": null,
            "runs": {"total": 0, "by_status": {"running": 0, "completed": 0, "failed": 0, "cancelled": 0}},
        })
    );
}

#[tokio::test]
async fn the_summary_of_another_tenants_or_a_missing_project_is_404() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    app.create_task(project, json!({"title": "T"})).await;
    let other = app.new_tenant_key("other").await;
    let response = app
        .client
        .get(app.url(&format!("/projects/{project}/summary")))
        .bearer_auth(other)
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::NOT_FOUND).await;
    let response = app
        .get(&format!("/projects/{}/summary", project + 1000))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::NOT_FOUND).await;
}
