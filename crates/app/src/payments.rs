//! Buying credits: Stripe Checkout and its webhook, USDC deposit addresses and the deposit
//! watcher's step.

use j0_domain::{
    Cents, UserId, WalletAddress,
    ledger::{self, CHECKOUT_AMOUNTS_USD},
    posting::Posting,
};
use j0_ports::{
    StoreError,
    chain::{ChainError, ChainReader, Deposit, TokenTransfer},
    ledger::CreditOutcome,
    payments::{CheckoutRequest, PaymentEvent},
};

use crate::{CheckoutFailure, Marketplace, WebhookFailure};

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
    /// Most deposit addresses asked for in one `eth_getLogs`.
    pub addresses_per_query: usize,
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

/// How many blocks the deposit watcher asks for at once: halved after a query fails (providers
/// cap how large and how slow an answer may be), doubled back after each step that succeeds,
/// between one block and the configured maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockWindow {
    blocks: u64,
    max: u64,
}

impl BlockWindow {
    /// A window of `max` blocks (at least one), the most it will hold.
    pub fn new(max: u64) -> Self {
        let max = max.max(1);
        Self { blocks: max, max }
    }

    /// Blocks in the next query.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Half as many blocks, never fewer than one; whether it got smaller.
    fn shrink(&mut self) -> bool {
        let before = self.blocks;
        self.blocks = (self.blocks / 2).max(1);
        self.blocks < before
    }

    /// Twice as many blocks, never more than the maximum.
    fn grow(&mut self) {
        self.blocks = self.blocks.saturating_mul(2).min(self.max);
    }
}

/// What the deposit watcher carries from one step to the next: whether the node's chain was
/// checked, and its block window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositWatch {
    chain_checked: bool,
    window: BlockWindow,
}

impl DepositWatch {
    /// The block window now.
    pub fn window(&self) -> BlockWindow {
        self.window
    }
}

/// What one watcher step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    /// Nothing new is confirmed yet: the next block to scan is `cursor`, and the newest
    /// confirmed block is `confirmed` (`None` while the chain is shorter than the confirmations).
    Idle { cursor: u64, confirmed: Option<u64> },
    /// Blocks `from..=to` were scanned; `credited` deposits landed; `caught_up` when `to` is the
    /// newest confirmed block, `confirmed`.
    Scanned {
        from: u64,
        to: u64,
        credited: usize,
        caught_up: bool,
        confirmed: u64,
    },
    /// Asking for blocks `from..=to` failed, so the window shrank to `blocks`; the cursor did not
    /// move, and the next step asks again from `from`. The newest confirmed block is `confirmed`.
    Narrowed {
        from: u64,
        to: u64,
        blocks: u64,
        error: ChainError,
        confirmed: u64,
    },
}

impl Scan {
    /// The next block the watcher scans, after this step.
    pub fn cursor(&self) -> u64 {
        match self {
            Scan::Idle { cursor, .. } => *cursor,
            Scan::Scanned { to, .. } => to.saturating_add(1),
            Scan::Narrowed { from, .. } => *from,
        }
    }

    /// Confirmed blocks not scanned yet, after this step: 0 once caught up.
    pub fn blocks_behind(&self) -> u64 {
        let confirmed = match self {
            Scan::Idle { confirmed, .. } => *confirmed,
            Scan::Scanned { confirmed, .. } | Scan::Narrowed { confirmed, .. } => Some(*confirmed),
        };
        confirmed.map_or(0, |c| c.saturating_add(1).saturating_sub(self.cursor()))
    }
}

