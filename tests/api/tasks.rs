use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, body, pointers, serve_settings, spawn_app};

#[tokio::test]
async fn a_new_external_id_creates_the_task_with_201_location_and_etag() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let response = app
        .post(
            &format!("/projects/{project}/tasks"),
            &json!({"title": "Write docs", "external_id": "wf-1:create_tasks:0", "priority_score": 7,
                    "labels": ["docs", "docs", "backend"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(response.headers()["etag"], "\"1\"");
    assert!(response.headers().get("idempotent-replayed").is_none());
    let task = body(response).await;
    assert_eq!(
        location,
        format!("/projects/{project}/tasks/{}", task["id"])
    );
    assert_eq!(task["title"], "Write docs");
    assert_eq!(task["status"], "open");
    assert_eq!(task["priority_score"], 7);
    assert_eq!(task["labels"], json!(["docs", "backend"]));
    assert_eq!(task["completed_at"], Value::Null);

    let fetched = body(app.get(&location).send().await.unwrap()).await;
    assert_eq!(fetched, task);
}

#[tokio::test]
async fn a_repeated_external_id_returns_200_with_the_stored_task_unchanged() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (status, first) = app
        .create_task(
            project,
            json!({"title": "Original", "external_id": "wf-1:s:0"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let response = app
        .post(
            &format!("/projects/{project}/tasks"),
            &json!({"title": "Changed", "priority_score": 99, "external_id": "wf-1:s:0"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["idempotent-replayed"], "true");
    assert_eq!(body(response).await, first);
    assert_eq!(app.task_count(project).await, 1);
}

#[tokio::test]
async fn tasks_without_external_id_are_created_separately_every_time() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (s1, a) = app.create_task(project, json!({"title": "Same"})).await;
    let (s2, b) = app.create_task(project, json!({"title": "Same"})).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_ne!(a["id"], b["id"]);
    assert_eq!(app.task_count(project).await, 2);
}

#[tokio::test]
async fn different_external_ids_create_different_tasks() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (s1, a) = app
        .create_task(project, json!({"title": "A", "external_id": "wf-1:s:0"}))
        .await;
    let (s2, b) = app
        .create_task(project, json!({"title": "B", "external_id": "wf-1:s:1"}))
        .await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_ne!(a["id"], b["id"]);
}

#[tokio::test]
async fn the_same_external_id_may_exist_once_in_each_project() {
    let app = spawn_app().await;
    let (p1, p2) = (
        app.create_project("one").await,
        app.create_project("two").await,
    );
    let task = json!({"title": "T", "external_id": "wf-1:s:0"});
    let (s1, a) = app.create_task(p1, task.clone()).await;
    let (s2, b) = app.create_task(p2, task).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_ne!(a["id"], b["id"]);
    assert_eq!(b["project_id"], p2);
}

#[tokio::test]
async fn fifty_concurrent_creates_with_one_key_on_two_servers_give_one_201_and_49_200() {
    let app = spawn_app().await;
    let replica = app.start_server(&serve_settings());
    let project = app.create_project("p").await;
    let requests = (0..50).map(|i| {
        let base = if i % 2 == 0 { &app.address } else { &replica };
        app.client
            .post(format!("{base}/projects/{project}/tasks"))
            .bearer_auth(&app.api_key)
            .json(&json!({"title": format!("attempt {i}"), "external_id": "wf-race:s:0"}))
            .send()
    });
    let responses = futures_util::future::join_all(requests).await;
    let mut ids = Vec::new();
    let (mut created, mut replayed) = (0, 0);
    for response in responses {
        let response = response.unwrap();
        match response.status() {
            StatusCode::CREATED => created += 1,
            StatusCode::OK => replayed += 1,
            other => panic!("unexpected {other}: {}", response.text().await.unwrap()),
        }
        ids.push(body(response).await["id"].clone());
    }
    assert_eq!((created, replayed), (1, 49));
    ids.dedup();
    assert_eq!(ids.len(), 1, "every answer names the same task");
    assert_eq!(app.task_count(project).await, 1);
}

#[tokio::test]
async fn a_create_that_waited_on_an_uncommitted_duplicate_answers_200_with_the_winner() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    // The winner: inserted by another session, not yet committed when the request arrives.
    let mut winner = app.pool.acquire().await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "BEGIN; INSERT INTO tasks (project_id, title, external_id)
         VALUES ({project}, 'the winner', 'wf-race:s:1')"
    )))
    .execute(&mut *winner)
    .await
    .unwrap();
    let request = tokio::spawn(
        app.post(
            &format!("/projects/{project}/tasks"),
            &json!({"title": "the loser", "external_id": "wf-race:s:1"}),
        )
        .send(),
    );
    // The request's INSERT now waits on the winner's row; once it commits, the request's own
    // statement cannot see that row (its snapshot is older): only a second read finds it.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    sqlx::raw_sql("COMMIT").execute(&mut *winner).await.unwrap();
    let response = request.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await["title"], "the winner");
    assert_eq!(app.task_count(project).await, 1);
}

