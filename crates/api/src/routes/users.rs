//! `GET /users/me`, `GET /users/:id`.

use actix_web::{HttpRequest, HttpResponse};

use j0_domain::{UserId, user::User};
use j0_wire::users::{IdentityType, Me, PublicUser};

use super::{MeRefusals, Reply, State, UserRefusals};
use crate::{
    error::{ApiError, ErrorCode},
    extract::PathId,
    token::Caller,
};

/// `user` as they see themselves.
pub(crate) fn me_view(user: &User) -> Me {
    Me {
        id: user.id,
        public_key: user.address,
        identity_type: IdentityType::EthereumWallet,
        reputation_score: user.record.reputation(),
        created_at: user.created_at,
    }
}

fn user_not_found() -> ApiError {
    ApiError::new(ErrorCode::UserNotFound)
}

/// The signed-in user.
#[utoipa::path(
    get, path = "/users/me", operation_id = "getMe",
    responses((status = 200, description = "The signed-in user", body = Me), MeRefusals),
)]
pub(crate) async fn me(state: State, caller: Caller) -> Reply {
    let user = state
        .app
        .user(caller.user)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    Ok(HttpResponse::Ok().json(me_view(&user)))
}

/// Public information about any user; no authentication needed.
#[utoipa::path(
    get, path = "/users/{id}", operation_id = "getUser", params(PathId),
    responses((status = 200, description = "The user", body = PublicUser), UserRefusals),
)]
pub(crate) async fn by_id(state: State, req: HttpRequest) -> Reply {
    let PathId(id) = PathId::from_request_with(&req, user_not_found)?;
    let user = state
        .app
        .user(UserId(id))
        .await?
        .ok_or_else(user_not_found)?;
    Ok(HttpResponse::Ok().json(PublicUser {
        id: user.id,
        public_key: user.address,
        reputation_score: user.record.reputation(),
        created_at: user.created_at,
    }))
}
