//! Which scope a request needs, decided in one place for every route: the `Tenant` extractor
//! asks [`required_scope`] before any handler runs, and the spec's 403 answers come from it too.

use actix_web::http::Method;

use crate::domain::Scope;

/// Routes other than GETs that only let the caller read: a stream token opens an event stream
/// and nothing else.
const READ_ONLY_WRITES: &[(Method, &str)] = &[(Method::POST, "/stream-tokens")];

/// The scope a request with this method on this route (its pattern, as in the spec) needs:
/// `read` for GET and HEAD (event streams are GETs) and the routes of [`READ_ONLY_WRITES`];
/// `write` for everything else, so a route added later needs a write key unless listed there.
pub fn required_scope(method: &Method, route: &str) -> Scope {
    let reads = *method == Method::GET
        || *method == Method::HEAD
        || READ_ONLY_WRITES
            .iter()
            .any(|(m, pattern)| m == method && *pattern == route);
    if reads { Scope::Read } else { Scope::Write }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_stream_tokens_need_read_and_everything_else_write() {
        assert_eq!(required_scope(&Method::GET, "/projects"), Scope::Read);
        assert_eq!(required_scope(&Method::HEAD, "/projects"), Scope::Read);
        assert_eq!(required_scope(&Method::POST, "/stream-tokens"), Scope::Read);
        assert_eq!(required_scope(&Method::POST, "/projects"), Scope::Write);
        assert_eq!(
            required_scope(&Method::DELETE, "/stream-tokens"),
            Scope::Write
        );
        let claim = "/projects/{project_id}/tasks:claim";
        assert_eq!(required_scope(&Method::POST, claim), Scope::Write);
    }
}
