//! The double-entry credit ledger.
//!
//! Every movement of money is a [`Transfer`]: a set of entries over [`Account`]s that sums to
//! zero, with an idempotency key that the database holds unique, so a retried credit or a second
//! refund of one job cannot be applied twice. User accounts keep running balances (only their
//! owner's actions contend for them); the system accounts have no balance row at all, their
//! balance is the sum of their entries, so no row is written by every job.

use std::fmt;

use crate::{Cents, JobId, UserId, money::Ratio};

/// A user's spendable money, in two buckets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balance {
    /// Bought with card or USDC, and earned by working.
    pub cash: Cents,
    /// Granted by the operator or on sign-up; spent first.
    pub promo: Cents,
}

impl Balance {
    /// `cash + promo`, what the user can spend.
    pub fn total(&self) -> Cents {
        self.cash.saturating_add(self.promo)
    }
}

/// What a job holds in escrow, by the bucket it came from, so a refund restores the same buckets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hold {
    /// Taken from promo.
    pub promo: Cents,
    /// Taken from cash.
    pub cash: Cents,
}

impl Hold {
    /// The whole amount held.
    pub fn total(&self) -> Cents {
        self.promo.saturating_add(self.cash)
    }
}

/// The balance does not cover the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Insufficient credits: have {have}, need {need}")]
pub struct InsufficientCredits {
    /// The user's `total_cents`.
    pub have: Cents,
    /// The job's credits.
    pub need: Cents,
}

/// How `price` is taken from `balance`: promo first, then cash, so granted credits are spent
/// before bought ones. A balance whose total is short of `price` is refused, and the refusal
/// says what the user has and what the job needs.
///
/// ```
/// use j0_domain::{
///     Cents,
///     ledger::{Balance, Hold, InsufficientCredits, hold_for},
/// };
///
/// let balance = Balance { cash: Cents::new(50), promo: Cents::new(4) };
///
/// // All the promo goes first, and cash covers the rest.
/// assert_eq!(hold_for(Cents::new(10), balance), Ok(Hold { promo: Cents::new(4), cash: Cents::new(6) }));
/// // A price the promo covers alone leaves cash untouched.
/// assert_eq!(hold_for(Cents::new(3), balance), Ok(Hold { promo: Cents::new(3), cash: Cents::new(0) }));
/// // The whole total is enough...
/// assert_eq!(hold_for(Cents::new(54), balance).map(|h| h.total()), Ok(Cents::new(54)));
/// // ...and one cent more is refused.
/// let refused = hold_for(Cents::new(55), balance).unwrap_err();
/// assert_eq!(refused, InsufficientCredits { have: Cents::new(54), need: Cents::new(55) });
/// assert_eq!(refused.to_string(), "Insufficient credits: have 54, need 55");
/// ```
pub fn hold_for(price: Cents, balance: Balance) -> Result<Hold, InsufficientCredits> {
    if balance.total() < price {
        return Err(InsufficientCredits {
            have: balance.total(),
            need: price,
        });
    }
    let promo = price.min(balance.promo);
    let cash = price.checked_sub(promo).ok_or(InsufficientCredits {
        have: balance.total(),
        need: price,
    })?;
    Ok(Hold { promo, cash })
}

/// What the worker earns for a job of `credits`: 90 %, rounded down to a whole cent
/// (`floor(credits × 9 / 10)`). The rounding goes to the platform, so on every valid price
/// (5–100) the fee is at least one cent, and payout plus fee is always the price.
///
/// ```
/// use j0_domain::{
///     Cents,
///     ledger::{platform_fee, worker_payout},
/// };
///
/// assert_eq!(worker_payout(Cents::new(100)), Cents::new(90));
/// assert_eq!(worker_payout(Cents::new(10)), Cents::new(9));
/// assert_eq!(worker_payout(Cents::new(15)), Cents::new(13)); // 13.5, rounded down
/// assert_eq!(worker_payout(Cents::new(5)), Cents::new(4)); // 4.5, rounded down
///
/// for credits in 5..=100 {
///     let price = Cents::new(credits);
///     assert_eq!(worker_payout(price).get() + platform_fee(price).get(), credits);
/// }
/// ```
pub fn worker_payout(credits: Cents) -> Cents {
    credits.times(WORKER_SHARE)
}

