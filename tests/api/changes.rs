//! The change log read page by page: what every write appends (cascades included), in what
//! order, with what data; paging.

use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, body, kinds, position, spawn_app};

pub async fn answer(request: RequestBuilder, status: StatusCode) -> Value {
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), status);
    body(response).await
}

pub async fn get(app: &TestApp, path: &str) -> Value {
    answer(app.get(path), StatusCode::OK).await
}

pub fn assert_in_cursor_order(changes: &[Value]) {
    for pair in changes.windows(2) {
        assert!(
            position(&pair[0]["id"]) < position(&pair[1]["id"]),
            "{pair:?}"
        );
    }
}

#[tokio::test]
async fn every_write_appends_one_change_per_row_in_commit_order_with_data_as_get_returns_it() {
    let app = spawn_app().await;
    // (type, resource id, data) of every change the writes below must append, in order.
    let mut expected: Vec<(&str, i64, Value)> = Vec::new();
    let project = app.create_project("p").await;
    let p = format!("/projects/{project}");
    expected.push(("project.created", project, get(&app, &p).await));
    answer(app.patch(&p, &json!({"name": "renamed"})), StatusCode::OK).await;
    expected.push(("project.updated", project, get(&app, &p).await));

    let milestones = format!("{p}/milestones");
    let body_m1 = json!({"name": "m1", "slug": "m1"});
    let m1 = answer(app.post(&milestones, &body_m1), StatusCode::CREATED).await["id"]
        .as_i64()
        .unwrap();
    expected.push((
        "milestone.created",
        m1,
        get(&app, &format!("{milestones}/{m1}")).await,
    ));
    let patch = json!({"description": "first"});
    answer(
        app.patch(&format!("{milestones}/{m1}"), &patch),
        StatusCode::OK,
    )
    .await;
    expected.push((
        "milestone.updated",
        m1,
        get(&app, &format!("{milestones}/{m1}")).await,
    ));

    let input = json!({"title": "t1", "external_id": "wf:1", "milestone_id": m1});
    let (status, t1) = app.create_task(project, input.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let t1 = t1["id"].as_i64().unwrap();
    let t1_path = format!("{p}/tasks/{t1}");
    let t1_created = get(&app, &t1_path).await;
    assert_eq!(t1_created["version"], 1);
    expected.push(("task.created", t1, t1_created));
    // A replayed create answers the stored task and appends nothing.
    assert_eq!(app.create_task(project, input).await.0, StatusCode::OK);

    // A bulk appends one change per task created, in id order; its duplicate appends nothing.
    let (status, bulk) = app
        .bulk(
            project,
            json!([{"title": "b0", "milestone_id": m1, "status": "blocked"}, {"title": "dup", "external_id": "wf:1"}, {"title": "b1"},
                   {"title": "b2"}]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let created = bulk["created"].as_array().unwrap();
    assert_eq!(created.len(), 3);
    for task in created {
        expected.push(("task.created", task["id"].as_i64().unwrap(), task.clone()));
    }

    answer(
        app.patch(&t1_path, &json!({"status": "done"})),
        StatusCode::OK,
    )
    .await;
    let t1_done = get(&app, &t1_path).await;
    assert_eq!(t1_done["version"], 2);
    expected.push(("task.updated", t1, t1_done));
    // A milestone's data carries its task counts as its GET does (one done, one blocked now).
    let m1_path = format!("{milestones}/{m1}");
    answer(
        app.patch(&m1_path, &json!({"name": "m1 again"})),
        StatusCode::OK,
    )
    .await;
    let m1_now = get(&app, &m1_path).await;
    assert_eq!(m1_now["task_counts"]["total"], 2);
    expected.push(("milestone.updated", m1, m1_now));
    // A refused PATCH (stale If-Match) and a DELETE of nothing append nothing.
    let stale = app
        .patch(&t1_path, &json!({"title": "lost"}))
        .header("if-match", "\"1\"");
    answer(stale, StatusCode::PRECONDITION_FAILED).await;
    let b1 = created[1]["id"].as_i64().unwrap();
    answer(
        app.delete(&format!("{p}/tasks/{b1}")),
        StatusCode::NO_CONTENT,
    )
    .await;
    expected.push(("task.deleted", b1, Value::Null));
    answer(
        app.delete(&format!("{p}/tasks/{b1}")),
        StatusCode::NOT_FOUND,
    )
    .await;

    let body_m2 = json!({"name": "m2", "slug": "m2"});
    let m2 = answer(app.post(&milestones, &body_m2), StatusCode::CREATED).await["id"]
        .as_i64()
        .unwrap();
    expected.push((
        "milestone.created",
        m2,
        get(&app, &format!("{milestones}/{m2}")).await,
    ));
    answer(
        app.delete(&format!("{milestones}/{m2}")),
        StatusCode::NO_CONTENT,
    )
    .await;
    expected.push(("milestone.deleted", m2, Value::Null));

    let (changes, _) = app.settled_changes("/changes", None).await;
    let found: Vec<(&str, i64, &Value)> = changes
        .iter()
        .map(|c| {
            assert_eq!(c["project_id"], project, "{c}");
            assert!(c["at"].as_str().unwrap().ends_with('Z'), "{c}");
            let fields: Vec<&str> = c.as_object().unwrap().keys().map(|k| k.as_str()).collect();
            assert_eq!(fields.len(), 6, "{c}");
            (
                c["type"].as_str().unwrap(),
                c["resource_id"].as_i64().unwrap(),
                &c["data"],
            )
        })
        .collect();
    let expected: Vec<(&str, i64, &Value)> = expected
        .iter()
        .map(|(t, id, data)| (*t, *id, data))
        .collect();
    assert_eq!(found, expected);
    assert_in_cursor_order(&changes);
    // The project's own feed is the same (it is the tenant's only project).
    assert_eq!(app.changes(&format!("{p}/changes"), None).await.0, changes);
}

#[tokio::test]
async fn deleting_a_milestone_logs_its_deletion_then_each_of_its_tasks_moved_out() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let milestones = format!("/projects/{project}/milestones");
    let body_m = json!({"name": "m", "slug": "m"});
    let m = answer(app.post(&milestones, &body_m), StatusCode::CREATED).await["id"]
        .as_i64()
        .unwrap();
    let mut tasks = Vec::new();
    for (title, milestone) in [("a", Some(m)), ("free", None), ("b", Some(m))] {
        let (_, task) = app
            .create_task(project, json!({"title": title, "milestone_id": milestone}))
            .await;
        tasks.push(task["id"].as_i64().unwrap());
    }
    let (_, cursor) = app.settled_changes("/changes", None).await;

    answer(
        app.delete(&format!("{milestones}/{m}")),
        StatusCode::NO_CONTENT,
    )
    .await;

    let (changes, _) = app.settled_changes("/changes", Some(&cursor)).await;
    // The deletion, then its cascade (as for a project): the tasks it moved out, in id order.
    let expected = [
        ("milestone.deleted".to_owned(), m),
        ("task.updated".to_owned(), tasks[0]),
        ("task.updated".to_owned(), tasks[2]),
    ];
    assert_eq!(kinds(&changes), expected);
    assert_eq!(changes[0]["data"], Value::Null);
    for (change, task) in changes[1..].iter().zip([tasks[0], tasks[2]]) {
        let now = get(&app, &format!("/projects/{project}/tasks/{task}")).await;
        assert_eq!(now["milestone_id"], Value::Null);
        assert_eq!(change["data"], now);
    }
    assert_in_cursor_order(&changes);
}

#[tokio::test]
async fn deleting_a_project_logs_its_deletion_first_then_its_milestones_and_tasks_deletions() {
    let app = spawn_app().await;
    let project = app.create_project("doomed").await;
    let other = app.create_project("kept").await;
    let milestones = format!("/projects/{project}/milestones");
    let body_m = json!({"name": "m", "slug": "m"});
    let m = answer(app.post(&milestones, &body_m), StatusCode::CREATED).await["id"]
        .as_i64()
        .unwrap();
    let a = app
        .create_task(project, json!({"title": "a", "milestone_id": m}))
        .await
        .1["id"]
        .as_i64()
        .unwrap();
    let b = app.create_task(project, json!({"title": "b"})).await.1["id"]
        .as_i64()
        .unwrap();
    app.create_task(other, json!({"title": "untouched"})).await;
    let (before, cursor) = app.settled_changes("/changes", None).await;

    answer(
        app.delete(&format!("/projects/{project}")),
        StatusCode::NO_CONTENT,
    )
    .await;

    let (changes, _) = app.settled_changes("/changes", Some(&cursor)).await;
    let mut found = kinds(&changes);
    assert_eq!(found[0], ("project.deleted".to_owned(), project));
    found[1..].sort();
    let expected = [
        ("project.deleted".to_owned(), project),
        ("milestone.deleted".to_owned(), m),
        ("task.deleted".to_owned(), a),
        ("task.deleted".to_owned(), b),
    ];
    assert_eq!(found, expected, "{changes:#?}");
    assert!(changes.iter().all(|c| c["project_id"] == project));
    assert!(changes.iter().all(|c| c["data"].is_null()));
    assert_in_cursor_order(&changes);

    // The deleted project's own feed stays readable: its whole history, deletion included.
    answer(
        app.get(&format!("/projects/{project}")),
        StatusCode::NOT_FOUND,
    )
    .await;
    let (history, _) = app
        .changes(&format!("/projects/{project}/changes"), None)
        .await;
    let mut whole: Vec<Value> = before
        .into_iter()
        .filter(|c| c["project_id"] == project)
        .collect();
    whole.extend(changes);
    assert_eq!(history, whole);
    // A project that never existed has no feed.
    let never = format!("/projects/{}/changes", other + 1000);
    assert_problem(app.get(&never).send().await.unwrap(), StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn pages_chain_through_next_cursor_each_change_exactly_once_and_an_idle_cursor_keeps_working()
{
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let tasks: Vec<Value> = (0..6).map(|i| json!({"title": format!("t{i}")})).collect();
    app.bulk(project, json!(tasks)).await;
    let (all, _) = app.settled_changes("/changes", None).await;
    assert_eq!(all.len(), 7);

    let mut paged = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(after) => format!("/changes?limit=3&after={after}"),
            None => "/changes?limit=3".to_owned(),
        };
        let mut page = answer(app.get(&url), StatusCode::OK).await;
        let data: Vec<Value> = serde_json::from_value(page["data"].take()).unwrap();
        let next = page["next_cursor"].as_str().unwrap().to_owned();
        sizes.push(data.len());
        if data.is_empty() {
            // Nothing new: the same cursor, or one after it, reusable.
            let (again, next_again) = app.changes("/changes", Some(&next)).await;
            assert!(again.is_empty());
            let (still, _) = app.changes("/changes", Some(&next_again)).await;
            assert!(still.is_empty());
            cursor = Some(next_again);
            break;
        }
        paged.extend(data);
        cursor = Some(next);
    }
    assert_eq!(sizes, [3, 3, 1, 0]);
    assert_eq!(paged, all);

    // An idle poller's cursor then gets exactly what comes next.
    let (_, task) = app.create_task(project, json!({"title": "later"})).await;
    let (new, _) = app.settled_changes("/changes", cursor.as_deref()).await;
    assert_eq!(
        kinds(&new),
        [("task.created".to_owned(), task["id"].as_i64().unwrap())]
    );
}

#[tokio::test]
async fn a_task_changed_by_a_cascade_gets_a_new_version_and_tag() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let milestones = format!("/projects/{project}/milestones");
    let body_m = json!({"name": "m", "slug": "m"});
    let m = answer(app.post(&milestones, &body_m), StatusCode::CREATED).await["id"]
        .as_i64()
        .unwrap();
    let (_, task) = app
        .create_task(project, json!({"title": "a", "milestone_id": m}))
        .await;
    let path = format!("/projects/{project}/tasks/{}", task["id"]);
    let (_, cursor) = app.settled_changes("/changes", None).await;
    answer(
        app.delete(&format!("{milestones}/{m}")),
        StatusCode::NO_CONTENT,
    )
    .await;

    let (changes, _) = app.settled_changes("/changes", Some(&cursor)).await;
    assert_eq!(changes[1]["data"]["milestone_id"], Value::Null);
    assert_eq!(changes[1]["data"]["version"], 2, "{:#}", changes[1]);
    let stale = app.get(&path).header("if-none-match", "\"1\"");
    assert_eq!(stale.send().await.unwrap().status(), StatusCode::OK);
}
