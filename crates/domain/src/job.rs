//! Jobs: what a requester posts, the states it moves through and who may see what.
//!
//! The adapters apply each transition as one conditional statement; when that statement finds
//! nothing to change, the functions here classify why, in the order the contract checks, so the
//! answer is the same whichever instance or sweeper got there first.

use std::{fmt, num::NonZeroU32};

use time::{Duration, OffsetDateTime};

use crate::{Cents, JobId, UserId};

/// Characters of the prompt shown to non-participants.
pub const PROMPT_PREVIEW_CHARS: usize = 200;
/// Longest prompt, in Unicode scalar values.
pub const PROMPT_MAX_CHARS: usize = 10_240;
/// Longest result, in Unicode scalar values.
pub const RESULT_MAX_CHARS: usize = 100_000;
/// Fewest credits a job may offer.
pub const CREDITS_MIN: i64 = 5;
/// Most credits a job may offer.
pub const CREDITS_MAX: i64 = 100;
/// Shortest time a worker may be given, in seconds.
pub const TIMEOUT_MIN_SEC: i32 = 10;
/// Longest time a worker may be given, in seconds.
pub const TIMEOUT_MAX_SEC: i32 = 60;
/// Default time a posted job waits for a worker (`J0_ACCEPT_WINDOW_SEC`).
pub const DEFAULT_ACCEPT_WINDOW: Duration = Duration::seconds(420);

/// How long an `Idempotency-Key` stays bound to the job its post made: a repeat within the
/// window replays that post ([`Job::replayed`]); after it, the key posts anew.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::hours(24);

/// The `Idempotency-Key` was used within [`IDEMPOTENCY_WINDOW`] with another request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Idempotency-Key was already used with a different request")]
pub struct KeyReused;
/// Default of `J0_MAX_OPEN_JOBS_PER_WORKER`.
pub const DEFAULT_MAX_OPEN_JOBS_PER_WORKER: u32 = 10;

/// A field of a job that failed validation, with the reason; printed as `field: reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// The request field, as named on the wire.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl FieldError {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// The model a worker must run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// `opus`
    Opus,
    /// `sonnet`
    Sonnet,
    /// `gpt4`
    Gpt4,
    /// `gpt4-turbo`
    Gpt4Turbo,
    /// `dall-e-3`
    DallE3,
}

impl Capability {
    /// Every capability, in the contract's order.
    pub const ALL: [Capability; 5] = [
        Capability::Opus,
        Capability::Sonnet,
        Capability::Gpt4,
        Capability::Gpt4Turbo,
        Capability::DallE3,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Opus => "opus",
            Capability::Sonnet => "sonnet",
            Capability::Gpt4 => "gpt4",
            Capability::Gpt4Turbo => "gpt4-turbo",
            Capability::DallE3 => "dall-e-3",
        }
    }

    /// The capability with this wire name (exact, lower case).
    ///
    /// ```
    /// use j0_domain::job::Capability;
    ///
    /// assert_eq!(Capability::parse("gpt4-turbo"), Ok(Capability::Gpt4Turbo));
    /// let refused = Capability::parse("Opus").unwrap_err();
    /// assert_eq!(refused.field, "capability");
    /// ```
    pub fn parse(name: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == name)
            .ok_or_else(|| {
                FieldError::new(
                    "capability",
                    "must be one of opus, sonnet, gpt4, gpt4-turbo, dall-e-3",
                )
            })
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a job pays, 5–100 credits (one credit is one cent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credits(Cents);

impl Credits {
    /// `credits` if it is within 5–100, both ends included.
    ///
    /// ```
    /// use j0_domain::{Cents, job::Credits};
    ///
    /// assert_eq!(Credits::new(5).map(Credits::cents), Ok(Cents::new(5)));
    /// assert_eq!(Credits::new(100).map(Credits::cents), Ok(Cents::new(100)));
    /// let refused = Credits::new(4).unwrap_err();
    /// assert_eq!(refused.field, "credits");
    /// assert_eq!(refused.to_string(), "credits: must be between 5 and 100");
    /// assert!(Credits::new(101).is_err());
    /// ```
    pub fn new(credits: i64) -> Result<Self, FieldError> {
        if (CREDITS_MIN..=CREDITS_MAX).contains(&credits) {
            Ok(Self(Cents::new(credits)))
        } else {
            Err(FieldError::new("credits", "must be between 5 and 100"))
        }
    }

    /// The amount in cents.
    pub fn cents(self) -> Cents {
        self.0
    }
}

/// How long the accepting worker has to submit, 10–60 seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutSec(i32);

impl TimeoutSec {
    /// `seconds` if it is within 10–60, both ends included.
    ///
    /// ```
    /// use j0_domain::job::TimeoutSec;
    ///
    /// assert_eq!(TimeoutSec::new(10).map(TimeoutSec::get), Ok(10));
    /// assert_eq!(TimeoutSec::new(60)?.duration(), time::Duration::minutes(1));
    /// assert_eq!(
    ///     TimeoutSec::new(9).unwrap_err().to_string(),
    ///     "timeout_sec: must be between 10 and 60"
    /// );
    /// assert!(TimeoutSec::new(61).is_err());
    /// # Ok::<(), j0_domain::job::FieldError>(())
    /// ```
    pub fn new(seconds: i64) -> Result<Self, FieldError> {
        if (i64::from(TIMEOUT_MIN_SEC)..=i64::from(TIMEOUT_MAX_SEC)).contains(&seconds) {
            Ok(Self(seconds as i32))
        } else {
            Err(FieldError::new("timeout_sec", "must be between 10 and 60"))
        }
    }

    /// The number of seconds.
    pub fn get(self) -> i32 {
        self.0
    }

    /// As a duration.
    pub fn duration(self) -> Duration {
        Duration::seconds(i64::from(self.0))
    }
}

/// Text checked to hold between 1 and `max` Unicode scalar values, none of them U+0000: JSON
/// can carry NUL, but no PostgreSQL `text` can store it, so it is refused here as invalid input
/// rather than failing later as a storage error.
fn bounded_text(field: &'static str, text: String, max: usize) -> Result<String, FieldError> {
    let chars = text.chars().count();
    if chars == 0 {
        Err(FieldError::new(field, "must not be empty"))
    } else if text.contains('\0') {
        Err(FieldError::new(field, "must not contain U+0000 (NUL)"))
    } else if chars > max {
        Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ))
    } else {
        Ok(text)
    }
}

