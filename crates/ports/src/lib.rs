//! The boundary between the use cases and the world: one trait per outside dependency, speaking
//! domain types only.
//!
//! Each storage method is one atomic use case; its transaction lives inside the adapter, never
//! threaded through callers. Each method's error enum lists the outcomes a caller can act on,
//! plus [`StoreError`] for the storage failing underneath.
//!
//! One naming rule holds across the crates: a `*Refusal` (in `j0-domain`) is a rule saying no —
//! the caller asked for something the marketplace does not allow, and nothing changed; an
//! `*Error` is everything an operation can answer instead of succeeding: its refusals (as a
//! `Refused` variant, or one variant each), the outcomes of its own (`NotFound`, `SignedOut`),
//! and `Store` when the machinery underneath failed.

#![warn(missing_docs)]

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use j0_domain::{
    Cents, JobId, UserId, WalletAddress,
    auth::{Challenge, Nonce, StoredChallenge},
    job::{
        AcceptRefusal, CancelRefusal, CompleteRefusal, Job, JobResult, JobStatus, KeyReused,
        NewJob, OpenJobsCap,
    },
    ledger::{Hold, InsufficientCredits},
    user::User,
};

pub mod chain;
pub mod error_chain;
pub mod events;
pub mod ledger;
pub mod payments;

// The domain's README shows a team implementing these ports over its own store. The domain
// cannot depend on its ports, so its example compiles and runs here, as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../../domain/README.md")]
mod domain_readme {}

pub use error_chain::ErrorChain;
pub use events::{EventHorizon, EventStore, EventStream, Notice, OutboxEvent};

