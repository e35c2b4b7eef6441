//! The job lifecycle in PostgreSQL.
//!
//! Each transition asks the domain on the job as read, then runs its guarded statement
//! (`crate::guard`), again if the guard missed because the job changed in between.

use async_trait::async_trait;
use diesel::{
    prelude::*,
    result::{DatabaseErrorKind, Error as DieselError},
    sql_types::{Array, BigInt, Bool, Jsonb, Nullable, Text, Timestamptz},
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use time::{Duration, OffsetDateTime};

use j0_domain::{
    Cents, JobId, UserId, event,
    job::{
        AcceptRefusal, CancelRefusal, CompleteRefusal, IDEMPOTENCY_WINDOW, Job, JobResult,
        JobState, JobStatus, NewJob, OpenJobsCap,
    },
    ledger::{self, Balance, RefundReason},
    posting::Posting,
    time::whole_seconds,
};
use j0_ports::{
    AcceptError, CancelError, Cancelled, CompleteError, Completed, IdempotencyKey, JobFilter,
    JobStore, PostError, Posted, SignedIn, StoreError,
};

use crate::prepared::Prepare;
use crate::{
    PgStore, TxError, db_error,
    guard::{Settled, Transition, accept_guard, cancel_guard, settle},
    ledger::{self as store_ledger, JobChange, lock_users},
    rows::JobRow,
    schema,
};

/// Attempts at a keyed post whose key was neither claimable nor bound (its claim was rolled
/// back in between).
const ATTEMPTS: usize = 3;

/// The requester `$1`'s balance, locked, the id the new job takes, and whether the token `$2`
/// was revoked.
const LOCK_REQUESTER: &str = "
SELECT cash_cents, promo_cents, nextval(pg_get_serial_sequence('jobs', 'id')) AS job_id,
    EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $2) AS signed_out
FROM users WHERE id = $1 FOR UPDATE";

/// Locks the requester `$1`'s balance, then claims `Idempotency-Key` `$2` for them (a key older
/// than the replay window `$6` is claimed anew); `job_id` is NULL when the key is bound, and
/// `signed_out` tells whether the token `$7` was revoked (the transaction then rolls back).
///
/// The lock comes first: the key's row references the user, so claiming takes a `KEY SHARE`
/// lock on the user's row, and two posts that each held one while waiting to lock it `FOR
/// UPDATE` would deadlock. Locked first, the second post waits for the first to commit.
const CLAIM_AND_LOCK_REQUESTER: &str = "
WITH u AS (
    SELECT id, cash_cents, promo_cents FROM users WHERE id = $1 FOR UPDATE
), k AS (
    INSERT INTO job_idempotency_keys (user_id, key, request, expires_at, job_id, created_at)
    SELECT u.id, $2, $3, $4, nextval(pg_get_serial_sequence('jobs', 'id')), $5 FROM u
    ON CONFLICT (user_id, key) DO UPDATE
        SET request = EXCLUDED.request, expires_at = EXCLUDED.expires_at,
            job_id = EXCLUDED.job_id, created_at = EXCLUDED.created_at
        WHERE job_idempotency_keys.created_at <= $6
    RETURNING job_id
)
SELECT u.cash_cents, u.promo_cents, k.job_id,
    EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $7) AS signed_out
FROM u LEFT JOIN k ON true";

/// The requester's balance as locked, the id the new job takes (`None`: the key is bound to
/// another job already), and whether the caller signed out.
#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = BigInt)]
    cash_cents: i64,
    #[diesel(sql_type = BigInt)]
    promo_cents: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    job_id: Option<i64>,
    #[diesel(sql_type = Bool)]
    signed_out: bool,
}

#[derive(Debug)]
enum PostOutcome {
    SignedOut,
    Insufficient(ledger::InsufficientCredits),
    KeyTaken,
}

/// Job `$1`, and whether the token `$2` was revoked: an accept's or a completion's first
/// statement, so that the caller's revocation costs no round trip of its own.
const LOAD_JOB_FOR: &str = "
SELECT jobs.*, EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $2) AS signed_out
FROM jobs WHERE id = $1";

#[derive(QueryableByName)]
struct JobFor {
    #[diesel(embed)]
    job: JobRow,
    #[diesel(sql_type = Bool)]
    signed_out: bool,
}

/// Why a caller read no job to act on.
enum Unread {
    SignedOut,
    Missing,
}