/// The task, 1–10,240 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt(String);

impl Prompt {
    /// `text` if it has 1–10,240 characters and no U+0000. Characters are Unicode scalar
    /// values, not bytes.
    ///
    /// ```
    /// use j0_domain::job::Prompt;
    ///
    /// // 10,240 two-byte characters are 20,480 bytes, and still fit.
    /// assert!(Prompt::new("é".repeat(10_240)).is_ok());
    /// assert!(Prompt::new("é".repeat(10_241)).is_err());
    /// assert_eq!(
    ///     Prompt::new(String::new()).unwrap_err().to_string(),
    ///     "prompt: must not be empty"
    /// );
    /// // PostgreSQL text cannot hold NUL, so it is refused as input, not failed as storage.
    /// assert_eq!(
    ///     Prompt::new("a\0b".into()).unwrap_err().reason,
    ///     "must not contain U+0000 (NUL)"
    /// );
    /// ```
    pub fn new(text: String) -> Result<Self, FieldError> {
        bounded_text("prompt", text, PROMPT_MAX_CHARS).map(Self)
    }

    /// The full text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A worker's answer, 1–100,000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobResult(String);

impl JobResult {
    /// `text` if it has 1–100,000 characters and no U+0000, counted as [`Prompt::new`] counts.
    ///
    /// ```
    /// use j0_domain::job::JobResult;
    ///
    /// assert!(JobResult::new("字".repeat(100_000)).is_ok());
    /// assert_eq!(
    ///     JobResult::new("字".repeat(100_001)).unwrap_err().to_string(),
    ///     "result: must be at most 100000 characters"
    /// );
    /// ```
    pub fn new(text: String) -> Result<Self, FieldError> {
        bounded_text("result", text, RESULT_MAX_CHARS).map(Self)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A validated job, ready to post. Each field is a parsed type, so holding a `NewJob` proves
/// every field passed its check; a refusal names its field as the request spells it.
///
/// ```
/// use j0_domain::job::{Capability, Credits, FieldError, NewJob, Prompt, TimeoutSec};
///
/// fn parse(
///     capability: &str,
///     credits: i64,
///     timeout: i64,
///     prompt: &str,
/// ) -> Result<NewJob, FieldError> {
///     Ok(NewJob {
///         capability: Capability::parse(capability)?,
///         credits: Credits::new(credits)?,
///         timeout: TimeoutSec::new(timeout)?,
///         prompt: Prompt::new(prompt.to_owned())?,
///     })
/// }
///
/// let job = parse("opus", 10, 30, "Summarise this paragraph.").unwrap();
/// assert_eq!(job.credits.cents().get(), 10);
/// assert_eq!(parse("opus", 10, 5, "…").unwrap_err().field, "timeout_sec");
/// assert_eq!(parse("opus", 1_000, 30, "…").unwrap_err().field, "credits");
/// assert_eq!(parse("opus", 10, 30, "").unwrap_err().field, "prompt");
/// assert_eq!(parse("gpt5", 10, 30, "…").unwrap_err().field, "capability");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// The model required.
    pub capability: Capability,
    /// What it pays.
    pub credits: Credits,
    /// Time the worker has after accepting.
    pub timeout: TimeoutSec,
    /// The task.
    pub prompt: Prompt,
}

/// Where a job is in its life. `Completed`, `Cancelled` and `Timeout` are final.
///
/// A job is posted; a worker accepts it ([`JobState::check_accept`]) and completes it
/// ([`JobState::check_complete`]); the requester may cancel it while it is still posted
/// ([`JobState::check_cancel`]); an open job whose deadline passes times out. Cancel and
/// timeout refund the requester; completion pays the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Waiting for a worker.
    Posted,
    /// A worker has it and the clock runs.
    Accepted,
    /// The worker submitted in time and was paid.
    Completed,
    /// The requester withdrew it before anyone accepted; refunded.
    Cancelled,
    /// Nobody accepted, or the worker did not submit, in time; refunded.
    Timeout,
}

impl JobStatus {
    /// Every status.
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Posted,
        JobStatus::Accepted,
        JobStatus::Completed,
        JobStatus::Cancelled,
        JobStatus::Timeout,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Posted => "posted",
            JobStatus::Accepted => "accepted",
            JobStatus::Completed => "completed",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Timeout => "timeout",
        }
    }

    /// The status with this wire name.
    pub fn parse(name: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| {
                FieldError::new(
                    "status",
                    "must be one of posted, accepted, completed, timeout, cancelled",
                )
            })
    }

    /// Whether the job still holds the requester's credits in escrow.
    pub fn is_open(self) -> bool {
        matches!(self, JobStatus::Posted | JobStatus::Accepted)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Assigned on post.
    pub id: JobId,
    /// Who posted and paid for it.
    pub requester_id: UserId,
    /// Who accepted it, once someone has.
    pub worker_id: Option<UserId>,
    /// The model required.
    pub capability: Capability,
    /// What it pays, in cents.
    pub credits: Cents,
    /// Seconds the worker has after accepting.
    pub timeout_sec: i32,
    /// Where it is in its life.
    pub status: JobStatus,
    /// The full task; who may read it is [`Job::shows_prompt_to`]'s call.
    pub prompt: String,
    /// The worker's answer, once completed.
    pub result: Option<String>,
    /// When it was posted.
    pub created_at: OffsetDateTime,
    /// When it was accepted.
    pub accepted_at: Option<OffsetDateTime>,
    /// When the result was accepted.
    pub completed_at: Option<OffsetDateTime>,
    /// End of the acceptance window while posted; end of the worker's time once accepted.
    pub expires_at: OffsetDateTime,
}

