//! `POST /auth/challenge`, `POST /auth/verify`, `POST /auth/logout`.

use serde::{Deserialize, Serialize};

use crate::users::Me;

/// Asks for a challenge to sign with a wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    /// The wallet address, `0x` and 40 hex digits in any case; mixed case must be a valid
    /// EIP-55 checksum.
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^0[xX][0-9a-fA-F]{40}$",
            example = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
        )
    )]
    pub public_key: String,
}

/// A single-use challenge, valid for 60 seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ChallengeBody))]
pub struct Challenge {
    /// At least 128 random bits, hex.
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub nonce: String,
    /// Issued at, Unix seconds.
    pub timestamp: i64,
    /// Expires at (`timestamp` + 60), Unix seconds.
    pub expires_at: i64,
}

/// The challenge and the exact text to sign with `personal_sign`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChallengeResponse {
    /// The challenge.
    pub challenge: Challenge,
    /// `"<domain> authentication\nNonce: <nonce>\nTimestamp: <timestamp>"`.
    pub message_to_sign: String,
}

/// A signed challenge, exchanged for a session token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The address the challenge was issued to.
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^0[xX][0-9a-fA-F]{40}$",
            example = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
        )
    )]
    pub public_key: String,
    /// The challenge's `nonce`; longer than 256 characters is a 400.
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub challenge_nonce: String,
    /// The EIP-191 `personal_sign` signature of `message_to_sign`: 65 bytes hex, `0x` optional;
    /// anything else is a 401 `INVALID_SIGNATURE`.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^(0[xX])?[0-9a-fA-F]{130}$"))]
    pub signature: String,
}

/// A session token (also set as the `j0_token` cookie) and the signed-in user.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyResponse {
    /// HS256 JWT, valid 24 hours.
    pub token: String,
    /// When the token stops working, Unix seconds.
    pub expires_at: i64,
    /// The signed-in user.
    pub user: Me,
}

impl std::fmt::Debug for VerifyResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyResponse")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("user", &self.user)
            .finish()
    }
}

/// The session has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogoutResponse {
    /// Always `true`.
    pub logged_out: bool,
}
