//! `GET /users/me`, `GET /users/:id`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use j0_domain::{
    UserId, WalletAddress,
    time::rfc3339,
    user::{IDENTITY_TYPE_ETHEREUM_WALLET, User},
};

use crate::{ApiState, error::ApiError, extract::PathId, token::Caller};

/// The signed-in user as they see themselves.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Me)]
pub(crate) struct MeView {
    #[schema(value_type = i64, minimum = 1)]
    id: UserId,
    /// EIP-55 checksummed wallet address.
    #[schema(value_type = crate::openapi::Address)]
    public_key: WalletAddress,
    #[schema(inline, value_type = crate::openapi::IdentityType)]
    identity_type: &'static str,
    /// Completed ÷ (completed + timed out after accepting), 0 before any.
    #[schema(minimum = 0, maximum = 1)]
    reputation_score: f64,
    #[schema(value_type = crate::openapi::Timestamp)]
    created_at: String,
}

impl From<&User> for MeView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            public_key: user.address,
            identity_type: IDENTITY_TYPE_ETHEREUM_WALLET,
            reputation_score: user.record.reputation(),
            created_at: rfc3339(user.created_at),
        }
    }
}

/// What anyone may see of a user.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PublicUser)]
pub(crate) struct PublicView {
    #[schema(value_type = i64, minimum = 1)]
    id: UserId,
    /// EIP-55 checksummed wallet address.
    #[schema(value_type = crate::openapi::Address)]
    public_key: WalletAddress,
    /// Completed ÷ (completed + timed out after accepting), 0 before any.
    #[schema(minimum = 0, maximum = 1)]
    reputation_score: f64,
    #[schema(value_type = crate::openapi::Timestamp)]
    created_at: String,
}

fn user_not_found() -> ApiError {
    ApiError::not_found("USER_NOT_FOUND", "User not found")
}

/// The signed-in user.
#[utoipa::path(
    get,
    path = "/users/me",
    operation_id = "getMe",
    tag = "users",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "The signed-in user", body = MeView)),
)]
pub(crate) async fn me(
    state: web::Data<ApiState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let user = state
        .app
        .user(caller.user)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    Ok(HttpResponse::Ok().json(MeView::from(&user)))
}

/// Public information about any user; no authentication needed.
#[utoipa::path(
    get,
    path = "/users/{id}",
    operation_id = "getUser",
    tag = "users",
    params(crate::openapi::IdParam),
    responses((status = 200, description = "The user", body = PublicView)),
)]
pub(crate) async fn by_id(
    state: web::Data<ApiState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let PathId(id) = PathId::from_request_with(&req, user_not_found)?;
    let user = state
        .app
        .user(UserId(id))
        .await?
        .ok_or_else(user_not_found)?;
    Ok(HttpResponse::Ok().json(PublicView {
        id: user.id,
        public_key: user.address,
        reputation_score: user.record.reputation(),
        created_at: rfc3339(user.created_at),
    }))
}
