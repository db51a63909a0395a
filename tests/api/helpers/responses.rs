//! Reading answers: a body as JSON, an RFC 9457 problem and the pointers it lists.

use reqwest::{Response, StatusCode};
use serde_json::Value;

pub async fn body(response: Response) -> Value {
    let text = response.text().await.unwrap();
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    }
}

/// Asserts an RFC 9457 answer with this status, returning the problem document.
pub async fn assert_problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "unexpected status");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let problem = body(response).await;
    assert_eq!(problem["status"], status.as_u16());
    // A relative reference to the page that describes the code (see tests/api/problems.rs).
    let code = problem["code"].as_str().unwrap();
    assert_eq!(problem["type"], format!("/problems/{code}"));
    assert!(problem["title"].is_string() && problem["detail"].is_string());
    problem
}

/// The JSON pointers listed in a validation problem.
pub fn pointers(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["pointer"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}
