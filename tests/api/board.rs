//! The built-in board at `/board/`: static files embedded in the binary, served without a key,
//! under a strict Content-Security-Policy, revalidated by ETag, and kept out of the API spec.

use std::collections::BTreeSet;

use regex::Regex;
use reqwest::{Method, StatusCode, header};

use crate::helpers::{TestApp, assert_problem, body, spawn_app};

const DIRECTIVES: [&str; 9] = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
];

/// GET without a key, asserting a 200 under the board's policy; returns the content type and
/// the text.
async fn fetch(app: &TestApp, path: &str) -> (String, String) {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let headers = response.headers();
    let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    let directives: BTreeSet<&str> = policy.split(';').map(str::trim).collect();
    assert_eq!(directives, DIRECTIVES.into(), "{path}: {policy}");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY", "{path}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache", "{path}");
    assert!(headers.contains_key(header::ETAG), "{path}");
    let content_type = headers[header::CONTENT_TYPE].to_str().unwrap().to_owned();
    (content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn the_board_page_is_served_without_a_key_under_a_strict_content_security_policy() {
    let app = spawn_app().await;
    let (content_type, page) = fetch(&app, "/board/").await;
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(page.contains(r#"<script type="module" src="/board/app.js"></script>"#));
    // Nothing inline for the policy to refuse: no script body, no style element or attribute.
    assert!(!Regex::new(r"<script[^>]*>[^<]").unwrap().is_match(&page));
    assert!(!page.contains("<style") && !page.contains("style="));
}

#[tokio::test]
async fn every_file_the_page_and_its_modules_load_is_served_with_its_content_type() {
    let app = spawn_app().await;
    let named = Regex::new(r#"(?:"/board/|from '\./)([a-z]+\.([a-z]+))"#).unwrap();
    let mut to_visit = vec![("index.html".to_owned(), "html".to_owned())];
    let mut visited = BTreeSet::new();
    while let Some((file, extension)) = to_visit.pop() {
        if !visited.insert(file.clone()) {
            continue;
        }
        let path = if file == "index.html" {
            "/board/".to_owned()
        } else {
            format!("/board/{file}")
        };
        let (content_type, text) = fetch(&app, &path).await;
        let expected = match extension.as_str() {
            "html" => "text/html; charset=utf-8",
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "svg" => "image/svg+xml",
            other => panic!("{file}: no content type expected for .{other}"),
        };
        assert_eq!(content_type, expected, "{file}");
        for name in named.captures_iter(&text) {
            to_visit.push((name[1].to_owned(), name[2].to_owned()));
        }
    }
    for file in ["app.js", "board.css", "icon.svg", "project.js", "feed.js"] {
        assert!(visited.contains(file), "{file} is reached from the page");
    }
}

#[tokio::test]
async fn board_without_its_slash_redirects_to_the_page() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client.get(app.url("/board")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(response.headers()[header::LOCATION], "/board/");
}

#[tokio::test]
async fn an_unknown_board_file_is_a_404_problem() {
    let app = spawn_app().await;
    for path in [
        "/board/nope.js",
        "/board/app.js.map",
        "/board/a/app.js",
        "/board/..%2Fapi-key.txt",
        "/board/%2e%2e/Cargo.toml",
        "/boards/",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        let problem = assert_problem(response, StatusCode::NOT_FOUND).await;
        assert_eq!(problem["code"], "not_found", "{path}");
    }
}

#[tokio::test]
async fn a_board_file_is_revalidated_by_its_etag_and_answers_head() {
    let app = spawn_app().await;
    let first = app
        .client
        .get(app.url("/board/app.js"))
        .send()
        .await
        .unwrap();
    let etag = first.headers()[header::ETAG].clone();
    let again = app
        .client
        .get(app.url("/board/app.js"))
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[header::ETAG], etag);
    assert_eq!(again.headers()[header::CACHE_CONTROL], "no-cache");
    assert!(again.text().await.unwrap().is_empty());
    let stale = app
        .client
        .get(app.url("/board/app.js"))
        .header(header::IF_NONE_MATCH, "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
    let head = app.client.head(app.url("/board/")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        head.headers()[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
}

#[tokio::test]
async fn writing_to_a_board_path_is_405_naming_get_and_head() {
    let app = spawn_app().await;
    for (method, path) in [
        (Method::POST, "/board/"),
        (Method::PUT, "/board/app.js"),
        (Method::DELETE, "/board"),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()[header::ALLOW],
            "GET, HEAD",
            "{method} {path}"
        );
        assert_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
    }
}

#[tokio::test]
async fn the_board_is_no_api_operation_and_the_api_keeps_its_own_headers() {
    let app = spawn_app().await;
    let spec = body(
        app.client
            .get(app.url("/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let paths: Vec<&String> = spec["paths"].as_object().unwrap().keys().collect();
    assert!(!paths.iter().any(|p| p.starts_with("/board")), "{paths:?}");
    // The board's policy is its own: API answers are not given it.
    let response = app.get("/projects").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .is_none()
    );
}