/// The platform's fee: the rest of `credits` after the worker's [`worker_payout`], so it takes
/// the rounding: 10 %, rounded up to a whole cent.
///
/// ```
/// use j0_domain::{Cents, ledger::platform_fee};
///
/// assert_eq!(platform_fee(Cents::new(100)), Cents::new(10));
/// assert_eq!(platform_fee(Cents::new(15)), Cents::new(2)); // 1.5, rounded up
/// assert_eq!(platform_fee(Cents::new(5)), Cents::new(1)); // never zero on a valid price
/// ```
pub fn platform_fee(credits: Cents) -> Cents {
    // The payout is never more than the price, so the difference is always in range.
    credits
        .checked_sub(worker_payout(credits))
        .unwrap_or(Cents::ZERO)
}

/// Credit for a Stripe payment of `amount_total_cents` (what the customer paid): 95 cents of
/// credit per dollar, rounded down to a whole cent.
///
/// ```
/// use j0_domain::{Cents, ledger::stripe_credit};
///
/// assert_eq!(stripe_credit(Cents::new(1_000)), Cents::new(950)); // $10.00 buys 950 credits
/// assert_eq!(stripe_credit(Cents::new(500)), Cents::new(475));
/// ```
pub fn stripe_credit(amount_total_cents: Cents) -> Cents {
    amount_total_cents.times(STRIPE_CREDIT_PER_CENT)
}

/// The worker's share of a job's price: nine tenths ([`worker_payout`]).
pub const WORKER_SHARE: Ratio = Ratio::new(9, 10);

/// Credit bought per cent paid by card: 95 cents per dollar ([`stripe_credit`]).
pub const STRIPE_CREDIT_PER_CENT: Ratio = Ratio::new(95, 100);

/// Stripe Checkout amounts a user may buy, in whole dollars.
pub const CHECKOUT_AMOUNTS_USD: [u32; 5] = [5, 10, 20, 50, 100];

/// How long j0 remembers a Checkout Session it created, so that its paid-session webhook can be
/// credited. A session can be paid for 24 hours; a delayed payment method (a bank debit)
/// settles within days after that. A session paid later than this is not credited.
pub const CHECKOUT_RECORD_LIFETIME: time::Duration = time::Duration::days(30);

/// USDC has 6 decimals: base units per cent.
const USDC_UNITS_PER_CENT: u128 = 10_000;

/// Credit for a USDC deposit of `units` base units: 1 USDC = 100 cents, floored to whole cents;
/// `None` if it would not fit in an `i64`.
///
/// ```
/// use j0_domain::{Cents, ledger::usdc_credit};
///
/// assert_eq!(usdc_credit(1_000_000), Some(Cents::new(100))); // 1 USDC (6 decimals)
/// assert_eq!(usdc_credit(12_345_678), Some(Cents::new(1_234))); // 12.345678 USDC, floored
/// assert_eq!(usdc_credit(9_999), Some(Cents::new(0))); // less than a cent credits nothing
/// assert_eq!(usdc_credit(u128::MAX), None);
/// ```
pub fn usdc_credit(units: u128) -> Option<Cents> {
    i64::try_from(units / USDC_UNITS_PER_CENT)
        .ok()
        .map(Cents::new)
}

