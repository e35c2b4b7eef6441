//! Session tokens: HS256 JWTs carrying the user id, checked for issuer, audience, expiry and
//! revocation, accepted from the `Authorization` header or the `j0_token` cookie.

use std::{future::Future, pin::Pin};

use actix_web::{
    FromRequest, HttpRequest,
    cookie::{Cookie, SameSite, time::Duration as CookieDuration},
    dev::Payload,
    http::header,
    web,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use j0_domain::{UserId, WalletAddress};
use j0_ports::SignedIn;

use crate::{ApiState, error::ApiError};

/// Name of the session cookie.
pub const COOKIE_NAME: &str = "j0_token";
/// Fixed audience of every token.
pub const AUDIENCE: &str = "j0-api";
/// How long a token is valid.
pub const TOKEN_TTL: Duration = Duration::seconds(86_400);
/// Clock skew tolerated on `exp`.
pub const LEEWAY: Duration = j0_domain::auth::TOKEN_LEEWAY;
/// Shortest secret accepted.
pub const MIN_SECRET_BYTES: usize = 32;

/// The claims j0 signs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id, decimal.
    pub sub: String,
    /// Wallet address, EIP-55.
    pub addr: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// Token id, for revocation.
    pub jti: String,
    /// The auth domain.
    pub iss: String,
    /// `j0-api`.
    pub aud: String,
}

/// The secret is shorter than 32 bytes.
#[derive(Debug, thiserror::Error)]
#[error("J0_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes, got {0}")]
pub struct WeakSecret(pub usize);

/// Signs and checks tokens with one HS256 key.
#[derive(Clone)]
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// A token that was just issued.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The JWT.
    pub token: String,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
}

impl TokenService {
    /// A service signing with `secret` (≥ 32 bytes) as issuer `issuer`.
    pub fn new(secret: &[u8], issuer: &str) -> Result<Self, WeakSecret> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(WeakSecret(secret.len()));
        }
        let encoding = EncodingKey::from_secret(secret).map_err(|_| WeakSecret(secret.len()))?;
        let decoding = DecodingKey::from_secret(secret).map_err(|_| WeakSecret(secret.len()))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Expiry is checked against the application's clock (below), with its own leeway.
        validation.validate_exp = false;
        validation.leeway = 0;
        Ok(Self {
            encoding,
            decoding,
            validation,
            issuer: issuer.to_owned(),
        })
    }

    /// A token for `user` issued `now`.
    pub fn issue(
        &self,
        user: UserId,
        address: &WalletAddress,
        jti: String,
        now: OffsetDateTime,
    ) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        let iat = now.unix_timestamp();
        let expires_at = now.replace_nanosecond(0).unwrap_or(now) + TOKEN_TTL;
        let claims = Claims {
            sub: user.to_string(),
            addr: address.to_string(),
            iat,
            exp: expires_at.unix_timestamp(),
            jti,
            iss: self.issuer.clone(),
            aud: AUDIENCE.to_owned(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(IssuedToken { token, expires_at })
    }

    /// The claims of a well-formed, correctly signed, unexpired token.
    pub fn check(&self, token: &str, now: OffsetDateTime) -> Option<Claims> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        let claims = data.claims;
        (now.unix_timestamp() < claims.exp + LEEWAY.whole_seconds()).then_some(claims)
    }
}

/// The session cookie carrying `token`.
pub fn session_cookie(token: &str, secure: bool) -> Cookie<'static> {
    Cookie::build(COOKIE_NAME, token.to_owned())
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::seconds(TOKEN_TTL.whole_seconds()))
        .path("/")
        .finish()
}

/// The cookie that clears the session.
pub fn cleared_cookie(secure: bool) -> Cookie<'static> {
    Cookie::build(COOKIE_NAME, "")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::ZERO)
        .path("/")
        .finish()
}

/// The token a request presents: the `Authorization: Bearer` header, else the cookie.
pub fn presented_token(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| ApiError::unauthorized())?;
        let (scheme, token) = value.split_once(' ').ok_or_else(ApiError::unauthorized)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(ApiError::unauthorized());
        }
        return Ok(Some(token.trim().to_owned()));
    }
    Ok(req
        .cookie(COOKIE_NAME)
        .map(|c| c.value().to_owned())
        .filter(|t| !t.is_empty()))
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub user: UserId,
    /// The token's id.
    pub jti: String,
    /// The token's expiry.
    pub expires_at: OffsetDateTime,
}

