//! Races with real concurrency (many tasks released by a barrier), each repeated: whatever runs
//! at once, exactly one accept wins, balances never go negative, and every job is paid or
//! refunded exactly once. Every test ends with the ledger audit.

use std::sync::Arc;

use futures_util::future::join_all;
use serde_json::{Value, json};
use time::Duration;

use j0_testkit::{Response, Session, TestApp, TestClock, spawn_app, spawn_app_with};

/// Runs `n` copies of `attempt` released at once; returns their answers.
async fn at_once<F, Fut>(n: usize, attempt: F) -> Vec<Response>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Response> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks = (0..n).map(|i| {
        let barrier = barrier.clone();
        let fut = attempt(i);
        tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        })
    });
    join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect()
}

fn outcomes(responses: &[Response]) -> Vec<String> {
    responses
        .iter()
        .map(|r| {
            if r.status.is_success() {
                "OK".to_owned()
            } else {
                r.code().to_owned()
            }
        })
        .collect()
}

/// History rows of `user` about job `id`, by type.
async fn job_history(app: &TestApp, user: &Session, id: i64) -> Vec<String> {
    user.get(app, "/credits/transactions?limit=100").await.ok()["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            t["description"]
                .as_str()
                .unwrap()
                .contains(&format!("#{id}"))
        })
        .map(|t| t["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn of_fifty_concurrent_accepts_exactly_one_wins() {
    let app = Arc::new(spawn_app().await);
    let requester = app.funded_user(1_000).await;
    let mut workers = Vec::new();
    for _ in 0..50 {
        workers.push(app.new_user().await);
    }
    let workers = Arc::new(workers);
    for _round in 0..5 {
        let id = requester.post_job(&app, 10).await;
        let answers = at_once(50, |i| {
            let (app, worker) = (app.clone(), workers[i].clone());
            async move { worker.post_empty(&app, &format!("/jobs/{id}/accept")).await }
        })
        .await;
        let codes = outcomes(&answers);
        assert_eq!(codes.iter().filter(|c| *c == "OK").count(), 1, "{codes:?}");
        assert!(
            codes
                .iter()
                .all(|c| c == "OK" || c == "JOB_ALREADY_ACCEPTED"),
            "{codes:?}"
        );
        let winner =
            answers.iter().find(|r| r.status.is_success()).unwrap().body["job"]["worker_id"]
                .clone();
        let job = requester.get(&app, &format!("/jobs/{id}")).await.ok();
        assert_eq!(job["worker_id"], winner);
    }
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_worker_accepting_ten_jobs_at_once_under_a_cap_of_three_gets_exactly_three() {
    let app = Arc::new(spawn_app_with(|c| c.max_open_jobs_per_worker = 3).await);
    let requester = app.funded_user(10_000).await;
    for _round in 0..3 {
        let worker = app.new_user().await;
        let mut ids = Vec::new();
        for _ in 0..10 {
            ids.push(requester.post_job(&app, 10).await);
        }
        let ids = Arc::new(ids);
        let answers = at_once(10, |i| {
            let (app, worker, ids) = (app.clone(), worker.clone(), ids.clone());
            async move {
                worker
                    .post_empty(&app, &format!("/jobs/{}/accept", ids[i]))
                    .await
            }
        })
        .await;
        let codes = outcomes(&answers);
        assert_eq!(codes.iter().filter(|c| *c == "OK").count(), 3, "{codes:?}");
        assert!(
            codes.iter().all(|c| c == "OK" || c == "TOO_MANY_OPEN_JOBS"),
            "{codes:?}"
        );
        let held = worker
            .get(
                &app,
                &format!("/jobs?status=accepted&worker_id={}", worker.user_id),
            )
            .await
            .ok();
        assert_eq!(held["jobs"].as_array().unwrap().len(), 3);
        let posted = requester
            .get(
                &app,
                &format!("/jobs?status=posted&requester_id={}", requester.user_id),
            )
            .await
            .ok();
        assert_eq!(posted["jobs"].as_array().unwrap().len(), 7);
        for id in ids.iter() {
            requester
                .post_empty(&app, &format!("/jobs/{id}/cancel"))
                .await;
        }
    }
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn thirty_concurrent_posts_on_a_balance_for_ten_post_exactly_ten() {
    let app = Arc::new(spawn_app().await);
    for _round in 0..3 {
        let user = app.funded_user(100).await;
        let answers = at_once(30, |_| {
            let (app, user) = (app.clone(), user.clone());
            let body =
                json!({ "capability": "opus", "credits": 10, "timeout_sec": 30, "prompt": "p" });
            async move { user.post(&app, "/jobs", &body).await }
        })
        .await;
        let codes = outcomes(&answers);
        assert_eq!(codes.iter().filter(|c| *c == "OK").count(), 10, "{codes:?}");
        assert!(
            codes
                .iter()
                .all(|c| c == "OK" || c == "INSUFFICIENT_CREDITS"),
            "{codes:?}"
        );
        assert_eq!(user.balance(&app).await, (0, 0));
        let mine = user
            .get(&app, &format!("/jobs?requester_id={}", user.user_id))
            .await
            .ok();
        assert_eq!(mine["jobs"].as_array().unwrap().len(), 10);
    }
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn accept_and_cancel_at_once_never_both_succeed() {
    // One worker may win all twenty accepts: the open-jobs cap is not what this race is about.
    let app = Arc::new(spawn_app_with(|c| c.max_open_jobs_per_worker = 0).await);
    let requester = app.funded_user(1_000).await;
    let worker = app.new_user().await;
    for _round in 0..20 {
        let id = requester.post_job(&app, 10).await;
        let answers = at_once(2, |i| {
            let (app, requester, worker) = (app.clone(), requester.clone(), worker.clone());
            async move {
                if i == 0 {
                    worker.post_empty(&app, &format!("/jobs/{id}/accept")).await
                } else {
                    requester
                        .post_empty(&app, &format!("/jobs/{id}/cancel"))
                        .await
                }
            }
        })
        .await;
        let codes = outcomes(&answers);
        let job = requester.get(&app, &format!("/jobs/{id}")).await.ok();
        match codes.as_slice() {
            [a, c] if a == "OK" && c == "JOB_ALREADY_ACCEPTED" => {
                assert_eq!(job["status"], "accepted")
            }
            [a, c] if a == "JOB_NOT_AVAILABLE" && c == "OK" => {
                assert_eq!(job["status"], "cancelled")
            }
            other => panic!("accept and cancel: {other:?}"),
        }
    }
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn accept_racing_an_expiry_sweep_is_refunded_at_most_once() {
    let app = Arc::new(spawn_app_with(|c| c.sweep_interval_ms = 3_600_000).await);
    let requester = app.funded_user(1_000).await;
    let worker = app.new_user().await;
    let ahead = Arc::new(TestClock::default());
    ahead.advance(Duration::seconds(421));
    let sweeper = app.core_with_clock(ahead);
    for _round in 0..15 {
        let id = requester.post_job(&app, 10).await;
        let (accept, swept) = {
            let barrier = Arc::new(tokio::sync::Barrier::new(2));
            let (b1, b2) = (barrier.clone(), barrier);
            let (app2, worker2, sweeper2) = (app.clone(), worker.clone(), sweeper.clone());
            let accept = tokio::spawn(async move {
                b1.wait().await;
                worker2
                    .post_empty(&app2, &format!("/jobs/{id}/accept"))
                    .await
            });
            let sweep = tokio::spawn(async move {
                b2.wait().await;
                sweeper2.expire_due(100).await.unwrap()
            });
            (accept.await.unwrap(), sweep.await.unwrap())
        };
        let job = requester.get(&app, &format!("/jobs/{id}")).await.ok();
        let history = job_history(&app, &requester, id).await;
        let refunds = history.iter().filter(|t| *t == "job_refund").count();
        assert!(swept >= usize::from(job["status"] == "timeout"));
        match (accept.status.is_success(), job["status"].as_str()) {
            (true, Some("accepted")) => assert_eq!(refunds, 0),
            (_, Some("timeout")) => assert_eq!(refunds, 1),
            other => panic!("accept {:?} left job {other:?}", accept.body),
        }
        if !accept.status.is_success() {
            accept.assert_error(400, "JOB_EXPIRED");
        }
    }
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn complete_racing_an_expiry_sweep_is_never_both_paid_and_refunded() {
    let app = Arc::new(spawn_app_with(|c| c.sweep_interval_ms = 3_600_000).await);
    let requester = app.funded_user(1_000).await;
    let worker = app.new_user().await;
    let ahead = Arc::new(TestClock::default());
    ahead.advance(Duration::seconds(31));
    let sweeper = app.core_with_clock(ahead);
    let mut seen = (0, 0);
    for _round in 0..20 {
        let id = requester.post_job(&app, 10).await;
        worker
            .post_empty(&app, &format!("/jobs/{id}/accept"))
            .await
            .ok();
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let (b1, b2) = (barrier.clone(), barrier);
        let (app2, worker2, sweeper2) = (app.clone(), worker.clone(), sweeper.clone());
        let complete = tokio::spawn(async move {
            b1.wait().await;
            worker2
                .post(
                    &app2,
                    &format!("/jobs/{id}/complete"),
                    &json!({ "result": "r" }),
                )
                .await
        });
        let sweep = tokio::spawn(async move {
            b2.wait().await;
            sweeper2.expire_due(100).await.unwrap()
        });
        let (complete, swept) = (complete.await.unwrap(), sweep.await.unwrap());
        let job = requester.get(&app, &format!("/jobs/{id}")).await.ok();
        let paid = job_history(&app, &worker, id).await;
        let refunded = job_history(&app, &requester, id).await;
        let refunds = refunded.iter().filter(|t| *t == "job_refund").count();
        match job["status"].as_str() {
            Some("completed") => {
                assert!(complete.status.is_success(), "{}", complete.body);
                assert_eq!((paid.len(), refunds, swept), (1, 0, 0));
                seen.0 += 1;
            }
            Some("timeout") => {
                complete.assert_error(400, "TIMEOUT_EXPIRED");
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
    let app = Arc::new(
        spawn_app_with(|c| {
            c.sweep_interval_ms = 3_600_000;
            c.max_open_jobs_per_worker = 0;
        })
        .await,
    );
    let requester = app.funded_user(10_000).await;
    let worker = app.new_user().await;
    let mut ids = Vec::new();
    for i in 0..60 {
        let id = requester.post_job(&app, 5).await;
        if i % 3 == 0 {
            worker
                .post_empty(&app, &format!("/jobs/{id}/accept"))
                .await
                .ok();
        }
        ids.push(id);
    }
    let ahead = Arc::new(TestClock::default());
    ahead.advance(Duration::seconds(421));
    let (one, two) = (
        app.core_with_clock(ahead.clone()),
        app.core_with_clock(ahead),
    );
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let sweep = |core: j0_app::App, barrier: Arc<tokio::sync::Barrier>| {
        tokio::spawn(async move {
            barrier.wait().await;
            let mut total = 0;
            loop {
                let n = core.expire_due(7).await.unwrap();
                if n == 0 {
                    return total;
                }
                total += n;
            }
        })
    };
    let (a, b) = (sweep(one, barrier.clone()), sweep(two, barrier));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(a + b, 60, "sweepers expired {a} and {b}");
    assert_eq!(requester.balance(&app).await, (0, 10_000));
    let refunds = requester.transactions_of(&app, "job_refund").await;
    assert_eq!(refunds.len(), 60);
    let public = app
        .get_anon(&format!("/users/{}", worker.user_id))
        .await
        .ok();
    assert_eq!(public["reputation_score"], 0.0);
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sweepers_and_the_deposit_watcher_over_shared_users_never_abort_each_other() {
    use j0_adapters_evm::Create2Deposits;
    use j0_ports::chain::{Deposit, DepositAddresses, DepositStore};

    let app = Arc::new(
        spawn_app_with(|c| {
            c.sweep_interval_ms = 3_600_000;
            c.max_open_jobs_per_worker = 0;
        })
        .await,
    );
    let mut requesters = Vec::new();
    let mut workers = Vec::new();
    for _ in 0..6 {
        requesters.push(app.funded_user(10_000).await);
        workers.push(app.new_user().await);
    }
    let addresses = Create2Deposits::new(
        app.config.deposit_factory,
        app.config.deposit_init_code_hash,
    );
    let everyone: Vec<_> = requesters.iter().chain(&workers).cloned().collect();
    let store = j0_adapters_postgres::PgStore::connect(app.db.url(), 4).unwrap();
    let ahead = Arc::new(TestClock::default());
    ahead.advance(Duration::seconds(421));
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
            let id = requesters[r].post_job(&app, 5).await;
            posted[r] += 1;
            if next(2) == 0 {
                workers[next(workers.len())]
                    .post_empty(&app, &format!("/jobs/{id}/accept"))
                    .await
                    .ok();
            }
        }
        let barrier = Arc::new(tokio::sync::Barrier::new(3));
        let sweep = |core: j0_app::App, barrier: Arc<tokio::sync::Barrier>| {
            tokio::spawn(async move {
                barrier.wait().await;
                let mut total = 0;
                loop {
                    match core.expire_due(5).await {
                        Ok(0) => return Ok(total),
                        Ok(n) => total += n,
                        Err(e) => return Err(format!("{e:?}")),
                    }
                }
            })
        };
        let one = sweep(app.core_with_clock(ahead.clone()), barrier.clone());
        let two = sweep(app.core_with_clock(ahead.clone()), barrier.clone());
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
                        amount: j0_domain::Cents(1),
                    })
                    .collect()
            })
            .collect();
        let watcher = {
            let store = store.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let mut total = 0;
                for (scan, batch) in deposits.iter().enumerate() {
                    let block = round * 100 + scan as u64;
                    match store
                        .record_deposits(8453, batch, block, time::OffsetDateTime::now_utc())
                        .await
                    {
                        Ok(n) => total += n,
                        Err(e) => return Err(format!("{e:?}")),
                    }
                }
                Ok(total)
            })
        };
        let (a, b, w) = (
            one.await.unwrap(),
            two.await.unwrap(),
            watcher.await.unwrap(),
        );
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
        let timed_out = requester
            .get(
                &app,
                &format!(
                    "/jobs?status=timeout&requester_id={}&limit=100",
                    requester.user_id
                ),
            )
            .await
            .ok();
        assert_eq!(timed_out["jobs"].as_array().unwrap().len(), posted[r]);
        assert_eq!(requester.balance(&app).await, (credited, 10_000));
    }
    for worker in &workers {
        assert_eq!(worker.balance(&app).await, (credited, 0));
    }
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_idempotency_key_sent_twenty_times_at_once_posts_one_job() {
    let app = Arc::new(spawn_app().await);
    for round in 0..3 {
        let user = app.funded_user(1_000).await;
        let answers = at_once(20, |_| {
            let (app, user) = (app.clone(), user.clone());
            async move {
                let request = app
                    .http
                    .post(app.url("/jobs"))
                    .bearer_auth(&user.token)
                    .header("Idempotency-Key", format!("same-{round}"))
                    .json(&json!({ "capability": "opus", "credits": 10, "timeout_sec": 30, "prompt": "p" }));
                TestApp::read(request.send().await.unwrap()).await
            }
        })
        .await;
        let ids: Vec<Value> = answers
            .into_iter()
            .map(|r| r.ok()["job"]["job_id"].clone())
            .collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        assert_eq!(user.balance(&app).await, (0, 990));
    }
    app.assert_ledger_clean().await;
}
