//! The ledger in PostgreSQL: one statement applies a transfer with everything that goes with it.
//!
//! [`LedgerWrite`] inserts the keyed transfer and its entries, moves the users' running balances
//! (the `CHECK (… >= 0)` constraints refuse any overdraft), bumps worker records, and writes the
//! history rows and outbox events, including one `balance.updated` per user whose balance moved,
//! built from the balance the same statement produced. Every part joins on the inserted transfer,
//! so a key that already exists makes the whole write a no-op: that is what makes external
//! credits idempotent and refunds exactly-once.

use async_trait::async_trait;
use diesel::{
    prelude::*,
    sql_types::{Array, BigInt, Integer, Jsonb, Nullable, Text, Timestamptz},
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;

use j0_domain::{
    Cents, JobId, TransactionId, UserId,
    event::Outgoing,
    job::Job,
    ledger::{Balance, HistoryType, Hold, TransferKey},
    posting::Posting,
};
use j0_ports::{
    StoreError,
    ledger::{AuditReport, CreditOutcome, GrantError, Granted, HistoryRow, LedgerStore},
};

use crate::prepared::Prepare;
use crate::{PgStore, TxError, corrupt, db_error, guard::complete_guard, schema};

#[derive(QueryableByName)]
struct Applied {
    #[diesel(sql_type = BigInt)]
    applied: i64,
}

/// The ledger write, after `$guard` (`WITH ` or `WITH <ctes>, `), its transfer row taken from
/// `$source`: one statement either way.
macro_rules! ledger_write {
    ($guard:expr, $source:literal) => {
        concat!(
            $guard,
            "t AS (
    INSERT INTO ledger_transfers (idempotency_key, job_id, created_at)
    ",
            $source,
            "
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
), e AS (
    INSERT INTO ledger_entries (transfer_id, account, user_id, amount_cents)
    SELECT t.id, x.account, x.user_id, x.amount
    FROM t, unnest($4::text[], $5::int8[], $6::int8[]) AS x(account, user_id, amount)
), b AS (
    UPDATE users
    SET cash_cents = users.cash_cents + x.cash,
        promo_cents = users.promo_cents + x.promo,
        jobs_completed = users.jobs_completed + x.completed,
        jobs_timed_out = users.jobs_timed_out + x.timed_out
    FROM t, unnest($7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::int8[])
        AS x(user_id, cash, promo, completed, timed_out)
    WHERE users.id = x.user_id
    RETURNING users.id, users.cash_cents, users.promo_cents, (x.cash <> 0 OR x.promo <> 0) AS moved
), h AS (
    INSERT INTO credit_transactions (user_id, transfer_id, amount_cents, type, description, created_at)
    SELECT x.user_id, t.id, x.amount, x.type, x.description, $3
    FROM t, unnest($12::int8[], $13::int8[], $14::text[], $15::text[])
        AS x(user_id, amount, type, description)
), ev AS (
    INSERT INTO events (event, recipient_id, data, created_at)
    SELECT x.event, x.recipient, x.data, $3
    FROM t, unnest($16::text[], $17::int8[], $18::jsonb[]) WITH ORDINALITY AS x(event, recipient, data, n)
    UNION ALL
    SELECT 'balance.updated', b.id,
           jsonb_build_object('cash_cents', b.cash_cents, 'promo_cents', b.promo_cents,
                              'total_cents', b.cash_cents + b.promo_cents),
           $3
    FROM b WHERE b.moved
)
SELECT count(*) AS applied FROM t"
        )
    };
}

const WRITE: &str = ledger_write!("WITH ", "VALUES ($1, $2, $3)");

/// The completion of job `$2` by worker `$19` with result `$20`, guarded like every transition,
/// and its payout: the transfer exists only if the guarded update matched.
const COMPLETE_AND_WRITE: &str = ledger_write!(
    concat!(
        "WITH g AS (
    UPDATE jobs SET status = 'completed', result = $20, completed_at = $3
    WHERE ",
        complete_guard!("$2", "$19", "$3"),
        "
    RETURNING id
), "
    ),
    "SELECT $1, $2, $3 FROM g"
);

