//! The JSON shapes a client sees of jobs and balances.
//!
//! One definition serves the REST responses and the outbox events, so a job pushed over the
//! WebSocket is exactly the job `GET /jobs/:id` would show the same viewer.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    Cents, JobId, UserId,
    job::{Capability, Job, JobStatus},
    ledger::{Balance, HistoryType},
    time::serde_rfc3339,
};

/// Serializes an enum by its wire name and reads it back through `$parse`, whose error names
/// what the value must be.
macro_rules! wire_name {
    ($ty:ty, $parse:expr) => {
        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $parse(&name).map_err(serde::de::Error::custom)
            }
        }
    };
}

wire_name!(Capability, |name| Capability::parse(name)
    .map_err(|e| e.reason));
wire_name!(JobStatus, |name| JobStatus::parse(name)
    .map_err(|e| e.reason));
wire_name!(HistoryType, |name: &str| HistoryType::ALL
    .into_iter()
    .find(|t| t.as_str() == name)
    .ok_or(
        "must be one of purchase, job_post, job_earn, job_refund, promo, withdrawal"
    ));

/// A job as one viewer may see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    /// The job's id.
    pub job_id: JobId,
    /// Who posted it.
    pub requester_id: UserId,
    /// Who accepted it.
    pub worker_id: Option<UserId>,
    /// Model required.
    pub capability: Capability,
    /// What it pays.
    pub credits: Cents,
    /// Seconds the worker has.
    pub timeout_sec: i32,
    /// Where it is.
    pub status: JobStatus,
    /// Full prompt, or its first 200 characters.
    pub prompt: String,
    /// Whether `prompt` is shorter than the real one.
    pub prompt_truncated: bool,
    /// The result, for participants.
    pub result: Option<String>,
    /// Posted at.
    #[serde(with = "serde_rfc3339")]
    pub created_at: OffsetDateTime,
    /// Accepted at.
    #[serde(with = "serde_rfc3339::option")]
    pub accepted_at: Option<OffsetDateTime>,
    /// Completed at.
    #[serde(with = "serde_rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
    /// Current deadline.
    #[serde(with = "serde_rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl JobView {
    /// `job` as `viewer` may see it; `None` is a viewer with no part in any job.
    pub fn new(job: &Job, viewer: Option<UserId>) -> Self {
        let (prompt, prompt_truncated) = job.prompt_for(viewer);
        Self {
            job_id: job.id,
            requester_id: job.requester_id,
            worker_id: job.worker_id,
            capability: job.capability,
            credits: job.credits,
            timeout_sec: job.timeout_sec,
            status: job.status,
            prompt: prompt.to_owned(),
            prompt_truncated,
            result: job.result_for(viewer).map(str::to_owned),
            created_at: job.created_at,
            accepted_at: job.accepted_at,
            completed_at: job.completed_at,
            expires_at: job.expires_at,
        }
    }
}

/// A completed job with what its worker earned, as the worker sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarnedJobView {
    /// The job.
    #[serde(flatten)]
    pub job: JobView,
    /// Paid into the worker's cash.
    pub credits_earned: Cents,
}

/// `{cash_cents, promo_cents, total_cents}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceView {
    /// Cash bucket.
    pub cash_cents: Cents,
    /// Promo bucket.
    pub promo_cents: Cents,
    /// Their sum.
    pub total_cents: Cents,
}

impl From<Balance> for BalanceView {
    fn from(b: Balance) -> Self {
        Self {
            cash_cents: b.cash,
            promo_cents: b.promo,
            total_cents: b.total(),
        }
    }
}
