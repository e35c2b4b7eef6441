//! Why a use case failed, when it is more than a refusal of the domain or a port's error.

use j0_domain::auth::ChallengeRefusal;
use j0_ports::{
    RandomnessError, StoreError,
    payments::{CheckoutError, WebhookError},
};

/// Why a sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The challenge is unknown, someone else's, used or expired.
    #[error(transparent)]
    Challenge(#[from] ChallengeRefusal),
    /// The signature is malformed or not the address's.
    #[error("Invalid signature")]
    InvalidSignature,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a challenge could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum ChallengeError {
    /// No randomness for the nonce.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a checkout could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutFailure {
    /// Not one of 5, 10, 20, 50, 100.
    #[error("amount_usd must be one of 5, 10, 20, 50, 100")]
    InvalidAmount,
    /// Payments are not configured here.
    #[error("Payments are not configured")]
    NotConfigured,
    /// The provider failed.
    #[error(transparent)]
    Provider(#[from] CheckoutError),
    /// The session could not be recorded, so it is not offered.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a webhook was not acted on.
#[derive(Debug, thiserror::Error)]
pub enum WebhookFailure {
    /// Payments are not configured here.
    #[error("Payments are not configured")]
    NotConfigured,
    /// Bad signature, or not an event.
    #[error(transparent)]
    Refused(#[from] WebhookError),
    /// Storage failed; Stripe will retry.
    #[error(transparent)]
    Store(#[from] StoreError),
}
