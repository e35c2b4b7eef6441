//! `GET /health`: the process is up and the database answers.

use actix_web::HttpResponse;
use j0_ports::{ErrorChain, StoreError};
use j0_wire::{Health, Unhealthy};

use super::{Reply, State};
use crate::error::ErrorCode;

/// Whether the process is up and the database answers.
#[utoipa::path(
    get, path = "/health", operation_id = "health", tag = "operations",
    responses(
        (status = 200, description = "Up", body = Health),
        (status = 503, description = "`SERVICE_UNAVAILABLE`: the database is unreachable", body = Unhealthy),
    ),
)]
pub(crate) async fn health(state: State) -> Reply {
    match state.app.health().await {
        Ok(()) => Ok(HttpResponse::Ok().json(Health {
            status: "ok".to_owned(),
            database: "ok".to_owned(),
        })),
        Err(e @ StoreError::Unavailable(_)) => {
            tracing::warn!(error = %ErrorChain(&e), "health check: database unreachable");
            Ok(HttpResponse::ServiceUnavailable().json(Unhealthy {
                status: "unavailable".to_owned(),
                database: "unreachable".to_owned(),
                error: "Database unreachable".to_owned(),
                code: ErrorCode::ServiceUnavailable,
            }))
        }
        Err(e) => Err(e.into()),
    }
}
