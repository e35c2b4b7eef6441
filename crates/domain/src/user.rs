//! Users and their reputation.

use time::OffsetDateTime;

use crate::{UserId, WalletAddress};

/// How a user proved who they are; wallets are the only kind today.
pub const IDENTITY_TYPE_ETHEREUM_WALLET: &str = "ethereum_wallet";

/// A user as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Assigned on first sign-in.
    pub id: UserId,
    /// The wallet that signs in as this user.
    pub address: WalletAddress,
    /// First successful sign-in.
    pub created_at: OffsetDateTime,
    /// The worker track record behind `reputation_score`.
    pub record: WorkerRecord,
}

/// Jobs a user accepted as a worker, by how they ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerRecord {
    /// Accepted and completed in time.
    pub completed: i64,
    /// Accepted and then timed out.
    pub timed_out: i64,
}

impl WorkerRecord {
    /// `completed ÷ (completed + timed_out)`, in [0, 1]; 0.0 before any accepted job ended.
    ///
    /// ```
    /// use j0_domain::user::WorkerRecord;
    ///
    /// assert_eq!(WorkerRecord { completed: 3, timed_out: 1 }.reputation(), 0.75);
    /// assert_eq!(WorkerRecord::default().reputation(), 0.0);
    /// ```
    pub fn reputation(&self) -> f64 {
        let total = self.completed.saturating_add(self.timed_out);
        if total <= 0 {
            0.0
        } else {
            self.completed as f64 / total as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reputation_is_the_completed_share() {
        assert_eq!(WorkerRecord::default().reputation(), 0.0);
        assert_eq!(
            WorkerRecord {
                completed: 3,
                timed_out: 1
            }
            .reputation(),
            0.75
        );
        assert_eq!(
            WorkerRecord {
                completed: 0,
                timed_out: 2
            }
            .reputation(),
            0.0
        );
        assert_eq!(
            WorkerRecord {
                completed: 5,
                timed_out: 0
            }
            .reputation(),
            1.0
        );
    }
}