/// An operator's name for one promo grant (`j0 admin grant-promo --reference`), 1–200
/// characters without control characters: the grant's ledger key, so a retried grant pays once.
///
/// ```
/// use j0_domain::{UserId, ledger::PromoReference};
///
/// let reference = PromoReference::new("launch-week")?;
/// assert_eq!(reference.key(UserId(7)), "promo:grant:7:ref:launch-week");
/// // The key names the user too: one reference grants once to each user.
/// assert_ne!(reference.key(UserId(7)), reference.key(UserId(8)));
///
/// assert!(PromoReference::new("").is_err());
/// assert!(PromoReference::new(&"x".repeat(201)).is_err());
/// assert!(PromoReference::new("line\nbreak").is_err());
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromoReference(String);

impl PromoReference {
    /// Longest reference, in characters.
    pub const MAX_CHARS: usize = 200;

    /// `text` if it is a usable reference.
    pub fn new(text: &str) -> Result<Self, String> {
        let chars = text.chars().count();
        if chars == 0 || chars > Self::MAX_CHARS {
            Err(format!("must be 1 to {} characters", Self::MAX_CHARS))
        } else if text.chars().any(char::is_control) {
            Err("must not contain control characters".to_owned())
        } else {
            Ok(Self(text.to_owned()))
        }
    }

    /// The reference as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The grant's idempotency key for `user`: one grant per user and reference. Random grant
    /// keys (`promo:grant:<hex>`) never contain `:ref:`, so the two cannot collide.
    pub fn key(&self, user: UserId) -> String {
        TransferKey::PromoOnce(user, self.clone()).to_string()
    }
}

/// An account of the ledger. User accounts belong to one user; the rest are the platform's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Account {
    /// A user's cash bucket.
    UserCash(UserId),
    /// A user's promo bucket.
    UserPromo(UserId),
    /// Credits of open jobs.
    Escrow,
    /// Fees kept on completed jobs.
    PlatformFees,
    /// The counterpart of card purchases.
    StripeClearing,
    /// The counterpart of USDC deposits.
    UsdcClearing,
    /// The counterpart of granted promo credits.
    PromoIssuance,
}

impl Account {
    /// The stored name of the account's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Account::UserCash(_) => "user_cash",
            Account::UserPromo(_) => "user_promo",
            Account::Escrow => "escrow",
            Account::PlatformFees => "platform_fees",
            Account::StripeClearing => "stripe_clearing",
            Account::UsdcClearing => "usdc_clearing",
            Account::PromoIssuance => "promo_issuance",
        }
    }

    /// The owning user, for user accounts.
    pub fn user(&self) -> Option<UserId> {
        match self {
            Account::UserCash(u) | Account::UserPromo(u) => Some(*u),
            _ => None,
        }
    }
}

/// One side of a transfer: `amount` added to `account` (negative takes away).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The account moved.
    pub account: Account,
    /// Signed amount; a user account's entry is its balance change.
    pub amount: Cents,
}

/// A balanced, keyed movement of money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// Unique forever: applying the same key twice is refused by the store.
    pub key: String,
    /// The entries; they sum to zero and none is zero.
    pub entries: Vec<Entry>,
}

/// The entries of a transfer do not sum to zero.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transfer {key} is unbalanced by {imbalance} cents")]
pub struct Unbalanced {
    /// The transfer's key.
    pub key: String,
    /// The sum of its entries.
    pub imbalance: i64,
}

