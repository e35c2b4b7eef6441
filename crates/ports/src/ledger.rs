//! Balances, the credit history, and the operator's ledger commands.

use async_trait::async_trait;
use time::OffsetDateTime;

use j0_domain::{
    Cents, TransactionId, UserId,
    ledger::{Balance, HistoryType},
    posting::Posting,
};

use crate::StoreError;

/// One row of `GET /credits/transactions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// Increasing; `before` pages on it.
    pub id: TransactionId,
    /// Whose history.
    pub user_id: UserId,
    /// Signed change to the user's total.
    pub amount: Cents,
    /// What happened.
    pub kind: HistoryType,
    /// As the API document prints it.
    pub description: String,
    /// When.
    pub created_at: OffsetDateTime,
}

/// Why a promo grant failed.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// No user has that id.
    #[error("no user with id {0}")]
    UnknownUser(UserId),
    /// The key already granted this user another amount; nothing changed.
    #[error("this reference already granted {granted} cents to user {user}; nothing changed")]
    KeyReused {
        /// The user.
        user: UserId,
        /// What the first grant under the key gave.
        granted: Cents,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a promo grant did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granted {
    /// The user's balance afterwards.
    pub balance: Balance,
    /// False when the key had already granted the same amount (this call changed nothing).
    pub granted: bool,
}

/// What a purchase credit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditOutcome {
    /// Credited now.
    Credited,
    /// The key was credited before; nothing changed.
    AlreadyCredited,
    /// No user has that id; nothing changed.
    UnknownUser,
}

/// What `j0 admin audit-ledger` found. Clean when every list is empty and the sums agree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    /// Transfers examined.
    pub transfers: i64,
    /// Entries examined.
    pub entries: i64,
    /// Keys of transfers whose entries do not sum to zero.
    pub unbalanced_transfers: Vec<String>,
    /// Sum of every entry of every account; must be zero.
    pub accounts_sum: Cents,
    /// Escrow's balance, from its entries.
    pub escrow_balance: Cents,
    /// Credits of jobs in `posted` or `accepted`; must equal `escrow_balance`.
    pub open_job_credits: Cents,
    /// Users whose stored cash or promo is negative.
    pub negative_users: Vec<UserId>,
    /// Users whose stored cash or promo differs from the sum of their entries.
    pub balance_mismatches: Vec<UserId>,
    /// Users whose history rows do not add up to their entries.
    pub history_mismatches: Vec<UserId>,
    /// Jobs whose transfers do not fit their status (a refund and a payout, or none when final).
    pub job_mismatches: Vec<i64>,
}

impl AuditReport {
    /// Whether every invariant holds.
    ///
    /// ```
    /// use j0_domain::Cents;
    /// use j0_ports::ledger::AuditReport;
    ///
    /// assert!(AuditReport::default().is_clean());
    /// // Escrow must hold exactly the credits of the open jobs.
    /// let short = AuditReport {
    ///     escrow_balance: Cents::new(90),
    ///     open_job_credits: Cents::new(100),
    ///     ..Default::default()
    /// };
    /// assert!(!short.is_clean());
    /// ```
    pub fn is_clean(&self) -> bool {
        self.unbalanced_transfers.is_empty()
            && self.accounts_sum == Cents::ZERO
            && self.escrow_balance == self.open_job_credits
            && self.negative_users.is_empty()
            && self.balance_mismatches.is_empty()
            && self.history_mismatches.is_empty()
            && self.job_mismatches.is_empty()
    }
}

/// Money as users and operators see it.
#[async_trait]
pub trait LedgerStore: Send + Sync + std::fmt::Debug {
    /// The user's balance (zero for a user with no money).
    async fn balance(&self, user: UserId) -> Result<Balance, StoreError>;

    /// The user's history, newest first, ids below `before` when given.
    async fn history(
        &self,
        user: UserId,
        before: Option<TransactionId>,
        limit: i64,
    ) -> Result<Vec<HistoryRow>, StoreError>;

    /// Writes a promo grant (`Posting::promo_grant*`) and a `balance.updated` event. Its key
    /// names the grant: a retry with the same key and amount grants nothing and answers
    /// `granted: false`; the same key with another amount is `KeyReused`. Concurrent grants
    /// under one key queue on its unique index: one grants.
    async fn grant_promo(
        &self,
        grant: &Posting,
        now: OffsetDateTime,
    ) -> Result<Granted, GrantError>;

    /// Writes an external credit (`Posting::stripe_purchase`) and a `balance.updated` event,
    /// exactly once per key.
    async fn credit_purchase(
        &self,
        purchase: &Posting,
        now: OffsetDateTime,
    ) -> Result<CreditOutcome, StoreError>;

    /// Checks every invariant of the ledger in one consistent snapshot.
    async fn audit(&self) -> Result<AuditReport, StoreError>;
}
