//! A project holding one of every resource, and the spec's operations with their paths filled
//! in: for tests that must cover every route, including routes added later.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// One of everything, in one project (its artifacts are of kind `plan`).
pub struct Populated {
    pub project: i64,
    pub milestone: i64,
    pub task: i64,
    pub run: i64,
    pub repository: i64,
}

impl Populated {
    pub async fn create(app: &TestApp) -> Self {
        let project = app.create_project("everything").await;
        let created = |path: String, body: Value| {
            let request = app.post(&path, &body);
            async move {
                let response = request.send().await.unwrap();
                assert_eq!(response.status(), StatusCode::CREATED, "POST {path}");
                crate::helpers::body(response).await["id"].as_i64().unwrap()
            }
        };
        let p = format!("/projects/{project}");
        let milestone = created(format!("{p}/milestones"), json!({"name": "M", "slug": "m"})).await;
        let task = created(format!("{p}/tasks"), json!({"title": "T"})).await;
        let run = created(format!("{p}/runs"), json!({"workflow_type": "w"})).await;
        let repository = created(
            format!("{p}/repositories"),
            json!({"url": "https://h.io/a/b"}),
        )
        .await;
        let events = json!({"events": [{"event_id": "e1", "event_type": "t"}]});
        let response = app
            .post(&format!("{p}/runs/{run}/events"), &events)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        for path in [
            format!("{p}/artifacts/plan"),
            format!("{p}/tasks/{task}/artifacts/plan"),
        ] {
            let response = app
                .client
                .put(app.url(&path))
                .bearer_auth(&app.api_key)
                .header("content-type", "text/plain")
                .body("the plan")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED, "PUT {path}");
        }
        Self {
            project,
            milestone,
            task,
            run,
            repository,
        }
    }

    /// A path of the spec (`/projects/{project_id}/tasks/{task_id}`) naming these resources.
    pub fn path(&self, template: &str) -> String {
        let mut path = template.to_owned();
        for (name, value) in [
            ("project_id", self.project.to_string()),
            ("milestone_id", self.milestone.to_string()),
            ("task_id", self.task.to_string()),
            ("run_id", self.run.to_string()),
            ("repository_id", self.repository.to_string()),
            ("kind", "plan".to_owned()),
        ] {
            path = path.replace(&format!("{{{name}}}"), &value);
        }
        assert!(
            !path.contains('{'),
            "a path parameter of {template} is unknown here"
        );
        path
    }
}

impl Populated {
    /// The path of something that does not exist: the resource the template names is missing
    /// from this project, or, for the project's own routes, the project is.
    pub fn missing(&self, template: &str) -> String {
        let within = template
            .replace("{milestone_id}", "999999")
            .replace("{task_id}", "999999")
            .replace("{run_id}", "999999")
            .replace("{repository_id}", "999999")
            .replace("{kind}", "absent");
        if within != template {
            self.path(&within)
        } else {
            self.path(&template.replace("{project_id}", "999999"))
        }
    }
}

/// One operation of the spec.
pub struct Operation {
    pub method: Method,
    /// The path template, as in the spec.
    pub template: String,
    pub spec: Value,
}

impl Operation {
    /// Whether the operation declares this parameter (a header, query or path parameter).
    pub fn has_parameter(&self, name: &str) -> bool {
        self.spec["parameters"]
            .as_array()
            .is_some_and(|parameters| parameters.iter().any(|p| p["name"] == name))
    }

    pub fn id(&self) -> &str {
        self.spec["operationId"].as_str().unwrap()
    }
}

/// Every operation of the committed spec.
pub fn operations() -> Vec<Operation> {
    let spec: Value = serde_json::from_str(&taskdash::openapi::spec_json()).unwrap();
    let mut operations = Vec::new();
    for (template, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations.push(Operation {
                method: method.to_uppercase().parse().unwrap(),
                template: template.clone(),
                spec: operation.clone(),
            });
        }
    }
    operations
}

/// The current `ETag` of a GET.
pub async fn etag_of(app: &TestApp, path: &str) -> String {
    let response = app.get(path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    response.text().await.unwrap();
    etag
}
