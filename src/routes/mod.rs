//! HTTP routes: thin handlers that extract, validate, call storage and shape the answer.
//! Each handler carries its `#[utoipa::path]`, and [`configure`] registers both at once, so the
//! spec cannot drift from the routes. One module per resource (a folder when it has several
//! subjects, like `tasks`); a handler's spec lists only its own answers and mixes in the
//! shared error groups of [`responses`]; security is declared once, for the whole API.

mod artifacts;
mod board;
mod changes;
mod conditional;
mod events;
mod health;
pub mod idempotency;
mod milestones;
mod problems;
mod projects;
mod repositories;
pub mod responses;
mod run_events;
mod runs;
mod summary;
mod tasks;

use actix_web::web;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::ApiError;

/// The header that marks an answer replayed from an earlier request (an idempotent create or
/// upload that wrote nothing), with the value `true`.
const REPLAYED: &str = "Idempotent-Replayed";

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::live)
        .service(health::ready)
        .service(problems::get)
        .service(projects::create)
        .service(projects::list)
        .service(projects::get)
        .service(projects::update)
        .service(projects::delete)
        .service(summary::get)
        .service(milestones::create)
        .service(milestones::list)
        .service(milestones::get)
        .service(milestones::update)
        .service(milestones::delete)
        .service(tasks::create)
        .service(tasks::create_bulk)
        .service(tasks::list)
        .service(tasks::get)
        .service(tasks::update)
        .service(tasks::delete)
        .service(tasks::claim)
        .service(tasks::heartbeat)
        .service(tasks::release)
        .service(changes::list)
        .service(changes::list_for_project)
        .service(events::create_token)
        .service(events::follow_all)
        .service(events::follow_project)
        .configure(runs::configure)
        .configure(run_events::configure)
        .configure(artifacts::configure)
        .configure(repositories::configure)
        .configure(board::configure);
}

/// Prometheus metrics (text exposition format): requests by route and status, latency
/// histograms, pool usage and acquire waits, tasks created and skipped, database errors.
/// Unauthenticated, like the health checks: expose it only where your scraper runs.
pub async fn metrics(pools: web::Data<crate::pool::Pools>) -> actix_web::HttpResponse {
    let (open, idle, max) = pools.usage();
    metrics::gauge!("db_pool_connections", "state" => "idle").set(idle as f64);
    metrics::gauge!("db_pool_connections", "state" => "in_use")
        .set(open.saturating_sub(idle) as f64);
    metrics::gauge!("db_pool_max_connections").set(max as f64);
    actix_web::HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::telemetry::metrics().render())
}

/// For every documented path, answers the methods it does not serve with 405 and an `Allow`
/// header. Derived from the spec, so it cannot drift from the routes. Register after the routes.
///
/// Paths whose last segment has a suffix after a parameter (`…/tasks/{task_id}:heartbeat`) go
/// first: `…/tasks/{task_id}` would match them too (a parameter matches any segment).
pub fn method_not_allowed(cfg: &mut web::ServiceConfig, spec: &utoipa::openapi::OpenApi) {
    let mut paths: Vec<_> = spec.paths.paths.iter().collect();
    paths.sort_by_key(|(path, _)| {
        !path
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains("}:"))
    });
    for (path, item) in paths {
        let methods = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ];
        let allow: Vec<&str> = methods
            .iter()
            .filter(|(_, operation)| operation.is_some())
            .map(|(method, _)| *method)
            .collect();
        let allow = allow.join(", ");
        cfg.service(web::resource(path.as_str()).default_service(web::to(move || {
            let allow = allow.clone();
            async move { Err::<actix_web::HttpResponse, _>(ApiError::MethodNotAllowed { allow }) }
        })));
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectPath {
    /// Project id.
    #[param(minimum = 1)]
    pub project_id: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MilestonePath {
    #[param(minimum = 1)]
    pub project_id: i64,
    /// Milestone id.
    #[param(minimum = 1)]
    pub milestone_id: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TaskPath {
    #[param(minimum = 1)]
    pub project_id: i64,
    /// Task id.
    #[param(minimum = 1)]
    pub task_id: i64,
}

/// `limit` and `cursor` of list endpoints.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page; absent or empty: the first page.
    pub cursor: Option<String>,
}