impl Job {
    /// The full prompt is for the requester and, after acceptance, the accepting worker.
    pub fn shows_prompt_to(&self, viewer: UserId) -> bool {
        self.requester_id == viewer || self.worker_id == Some(viewer)
    }

    /// The result is for the requester and the worker only.
    pub fn shows_result_to(&self, viewer: UserId) -> bool {
        self.shows_prompt_to(viewer)
    }

    /// The prompt as `viewer` may see it, and whether it was cut short: whole for the requester
    /// and the accepting worker, its first [`PROMPT_PREVIEW_CHARS`] characters for anyone else
    /// (`None` is a viewer with no part in any job).
    ///
    /// ```
    /// # use j0_domain::{Cents, JobId, UserId, job::{Capability, Job, JobStatus}};
    /// # use time::macros::datetime;
    /// # let at = datetime!(2026-12-01 12:00 UTC);
    /// # let job = Job { id: JobId(1), requester_id: UserId(1), worker_id: Some(UserId(2)),
    /// #     capability: Capability::Opus, credits: Cents::new(10), timeout_sec: 30,
    /// #     status: JobStatus::Accepted, prompt: "ü".repeat(300), result: None, created_at: at,
    /// #     accepted_at: Some(at), completed_at: None, expires_at: at };
    /// // `job` was posted by user 1, accepted by user 2, and has a 300-character prompt.
    /// assert_eq!(job.prompt_for(Some(UserId(1))).0.chars().count(), 300);
    /// assert_eq!(job.prompt_for(Some(UserId(2))), (job.prompt.as_str(), false));
    /// let (shown, truncated) = job.prompt_for(Some(UserId(3)));
    /// assert_eq!((shown.chars().count(), truncated), (200, true));
    /// assert_eq!(job.prompt_for(None).0.chars().count(), 200);
    /// ```
    pub fn prompt_for(&self, viewer: Option<UserId>) -> (&str, bool) {
        match viewer {
            Some(v) if self.shows_prompt_to(v) => (&self.prompt, false),
            _ => preview(&self.prompt),
        }
    }

    /// The result as `viewer` may see it.
    pub fn result_for(&self, viewer: Option<UserId>) -> Option<&str> {
        match viewer {
            Some(v) if self.shows_result_to(v) => self.result.as_deref(),
            _ => None,
        }
    }

