//! Browsers on allowed origins may send `If-None-Match` and read the `ETag`, on a 304 too.

use reqwest::{Method, StatusCode};

use super::{assert_not_modified, etag};
use crate::helpers::{serve_settings, spawn_app_with};

#[tokio::test]
async fn browsers_on_allowed_origins_may_send_if_none_match_and_read_the_etag() {
    let mut settings = serve_settings();
    settings.cors_allowed_origins = vec!["https://dash.example.com".into()];
    let app = spawn_app_with(settings).await;
    let project = app.create_project("p").await;
    let path = format!("/projects/{project}/summary");

    let preflight = app
        .client
        .request(Method::OPTIONS, app.url(&path))
        .header("origin", "https://dash.example.com")
        .header("access-control-request-method", "GET")
        .header(
            "access-control-request-headers",
            "authorization, if-none-match",
        )
        .send()
        .await
        .unwrap();
    let status = preflight.status();
    let headers = preflight.headers().clone();
    assert!(
        status.is_success(),
        "preflight answered {status}: {}",
        preflight.text().await.unwrap()
    );
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://dash.example.com"
    );
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(allowed.contains("if-none-match"), "{allowed}");

    let response = app
        .get(&path)
        .header("origin", "https://dash.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(exposed.contains("etag"), "{exposed}");

    // The 304 is readable by the page too.
    let tag = etag(&response);
    let response = app
        .get(&path)
        .header("origin", "https://dash.example.com")
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://dash.example.com"
    );
    assert_not_modified(response, &tag).await;
}
