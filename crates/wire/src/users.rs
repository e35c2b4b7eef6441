//! `GET /users/me`, `GET /users/:id`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use j0_domain::{UserId, WalletAddress, time::serde_rfc3339};

/// How a user proves who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IdentityType {
    /// An Ethereum wallet, by `personal_sign`.
    EthereumWallet,
}

/// The signed-in user as they see themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Me))]
pub struct Me {
    /// The user's id.
    #[cfg_attr(feature = "openapi", schema(value_type = i64, minimum = 1))]
    pub id: UserId,
    /// EIP-55 checksummed wallet address.
    pub public_key: WalletAddress,
    #[cfg_attr(feature = "openapi", schema(inline))]
    pub identity_type: IdentityType,
    /// Completed ÷ (completed + timed out after accepting), 0 before any.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub reputation_score: f64,
    /// When the user first signed in.
    #[serde(with = "serde_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = j0_domain::openapi::Timestamp))]
    pub created_at: OffsetDateTime,
}

/// What anyone may see of a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = PublicUser))]
pub struct PublicUser {
    /// The user's id.
    #[cfg_attr(feature = "openapi", schema(value_type = i64, minimum = 1))]
    pub id: UserId,
    /// EIP-55 checksummed wallet address.
    pub public_key: WalletAddress,
    /// Completed ÷ (completed + timed out after accepting), 0 before any.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub reputation_score: f64,
    /// When the user first signed in.
    #[serde(with = "serde_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = j0_domain::openapi::Timestamp))]
    pub created_at: OffsetDateTime,
}
