//! Logs, request ids and metrics.
//!
//! Each request runs in a span carrying its request id (`X-Request-Id` from the client, or
//! generated) and, once authenticated, its tenant; [`observe`] sets it up, writes one log line
//! per request, answers with `X-Request-Id` and records Prometheus metrics.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Log format: `json` (one object per line, for collectors) or `text` (for people).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

impl LogFormat {
    /// Text on a terminal, JSON otherwise.
    pub fn detect() -> Self {
        if std::io::stderr().is_terminal() {
            Self::Text
        } else {
            Self::Json
        }
    }
}

pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The process-wide Prometheus recorder (installed once, shared by every server in the process).
pub fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                // http_request_duration_seconds and db_pool_acquire_seconds.
                Matcher::Suffix("_seconds".into()),
                &[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0,
                ],
            )
            .expect("valid buckets");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder is installed, in which case ours simply stays unused.
        if metrics::set_global_recorder(recorder).is_ok() {
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                })
                .expect("a thread can be started at startup");
        }
        handle
    })
}

/// How often the histograms' recorded samples are folded into their buckets. The recorder
/// keeps every sample until then (two per request): left to scrapes alone, a replica nobody
/// scrapes grew by 16 bytes a request (136 MB of RSS after a few million).
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// A client's `X-Request-Id` is kept when it is short, printable ASCII; else we make one.
fn request_id(req: &ServiceRequest) -> HeaderValue {
    req.headers()
        .get(&REQUEST_ID)
        .filter(|value| {
            (1..=128).contains(&value.len()) && value.as_bytes().iter().all(u8::is_ascii_graphic)
        })
        .cloned()
        .unwrap_or_else(|| {
            let id = uuid::Uuid::new_v4();
            HeaderValue::from_str(id.simple().encode_lower(&mut uuid::Uuid::encode_buffer()))
                .expect("hex digits are a valid header value")
        })
}

/// Middleware, the outermost: runs the request in a span carrying its request id and (once
/// the `Tenant` extractor knows it) its tenant, answers with `X-Request-Id`, writes one log
/// line per request and records the request metrics.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = request_id(&req);
    let span = tracing::info_span!(
        "request",
        request_id = request_id.to_str().unwrap_or_default(),
        tenant_id = tracing::field::Empty,
    );
    let method = req.method().to_string();
    let mut response = next.call(req).instrument(span.clone()).await?;
    // The route pattern, not the path: ids would make every path a metric series of its own.
    // Asked once routed, it is looked up by the resource matched; before, every pattern of
    // the app was tried on the path again.
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    let status = response.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    response.headers_mut().insert(REQUEST_ID, request_id);
    metrics::histogram!("http_request_duration_seconds", "method" => method.clone(), "route" => route.clone()).record(seconds);
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.to_string()).increment(1);
    span.in_scope(|| {
        tracing::info!(
            http.method = %method,
            http.route = %route,
            http.status_code = status,
            latency_ms = seconds * 1000.0,
            "request"
        );
    });
    Ok(response)
}