impl Transfer {
    /// A transfer of these entries, zero entries dropped, if they balance.
    ///
    /// ```
    /// use j0_domain::{
    ///     Cents, UserId,
    ///     ledger::{Account, Entry, Transfer},
    /// };
    ///
    /// let user = UserId(1);
    /// let balanced = Transfer::new(
    ///     "example:1".into(),
    ///     [
    ///         Entry { account: Account::StripeClearing, amount: Cents::new(-950) },
    ///         Entry { account: Account::UserCash(user), amount: Cents::new(950) },
    ///         Entry { account: Account::UserPromo(user), amount: Cents::new(0) },
    ///     ],
    /// )
    /// .unwrap();
    /// assert_eq!(balanced.entries.len(), 2, "the zero entry is dropped");
    ///
    /// let refused = Transfer::new(
    ///     "example:2".into(),
    ///     [
    ///         Entry { account: Account::Escrow, amount: Cents::new(10) },
    ///         Entry { account: Account::UserCash(user), amount: Cents::new(-9) },
    ///     ],
    /// )
    /// .unwrap_err();
    /// assert_eq!(refused.imbalance, 1);
    /// ```
    pub fn new(key: String, entries: impl IntoIterator<Item = Entry>) -> Result<Self, Unbalanced> {
        let entries: Vec<Entry> = entries
            .into_iter()
            .filter(|e| e.amount != Cents::ZERO)
            .collect();
        let sum = entries
            .iter()
            .try_fold(Cents::ZERO, |sum, e| sum.checked_add(e.amount));
        match sum {
            Some(Cents::ZERO) => Ok(Self { key, entries }),
            Some(imbalance) => Err(Unbalanced {
                key,
                imbalance: imbalance.get(),
            }),
            None => Err(Unbalanced {
                key,
                imbalance: i64::MAX,
            }),
        }
    }

    /// Requester → escrow, by bucket: each of the requester's buckets gives what the [`Hold`]
    /// took from it, under the key `job:<id>:post`.
    ///
    /// ```
    /// use j0_domain::{
    ///     Cents, JobId, UserId,
    ///     ledger::{Account, Balance, Hold, Transfer},
    /// };
    ///
    /// let requester = UserId(1);
    /// let hold = Hold { promo: Cents::new(4), cash: Cents::new(6) };
    /// let post = Transfer::job_post(JobId(456), requester, hold);
    /// assert_eq!(post.key, "job:456:post");
    /// assert_eq!(post.balance_change(requester), Balance { cash: Cents::new(-6), promo: Cents::new(-4) });
    /// let escrow = post.entries.iter().find(|e| e.account == Account::Escrow).unwrap();
    /// assert_eq!(escrow.amount, Cents::new(10));
    /// ```
    pub fn job_post(job: JobId, requester: UserId, hold: Hold) -> Self {
        Self::balanced(
            TransferKey::JobPost(job).to_string(),
            vec![
                Entry {
                    account: Account::UserPromo(requester),
                    amount: -hold.promo,
                },
                Entry {
                    account: Account::UserCash(requester),
                    amount: -hold.cash,
                },
                Entry {
                    account: Account::Escrow,
                    amount: hold.total(),
                },
            ],
        )
    }

    /// Escrow → requester, to the buckets the hold came from, under the key `job:<id>:refund`:
    /// promo credits come back as promo and cash as cash, so a refund never turns a grant into
    /// money the user bought.
    ///
    /// ```
    /// use j0_domain::{
    ///     Cents, JobId, UserId,
    ///     ledger::{Balance, Hold, Transfer, hold_for},
    /// };
    ///
    /// let requester = UserId(1);
    /// let hold = hold_for(Cents::new(10), Balance { cash: Cents::new(20), promo: Cents::new(4) }).unwrap();
    /// assert_eq!(hold, Hold { promo: Cents::new(4), cash: Cents::new(6) });
    ///
    /// let refund = Transfer::job_refund(JobId(456), requester, hold);
    /// assert_eq!(refund.key, "job:456:refund");
    /// // Bucket by bucket, exactly what the post took.
    /// assert_eq!(refund.balance_change(requester), Balance { cash: Cents::new(6), promo: Cents::new(4) });
    /// // So a refund undoes its post, in each bucket.
    /// let spent = Transfer::job_post(JobId(456), requester, hold).balance_change(requester);
    /// let back = refund.balance_change(requester);
    /// assert_eq!(spent.cash.checked_add(back.cash), Some(Cents::ZERO));
    /// assert_eq!(spent.promo.checked_add(back.promo), Some(Cents::ZERO));
    ///
    /// // A hold paid by promo alone refunds no cash: the zero entry is not written.
    /// let promo_only = Hold { promo: Cents::new(10), cash: Cents::new(0) };
    /// let refund = Transfer::job_refund(JobId(457), requester, promo_only);
    /// assert_eq!(refund.entries.len(), 2);
    /// assert_eq!(refund.balance_change(requester), Balance { cash: Cents::new(0), promo: Cents::new(10) });
    /// ```
    pub fn job_refund(job: JobId, requester: UserId, hold: Hold) -> Self {
        Self::balanced(
            TransferKey::JobRefund(job).to_string(),
            vec![
                Entry {
                    account: Account::Escrow,
                    amount: -hold.total(),
                },
                Entry {
                    account: Account::UserPromo(requester),
                    amount: hold.promo,
                },
                Entry {
                    account: Account::UserCash(requester),
                    amount: hold.cash,
                },
            ],
        )
    }

