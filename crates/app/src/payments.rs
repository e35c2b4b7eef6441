//! Buying credits: Stripe Checkout and its webhook, USDC deposit addresses and the deposit
//! watcher's step.

use j0_domain::{
    Cents, UserId, WalletAddress,
    ledger::{self, Account, CHECKOUT_AMOUNTS_USD, describe},
};
use j0_ports::{
    StoreError,
    chain::{ChainError, Deposit},
    ledger::{CreditOutcome, Purchase},
    payments::{CheckoutError, CheckoutRequest, PaymentEvent, WebhookError},
};

use crate::App;

/// Where Checkout sends customers back to.
#[derive(Debug, Clone)]
pub struct CheckoutSettings {
    /// After paying.
    pub success_url: String,
    /// After giving up.
    pub cancel_url: String,
}

impl Default for CheckoutSettings {
    fn default() -> Self {
        Self {
            success_url: "https://j0.com/credits?paid=1".to_owned(),
            cancel_url: "https://j0.com/credits".to_owned(),
        }
    }
}

/// The chain deposits are watched on.
#[derive(Debug, Clone)]
pub struct DepositSettings {
    /// EIP-155 chain id (Base: 8453).
    pub chain_id: u64,
    /// The USDC contract whose transfers count.
    pub usdc_contract: WalletAddress,
    /// Blocks on top of a transfer's before it counts.
    pub confirmations: u64,
    /// Where the watcher starts on its first run (default: the head at that moment).
    pub start_block: Option<u64>,
    /// Most blocks asked for in one `eth_getLogs`.
    pub max_block_range: u64,
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

/// A user's deposit address and where to send USDC.
#[derive(Debug, Clone)]
pub struct DepositInfo {
    /// The user's own address.
    pub address: WalletAddress,
    /// The chain.
    pub chain_id: u64,
    /// The token contract that counts.
    pub token_contract: WalletAddress,
    /// Confirmations before a deposit counts.
    pub min_confirmations: u64,
}

/// What one watcher step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Nothing new is confirmed yet.
    Idle,
    /// Blocks `from..=to` were scanned; `credited` deposits landed; `caught_up` when `to` is the
    /// newest confirmed block.
    Scanned {
        from: u64,
        to: u64,
        credited: usize,
        caught_up: bool,
    },
}

