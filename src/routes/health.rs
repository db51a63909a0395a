//! Liveness and readiness, at the paths the existing clients call. No authentication.

use crate::pool::Pool;
use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::Draining;

#[derive(Serialize, ToSchema)]
pub struct HealthStatus {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness: 200 while the process serves requests.
#[utoipa::path(
    operation_id = "health",
    tag = "operations",
    responses((status = 200, description = "The process is serving", body = HealthStatus)),
    security(())
)]
#[get("/health")]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus { status: "ok" })
}

/// Readiness: 200 when the database answers; 503 when it does not, or while this replica shuts
/// down (take it out of rotation).
#[utoipa::path(
    operation_id = "health_ready",
    tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = HealthStatus),
        (status = 503, response = super::responses::Unavailable),
    ),
    security(())
)]
#[get("/health/ready")]
pub async fn ready(
    pool: web::Data<Pool>,
    draining: web::Data<Draining>,
) -> Result<HttpResponse, ApiError> {
    if draining.is_draining() {
        return Err(ApiError::ShuttingDown);
    }
    crate::storage::ping(&pool)
        .await
        .map_err(|_| ApiError::Unavailable)?;
    Ok(HttpResponse::Ok().json(HealthStatus { status: "ready" }))
}
