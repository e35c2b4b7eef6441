//! `GET /health`: the process is up and the database answers.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use j0_ports::StoreError;

use crate::{ApiState, error::ApiError};

/// Up, with the database answering.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    #[schema(inline, value_type = crate::openapi::StatusOk)]
    status: &'static str,
    #[schema(inline, value_type = crate::openapi::StatusOk)]
    database: &'static str,
}

/// Whether the process is up and the database answers.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health",
    tag = "operations",
    responses(
        (status = 200, description = "Up", body = Health),
        (status = 503, description = "`SERVICE_UNAVAILABLE`: the database is unreachable", body = crate::openapi::Unhealthy),
    ),
)]
pub(crate) async fn health(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    match state.app.health().await {
        Ok(()) => Ok(HttpResponse::Ok().json(Health {
            status: "ok",
            database: "ok",
        })),
        Err(e @ StoreError::Unavailable(_)) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            Ok(HttpResponse::ServiceUnavailable().json(serde_json::json!({
                "status": "unavailable",
                "database": "unreachable",
                "error": "Database unreachable",
                "code": "SERVICE_UNAVAILABLE",
            })))
        }
        Err(e) => Err(e.into()),
    }
}