    /// The job once `worker` accepted it at `now`: theirs, with `timeout_sec` from now to
    /// submit. Whether they may is [`JobState::check_accept`]'s call.
    ///
    /// ```
    /// # use j0_domain::{Cents, JobId, UserId, job::{Capability, Job, JobStatus}};
    /// # use time::macros::datetime;
    /// # let posted_at = datetime!(2026-12-01 12:00 UTC);
    /// # let job = Job { id: JobId(1), requester_id: UserId(1), worker_id: None,
    /// #     capability: Capability::Opus, credits: Cents::new(10), timeout_sec: 30,
    /// #     status: JobStatus::Posted, prompt: "p".into(), result: None, created_at: posted_at,
    /// #     accepted_at: None, completed_at: None, expires_at: posted_at + time::Duration::minutes(7) };
    /// let now = posted_at + time::Duration::seconds(5);
    /// let accepted = job.accepted_by(UserId(2), now);
    /// assert_eq!(accepted.status, JobStatus::Accepted);
    /// assert_eq!(accepted.worker_id, Some(UserId(2)));
    /// assert_eq!(accepted.expires_at, now + time::Duration::seconds(30));
    /// ```
    pub fn accepted_by(self, worker: UserId, now: OffsetDateTime) -> Job {
        Job {
            status: JobStatus::Accepted,
            worker_id: Some(worker),
            accepted_at: Some(now),
            expires_at: now + Duration::seconds(i64::from(self.timeout_sec)),
            ..self
        }
    }

    /// The job once its worker's `result` was taken at `now`. Whether it may be is
    /// [`JobState::check_complete`]'s call; the worker and the deadline stay as they were.
    ///
    /// ```
    /// # use j0_domain::{Cents, JobId, UserId};
    /// # use j0_domain::job::{Capability, Job, JobResult, JobState, JobStatus};
    /// # use time::{Duration, macros::datetime};
    /// # let posted_at = datetime!(2026-12-01 12:00 UTC);
    /// # let job = Job { id: JobId(1), requester_id: UserId(1), worker_id: None,
    /// #     capability: Capability::Opus, credits: Cents::new(10), timeout_sec: 30,
    /// #     status: JobStatus::Posted, prompt: "p".into(), result: None, created_at: posted_at,
    /// #     accepted_at: None, completed_at: None, expires_at: posted_at + Duration::minutes(7) };
    /// let worker = UserId(2);
    /// let accepted = job.accepted_by(worker, posted_at + Duration::seconds(5));
    /// let now = posted_at + Duration::seconds(20);
    ///
    /// // Ask the domain first, then apply: this is what a store does inside its transaction.
    /// JobState::from(&accepted).check_complete(worker, now)?;
    /// let result = JobResult::new("Done.".into())?;
    /// let deadline = accepted.expires_at;
    /// let done = accepted.completed_with(result.as_str().to_owned(), now);
    /// assert_eq!(done.status, JobStatus::Completed);
    /// assert_eq!(done.result.as_deref(), Some("Done."));
    /// assert_eq!(done.completed_at, Some(now));
    /// assert_eq!((done.worker_id, done.expires_at), (Some(worker), deadline));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn completed_with(self, result: String, now: OffsetDateTime) -> Job {
        Job {
            status: JobStatus::Completed,
            result: Some(result),
            completed_at: Some(now),
            ..self
        }
    }

    /// What a repeat of a keyed post answers: the job as its first post answered it (posted,
    /// expiring at `posted_expires_at`), whatever happened to it since, when `repeat` is the
    /// same request as `first` (compared as parsed JSON, so formatting does not matter);
    /// [`KeyReused`] when it is another.
    ///
    /// ```
    /// # use j0_domain::{Cents, JobId, UserId, job::{Capability, Job, JobStatus, KeyReused}};
    /// # use time::macros::datetime;
    /// # let at = datetime!(2026-12-01 12:00 UTC);
    /// # let job = Job { id: JobId(1), requester_id: UserId(1), worker_id: None,
    /// #     capability: Capability::Opus, credits: Cents::new(10), timeout_sec: 30,
    /// #     status: JobStatus::Posted, prompt: "p".into(), result: None, created_at: at,
    /// #     accepted_at: None, completed_at: None, expires_at: at + time::Duration::minutes(7) };
    /// let posted_expires_at = job.expires_at;
    /// let done = job
    ///     .accepted_by(UserId(2), at)
    ///     .completed_with("r".into(), at);
    /// let first = serde_json::json!({ "credits": 10, "prompt": "p" });
    /// let same = serde_json::json!({ "prompt": "p", "credits": 10 });
    /// let replayed = done.clone().replayed(&first, &same, posted_expires_at)?;
    /// assert_eq!(replayed.status, JobStatus::Posted);
    /// assert_eq!((replayed.worker_id, replayed.result), (None, None));
    /// assert_eq!(replayed.expires_at, posted_expires_at);
    ///
    /// let other = serde_json::json!({ "credits": 11, "prompt": "p" });
    /// assert_eq!(done.replayed(&first, &other, posted_expires_at), Err(KeyReused));
    /// # Ok::<(), KeyReused>(())
    /// ```
    pub fn replayed(
        self,
        first: &serde_json::Value,
        repeat: &serde_json::Value,
        posted_expires_at: OffsetDateTime,
    ) -> Result<Job, KeyReused> {
        if first != repeat {
            return Err(KeyReused);
        }
        Ok(Job {
            status: JobStatus::Posted,
            worker_id: None,
            result: None,
            accepted_at: None,
            completed_at: None,
            expires_at: posted_expires_at,
            ..self
        })
    }
}

