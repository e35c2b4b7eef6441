//! Postings: everything one movement of money writes, decided here and written by a store as
//! one unit.
//!
//! A [`Posting`] holds the balanced [`Transfer`] with its idempotency key, the history rows the
//! users see, the changes to workers' records and the events that announce it. A store writes
//! the whole posting in one transaction, or nothing when the transfer's key was already used:
//! that makes external credits idempotent and refunds exactly-once. The store composes none of
//! it.
//!
//! ```
//! use j0_domain::{
//!     Cents, UserId,
//!     ledger::{Balance, HistoryType},
//!     posting::{Posting, UserChange},
//! };
//!
//! let user = UserId(7);
//! let paid = Posting::stripe_purchase("cs_test_1", user, Cents::new(1_000));
//! assert_eq!(paid.transfer.key, "stripe:cs_test_1");
//! assert_eq!(paid.history[0].kind, HistoryType::Purchase);
//! assert_eq!(paid.history[0].description, "Purchased via Stripe ($10.00)");
//! assert_eq!(
//!     paid.user_changes(),
//!     vec![UserChange {
//!         user,
//!         balance: Balance { cash: Cents::new(950), promo: Cents::ZERO },
//!         completed: 0,
//!         timed_out: 0,
//!     }]
//! );
//! ```

use std::collections::BTreeMap;

use crate::{
    Cents, JobId, UserId,
    event::{self, Outgoing},
    job::Job,
    ledger::{
        self, Account, Balance, HistoryType, Hold, PromoReference, RefundReason, Transfer,
        TransferKey, describe,
    },
};

/// A row of a user's credit history, written with its transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryLine {
    /// Whose history.
    pub user: UserId,
    /// Signed: what the user's balance gained (or, below zero, lost).
    pub amount: Cents,
    /// The kind of row.
    pub kind: HistoryType,
    /// The text the API prints (`"Posted job #456"`).
    pub description: String,
}

/// A change to a worker's record, counted in their reputation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordChange {
    /// The worker completed a job.
    Completed(UserId),
    /// A job the worker held timed out.
    TimedOut(UserId),
}

impl RecordChange {
    /// Whose record.
    pub fn user(self) -> UserId {
        match self {
            RecordChange::Completed(user) | RecordChange::TimedOut(user) => user,
        }
    }
}

/// What a posting does to one user's row: the balance moved by bucket, and the record counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserChange {
    /// Whose row.
    pub user: UserId,
    /// Added to the user's cash and promo (below zero: taken).
    pub balance: Balance,
    /// Added to the jobs the user completed.
    pub completed: i64,
    /// Added to the jobs the user let time out.
    pub timed_out: i64,
}

/// Everything one movement of money writes; see the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct Posting {
    /// The balanced transfer, with its idempotency key.
    pub transfer: Transfer,
    /// The job the money moved for, if any.
    pub job: Option<JobId>,
    /// The history rows.
    pub history: Vec<HistoryLine>,
    /// The worker-record changes.
    pub records: Vec<RecordChange>,
    /// The events, besides the `balance.updated` a store sends each user whose balance moved.
    pub events: Vec<Outgoing>,
}

impl Posting {
    /// A job posted: its hold leaves the requester's buckets for escrow, and everyone hears
    /// of the job.
    ///
    /// ```
    /// use j0_domain::{Cents, UserId, ledger::Hold, posting::Posting};
    /// # use j0_domain::{JobId, job::{Capability, Job, JobStatus}};
    /// # let at = time::macros::datetime!(2026-12-01 12:00 UTC);
    /// # let job = Job { id: JobId(456), requester_id: UserId(1), worker_id: None,
    /// #     capability: Capability::Opus, credits: Cents::new(10), timeout_sec: 30,
    /// #     status: JobStatus::Posted, prompt: "p".into(), result: None, created_at: at,
    /// #     accepted_at: None, completed_at: None, expires_at: at };
    ///
    /// let hold = Hold { promo: Cents::new(4), cash: Cents::new(6) };
    /// let post = Posting::job_post(&job, hold);
    /// assert_eq!(post.transfer.key, "job:456:post");
    /// assert_eq!(post.history[0].amount, Cents::new(-10));
    /// assert_eq!(post.history[0].description, "Posted job #456");
    /// assert_eq!(post.events[0].event, "job.posted");
    /// ```
    pub fn job_post(job: &Job, hold: Hold) -> Self {
        Self {
            transfer: Transfer::job_post(job.id, job.requester_id, hold),
            job: Some(job.id),
            history: vec![HistoryLine {
                user: job.requester_id,
                amount: -hold.total(),
                kind: HistoryType::JobPost,
                description: describe::job_post(job.id),
            }],
            records: Vec::new(),
            events: event::job_posted(job),
        }
    }

