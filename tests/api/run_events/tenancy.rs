//! Another tenant gets 404 on every run and event route and touches nothing of the owner's.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::spawn_app;
use crate::runs::{CREATED, MISSING, OK, create_run, expect, refused};

#[tokio::test]
async fn another_tenant_gets_404_on_every_run_and_event_route() {
    let app = spawn_app().await;
    let project = app.create_project("mine").await;
    let input = json!({"workflow_type": "w", "external_id": "k"});
    let (_, run) = create_run(&app, project, input).await;
    let run_path = format!("/projects/{project}/runs/{}", run["id"]);
    let events = format!("{run_path}/events");
    let event = json!({"event_id": "e", "event_type": "t"});
    expect(app.post(&events, &event), CREATED).await;
    let intruder = app.new_tenant_key("tenant-b").await;
    let payload = json!({"workflow_type": "w", "external_id": "k", "status": "failed",
                         "event_id": "e", "event_type": "t"});
    let batch = json!({ "events": [payload] });
    let runs = format!("/projects/{project}/runs");
    let routes = [
        (Method::POST, &runs, &payload),
        (Method::GET, &runs, &Value::Null),
        (Method::GET, &run_path, &Value::Null),
        (Method::PATCH, &run_path, &payload),
        (Method::DELETE, &run_path, &Value::Null),
        (Method::POST, &events, &payload),
        (Method::POST, &events, &batch),
        (Method::GET, &events, &Value::Null),
    ];
    for (method, path, payload) in routes {
        let request = app.client.request(method, app.url(path));
        let mut request = request.bearer_auth(&intruder);
        if !payload.is_null() {
            request = request.json(payload);
        }
        refused(request, MISSING).await;
    }
    // Nothing of the owner's was touched.
    assert_eq!(expect(app.get(&run_path), OK).await, run);
    let listed = expect(app.get(&events), OK).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
}