/// Authenticates a raw token: signature, claims, expiry against the app clock, revocation.
pub async fn authenticate(state: &ApiState, token: &str) -> Result<Caller, ApiError> {
    let caller = verify(state, token).await?;
    if state.app.is_token_revoked(&caller.jti).await? {
        return Err(ApiError::unauthorized());
    }
    Ok(caller)
}

/// Checks a raw token's signature, claims and expiry against the app clock, and the user's
/// rate limit; not its revocation.
async fn verify(state: &ApiState, token: &str) -> Result<Caller, ApiError> {
    let claims = state
        .tokens
        .check(token, state.app.now())
        .ok_or_else(ApiError::unauthorized)?;
    let user = claims
        .sub
        .parse::<i64>()
        .map(UserId)
        .map_err(|_| ApiError::unauthorized())?;
    let expires_at =
        OffsetDateTime::from_unix_timestamp(claims.exp).map_err(|_| ApiError::unauthorized())?;
    state.limits.check_user(user).await?;
    Ok(Caller {
        user,
        jti: claims.jti,
        expires_at,
    })
}

/// The caller a request's token names; checked against sign-outs too unless `revocation` is
/// left to the use case.
fn caller_of(req: &HttpRequest, revocation: Revocation) -> CallerFuture {
    let state = req.app_data::<web::Data<ApiState>>().cloned();
    let token = presented_token(req);
    Box::pin(async move {
        let state = state.ok_or_else(ApiError::unauthorized)?;
        let token = token?.ok_or_else(ApiError::unauthorized)?;
        match revocation {
            Revocation::Checked => authenticate(&state, &token).await,
            Revocation::ByTheUseCase => verify(&state, &token).await,
        }
    })
}

type CallerFuture = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

/// Who checks a token's revocation.
#[derive(Debug, Clone, Copy)]
enum Revocation {
    /// The extractor, with a statement of its own.
    Checked,
    /// The use case, in its first statement ([`SignedIn`]).
    ByTheUseCase,
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = CallerFuture;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        caller_of(req, Revocation::Checked)
    }
}

/// A caller whose token's signature, claims and expiry are checked, but not yet its revocation:
/// the use case it is handed to, as [`SignedIn`], checks that in the statement that does the
/// work. For the routes whose work is one such use case (post, accept, complete); every other
/// route takes a [`Caller`].
#[derive(Debug, Clone)]
pub struct Bearer(Caller);

impl Bearer {
    /// Who.
    pub fn user(&self) -> UserId {
        self.0.user
    }

    /// The caller, for a use case that checks the token's revocation itself.
    pub fn signed_in(&self) -> SignedIn {
        SignedIn {
            user: self.0.user,
            jti: self.0.jti.clone(),
        }
    }

    /// `input`, or its refusal; a revoked token is refused first, as a [`Caller`] would be,
    /// so bad input from a signed-out session is a 401 like any other request of it.
    pub async fn admit<T>(
        &self,
        state: &ApiState,
        input: Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        match input {
            Ok(value) => Ok(value),
            Err(_) if state.app.is_token_revoked(&self.0.jti).await? => {
                Err(ApiError::unauthorized())
            }
            Err(refusal) => Err(refusal),
        }
    }
}

impl FromRequest for Bearer {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = caller_of(req, Revocation::ByTheUseCase);
        Box::pin(async move { caller.await.map(Bearer) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn service() -> TokenService {
        TokenService::new(SECRET, "j0.com").unwrap()
    }

    #[test]
    fn refuses_short_secrets() {
        assert!(TokenService::new(&SECRET[..31], "j0.com").is_err());
    }

    #[test]
    fn issues_and_checks_with_leeway_of_five_seconds() {
        let now = OffsetDateTime::from_unix_timestamp(1_708_041_600).unwrap();
        let address = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
            .parse()
            .unwrap();
        let issued = service()
            .issue(UserId(42), &address, "j".into(), now)
            .unwrap();
        let claims = service().check(&issued.token, now).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.exp),
            ("42", 1_708_041_600 + 86_400)
        );
        assert_eq!(claims.addr, "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23");
        let expiry = issued.expires_at;
        assert!(
            service()
                .check(&issued.token, expiry + Duration::seconds(4))
                .is_some()
        );
        assert!(
            service()
                .check(&issued.token, expiry + Duration::seconds(5))
                .is_none()
        );
        let other_issuer = TokenService::new(SECRET, "evil.com").unwrap();
        assert!(other_issuer.check(&issued.token, now).is_none());
    }
}