    /// A completed job paid to `worker`: 90 % of its credits from escrow, the rest to the
    /// platform's fees, one more completed job on the worker's record.
    ///
    /// ```
    /// use j0_domain::{Cents, UserId, posting::{Posting, RecordChange}};
    /// # use j0_domain::{JobId, job::{Capability, Job, JobStatus}};
    /// # let at = time::macros::datetime!(2026-12-01 12:00 UTC);
    /// # let job = Job { id: JobId(456), requester_id: UserId(1), worker_id: None,
    /// #     capability: Capability::Opus, credits: Cents::new(10), timeout_sec: 30,
    /// #     status: JobStatus::Posted, prompt: "p".into(), result: None, created_at: at,
    /// #     accepted_at: None, completed_at: None, expires_at: at };
    ///
    /// let worker = UserId(9);
    /// let payout = Posting::job_payout(&job, worker);
    /// assert_eq!(payout.transfer.key, "job:456:payout");
    /// assert_eq!(payout.history[0].amount, Cents::new(9));
    /// assert_eq!(payout.history[0].description, "Completed job #456");
    /// assert_eq!(payout.records, vec![RecordChange::Completed(worker)]);
    /// ```
    pub fn job_payout(job: &Job, worker: UserId) -> Self {
        let earned = ledger::worker_payout(job.credits);
        Self {
            transfer: Transfer::job_payout(job.id, worker, job.credits),
            job: Some(job.id),
            history: vec![HistoryLine {
                user: worker,
                amount: earned,
                kind: HistoryType::JobEarn,
                description: describe::job_earn(job.id),
            }],
            records: vec![RecordChange::Completed(worker)],
            events: event::job_completed(job, earned),
        }
    }

    /// A job's hold returned to its requester, bucket by bucket. A timeout is announced to
    /// the requester and the worker, and counts against the worker who held the job; a
    /// cancellation is answered to the requester alone.
    ///
    /// ```
    /// use j0_domain::{
    ///     Cents, UserId,
    ///     ledger::{Hold, RefundReason},
    ///     posting::{Posting, RecordChange},
    /// };
    /// # use j0_domain::{JobId, job::{Capability, Job, JobStatus}};
    /// # let at = time::macros::datetime!(2026-12-01 12:00 UTC);
    /// # let mut job = Job { id: JobId(456), requester_id: UserId(1), worker_id: None,
    /// #     capability: Capability::Opus, credits: Cents::new(10), timeout_sec: 30,
    /// #     status: JobStatus::Posted, prompt: "p".into(), result: None, created_at: at,
    /// #     accepted_at: None, completed_at: None, expires_at: at };
    ///
    /// let hold = Hold { promo: Cents::new(10), cash: Cents::ZERO };
    /// let cancelled = Posting::job_refund(&job, hold, RefundReason::Cancelled);
    /// assert_eq!(cancelled.history[0].description, "Refund for job #456 (cancelled)");
    /// assert!(cancelled.events.is_empty() && cancelled.records.is_empty());
    ///
    /// job.worker_id = Some(UserId(9));
    /// let timed_out = Posting::job_refund(&job, hold, RefundReason::Timeout);
    /// assert_eq!(timed_out.transfer.key, "job:456:refund");
    /// assert_eq!(timed_out.records, vec![RecordChange::TimedOut(UserId(9))]);
    /// ```
    pub fn job_refund(job: &Job, hold: Hold, reason: RefundReason) -> Self {
        let (events, records) = match reason {
            RefundReason::Timeout => (
                event::job_timeout(job),
                job.worker_id
                    .map(RecordChange::TimedOut)
                    .into_iter()
                    .collect(),
            ),
            RefundReason::Cancelled => (Vec::new(), Vec::new()),
        };
        Self {
            transfer: Transfer::job_refund(job.id, job.requester_id, hold),
            job: Some(job.id),
            history: vec![HistoryLine {
                user: job.requester_id,
                amount: hold.total(),
                kind: HistoryType::JobRefund,
                description: describe::job_refund(job.id, reason),
            }],
            records,
            events,
        }
    }

