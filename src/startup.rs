//! Building and running the HTTP server. `Application::build` binds first (port 0 picks a free
//! port, which tests use) and exposes the port before serving.

use std::net::TcpListener;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::dev::{Server, ServerHandle};
use actix_web::http::{Method, header};
use actix_web::middleware::{Condition, DefaultHeaders, from_fn};
use actix_web::{App, HttpResponse, HttpServer, web};
use sqlx::postgres::PgConnectOptions;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::auth::KeyCache;
use crate::configuration::ServeSettings;
use crate::error::ApiError;
use crate::feed::{Feed, FeedSettings};
use crate::pool::{Pool, Pools};
use crate::routes::idempotency::KeyTtl;
use crate::state::{Draining, Limits};
use crate::telemetry;
use crate::{extract, openapi, routes};

pub struct Application {
    port: u16,
    server: Server,
    /// The separate `/metrics` listener (`--metrics-bind`), and its port.
    metrics: Option<(Server, u16)>,
    draining: Draining,
    pools: Pools,
}

impl Application {
    /// `database` is how each pooled connection connects (see `Database::pool_options`).
    pub fn build(settings: &ServeSettings, database: PgConnectOptions) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.bind)?;
        let port = listener.local_addr()?.port();
        let limits = Limits {
            max_bulk_tasks: settings.max_bulk_tasks,
            max_artifact_bytes: settings.max_artifact_bytes,
        };
        let spec = openapi::spec_for(&limits);
        // Served as bytes written once and shared by every worker: the document is ~200 KB of
        // JSON and a few MB as a structure, which each worker would otherwise hold a copy of.
        let spec_json = web::Bytes::from(spec.to_json()?);
        let workers = settings
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
        let draining = Draining::default();
        let feed = Feed::start(
            // Its own connections: the fan-out's reads and pruning never wait for a request's.
            Pool::new(
                database.clone(),
                2,
                Duration::from_secs(settings.database.acquire_timeout_secs),
            ),
            database.clone(),
            FeedSettings {
                retention: settings.changes_retention,
                heartbeat: Duration::from_secs(settings.events_heartbeat_secs),
                max_streams: settings.max_event_streams,
            },
            draining.clone(),
        );
        let feed = web::Data::new(feed);
        let pools = Pools::new(database, &settings.database, workers);
        let pools_data = web::Data::new(pools.clone());
        let limits = web::Data::new(limits);
        let max_body_bytes = settings.max_body_bytes;
        let origins = settings.cors_allowed_origins.clone();
        let key_cache =
            web::Data::new(KeyCache::new(Duration::from_secs(settings.auth_cache_secs)));
        let draining_data = web::Data::new(draining.clone());
        let key_ttl = web::Data::new(KeyTtl(settings.idempotency_key_ttl));
        telemetry::metrics();
        let metrics = settings
            .metrics_bind
            .map(|address| metrics_server(address, pools_data.clone(), settings))
            .transpose()?;
        let metrics_on_api = metrics.is_none();
        let server = HttpServer::new(move || {
            let app = App::new()
                // The first `wrap` is the innermost.
                .wrap(from_fn(extract::require_utf8_query))
                .wrap(security_headers())
                .wrap(Condition::new(!origins.is_empty(), cors(&origins)))
                .wrap(from_fn(telemetry::observe))
                // Built here, on the worker's thread: its connections stay on this thread.
                .app_data(web::Data::new(pools_data.for_worker()))
                .app_data(pools_data.clone())
                .app_data(limits.clone())
                .app_data(draining_data.clone())
                .app_data(key_cache.clone())
                .app_data(key_ttl.clone())
                .app_data(feed.clone())
                .app_data(web::PayloadConfig::new(max_body_bytes))
                .configure(extract::configure)
                .into_utoipa_app()
                .configure(routes::configure)
                .into_app()
                .configure(|cfg| routes::method_not_allowed(cfg, &spec))
                .route(
                    "/openapi.json",
                    web::get().to(serve_spec(spec_json.clone())),
                )
                .service(SwaggerUi::new("/docs/{_:.*}").config(Config::from("/openapi.json")))
                .route("/", web::get().to(to_docs))
                .configure(|cfg| {
                    if metrics_on_api {
                        cfg.route("/metrics", web::get().to(routes::metrics));
                    }
                })
                .default_service(web::to(unknown_route));
            release_freed_memory();
            app
        })
        .listen(listener)?
        // Signals are ours (see `commands::serve`): readiness must turn 503 before we stop.
        .disable_signals()
        .shutdown_timeout(settings.shutdown_timeout_secs)
        .workers(workers);
        Ok(Self {
            port,
            server: server.run(),
            metrics,
            draining,
            pools,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the separate `/metrics` listener, when `--metrics-bind` set one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(_, port)| *port)
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub fn draining(&self) -> Draining {
        self.draining.clone()
    }

    /// Graceful stop for a load-balanced replica: readiness turns 503, new requests keep being
    /// served for `drain` (while balancers notice), then the listener closes and in-flight
    /// requests get up to the shutdown timeout to finish.
    pub async fn drain_and_stop(handle: ServerHandle, draining: Draining, drain: Duration) {
        draining.start();
        tracing::info!(?drain, "draining: readiness now answers 503");
        tokio::time::sleep(drain).await;
        handle.stop(true).await;
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests (actix's graceful shutdown).
    /// Then closes the database connections.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = self.metrics.map(|(server, _)| {
            let handle = server.handle();
            (handle, tokio::spawn(server))
        });
        let served = self.server.await;
        // Scrapes are answered until the API stops.
        if let Some((handle, metrics)) = metrics {
            handle.stop(true).await;
            let _ = metrics.await;
        }
        self.pools.close().await;
        served
    }
}