/// Job `id` read for `caller`. Only a missing job costs a second statement: telling a
/// signed-out caller from an unknown job.
async fn load_job_for(
    conn: &mut AsyncPgConnection,
    id: i64,
    caller: &SignedIn,
) -> QueryResult<Result<JobRow, Unread>> {
    let read: Option<JobFor> = diesel::sql_query(LOAD_JOB_FOR)
        .bind::<BigInt, _>(id)
        .bind::<Text, _>(&caller.jti)
        .prepared()
        .get_result(conn)
        .await
        .optional()?;
    Ok(match read {
        Some(JobFor {
            signed_out: true, ..
        }) => Err(Unread::SignedOut),
        Some(JobFor { job, .. }) => Ok(job),
        None if crate::auth::is_revoked(conn, &caller.jti).await? => Err(Unread::SignedOut),
        None => Err(Unread::Missing),
    })
}

async fn load_job(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<JobRow>> {
    use schema::jobs::dsl as j;
    j::jobs
        .filter(j::id.eq(id))
        .select(JobRow::as_select())
        .first(conn)
        .await
        .optional()
}

fn to_job(row: JobRow) -> Result<Job, StoreError> {
    row.into_domain()
}

impl PgStore {
    async fn try_post(
        &self,
        caller: &SignedIn,
        new: &NewJob,
        now: OffsetDateTime,
        accept_window: Duration,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<Result<Job, PostOutcome>, StoreError> {
        let requester = caller.user;
        let mut conn = self.conn().await?;
        let expires_at = now + accept_window;
        let result = conn
            .transaction::<_, TxError<PostOutcome>, _>(async |conn| {
                // The key's claim (when there is one) and the requester's lock in one
                // statement; a key already bound leaves no job id.
                let locked: Locked = match idempotency {
                    None => {
                        diesel::sql_query(LOCK_REQUESTER)
                            .bind::<BigInt, _>(requester.0)
                            .bind::<Text, _>(&caller.jti)
                            .prepared()
                            .get_result(conn)
                            .await?
                    }
                    Some(key) => {
                        diesel::sql_query(CLAIM_AND_LOCK_REQUESTER)
                            .bind::<BigInt, _>(requester.0)
                            .bind::<Text, _>(&key.key)
                            .bind::<Jsonb, _>(&key.request)
                            .bind::<Timestamptz, _>(expires_at)
                            .bind::<Timestamptz, _>(now)
                            .bind::<Timestamptz, _>(now - IDEMPOTENCY_WINDOW)
                            .bind::<Text, _>(&caller.jti)
                            .prepared()
                            .get_result(conn)
                            .await?
                    }
                };
                if locked.signed_out {
                    return Err(TxError::Outcome(PostOutcome::SignedOut));
                }
                let Some(job_id) = locked.job_id else {
                    return Err(TxError::Outcome(PostOutcome::KeyTaken));
                };
                let balance = Balance {
                    cash: Cents::new(locked.cash_cents),
                    promo: Cents::new(locked.promo_cents),
                };
                let price = new.credits.cents();
                let hold = ledger::hold_for(price, balance)
                    .map_err(|e| TxError::Outcome(PostOutcome::Insufficient(e)))?;
                let job = Job {
                    id: JobId(job_id),
                    requester_id: requester,
                    worker_id: None,
                    capability: new.capability,
                    credits: price,
                    timeout_sec: new.timeout.get(),
                    status: JobStatus::Posted,
                    prompt: new.prompt.as_str().to_owned(),
                    result: None,
                    created_at: now,
                    accepted_at: None,
                    completed_at: None,
                    expires_at,
                };
                let posting = Posting::job_post(&job, hold);
                store_ledger::write_with(conn, &posting, now, JobChange::Post { job: &job, hold })
                    .await?;
                Ok(job)
            })
            .await;
        match result {
            Ok(job) => Ok(Ok(job)),
            Err(TxError::Outcome(outcome)) => Ok(Err(outcome)),
            Err(TxError::Db(e)) => Err(db_error(e)),
        }
    }

    /// The job a used key made, as its first response showed it; `None` if the key is gone.
    async fn replay(
        &self,
        requester: UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<Result<Job, PostError>>, StoreError> {
        use schema::job_idempotency_keys::dsl as k;
        let mut conn = self.conn().await?;
        let bound: Option<(serde_json::Value, i64, OffsetDateTime)> = k::job_idempotency_keys
            .filter(k::user_id.eq(requester.0))
            .filter(k::key.eq(&key.key))
            .select((k::request, k::job_id, k::expires_at))
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error)?;
        let Some((request, job_id, posted_expires_at)) = bound else {
            return Ok(None);
        };
        let Some(row) = load_job(&mut conn, job_id).await.map_err(db_error)? else {
            return Ok(None);
        };
        Ok(Some(
            to_job(row)?
                .replayed(&request, &key.request, posted_expires_at)
                .map_err(PostError::from),
        ))
    }

    async fn refund(
        conn: &mut AsyncPgConnection,
        row: JobRow,
        reason: RefundReason,
        now: OffsetDateTime,
    ) -> Result<Job, TxError<StoreError>> {
        let hold = row.hold();
        let job = to_job(row).map_err(TxError::Outcome)?;
        let posting = Posting::job_refund(&job, hold, reason);
        let applied = store_ledger::write(conn, &posting, now).await?;
        if !applied {
            return Err(TxError::Outcome(crate::corrupt(format!(
                "job {} refunded twice",
                job.id
            ))));
        }
        Ok(job)
    }
}

fn tx_store_error(e: TxError<StoreError>) -> StoreError {
    match e {
        TxError::Outcome(e) => e,
        TxError::Db(e) => db_error(e),
    }
}

/// The constraint name under which `take_open_job_slot` refuses an accept over the cap.
const OPEN_JOBS_CAP: &str = "open_jobs_per_worker";

/// Accepts job `$1` for worker `$2` at `$3` until `$4`, guarded like every transition, takes a
/// slot under the worker's cap `$8` (the migration's `take_open_job_slot` locks the worker's
/// row after the job's, the order every transaction touching both uses) and writes the events;
/// `applied` is 0 when the guard did not match, and nothing changed.
const ACCEPT: &str = concat!(
    "
WITH g AS (
    UPDATE jobs SET status = 'accepted', worker_id = $2, accepted_at = $3, expires_at = $4
    WHERE ",
    accept_guard!("$1", "$2", "$3"),
    "
    RETURNING id
), c AS (
    SELECT take_open_job_slot($2, $1, $3, $8) AS held FROM g
), ev AS (
    INSERT INTO events (event, recipient_id, data, created_at)
    SELECT x.event, x.recipient, x.data, $3
    FROM c, unnest($5::text[], $6::int8[], $7::jsonb[]) AS x(event, recipient, data)
)
SELECT count(*) AS applied FROM g"
);

/// Cancels job `$1` of requester `$2` at `$3`, guarded like every transition.
const CANCEL: &str = concat!(
    "UPDATE jobs SET status = 'cancelled' WHERE ",
    cancel_guard!("$1", "$2", "$3"),
    " RETURNING *"
);

#[derive(QueryableByName)]
struct Applied {
    #[diesel(sql_type = BigInt)]
    applied: i64,
}

/// A rule of the domain deciding on a job for a caller at a time ([`JobState::check_accept`],
/// [`JobState::check_complete`]).
type Rule<R> = fn(&JobState, UserId, OffsetDateTime) -> Result<(), R>;

/// Job `job` read for `caller` and the domain's `rule` on it at `now`: the job when it passes,
/// else how the transition settles (unknown job, signed-out caller, refused).
async fn decide<T, R>(
    conn: &mut AsyncPgConnection,
    job: JobId,
    caller: &SignedIn,
    now: OffsetDateTime,
    rule: Rule<R>,
) -> Result<Result<Job, Settled<T, R>>, StoreError> {
    let current = match load_job_for(conn, job.0, caller).await.map_err(db_error)? {
        Ok(row) => to_job(row)?,
        Err(Unread::Missing) => return Ok(Err(Settled::Missing)),
        Err(Unread::SignedOut) => return Ok(Err(Settled::SignedOut)),
    };
    Ok(rule(&JobState::from(&current), caller.user, now)
        .map(|()| current)
        .map_err(Settled::Refused))
}

/// One accept of `job` by `caller`: `None` when the guard missed after the domain allowed it.
async fn attempt_accept(
    conn: &mut AsyncPgConnection,
    job: JobId,
    caller: &SignedIn,
    now: OffsetDateTime,
    cap: OpenJobsCap,
) -> Result<Option<Settled<Job, AcceptRefusal>>, StoreError> {
    // The domain decides on the job as read, then one guarded statement accepts it,
    // takes a slot under the worker's cap and writes the event.
    let current = match decide(conn, job, caller, now, JobState::check_accept).await? {
        Ok(current) => current,
        Err(settled) => return Ok(Some(settled)),
    };
    let worker = caller.user;
    let accepted = current.accepted_by(worker, now);
    let events = event::job_accepted(&accepted);
    let applied: Result<Applied, _> = diesel::sql_query(ACCEPT)
        .bind::<BigInt, _>(job.0)
        .bind::<BigInt, _>(worker.0)
        .bind::<Timestamptz, _>(now)
        .bind::<Timestamptz, _>(accepted.expires_at)
        .bind::<Array<Text>, _>(store_ledger::event_names(&events))
        .bind::<Array<Nullable<BigInt>>, _>(store_ledger::event_recipients(&events))
        .bind::<Array<Jsonb>, _>(events.iter().map(|e| &e.data).collect::<Vec<_>>())
        .bind::<Nullable<BigInt>, _>(cap.max().map(i64::from))
        .prepared()
        .get_result(conn)
        .await;
    match applied {
        Ok(Applied { applied: 1 }) => Ok(Some(Settled::Done(accepted))),
        Ok(_) => Ok(None),
        Err(DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, info))
            if info.constraint_name() == Some(OPEN_JOBS_CAP) =>
        {
            let max = cap.max().map_or(u64::MAX, u64::from);
            match cap.check(max) {
                Err(refusal) => Ok(Some(Settled::Refused(refusal))),
                Ok(()) => Err(crate::corrupt(
                    "the open-jobs cap refused an accept the domain allows",
                )),
            }
        }
        Err(e) => Err(db_error(e)),
    }
}

/// One completion of `job` by `caller` with `result`: `None` when the guard missed after the
/// domain allowed it.
async fn attempt_complete(
    conn: &mut AsyncPgConnection,
    job: JobId,
    caller: &SignedIn,
    result: &JobResult,
    now: OffsetDateTime,
) -> Result<Option<Settled<Completed, CompleteRefusal>>, StoreError> {
    // The domain decides on the job as read and builds the payout; one guarded
    // statement then completes the job and writes the payout, or neither when the job
    // changed in between.
    let current = match decide(conn, job, caller, now, JobState::check_complete).await? {
        Ok(current) => current,
        Err(settled) => return Ok(Some(settled)),
    };
    let completed = current.completed_with(result.as_str().to_owned(), now);
    let posting = Posting::job_payout(&completed, caller.user);
    let change = JobChange::Complete {
        worker: caller.user,
        result: result.as_str(),
    };
    let applied = store_ledger::write_with(conn, &posting, now, change)
        .await
        .map_err(db_error)?;
    Ok(applied.then(|| {
        Settled::Done(Completed {
            credits_earned: ledger::worker_payout(completed.credits),
            job: completed,
        })
    }))
}

/// One cancellation of `job` by `requester`, with its refund: `None` when the guard missed
/// after the domain allowed it.
async fn attempt_cancel(
    conn: &mut AsyncPgConnection,
    job: JobId,
    requester: UserId,
    now: OffsetDateTime,
) -> Result<Option<Settled<Cancelled, CancelRefusal>>, StoreError> {
    conn.transaction::<_, TxError<StoreError>, _>(async |conn| {
        let cancelled: Option<JobRow> = diesel::sql_query(CANCEL)
            .bind::<BigInt, _>(job.0)
            .bind::<BigInt, _>(requester.0)
            .bind::<Timestamptz, _>(now)
            .prepared()
            .get_result(conn)
            .await
            .optional()?;
        let Some(row) = cancelled else {
            // The guard missed: the domain says why, on the job as it is now.
            let Some(row) = load_job(conn, job.0).await? else {
                return Ok(Some(Settled::Missing));
            };
            let current = to_job(row).map_err(TxError::Outcome)?;
            return Ok(JobState::from(&current)
                .check_cancel(requester, now)
                .err()
                .map(Settled::Refused));
        };
        let refunded = row.hold();
        let job = PgStore::refund(conn, row, RefundReason::Cancelled, now).await?;
        Ok(Some(Settled::Done(Cancelled { job, refunded })))
    })
    .await
    .map_err(tx_store_error)
}

#[async_trait]
impl JobStore for PgStore {
    async fn post_job(
        &self,
        requester: &SignedIn,
        job: NewJob,
        now: OffsetDateTime,
        accept_window: Duration,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Posted, PostError> {
        let now = whole_seconds(now);
        for _ in 0..ATTEMPTS {
            match self
                .try_post(requester, &job, now, accept_window, idempotency.as_ref())
                .await?
            {
                Ok(job) => return Ok(Posted { job, created: true }),
                Err(PostOutcome::SignedOut) => return Err(PostError::SignedOut),
                Err(PostOutcome::Insufficient(e)) => return Err(PostError::Insufficient(e)),
                Err(PostOutcome::KeyTaken) => {
                    if let Some(key) = &idempotency
                        && let Some(replayed) = self.replay(requester.user, key).await?
                    {
                        return replayed.map(|job| Posted {
                            job,
                            created: false,
                        });
                    }
                }
            }
        }
        Err(PostError::Store(crate::corrupt(
            "idempotency key neither claimable nor bound",
        )))
    }

    async fn accept_job(
        &self,
        job: JobId,
        caller: &SignedIn,
        now: OffsetDateTime,
        cap: OpenJobsCap,
    ) -> Result<j0_domain::job::Job, AcceptError> {
        let now = whole_seconds(now);
        let mut conn = self.conn().await?;
        settle!(
            job,
            Transition::Accept,
            attempt_accept(&mut conn, job, caller, now, cap)
        )?
        .into_result()
    }

    async fn complete_job(
        &self,
        job: JobId,
        caller: &SignedIn,
        result: JobResult,
        now: OffsetDateTime,
    ) -> Result<Completed, CompleteError> {
        let now = whole_seconds(now);
        let mut conn = self.conn().await?;
        settle!(
            job,
            Transition::Complete,
            attempt_complete(&mut conn, job, caller, &result, now)
        )?
        .into_result()
    }

    async fn cancel_job(
        &self,
        job: JobId,
        requester: UserId,
        now: OffsetDateTime,
    ) -> Result<Cancelled, CancelError> {
        let now = whole_seconds(now);
        let mut conn = self.conn().await?;
        settle!(
            job,
            Transition::Cancel,
            attempt_cancel(&mut conn, job, requester, now)
        )?
        .into_result()
    }

    async fn expire_due(&self, now: OffsetDateTime, batch: i64) -> Result<Vec<Job>, StoreError> {
        let now = whole_seconds(now);
        let mut conn = self.conn().await?;
        conn.transaction::<_, TxError<StoreError>, _>(async |conn| {
            let due: Vec<JobRow> = diesel::sql_query(
                "UPDATE jobs SET status = 'timeout'
                 WHERE id IN (
                     SELECT id FROM jobs
                     WHERE status IN ('posted', 'accepted') AND expires_at <= $1
                     ORDER BY expires_at
                     LIMIT $2
                     FOR UPDATE SKIP LOCKED)
                   AND status IN ('posted', 'accepted')
                 RETURNING *",
            )
            .bind::<Timestamptz, _>(now)
            .bind::<BigInt, _>(batch)
            .prepared()
            .load(conn)
            .await?;
            let users: Vec<i64> = due
                .iter()
                .flat_map(|row| std::iter::once(row.requester_id).chain(row.worker_id))
                .collect();
            lock_users(conn, &users).await?;
            let mut expired = Vec::with_capacity(due.len());
            for row in due {
                expired.push(PgStore::refund(conn, row, RefundReason::Timeout, now).await?);
            }
            Ok(expired)
        })
        .await
        .map_err(tx_store_error)
    }

    async fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        let mut conn = self.conn().await?;
        load_job(&mut conn, id.0)
            .await
            .map_err(db_error)?
            .map(to_job)
            .transpose()
    }

    async fn jobs(&self, filter: &JobFilter) -> Result<Vec<Job>, StoreError> {
        use schema::jobs::dsl as j;
        let mut conn = self.conn().await?;
        let mut query = j::jobs.select(JobRow::as_select()).into_boxed();
        if let Some(status) = filter.status {
            query = query.filter(j::status.eq(status.as_str()));
        }
        if let Some(requester) = filter.requester_id {
            query = query.filter(j::requester_id.eq(requester.0));
        }
        if let Some(worker) = filter.worker_id {
            query = query.filter(j::worker_id.eq(worker.0));
        }
        if let Some(capability) = filter.capability {
            query = query.filter(j::capability.eq(capability.as_str()));
        }
        if let Some(before) = filter.before {
            query = query.filter(j::id.lt(before.0));
        }
        let rows: Vec<JobRow> = query
            .order(j::id.desc())
            .limit(filter.limit)
            .load(&mut conn)
            .await
            .map_err(db_error)?;
        rows.into_iter().map(to_job).collect()
    }
}