    /// A user's sign-up grant of promo credit: once per user.
    pub fn signup_grant(user: UserId, amount: Cents) -> Self {
        Self::promo(&TransferKey::Signup(user), user, amount)
    }

    /// An operator's grant of promo credit, made anew for each `nonce` (random bytes).
    pub fn promo_grant(nonce: [u8; 16], user: UserId, amount: Cents) -> Self {
        Self::promo(&TransferKey::Promo(nonce), user, amount)
    }

    /// An operator's grant of promo credit, once per user and `reference`.
    pub fn promo_grant_once(reference: &PromoReference, user: UserId, amount: Cents) -> Self {
        Self::promo(
            &TransferKey::PromoOnce(user, reference.clone()),
            user,
            amount,
        )
    }

    fn promo(key: &TransferKey, user: UserId, amount: Cents) -> Self {
        Self::credit(
            Transfer::promo_grant(key, user, amount),
            HistoryLine {
                user,
                amount,
                kind: HistoryType::Promo,
                description: describe::promo(),
            },
        )
    }

    /// A paid Checkout Session: 95 cents of cash per dollar `paid`, once per session.
    pub fn stripe_purchase(session_id: &str, user: UserId, paid: Cents) -> Self {
        let credit = ledger::stripe_credit(paid);
        Self::credit(
            Transfer::purchase(
                &TransferKey::Stripe(session_id.to_owned()),
                Account::StripeClearing,
                user,
                credit,
            ),
            HistoryLine {
                user,
                amount: credit,
                kind: HistoryType::Purchase,
                description: describe::stripe_purchase(paid),
            },
        )
    }

    /// A USDC transfer to a user's deposit address, credited as `amount` of cash once per
    /// chain, transaction and log.
    ///
    /// ```
    /// use j0_domain::{Cents, UserId, posting::Posting};
    ///
    /// let deposit = Posting::usdc_deposit(8453, "0xab", 3, UserId(7), Cents::new(1_234));
    /// assert_eq!(deposit.transfer.key, "usdc:8453:0xab:3");
    /// assert_eq!(deposit.history[0].description, "Deposited 12.34 USDC on Base (tx 0xab)");
    /// ```
    pub fn usdc_deposit(
        chain_id: u64,
        tx_hash: &str,
        log_index: u64,
        user: UserId,
        amount: Cents,
    ) -> Self {
        let key = TransferKey::Usdc {
            chain_id,
            tx_hash: tx_hash.to_owned(),
            log_index,
        };
        Self::credit(
            Transfer::purchase(&key, Account::UsdcClearing, user, amount),
            HistoryLine {
                user,
                amount,
                kind: HistoryType::Purchase,
                description: describe::usdc_deposit(amount, tx_hash),
            },
        )
    }

    /// Who a credit (a grant, a purchase, a deposit) is for, and how much: its history row's.
    pub fn credited(&self) -> Option<(UserId, Cents)> {
        self.history.first().map(|line| (line.user, line.amount))
    }

    fn credit(transfer: Transfer, line: HistoryLine) -> Self {
        Self {
            transfer,
            job: None,
            history: vec![line],
            records: Vec::new(),
            events: Vec::new(),
        }
    }

    /// What the posting does to each user's row, in user id order (the order a store locks
    /// rows in): the balance by bucket from the transfer, and the record counts.
    pub fn user_changes(&self) -> Vec<UserChange> {
        let mut changes: BTreeMap<UserId, UserChange> = BTreeMap::new();
        let holders = self
            .transfer
            .entries
            .iter()
            .filter_map(|e| e.account.user());
        let workers = self.records.iter().map(|r| r.user());
        for user in holders.chain(workers) {
            changes.entry(user).or_insert_with(|| UserChange {
                user,
                balance: self.transfer.balance_change(user),
                completed: 0,
                timed_out: 0,
            });
        }
        for record in &self.records {
            if let Some(change) = changes.get_mut(&record.user()) {
                match record {
                    RecordChange::Completed(_) => change.completed += 1,
                    RecordChange::TimedOut(_) => change.timed_out += 1,
                }
            }
        }
        changes.into_values().collect()
    }
}
