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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Job))]
pub struct JobView {
    /// The job's id.
    #[cfg_attr(feature = "openapi", schema(value_type = i64, minimum = 1))]
    pub job_id: JobId,
    /// Who posted it.
    #[cfg_attr(feature = "openapi", schema(value_type = i64, minimum = 1))]
    pub requester_id: UserId,
    /// Who accepted it; `null` until then.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<i64>, minimum = 1, required = true)
    )]
    pub worker_id: Option<UserId>,
    /// Model required.
    pub capability: Capability,
    /// What it pays, in cents.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = i64, minimum = 5, maximum = 100)
    )]
    pub credits: Cents,
    /// Seconds the worker has after accepting.
    #[cfg_attr(feature = "openapi", schema(minimum = 10, maximum = 60))]
    pub timeout_sec: i32,
    /// Where it is.
    pub status: JobStatus,
    /// The full prompt for the requester and, once accepted, its worker; for anyone else its
    /// first 200 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 10240, pattern = r"^[^\u0000]*$")
    )]
    pub prompt: String,
    /// `true` exactly when `prompt` is shorter than the real prompt.
    pub prompt_truncated: bool,
    /// The result, shown only to the requester and the worker; `null` otherwise.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 100000,
            pattern = r"^[^\u0000]*$",
            required = true
        )
    )]
    pub result: Option<String>,
    /// Posted at.
    #[serde(with = "serde_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::Timestamp))]
    pub created_at: OffsetDateTime,
    /// Accepted at.
    #[serde(with = "serde_rfc3339::option")]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<crate::openapi::Timestamp>, required = true)
    )]
    pub accepted_at: Option<OffsetDateTime>,
    /// Completed at.
    #[serde(with = "serde_rfc3339::option")]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<crate::openapi::Timestamp>, required = true)
    )]
    pub completed_at: Option<OffsetDateTime>,
    /// The current deadline: to be accepted while `posted`, to be completed while `accepted`.
    #[serde(with = "serde_rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::Timestamp))]
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

/// A completed job as its worker sees it, with what it earned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = EarnedJob))]
pub struct EarnedJobView {
    /// The job.
    #[serde(flatten)]
    pub job: JobView,
    /// `floor(credits * 9 / 10)`, paid into the worker's cash.
    #[cfg_attr(feature = "openapi", schema(value_type = i64, minimum = 0))]
    pub credits_earned: Cents,
}

/// A balance in cents, `{cash_cents, promo_cents, total_cents}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Balance))]
pub struct BalanceView {
    /// Bought or earned credits.
    #[cfg_attr(feature = "openapi", schema(value_type = i64, minimum = 0))]
    pub cash_cents: Cents,
    /// Promotional credits, spent first.
    #[cfg_attr(feature = "openapi", schema(value_type = i64, minimum = 0))]
    pub promo_cents: Cents,
    /// `cash_cents + promo_cents`.
    #[cfg_attr(feature = "openapi", schema(value_type = i64, minimum = 0))]
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
