use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, body, pointers, spawn_app};

async fn claim(app: &TestApp, project: i64, worker: &str) -> Option<Value> {
    let response = app
        .post(
            &format!("/projects/{project}/tasks:claim"),
            &json!({"worker_id": worker}),
        )
        .send()
        .await
        .unwrap();
    match response.status() {
        StatusCode::NO_CONTENT => None,
        StatusCode::OK => Some(body(response).await),
        other => panic!("claim answered {other}"),
    }
}

async fn patch(app: &TestApp, project: i64, id: &Value, change: Value) -> reqwest::Response {
    app.patch(&format!("/projects/{project}/tasks/{id}"), &change)
        .send()
        .await
        .unwrap()
}

async fn get(app: &TestApp, project: i64, id: &Value) -> Value {
    body(
        app.get(&format!("/projects/{project}/tasks/{id}"))
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn a_task_is_claimable_only_when_every_dependency_is_done_or_archived() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (_, a) = app.create_task(project, json!({"title": "a"})).await;
    let (_, b) = app.create_task(project, json!({"title": "b"})).await;
    let (status, c) = app
        .create_task(
            project,
            json!({"title": "c", "priority_score": 100, "depends_on": [a["id"], b["id"]]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(c["depends_on"], json!([a["id"], b["id"]]));
    assert_eq!(c["blocked_by"], 2);

    let first = claim(&app, project, "w").await.unwrap();
    assert_eq!(first["title"], "a", "c outranks a but waits for it");
    patch(&app, project, &a["id"], json!({"status": "done"})).await;
    assert_eq!(get(&app, project, &c["id"]).await["blocked_by"], 1);
    patch(&app, project, &b["id"], json!({"status": "archived"})).await;
    let unblocked = get(&app, project, &c["id"]).await;
    assert_eq!(unblocked["blocked_by"], 0);
    assert_eq!(
        unblocked["version"], 3,
        "each recount is a change of the task"
    );
    assert_eq!(claim(&app, project, "w").await.unwrap()["title"], "c");

    // Reopening a dependency blocks its dependents again.
    patch(&app, project, &a["id"], json!({"status": "open"})).await;
    assert_eq!(get(&app, project, &c["id"]).await["blocked_by"], 1);
}

#[tokio::test]
async fn a_dependency_on_an_unknown_task_is_a_409_naming_the_field() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let other = app.create_project("q").await;
    let (_, elsewhere) = app.create_task(other, json!({"title": "x"})).await;
    let (status, problem) = app
        .create_task(
            project,
            json!({"title": "t", "depends_on": [elsewhere["id"]]}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("reference_not_found"))
    );
    assert_eq!(pointers(&problem), ["/depends_on"]);

    let (status, problem) = app
        .bulk(
            project,
            json!([{"title": "a"}, {"title": "b", "depends_on_external_ids": ["nowhere"]}]),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(pointers(&problem), ["/tasks/1/depends_on_external_ids"]);
    assert_eq!(app.task_count(project).await, 0, "nothing half-written");

    let (_, t) = app.create_task(project, json!({"title": "t"})).await;
    let response = patch(
        &app,
        project,
        &t["id"],
        json!({"depends_on": [elsewhere["id"]]}),
    )
    .await;
    let problem = assert_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(pointers(&problem), ["/depends_on"]);
}

#[tokio::test]
async fn a_bulk_plan_depends_on_its_own_items_by_external_id_and_replays_unchanged() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (_, stored) = app
        .create_task(
            project,
            json!({"title": "s", "external_id": "wf-1:0", "status": "done"}),
        )
        .await;
    let plan = json!([
        {"title": "build", "external_id": "wf-2:1", "depends_on_external_ids": ["wf-1:0"]},
        {"title": "test", "external_id": "wf-2:2", "depends_on_external_ids": ["wf-2:1"]},
        {"title": "ship", "external_id": "wf-2:3", "depends_on_external_ids": ["wf-2:2", "wf-2:1"]},
    ]);
    let (status, result) = app.bulk(project, plan.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let created = result["created"].as_array().unwrap();
    let ids: Vec<Value> = created.iter().map(|t| t["id"].clone()).collect();
    assert_eq!(created[0]["depends_on"], json!([stored["id"]]));
    assert_eq!(created[0]["blocked_by"], 0);
    assert_eq!(created[1]["depends_on"], json!([ids[0]]));
    assert_eq!(created[2]["depends_on"], json!([ids[1], ids[0]]));
    assert_eq!(created[2]["blocked_by"], 2);
    for task in created {
        assert_eq!(get(&app, project, &task["id"]).await, *task);
    }

    let (status, replay) = app.bulk(project, plan).await;
    assert_eq!(status, StatusCode::OK);
    let skipped: Vec<Value> = replay["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["task"].clone())
        .collect();
    assert_eq!(&skipped, created);
}

#[tokio::test]
async fn a_plan_whose_items_wait_for_each_other_in_a_loop_is_refused_whole() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (status, problem) = app
        .bulk(
            project,
            json!([
                {"title": "a", "external_id": "a", "depends_on_external_ids": ["c"]},
                {"title": "b", "external_id": "b", "depends_on_external_ids": ["a"]},
                {"title": "c", "external_id": "c", "depends_on_external_ids": ["b"]},
            ]),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    assert!(problem["detail"].as_str().unwrap().contains("/tasks/"));
    assert_eq!(app.task_count(project).await, 0);
}

#[tokio::test]
async fn a_patch_that_would_close_a_dependency_cycle_is_refused() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (_, a) = app.create_task(project, json!({"title": "a"})).await;
    let (_, b) = app
        .create_task(project, json!({"title": "b", "depends_on": [a["id"]]}))
        .await;
    let (_, c) = app
        .create_task(project, json!({"title": "c", "depends_on": [b["id"]]}))
        .await;
    for (task, depends_on) in [(&a, &c), (&a, &a)] {
        let response = patch(
            &app,
            project,
            &task["id"],
            json!({"depends_on": [depends_on["id"]]}),
        )
        .await;
        let problem = assert_problem(response, StatusCode::CONFLICT).await;
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .starts_with("depends_on would make")
        );
    }
    assert_eq!(get(&app, project, &a["id"]).await["depends_on"], json!([]));
    let response = patch(&app, project, &c["id"], json!({"depends_on": [a["id"]]})).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a dependency that closes no cycle"
    );
    assert_eq!(body(response).await["blocked_by"], 1);
}

/// Pairs of PATCHes, each harmless alone, that close a cycle together: exactly one of each
/// pair may win, for dependencies and for parents alike.
#[tokio::test]
async fn two_concurrent_patches_never_close_a_cycle_together() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    for field in ["depends_on", "parent_task_id"] {
        let mut races = Vec::new();
        for _ in 0..12 {
            let (_, a) = app.create_task(project, json!({"title": "a"})).await;
            let (_, b) = app.create_task(project, json!({"title": "b"})).await;
            let value = |id: &Value| {
                if field == "depends_on" {
                    json!([id])
                } else {
                    id.clone()
                }
            };
            let (first, second) = (
                json!({ field: value(&b["id"]) }),
                json!({ field: value(&a["id"]) }),
            );
            let app = &app;
            races.push(async move {
                let (one, other) = tokio::join!(
                    patch(app, project, &a["id"], first),
                    patch(app, project, &b["id"], second)
                );
                (one.status(), other.status())
            });
        }
        for (one, other) in futures_util::future::join_all(races).await {
            let mut statuses = [one, other];
            statuses.sort();
            assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT], "{field}");
        }
    }
}