    /// Escrow → worker's cash and the platform fee, under the key `job:<id>:payout`: the worker
    /// gets [`worker_payout`], the platform [`platform_fee`], and escrow gives up the whole price.
    ///
    /// ```
    /// use j0_domain::{
    ///     Cents, JobId, UserId,
    ///     ledger::{Account, Balance, Transfer},
    /// };
    ///
    /// let worker = UserId(2);
    /// let payout = Transfer::job_payout(JobId(456), worker, Cents::new(15));
    /// assert_eq!(payout.key, "job:456:payout");
    /// // Earnings are cash, never promo.
    /// assert_eq!(payout.balance_change(worker), Balance { cash: Cents::new(13), promo: Cents::new(0) });
    /// let amount_of = |account| {
    ///     payout.entries.iter().find(|e| e.account == account).map(|e| e.amount)
    /// };
    /// assert_eq!(amount_of(Account::Escrow), Some(Cents::new(-15)));
    /// assert_eq!(amount_of(Account::PlatformFees), Some(Cents::new(2)));
    /// ```
    pub fn job_payout(job: JobId, worker: UserId, credits: Cents) -> Self {
        Self::balanced(
            TransferKey::JobPayout(job).to_string(),
            vec![
                Entry {
                    account: Account::Escrow,
                    amount: -credits,
                },
                Entry {
                    account: Account::UserCash(worker),
                    amount: worker_payout(credits),
                },
                Entry {
                    account: Account::PlatformFees,
                    amount: platform_fee(credits),
                },
            ],
        )
    }

    /// Promo issuance → a user's promo bucket.
    pub fn promo_grant(key: &TransferKey, user: UserId, amount: Cents) -> Self {
        Self::balanced(
            key.to_string(),
            vec![
                Entry {
                    account: Account::PromoIssuance,
                    amount: -amount,
                },
                Entry {
                    account: Account::UserPromo(user),
                    amount,
                },
            ],
        )
    }

    /// An external source (card or chain clearing) → a user's cash.
    pub fn purchase(key: &TransferKey, source: Account, user: UserId, amount: Cents) -> Self {
        Self::balanced(
            key.to_string(),
            vec![
                Entry {
                    account: source,
                    amount: -amount,
                },
                Entry {
                    account: Account::UserCash(user),
                    amount,
                },
            ],
        )
    }

    /// Constructors above pair every amount with its negation, so they cannot be unbalanced.
    fn balanced(key: String, entries: Vec<Entry>) -> Self {
        Self {
            key,
            entries: entries
                .into_iter()
                .filter(|e| e.amount != Cents::ZERO)
                .collect(),
        }
    }

    /// The change this transfer makes to `user`'s balance.
    pub fn balance_change(&self, user: UserId) -> Balance {
        let mut change = Balance::default();
        for entry in &self.entries {
            match entry.account {
                Account::UserCash(u) if u == user => {
                    change.cash = change.cash.saturating_add(entry.amount)
                }
                Account::UserPromo(u) if u == user => {
                    change.promo = change.promo.saturating_add(entry.amount)
                }
                _ => {}
            }
        }
        change
    }
}

