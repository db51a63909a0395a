use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, body, pointers, spawn_app};

async fn list(app: &TestApp, project: i64, query: &str) -> Value {
    let response = app
        .get(&format!("/projects/{project}/tasks?{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    body(response).await
}

fn titles(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect()
}

async fn seed(app: &TestApp, project: i64) {
    let tasks = json!([
        {"title": "low", "priority_score": 1, "external_id": "wf-1:s:0", "labels": ["ui"]},
        {"title": "high", "priority_score": 900, "external_id": "wf-1:s:1", "status": "in_progress"},
        {"title": "mid-a", "priority_score": 50, "external_id": "wf-2:s:0", "labels": ["ui", "api"]},
        {"title": "mid-b", "priority_score": 50, "external_id": "wf-2:s:1", "status": "blocked"},
        {"title": "none", "priority_score": 0, "external_id": "wf_1:s:0"},
    ]);
    // One at a time, so created_at increases in this order.
    for task in tasks.as_array().unwrap() {
        app.create_task(project, task.clone()).await;
    }
}

#[tokio::test]
async fn the_default_order_is_the_work_queue() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    seed(&app, project).await;
    let page = list(&app, project, "").await;
    assert_eq!(titles(&page), ["high", "mid-a", "mid-b", "low", "none"]);
    assert_eq!(page["next_cursor"], Value::Null);
}

#[tokio::test]
async fn filters_narrow_the_list() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    seed(&app, project).await;
    let cases: [(&str, &[&str]); 9] = [
        ("status=in_progress", &["high"]),
        ("status=in_progress,blocked", &["high", "mid-b"]),
        ("label=ui", &["mid-a", "low"]),
        ("external_id=wf-2:s:1", &["mid-b"]),
        // `_` is literal in a prefix, not a LIKE wildcard.
        ("external_id_prefix=wf-1:", &["high", "low"]),
        ("external_id_prefix=wf_", &["none"]),
        ("priority_min=50&priority_max=100", &["mid-a", "mid-b"]),
        ("status=open&label=api", &["mid-a"]),
        ("milestone_id=12345", &[]),
    ];
    for (query, expected) in cases {
        assert_eq!(
            titles(&list(&app, project, query).await),
            expected,
            "{query}"
        );
    }
}

#[tokio::test]
async fn other_orders_sort_by_time_either_way() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    seed(&app, project).await;
    let created = ["low", "high", "mid-a", "mid-b", "none"];
    assert_eq!(
        titles(&list(&app, project, "sort=created_at").await),
        created
    );
    let mut newest_first = created.to_vec();
    newest_first.reverse();
    assert_eq!(
        titles(&list(&app, project, "sort=-created_at").await),
        newest_first
    );
    let page = list(&app, project, "status=blocked").await;
    let path = format!("/projects/{project}/tasks/{}", page["data"][0]["id"]);
    app.patch(&path, &json!({"status": "open"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        titles(&list(&app, project, "sort=-updated_at&limit=1").await),
        ["mid-b"]
    );
}

#[tokio::test]
async fn pages_walk_every_task_exactly_once_in_every_order() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    // Many ties on priority and created_at (one bulk shares one timestamp): the id breaks them.
    let tasks: Vec<Value> = (0..23)
        .map(|i| json!({"title": format!("t{i:02}"), "priority_score": (i % 3) * 10}))
        .collect();
    app.bulk(project, json!(tasks)).await;
    for sort in [
        "priority",
        "created_at",
        "-created_at",
        "updated_at",
        "-updated_at",
    ] {
        let everything = titles(&list(&app, project, &format!("sort={sort}&limit=1000")).await);
        let mut walked = Vec::new();
        let mut query = format!("sort={sort}&limit=5");
        let mut pages = 0;
        loop {
            let page = list(&app, project, &query).await;
            walked.extend(titles(&page));
            pages += 1;
            match page["next_cursor"].as_str() {
                Some(cursor) => query = format!("sort={sort}&limit=5&cursor={cursor}"),
                None => break,
            }
        }
        assert_eq!(pages, 5, "{sort}");
        assert_eq!(walked, everything, "{sort}");
        assert_eq!(walked.len(), 23);
    }
}

#[tokio::test]
async fn bad_paging_and_filter_parameters_are_400() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    seed(&app, project).await;
    let first = list(&app, project, "limit=2").await;
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let cases = [
        ("limit=0".to_owned(), "/query/limit"),
        ("limit=-1".to_owned(), "/query/limit"),
        ("limit=1001".to_owned(), "/query/limit"),
        ("limit=abc".to_owned(), "/query"),
        ("cursor=garbage".to_owned(), "/query/cursor"),
        (
            format!("cursor={}", &cursor[..cursor.len() - 4]),
            "/query/cursor",
        ),
        // A project cursor is not a task cursor.
        ("cursor=eyJrIjoiaWQiLCJpZCI6MX0".to_owned(), "/query/cursor"),
        ("status=finished".to_owned(), "/query/status"),
        ("sort=title".to_owned(), "/query"),
        ("priority_min=-5".to_owned(), "/query/priority_min"),
        (
            "external_id_prefix=has%20space".to_owned(),
            "/query/external_id_prefix",
        ),
    ];
    for (query, pointer) in cases {
        let response = app
            .get(&format!("/projects/{project}/tasks?{query}"))
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(pointers(&problem), vec![pointer.to_owned()], "{query}");
    }
}