#[tokio::test]
async fn a_deleted_dependency_leaves_its_dependents_unblocked() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (_, a) = app.create_task(project, json!({"title": "a"})).await;
    let (_, b) = app
        .create_task(project, json!({"title": "b", "depends_on": [a["id"]]}))
        .await;
    let response = app
        .delete(&format!("/projects/{project}/tasks/{}", a["id"]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let after = get(&app, project, &b["id"]).await;
    assert_eq!(
        (after["depends_on"].clone(), after["blocked_by"].clone()),
        (json!([]), json!(0))
    );
}

/// Eight agents work a chain of 50 tasks (each waits for the one before; later ones rank
/// higher, to tempt them): the chain is worked strictly in order.
#[tokio::test]
async fn a_chain_of_fifty_is_worked_strictly_in_order_by_eight_agents() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let chain: Vec<Value> = (0..50)
        .map(|i| {
            let waits: Vec<String> = if i == 0 {
                vec![]
            } else {
                vec![format!("step-{}", i - 1)]
            };
            json!({"title": format!("{i}"), "external_id": format!("step-{i}"),
                   "priority_score": i, "depends_on_external_ids": waits})
        })
        .collect();
    let (status, _) = app.bulk(project, json!(chain)).await;
    assert_eq!(status, StatusCode::CREATED);
    let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut agents = Vec::new();
    for agent in 0..8 {
        let (client, key, base) = (app.client.clone(), app.api_key.clone(), app.address.clone());
        let order = order.clone();
        agents.push(tokio::spawn(async move {
            let worker = format!("agent-{agent}");
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while order.lock().unwrap().len() < 50 && tokio::time::Instant::now() < deadline {
                let response = client
                    .post(format!("{base}/projects/{project}/tasks:claim"))
                    .bearer_auth(&key)
                    .json(&json!({"worker_id": worker}))
                    .send()
                    .await
                    .unwrap();
                if response.status() == StatusCode::NO_CONTENT {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                let task = body(response).await;
                order
                    .lock()
                    .unwrap()
                    .push(task["title"].as_str().unwrap().parse::<i64>().unwrap());
                let done = client
                    .patch(format!("{base}/projects/{project}/tasks/{}", task["id"]))
                    .bearer_auth(&key)
                    .json(&json!({"status": "done", "worker_id": worker}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(done.status(), StatusCode::OK);
            }
        }));
    }
    for agent in agents {
        agent.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), (0..50).collect::<Vec<i64>>());
    assert!(claim(&app, project, "late").await.is_none());
}

/// Creates that depend on tasks, status changes of those tasks and deletes, all at once from
/// many connections: afterwards every `blocked_by` equals a recount, and no `depends_on`
/// names a deleted task.
#[tokio::test]
async fn blocked_by_stays_exact_under_concurrent_creates_status_changes_and_deletes() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let base: Vec<Value> = (0..16)
        .map(|i| json!({"title": format!("base {i}")}))
        .collect();
    let (_, created) = app.bulk(project, json!(base)).await;
    let ids: Vec<i64> = created["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    let mut seed = 7u64;
    let mut next = move |n: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize % n
    };
    let mut writes = Vec::new();
    for i in 0..90 {
        let app = &app;
        let (a, b, op) = (ids[next(16)], ids[next(16)], next(9));
        writes.push(async move {
            let status = match op {
                0..=3 => app
                    .create_task(project, json!({"title": format!("d{i}"), "depends_on": [a, b]}))
                    .await
                    .0,
                4..=6 => patch(app, project, &json!(a), json!({"status": (["done", "open", "archived"][op - 4])}))
                    .await
                    .status(),
                7 => app
                    .bulk(project, json!([{"title": "x", "external_id": format!("x{i}"), "depends_on": [a]},
                                          {"title": "y", "depends_on_external_ids": [format!("x{i}")], "depends_on": [b]}]))
                    .await
                    .0,
                _ => app
                    .delete(&format!("/projects/{project}/tasks/{a}"))
                    .send()
                    .await
                    .unwrap()
                    .status(),
            };
            assert!(!status.is_server_error(), "{status}");
        });
    }
    futures_util::future::join_all(writes).await;
    let drift: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tasks t
         WHERE t.project_id = $1
           AND (t.blocked_by <> (SELECT count(*) FROM tasks d WHERE d.project_id = t.project_id
                                   AND d.id = ANY(t.depends_on) AND d.status NOT IN ('done', 'archived'))
                OR cardinality(t.depends_on) <> (SELECT count(*) FROM tasks d
                                                 WHERE d.project_id = t.project_id AND d.id = ANY(t.depends_on)))",
    )
    .bind(project)
    .fetch_one(&mut *app.pool.acquire().await.unwrap())
    .await
    .unwrap();
    assert_eq!(drift, 0);
}
