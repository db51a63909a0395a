//! Tasks name a run of their own project (409 otherwise), the task list filters by run, and
//! deleting a run keeps its tasks.

use serde_json::{Value, json};

use super::{BAD, CONFLICT, CREATED, GONE, OK, create_run, expect, refused};
use crate::helpers::{pointers, spawn_app};

#[tokio::test]
async fn tasks_name_a_run_of_their_project_and_the_task_list_filters_by_it() {
    let app = spawn_app().await;
    let (p1, p2) = (app.create_project("1").await, app.create_project("2").await);
    let run = create_run(&app, p1, json!({"workflow_type": "w"})).await.1["id"].clone();
    let foreign = create_run(&app, p2, json!({"workflow_type": "w"})).await.1["id"].clone();
    for bad in [&foreign, &json!(424242)] {
        let task = json!({"title": "T", "run_id": bad});
        let (status, problem) = app.create_task(p1, task).await;
        assert_eq!(status, CONFLICT);
        assert_eq!(problem["code"], "reference_not_found");
        assert_eq!(pointers(&problem), ["/run_id"]);
    }
    let items = json!([{"title": "ok", "run_id": run}, {"title": "bad", "run_id": foreign}]);
    let (status, problem) = app.bulk(p1, items).await;
    assert_eq!(status, CONFLICT);
    assert_eq!(pointers(&problem), ["/tasks/1/run_id"]);
    let zero = json!({"title": "T", "run_id": 0});
    let (status, problem) = app.create_task(p1, zero).await;
    assert_eq!((status, pointers(&problem)), (BAD, vec!["/run_id".into()]));
    assert_eq!(app.task_count(p1).await, 0);

    let of_run = json!({"title": "T", "run_id": run});
    let (status, task) = app.create_task(p1, of_run).await;
    assert_eq!((status, &task["run_id"]), (CREATED, &run));
    let (_, other) = app.create_task(p1, json!({"title": "no run"})).await;
    assert_eq!(other["run_id"], Value::Null);
    let filtered = format!("/projects/{p1}/tasks?run_id={run}");
    assert_eq!(expect(app.get(&filtered), OK).await["data"], json!([task]));

    let other_path = format!("/projects/{p1}/tasks/{}", other["id"]);
    let patch = |run_id: &Value| app.patch(&other_path, &json!({ "run_id": run_id }));
    assert_eq!(refused(patch(&foreign), CONFLICT).await, ["/run_id"]);
    assert_eq!(expect(patch(&run), OK).await["run_id"], run);
    assert_eq!(expect(patch(&Value::Null), OK).await["run_id"], Value::Null);

    // Deleting the run keeps its tasks, without run_id.
    expect(app.delete(&format!("/projects/{p1}/runs/{run}")), GONE).await;
    let kept = format!("/projects/{p1}/tasks/{}", task["id"]);
    assert_eq!(expect(app.get(&kept), OK).await["run_id"], Value::Null);
}