/// Storage failed underneath a use case.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or has no free connection; the request may be retried.
    #[error("storage unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Anything else: a bug or a broken invariant. Logged once, answered with a fixed message.
    #[error("storage failed")]
    Unknown(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The current time. Injected so that expiry can be tested without sleeping.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// Unpredictable bytes: challenge nonces, token ids, operator grant keys. Injected, so that a
/// test can fix what is drawn.
pub trait Randomness: Send + Sync + std::fmt::Debug {
    /// Fills `bytes` from a cryptographically secure source.
    fn fill(&self, bytes: &mut [u8]) -> Result<(), RandomnessError>;
}

/// No randomness could be drawn.
#[derive(Debug, thiserror::Error)]
#[error("no randomness available")]
pub struct RandomnessError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// The signature could not be decoded, is malleable, or recovers no address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Invalid signature")]
pub struct InvalidSignature;

/// Recovers who signed a message.
pub trait SignatureVerifier: Send + Sync + std::fmt::Debug {
    /// The address whose key made `signature` (65 bytes hex, `0x` optional, `v` in 0/1/27/28,
    /// low `s` only) over `message` as an EIP-191 `personal_sign`.
    fn recover_personal_sign(
        &self,
        message: &str,
        signature: &str,
    ) -> Result<WalletAddress, InvalidSignature>;
}

/// Why a challenge could not be consumed; `Used` when another verify won the race.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// Consumed by someone else, expired, or missing by the time the update ran.
    #[error(transparent)]
    Refused(#[from] j0_domain::auth::ChallengeRefusal),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Challenges, users and revoked tokens.
#[async_trait]
pub trait AuthStore: Send + Sync + std::fmt::Debug {
    /// Keeps a freshly issued challenge.
    async fn save_challenge(&self, challenge: &Challenge) -> Result<(), StoreError>;

    /// The challenge with this nonce, used or not, while it is kept.
    async fn find_challenge(&self, nonce: &Nonce) -> Result<Option<StoredChallenge>, StoreError>;

    /// In one transaction: marks `challenge` used if it is still unused and unexpired at `now`
    /// and was issued with its nonce to its address, then returns the user for that address,
    /// creating it (and granting `signup_promo`, when positive, as a `promo` history row) on
    /// the first sign-in. Exactly one of any number of concurrent calls for one nonce succeeds.
    async fn consume_challenge(
        &self,
        challenge: &Challenge,
        now: OffsetDateTime,
        signup_promo: Cents,
    ) -> Result<User, ConsumeError>;

    /// Refuses the token `jti` until `expires_at`, and announces the revocation to every
    /// instance's [`EventStream`] in the same transaction (so open WebSockets holding the token
    /// close).
    async fn revoke_token(&self, jti: &str, expires_at: OffsetDateTime) -> Result<(), StoreError>;

    /// Whether `jti` was revoked.
    async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError>;

    /// Forgets challenges and revocations that expired before `now`; returns how many.
    async fn prune_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

/// Users by id.
#[async_trait]
pub trait UserStore: Send + Sync + std::fmt::Debug {
    /// The user with this id.
    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError>;
}

/// Whether the storage answers.
#[async_trait]
pub trait HealthCheck: Send + Sync + std::fmt::Debug {
    /// Runs a trivial query.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// A user acting through a session: who, and the id (`jti`) of the token they signed in with.
///
/// The stores that act for one check, in the statement that does the work, that the token was
/// not revoked, and refuse with `SignedOut` when it was: a sign-out on any instance is honoured
/// by every instance from the moment it commits, without a round trip of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// The user.
    pub user: UserId,
    /// The token's id.
    pub jti: String,
}

/// Why a post failed.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// The caller's token was revoked (signed out).
    #[error("signed out")]
    SignedOut,
    /// The balance does not cover the credits.
    #[error(transparent)]
    Insufficient(#[from] InsufficientCredits),
    /// The idempotency key was used in the last 24 h with another body.
    #[error(transparent)]
    KeyReused(#[from] KeyReused),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A post's idempotency key and the parsed request it binds.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// The header's value, 1–255 characters.
    pub key: String,
    /// The request body as parsed JSON, compared on replay.
    pub request: serde_json::Value,
}

/// What a post did: a new job, or the replay of the one a key already made.
#[derive(Debug, Clone)]
pub struct Posted {
    /// The job.
    pub job: Job,
    /// Whether this call created it (false for an idempotent replay).
    pub created: bool,
}

/// Why an action on one job failed; `R` is the rule of that action ([`AcceptRefusal`],
/// [`CompleteRefusal`], [`CancelRefusal`]).
#[derive(Debug, thiserror::Error)]
pub enum JobActionError<R> {
    /// The caller's token was revoked (signed out). Never for a cancel, which acts for its
    /// requester by id.
    #[error("signed out")]
    SignedOut,
    /// No such job.
    #[error("Job not found")]
    NotFound,
    /// The action's rule refused it.
    #[error(transparent)]
    Refused(R),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The rule of one action on a job: what refuses an accept, a completion or a cancel.
pub trait JobRule: std::error::Error {}

impl JobRule for AcceptRefusal {}
impl JobRule for CompleteRefusal {}
impl JobRule for CancelRefusal {}

impl<R: JobRule> From<R> for JobActionError<R> {
    fn from(refusal: R) -> Self {
        Self::Refused(refusal)
    }
}

/// Why an accept failed.
pub type AcceptError = JobActionError<AcceptRefusal>;
/// Why a completion failed.
pub type CompleteError = JobActionError<CompleteRefusal>;
/// Why a cancel failed.
pub type CancelError = JobActionError<CancelRefusal>;

/// A completed job and what its worker earned.
#[derive(Debug, Clone)]
pub struct Completed {
    /// The job, now `completed`.
    pub job: Job,
    /// Paid into the worker's cash.
    pub credits_earned: Cents,
}

/// A cancelled job and what went back to its requester.
#[derive(Debug, Clone)]
pub struct Cancelled {
    /// The job, now `cancelled`.
    pub job: Job,
    /// Returned to the requester, by bucket.
    pub refunded: Hold,
}

/// Filters of `GET /jobs`; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only jobs in this status.
    pub status: Option<JobStatus>,
    /// Only jobs posted by this user.
    pub requester_id: Option<UserId>,
    /// Only jobs accepted by this user.
    pub worker_id: Option<UserId>,
    /// Only jobs needing this capability.
    pub capability: Option<j0_domain::job::Capability>,
    /// Only jobs with a smaller id (the next page).
    pub before: Option<JobId>,
    /// At most this many, newest first.
    pub limit: i64,
}

/// The job marketplace. Each method is one transaction that changes the job, moves the money,
/// writes the history rows and the outbox events together, or does nothing.
///
/// The methods acting for a [`SignedIn`] caller answer `SignedOut`, before any other outcome and
/// changing nothing, when the caller's token was revoked.
#[async_trait]
pub trait JobStore: Send + Sync + std::fmt::Debug {
    /// Takes the credits (promo first) from `requester` into escrow and posts the job, expiring
    /// at `now + accept_window`. With a key, a repeat within 24 h returns the first job.
    async fn post_job(
        &self,
        requester: &SignedIn,
        job: NewJob,
        now: OffsetDateTime,
        accept_window: time::Duration,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Posted, PostError>;

    /// Gives the job to `worker` if it is `posted` and unexpired at `now`; exactly one of any
    /// number of concurrent accepts succeeds.
    ///
    /// Refusals come in the contract's order (`JobState::check_accept`); only an accept that
    /// passes them all is held against `cap`, counting the other jobs `worker` holds in
    /// `accepted` with an unexpired deadline. Over the cap the answer is
    /// `Refused(TooManyOpenJobs)` and nothing changes. The count and the accept are one
    /// transaction serialised per worker, so concurrent accepts by one worker never overshoot.
    async fn accept_job(
        &self,
        job: JobId,
        worker: &SignedIn,
        now: OffsetDateTime,
        cap: OpenJobsCap,
    ) -> Result<Job, AcceptError>;

    /// Records the result and pays the worker if they hold the job and `now` is before its
    /// deadline.
    async fn complete_job(
        &self,
        job: JobId,
        worker: &SignedIn,
        result: JobResult,
        now: OffsetDateTime,
    ) -> Result<Completed, CompleteError>;

    /// Cancels a `posted`, unexpired job of `requester` and refunds it.
    async fn cancel_job(
        &self,
        job: JobId,
        requester: UserId,
        now: OffsetDateTime,
    ) -> Result<Cancelled, CancelError>;

    /// Times out and refunds up to `batch` open jobs whose deadline is at or before `now`,
    /// skipping rows another sweeper holds; returns the jobs it timed out.
    async fn expire_due(&self, now: OffsetDateTime, batch: i64) -> Result<Vec<Job>, StoreError>;

    /// One job.
    async fn job(&self, id: JobId) -> Result<Option<Job>, StoreError>;

    /// Jobs matching `filter`, newest first.
    async fn jobs(&self, filter: &JobFilter) -> Result<Vec<Job>, StoreError>;
}

/// The shared handles the use cases run on.
#[derive(Debug, Clone)]
pub struct Ports {
    /// Wall or test clock.
    pub clock: Arc<dyn Clock>,
    /// The source of nonces and token ids.
    pub random: Arc<dyn Randomness>,
    /// Signature recovery.
    pub signatures: Arc<dyn SignatureVerifier>,
    /// Challenges, users, revocations.
    pub auth: Arc<dyn AuthStore>,
    /// Users by id.
    pub users: Arc<dyn UserStore>,
    /// Storage liveness.
    pub health: Arc<dyn HealthCheck>,
    /// The marketplace.
    pub jobs: Arc<dyn JobStore>,
    /// Balances, history and operator ledger commands.
    pub ledger: Arc<dyn ledger::LedgerStore>,
    /// The outbox's read side.
    pub events: Arc<dyn EventStore>,
    /// Notices of newly numbered events and of revoked tokens.
    pub event_stream: Arc<dyn EventStream>,
    /// Card payments, when configured.
    pub payments: Option<Arc<dyn payments::PaymentProvider>>,
    /// The Checkout Sessions j0 created.
    pub checkouts: Arc<dyn payments::CheckoutStore>,
    /// Deposit address derivation.
    pub deposit_addresses: Arc<dyn chain::DepositAddresses>,
    /// Deposit addresses and the watcher's cursor.
    pub deposits: Arc<dyn chain::DepositStore>,
    /// The chain, when a node is configured.
    pub chain: Option<Arc<dyn chain::ChainReader>>,
}
