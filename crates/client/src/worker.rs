//! A worker: takes posted jobs of some capabilities, runs a handler on each, submits its result
//! before the deadline.
//!
//! Jobs arrive as `job.posted` events (subscribed to the capabilities, never polled), plus the
//! jobs already posted when the worker starts or when the event stream had to resync. Each
//! candidate is accepted once; losing the race (`JOB_ALREADY_ACCEPTED`, `JOB_EXPIRED`,
//! `JOB_NOT_AVAILABLE`) is normal and just reported. A result is submitted only while more
//! than [`SUBMIT_MARGIN`] is left before the deadline: a handler that runs later, fails or
//! returns nothing lets the job time out, and the requester is refunded.

use std::{
    collections::{HashSet, VecDeque},
    future::Future,
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use time::OffsetDateTime;
use tokio::task::JoinSet;

use j0_domain::{Cents, JobId, UserId, job::Capability, job::JobStatus};
use j0_wire::{JobView, events::EventBody};

use crate::{Client, Error, EventOptions, JobQuery, Result};

/// No result is submitted when less than this is left before the deadline.
pub const SUBMIT_MARGIN: Duration = Duration::from_secs(1);
/// The longest result the API takes, in characters.
pub const MAX_RESULT_CHARS: usize = 100_000;
/// Candidates remembered while every slot is busy; older ones are dropped first.
const MAX_QUEUED: usize = 1_000;

/// Which jobs to take, and how many at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkOptions {
    /// Only jobs for these models (empty: any).
    pub capabilities: Vec<Capability>,
    /// Only jobs paying at least this many credits.
    pub min_credits: i64,
    /// Jobs handled at the same time.
    pub concurrency: usize,
}

impl Default for WorkOptions {
    fn default() -> Self {
        Self {
            capabilities: Vec::new(),
            min_credits: 0,
            concurrency: 1,
        }
    }
}

/// A job this worker won, for its handler.
#[derive(Debug, Clone)]
pub struct Assignment {
    /// The job, with its full prompt.
    pub job: JobView,
    /// When the job times out.
    pub deadline: OffsetDateTime,
    /// The last moment a result is still submitted ([`SUBMIT_MARGIN`] before the deadline).
    pub submit_by: Instant,
}

/// What happened to one job.
#[derive(Debug)]
pub enum Report {
    /// This worker accepted it and the handler is running.
    Won {
        /// The job.
        job: JobId,
        /// What it pays.
        credits: Cents,
    },
    /// Another worker was first, or it was gone.
    Lost {
        /// The job.
        job: JobId,
        /// The refusal.
        reason: Error,
    },
    /// The result was submitted and paid.
    Completed {
        /// The job.
        job: JobId,
        /// What it earned.
        earned: Cents,
        /// From accepting to being paid.
        took: Duration,
    },
    /// Nothing was submitted (handler failed, too late, result too long) or the submission was
    /// refused; the job times out and is refunded.
    Failed {
        /// The job.
        job: JobId,
        /// Why.
        reason: String,
        /// From accepting to giving up.
        took: Duration,
    },
}

/// Totals of a worker's run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Jobs completed and paid.
    pub completed: u64,
    /// Jobs won but not paid.
    pub failed: u64,
    /// Races lost.
    pub lost: u64,
    /// Everything earned.
    pub earned: Cents,
}

impl Totals {
    fn count(&mut self, report: &Report) {
        match report {
            Report::Won { .. } => {}
            Report::Lost { .. } => self.lost += 1,
            Report::Completed { earned, .. } => {
                self.completed += 1;
                self.earned = self.earned.checked_add(*earned).unwrap_or(self.earned);
            }
            Report::Failed { .. } => self.failed += 1,
        }
    }
}

