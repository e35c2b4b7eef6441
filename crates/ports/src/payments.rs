//! Card payments: creating a Checkout Session and reading a verified webhook.

use async_trait::async_trait;
use time::OffsetDateTime;

use j0_domain::{Cents, UserId};

use crate::StoreError;

/// A Checkout Session to create for a user buying credits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRequest {
    /// Who is buying; sent as `client_reference_id` and `metadata[user_id]`.
    pub user: UserId,
    /// What the customer pays, in whole US dollars (one of 5, 10, 20, 50, 100).
    pub amount_usd: u32,
    /// The credit it will buy, sent as `metadata[credit_cents]` (informational only: the
    /// webhook credits from the session's own `amount_total`).
    pub credit_cents: Cents,
    /// Where Checkout sends the customer after paying.
    pub success_url: String,
    /// Where Checkout sends the customer after giving up.
    pub cancel_url: String,
}

/// A Checkout Session the provider created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    /// Its id (`cs_…`), which the paid-session webhook names.
    pub id: String,
    /// Where the customer pays.
    pub url: String,
}

/// The provider could not create a session.
#[derive(Debug, thiserror::Error)]
#[error("payment provider unavailable")]
pub struct CheckoutError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// What a verified webhook means to j0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentEvent {
    /// The money of a Checkout Session arrived: `checkout.session.completed` with
    /// `payment_status: paid`, or `checkout.session.async_payment_succeeded`.
    SessionPaid {
        /// The event's id (`evt_…`), for logs.
        event_id: String,
        /// The Checkout Session id (`cs_…`): the idempotency key of the credit.
        session: String,
        /// The user the session names as its `client_reference_id`.
        user: UserId,
        /// What the customer paid, in US cents.
        amount: Cents,
    },
    /// A paid session that cannot be a j0 purchase: it names no j0 user, or was not paid in US
    /// dollars. Acknowledged, logged, changes nothing.
    NotOurs {
        /// The event's id.
        event_id: String,
        /// The Checkout Session id.
        session: String,
        /// Why it is not j0's.
        why: &'static str,
    },
    /// Any other event, or a completed session not yet paid: acknowledged, changes nothing.
    Ignored {
        /// The event's id.
        event_id: String,
        /// The event's `type`.
        event_type: String,
    },
}

/// Why a webhook was refused; nothing is done for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Missing or malformed `Stripe-Signature`, no matching `v1`, or a timestamp more than
    /// 300 s from now in either direction.
    #[error("Invalid webhook signature")]
    InvalidSignature,
    /// Correctly signed, but not a Stripe event.
    #[error("not a Stripe event: {0}")]
    NotAnEvent(String),
}

/// A card payment provider (Stripe).
#[async_trait]
pub trait PaymentProvider: Send + Sync + std::fmt::Debug {
    /// Creates a Checkout Session.
    async fn create_checkout(
        &self,
        request: &CheckoutRequest,
    ) -> Result<CheckoutSession, CheckoutError>;

    /// Verifies `signature_header` (the `Stripe-Signature` value) over the raw `payload` with
    /// the endpoint secret at `now`, in constant time, before parsing anything; then reads the
    /// event.
    fn verify_webhook(
        &self,
        payload: &[u8],
        signature_header: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<PaymentEvent, WebhookError>;
}

/// The Checkout Sessions j0 created, so that a webhook credits only those, to their own user.
#[async_trait]
pub trait CheckoutStore: Send + Sync + std::fmt::Debug {
    /// Records that `session` was created for `request`: its user, buying its dollars
    /// (idempotent).
    async fn record_checkout(
        &self,
        session: &CheckoutSession,
        request: &CheckoutRequest,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Whom j0 created the session `session_id` for; `None` when j0 did not create it (or its
    /// record outlived [`j0_domain::ledger::CHECKOUT_RECORD_LIFETIME`]).
    async fn checkout_owner(&self, session_id: &str) -> Result<Option<UserId>, StoreError>;
}