#[tokio::test]
async fn invalid_fields_are_400_with_a_pointer_each_and_nothing_is_written() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let cases = [
        (json!({}), "/title"),
        (json!({"title": ""}), "/title"),
        (json!({"title": "   "}), "/title"),
        (json!({"title": "x".repeat(501)}), "/title"),
        (json!({"title": "nul\u{0}byte"}), "/title"),
        (
            json!({"title": "ok", "priority_score": 10001}),
            "/priority_score",
        ),
        (
            json!({"title": "ok", "priority_score": -1}),
            "/priority_score",
        ),
        (
            json!({"title": "ok", "priority_score": "high"}),
            "/priority_score",
        ),
        (
            json!({"title": "ok", "priority_score": 1.5}),
            "/priority_score",
        ),
        (json!({"title": "ok", "status": "finished"}), "/status"),
        (json!({"title": "ok", "external_id": ""}), "/external_id"),
        (
            json!({"title": "ok", "external_id": "has space"}),
            "/external_id",
        ),
        (
            json!({"title": "ok", "external_id": "x".repeat(256)}),
            "/external_id",
        ),
        (json!({"title": "ok", "labels": [""]}), "/labels/0"),
        (json!({"title": "ok", "milestone_id": 0}), "/milestone_id"),
        (
            json!({"title": "ok", "milestone_id": u64::MAX}),
            "/milestone_id",
        ),
    ];
    for (input, pointer) in cases {
        let response = app
            .post(&format!("/projects/{project}/tasks"), &input)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(pointers(&problem), vec![pointer.to_owned()], "for {input}");
    }
    assert_eq!(app.task_count(project).await, 0);
}

