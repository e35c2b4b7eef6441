//! `POST /auth/challenge`, `POST /auth/verify`, `POST /auth/logout`.

use actix_web::HttpResponse;

use j0_domain::{
    WalletAddress,
    auth::{ChallengeRefusal, Nonce},
};

use j0_wire::auth::{
    Challenge, ChallengeRequest, ChallengeResponse, LogoutResponse, VerifyRequest, VerifyResponse,
};

use super::{ChallengeRefusals, LogoutRefusals, Reply, State, VerifyRefusals};
use crate::{
    error::ApiError,
    extract::Json,
    routes::users::me_view,
    token::{Caller, cleared_cookie, session_cookie},
};

fn parse_address(text: &str) -> Result<WalletAddress, ApiError> {
    text.parse()
        .map_err(|e| ApiError::validation(format!("public_key: {e}")))
}

/// Longest nonce or signature text looked at; anything longer cannot be valid.
const MAX_TOKEN_TEXT: usize = 256;

/// Issues a single-use challenge for a wallet address.
#[utoipa::path(
    post, path = "/auth/challenge", operation_id = "createChallenge", request_body = ChallengeRequest,
    responses(
        (status = 200, description = "A challenge to sign", body = ChallengeResponse),
        ChallengeRefusals,
    ),
)]
pub(crate) async fn challenge(state: State, body: Json<ChallengeRequest>) -> Reply {
    let address = parse_address(&body.value.public_key)?;
    let issued = state.app.request_challenge(address).await?;
    Ok(HttpResponse::Ok().json(ChallengeResponse {
        challenge: Challenge {
            nonce: issued.challenge.nonce.to_string(),
            timestamp: issued.challenge.issued_at.unix_timestamp(),
            expires_at: issued.challenge.expires_at.unix_timestamp(),
        },
        message_to_sign: issued.message_to_sign,
    }))
}

/// Verifies a signed challenge: creates the user on first sign-in and issues a session token.
#[utoipa::path(
    post, path = "/auth/verify", operation_id = "verifySignature", request_body = VerifyRequest,
    responses(
        (
            status = 200, body = VerifyResponse,
            description = "Signed in; the token is also set as the `j0_token` cookie",
            headers((
                "Set-Cookie" = String,
                description = "`j0_token=<jwt>; HttpOnly; Secure; SameSite=Strict; Max-Age=86400; Path=/`"
            )),
        ),
        VerifyRefusals,
    ),
)]
pub(crate) async fn verify(state: State, body: Json<VerifyRequest>) -> Reply {
    let VerifyRequest {
        public_key,
        challenge_nonce,
        signature,
    } = body.value;
    let address = parse_address(&public_key)?;
    if challenge_nonce.len() > MAX_TOKEN_TEXT {
        return Err(ApiError::validation("challenge_nonce: too long"));
    }
    // No issued nonce holds NUL, and PostgreSQL cannot even be asked about one.
    if challenge_nonce.contains('\0') {
        return Err(ApiError::from(ChallengeRefusal::NotFound));
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
            user: me_view(&user),
        }))
}

/// Revokes the presented token and clears the session cookie.
#[utoipa::path(
    post, path = "/auth/logout", operation_id = "logout",
    responses(
        (
            status = 200, body = LogoutResponse, description = "Signed out",
            headers((
                "Set-Cookie" = String,
                description = "`j0_token=; Max-Age=0`, clearing the cookie"
            )),
        ),
        LogoutRefusals,
    ),
)]
pub(crate) async fn logout(state: State, caller: Caller) -> Reply {
    state
        .app
        .revoke_token(&caller.jti, caller.expires_at)
        .await?;
    tracing::info!(user_id = %caller.user, "logged out");
    Ok(HttpResponse::Ok()
        .cookie(cleared_cookie(state.cookie_secure))
        .json(LogoutResponse { logged_out: true }))
}
