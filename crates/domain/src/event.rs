//! Who hears about what (contract section 9), decided once for every change.
//!
//! Each change produces one [`Outgoing`] per audience with the data that audience may see, so a
//! stored event never needs filtering on its way out: the recipient and the data were fixed in
//! the transaction that made the change.

use serde_json::Value;

use crate::{
    Cents, UserId,
    job::Job,
    view::{EarnedJobView, JobView},
};

/// `job.posted`: a new job, to every client, with the prompt cut to its preview.
pub const JOB_POSTED: &str = "job.posted";
/// `job.accepted`: a worker took the job, to its requester.
pub const JOB_ACCEPTED: &str = "job.accepted";
/// `job.completed`: the result was taken, to the requester (with the result) and the worker
/// (with what it earned).
pub const JOB_COMPLETED: &str = "job.completed";
/// `job.timeout`: the job ran out of time and was refunded, to its requester and its worker
/// if it had one.
pub const JOB_TIMEOUT: &str = "job.timeout";
/// `balance.updated`: a user's balance moved, to that user, once per user per change.
pub const BALANCE_UPDATED: &str = "balance.updated";

/// An event to store in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The event name.
    pub event: &'static str,
    /// The one user it is for, or `None` for every client.
    pub recipient: Option<UserId>,
    /// What that audience may see.
    pub data: Value,
}

fn job_for(event: &'static str, job: &Job, viewer: UserId) -> Outgoing {
    Outgoing {
        event,
        recipient: Some(viewer),
        data: to_value(&JobView::new(job, Some(viewer))),
    }
}

fn to_value<T: serde::Serialize>(view: &T) -> Value {
    serde_json::to_value(view).unwrap_or(Value::Null)
}

/// A new job, for everyone, as a non-participant sees it (no full prompt).
///
/// ```
/// # use j0_domain::{Cents, JobId, UserId, job::{Capability, Job, JobStatus}};
/// # use time::macros::datetime;
/// # let at = datetime!(2026-12-01 12:00 UTC);
/// # let job = Job { id: JobId(1), requester_id: UserId(1), worker_id: None,
/// #     capability: Capability::Opus, credits: Cents::new(10), timeout_sec: 30,
/// #     status: JobStatus::Posted, prompt: "p".repeat(300), result: None, created_at: at,
/// #     accepted_at: None, completed_at: None, expires_at: at };
/// use j0_domain::event::{JOB_POSTED, job_posted};
///
/// // `job` has a 300-character prompt.
/// let out = job_posted(&job);
/// assert_eq!(out.len(), 1);
/// assert_eq!((out[0].event, out[0].recipient), (JOB_POSTED, None));
/// assert_eq!(out[0].data["prompt"].as_str().map(|p| p.chars().count()), Some(200));
/// assert_eq!(out[0].data["prompt_truncated"], true);
/// ```
pub fn job_posted(job: &Job) -> Vec<Outgoing> {
    vec![Outgoing {
        event: JOB_POSTED,
        recipient: None,
        data: to_value(&JobView::new(job, None)),
    }]
}

/// An accepted job, for its requester.
pub fn job_accepted(job: &Job) -> Vec<Outgoing> {
    vec![job_for(JOB_ACCEPTED, job, job.requester_id)]
}

/// A completed job: the requester gets the job with its result, the worker the job and what it
/// earned.
pub fn job_completed(job: &Job, credits_earned: Cents) -> Vec<Outgoing> {
    let mut out = vec![job_for(JOB_COMPLETED, job, job.requester_id)];
    if let Some(worker) = job.worker_id {
        let view = EarnedJobView {
            job: JobView::new(job, Some(worker)),
            credits_earned,
        };
        out.push(Outgoing {
            event: JOB_COMPLETED,
            recipient: Some(worker),
            data: to_value(&view),
        });
    }
    out
}

/// A timed-out job, for its requester and, if it had one, its worker.
pub fn job_timeout(job: &Job) -> Vec<Outgoing> {
    let mut out = vec![job_for(JOB_TIMEOUT, job, job.requester_id)];
    if let Some(worker) = job.worker_id {
        out.push(job_for(JOB_TIMEOUT, job, worker));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        JobId,
        job::{Capability, JobStatus},
    };
    use time::macros::datetime;

    fn job(status: JobStatus, worker: Option<UserId>) -> Job {
        Job {
            id: JobId(9),
            requester_id: UserId(1),
            worker_id: worker,
            capability: Capability::Opus,
            credits: Cents::new(10),
            timeout_sec: 30,
            status,
            prompt: "p".repeat(300),
            result: Some("r".into()),
            created_at: datetime!(2026-02-13 23:00:00 UTC),
            accepted_at: None,
            completed_at: None,
            expires_at: datetime!(2026-02-13 23:07:00 UTC),
        }
    }

    #[test]
    fn posted_is_a_broadcast_preview() {
        let out = job_posted(&job(JobStatus::Posted, None));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].recipient, None);
        assert_eq!(
            out[0].data["prompt"].as_str().map(|p| p.chars().count()),
            Some(200)
        );
        assert_eq!(out[0].data["prompt_truncated"], true);
        assert_eq!(out[0].data["result"], Value::Null);
    }

    #[test]
    fn completed_goes_to_both_sides_with_their_views() {
        let out = job_completed(&job(JobStatus::Completed, Some(UserId(2))), Cents::new(9));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].recipient, Some(UserId(1)));
        assert_eq!(out[0].data["result"], "r");
        assert!(out[0].data.get("credits_earned").is_none());
        assert_eq!(out[1].recipient, Some(UserId(2)));
        assert_eq!(out[1].data["credits_earned"], 9);
        assert_eq!(out[1].data["prompt_truncated"], false);
    }

    #[test]
    fn timeout_reaches_the_worker_only_if_there_was_one() {
        assert_eq!(job_timeout(&job(JobStatus::Timeout, None)).len(), 1);
        let both = job_timeout(&job(JobStatus::Timeout, Some(UserId(2))));
        assert_eq!(
            both.iter().map(|o| o.recipient).collect::<Vec<_>>(),
            [Some(UserId(1)), Some(UserId(2))]
        );
        assert_eq!(
            job_accepted(&job(JobStatus::Accepted, Some(UserId(2))))[0].recipient,
            Some(UserId(1))
        );
    }
}