/// The listener of `--metrics-bind`: `/metrics` and nothing else, on one worker (a scrape is
/// one small request now and then), stopped with the API.
fn metrics_server(
    address: std::net::SocketAddr,
    pools: web::Data<Pools>,
    settings: &ServeSettings,
) -> anyhow::Result<(Server, u16)> {
    let listener = TcpListener::bind(address)?;
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(security_headers())
            .app_data(pools.clone())
            .route("/metrics", web::get().to(routes::metrics))
            .default_service(web::to(unknown_route))
    })
    .listen(listener)?
    .disable_signals()
    .shutdown_timeout(settings.shutdown_timeout_secs)
    .workers(1)
    .run();
    Ok((server, port))
}

/// Headers on every answer, unless a handler set them: API answers are per-tenant data, so
/// nothing is cached; nothing is sniffed, framed or leaks a referrer.
fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::CACHE_CONTROL, "no-store"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
}

/// Browsers on the configured origins may call the API with an API key; the headers our
/// clients read are exposed to them.
fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            header::HeaderName::from_static("last-event-id"),
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            header::HeaderName::from_static("idempotent-replayed"),
            header::HeaderName::from_static("x-request-id"),
        ])
        .max_age(3600)
}

/// Returns the memory freed while a worker built its app to the system: each worker describes
/// its routes for OpenAPI (utoipa) and drops that, and glibc keeps what is freed in the thread's
/// arena, 2.5 MB of idle RSS in all.
fn release_freed_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only hands free pages of the allocator back to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The handler of `/openapi.json`.
fn serve_spec(json: web::Bytes) -> impl Fn() -> std::future::Ready<HttpResponse> + Clone {
    move || {
        std::future::ready(
            HttpResponse::Ok()
                .content_type(mime::APPLICATION_JSON)
                .body(json.clone()),
        )
    }
}

async fn to_docs() -> HttpResponse {
    HttpResponse::Found()
        .insert_header(("Location", "/docs/"))
        .finish()
}

async fn unknown_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("route"))
}