/// The first 200 characters of `prompt` (a plain prefix), and whether that cut anything off.
pub fn preview(prompt: &str) -> (&str, bool) {
    match prompt.char_indices().nth(PROMPT_PREVIEW_CHARS) {
        Some((end, _)) => (&prompt[..end], true),
        None => (prompt, false),
    }
}

/// The facts a refusal is decided on: what the conditional update saw when it changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobState {
    /// Who posted it.
    pub requester_id: UserId,
    /// Who accepted it, if anyone.
    pub worker_id: Option<UserId>,
    /// Its status.
    pub status: JobStatus,
    /// Its current deadline.
    pub expires_at: OffsetDateTime,
}

impl From<&Job> for JobState {
    fn from(job: &Job) -> Self {
        Self {
            requester_id: job.requester_id,
            worker_id: job.worker_id,
            status: job.status,
            expires_at: job.expires_at,
        }
    }
}

/// Why an accept is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AcceptRefusal {
    /// The caller posted the job.
    #[error("Cannot accept your own job")]
    OwnJob,
    /// Someone (the caller included) already accepted it.
    #[error("Job already accepted by another worker")]
    AlreadyAccepted,
    /// Its acceptance window closed.
    #[error("Job timeout expired")]
    Expired,
    /// It was cancelled.
    #[error("Job is no longer available")]
    NotAvailable,
    /// The caller already holds as many accepted jobs as one worker may.
    #[error("Too many open jobs: at most {max} accepted at once")]
    TooManyOpenJobs {
        /// The cap in force.
        max: u32,
    },
}

/// How many jobs one worker may hold in `accepted` at once (`J0_MAX_OPEN_JOBS_PER_WORKER`).
///
/// Accepting costs nothing and the first accept wins, so without a cap one wallet could take
/// every posted job, read every prompt and let them all time out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenJobsCap(Option<NonZeroU32>);

impl OpenJobsCap {
    /// At most `max` jobs at once; `0` means no cap.
    pub fn new(max: u32) -> Self {
        Self(NonZeroU32::new(max))
    }

    /// The cap, if there is one.
    pub fn max(self) -> Option<u32> {
        self.0.map(NonZeroU32::get)
    }

    /// Whether a worker who holds `held` other unexpired accepted jobs may take one more.
    ///
    /// This is the last of the accept checks: it is asked only once every rule of
    /// [`JobState::check_accept`] has passed, so a refused accept answers the same as it would
    /// without a cap, and only an accept that would otherwise succeed is refused for it.
    ///
    /// ```
    /// use j0_domain::job::{AcceptRefusal, OpenJobsCap};
    ///
    /// let cap = OpenJobsCap::new(3);
    /// assert_eq!(cap.check(2), Ok(()));
    /// assert_eq!(cap.check(3), Err(AcceptRefusal::TooManyOpenJobs { max: 3 }));
    /// // Zero means no cap at all.
    /// assert_eq!(OpenJobsCap::new(0).check(u64::MAX), Ok(()));
    /// assert_eq!(OpenJobsCap::default().max(), Some(10));
    /// ```
    pub fn check(self, held: u64) -> Result<(), AcceptRefusal> {
        match self.0 {
            Some(max) if held >= u64::from(max.get()) => {
                Err(AcceptRefusal::TooManyOpenJobs { max: max.get() })
            }
            _ => Ok(()),
        }
    }
}

impl Default for OpenJobsCap {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_OPEN_JOBS_PER_WORKER)
    }
}

/// Why a result is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CompleteRefusal {
    /// Nobody holds the job, or it is already completed.
    #[error("Job is not accepted")]
    NotAccepted,
    /// The caller is not the worker who accepted it.
    #[error("Only the accepting worker can submit a result")]
    NotTheWorker,
    /// The worker's time ran out.
    #[error("Job timeout expired")]
    TimeoutExpired,
}

/// Why a cancel is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CancelRefusal {
    /// The caller did not post the job.
    #[error("Only the requester can cancel a job")]
    NotTheRequester,
    /// A worker already has it.
    #[error("Job already accepted (cannot cancel)")]
    AlreadyAccepted,
    /// It is already cancelled or timed out, or its window closed (the sweeper refunds it).
    #[error("Job is no longer available")]
    NotAvailable,
}

