//! Races with real concurrency (many tasks released by a barrier), each repeated: whatever runs
//! at once, exactly one accept wins, balances never go negative, and every job is paid or
//! refunded exactly once. Every test ends with the ledger audit.

use std::{future::Future, sync::Arc};

use futures_util::FutureExt;
use serde_json::json;
use time::Duration;

use j0_client::{Capability, Error, HistoryType, JobId, JobQuery, JobStatus, PostJob};
use j0_testkit::{
    Config, Response, Session, TestApp, TestClock, assert_refused, at_once, both_at_once,
    no_sweeper, spawn_app, spawn_app_with,
};

/// `OK`, or the refusal's code, for each outcome.
fn outcomes<T>(results: &[Result<T, Error>]) -> Vec<&str> {
    results
        .iter()
        .map(|r| match r {
            Ok(_) => "OK",
            Err(e) => e.code().unwrap_or("no answer"),
        })
        .collect()
}

/// Asserts that `expected` of `codes` are `OK` and the rest are `other`.
#[track_caller]
fn assert_wins(codes: &[&str], expected: usize, other: &str) {
    assert_eq!(
        codes.iter().filter(|c| **c == "OK").count(),
        expected,
        "{codes:?}"
    );
    assert!(codes.iter().all(|c| *c == "OK" || *c == other), "{codes:?}");
}

/// The types of `user`'s history rows about job `id`.
async fn job_history(user: &Session, id: JobId) -> Vec<HistoryType> {
    let about = format!("#{id}");
    let rows = user.transactions(Some(100), None).await.unwrap();
    rows.into_iter()
        .filter(|t| t.description.contains(&about))
        .map(|t| t.kind)
        .collect()
}

/// How many refunds `user`'s history shows for job `id`.
async fn refunds_of(user: &Session, id: JobId) -> usize {
    let history = job_history(user, id).await;
    history
        .iter()
        .filter(|t| **t == HistoryType::JobRefund)
        .count()
}

/// A requester holding 1,000 cents, a worker, and a sweeper whose clock runs `by` ahead of the
/// server's, so that its sweeps find due what the server still thinks open.
async fn racing_a_sweeper(app: &TestApp, by: Duration) -> (Session, Session, j0_app::Marketplace) {
    let [requester, worker] = app.users([1_000, 0]).await;
    (requester, worker, app.core_with_clock(ahead(by)))
}

/// Runs `call` and one sweep of 100 by `sweeper` released together; the call's outcome and how
/// many jobs the sweep expired.
async fn against_a_sweep<T: Send + 'static>(
    sweeper: &j0_app::Marketplace,
    call: impl Future<Output = T> + Send + 'static,
) -> (T, usize) {
    let sweeper = sweeper.clone();
    both_at_once(call, async move { sweeper.expire_due(100).await.unwrap() }).await
}

/// Expires due jobs `batch` at a time until none is left; how many it expired.
async fn sweep_all(core: j0_app::Marketplace, batch: i64) -> Result<usize, String> {
    let mut total = 0;
    loop {
        match core.expire_due(batch).await {
            Ok(0) => return Ok(total),
            Ok(n) => total += n,
            Err(e) => return Err(format!("{e:?}")),
        }
    }
}

/// Only the test's own sweepers expire jobs, and a worker may hold any number of them.
fn sweepers_only(config: &mut Config) {
    no_sweeper(config);
    config.jobs.max_open_per_worker = 0;
}

/// A clock `by` ahead of the server's, for a sweeper that finds jobs due the server thinks open.
fn ahead(by: Duration) -> Arc<TestClock> {
    let clock = Arc::new(TestClock::default());
    clock.advance(by);
    clock
}