/// The new job `$2`, posted by `$19` with what its hold took from each bucket, and the post's
/// transfer: one statement.
const POST_AND_WRITE: &str = ledger_write!(
    "WITH j AS (
    INSERT INTO jobs (id, requester_id, capability, credits, timeout_sec, status, prompt,
                      held_promo_cents, held_cash_cents, created_at, expires_at)
    VALUES ($2, $19, $20, $21, $22, 'posted', $23, $24, $25, $3, $26)
), ",
    "VALUES ($1, $2, $3)"
);

/// What a write does to a job in the same statement.
pub(crate) enum JobChange<'a> {
    /// Inserts the posted job with its hold.
    Post { job: &'a Job, hold: Hold },
    /// Completes the job, if its guard matches, with `worker`'s `result`.
    Complete { worker: UserId, result: &'a str },
}

/// The names of `events`, for an `unnest` of the outbox's columns.
pub(crate) fn event_names(events: &[Outgoing]) -> Vec<&'static str> {
    events.iter().map(|e| e.event).collect()
}

/// The recipients of `events` (`NULL`: every client), for an `unnest` of the outbox's columns.
pub(crate) fn event_recipients(events: &[Outgoing]) -> Vec<Option<i64>> {
    events
        .iter()
        .map(|e| e.recipient.map(UserId::get))
        .collect()
}

/// Writes `posting` at `now` in one statement; `false` when its transfer's key was already
/// used (nothing changed).
pub(crate) async fn write(
    conn: &mut AsyncPgConnection,
    posting: &Posting,
    now: OffsetDateTime,
) -> QueryResult<bool> {
    run(conn, posting, now, WRITE, None).await
}

/// Makes `change` to the posting's job and writes `posting`, in one statement: `false` when a
/// completion's guard did not match (nothing changed).
pub(crate) async fn write_with(
    conn: &mut AsyncPgConnection,
    posting: &Posting,
    now: OffsetDateTime,
    change: JobChange<'_>,
) -> QueryResult<bool> {
    let sql = match change {
        JobChange::Post { .. } => POST_AND_WRITE,
        JobChange::Complete { .. } => COMPLETE_AND_WRITE,
    };
    run(conn, posting, now, sql, Some(change)).await
}