impl Client {
    /// Works until `stop` resolves, then finishes the jobs in hand and returns the totals.
    /// `handler` gets each won job and returns its result, or why there is none (nothing is
    /// submitted then); `report`
    /// hears about every job as it goes. Fails only if the event stream cannot be opened at
    /// all (for example, the sign-in is refused).
    pub async fn work<H, F>(
        &self,
        options: WorkOptions,
        handler: H,
        mut report: impl FnMut(&Report, &Totals),
        stop: impl Future<Output = ()>,
    ) -> Result<Totals>
    where
        H: Fn(Assignment) -> F + Clone + Send + 'static,
        F: Future<Output = std::result::Result<String, String>> + Send + 'static,
    {
        let me = self.user_id().await?;
        let mut events = self.events(EventOptions {
            capabilities: options.capabilities.clone(),
            since: None,
        });
        let mut queue = Queue::new(me, &options);
        self.backlog(&options, &mut queue).await;
        let mut running: JoinSet<Vec<Report>> = JoinSet::new();
        let mut totals = Totals::default();
        let concurrency = options.concurrency.max(1);
        tokio::pin!(stop);
        let mut stopping = false;
        loop {
            while !stopping && running.len() < concurrency {
                let Some(job) = queue.next() else { break };
                let client = self.clone();
                let handler = handler.clone();
                running.spawn(async move { client.take(job, handler).await });
            }
            if stopping && running.is_empty() {
                return Ok(totals);
            }
            tokio::select! {
                () = &mut stop, if !stopping => stopping = true,
                done = running.join_next(), if !running.is_empty() => {
                    if let Some(Ok(reports)) = done {
                        for r in reports {
                            totals.count(&r);
                            report(&r, &totals);
                        }
                    }
                }
                event = events.next(), if !stopping => match event {
                    Some(Ok(event)) => match event.body {
                        EventBody::JobPosted(job) => queue.offer(job),
                        EventBody::EventsTruncated(_) => self.backlog(&options, &mut queue).await,
                        _ => {}
                    },
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "worker: event stream refused");
                        return Err(e);
                    }
                    None => stopping = true,
                },
            }
        }
    }

    /// Offers `queue` the jobs already posted for the worker's capabilities, oldest first.
    async fn backlog(&self, options: &WorkOptions, queue: &mut Queue) {
        let filters: Vec<Option<Capability>> = if options.capabilities.is_empty() {
            vec![None]
        } else {
            options.capabilities.iter().copied().map(Some).collect()
        };
        for capability in filters {
            let query = JobQuery {
                status: Some(JobStatus::Posted),
                capability,
                limit: Some(crate::client::MAX_PAGE),
                ..JobQuery::default()
            };
            match self.jobs(query).await {
                Ok(jobs) => jobs.into_iter().rev().for_each(|job| queue.offer(job)),
                Err(e) => tracing::warn!(error = %e, "worker: listing posted jobs failed"),
            }
        }
    }

    /// Accepts `job`, runs `handler`, submits the result in time.
    async fn take<H, F>(self, job: JobView, handler: H) -> Vec<Report>
    where
        H: Fn(Assignment) -> F,
        F: Future<Output = std::result::Result<String, String>>,
    {
        let id = job.job_id;
        let accepted = match self.accept_job(id).await {
            Ok(accepted) => accepted,
            Err(reason) => return vec![Report::Lost { job: id, reason }],
        };
        let started = Instant::now();
        let won = Report::Won {
            job: id,
            credits: accepted.credits,
        };
        let deadline = accepted.expires_at;
        let left = deadline - OffsetDateTime::now_utc();
        let left = Duration::try_from(left).unwrap_or_default();
        let submit_by = started + left.saturating_sub(SUBMIT_MARGIN);
        let failed = |reason: String| Report::Failed {
            job: id,
            reason,
            took: started.elapsed(),
        };
        let result = handler(Assignment {
            job: accepted,
            deadline,
            submit_by,
        })
        .await;
        let outcome = match result {
            Err(reason) => failed(reason),
            Ok(_) if Instant::now() >= submit_by => failed("too late to submit".into()),
            Ok(text) if text.chars().count() > MAX_RESULT_CHARS => {
                failed(format!("result over {MAX_RESULT_CHARS} characters"))
            }
            Ok(text) if text.is_empty() => failed("empty result".into()),
            Ok(text) => match self.complete_job(id, text).await {
                Ok(done) => Report::Completed {
                    job: id,
                    earned: done.credits_earned,
                    took: started.elapsed(),
                },
                Err(e) => failed(format!("submission refused: {e}")),
            },
        };
        vec![won, outcome]
    }
}

/// Candidates in arrival order, each offered once.
struct Queue {
    me: UserId,
    min_credits: i64,
    capabilities: HashSet<Capability>,
    seen: HashSet<JobId>,
    waiting: VecDeque<JobView>,
}

impl Queue {
    fn new(me: UserId, options: &WorkOptions) -> Self {
        Self {
            me,
            min_credits: options.min_credits,
            capabilities: options.capabilities.iter().copied().collect(),
            seen: HashSet::new(),
            waiting: VecDeque::new(),
        }
    }

    fn offer(&mut self, job: JobView) {
        let wanted = job.status == JobStatus::Posted
            && job.requester_id != self.me
            && job.credits.get() >= self.min_credits
            && (self.capabilities.is_empty() || self.capabilities.contains(&job.capability));
        if wanted && self.seen.insert(job.job_id) {
            if self.waiting.len() == MAX_QUEUED {
                self.waiting.pop_front();
            }
            self.waiting.push_back(job);
        }
    }

    fn next(&mut self) -> Option<JobView> {
        let now = OffsetDateTime::now_utc();
        while let Some(job) = self.waiting.pop_front() {
            if job.expires_at > now {
                return Some(job);
            }
        }
        None
    }
}