#[tokio::test]
async fn listing_an_unknown_project_is_404_not_an_empty_page() {
    let app = spawn_app().await;
    let response = app.get("/projects/999/tasks").send().await.unwrap();
    assert_problem(response, StatusCode::NOT_FOUND).await;
    let project = app.create_project("empty").await;
    assert_eq!(list(&app, project, "").await["data"], json!([]));
}

/// Every page of `query`, followed by its cursors: the ids in the order served.
async fn walk(app: &TestApp, project: i64, query: &str, limit: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut next = format!("{query}&limit={limit}");
    loop {
        let page = list(app, project, &next).await;
        ids.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => next = format!("{query}&limit={limit}&cursor={cursor}"),
            None => return ids,
        }
    }
}

#[tokio::test]
async fn label_and_prefix_pages_are_exact_however_the_statement_finds_them() {
    // 11 000 tasks, so that each way of finding a narrow filter's page is taken: "all" fills a
    // page within the first 10 000 entries in order; "few" (110 tasks, spread) does not, and is
    // few enough to sort; "late" (1 050 tasks, all at the end of the queue) is neither, and
    // is walked to.
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    for chunk in 0..11 {
        let tasks: Vec<Value> = (chunk * 1000..(chunk + 1) * 1000)
            .map(|i| {
                let late = i < 1050;
                let mut labels = vec!["all"];
                labels.push(if late { "late" } else { "early" });
                if i % 100 == 0 {
                    labels.push("few");
                }
                json!({
                    "title": format!("t{i}"),
                    "priority_score": if late { 0 } else { 1 + i % 500 },
                    "labels": labels,
                    "external_id": if late { format!("late-{i}") } else { format!("run-{i}") },
                })
            })
            .collect();
        assert_eq!(app.bulk(project, json!(tasks)).await.0, StatusCode::CREATED);
    }
    let mut labels = std::collections::HashMap::new();
    let mut external_ids = std::collections::HashMap::new();
    let mut everything = Vec::new();
    for sort in ["priority", "-created_at"] {
        // The reference: the unfiltered list, then filtered here.
        let mut order = Vec::new();
        let mut next = format!("sort={sort}&limit=1000");
        loop {
            let page = list(&app, project, &next).await;
            for task in page["data"].as_array().unwrap() {
                let id = task["id"].as_i64().unwrap();
                order.push(id);
                labels.insert(id, task["labels"].clone());
                external_ids.insert(id, task["external_id"].as_str().unwrap().to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(cursor) => next = format!("sort={sort}&limit=1000&cursor={cursor}"),
                None => break,
            }
        }
        assert_eq!(order.len(), 11_000);
        everything.push((sort, order));
    }
    for (sort, order) in &everything {
        for label in ["few", "late", "all"] {
            let expected: Vec<i64> = order
                .iter()
                .copied()
                .filter(|id| labels[id].as_array().unwrap().contains(&json!(label)))
                .take(300)
                .collect();
            let served = walk(&app, project, &format!("sort={sort}&label={label}"), 100).await;
            let served: Vec<i64> = served.into_iter().take(300).collect();
            assert_eq!(served, expected, "label={label} sort={sort}");
        }
        for prefix in ["late-", "run-1"] {
            let expected: Vec<i64> = order
                .iter()
                .copied()
                .filter(|id| external_ids[id].starts_with(prefix))
                .collect();
            let query = format!("sort={sort}&external_id_prefix={prefix}");
            assert_eq!(walk(&app, project, &query, 1000).await, expected, "{query}");
        }
    }
}

/// A page reads its columns by position and checks their types once per page, not per value:
/// every column of a listed task, set or NULL, must read as the task's own GET reads it.
#[tokio::test]
async fn a_listed_task_carries_every_field_as_its_get_does_set_or_null() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let p = format!("/projects/{project}");
    let milestone = app.create_milestone(project, "m").await;
    let run = app.create_run(project).await;
    let (_, parent) = app.create_task(project, json!({"title": "parent"})).await;
    let (_, done) = app
        .create_task(project, json!({"title": "done", "status": "done"}))
        .await;
    let (_, full) = app
        .create_task(
            project,
            json!({"title": "every field", "description": "line one\nline \"two\"",
                   "priority_score": 9000, "external_id": "wf-1:s:0", "labels": ["ui", "api"],
                   "milestone_id": milestone, "parent_task_id": parent["id"], "run_id": run,
                   "depends_on": [done["id"]]}),
        )
        .await;
    let claim = app
        .post(
            &format!("{p}/tasks:claim"),
            &json!({"worker_id": "agent-1", "lease_secs": 60}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(body(claim).await["id"], full["id"]);
    let page = list(&app, project, "").await;
    let listed = page["data"].as_array().unwrap();
    assert_eq!(listed.len(), 3);
    for task in listed {
        let id = task["id"].as_i64().unwrap();
        let got = body(app.get(&format!("{p}/tasks/{id}")).send().await.unwrap()).await;
        assert_eq!(task, &got);
    }
    let first = &listed[0];
    assert_eq!(first["id"], full["id"]);
    let unset: Vec<&str> = first
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, value)| value.is_null())
        .map(|(field, _)| field.as_str())
        .collect();
    // All set but the one a claimed task cannot have; the done task carries that one.
    assert_eq!(unset, ["completed_at"]);
    assert!(listed.iter().any(|t| t["completed_at"].is_string()));
}
