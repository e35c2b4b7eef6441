//! The JSON bodies of j0's API, as Rust types both sides share.
//!
//! The server serializes its answers with these types and the client deserializes them with
//! the very same ones, so the two cannot drift apart; the request bodies go the other way. Jobs
//! and balances are the domain's own views ([`j0_domain::view`]), which the outbox events use
//! too. With the `openapi` feature every type also describes itself for the OpenAPI document
//! (the `schema` module holds the shared pieces of those descriptions).
//!
//! Field names, enumerated values and nesting are the contract's; nothing here computes.

pub mod auth;
pub mod credits;
pub mod error;
pub mod events;
pub mod jobs;
pub mod payments;
#[cfg(feature = "openapi")]
pub mod schema;
pub mod users;

pub use j0_domain::view::{BalanceView, EarnedJobView, JobView};

/// The path every REST route lives under.
pub const BASE_PATH: &str = "/api/v1";
/// The WebSocket's path (outside [`BASE_PATH`]).
pub const WS_PATH: &str = "/ws";
/// The header carrying a client's idempotency key for `POST /jobs`.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// The longest idempotency key, in characters.
pub const IDEMPOTENCY_KEY_MAX_CHARS: usize = 255;

/// `GET /health`: up, with the database answering.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    #[cfg_attr(feature = "openapi", schema(inline, value_type = crate::schema::StatusOk))]
    pub status: String,
    #[cfg_attr(feature = "openapi", schema(inline, value_type = crate::schema::StatusOk))]
    pub database: String,
}

/// 503 from `GET /health`: the database does not answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Unhealthy {
    #[cfg_attr(feature = "openapi", schema(inline, value_type = crate::schema::Unavailable))]
    pub status: String,
    #[cfg_attr(feature = "openapi", schema(inline, value_type = crate::schema::Unreachable))]
    pub database: String,
    /// `Database unreachable`.
    pub error: String,
    #[cfg_attr(
        feature = "openapi",
        schema(inline, value_type = crate::schema::ServiceUnavailableCode)
    )]
    pub code: error::ErrorCode,
}