/// The idempotency key of every transfer, each format spelled here once: a job's post and its
/// one refund or payout, a Stripe Checkout Session, a USDC transfer log, a sign-up grant and
/// an operator's promo grant. The store holds every key unique, so a second refund or payout
/// of one job, or a second credit of one payment, cannot be applied.
///
/// ```
/// use j0_domain::{JobId, UserId, ledger::TransferKey};
///
/// assert_eq!(TransferKey::JobPost(JobId(456)).to_string(), "job:456:post");
/// assert_eq!(TransferKey::JobRefund(JobId(456)).to_string(), "job:456:refund");
/// assert_eq!(TransferKey::JobPayout(JobId(456)).to_string(), "job:456:payout");
/// assert_eq!(TransferKey::Stripe("cs_test_1".into()).to_string(), "stripe:cs_test_1");
/// let log = TransferKey::Usdc { chain_id: 8453, tx_hash: "0xab".into(), log_index: 3 };
/// assert_eq!(log.to_string(), "usdc:8453:0xab:3");
/// assert_eq!(TransferKey::Signup(UserId(7)).to_string(), "promo:signup:7");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferKey {
    /// `job:<id>:post`
    JobPost(JobId),
    /// `job:<id>:refund`
    JobRefund(JobId),
    /// `job:<id>:payout`
    JobPayout(JobId),
    /// `stripe:<checkout session id>`
    Stripe(String),
    /// `usdc:<chain id>:<transaction hash>:<log index>`
    Usdc {
        /// The chain's id (8453 for Base).
        chain_id: u64,
        /// The transfer's transaction, `0x`-prefixed.
        tx_hash: String,
        /// The transfer's log within its block.
        log_index: u64,
    },
    /// `promo:signup:<user>`: the one sign-up grant of a user.
    Signup(UserId),
    /// `promo:grant:<user>:ref:<reference>`: one operator grant per user and reference.
    PromoOnce(UserId, PromoReference),
    /// `promo:grant:<hex>`: an operator grant made anew on every call, keyed by random bytes.
    Promo([u8; 16]),
}

impl TransferKey {
    /// What every job key starts with; the audit joins jobs to their transfers with it.
    pub const JOB_PREFIX: &'static str = "job:";
    /// The end of a job's post key.
    pub const POST_SUFFIX: &'static str = ":post";
    /// The end of a job's refund key.
    pub const REFUND_SUFFIX: &'static str = ":refund";
    /// The end of a job's payout key.
    pub const PAYOUT_SUFFIX: &'static str = ":payout";
}

impl fmt::Display for TransferKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let job = Self::JOB_PREFIX;
        match self {
            TransferKey::JobPost(id) => write!(f, "{job}{id}{}", Self::POST_SUFFIX),
            TransferKey::JobRefund(id) => write!(f, "{job}{id}{}", Self::REFUND_SUFFIX),
            TransferKey::JobPayout(id) => write!(f, "{job}{id}{}", Self::PAYOUT_SUFFIX),
            TransferKey::Stripe(session) => write!(f, "stripe:{session}"),
            TransferKey::Usdc {
                chain_id,
                tx_hash,
                log_index,
            } => write!(f, "usdc:{chain_id}:{tx_hash}:{log_index}"),
            TransferKey::Signup(user) => write!(f, "promo:signup:{user}"),
            TransferKey::PromoOnce(user, reference) => {
                write!(f, "promo:grant:{user}:ref:{}", reference.as_str())
            }
            TransferKey::Promo(nonce) => write!(f, "promo:grant:{}", hex::encode(nonce)),
        }
    }
}

