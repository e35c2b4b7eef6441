//! `POST /payments/stripe/checkout`, `POST /payments/stripe/webhook`, `GET /payments/usdc/address`.

use serde::{Deserialize, Serialize};

use j0_domain::WalletAddress;

/// The network every deposit address is on.
pub const NETWORK_NAME: &str = "Base L2";
/// The token deposits are counted in.
pub const TOKEN_NAME: &str = "USDC";

/// A card purchase of credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// Dollars: one of 5, 10, 20, 50, 100 (another integer is 400 `INVALID_AMOUNT`); credits
    /// `amount_usd * 95` cents of cash once paid.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::AmountUsd))]
    pub amount_usd: i64,
}

/// Where to send the user to pay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Checkout))]
pub struct Checkout {
    /// The Stripe Checkout Session's page.
    #[cfg_attr(feature = "openapi", schema(format = "uri"))]
    pub checkout_url: String,
}

/// The event was handled (or deliberately ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = WebhookReceived))]
pub struct WebhookReceived {
    /// Always `true`.
    pub received: bool,
}

/// The caller's own USDC deposit address on Base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = UsdcDepositAddress))]
pub struct DepositAddress {
    /// Unique to the caller, derived with CREATE2 (EIP-55).
    pub address: WalletAddress,
    #[cfg_attr(feature = "openapi", schema(inline, value_type = crate::schema::NetworkName))]
    pub network: String,
    /// 8453 unless configured otherwise.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub chain_id: u64,
    #[cfg_attr(feature = "openapi", schema(inline, value_type = crate::schema::TokenName))]
    pub token: String,
    /// The USDC contract that counts (EIP-55).
    pub token_contract: WalletAddress,
    /// Blocks on top of a transfer before it is credited.
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub min_confirmations: u64,
}
