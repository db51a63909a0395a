//! The OpenAPI 3.1 document: this file holds what is not attached to a handler (info, the
//! bearer scheme, reusable error responses); paths and their schemas are collected from the
//! handlers by `utoipa-actix-web` as the routes are registered.

use actix_web::App;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use actix_web::http::Method;
use utoipa::openapi::{Ref, RefOr, Schema};

use crate::auth::scope::required_scope;
use crate::domain::Scope;

use crate::error::{ErrorCode, FieldError, Problem};
use crate::routes::{self, responses};
use crate::state::Limits;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "taskdash",
        description = "Idempotent, multi-tenant task API for workflow dashboards.\n\n\
            Authenticate with `Authorization: Bearer <api key>` (Swagger UI: **Authorize**). \
            A key's scope is `read` (GETs, event streams, stream tokens) or `write` \
            (everything); a `read` key on any other operation is answered 403. \
            Errors are RFC 9457 `application/problem+json` documents.",
        license(name = "MIT", identifier = "MIT")
    ),
    components(
        schemas(Problem, FieldError, ErrorCode),
        responses(
            responses::BadRequest,
            responses::Unauthorized,
            responses::Forbidden,
            responses::NotFound,
            responses::Conflict,
            responses::NotClaimant,
            responses::IdempotencyKeyReused,
            responses::IdempotencyKeyInFlight,
            responses::PreconditionFailed,
            responses::CursorExpired,
            responses::PayloadTooLarge,
            responses::UnsupportedMediaType,
            responses::Internal,
            responses::Unavailable
        )
    ),
    tags(
        (name = "projects", description = "A tenant's projects"),
        (name = "milestones", description = "Milestones of a project, with task counts"),
        (name = "tasks", description = "Tasks: idempotent creation, the work queue, updates"),
        (name = "runs", description = "Workflow runs and their events (a run's timeline), idempotent under retries"),
        (name = "artifacts", description = "What workflow steps produce, by task, kind and iteration: content with its digest"),
        (name = "repositories", description = "Where a project's code lives, idempotent by normalised URL"),
        (name = "changes", description = "The change feed: every write, in commit order, as pages or live Server-Sent Events"),
        (name = "operations", description = "Health checks, and the pages that problem types point at")
    ),
    modifiers(&BearerScheme),
    // Every operation needs an API key unless it says otherwise (the health checks).
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key, `tdk_…`, from `taskdash tenant create`"))
                    .build(),
            ),
        );
    }
}

/// Every operation that needs a `write` key says so with its 403 answer, derived from the
/// rule the server applies ([`required_scope`]), so the spec cannot drift from it.
fn declare_write_scope(openapi: &mut utoipa::openapi::OpenApi) {
    for (path, item) in openapi.paths.paths.iter_mut() {
        let operations = [
            (Method::GET, &mut item.get),
            (Method::POST, &mut item.post),
            (Method::PUT, &mut item.put),
            (Method::PATCH, &mut item.patch),
            (Method::DELETE, &mut item.delete),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            let public = operation
                .security
                .as_ref()
                .is_some_and(|security| security.iter().all(|s| s == &Default::default()));
            if !public && required_scope(&method, path) == Scope::Write {
                operation.responses.responses.insert(
                    "403".to_owned(),
                    Ref::from_response_name("Forbidden").into(),
                );
            }
        }
    }
}

/// The complete document, as served at `/openapi.json` and committed in `openapi/openapi.json`.
pub fn spec() -> utoipa::openapi::OpenApi {
    let (_, spec) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes::configure)
        .split_for_parts();
    let mut spec = spec;
    declare_write_scope(&mut spec);
    spec
}

/// The document as a server serves it: its own configured limits, where the committed one
/// states the defaults.
pub fn spec_for(limits: &Limits) -> utoipa::openapi::OpenApi {
    let mut spec = spec();
    let bulk_tasks = spec
        .components
        .as_mut()
        .and_then(|components| components.schemas.get_mut("BulkInput"))
        .and_then(|schema| match schema {
            RefOr::T(Schema::Object(object)) => object.properties.get_mut("tasks"),
            _ => None,
        });
    if let Some(RefOr::T(Schema::Array(tasks))) = bulk_tasks {
        tasks.max_items = Some(limits.max_bulk_tasks);
    }
    spec
}

/// The document as committed: pretty JSON with a final newline.
pub fn spec_json() -> String {
    let mut json = spec().to_pretty_json().expect("the spec serialises");
    json.push('\n');
    json
}