/// The kinds of row in a user's credit history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryType {
    /// Bought credits.
    Purchase,
    /// Posted a job (negative).
    JobPost,
    /// Completed a job.
    JobEarn,
    /// A job was cancelled or timed out.
    JobRefund,
    /// Promo credits granted.
    Promo,
    /// Reserved for withdrawals.
    Withdrawal,
}

impl HistoryType {
    /// Every kind, in the order the contract lists them.
    pub const ALL: [HistoryType; 6] = [
        HistoryType::Purchase,
        HistoryType::JobPost,
        HistoryType::JobEarn,
        HistoryType::JobRefund,
        HistoryType::Promo,
        HistoryType::Withdrawal,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryType::Purchase => "purchase",
            HistoryType::JobPost => "job_post",
            HistoryType::JobEarn => "job_earn",
            HistoryType::JobRefund => "job_refund",
            HistoryType::Promo => "promo",
            HistoryType::Withdrawal => "withdrawal",
        }
    }
}

/// Why a job's credits went back to its requester.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundReason {
    /// The requester cancelled.
    Cancelled,
    /// Nobody accepted, or the worker ran out of time.
    Timeout,
}

impl RefundReason {
    /// As printed in the history: `cancelled`, `timeout`.
    pub fn as_str(self) -> &'static str {
        match self {
            RefundReason::Cancelled => "cancelled",
            RefundReason::Timeout => "timeout",
        }
    }
}

/// History descriptions, exactly as the API document prints them.
pub mod describe {
    use super::RefundReason;
    use crate::{Cents, JobId};

    /// `"Posted job #456"`
    pub fn job_post(job: JobId) -> String {
        format!("Posted job #{job}")
    }

    /// `"Completed job #455"`
    pub fn job_earn(job: JobId) -> String {
        format!("Completed job #{job}")
    }

    /// `"Refund for job #456 (timeout)"` / `(cancelled)`
    pub fn job_refund(job: JobId, reason: RefundReason) -> String {
        format!("Refund for job #{job} ({})", reason.as_str())
    }

    /// `"Promotional credits"`
    pub fn promo() -> String {
        "Promotional credits".to_owned()
    }

    /// `"Purchased via Stripe ($10.00)"`, from what the customer paid.
    pub fn stripe_purchase(paid: Cents) -> String {
        format!("Purchased via Stripe (${})", paid.dollars())
    }