/// Why a watcher step failed; the cursor did not move.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// No node is configured.
    #[error("no EVM node configured")]
    NotConfigured,
    /// The node is on another chain than the one configured: nothing it says can be credited.
    #[error("the EVM node is on chain {node}, not the configured chain {configured}")]
    WrongChain {
        /// `J0_CHAIN_ID`.
        configured: u64,
        /// What the node's `eth_chainId` answered.
        node: u64,
    },
    /// The node failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Marketplace {
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
            credit_cents: ledger::stripe_credit(Cents::new(i64::from(amount_usd) * 100)),
            success_url: self.settings.checkout.success_url.clone(),
            cancel_url: self.settings.checkout.cancel_url.clone(),
        };
        let session = provider.create_checkout(&request).await?;
        // Recorded before the customer can pay: a session whose record failed is never shown.
        self.ports
            .checkouts
            .record_checkout(&session, &request, self.now())
            .await?;
        tracing::info!(user_id = %user, amount_usd, session_id = %session.id, "checkout session created");
        Ok(session.url)
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
        let (event_id, session_id, user, amount_total) = match event {
            PaymentEvent::SessionPaid {
                event_id,
                session,
                user,
                amount,
            } => (event_id, session, user, amount),
            PaymentEvent::NotOurs {
                event_id,
                session,
                why,
            } => {
                tracing::warn!(%event_id, session_id = %session, "paid session ignored: {why}");
                return Ok(());
            }
            PaymentEvent::Ignored {
                event_id,
                event_type,
            } => {
                tracing::info!(%event_id, %event_type, "stripe event ignored");
                return Ok(());
            }
        };
        // Another integration on the same Stripe account (a Payment Link takes
        // `client_reference_id` from its URL) can sign any user id into a session: only the
        // sessions j0 created count, and only for the user they were created for.
        match self.ports.checkouts.checkout_owner(&session_id).await? {
            Some(owner) if owner == user => {}
            Some(owner) => {
                tracing::warn!(%event_id, %session_id, claimed = %user, owner = %owner, "paid session names another user than j0 created it for; ignored");
                return Ok(());
            }
            None => {
                tracing::warn!(%event_id, %session_id, "paid session j0 did not create; ignored");
                return Ok(());
            }
        }
        let purchase = Posting::stripe_purchase(&session_id, user, amount_total);
        match self
            .ports
            .ledger
            .credit_purchase(&purchase, self.now())
            .await?
        {
            CreditOutcome::Credited => {
                tracing::info!(%event_id, %session_id, user_id = %user, amount_cents = purchase.credited().map_or(0, |(_, amount)| amount.get()), "stripe purchase credited");
            }
            CreditOutcome::AlreadyCredited => {
                tracing::info!(%event_id, %session_id, "stripe session already credited");
            }
            CreditOutcome::UnknownUser => {
                tracing::warn!(%event_id, %session_id, user_id = %user, "paid session for an unknown user; ignored");
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

    /// A new watcher's state: the chain not yet checked, the widest window.
    pub fn deposit_watch(&self) -> DepositWatch {
        DepositWatch {
            chain_checked: false,
            window: BlockWindow::new(self.settings.deposits.max_block_range),
        }
    }

    /// One step of the deposit watcher: checks once that the node is on the configured chain,
    /// then scans the next confirmed blocks (at most the window) for transfers to the deposit
    /// addresses and credits what arrived, moving the cursor with the credits.
    pub async fn scan_deposits(&self, watch: &mut DepositWatch) -> Result<Scan, ScanError> {
        let chain = self.ports.chain.as_ref().ok_or(ScanError::NotConfigured)?;
        let settings = &self.settings.deposits;
        if !watch.chain_checked {
            let node = chain.chain_id().await?;
            if node != settings.chain_id {
                return Err(ScanError::WrongChain {
                    configured: settings.chain_id,
                    node,
                });
            }
            watch.chain_checked = true;
        }
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
            return Ok(Scan::Idle {
                cursor,
                confirmed: None,
            });
        };
        if cursor > confirmed {
            return Ok(Scan::Idle {
                cursor,
                confirmed: Some(confirmed),
            });
        }
        let to = confirmed.min(cursor.saturating_add(watch.window.blocks() - 1));
        let transfers = match self.deposit_transfers(chain.as_ref(), cursor, to).await {
            Ok(transfers) => transfers,
            Err(ScanError::Chain(error)) if watch.window.shrink() => {
                return Ok(Scan::Narrowed {
                    from: cursor,
                    to,
                    blocks: watch.window.blocks(),
                    error,
                    confirmed,
                });
            }
            Err(e) => return Err(e),
        };
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
        watch.window.grow();
        if credited > 0 {
            tracing::info!(from = cursor, to, credited, "USDC deposits credited");
        }
        Ok(Scan::Scanned {
            from: cursor,
            to,
            credited,
            caught_up: to == confirmed,
            confirmed,
        })
    }

    /// USDC transfers in blocks `from..=to` to any registered deposit address, in chain order:
    /// one `eth_getLogs` per page of addresses.
    async fn deposit_transfers(
        &self,
        chain: &dyn ChainReader,
        from: u64,
        to: u64,
    ) -> Result<Vec<TokenTransfer>, ScanError> {
        let settings = &self.settings.deposits;
        let page = settings.addresses_per_query.max(1);
        let mut transfers = Vec::new();
        let mut after = None;
        loop {
            let addresses = self
                .ports
                .deposits
                .deposit_addresses(after.as_ref(), page)
                .await?;
            transfers.extend(
                chain
                    .token_transfers(&settings.usdc_contract, &addresses, from..=to)
                    .await?,
            );
            match addresses.last() {
                Some(last) if addresses.len() == page => after = Some(*last),
                _ => break,
            }
        }
        transfers.sort_by_key(|t| (t.block_number, t.log_index));
        Ok(transfers)
    }
}
