//! `GET /health`: the process is up and the database answers.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use j0_ports::StoreError;

use crate::{ApiState, error::ApiError};

#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
    database: &'static str,
}

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