    /// `"Deposited 12.34 USDC on Base (tx 0x…)"`, with the credited (floored) amount.
    pub fn usdc_deposit(credited: Cents, tx_hash: &str) -> String {
        format!(
            "Deposited {} USDC on Base (tx {tx_hash})",
            credited.dollars()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn payout_and_fee_examples() {
        for (credits, earned, fee) in [(5, 4, 1), (10, 9, 1), (15, 13, 2), (100, 90, 10)] {
            assert_eq!(worker_payout(Cents::new(credits)), Cents::new(earned));
            assert_eq!(platform_fee(Cents::new(credits)), Cents::new(fee));
        }
    }

    #[test]
    fn holds_spend_promo_first() {
        let need = Cents::new(10);
        // (cash, promo) held → (promo, cash) taken
        for ((cash, promo), (from_promo, from_cash)) in [
            ((0, 25), (10, 0)),
            ((25, 0), (0, 10)),
            ((7, 4), (4, 6)),
            ((7, 3), (3, 7)),
        ] {
            let balance = Balance {
                cash: Cents::new(cash),
                promo: Cents::new(promo),
            };
            let hold = Hold {
                promo: Cents::new(from_promo),
                cash: Cents::new(from_cash),
            };
            assert_eq!(hold_for(need, balance), Ok(hold), "{balance:?}");
        }
        let short = Balance {
            cash: Cents::new(3),
            promo: Cents::new(2),
        };
        let refusal = InsufficientCredits {
            have: Cents::new(5),
            need,
        };
        assert_eq!(hold_for(need, short), Err(refusal));
        assert_eq!(refusal.to_string(), "Insufficient credits: have 5, need 10");
    }

    #[test]
    fn descriptions_match_the_document() {
        assert_eq!(describe::job_post(JobId(456)), "Posted job #456");
        assert_eq!(describe::job_earn(JobId(455)), "Completed job #455");
        assert_eq!(
            describe::job_refund(JobId(456), RefundReason::Timeout),
            "Refund for job #456 (timeout)"
        );
        assert_eq!(
            describe::stripe_purchase(Cents::new(1000)),
            "Purchased via Stripe ($10.00)"
        );
        assert_eq!(stripe_credit(Cents::new(1000)), Cents::new(950));
    }

    #[test]
    fn usdc_deposits_floor_to_whole_cents() {
        assert_eq!(usdc_credit(1_000_000), Some(Cents::new(100)));
        assert_eq!(usdc_credit(12_345_678), Some(Cents::new(1_234)));
        assert_eq!(usdc_credit(9_999), Some(Cents::new(0)));
        assert_eq!(usdc_credit(u128::MAX), None);
        assert_eq!(
            describe::usdc_deposit(Cents::new(500), "0xab"),
            "Deposited 5.00 USDC on Base (tx 0xab)"
        );
    }

    #[test]
    fn unbalanced_transfers_are_refused() {
        let entries = [
            Entry {
                account: Account::Escrow,
                amount: Cents::new(10),
            },
            Entry {
                account: Account::UserCash(UserId(1)),
                amount: Cents::new(-9),
            },
        ];
        assert!(Transfer::new("k".into(), entries).is_err());
    }

    fn sum(t: &Transfer) -> i64 {
        t.entries.iter().map(|e| e.amount.get()).sum()
    }

    proptest! {
        #[test]
        fn payout_plus_fee_is_the_price(credits in 5i64..=100) {
            let c = Cents::new(credits);
            prop_assert_eq!(worker_payout(c).get() + platform_fee(c).get(), credits);
            prop_assert!(platform_fee(c).get() >= 1);
            prop_assert_eq!(worker_payout(c).get(), credits * 9 / 10);
        }

        #[test]
        fn a_hold_takes_exactly_the_price_promo_first(
            credits in 5i64..=100, cash in 0i64..300, promo in 0i64..300,
        ) {
            let balance = Balance { cash: Cents::new(cash), promo: Cents::new(promo) };
            match hold_for(Cents::new(credits), balance) {
                Ok(hold) => {
                    prop_assert_eq!(hold.total(), Cents::new(credits));
                    prop_assert!(hold.promo.get() <= promo && hold.cash.get() <= cash);
                    prop_assert!(hold.cash.get() == 0 || hold.promo.get() == promo);
                }
                Err(e) => {
                    prop_assert!(cash + promo < credits);
                    prop_assert_eq!(e.have, Cents::new(cash + promo));
                }
            }
        }

        #[test]
        fn every_job_transfer_balances_and_refunds_restore_buckets(
            credits in 5i64..=100, cash in 0i64..300, promo in 0i64..300,
        ) {
            let requester = UserId(1);
            let balance = Balance { cash: Cents::new(cash), promo: Cents::new(promo) };
            if let Ok(hold) = hold_for(Cents::new(credits), balance) {
                let post = Transfer::job_post(JobId(7), requester, hold);
                let refund = Transfer::job_refund(JobId(7), requester, hold);
                let payout = Transfer::job_payout(JobId(7), UserId(2), Cents::new(credits));
                prop_assert_eq!(sum(&post), 0);
                prop_assert_eq!(sum(&refund), 0);
                prop_assert_eq!(sum(&payout), 0);
                let spent = post.balance_change(requester);
                let back = refund.balance_change(requester);
                prop_assert_eq!(spent.cash.get() + back.cash.get(), 0);
                prop_assert_eq!(spent.promo.get() + back.promo.get(), 0);
            }
        }
    }
}