impl JobState {
    /// Whether `caller` may accept at `now`; the checks run in the contract's order, status
    /// before the clock. The per-worker cap ([`OpenJobsCap::check`]) comes after all of them.
    ///
    /// In order: the caller's own job is [`AcceptRefusal::OwnJob`]; a job accepted or completed
    /// is `AlreadyAccepted`, timed out `Expired`, cancelled `NotAvailable`; a posted job at or
    /// past its deadline is `Expired`.
    ///
    /// ```
    /// use j0_domain::{
    ///     UserId,
    ///     job::{AcceptRefusal, JobState, JobStatus},
    /// };
    /// use time::macros::datetime;
    ///
    /// let (requester, worker) = (UserId(1), UserId(2));
    /// let deadline = datetime!(2026-12-01 12:07 UTC);
    /// let before = datetime!(2026-12-01 12:06:59 UTC);
    /// let posted = JobState {
    ///     requester_id: requester,
    ///     worker_id: None,
    ///     status: JobStatus::Posted,
    ///     expires_at: deadline,
    /// };
    /// assert_eq!(posted.check_accept(worker, before), Ok(()));
    /// // The deadline itself is too late.
    /// assert_eq!(posted.check_accept(worker, deadline), Err(AcceptRefusal::Expired));
    /// // Your own job is refused first, whatever else is true of it.
    /// assert_eq!(posted.check_accept(requester, deadline), Err(AcceptRefusal::OwnJob));
    ///
    /// // Status before clock: a taken job answers AlreadyAccepted, even past its deadline.
    /// let taken = JobState { status: JobStatus::Accepted, worker_id: Some(UserId(3)), ..posted };
    /// assert_eq!(taken.check_accept(worker, deadline), Err(AcceptRefusal::AlreadyAccepted));
    /// let cancelled = JobState { status: JobStatus::Cancelled, ..posted };
    /// assert_eq!(cancelled.check_accept(worker, before), Err(AcceptRefusal::NotAvailable));
    /// let timed_out = JobState { status: JobStatus::Timeout, ..posted };
    /// assert_eq!(timed_out.check_accept(worker, before), Err(AcceptRefusal::Expired));
    /// ```
    pub fn check_accept(&self, caller: UserId, now: OffsetDateTime) -> Result<(), AcceptRefusal> {
        if self.requester_id == caller {
            return Err(AcceptRefusal::OwnJob);
        }
        match self.status {
            JobStatus::Accepted | JobStatus::Completed => Err(AcceptRefusal::AlreadyAccepted),
            JobStatus::Timeout => Err(AcceptRefusal::Expired),
            JobStatus::Cancelled => Err(AcceptRefusal::NotAvailable),
            JobStatus::Posted if now >= self.expires_at => Err(AcceptRefusal::Expired),
            JobStatus::Posted => Ok(()),
        }
    }

    /// Whether `caller` may submit a result at `now`.
    ///
    /// In order: a job nobody accepted is [`CompleteRefusal::NotAccepted`]; a caller who is not
    /// its worker is `NotTheWorker`; then, for the worker, a job no longer accepted (already
    /// completed) is `NotAccepted`, one timed out or at or past its deadline `TimeoutExpired`.
    ///
    /// ```
    /// use j0_domain::{
    ///     UserId,
    ///     job::{CompleteRefusal, JobState, JobStatus},
    /// };
    /// use time::macros::datetime;
    ///
    /// let (requester, worker, stranger) = (UserId(1), UserId(2), UserId(3));
    /// let deadline = datetime!(2026-12-01 12:00:30 UTC);
    /// let before = datetime!(2026-12-01 12:00:29 UTC);
    /// let accepted = JobState {
    ///     requester_id: requester,
    ///     worker_id: Some(worker),
    ///     status: JobStatus::Accepted,
    ///     expires_at: deadline,
    /// };
    /// assert_eq!(accepted.check_complete(worker, before), Ok(()));
    /// assert_eq!(accepted.check_complete(worker, deadline), Err(CompleteRefusal::TimeoutExpired));
    /// // Who before when: a stranger is told they are not the worker, in time or not.
    /// assert_eq!(accepted.check_complete(stranger, deadline), Err(CompleteRefusal::NotTheWorker));
    /// assert_eq!(accepted.check_complete(requester, before), Err(CompleteRefusal::NotTheWorker));
    ///
    /// // A result is taken once.
    /// let completed = JobState { status: JobStatus::Completed, ..accepted };
    /// assert_eq!(completed.check_complete(worker, before), Err(CompleteRefusal::NotAccepted));
    /// // A job nobody holds has no worker to be.
    /// let posted = JobState { status: JobStatus::Posted, worker_id: None, ..accepted };
    /// assert_eq!(posted.check_complete(worker, before), Err(CompleteRefusal::NotAccepted));
    /// let timed_out = JobState { status: JobStatus::Timeout, ..accepted };
    /// assert_eq!(timed_out.check_complete(worker, before), Err(CompleteRefusal::TimeoutExpired));
    /// ```
    pub fn check_complete(
        &self,
        caller: UserId,
        now: OffsetDateTime,
    ) -> Result<(), CompleteRefusal> {
        let Some(worker) = self.worker_id else {
            return Err(CompleteRefusal::NotAccepted);
        };
        if worker != caller {
            return Err(CompleteRefusal::NotTheWorker);
        }
        match self.status {
            JobStatus::Completed | JobStatus::Posted | JobStatus::Cancelled => {
                Err(CompleteRefusal::NotAccepted)
            }
            JobStatus::Timeout => Err(CompleteRefusal::TimeoutExpired),
            JobStatus::Accepted if now >= self.expires_at => Err(CompleteRefusal::TimeoutExpired),
            JobStatus::Accepted => Ok(()),
        }
    }

