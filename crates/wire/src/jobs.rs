//! `POST /jobs`, `GET /jobs`, `GET /jobs/:id` (a bare [`JobView`]) and the accept, complete and
//! cancel actions.

use serde::{Deserialize, Serialize};

use j0_domain::{Cents, job::Capability, view::JobView};

/// A job to post; its credits move into escrow.
///
/// The numbers stay plain integers so the server can name the rule a value breaks
/// (`credits: must be between 5 and 100`) rather than a type error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PostJobRequest {
    /// The model a worker must run.
    pub capability: Capability,
    /// What the job pays, in cents.
    #[cfg_attr(feature = "openapi", schema(minimum = 5, maximum = 100))]
    pub credits: i64,
    /// Seconds the worker has after accepting.
    #[cfg_attr(feature = "openapi", schema(minimum = 10, maximum = 60))]
    pub timeout_sec: i64,
    /// Counted in Unicode scalar values; U+0000 (NUL) is refused.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 10240, pattern = r"^[^\u0000]*$")
    )]
    pub prompt: String,
}

/// A job's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CompleteRequest {
    /// Counted in Unicode scalar values; U+0000 (NUL) is refused.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 100000, pattern = r"^[^\u0000]*$")
    )]
    pub result: String,
}

/// One job, as the caller may see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = JobEnvelope))]
pub struct JobEnvelope {
    /// The job.
    pub job: JobView,
}

/// Jobs, newest first, as the caller may see them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Jobs))]
pub struct Jobs {
    /// At most `limit` jobs.
    pub jobs: Vec<JobView>,
}

/// The completed job and what its worker earned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Completed))]
pub struct Completed {
    /// The job, with its result.
    pub job: JobView,
    /// `floor(credits * 9 / 10)`, paid into the worker's cash.
    #[cfg_attr(feature = "openapi", schema(value_type = i64, minimum = 0))]
    pub credits_earned: Cents,
}

/// The cancelled job and what went back to the requester.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Cancelled))]
pub struct Cancelled {
    /// The job, now `cancelled`.
    pub job: JobView,
    /// Exactly what was taken when the job was posted.
    #[cfg_attr(feature = "openapi", schema(value_type = i64, minimum = 0))]
    pub credits_refunded: Cents,
}
