//! The use cases of j0: one method per user-visible action, orchestrating the domain's rules
//! over the ports. No framework, database or chain type appears here; the HTTP edge, the
//! background tasks and the operator commands all call through this one [`Marketplace`].

use time::Duration;

mod error;
mod payments;

pub use error::{ChallengeError, CheckoutFailure, VerifyError, WebhookFailure};
pub use payments::{
    BlockWindow, CheckoutSettings, DepositInfo, DepositSettings, DepositWatch, Scan, ScanError,
};

use j0_domain::{
    Cents, EventId, JobId, TransactionId, UserId, WalletAddress,
    auth::{AuthDomain, Challenge, ChallengeRefusal, NONCE_BYTES, Nonce},
    job::{Job, JobResult, NewJob, OpenJobsCap},
    ledger::{Balance, PromoReference},
    posting::Posting,
    user::User,
};
use j0_ports::{
    AcceptError, CancelError, Cancelled, CompleteError, Completed, ConsumeError, EventHorizon,
    IdempotencyKey, JobFilter, OutboxEvent, Ports, PostError, Posted, RandomnessError, SignedIn,
    StoreError,
    events::Notices,
    ledger::{AuditReport, GrantError, Granted, HistoryRow},
};

/// The settings the use cases need, parsed once at start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Names the service in `message_to_sign` and as token issuer.
    pub auth_domain: AuthDomain,
    /// How long a posted job waits for a worker.
    pub accept_window: Duration,
    /// How many jobs one worker may hold in `accepted` at once.
    pub max_open_jobs: OpenJobsCap,
    /// Promo credits granted on a user's first sign-in.
    pub signup_promo: Cents,
    /// Checkout redirect targets.
    pub checkout: CheckoutSettings,
    /// The chain USDC deposits are on.
    pub deposits: DepositSettings,
}

/// A challenge and the exact text to sign.
#[derive(Debug, Clone)]
pub struct IssuedChallenge {
    /// The stored challenge.
    pub challenge: Challenge,
    /// `"<domain> authentication\nNonce: …\nTimestamp: …"`.
    pub message_to_sign: String,
}

/// The application: ports plus settings. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Marketplace {
    ports: Ports,
    settings: Settings,
}

impl Marketplace {
    /// The use cases over these ports.
    pub fn new(ports: Ports, settings: Settings) -> Self {
        Self { ports, settings }
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The clock every use case reads.
    pub fn now(&self) -> time::OffsetDateTime {
        self.ports.clock.now()
    }

    /// `N` bytes from the randomness port.
    fn random_bytes<const N: usize>(&self) -> Result<[u8; N], RandomnessError> {
        let mut bytes = [0u8; N];
        self.ports.random.fill(&mut bytes)?;
        Ok(bytes)
    }

    /// Issues and stores a 60-second challenge for `address`.
    pub async fn request_challenge(
        &self,
        address: WalletAddress,
    ) -> Result<IssuedChallenge, ChallengeError> {
        let nonce = Nonce::from_random(self.random_bytes::<NONCE_BYTES>()?);
        let challenge = Challenge::issue(address, nonce, self.now());
        self.ports.auth.save_challenge(&challenge).await?;
        let message_to_sign = challenge.message_to_sign(&self.settings.auth_domain);
        Ok(IssuedChallenge {
            challenge,
            message_to_sign,
        })
    }

    /// Checks the signature over the challenge and consumes it; returns the (possibly new) user.
    /// A failed verify leaves the challenge usable.
    pub async fn verify(
        &self,
        address: WalletAddress,
        nonce: Nonce,
        signature: &str,
    ) -> Result<User, VerifyError> {
        let now = self.now();
        let stored = self
            .ports
            .auth
            .find_challenge(&nonce)
            .await?
            .ok_or(ChallengeRefusal::NotFound)?;
        stored.check(&address, now)?;
        let message = stored.challenge.message_to_sign(&self.settings.auth_domain);
        let signer = self
            .ports
            .signatures
            .recover_personal_sign(&message, signature)
            .map_err(|_| VerifyError::InvalidSignature)?;
        if signer != address {
            return Err(VerifyError::InvalidSignature);
        }
        let user = self
            .ports
            .auth
            .consume_challenge(&stored.challenge, now, self.settings.signup_promo)
            .await
            .map_err(|e| match e {
                ConsumeError::Refused(refusal) => VerifyError::Challenge(refusal),
                ConsumeError::Store(e) => VerifyError::Store(e),
            })?;
        // Every user's deposit address is on record from their first sign-in, so a deposit made
        // before they ever asked for it is still credited.
        let deposit_address = self.ports.deposit_addresses.deposit_address(user.id);
        self.ports
            .deposits
            .register_deposit_address(user.id, &deposit_address)
            .await?;
        tracing::info!(user_id = %user.id, "signed in");
        Ok(user)
    }

    /// A fresh random token id (`jti`).
    pub fn new_token_id(&self) -> Result<String, RandomnessError> {
        Ok(hex::encode(self.random_bytes::<16>()?))
    }

    /// Refuses the token `jti` from now on, for as long as it could still be accepted (its
    /// `expires_at` plus the leeway), so pruning never lets it back in.
    pub async fn revoke_token(
        &self,
        jti: &str,
        expires_at: time::OffsetDateTime,
    ) -> Result<(), StoreError> {
        let kept_until = j0_domain::auth::revocation_kept_until(expires_at);
        self.ports.auth.revoke_token(jti, kept_until).await
    }

    /// Whether the token `jti` was revoked.
    pub async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.ports.auth.is_token_revoked(jti).await
    }

