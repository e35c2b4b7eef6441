//! USDC deposits: where a user deposits, and what the chain says arrived.

use std::{ops::RangeInclusive, sync::Arc};

use async_trait::async_trait;

use j0_domain::{UserId, WalletAddress};

/// One ERC-20 `Transfer` log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenTransfer {
    /// The transaction hash, `0x` + 64 lower-case hex digits.
    pub tx_hash: String,
    /// The log's index in its block.
    pub log_index: u64,
    /// The block the log is in.
    pub block_number: u64,
    /// The token contract that emitted it.
    pub token: WalletAddress,
    /// Sender.
    pub from: WalletAddress,
    /// Recipient.
    pub to: WalletAddress,
    /// Amount in the token's base units (USDC: 6 decimals).
    pub amount: u128,
    /// Whether a reorg removed the log (such logs are never credited).
    pub removed: bool,
}

/// The node could not be asked, or answered nonsense: what was asked and what went wrong, with
/// the error underneath (the transport's, say) as its source.
#[derive(Debug, Clone, thiserror::Error)]
#[error("EVM JSON-RPC failed: {message}")]
pub struct ChainError {
    message: String,
    #[source]
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl ChainError {
    /// A failure described by `message` alone.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// A failure described by `message`, caused by `source`.
    pub fn caused_by(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// What was asked and what went wrong, without the source.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Two chain errors are equal when they say the same; their sources are not compared.
impl PartialEq for ChainError {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message
    }
}

impl Eq for ChainError {}

/// Reads an EVM chain over JSON-RPC.
#[async_trait]
pub trait ChainReader: Send + Sync + std::fmt::Debug {
    /// The chain the node is on (`eth_chainId`, EIP-155).
    async fn chain_id(&self) -> Result<u64, ChainError>;

    /// The latest block number (`eth_blockNumber`).
    async fn head(&self) -> Result<u64, ChainError>;

    /// `Transfer` logs emitted by `token` to one of `recipients` in `blocks`, in chain order,
    /// asked for in one `eth_getLogs` (the recipients are its third topic). No recipients or no
    /// blocks, no transfers, and no request. Amounts that do not fit in `u128` are an error,
    /// never truncated.
    async fn token_transfers(
        &self,
        token: &WalletAddress,
        recipients: &[WalletAddress],
        blocks: RangeInclusive<u64>,
    ) -> Result<Vec<TokenTransfer>, ChainError>;
}

/// A deposit to credit: a transfer of the watched token to some address, already confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deposit {
    /// The recipient; credited only if it is a user's deposit address.
    pub to: WalletAddress,
    /// The transaction hash, `0x` + 64 lower-case hex digits.
    pub tx_hash: String,
    /// The log's index in its block.
    pub log_index: u64,
    /// Cents to credit (base units floored to whole cents).
    pub amount: j0_domain::Cents,
}

/// Deposit addresses and the watcher's progress, in storage.
#[async_trait]
pub trait DepositStore: Send + Sync + std::fmt::Debug {
    /// Records `address` as `user`'s deposit address (idempotent).
    async fn register_deposit_address(
        &self,
        user: UserId,
        address: &WalletAddress,
    ) -> Result<(), crate::StoreError>;

    /// Up to `limit` registered deposit addresses, in byte order, after `after` (from the first
    /// when `None`): the watcher pages through them to filter its log queries.
    async fn deposit_addresses(
        &self,
        after: Option<&WalletAddress>,
        limit: usize,
    ) -> Result<Vec<WalletAddress>, crate::StoreError>;

    /// The next block the watcher of `chain_id` has not scanned, if it ever ran.
    async fn deposit_cursor(&self, chain_id: u64) -> Result<Option<u64>, crate::StoreError>;

    /// In one transaction: credits every deposit whose recipient is a registered deposit
    /// address, once per `(chain_id, tx_hash, log_index)`, and moves the cursor to
    /// `next_block`. Returns how many were credited now.
    async fn record_deposits(
        &self,
        chain_id: u64,
        deposits: &[Deposit],
        next_block: u64,
        now: time::OffsetDateTime,
    ) -> Result<usize, crate::StoreError>;
}

/// Derives each user's deposit address; no private key is involved.
pub trait DepositAddresses: Send + Sync + std::fmt::Debug {
    /// `create2(factory, salt = user id as 32-byte big-endian, init_code_hash)`.
    fn deposit_address(&self, user: UserId) -> WalletAddress;
}
