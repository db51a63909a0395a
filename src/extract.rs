//! Request extractors (JSON bodies, the precondition headers) that fail with our problem+json,
//! naming what was wrong and where.

use actix_web::dev::Payload;
use actix_web::error::{PathError, PayloadError, QueryPayloadError};
use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

mod preconditions;
pub use preconditions::{IfMatch, IfNoneMatch};

/// A JSON body. Unlike `actix_web::web::Json`, a body that does not fit the schema is answered
/// with the JSON pointer of the offending value (`/tasks/3/priority_score`).
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = json_body(req, payload);
        Box::pin(async move { parse_json(&body.await?).map(Json) })
    }
}

/// A JSON body's bytes: refused unless sent as JSON, and within the configured size limit.
pub fn json_body(
    req: &HttpRequest,
    payload: &mut Payload,
) -> LocalBoxFuture<'static, Result<Bytes, ApiError>> {
    let content_type_ok = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<mime::Mime>().ok())
        .is_some_and(|mime| {
            mime.type_() == mime::APPLICATION
                && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
        });
    let body = Bytes::from_request(req, payload);
    Box::pin(async move {
        if !content_type_ok {
            return Err(ApiError::UnsupportedMediaType(
                "the body must be JSON, sent with `Content-Type: application/json`".into(),
            ));
        }
        body.await.map_err(payload_error)
    })
}

/// Every body of this API is a JSON object. serde would also read a struct from an array of
/// its fields in order (`[null, null]`), which no client means: refused before parsing.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.trim_ascii_start().first() == Some(&b'[') {
        return Err(ApiError::field("", "the body must be a JSON object"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let pointer = json_pointer(error.path());
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::Malformed(format!("the body is not valid JSON: {inner}"))
        } else {
            ApiError::Validation(vec![FieldError::new(pointer, strip_position(&inner))])
        }
    })?;
    deserializer
        .end()
        .map_err(|error| ApiError::Malformed(format!("the body is not valid JSON: {error}")))?;
    Ok(value)
}

fn payload_error(error: actix_web::Error) -> ApiError {
    match error.as_error::<PayloadError>() {
        Some(PayloadError::Overflow) => {
            ApiError::PayloadTooLarge("the request body exceeds the configured limit".into())
        }
        _ => ApiError::Malformed(format!("the request body could not be read: {error}")),
    }
}

/// `tasks[3].title` as the RFC 6901 pointer `/tasks/3/title`.
fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        pointer.push('/');
        match segment {
            Segment::Seq { index } => pointer.push_str(&index.to_string()),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"))
            }
            Segment::Unknown => pointer.push('-'),
        }
    }
    pointer
}

/// serde_json appends "at line 1 column 42"; the pointer says where more usefully.
fn strip_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message,
    }
}

/// Extractor configuration so that bad path and query parameters get problem+json too.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PathConfig::default().error_handler(|error, _| {
        let detail = match &error {
            PathError::Deserialize(inner) => inner.to_string(),
            other => other.to_string(),
        };
        ApiError::field("/path", format!("invalid path parameter: {detail}")).into()
    }))
    .app_data(web::QueryConfig::default().error_handler(|error, _| {
        let detail = match &error {
            QueryPayloadError::Deserialize(inner) => inner.to_string(),
            other => other.to_string(),
        };
        ApiError::field("/query", format!("invalid query parameter: {detail}")).into()
    }));
}

/// Middleware: a query string whose percent-escapes do not decode to UTF-8 is refused (the
/// query extractor would otherwise replace the bytes with U+FFFD and carry on).
pub async fn require_utf8_query(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<actix_web::body::BoxBody>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    if percent_encoding::percent_decode_str(req.query_string())
        .decode_utf8()
        .is_err()
    {
        let error = ApiError::field("/query", "the query string is not valid UTF-8");
        return Ok(req.error_response(error));
    }
    next.call(req).await
}