    /// The user with this id.
    pub async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.ports.users.user(id).await
    }

    /// Whether storage answers.
    pub async fn health(&self) -> Result<(), StoreError> {
        self.ports.health.ping().await
    }

    /// The user's balance.
    pub async fn balance(&self, user: UserId) -> Result<Balance, StoreError> {
        self.ports.ledger.balance(user).await
    }

    /// The user's credit history, newest first.
    pub async fn history(
        &self,
        user: UserId,
        before: Option<TransactionId>,
        limit: i64,
    ) -> Result<Vec<HistoryRow>, StoreError> {
        self.ports.ledger.history(user, before, limit).await
    }

    /// Posts a job paid from `requester`'s balance.
    pub async fn post_job(
        &self,
        requester: &SignedIn,
        job: NewJob,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Posted, PostError> {
        let posted = self
            .ports
            .jobs
            .post_job(
                requester,
                job,
                self.now(),
                self.settings.accept_window,
                idempotency,
            )
            .await?;
        if posted.created {
            tracing::info!(job_id = %posted.job.id, user_id = %requester.user, "job posted");
        }
        Ok(posted)
    }

    /// Accepts a job for `worker`; first to accept wins, within the worker's open-jobs cap.
    pub async fn accept_job(&self, job: JobId, worker: &SignedIn) -> Result<Job, AcceptError> {
        self.ports
            .jobs
            .accept_job(job, worker, self.now(), self.settings.max_open_jobs)
            .await
    }

    /// Submits `worker`'s result and pays them.
    pub async fn complete_job(
        &self,
        job: JobId,
        worker: &SignedIn,
        result: JobResult,
    ) -> Result<Completed, CompleteError> {
        self.ports
            .jobs
            .complete_job(job, worker, result, self.now())
            .await
    }

    /// Cancels `requester`'s posted job and refunds it.
    pub async fn cancel_job(
        &self,
        job: JobId,
        requester: UserId,
    ) -> Result<Cancelled, CancelError> {
        self.ports.jobs.cancel_job(job, requester, self.now()).await
    }

    /// One job.
    pub async fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        self.ports.jobs.job(id).await
    }

    /// Jobs matching `filter`, newest first.
    pub async fn jobs(&self, filter: &JobFilter) -> Result<Vec<Job>, StoreError> {
        self.ports.jobs.jobs(filter).await
    }

    /// Times out and refunds up to `batch` due jobs; returns how many.
    pub async fn expire_due(&self, batch: i64) -> Result<usize, StoreError> {
        let expired = self.ports.jobs.expire_due(self.now(), batch).await?;
        for job in &expired {
            tracing::info!(job_id = %job.id, user_id = %job.requester_id, "job timed out and refunded");
        }
        Ok(expired.len())
    }

    /// Forgets expired challenges, revocations and idempotency keys.
    pub async fn prune_expired(&self) -> Result<u64, StoreError> {
        self.ports.auth.prune_expired(self.now()).await
    }

    /// Grants promo credits to a user (operator command), every call anew.
    pub async fn grant_promo(&self, user: UserId, amount: Cents) -> Result<Balance, GrantError> {
        let nonce = self
            .random_bytes::<16>()
            .map_err(|e| GrantError::Store(StoreError::Unknown(Box::new(e))))?;
        let grant = Posting::promo_grant(nonce, user, amount);
        let granted = self.ports.ledger.grant_promo(&grant, self.now()).await?;
        Ok(granted.balance)
    }

    /// Grants promo credits to a user once per `reference` (operator command, safe to retry):
    /// a repeat with the same amount changes nothing, another amount is refused.
    pub async fn grant_promo_once(
        &self,
        user: UserId,
        amount: Cents,
        reference: &PromoReference,
    ) -> Result<Granted, GrantError> {
        let grant = Posting::promo_grant_once(reference, user, amount);
        self.ports.ledger.grant_promo(&grant, self.now()).await
    }

    /// Numbers committed outbox events and announces them; returns the last id given.
    pub async fn sequence_events(&self, batch: i64) -> Result<Option<EventId>, StoreError> {
        self.ports.events.sequence_events(batch).await
    }

    /// Events for every audience after `after`, oldest first.
    pub async fn events_after(
        &self,
        after: EventId,
        limit: i64,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        self.ports.events.events_after(after, limit).await
    }

    /// Events a user may receive after `after`, oldest first.
    pub async fn events_for(
        &self,
        user: UserId,
        after: EventId,
        limit: i64,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        self.ports.events.events_for(user, after, limit).await
    }

    /// How far back a resuming client can be served.
    pub async fn event_horizon(&self) -> Result<EventHorizon, StoreError> {
        self.ports.events.horizon().await
    }

    /// Forgets events older than `retention`.
    pub async fn prune_events(&self, retention: Duration) -> Result<u64, StoreError> {
        self.ports.events.prune_events(self.now() - retention).await
    }

    /// Listens for newly numbered events and revoked tokens.
    pub async fn listen_events(&self) -> Result<Notices, StoreError> {
        self.ports.event_stream.listen().await
    }

    /// Checks every ledger invariant.
    pub async fn audit_ledger(&self) -> Result<AuditReport, StoreError> {
        self.ports.ledger.audit().await
    }
}
