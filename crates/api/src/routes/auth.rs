//! `POST /auth/challenge`, `POST /auth/verify`, `POST /auth/logout`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use j0_domain::{WalletAddress, auth::Nonce};

use crate::{
    ApiState,
    error::ApiError,
    extract::Json,
    routes::users::MeView,
    token::{Caller, cleared_cookie, session_cookie},
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChallengeRequest {
    public_key: String,
}

#[derive(Debug, Serialize)]
struct ChallengeBody {
    nonce: String,
    timestamp: i64,
    expires_at: i64,
}

#[derive(Debug, Serialize)]
struct ChallengeResponse {
    challenge: ChallengeBody,
    message_to_sign: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyRequest {
    public_key: String,
    challenge_nonce: String,
    signature: String,
}

#[derive(Debug, Serialize)]
struct VerifyResponse {
    token: String,
    expires_at: i64,
    user: MeView,
}

#[derive(Debug, Serialize)]
struct LogoutResponse {
    logged_out: bool,
}

fn parse_address(text: &str) -> Result<WalletAddress, ApiError> {
    text.parse()
        .map_err(|e| ApiError::validation(format!("public_key: {e}")))
}

/// Longest nonce or signature text looked at; anything longer cannot be valid.
const MAX_TOKEN_TEXT: usize = 256;

pub(crate) async fn challenge(
    state: web::Data<ApiState>,
    body: Json<ChallengeRequest>,
) -> Result<HttpResponse, ApiError> {
    let address = parse_address(&body.value.public_key)?;
    let issued = state.app.request_challenge(address).await?;
    Ok(HttpResponse::Ok().json(ChallengeResponse {
        challenge: ChallengeBody {
            nonce: issued.challenge.nonce.to_string(),
            timestamp: issued.challenge.issued_at.unix_timestamp(),
            expires_at: issued.challenge.expires_at.unix_timestamp(),
        },
        message_to_sign: issued.message_to_sign,
    }))
}

pub(crate) async fn verify(
    state: web::Data<ApiState>,
    body: Json<VerifyRequest>,
) -> Result<HttpResponse, ApiError> {
    let VerifyRequest {
        public_key,
        challenge_nonce,
        signature,
    } = body.value;
    let address = parse_address(&public_key)?;
    if challenge_nonce.len() > MAX_TOKEN_TEXT {
        return Err(ApiError::validation("challenge_nonce: too long"));
    }
    if signature.len() > MAX_TOKEN_TEXT {
        return Err(crate::error::ApiError::from(
            j0_app::VerifyError::InvalidSignature,
        ));
    }
    let user = state
        .app
        .verify(address, Nonce::from_client(challenge_nonce), &signature)
        .await?;
    let jti = state
        .app
        .new_token_id()
        .map_err(|e| ApiError::internal(&e))?;
    let issued = state
        .tokens
        .issue(user.id, &user.address, jti, state.app.now())
        .map_err(|e| ApiError::internal(&e))?;
    Ok(HttpResponse::Ok()
        .cookie(session_cookie(&issued.token, state.cookie_secure))
        .json(VerifyResponse {
            token: issued.token,
            expires_at: issued.expires_at.unix_timestamp(),
            user: MeView::from(&user),
        }))
}

pub(crate) async fn logout(
    state: web::Data<ApiState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    state
        .app
        .revoke_token(&caller.jti, caller.expires_at)
        .await?;
    tracing::info!(user_id = %caller.user, "logged out");
    Ok(HttpResponse::Ok()
        .cookie(cleared_cookie(state.cookie_secure))
        .json(LogoutResponse { logged_out: true }))
}
