use crate::helpers::{body, spawn_app};

/// The committed spec is what the code generates. Regenerate with
/// `cargo run -- openapi > openapi/openapi.json`.
#[test]
fn the_committed_openapi_document_matches_the_code() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .expect("openapi/openapi.json is committed");
    let generated = taskdash::openapi::spec_json();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: run `cargo run -- openapi > openapi/openapi.json`"
    );
}

#[tokio::test]
async fn the_served_spec_is_the_generated_one_with_every_route_secured() {
    let app = spawn_app().await;
    let served = body(
        app.client
            .get(app.url("/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let generated: serde_json::Value =
        serde_json::from_str(&taskdash::openapi::spec_json()).unwrap();
    assert_eq!(served, generated);
    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(
        served["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // Security is declared once for the API; only the health checks and the pages of problem
    // types opt out.
    assert_eq!(served["security"], serde_json::json!([{"bearer": []}]));
    for (path, item) in served["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let public = path.starts_with("/health") || path.starts_with("/problems/");
            let expected = if public {
                serde_json::json!([{}])
            } else {
                serde_json::Value::Null
            };
            assert_eq!(operation["security"], expected, "{method} {path}");
            if !public {
                assert!(
                    operation["responses"]["401"].is_object(),
                    "{method} {path} lists 401"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_served_spec_states_the_bulk_limit_the_server_enforces() {
    let mut settings = crate::helpers::serve_settings();
    settings.max_bulk_tasks = 7;
    let app = crate::helpers::spawn_app_with(settings).await;
    let served = body(
        app.client
            .get(app.url("/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        served["components"]["schemas"]["BulkInput"]["properties"]["tasks"]["maxItems"],
        7
    );
    let tasks: Vec<_> = (0..8)
        .map(|i| serde_json::json!({"title": format!("t{i}")}))
        .collect();
    let project = app.create_project("limits").await;
    let (status, _) = app.bulk(project, serde_json::json!(tasks)).await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST);
}