    /// Whether `caller` may cancel at `now`.
    ///
    /// In order: a caller who did not post the job is [`CancelRefusal::NotTheRequester`]; a job
    /// accepted or completed is `AlreadyAccepted`; one cancelled, timed out, or posted but at or
    /// past its deadline is `NotAvailable` (the sweeper refunds that one as a timeout).
    ///
    /// ```
    /// use j0_domain::{
    ///     UserId,
    ///     job::{CancelRefusal, JobState, JobStatus},
    /// };
    /// use time::macros::datetime;
    ///
    /// let (requester, worker) = (UserId(1), UserId(2));
    /// let deadline = datetime!(2026-12-01 12:07 UTC);
    /// let before = datetime!(2026-12-01 12:06:59 UTC);
    /// let posted = JobState {
    ///     requester_id: requester,
    ///     worker_id: None,
    ///     status: JobStatus::Posted,
    ///     expires_at: deadline,
    /// };
    /// assert_eq!(posted.check_cancel(requester, before), Ok(()));
    /// assert_eq!(posted.check_cancel(requester, deadline), Err(CancelRefusal::NotAvailable));
    /// assert_eq!(posted.check_cancel(worker, before), Err(CancelRefusal::NotTheRequester));
    ///
    /// // Once a worker has it, the requester can no longer take it back.
    /// let taken = JobState { status: JobStatus::Accepted, worker_id: Some(worker), ..posted };
    /// assert_eq!(taken.check_cancel(requester, before), Err(CancelRefusal::AlreadyAccepted));
    /// let cancelled = JobState { status: JobStatus::Cancelled, ..posted };
    /// assert_eq!(cancelled.check_cancel(requester, before), Err(CancelRefusal::NotAvailable));
    /// ```
    pub fn check_cancel(&self, caller: UserId, now: OffsetDateTime) -> Result<(), CancelRefusal> {
        if self.requester_id != caller {
            return Err(CancelRefusal::NotTheRequester);
        }
        match self.status {
            JobStatus::Accepted | JobStatus::Completed => Err(CancelRefusal::AlreadyAccepted),
            JobStatus::Cancelled | JobStatus::Timeout => Err(CancelRefusal::NotAvailable),
            JobStatus::Posted if now >= self.expires_at => Err(CancelRefusal::NotAvailable),
            JobStatus::Posted => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const REQUESTER: UserId = UserId(1);
    const WORKER: UserId = UserId(2);
    const STRANGER: UserId = UserId(3);
    const DEADLINE: OffsetDateTime = datetime!(2026-02-13 23:07:00 UTC);
    const BEFORE: OffsetDateTime = datetime!(2026-02-13 23:06:59 UTC);

    /// A job's status and worker, who asks, when, and the rule's answer.
    type Case<R> = (
        JobStatus,
        Option<UserId>,
        UserId,
        OffsetDateTime,
        Result<(), R>,
    );

    /// Asserts one rule's answer in each case.
    fn assert_cases<R: PartialEq + std::fmt::Debug>(
        rule: fn(&JobState, UserId, OffsetDateTime) -> Result<(), R>,
        cases: &[Case<R>],
    ) {
        for (status, worker, caller, now, answer) in cases {
            let case = format!("{status:?} held by {worker:?}, {caller:?} at {now}");
            assert_eq!(
                &rule(&state(*status, *worker), *caller, *now),
                answer,
                "{case}"
            );
        }
    }

    fn state(status: JobStatus, worker_id: Option<UserId>) -> JobState {
        JobState {
            requester_id: REQUESTER,
            worker_id,
            status,
            expires_at: DEADLINE,
        }
    }

    #[test]
    fn field_boundaries() {
        assert!(Credits::new(4).is_err());
        assert!(Credits::new(5).is_ok());
        assert!(Credits::new(100).is_ok());
        assert!(Credits::new(101).is_err());
        assert!(TimeoutSec::new(9).is_err());
        assert!(TimeoutSec::new(10).is_ok());
        assert!(TimeoutSec::new(60).is_ok());
        assert!(TimeoutSec::new(61).is_err());
        assert!(Prompt::new(String::new()).is_err());
        assert!(Prompt::new("é".repeat(10_240)).is_ok());
        assert!(Prompt::new("é".repeat(10_241)).is_err());
        assert!(JobResult::new("字".repeat(100_000)).is_ok());
        assert!(JobResult::new("字".repeat(100_001)).is_err());
        assert!(Prompt::new("a\0b".into()).is_err());
        assert!(JobResult::new("\0".into()).is_err());
    }

    #[test]
    fn capabilities_round_trip_and_refuse_unknown() {
        for c in Capability::ALL {
            assert_eq!(Capability::parse(c.as_str()), Ok(c));
        }
        assert!(Capability::parse("Opus").is_err());
        assert!(Capability::parse("gpt5").is_err());
    }

    #[test]
    fn preview_counts_characters_and_flags_truncation() {
        let short = "ü".repeat(200);
        assert_eq!(preview(&short), (short.as_str(), false));
        let long = "ü".repeat(201);
        let (shown, truncated) = preview(&long);
        assert_eq!(shown.chars().count(), 200);
        assert!(truncated);
    }

    #[test]
    fn accept_rules_in_contract_order() {
        use {AcceptRefusal::*, JobStatus::*};
        #[rustfmt::skip]
        let cases = [
            (Posted, None, REQUESTER, BEFORE, Err(OwnJob)),
            (Posted, None, WORKER, BEFORE, Ok(())),
            (Posted, None, WORKER, DEADLINE, Err(Expired)),
            (Accepted, Some(WORKER), WORKER, DEADLINE, Err(AlreadyAccepted)),
            (Accepted, Some(WORKER), REQUESTER, BEFORE, Err(OwnJob)),
            (Completed, Some(WORKER), STRANGER, BEFORE, Err(AlreadyAccepted)),
            (Timeout, None, STRANGER, BEFORE, Err(Expired)),
            (Cancelled, None, STRANGER, BEFORE, Err(NotAvailable)),
        ];
        assert_cases(JobState::check_accept, &cases);
    }

    #[test]
    fn the_open_jobs_cap_counts_the_other_jobs_held_and_zero_means_none() {
        let cap = OpenJobsCap::new(3);
        assert_eq!(cap.max(), Some(3));
        assert_eq!(cap.check(0), Ok(()));
        assert_eq!(cap.check(2), Ok(()));
        assert_eq!(cap.check(3), Err(AcceptRefusal::TooManyOpenJobs { max: 3 }));
        assert_eq!(
            AcceptRefusal::TooManyOpenJobs { max: 10 }.to_string(),
            "Too many open jobs: at most 10 accepted at once"
        );
        let none = OpenJobsCap::new(0);
        assert_eq!(none.max(), None);
        assert_eq!(none.check(u64::MAX), Ok(()));
        assert_eq!(OpenJobsCap::default().max(), Some(10));
    }

    #[test]
    fn complete_rules_in_contract_order() {
        use {CompleteRefusal::*, JobStatus::*};
        #[rustfmt::skip]
        let cases = [
            (Accepted, Some(WORKER), WORKER, BEFORE, Ok(())),
            (Posted, None, WORKER, BEFORE, Err(NotAccepted)),
            (Cancelled, None, WORKER, BEFORE, Err(NotAccepted)),
            (Timeout, None, WORKER, BEFORE, Err(NotAccepted)),
            (Accepted, Some(WORKER), STRANGER, BEFORE, Err(NotTheWorker)),
            (Accepted, Some(WORKER), WORKER, DEADLINE, Err(TimeoutExpired)),
            (Completed, Some(WORKER), STRANGER, BEFORE, Err(NotTheWorker)),
            (Completed, Some(WORKER), WORKER, BEFORE, Err(NotAccepted)),
            (Timeout, Some(WORKER), WORKER, BEFORE, Err(TimeoutExpired)),
        ];
        assert_cases(JobState::check_complete, &cases);
    }

    #[test]
    fn cancel_rules_in_contract_order() {
        use {CancelRefusal::*, JobStatus::*};
        #[rustfmt::skip]
        let cases = [
            (Posted, None, REQUESTER, BEFORE, Ok(())),
            (Posted, None, STRANGER, BEFORE, Err(NotTheRequester)),
            (Posted, None, REQUESTER, DEADLINE, Err(NotAvailable)),
            (Accepted, Some(WORKER), REQUESTER, BEFORE, Err(AlreadyAccepted)),
            (Completed, Some(WORKER), REQUESTER, BEFORE, Err(AlreadyAccepted)),
            (Cancelled, None, REQUESTER, BEFORE, Err(NotAvailable)),
            (Timeout, None, REQUESTER, BEFORE, Err(NotAvailable)),
        ];
        assert_cases(JobState::check_cancel, &cases);
    }
}
