//! `GET /users/me`, `GET /users/:id`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use j0_domain::{
    UserId, WalletAddress,
    time::rfc3339,
    user::{IDENTITY_TYPE_ETHEREUM_WALLET, User},
};

use crate::{ApiState, error::ApiError, extract::PathId, token::Caller};

/// The signed-in user as they see themselves.
#[derive(Debug, Serialize)]
pub(crate) struct MeView {
    id: UserId,
    public_key: WalletAddress,
    identity_type: &'static str,
    reputation_score: f64,
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
#[derive(Debug, Serialize)]
struct PublicView {
    id: UserId,
    public_key: WalletAddress,
    reputation_score: f64,
    created_at: String,
}

fn user_not_found() -> ApiError {
    ApiError::not_found("USER_NOT_FOUND", "User not found")
}

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
