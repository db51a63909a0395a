//! Invalid runs are 400 with a pointer each, and nothing is written.

use serde_json::json;

use super::{BAD, refused, run_count, run_with};
use crate::helpers::spawn_app;

#[tokio::test]
async fn invalid_runs_are_400_with_a_pointer_each_and_nothing_is_written() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let big = json!({"big": "x".repeat(64 * 1024)});
    let long = json!("x".repeat(201));
    let cases = [
        (json!({}), "/workflow_type"),
        (run_with("workflow_type", json!("   ")), "/workflow_type"),
        (run_with("workflow_type", json!("a\nb")), "/workflow_type"),
        (run_with("workflow_type", long), "/workflow_type"),
        (run_with("status", json!("done")), "/status"),
        (run_with("external_id", json!("a b")), "/external_id"),
        (run_with("source", json!("")), "/source"),
        (run_with("model_profile", json!(5)), "/model_profile"),
        (run_with("metadata", json!([])), "/metadata"),
        (run_with("metadata", big), "/metadata"),
        (run_with("metadata", json!({"k": "\u{0}"})), "/metadata"),
    ];
    let runs = format!("/projects/{project}/runs");
    for (input, pointer) in cases {
        let problems = refused(app.post(&runs, &input), BAD).await;
        assert_eq!(problems, [pointer], "{input}");
    }
    let both = json!({"workflow_type": "", "metadata": "x"});
    let problems = refused(app.post(&runs, &both), BAD).await;
    assert_eq!(problems, ["/workflow_type", "/metadata"]);
    assert_eq!(run_count(&app, project).await, 0);
}
