//! The guards of the job transitions, and the loop every guarded transition runs.
//!
//! Each transition is a conditional `UPDATE … WHERE <guard>` whose guard holds every rule the
//! clock and the status impose, so the row lock decides races: of fifty concurrent accepts one
//! matches, the rest see the winner's row and match nothing. The domain decides first, on the
//! row as read, which keeps the refusal order of the contract in one place; the guard makes
//! that decision safe against everything that commits in between. Each guard is spelled once
//! here, with the positions of its parameters, and [`guard_matches`] lets a test hold it
//! against `JobState::check_*`.

use diesel::sql_types::{BigInt, Bool, Timestamptz};
use diesel_async::RunQueryDsl;
use time::OffsetDateTime;

use j0_domain::{JobId, UserId};
use j0_ports::{JobActionError, StoreError};

use crate::{PgStore, db_error, prepared::Prepare};

/// The `WHERE` of an accept of job `$job` by `$caller` at `$now`.
macro_rules! accept_guard {
    ($job:literal, $caller:literal, $now:literal) => {
        concat!(
            "id = ",
            $job,
            " AND status = 'posted' AND expires_at > ",
            $now,
            " AND requester_id <> ",
            $caller
        )
    };
}

/// The `WHERE` of a completion of job `$job` by `$caller` at `$now`.
macro_rules! complete_guard {
    ($job:literal, $caller:literal, $now:literal) => {
        concat!(
            "id = ",
            $job,
            " AND worker_id = ",
            $caller,
            " AND status = 'accepted' AND expires_at > ",
            $now
        )
    };
}

/// The `WHERE` of a cancellation of job `$job` by `$caller` at `$now`.
macro_rules! cancel_guard {
    ($job:literal, $caller:literal, $now:literal) => {
        concat!(
            "id = ",
            $job,
            " AND requester_id = ",
            $caller,
            " AND status = 'posted' AND expires_at > ",
            $now
        )
    };
}

pub(crate) use {accept_guard, cancel_guard, complete_guard};

/// A guarded job transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// A worker takes a posted job.
    Accept,
    /// The worker submits the result.
    Complete,
    /// The requester withdraws a posted job.
    Cancel,
}

impl Transition {
    /// Every transition.
    pub const ALL: [Transition; 3] = [Transition::Accept, Transition::Complete, Transition::Cancel];
}

#[derive(diesel::QueryableByName)]
struct Matches {
    #[diesel(sql_type = Bool)]
    matches: bool,
}

/// Whether `transition`'s guard matches job `job` for `caller` at `now`: whether its guarded
/// `UPDATE` would change the row. Changes nothing.
pub async fn guard_matches(
    store: &PgStore,
    transition: Transition,
    job: JobId,
    caller: UserId,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let sql = match transition {
        Transition::Accept => concat!(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE ",
            accept_guard!("$1", "$2", "$3"),
            ") AS matches"
        ),
        Transition::Complete => concat!(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE ",
            complete_guard!("$1", "$2", "$3"),
            ") AS matches"
        ),
        Transition::Cancel => concat!(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE ",
            cancel_guard!("$1", "$2", "$3"),
            ") AS matches"
        ),
    };
    let mut conn = store.conn().await?;
    let row: Matches = diesel::sql_query(sql)
        .bind::<BigInt, _>(job.get())
        .bind::<BigInt, _>(caller.get())
        .bind::<Timestamptz, _>(now)
        .prepared()
        .get_result(&mut conn)
        .await
        .map_err(db_error)?;
    Ok(row.matches)
}

/// How a guarded transition ended.
pub(crate) enum Settled<T, R> {
    /// It happened.
    Done(T),
    /// The domain refused it on the job as read.
    Refused(R),
    /// No such job.
    Missing,
    /// The caller's token was revoked.
    SignedOut,
}

impl<T, R> Settled<T, R> {
    /// The outcome as the port answers it.
    pub(crate) fn into_result(self) -> Result<T, JobActionError<R>> {
        match self {
            Self::Done(done) => Ok(done),
            Self::Refused(refusal) => Err(JobActionError::Refused(refusal)),
            Self::Missing => Err(JobActionError::NotFound),
            Self::SignedOut => Err(JobActionError::SignedOut),
        }
    }
}

/// Attempts at a transition whose guard missed while the row read said it should not have.
pub(crate) const ATTEMPTS: usize = 3;

/// Runs `$attempt`, an async expression answering `Result<Option<Settled<..>>, StoreError>`,
/// until it settles, and evaluates to `Result<Settled<..>, StoreError>`. An attempt answers
/// `None` when its guard missed although the domain, asked on the row it read, allowed the
/// transition: a concurrent transaction changed the job in between, so it reads and asks
/// again, up to [`ATTEMPTS`] times.
macro_rules! settle {
    ($job:expr, $transition:expr, $attempt:expr) => {{
        let mut settled = None;
        for _ in 0..$crate::guard::ATTEMPTS {
            settled = $attempt.await?;
            if settled.is_some() {
                break;
            }
        }
        settled.ok_or_else(|| $crate::guard::kept_missing($job, $transition))
    }};
}

pub(crate) use settle;

/// The error of a transition whose guard missed on every attempt.
pub(crate) fn kept_missing(job: JobId, transition: Transition) -> StoreError {
    crate::corrupt(format!("job {job}: the {transition:?} guard kept missing"))
}