#[tokio::test(flavor = "multi_thread")]
async fn of_fifty_concurrent_accepts_exactly_one_wins() {
    let app = spawn_app().await;
    let requester = app.funded_user(1_000).await;
    let workers = app.users([0; 50]).await;
    for _round in 0..5 {
        let id = requester.post_opus(10).await;
        let answers = at_once(50, |i| {
            let worker = workers[i].clone();
            async move { worker.accept_job(id).await }
        })
        .await;
        assert_wins(&outcomes(&answers), 1, "JOB_ALREADY_ACCEPTED");
        let winner = answers.iter().find_map(|r| r.as_ref().ok()).unwrap();
        let job = requester.job(id).await.unwrap();
        assert_eq!(job.worker_id, winner.worker_id);
    }
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_worker_accepting_ten_jobs_at_once_under_a_cap_of_three_gets_exactly_three() {
    let app = spawn_app_with(|c| c.jobs.max_open_per_worker = 3).await;
    let requester = app.funded_user(10_000).await;
    for _round in 0..3 {
        let worker = app.new_user().await;
        let mut ids = Vec::new();
        for _ in 0..10 {
            ids.push(requester.post_opus(10).await);
        }
        let answers = at_once(10, |i| {
            let (worker, id) = (worker.clone(), ids[i]);
            async move { worker.accept_job(id).await }
        })
        .await;
        assert_wins(&outcomes(&answers), 3, "TOO_MANY_OPEN_JOBS");
        let held = JobQuery::default()
            .status(JobStatus::Accepted)
            .worker(worker.user_id);
        assert_eq!(worker.jobs(held).await.unwrap().len(), 3);
        let posted = JobQuery::default()
            .status(JobStatus::Posted)
            .requester(requester.user_id);
        assert_eq!(requester.jobs(posted).await.unwrap().len(), 7);
        for id in ids {
            // The three accepted refuse; the seven others go back.
            let _ = requester.cancel_job(id).await;
        }
    }
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn thirty_concurrent_posts_on_a_balance_for_ten_post_exactly_ten() {
    let app = spawn_app().await;
    // Raw: posts without an Idempotency-Key, which the contract allows and the client always
    // sends.
    let job = json!({ "capability": "opus", "credits": 10, "timeout_sec": 30, "prompt": "p" });
    for user in app.users([100; 3]).await {
        let answers = at_once(30, |_| {
            let (raw, job) = (user.raw(), job.clone());
            async move { raw.post("/jobs", &job).await }
        })
        .await;
        let codes: Vec<&str> = answers.iter().map(Response::outcome).collect();
        assert_wins(&codes, 10, "INSUFFICIENT_CREDITS");
        assert_eq!(user.buckets().await, (0, 0));
        let mine = user
            .jobs(JobQuery::default().requester(user.user_id))
            .await
            .unwrap();
        assert_eq!(mine.len(), 10);
    }
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn thirty_concurrent_keyed_posts_by_one_user_post_exactly_ten_and_never_deadlock() {
    // Through the client, so each post carries its own Idempotency-Key: claiming a key and
    // locking the balance must not deadlock two posts of one user.
    let app = spawn_app().await;
    let [user] = app.users([100]).await;
    let answers = at_once(30, |_| {
        let user = user.clone();
        async move {
            user.post_job(PostJob::new(Capability::Opus, 10, 30, "p"))
                .await
        }
    })
    .await;
    let codes: Vec<&str> = answers
        .iter()
        .map(|a| match a {
            Ok(_) => "OK",
            Err(e) => e.code().unwrap_or("TRANSPORT"),
        })
        .collect();
    assert_wins(&codes, 10, "INSUFFICIENT_CREDITS");
    assert_eq!(user.buckets().await, (0, 0));
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn accept_and_cancel_at_once_never_both_succeed() {
    // One worker may win all twenty accepts: the open-jobs cap is not what this race is about.
    let app = spawn_app_with(|c| c.jobs.max_open_per_worker = 0).await;
    let [requester, worker] = app.users([1_000, 0]).await;
    for _round in 0..20 {
        let id = requester.post_opus(10).await;
        let (accepted, cancelled) = both_at_once(
            {
                let worker = worker.clone();
                async move { worker.accept_job(id).await.map(drop) }
            },
            {
                let requester = requester.clone();
                async move { requester.cancel_job(id).await.map(drop) }
            },
        )
        .await;
        let job = requester.job(id).await.unwrap();
        match outcomes(&[accepted, cancelled]).as_slice() {
            ["OK", "JOB_ALREADY_ACCEPTED"] => assert_eq!(job.status, JobStatus::Accepted),
            ["JOB_NOT_AVAILABLE", "OK"] => assert_eq!(job.status, JobStatus::Cancelled),
            other => panic!("accept and cancel: {other:?}"),
        }
    }
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn accept_racing_an_expiry_sweep_is_refunded_at_most_once() {
    let app = spawn_app_with(no_sweeper).await;
    let (requester, worker, sweeper) = racing_a_sweeper(&app, Duration::seconds(421)).await;
    for _round in 0..15 {
        let id = requester.post_opus(10).await;
        let accepting = worker.clone();
        let accept = async move { accepting.accept_job(id).await };
        let (accept, swept) = against_a_sweep(&sweeper, accept).await;
        let job = requester.job(id).await.unwrap();
        let refunds = refunds_of(&requester, id).await;
        assert!(swept >= usize::from(job.status == JobStatus::Timeout));
        match (accept.is_ok(), job.status) {
            (true, JobStatus::Accepted) => assert_eq!(refunds, 0),
            (_, JobStatus::Timeout) => assert_eq!(refunds, 1),
            other => panic!("accept {accept:?} left job {other:?}"),
        }
        if accept.is_err() {
            assert_refused!(accept => 400, "JOB_EXPIRED", JobExpired);
        }
    }
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn complete_racing_an_expiry_sweep_is_never_both_paid_and_refunded() {
    let app = spawn_app_with(no_sweeper).await;
    let (requester, worker, sweeper) = racing_a_sweeper(&app, Duration::seconds(31)).await;
    let mut seen = (0, 0);
    for _round in 0..20 {
        let id = requester.job_accepted_by(&worker, 10).await;
        let completing = worker.clone();
        let complete = async move { completing.complete_job(id, "r").await };
        let (complete, swept) = against_a_sweep(&sweeper, complete).await;
        let job = requester.job(id).await.unwrap();
        let paid = job_history(&worker, id).await;
        let refunds = refunds_of(&requester, id).await;
        match job.status {
            JobStatus::Completed => {
                assert!(complete.is_ok(), "{complete:?}");
                assert_eq!((paid.len(), refunds, swept), (1, 0, 0));
                seen.0 += 1;
            }
            JobStatus::Timeout => {
                assert_refused!(complete => 400, "TIMEOUT_EXPIRED", TimeoutExpired);
                assert_eq!((paid.len(), refunds, swept), (0, 1, 1));
                seen.1 += 1;
            }
            other => panic!("job ended {other:?}"),
        }
    }
    assert_eq!(seen.0 + seen.1, 20);
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sweepers_at_once_refund_each_job_once() {
    let app = spawn_app_with(sweepers_only).await;
    let [requester, worker] = app.users([10_000, 0]).await;
    let clock = ahead(Duration::seconds(421));
    for i in 0..60 {
        let id = requester.post_opus(5).await;
        if i % 3 == 0 {
            worker.accept_job(id).await.unwrap();
        }
    }
    let sweepers = [
        app.core_with_clock(clock.clone()),
        app.core_with_clock(clock),
    ];
    let swept = at_once(2, |i| sweep_all(sweepers[i].clone(), 7)).await;
    let [a, b] = [0, 1].map(|i| swept[i].clone().expect("sweeper"));
    assert_eq!(a + b, 60, "sweepers expired {a} and {b}");
    assert_eq!(requester.buckets().await, (0, 10_000));
    let refunds = requester.transactions_of(HistoryType::JobRefund).await;
    assert_eq!(refunds.len(), 60);
    let public = requester.user(worker.user_id).await.unwrap();
    assert_eq!(public.reputation_score, 0.0);
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sweepers_and_the_deposit_watcher_over_shared_users_never_abort_each_other() {
    use j0_adapters_evm::Create2Deposits;
    use j0_adapters_postgres::PgStore;
    use j0_ports::chain::{Deposit, DepositAddresses, DepositStore};

    let app = spawn_app_with(sweepers_only).await;
    let mut requesters = Vec::new();
    let mut workers = Vec::new();
    for _ in 0..6 {
        requesters.push(app.funded_user(10_000).await);
        workers.push(app.new_user().await);
    }
    let addresses = Create2Deposits::new(
        app.config.chain.deposit_factory,
        app.config.chain.deposit_init_code_hash,
    );
    let everyone: Vec<_> = requesters.iter().chain(&workers).cloned().collect();
    let store = PgStore::connect(app.db.url(), 4).unwrap();
    let clock = ahead(Duration::seconds(421));
    let mut posted = vec![0usize; requesters.len()];
    let mut credited = 0i64;
    let mut seed = 7u64;
    let mut next = move |n: usize| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) as usize % n
    };
    for round in 0..4u64 {
        // Jobs of every user interleaved at random, half of them held by random workers: each
        // sweeper batch refunds several users, in an order unlike the other's.
        for _ in 0..60 {
            let r = next(requesters.len());
            let id = requesters[r].post_opus(5).await;
            posted[r] += 1;
            if next(2) == 0 {
                workers[next(workers.len())].accept_job(id).await.unwrap();
            }
        }
        // The watcher credits every user in one transaction per scan, highest id first.
        let deposits: Vec<Vec<Deposit>> = (0..20u64)
            .map(|scan| {
                everyone
                    .iter()
                    .rev()
                    .enumerate()
                    .map(|(i, user)| Deposit {
                        to: addresses.deposit_address(user.user_id),
                        tx_hash: format!("0x{:064x}", round * 1_000 + scan),
                        log_index: i as u64,
                        amount: j0_domain::Cents::new(1),
                    })
                    .collect()
            })
            .collect();
        let deposits = Arc::new(deposits);
        let watch = |store: PgStore, deposits: Arc<Vec<Vec<Deposit>>>| async move {
            let mut total = 0;
            for (scan, batch) in deposits.iter().enumerate() {
                let block = round * 100 + scan as u64;
                let now = time::OffsetDateTime::now_utc();
                match store.record_deposits(8453, batch, block, now).await {
                    Ok(n) => total += n,
                    Err(e) => return Err(format!("{e:?}")),
                }
            }
            Ok(total)
        };
        let results = at_once(3, |i| match i {
            2 => watch(store.clone(), deposits.clone()).boxed(),
            _ => sweep_all(app.core_with_clock(clock.clone()), 5).boxed(),
        })
        .await;
        let [a, b, w] = [0, 1, 2].map(|i| results[i].clone());
        let (a, b, w) = (
            a.expect("sweeper one"),
            b.expect("sweeper two"),
            w.expect("watcher"),
        );
        assert_eq!(a + b, 60, "sweepers expired {a} and {b}");
        assert_eq!(w, 20 * everyone.len());
        credited += 20;
    }
    for (r, requester) in requesters.iter().enumerate() {
        // Every job timed out, and the promo it held came back exactly once.
        let timed_out = JobQuery::default()
            .status(JobStatus::Timeout)
            .requester(requester.user_id)
            .limit(100);
        assert_eq!(requester.jobs(timed_out).await.unwrap().len(), posted[r]);
        assert_eq!(requester.buckets().await, (credited, 10_000));
    }
    for worker in &workers {
        assert_eq!(worker.buckets().await, (credited, 0));
    }
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_idempotency_key_sent_twenty_times_at_once_posts_one_job() {
    let app = spawn_app().await;
    for (round, user) in app.users([1_000; 3]).await.iter().enumerate() {
        let job =
            PostJob::new(Capability::Opus, 10, 30, "p").idempotency_key(format!("same-{round}"));
        let answers = at_once(20, |_| {
            let (user, job) = (user.clone(), job.clone());
            async move { user.post_job(job).await }
        })
        .await;
        let ids: Vec<JobId> = answers.into_iter().map(|r| r.unwrap().job_id).collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        assert_eq!(user.buckets().await, (0, 990));
    }
    app.assert_ledger_clean().await;
}