async fn run(
    conn: &mut AsyncPgConnection,
    posting: &Posting,
    now: OffsetDateTime,
    sql: &'static str,
    change: Option<JobChange<'_>>,
) -> QueryResult<bool> {
    let entries = &posting.transfer.entries;
    let users = posting.user_changes();
    let history = &posting.history;
    let events = &posting.events;
    let mut query = diesel::sql_query(sql)
        .into_boxed()
        .bind::<Text, _>(&posting.transfer.key)
        .bind::<Nullable<BigInt>, _>(posting.job.map(JobId::get))
        .bind::<Timestamptz, _>(now)
        .bind::<Array<Text>, _>(entries.iter().map(|e| e.account.kind()).collect::<Vec<_>>())
        .bind::<Array<Nullable<BigInt>>, _>(
            entries
                .iter()
                .map(|e| e.account.user().map(UserId::get))
                .collect::<Vec<_>>(),
        )
        .bind::<Array<BigInt>, _>(entries.iter().map(|e| e.amount.get()).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(users.iter().map(|u| u.user.get()).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(
            users
                .iter()
                .map(|u| u.balance.cash.get())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<BigInt>, _>(
            users
                .iter()
                .map(|u| u.balance.promo.get())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<BigInt>, _>(users.iter().map(|u| u.completed).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(users.iter().map(|u| u.timed_out).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(history.iter().map(|h| h.user.get()).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(history.iter().map(|h| h.amount.get()).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(history.iter().map(|h| h.kind.as_str()).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(
            history
                .iter()
                .map(|h| h.description.as_str())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Text>, _>(event_names(events))
        .bind::<Array<Nullable<BigInt>>, _>(event_recipients(events))
        .bind::<Array<Jsonb>, _>(events.iter().map(|e| &e.data).collect::<Vec<_>>());
    match change {
        None => {}
        Some(JobChange::Complete { worker, result }) => {
            query = query.bind::<BigInt, _>(worker.0).bind::<Text, _>(result);
        }
        Some(JobChange::Post { job, hold }) => {
            query = query
                .bind::<BigInt, _>(job.requester_id.0)
                .bind::<Text, _>(job.capability.as_str())
                .bind::<BigInt, _>(job.credits.get())
                .bind::<Integer, _>(job.timeout_sec)
                .bind::<Text, _>(job.prompt.clone())
                .bind::<BigInt, _>(hold.promo.get())
                .bind::<BigInt, _>(hold.cash.get())
                .bind::<Timestamptz, _>(job.expires_at);
        }
    }
    let applied: Applied = query.prepared().get_result(conn).await?;
    Ok(applied.applied == 1)
}

/// Locks the rows of `users` in id order, for a transaction about to move several balances.
///
/// Every transaction that changes more than one user's row takes them this way first (the
/// sweeper's refunds, the deposit watcher's credits), so two of them never wait on each other in
/// a cycle: whoever holds the lower id goes first. `NO KEY UPDATE` is the lock the balance
/// `UPDATE` takes anyway; one statement takes them all, in the order it returns the rows.
pub(crate) async fn lock_users(conn: &mut AsyncPgConnection, users: &[i64]) -> QueryResult<()> {
    if users.len() > 1 {
        diesel::sql_query("SELECT id FROM users WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
            .bind::<Array<BigInt>, _>(users)
            .prepared()
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// What the transfer under `key` gave `user`'s promo, if there is one.
async fn granted_under(
    conn: &mut AsyncPgConnection,
    key: &str,
    user: UserId,
) -> QueryResult<Option<Cents>> {
    #[derive(QueryableByName)]
    struct Amount {
        #[diesel(sql_type = BigInt)]
        amount_cents: i64,
    }
    let first: Option<Amount> = diesel::sql_query(
        "SELECT e.amount_cents FROM ledger_transfers t
         JOIN ledger_entries e ON e.transfer_id = t.id
         WHERE t.idempotency_key = $1 AND e.account = 'user_promo' AND e.user_id = $2",
    )
    .bind::<Text, _>(key)
    .bind::<BigInt, _>(user.0)
    .prepared()
    .get_result(conn)
    .await
    .optional()?;
    Ok(first.map(|a| Cents::new(a.amount_cents)))
}

/// Writes the external credit `purchase` inside the caller's transaction.
pub(crate) async fn credit_purchase_in(
    conn: &mut AsyncPgConnection,
    purchase: &Posting,
    now: OffsetDateTime,
) -> QueryResult<CreditOutcome> {
    use schema::users::dsl as u;
    let Some((user, _)) = purchase.credited() else {
        return Ok(CreditOutcome::UnknownUser);
    };
    let exists: Option<i64> = u::users
        .filter(u::id.eq(user.0))
        .select(u::id)
        .first(conn)
        .await
        .optional()?;
    if exists.is_none() {
        return Ok(CreditOutcome::UnknownUser);
    }
    Ok(if write(conn, purchase, now).await? {
        CreditOutcome::Credited
    } else {
        CreditOutcome::AlreadyCredited
    })
}

fn parse_history_type(kind: &str) -> Option<HistoryType> {
    HistoryType::ALL.into_iter().find(|t| t.as_str() == kind)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Key {
    #[diesel(sql_type = Text)]
    key: String,
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

async fn count(conn: &mut AsyncPgConnection, sql: &str) -> QueryResult<i64> {
    Ok(diesel::sql_query(sql).get_result::<Count>(conn).await?.n)
}

async fn ids(conn: &mut AsyncPgConnection, sql: &str) -> QueryResult<Vec<i64>> {
    Ok(diesel::sql_query(sql)
        .load::<Id>(conn)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect())
}

async fn audit_in(conn: &mut AsyncPgConnection) -> QueryResult<AuditReport> {
    Ok(AuditReport {
        transfers: count(conn, "SELECT count(*) AS n FROM ledger_transfers").await?,
        entries: count(conn, "SELECT count(*) AS n FROM ledger_entries").await?,
        unbalanced_transfers: diesel::sql_query(
            "SELECT t.idempotency_key AS key FROM ledger_transfers t
             LEFT JOIN ledger_entries e ON e.transfer_id = t.id
             GROUP BY t.id HAVING coalesce(sum(e.amount_cents), 0) <> 0 OR count(e.id) = 0
             ORDER BY t.id LIMIT 100",
        )
        .load::<Key>(conn)
        .await?
        .into_iter()
        .map(|k| k.key)
        .collect(),
        accounts_sum: Cents::new(
            count(conn, "SELECT coalesce(sum(amount_cents), 0)::int8 AS n FROM ledger_entries")
                .await?,
        ),
        escrow_balance: Cents::new(
            count(
                conn,
                "SELECT coalesce(sum(amount_cents), 0)::int8 AS n FROM ledger_entries WHERE account = 'escrow'",
            )
            .await?,
        ),
        open_job_credits: Cents::new(
            count(
                conn,
                "SELECT coalesce(sum(credits), 0)::int8 AS n FROM jobs WHERE status IN ('posted', 'accepted')",
            )
            .await?,
        ),
        negative_users: ids(
            conn,
            "SELECT id FROM users WHERE cash_cents < 0 OR promo_cents < 0 ORDER BY id LIMIT 100",
        )
        .await?
        .into_iter()
        .map(UserId)
        .collect(),
        balance_mismatches: ids(
            conn,
            "SELECT u.id FROM users u
             LEFT JOIN (SELECT user_id,
                    sum(amount_cents) FILTER (WHERE account = 'user_cash') AS cash,
                    sum(amount_cents) FILTER (WHERE account = 'user_promo') AS promo
                FROM ledger_entries WHERE user_id IS NOT NULL GROUP BY user_id) e ON e.user_id = u.id
             WHERE u.cash_cents <> coalesce(e.cash, 0) OR u.promo_cents <> coalesce(e.promo, 0)
             ORDER BY u.id LIMIT 100",
        )
        .await?
        .into_iter()
        .map(UserId)
        .collect(),
        history_mismatches: ids(
            conn,
            "SELECT coalesce(e.user_id, h.user_id) AS id FROM
                (SELECT transfer_id, user_id, sum(amount_cents) AS amount FROM ledger_entries
                 WHERE user_id IS NOT NULL GROUP BY transfer_id, user_id) e
             FULL JOIN
                (SELECT transfer_id, user_id, sum(amount_cents) AS amount FROM credit_transactions
                 GROUP BY transfer_id, user_id) h
             ON e.transfer_id = h.transfer_id AND e.user_id = h.user_id
             WHERE e.amount IS DISTINCT FROM h.amount
             GROUP BY 1 ORDER BY 1 LIMIT 100",
        )
        .await?
        .into_iter()
        .map(UserId)
        .collect(),
        job_mismatches: diesel::sql_query(
            "SELECT j.id FROM jobs j
             LEFT JOIN ledger_transfers p ON p.idempotency_key = $1 || j.id || $2
             LEFT JOIN ledger_transfers r ON r.idempotency_key = $1 || j.id || $3
             LEFT JOIN ledger_transfers w ON w.idempotency_key = $1 || j.id || $4
             WHERE p.id IS NULL
                OR (j.status IN ('posted', 'accepted') AND (r.id IS NOT NULL OR w.id IS NOT NULL))
                OR (j.status = 'completed' AND (w.id IS NULL OR r.id IS NOT NULL))
                OR (j.status IN ('cancelled', 'timeout') AND (r.id IS NULL OR w.id IS NOT NULL))
             ORDER BY j.id LIMIT 100",
        )
        .bind::<Text, _>(TransferKey::JOB_PREFIX)
        .bind::<Text, _>(TransferKey::POST_SUFFIX)
        .bind::<Text, _>(TransferKey::REFUND_SUFFIX)
        .bind::<Text, _>(TransferKey::PAYOUT_SUFFIX)
        .load::<Id>(conn)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect(),
    })
}

#[async_trait]
impl LedgerStore for PgStore {
    async fn balance(&self, user: UserId) -> Result<Balance, StoreError> {
        use schema::users::dsl as u;
        let mut conn = self.conn().await?;
        let row: Option<(i64, i64)> = u::users
            .filter(u::id.eq(user.0))
            .select((u::cash_cents, u::promo_cents))
            .first(&mut conn)
            .await
            .optional()
            .map_err(db_error)?;
        let (cash, promo) = row.unwrap_or_default();
        Ok(Balance {
            cash: Cents::new(cash),
            promo: Cents::new(promo),
        })
    }

    async fn history(
        &self,
        user: UserId,
        before: Option<TransactionId>,
        limit: i64,
    ) -> Result<Vec<HistoryRow>, StoreError> {
        use schema::credit_transactions::dsl as h;
        let mut conn = self.conn().await?;
        let mut query = h::credit_transactions
            .filter(h::user_id.eq(user.0))
            .select((
                h::id,
                h::user_id,
                h::amount_cents,
                h::kind,
                h::description,
                h::created_at,
            ))
            .order(h::id.desc())
            .limit(limit)
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(h::id.lt(before.0));
        }
        let rows: Vec<(i64, i64, i64, String, String, OffsetDateTime)> =
            query.load(&mut conn).await.map_err(db_error)?;
        rows.into_iter()
            .map(|(id, user_id, amount, kind, description, created_at)| {
                Ok(HistoryRow {
                    id: TransactionId(id),
                    user_id: UserId(user_id),
                    amount: Cents::new(amount),
                    kind: parse_history_type(&kind)
                        .ok_or_else(|| corrupt(format!("transaction {id} type")))?,
                    description,
                    created_at,
                })
            })
            .collect()
    }

    async fn grant_promo(
        &self,
        grant: &Posting,
        now: OffsetDateTime,
    ) -> Result<Granted, GrantError> {
        use schema::users::dsl as u;
        let Some((user, amount)) = grant.credited() else {
            return Err(GrantError::Store(corrupt("a promo grant credits nobody")));
        };
        let mut conn = self.conn().await?;
        let result = conn
            .transaction::<_, TxError<GrantError>, _>(async |conn| {
                let exists: Option<i64> = u::users
                    .filter(u::id.eq(user.0))
                    .select(u::id)
                    .for_update()
                    .first(conn)
                    .await
                    .optional()?;
                if exists.is_none() {
                    return Err(TxError::Outcome(GrantError::UnknownUser(user)));
                }
                let granted = write(conn, grant, now).await?;
                if !granted {
                    let first = granted_under(conn, &grant.transfer.key, user).await?;
                    if first != Some(amount) {
                        return Err(TxError::Outcome(GrantError::KeyReused {
                            user,
                            granted: first.unwrap_or(Cents::ZERO),
                        }));
                    }
                }
                let (cash, promo): (i64, i64) = u::users
                    .filter(u::id.eq(user.0))
                    .select((u::cash_cents, u::promo_cents))
                    .first(conn)
                    .await?;
                Ok(Granted {
                    balance: Balance {
                        cash: Cents::new(cash),
                        promo: Cents::new(promo),
                    },
                    granted,
                })
            })
            .await;
        match result {
            Ok(granted) => Ok(granted),
            Err(TxError::Outcome(e)) => Err(e),
            Err(TxError::Db(e)) => Err(GrantError::Store(db_error(e))),
        }
    }

    async fn credit_purchase(
        &self,
        purchase: &Posting,
        now: OffsetDateTime,
    ) -> Result<CreditOutcome, StoreError> {
        let mut conn = self.conn().await?;
        conn.transaction::<_, diesel::result::Error, _>(async |conn| {
            credit_purchase_in(conn, purchase, now).await
        })
        .await
        .map_err(db_error)
    }

    async fn audit(&self) -> Result<AuditReport, StoreError> {
        let mut conn = self.conn().await?;
        conn.build_transaction()
            .repeatable_read()
            .read_only()
            .run::<_, diesel::result::Error, _>(async |conn| audit_in(conn).await)
            .await
            .map_err(db_error)
    }
}
