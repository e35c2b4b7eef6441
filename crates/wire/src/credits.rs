//! `GET /credits/balance` (a [`crate::BalanceView`]), `GET /credits/transactions`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use j0_domain::{Cents, TransactionId, UserId, ledger::HistoryType, time::serde_rfc3339};

/// One movement of the user's credits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Transaction))]
pub struct Transaction {
    /// The row's id; pages follow it with `before=`.
    #[cfg_attr(feature = "openapi", schema(value_type = i64, minimum = 1))]
    pub id: TransactionId,
    /// Whose credits moved.
    #[cfg_attr(feature = "openapi", schema(value_type = i64, minimum = 1))]
    pub user_id: UserId,
    /// Signed cents: negative for `job_post`.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub amount_cents: Cents,
    /// What kind of movement.
    #[serde(rename = "type")]
    pub kind: HistoryType,
    /// e.g. `Posted job #456`, `Completed job #455`, `Refund for job #456 (timeout)`.
    pub description: String,
    /// When it happened.
    #[serde(with = "serde_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = j0_domain::openapi::Timestamp))]
    pub created_at: OffsetDateTime,
}

/// The history, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Transactions))]
pub struct Transactions {
    /// At most `limit` rows.
    pub transactions: Vec<Transaction>,
}
