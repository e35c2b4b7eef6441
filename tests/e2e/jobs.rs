//! The job lifecycle (contract §6): validation, the order of refusals, visibility, listing,
//! idempotent posts and expiry. Every test that moves money ends with the ledger audit.

use reqwest::{Method, header};
use serde_json::json;
use time::Duration;

use j0_client::{Capability, HistoryType, JobId, JobQuery, JobStatus, PostJob};
use j0_testkit::{Response, Session, assert_refused, no_sweeper, spawn_app, spawn_app_with};

fn job(credits: i64, timeout_sec: i64, prompt: impl Into<String>) -> PostJob {
    PostJob::new(Capability::Opus, credits, timeout_sec, prompt)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_validation_boundary_is_checked_and_refusals_change_nothing() {
    let app = spawn_app().await;
    let user = app.funded_user(10_000).await;
    let long = |n: usize| "é".repeat(n);
    assert_refused!(
        user.post_job(job(4, 30, "p")).await => 400, "VALIDATION_ERROR",
        Validation { message } if message.starts_with("credits")
    );
    for refused in [
        job(101, 30, "p"),
        job(10, 9, "p"),
        job(10, 61, "p"),
        job(10, 30, ""),
        job(10, 30, long(10_241)),
    ] {
        assert_refused!(user.post_job(refused).await => 400, "VALIDATION_ERROR", Validation);
    }
    // What the client's types cannot say.
    let mistyped = [
        json!({ "capability": "opus", "credits": 10.5, "timeout_sec": 30, "prompt": "p" }),
        json!({ "capability": "opus", "credits": "10", "timeout_sec": 30, "prompt": "p" }),
        json!({ "capability": "gpt5", "credits": 10, "timeout_sec": 30, "prompt": "p" }),
        json!({ "capability": "Opus", "credits": 10, "timeout_sec": 30, "prompt": "p" }),
        json!({ "credits": 10, "timeout_sec": 30, "prompt": "p" }),
        json!({ "capability": "opus", "credits": 10, "timeout_sec": 30, "prompt": "p", "status": "completed" }),
    ];
    for body in &mistyped {
        let r = user.raw().post("/jobs", body).await;
        r.assert_error(400, "VALIDATION_ERROR");
    }
    let r = user.raw().post("/jobs", &mistyped[2]).await;
    assert!(
        r.body["error"].as_str().unwrap().starts_with("capability"),
        "{}",
        r.body
    );
    assert_eq!(user.buckets().await, (0, 10_000));
    assert!(user.jobs(JobQuery::default()).await.unwrap().is_empty());

    for accepted in [job(5, 10, "p"), job(100, 60, long(10_240))] {
        user.post_job(accepted).await.unwrap();
    }
    for capability in Capability::ALL {
        let posted = user
            .post_job(PostJob::new(capability, 5, 10, "p"))
            .await
            .unwrap();
        assert_eq!(posted.capability, capability);
    }
    assert_eq!(user.buckets().await, (0, 10_000 - 105 - 25));
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn insufficient_credits_reports_the_total_and_changes_nothing() {
    let app = spawn_app().await;
    let user = app.funded_user(5).await;
    assert_refused!(
        user.post_job(job(10, 30, "p")).await => 400, "INSUFFICIENT_CREDITS",
        InsufficientCredits { have: 5, need: 10, message }
            if message == "Insufficient credits: have 5, need 10"
    );
    assert_eq!(user.buckets().await, (0, 5));
    assert_eq!(user.transactions(None, None).await.unwrap().len(), 1);
    app.assert_ledger_clean().await;
}

/// A user's history as `(type, amount, description)`, newest first.
async fn history(user: &Session) -> Vec<(HistoryType, i64, String)> {
    user.transactions(None, None)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.kind, t.amount_cents.get(), t.description))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_goes_from_posted_to_accepted_to_completed_and_pays_the_worker() {
    let app = spawn_app().await;
    let posted = app.posted_job(1_000, job(10, 30, "Summarize")).await;
    let (requester, j, id) = (&posted.requester, &posted.job, posted.id());
    let worker = app.new_user().await;
    assert_eq!(j.status, JobStatus::Posted);
    assert_eq!(j.requester_id, requester.user_id);
    assert_eq!(j.worker_id, None);
    assert_eq!(
        (j.prompt.as_str(), j.prompt_truncated),
        ("Summarize", false)
    );
    assert_eq!(j.expires_at - j.created_at, Duration::seconds(420));
    let wire = requester.raw().get(&format!("/jobs/{id}")).await.ok();
    assert!(wire["created_at"].as_str().unwrap().ends_with('Z'));

    let a = worker.accept_job(id).await.unwrap();
    assert_eq!(
        (a.status, a.worker_id),
        (JobStatus::Accepted, Some(worker.user_id))
    );
    assert_eq!(a.prompt, "Summarize");
    assert_eq!(a.expires_at - a.accepted_at.unwrap(), Duration::seconds(30));

    let done = worker.complete_job(id, "- a\n- b").await.unwrap();
    assert_eq!(done.credits_earned.get(), 9);
    assert_eq!(
        (done.job.status, done.job.result.as_deref()),
        (JobStatus::Completed, Some("- a\n- b"))
    );
    assert!(done.job.completed_at.is_some());

    assert_eq!(requester.buckets().await, (0, 990));
    assert_eq!(worker.buckets().await, (9, 0));
    let seen = requester.job(id).await.unwrap();
    assert_eq!(
        (seen.status, seen.result.as_deref()),
        (JobStatus::Completed, Some("- a\n- b"))
    );
    assert_eq!(worker.me().await.unwrap().reputation_score, 1.0);
    assert_eq!(
        history(requester).await,
        [
            (HistoryType::JobPost, -10, format!("Posted job #{id}")),
            (HistoryType::Promo, 1_000, "Promotional credits".to_owned()),
        ]
    );
    assert_eq!(
        history(&worker).await,
        [(HistoryType::JobEarn, 9, format!("Completed job #{id}"))]
    );
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fees_are_the_rest_after_the_floor_of_ninety_percent() {
    let app = spawn_app().await;
    let [requester, worker] = app.users([1_000, 0]).await;
    let mut earned_total = 0;
    for (credits, earned) in [(5, 4), (10, 9), (15, 13), (100, 90)] {
        let done = requester.job_completed_by(&worker, credits).await;
        assert_eq!(done.credits_earned.get(), earned, "{credits} credits");
        earned_total += earned;
    }
    assert_eq!(worker.buckets().await, (earned_total, 0));
    assert_eq!(requester.buckets().await, (0, 1_000 - 130));
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn posts_spend_promo_first_and_refunds_restore_the_same_buckets() {
    let app = spawn_app().await;
    let [rich, user] = app.users([1_000, 7]).await;
    rich.job_completed_by(&user, 100).await;
    assert_eq!(user.buckets().await, (90, 7));

    let mixed = user.post_opus(10).await;
    assert_eq!(user.buckets().await, (87, 0));
    let cash_only = user.post_opus(20).await;
    assert_eq!(user.buckets().await, (67, 0));
    user.cancel_job(mixed).await.unwrap();
    assert_eq!(user.buckets().await, (70, 7));
    let r = user.cancel_job(cash_only).await.unwrap();
    assert_eq!(r.credits_refunded.get(), 20);
    assert_eq!(
        (r.job.job_id, r.job.status),
        (cash_only, JobStatus::Cancelled)
    );
    assert_eq!(user.buckets().await, (90, 7));

    let promo_only = rich.post_opus(15).await;
    assert_eq!(rich.buckets().await, (0, 1_000 - 100 - 15));
    app.clock.advance(Duration::seconds(421));
    rich.wait_for_status(promo_only, JobStatus::Timeout).await;
    assert_eq!(rich.buckets().await, (0, 1_000 - 100));
    assert_eq!(
        history(&rich).await[0],
        (
            HistoryType::JobRefund,
            15,
            format!("Refund for job #{promo_only} (timeout)")
        )
    );
    assert_eq!(
        history(&user).await[0].2,
        format!("Refund for job #{cash_only} (cancelled)")
    );
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn only_participants_see_the_full_prompt_and_the_result() {
    let app = spawn_app().await;
    let prompt = format!("{}{}", "ü".repeat(200), "secret tail");
    let posted = app.posted_job(100, job(10, 30, prompt.clone())).await;
    let (requester, id) = (&posted.requester, posted.id());
    let [worker, stranger] = app.users([0, 0]).await;
    let view = async |s: &Session| s.job(id).await.unwrap();
    let preview = view(&stranger).await;
    assert_eq!(preview.prompt, "ü".repeat(200));
    assert!(preview.prompt_truncated);
    let listed = stranger
        .jobs(JobQuery::default().status(JobStatus::Posted))
        .await
        .unwrap();
    assert_eq!(listed[0].prompt, "ü".repeat(200));
    assert!(view(&worker).await.prompt_truncated);
    assert_eq!(view(requester).await.prompt, prompt);

    let accepted = worker.accept_job(id).await.unwrap();
    assert_eq!(
        (accepted.prompt.as_str(), accepted.prompt_truncated),
        (prompt.as_str(), false)
    );
    assert_eq!(view(&worker).await.prompt, prompt);
    assert!(view(&stranger).await.prompt_truncated);

    worker.complete_job(id, "answer").await.unwrap();
    assert_eq!(view(&stranger).await.result, None);
    assert_eq!(view(requester).await.result.as_deref(), Some("answer"));
    assert_eq!(view(&worker).await.result.as_deref(), Some("answer"));
    let short = stranger.job(requester.post_opus(5).await).await.unwrap();
    assert_eq!(
        (short.prompt.as_str(), short.prompt_truncated),
        ("Summarize this", false)
    );
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn accept_refusals_come_in_the_contracts_order() {
    let app = spawn_app_with(no_sweeper).await;
    let [requester, worker, other] = app.users([1_000, 0, 0]).await;
    for missing in [JobId(999_999), JobId(0)] {
        assert_refused!(worker.accept_job(missing).await => 404, "JOB_NOT_FOUND", NotFound);
    }
    worker
        .raw()
        .call(Method::POST, "/jobs/x/accept", None)
        .await
        .assert_error(400, "VALIDATION_ERROR");

    let id = requester.post_opus(10).await;
    assert_refused!(requester.accept_job(id).await => 403, "OWN_JOB", OwnJob);
    worker.accept_job(id).await.unwrap();
    for s in [&worker, &other] {
        assert_refused!(
            s.accept_job(id).await => 400, "JOB_ALREADY_ACCEPTED",
            JobAlreadyAccepted { message } if message == "Job already accepted by another worker"
        );
    }
    assert_refused!(requester.accept_job(id).await => 403, "OWN_JOB", OwnJob);

    let cancelled = requester.post_cancelled(10).await;
    assert_refused!(
        worker.accept_job(cancelled).await => 400, "JOB_NOT_AVAILABLE",
        JobNotAvailable
    );

    let stale = requester.post_opus(10).await;
    app.clock.advance(Duration::seconds(420));
    assert_refused!(
        worker.accept_job(stale).await => 400, "JOB_EXPIRED",
        JobExpired { message } if message == "Job timeout expired"
    );
    assert_refused!(other.accept_job(id).await => 400, "JOB_ALREADY_ACCEPTED", JobAlreadyAccepted);

    app.core.expire_due(100).await.unwrap();
    assert_refused!(worker.accept_job(stale).await => 400, "JOB_EXPIRED", JobExpired);
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_at_the_open_jobs_cap_is_refused_only_after_every_other_rule() {
    let app = spawn_app_with(|c| {
        no_sweeper(c);
        c.jobs.max_open_per_worker = 2;
    })
    .await;
    let [requester, worker] = app.users([1_000, 100]).await;

    let held = [
        requester.job_accepted_by(&worker, 10).await,
        requester.job_accepted_by(&worker, 10).await,
    ];
    let cancelled = requester.post_cancelled(10).await;
    let own = worker.post_opus(10).await;
    let open = requester.post_opus(10).await;

    // Every answer the contract gives before the cap stays as it was.
    assert_refused!(worker.accept_job(JobId(999_999)).await => 404, "JOB_NOT_FOUND", NotFound);
    assert_refused!(worker.accept_job(own).await => 403, "OWN_JOB", OwnJob);
    assert_refused!(
        worker.accept_job(held[0]).await => 400, "JOB_ALREADY_ACCEPTED",
        JobAlreadyAccepted
    );
    assert_refused!(
        worker.accept_job(cancelled).await => 400, "JOB_NOT_AVAILABLE",
        JobNotAvailable
    );

    assert_refused!(
        worker.accept_job(open).await => 400, "TOO_MANY_OPEN_JOBS",
        TooManyOpenJobs { message } if message == "Too many open jobs: at most 2 accepted at once"
    );
    let job = requester.job(open).await.unwrap();
    assert_eq!((job.status, job.worker_id), (JobStatus::Posted, None));
    assert!(
        app.outbox()
            .await
            .iter()
            .all(|(kind, _, data)| !(kind == "job.accepted" && data["job_id"] == open.get())),
        "a refused accept announced nothing"
    );

    // Finishing one frees a place; so does a deadline passing, before any sweep.
    worker.complete_job(held[0], "done").await.unwrap();
    worker.accept_job(open).await.unwrap();
    let another = requester.post_opus(10).await;
    assert_refused!(worker.accept_job(another).await => 400, "TOO_MANY_OPEN_JOBS", TooManyOpenJobs);
    app.clock.advance(Duration::seconds(30));
    worker.accept_job(another).await.unwrap();
    app.core.expire_due(100).await.unwrap();
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cap_of_zero_lets_one_worker_hold_any_number_of_jobs() {
    let app = spawn_app_with(|c| c.jobs.max_open_per_worker = 0).await;
    let [requester, worker] = app.users([1_000, 0]).await;
    let held = JobQuery::default()
        .status(JobStatus::Accepted)
        .worker(worker.user_id);
    for _ in 0..12 {
        requester.job_accepted_by(&worker, 10).await;
    }
    assert_eq!(worker.jobs(held).await.unwrap().len(), 12);
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn complete_refusals_come_in_the_contracts_order_with_or_without_the_sweeper() {
    let app = spawn_app_with(no_sweeper).await;
    let [requester, worker, other] = app.users([1_000, 0, 0]).await;
    assert_refused!(
        worker.complete_job(JobId(999_999), "r").await => 404, "JOB_NOT_FOUND",
        NotFound
    );

    let id = requester.post_opus(10).await;
    assert_refused!(worker.complete_job(id, "r").await => 400, "JOB_NOT_ACCEPTED", JobNotAccepted);
    worker.accept_job(id).await.unwrap();
    for s in [&other, &requester] {
        assert_refused!(s.complete_job(id, "r").await => 403, "NOT_THE_WORKER", NotTheWorker);
    }
    for invalid in [String::new(), "字".repeat(100_001)] {
        assert_refused!(
            worker.complete_job(id, invalid).await => 400, "VALIDATION_ERROR",
            Validation
        );
    }
    worker.complete_job(id, "字".repeat(100_000)).await.unwrap();
    assert_refused!(worker.complete_job(id, "r").await => 400, "JOB_NOT_ACCEPTED", JobNotAccepted);
    assert_refused!(other.complete_job(id, "r").await => 403, "NOT_THE_WORKER", NotTheWorker);

    let cancelled = requester.post_cancelled(10).await;
    assert_refused!(
        worker.complete_job(cancelled, "r").await => 400, "JOB_NOT_ACCEPTED",
        JobNotAccepted
    );

    let late = requester.job_accepted_by(&worker, 10).await;
    app.clock.advance(Duration::seconds(30));
    assert_refused!(
        worker.complete_job(late, "r").await => 400, "TIMEOUT_EXPIRED",
        TimeoutExpired { message } if message == "Job timeout expired"
    );
    assert_refused!(
        other.accept_job(late).await => 400, "JOB_ALREADY_ACCEPTED",
        JobAlreadyAccepted
    );
    assert_eq!(app.core.expire_due(100).await.unwrap(), 1);
    assert_refused!(worker.complete_job(late, "r").await => 400, "TIMEOUT_EXPIRED", TimeoutExpired);
    assert_refused!(other.complete_job(late, "r").await => 403, "NOT_THE_WORKER", NotTheWorker);
    assert_eq!(worker.me().await.unwrap().reputation_score, 0.5);
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_refusals_come_in_the_contracts_order() {
    let app = spawn_app_with(no_sweeper).await;
    let [requester, worker] = app.users([1_000, 0]).await;
    assert_refused!(requester.cancel_job(JobId(999_999)).await => 404, "JOB_NOT_FOUND", NotFound);
    let id = requester.post_opus(10).await;
    assert_refused!(worker.cancel_job(id).await => 403, "NOT_THE_REQUESTER", NotTheRequester);
    worker.accept_job(id).await.unwrap();
    assert_refused!(
        requester.cancel_job(id).await => 400, "JOB_ALREADY_ACCEPTED",
        JobAlreadyAccepted { message } if message == "Job already accepted (cannot cancel)"
    );
    assert_refused!(worker.cancel_job(id).await => 403, "NOT_THE_REQUESTER", NotTheRequester);

    let twice = requester.post_cancelled(10).await;
    assert_refused!(requester.cancel_job(twice).await => 400, "JOB_NOT_AVAILABLE", JobNotAvailable);

    let stale = requester.post_opus(10).await;
    app.clock.advance(Duration::seconds(421));
    assert_refused!(requester.cancel_job(stale).await => 400, "JOB_NOT_AVAILABLE", JobNotAvailable);
    app.core.expire_due(100).await.unwrap();
    assert_refused!(requester.cancel_job(stale).await => 400, "JOB_NOT_AVAILABLE", JobNotAvailable);
    let refunds = requester.transactions_of(HistoryType::JobRefund).await;
    assert_eq!(
        refunds.len(),
        3,
        "the cancel and the two timeouts, once each"
    );
    assert_eq!(requester.buckets().await, (0, 1_000));
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sweeper_times_out_unaccepted_and_unfinished_jobs_and_refunds_them() {
    let app = spawn_app().await;
    let [requester, worker] = app.users([100, 0]).await;
    let unaccepted = requester.post_opus(10).await;
    let unfinished = requester.job_accepted_by(&worker, 20).await;
    assert_eq!(requester.buckets().await, (0, 70));

    app.clock.advance(Duration::seconds(31));
    let timed_out = requester
        .wait_for_status(unfinished, JobStatus::Timeout)
        .await;
    assert_eq!(timed_out.worker_id, Some(worker.user_id));
    assert_eq!(
        requester.job(unaccepted).await.unwrap().status,
        JobStatus::Posted
    );
    assert_eq!(worker.me().await.unwrap().reputation_score, 0.0);

    app.clock.advance(Duration::seconds(390));
    requester
        .wait_for_status(unaccepted, JobStatus::Timeout)
        .await;
    assert_eq!(requester.buckets().await, (0, 100));
    assert_eq!(
        requester
            .transactions_of(HistoryType::JobRefund)
            .await
            .len(),
        2
    );
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reputation_is_completed_over_completed_plus_timed_out() {
    let app = spawn_app_with(no_sweeper).await;
    let [requester, worker] = app.users([1_000, 0]).await;
    for _ in 0..3 {
        requester.job_completed_by(&worker, 5).await;
    }
    requester.job_accepted_by(&worker, 5).await;
    app.clock.advance(Duration::seconds(31));
    app.core.expire_due(100).await.unwrap();
    let unaccepted = requester.post_opus(5).await;
    app.clock.advance(Duration::seconds(421));
    app.core.expire_due(100).await.unwrap();
    assert_eq!(
        requester.job(unaccepted).await.unwrap().status,
        JobStatus::Timeout
    );
    let public = requester.user(worker.user_id).await.unwrap();
    assert_eq!(public.reputation_score, 0.75);
    assert_eq!(requester.me().await.unwrap().reputation_score, 0.0);
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_filters_pages_and_refuses_unknown_values() {
    let app = spawn_app().await;
    let [alice, bob, worker] = app.users([1_000, 1_000, 0]).await;
    let a1 = alice.post_opus(5).await;
    let sonnet = PostJob::new(Capability::Sonnet, 5, 10, "p");
    let b1 = bob.post_job(sonnet).await.unwrap().job_id;
    let a2 = alice.post_opus(5).await;
    worker.accept_job(a1).await.unwrap();

    let ids = async |query: JobQuery| {
        let jobs = worker.jobs(query).await.unwrap();
        jobs.iter().map(|j| j.job_id).collect::<Vec<_>>()
    };
    let all = JobQuery::default();
    assert_eq!(ids(all).await, [a2, b1, a1]);
    assert_eq!(ids(all.status(JobStatus::Posted)).await, [a2, b1]);
    assert_eq!(ids(all.status(JobStatus::Accepted)).await, [a1]);
    assert_eq!(ids(all.requester(alice.user_id)).await, [a2, a1]);
    assert_eq!(ids(all.worker(worker.user_id)).await, [a1]);
    assert_eq!(ids(all.capability(Capability::Sonnet)).await, [b1]);
    assert_eq!(
        ids(all.status(JobStatus::Posted).requester(alice.user_id)).await,
        [a2]
    );
    assert_eq!(ids(all.limit(2)).await, [a2, b1]);
    assert_eq!(ids(all.limit(2).before(b1)).await, [a1]);
    assert_eq!(ids(all.limit(1000)).await.len(), 3);
    assert_refused!(worker.jobs(all.limit(0)).await => 400, "VALIDATION_ERROR", Validation);
    for bad in [
        "status=done",
        "capability=gpt5",
        "limit=-1",
        "limit=abc",
        "limit=1.5",
        "requester_id=x",
    ] {
        let r = worker.raw().get(&format!("/jobs?{bad}")).await;
        r.assert_error(400, "VALIDATION_ERROR");
    }
    let r = app.raw().get("/jobs").await;
    r.assert_error(401, "UNAUTHORIZED");
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn history_pages_newest_first_with_a_cursor() {
    let app = spawn_app().await;
    let user = app.funded_user(1_000).await;
    for _ in 0..4 {
        user.post_opus(5).await;
    }
    let all = user.transactions(None, None).await.unwrap();
    assert_eq!(all.len(), 5);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "{all:?}");
    assert!(all.iter().all(|t| t.user_id == user.user_id));
    let first = user.transactions(Some(2), None).await.unwrap();
    let second = user.transactions(Some(2), Some(first[1].id)).await.unwrap();
    assert_eq!([first, second].concat(), all[..4]);
    assert_refused!(user.transactions(Some(0), None).await => 400, "VALIDATION_ERROR", Validation);
    for bad in ["?limit=x", "?before=abc"] {
        user.raw()
            .get(&format!("/credits/transactions{bad}"))
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_replays_the_first_post_for_a_day() {
    let app = spawn_app_with(no_sweeper).await;
    let user = app.funded_user(1_000).await;
    // Raw: the same JSON written differently, and keys the client refuses to send.
    let post_with_key = |key: &str, body: &str| {
        let request = user
            .raw()
            .request(Method::POST, "/jobs")
            .header("Idempotency-Key", key)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.to_owned());
        Response::of(request)
    };
    let body = r#"{"capability":"opus","credits":10,"timeout_sec":30,"prompt":"p"}"#;
    let same_json = r#"{ "prompt": "p", "timeout_sec": 30, "credits": 10, "capability": "opus" }"#;
    let first = post_with_key("k-1", body).await.ok();
    let replay = post_with_key("k-1", same_json).await.ok();
    assert_eq!(first, replay);
    assert_eq!(user.buckets().await, (0, 990));

    let other = r#"{"capability":"opus","credits":11,"timeout_sec":30,"prompt":"p"}"#;
    post_with_key("k-1", other)
        .await
        .assert_error(400, "IDEMPOTENCY_KEY_REUSED");
    post_with_key(&"k".repeat(256), body)
        .await
        .assert_error(400, "VALIDATION_ERROR");
    post_with_key("", body)
        .await
        .assert_error(400, "VALIDATION_ERROR");
    post_with_key(&"k".repeat(255), body).await.ok();

    let id = JobId(first["job"]["job_id"].as_i64().unwrap());
    app.new_user().await.accept_job(id).await.unwrap();
    assert_eq!(post_with_key("k-1", body).await.ok(), first);

    let poor = app.funded_user(5).await;
    let retried = job(10, 30, "p").idempotency_key("retry-me");
    assert_refused!(
        poor.post_job(retried.clone()).await => 400, "INSUFFICIENT_CREDITS",
        InsufficientCredits
    );
    app.core
        .grant_promo(poor.user_id, j0_domain::Cents::new(5))
        .await
        .unwrap();
    assert_eq!(poor.post_job(retried).await.unwrap().credits.get(), 10);
    assert_eq!(poor.buckets().await, (0, 0));

    app.clock
        .advance(Duration::hours(24) + Duration::seconds(1));
    let fresh = post_with_key("k-1", body).await.ok();
    assert_ne!(fresh["job"]["job_id"], first["job"]["job_id"]);
    assert_eq!(user.buckets().await, (0, 1_000 - 30));
    app.assert_ledger_clean().await;
}