#[tokio::test]
async fn unreadable_bodies_get_problem_json_4xx_never_5xx() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let url = app.url(&format!("/projects/{project}/tasks"));
    let send = |body: &'static str, content_type: &'static str| {
        app.client
            .post(&url)
            .bearer_auth(&app.api_key)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for (payload, content_type, status) in [
        ("{\"title\": ", "application/json", StatusCode::BAD_REQUEST),
        ("", "application/json", StatusCode::BAD_REQUEST),
        ("[1, 2]", "application/json", StatusCode::BAD_REQUEST),
        ("\"title\"", "application/json", StatusCode::BAD_REQUEST),
        (
            "{\"title\": \"a\"} trailing",
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "title=a",
            "application/x-www-form-urlencoded",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "{\"title\": \"a\"}",
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ] {
        assert_problem(send(payload, content_type).await.unwrap(), status).await;
    }
    for path in [
        "/projects/abc/tasks",
        "/projects/99999999999999999999/tasks",
    ] {
        let response = app.get(path).send().await.unwrap();
        assert_problem(response, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(app.task_count(project).await, 0);
}

#[tokio::test]
async fn creating_in_a_project_that_does_not_exist_is_404() {
    let app = spawn_app().await;
    for task in [
        json!({"title": "T"}),
        json!({"title": "T", "external_id": "k"}),
    ] {
        let response = app
            .post("/projects/4242/tasks", &task)
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::NOT_FOUND).await;
    }
}

#[tokio::test]
async fn a_milestone_or_parent_outside_the_project_is_a_409_naming_the_field() {
    let app = spawn_app().await;
    let (p1, p2) = (
        app.create_project("one").await,
        app.create_project("two").await,
    );
    let milestone = body(
        app.post(
            &format!("/projects/{p2}/milestones"),
            &json!({"name": "M", "slug": "m"}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    let (status, problem) = app
        .create_task(p1, json!({"title": "T", "milestone_id": milestone["id"]}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "reference_not_found");
    assert_eq!(pointers(&problem), vec!["/milestone_id"]);
    let (status, problem) = app
        .create_task(p1, json!({"title": "T", "parent_task_id": 424242}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(pointers(&problem), vec!["/parent_task_id"]);
    let (status, _) = app
        .create_task(p2, json!({"title": "T", "milestone_id": milestone["id"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn becoming_done_sets_completed_at_and_leaving_done_clears_it() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (_, task) = app.create_task(project, json!({"title": "T"})).await;
    let path = format!("/projects/{project}/tasks/{}", task["id"]);
    let done = body(
        app.patch(&path, &json!({"status": "done"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(done["completed_at"].is_string());
    let still_done = body(
        app.patch(&path, &json!({"title": "T2"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(still_done["completed_at"], done["completed_at"]);
    let reopened = body(
        app.patch(&path, &json!({"status": "open"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reopened["completed_at"], Value::Null);
    let (_, created_done) = app
        .create_task(project, json!({"title": "D", "status": "done"}))
        .await;
    assert!(created_done["completed_at"].is_string());
}

#[tokio::test]
async fn patch_changes_only_the_fields_sent_and_null_clears() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (_, task) = app
        .create_task(
            project,
            json!({"title": "T", "description": "d", "labels": ["a"]}),
        )
        .await;
    let path = format!("/projects/{project}/tasks/{}", task["id"]);
    let updated = body(
        app.patch(&path, &json!({"description": null, "priority_score": 5}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(updated["description"], Value::Null);
    assert_eq!(updated["priority_score"], 5);
    assert_eq!(updated["title"], "T");
    assert_eq!(updated["labels"], json!(["a"]));
    assert_eq!(updated["version"], 2);
    let response = app
        .patch(&path, &json!({"title": ""}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(pointers(&problem), vec!["/title"]);
}

#[tokio::test]
async fn expected_status_lets_exactly_one_worker_claim_a_task() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (_, task) = app.create_task(project, json!({"title": "T"})).await;
    let path = format!("/projects/{project}/tasks/{}", task["id"]);
    let claim = json!({"status": "in_progress", "expected_status": "open"});
    let claims =
        futures_util::future::join_all((0..10).map(|_| app.patch(&path, &claim).send())).await;
    let mut statuses: Vec<u16> = claims
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    statuses.sort();
    assert_eq!(statuses, [vec![200], vec![409; 9]].concat());
    let response = app.patch(&path, &claim).send().await.unwrap();
    let problem = assert_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(problem["code"], "status_mismatch");
}

#[tokio::test]
async fn a_stale_if_match_is_412_on_patch_and_delete_and_changes_nothing() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (_, task) = app.create_task(project, json!({"title": "T"})).await;
    let path = format!("/projects/{project}/tasks/{}", task["id"]);
    let etag = app.get(&path).send().await.unwrap().headers()["etag"].clone();

    // Dashboard A saves with the ETag it read: fine, and the ETag moves on.
    let response = app
        .patch(&path, &json!({"title": "A"}))
        .header("if-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"2\"");
    // Dashboard B saves with the same, now stale, ETag: refused, A's change survives.
    let response = app
        .patch(&path, &json!({"title": "B"}))
        .header("if-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::PRECONDITION_FAILED).await;
    let response = app
        .delete(&path)
        .header("if-match", etag)
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::PRECONDITION_FAILED).await;
    assert_eq!(
        body(app.get(&path).send().await.unwrap()).await["title"],
        "A"
    );

    let response = app
        .delete(&path)
        .header("if-match", "\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_problem(app.get(&path).send().await.unwrap(), StatusCode::NOT_FOUND).await;
    assert_problem(
        app.delete(&path).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn a_task_cannot_become_its_own_parent_or_ancestor() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let (_, root) = app.create_task(project, json!({"title": "root"})).await;
    let (status, child) = app
        .create_task(
            project,
            json!({"title": "child", "parent_task_id": root["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let root_path = format!("/projects/{project}/tasks/{}", root["id"]);
    for parent in [&root["id"], &child["id"]] {
        let response = app
            .patch(&root_path, &json!({"parent_task_id": parent}))
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, StatusCode::CONFLICT).await;
        assert!(problem["detail"].as_str().unwrap().contains("ancestor"));
    }
    // Deleting the parent keeps the child, detached.
    app.delete(&root_path).send().await.unwrap();
    let child_path = format!("/projects/{project}/tasks/{}", child["id"]);
    let child = body(app.get(&child_path).send().await.unwrap()).await;
    assert_eq!(child["parent_task_id"], Value::Null);
}
