//! Building and running the HTTP server. `Application::build` binds first (port 0 picks a free
//! port, which tests use) and exposes the port before serving.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::DefaultHeaders;
use actix_web::{App, HttpResponse, HttpServer, web};
use sqlx::PgPool;
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::configuration::ServeSettings;
use crate::error::ApiError;
use crate::telemetry::RequestSpan;
use crate::{extract, openapi, routes};

/// Request limits handlers consult.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_bulk_tasks: usize,
}

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    pub fn build(settings: &ServeSettings, pool: PgPool) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.bind)?;
        let port = listener.local_addr()?.port();
        let spec = openapi::spec();
        let pool = web::Data::new(pool);
        let limits = web::Data::new(Limits {
            max_bulk_tasks: settings.max_bulk_tasks,
        });
        let max_body_bytes = settings.max_body_bytes;
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(DefaultHeaders::new().add(("X-Content-Type-Options", "nosniff")))
                .wrap(TracingLogger::<RequestSpan>::new())
                .app_data(pool.clone())
                .app_data(limits.clone())
                .app_data(web::PayloadConfig::new(max_body_bytes))
                .configure(extract::configure)
                .into_utoipa_app()
                .configure(routes::configure)
                .into_app()
                .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", spec.clone()))
                .route("/", web::get().to(to_docs))
                .default_service(web::to(unknown_route))
        })
        .listen(listener)?;
        if let Some(workers) = settings.workers {
            server = server.workers(workers);
        }
        Ok(Self {
            port,
            server: server.run(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM, then drains in-flight requests (actix's graceful shutdown).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
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