/// Why a watcher step failed; the cursor did not move.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// No node is configured.
    #[error("no EVM node configured")]
    NotConfigured,
    /// The node failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl App {
    /// Creates a Stripe Checkout Session for `amount_usd` dollars; returns its URL.
    pub async fn create_checkout(
        &self,
        user: UserId,
        amount_usd: i64,
    ) -> Result<String, CheckoutFailure> {
        let amount_usd = u32::try_from(amount_usd)
            .ok()
            .filter(|a| CHECKOUT_AMOUNTS_USD.contains(a))
            .ok_or(CheckoutFailure::InvalidAmount)?;
        let provider = self
            .ports
            .payments
            .as_ref()
            .ok_or(CheckoutFailure::NotConfigured)?;
        let request = CheckoutRequest {
            user,
            amount_usd,
            credit_cents: ledger::stripe_credit(Cents(i64::from(amount_usd) * 100)),
            success_url: self.settings.checkout.success_url.clone(),
            cancel_url: self.settings.checkout.cancel_url.clone(),
        };
        let url = provider.create_checkout(&request).await?;
        tracing::info!(user_id = %user, amount_usd, "checkout session created");
        Ok(url)
    }

    /// Verifies a Stripe webhook and credits a paid Checkout Session once. `Ok` means whatever
    /// the event asks for has committed (or needs nothing).
    pub async fn stripe_webhook(
        &self,
        payload: &[u8],
        signature: Option<&str>,
    ) -> Result<(), WebhookFailure> {
        let provider = self
            .ports
            .payments
            .as_ref()
            .ok_or(WebhookFailure::NotConfigured)?;
        let event = provider.verify_webhook(payload, signature, self.now())?;
        let PaymentEvent::SessionPaid {
            event_id,
            session_id,
            client_reference_id,
            amount_total,
            currency,
        } = event
        else {
            if let PaymentEvent::Ignored {
                event_id,
                event_type,
            } = event
            {
                tracing::info!(%event_id, %event_type, "stripe event ignored");
            }
            return Ok(());
        };
        let user = client_reference_id
            .as_deref()
            .and_then(|id| id.parse::<i64>().ok())
            .filter(|id| *id > 0);
        let (Some(user), "usd") = (user, currency.as_str()) else {
            tracing::warn!(%event_id, %session_id, %currency, "paid session without a j0 user or not in USD; ignored");
            return Ok(());
        };
        let purchase = Purchase {
            key: format!("stripe:{session_id}"),
            user: UserId(user),
            source: Account::StripeClearing,
            amount: ledger::stripe_credit(amount_total),
            description: describe::stripe_purchase(amount_total),
        };
        match self
            .ports
            .ledger
            .credit_purchase(&purchase, self.now())
            .await?
        {
            CreditOutcome::Credited => {
                tracing::info!(%event_id, %session_id, user_id = user, amount_cents = purchase.amount.get(), "stripe purchase credited");
            }
            CreditOutcome::AlreadyCredited => {
                tracing::info!(%event_id, %session_id, "stripe session already credited");
            }
            CreditOutcome::UnknownUser => {
                tracing::warn!(%event_id, %session_id, user_id = user, "paid session for an unknown user; ignored");
            }
        }
        Ok(())
    }

    /// The user's USDC deposit address, recorded so the watcher can credit it.
    pub async fn deposit_address(&self, user: UserId) -> Result<DepositInfo, StoreError> {
        let address = self.ports.deposit_addresses.deposit_address(user);
        self.ports
            .deposits
            .register_deposit_address(user, &address)
            .await?;
        let chain = &self.settings.deposits;
        Ok(DepositInfo {
            address,
            chain_id: chain.chain_id,
            token_contract: chain.usdc_contract,
            min_confirmations: chain.confirmations,
        })
    }

    /// One step of the deposit watcher: scans the next confirmed blocks (at most the configured
    /// range) and credits what arrived, moving the cursor with the credits.
    pub async fn scan_deposits(&self) -> Result<Scan, ScanError> {
        let chain = self.ports.chain.as_ref().ok_or(ScanError::NotConfigured)?;
        let settings = &self.settings.deposits;
        let head = chain.head().await?;
        let cursor = match self
            .ports
            .deposits
            .deposit_cursor(settings.chain_id)
            .await?
        {
            Some(cursor) => cursor,
            None => {
                let start = settings.start_block.unwrap_or(head);
                self.ports
                    .deposits
                    .record_deposits(settings.chain_id, &[], start, self.now())
                    .await?;
                tracing::info!(
                    chain_id = settings.chain_id,
                    start_block = start,
                    "deposit watcher starts"
                );
                start
            }
        };
        let Some(confirmed) = head.checked_sub(settings.confirmations) else {
            return Ok(Scan::Idle);
        };
        if cursor > confirmed {
            return Ok(Scan::Idle);
        }
        let to = confirmed.min(cursor.saturating_add(settings.max_block_range.max(1) - 1));
        let transfers = chain
            .token_transfers(&settings.usdc_contract, cursor, to)
            .await?;
        let deposits: Vec<Deposit> = transfers
            .into_iter()
            .filter(|t| !t.removed && t.token == settings.usdc_contract)
            .filter_map(|t| match ledger::usdc_credit(t.amount) {
                Some(amount) => Some(Deposit {
                    to: t.to,
                    tx_hash: t.tx_hash,
                    log_index: t.log_index,
                    amount,
                }),
                None => {
                    tracing::warn!(tx_hash = %t.tx_hash, "deposit too large to credit; skipped");
                    None
                }
            })
            .collect();
        let credited = self
            .ports
            .deposits
            .record_deposits(settings.chain_id, &deposits, to + 1, self.now())
            .await?;
        if credited > 0 {
            tracing::info!(from = cursor, to, credited, "USDC deposits credited");
        }
        Ok(Scan::Scanned {
            from: cursor,
            to,
            credited,
            caught_up: to == confirmed,
        })
    }
}
