//! The Rust client (`j0-client`) against the real server: sign-in and renewal, the lifecycle,
//! every refusal as its own error, retries that honour `retry_after`, answers lost in transit,
//! paging, and the event stream across a restart.

use std::{
    collections::{BTreeSet, HashSet},
    time::Duration,
};

use futures_util::{StreamExt, TryStreamExt};
use time::Duration as Span;

use j0_client::{
    Capability, Client, Error, EventBody, EventOptions, JobId, JobQuery, JobStatus, PostJob,
};
use reqwest::Method;
use serde_json::json;

use j0_testkit::{Proxy, Response, Wallet, client_at, no_sweeper, opus, spawn_app, spawn_app_with};

#[tokio::test]
async fn signs_in_once_and_again_after_the_session_expires() {
    let app = spawn_app().await;
    let client = client_at(&app.url(""), Wallet::random());
    let me = client.authenticate().await.unwrap();
    let first = client.token().await.unwrap();
    assert_eq!(client.me().await.unwrap().id, me.id);

    // The server's clock passes the token's expiry: the next call is refused once, signs in
    // again and succeeds with a new token.
    app.clock.advance(Span::days(1) + Span::minutes(1));
    assert_eq!(client.me().await.unwrap().id, me.id);
    assert_ne!(client.token().await.unwrap(), first);

    // A token-only client cannot renew: its refusal is `Unauthorized`.
    let stale = Client::builder()
        .base_url(app.url(""))
        .token(first)
        .build()
        .unwrap();
    let refused = stale.me().await.unwrap_err();
    assert!(matches!(refused, Error::Unauthorized { .. }), "{refused:?}");
    assert_eq!(
        (refused.code(), refused.status()),
        (Some("UNAUTHORIZED"), Some(401))
    );
}

#[tokio::test]
async fn a_requester_and_a_worker_go_through_a_whole_lifecycle() {
    let app = spawn_app().await;
    let [requester, worker] = app.users([100, 0]).await;

    let posted = requester.post_job(opus(10)).await.unwrap();
    assert_eq!(posted.status, JobStatus::Posted);
    let listed = worker
        .jobs(JobQuery::default().status(JobStatus::Posted))
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|j| j.job_id).collect::<Vec<_>>(),
        [posted.job_id]
    );

    let accepted = worker.accept_job(posted.job_id).await.unwrap();
    assert_eq!(accepted.worker_id, Some(worker.user_id));
    assert_eq!(accepted.prompt, "Summarize this");
    let done = worker
        .complete_job(posted.job_id, "A summary.")
        .await
        .unwrap();
    assert_eq!(done.credits_earned.get(), 9);
    let seen = requester.job(posted.job_id).await.unwrap();
    assert_eq!(
        (seen.status, seen.result.as_deref()),
        (JobStatus::Completed, Some("A summary."))
    );

    assert_eq!(requester.balance().await.unwrap().total_cents.get(), 90);
    assert_eq!(worker.balance().await.unwrap().cash_cents.get(), 9);
    let history = worker.transactions(None, None).await.unwrap();
    assert_eq!(
        history[0].description,
        format!("Completed job #{}", posted.job_id)
    );
    let public = worker.user(requester.user_id).await.unwrap();
    assert_eq!(public.public_key, requester.wallet.address());
    let deposit = requester.deposit_address().await.unwrap();
    assert_eq!(deposit.chain_id, 8453);
    assert_eq!(requester.health().await.unwrap().database, "ok");
    app.assert_ledger_clean().await;
}

#[tokio::test]
async fn every_refusal_is_its_own_error() {
    let app = spawn_app_with(|c| c.jobs.accept_window_sec = 60).await;
    let [requester, worker, other] = app.users([1_000, 0, 0]).await;
    let (r, w, o) = (&requester.client, &worker.client, &other.client);

    let id = r.post_job(opus(10)).await.unwrap().job_id;
    let e = r.accept_job(id).await.unwrap_err();
    assert!(matches!(e, Error::OwnJob { .. }), "{e:?}");
    assert_eq!(e.status(), Some(403));
    let e = w.complete_job(id, "early").await.unwrap_err();
    assert!(matches!(e, Error::JobNotAccepted { .. }), "{e:?}");
    let e = o.cancel_job(id).await.unwrap_err();
    assert!(matches!(e, Error::NotTheRequester { .. }), "{e:?}");
    w.accept_job(id).await.unwrap();
    let e = o.accept_job(id).await.unwrap_err();
    assert!(matches!(e, Error::JobAlreadyAccepted { .. }), "{e:?}");
    let e = o.complete_job(id, "mine").await.unwrap_err();
    assert!(matches!(e, Error::NotTheWorker { .. }), "{e:?}");
    let e = w
        .complete_job(id, "x".repeat(3 * 1024 * 1024))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::PayloadTooLarge { .. }), "{e:?}");
    assert_eq!(e.status(), Some(413));

    let e = w.job(JobId(9_999_999)).await.unwrap_err();
    assert!(
        matches!(&e, Error::NotFound { code, .. } if code == "JOB_NOT_FOUND"),
        "{e:?}"
    );
    let e = w.user(j0_client::UserId(9_999_999)).await.unwrap_err();
    assert!(
        matches!(&e, Error::NotFound { code, .. } if code == "USER_NOT_FOUND"),
        "{e:?}"
    );
    let e = r.post_job(opus(1)).await.unwrap_err();
    assert!(
        matches!(&e, Error::Validation { message } if message.starts_with("credits")),
        "{e:?}"
    );
    let e = w.post_job(opus(10)).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::InsufficientCredits {
                have: 0,
                need: 10,
                ..
            }
        ),
        "{e:?}"
    );
    r.post_job(opus(5).idempotency_key("k-1")).await.unwrap();
    let e = r
        .post_job(opus(6).idempotency_key("k-1"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::IdempotencyKeyReused { .. }), "{e:?}");
    let e = r.buy_credits(7).await.unwrap_err();
    assert!(matches!(e, Error::InvalidAmount { .. }), "{e:?}");
    let e = r.buy_credits(10).await.unwrap_err();
    assert!(matches!(e, Error::PaymentsUnavailable { .. }), "{e:?}");
    assert_eq!(e.status(), Some(503));

    let cancelled = requester.post_cancelled(5).await;
    let e = w.accept_job(cancelled).await.unwrap_err();
    assert!(matches!(e, Error::JobNotAvailable { .. }), "{e:?}");

    let late = r.post_job(opus(5)).await.unwrap().job_id;
    let unfinished = r.post_job(opus(5)).await.unwrap().job_id;
    w.accept_job(unfinished).await.unwrap();
    app.clock.advance(Span::seconds(61));
    let e = w.accept_job(late).await.unwrap_err();
    assert!(matches!(e, Error::JobExpired { .. }), "{e:?}");
    let e = w.complete_job(unfinished, "too late").await.unwrap_err();
    assert!(matches!(e, Error::TimeoutExpired { .. }), "{e:?}");
    app.assert_ledger_clean().await;
}

#[tokio::test]
async fn accepting_past_the_open_jobs_cap_is_too_many_open_jobs() {
    let app = spawn_app_with(|c| c.jobs.max_open_per_worker = 1).await;
    let [requester, worker] = app.users([100, 0]).await;
    let first = requester.post_job(opus(5)).await.unwrap().job_id;
    let second = requester.post_job(opus(5)).await.unwrap().job_id;
    worker.accept_job(first).await.unwrap();
    let e = worker.accept_job(second).await.unwrap_err();
    assert!(matches!(e, Error::TooManyOpenJobs { .. }), "{e:?}");
    assert_eq!(
        (e.code(), e.status()),
        (Some("TOO_MANY_OPEN_JOBS"), Some(400))
    );
    app.assert_ledger_clean().await;
}

#[tokio::test]
async fn sign_in_refusals_are_their_own_errors() {
    let app = spawn_app().await;
    let wallet = Wallet::random();
    let address = wallet.address().to_string();
    let challenge = app
        .raw()
        .post("/auth/challenge", &json!({ "public_key": address }))
        .await
        .ok();
    let verify = async |nonce: &str, signature: String| {
        let body =
            json!({ "public_key": address, "challenge_nonce": nonce, "signature": signature });
        app.raw().post("/auth/verify", &body).await.refusal()
    };
    let other = Wallet::random().sign_personal(challenge["message_to_sign"].as_str().unwrap());
    let nonce = challenge["challenge"]["nonce"].as_str().unwrap();
    let e = verify(nonce, other).await;
    assert!(matches!(e, Error::InvalidSignature { .. }), "{e:?}");
    let e = verify(&"f".repeat(32), wallet.sign_personal("x")).await;
    assert!(
        matches!(&e, Error::Challenge { code, .. } if code == "CHALLENGE_NOT_FOUND"),
        "{e:?}"
    );
}

/// The client names a refusal by its code alone; this pins, for every refusal the tests assert
/// through the client, that the server answers it with the status the client reports.
#[tokio::test]
async fn each_refusal_reaches_the_client_with_the_status_the_server_answered() {
    let app = spawn_app_with(|c| {
        no_sweeper(c);
        c.jobs.accept_window_sec = 60;
        c.jobs.max_open_per_worker = 1;
    })
    .await;
    let [requester, worker, other] = app.users([1_000, 0, 0]).await;
    let (r, w, o, anyone) = (requester.raw(), worker.raw(), other.raw(), app.raw());
    let result = json!({ "result": "r" });
    let post = |credits: i64| json!({ "capability": "opus", "credits": credits, "timeout_sec": 30, "prompt": "p" });

    let id = requester.post_opus(10).await;
    let late = requester.post_opus(5).await;
    let cancelled = requester.post_cancelled(5).await;
    let path = |id: JobId, action: &str| format!("/jobs/{id}/{action}");
    let mut answers = vec![
        anyone.get("/users/me").await,
        anyone.get("/users/9999999").await,
        w.get("/jobs/9999999").await,
        w.post_empty("/jobs/9999999/accept").await,
        w.post("/jobs/9999999/complete", &result).await,
        r.post_empty("/jobs/9999999/cancel").await,
        r.post("/jobs", &post(1)).await,
        w.post("/jobs", &post(10)).await,
        r.post("/payments/stripe/checkout", &json!({ "amount_usd": 7 }))
            .await,
        r.post("/payments/stripe/checkout", &json!({ "amount_usd": 10 }))
            .await,
        r.post_empty(&path(id, "accept")).await,
        w.post(&path(id, "complete"), &result).await,
        o.post_empty(&path(id, "cancel")).await,
        w.post_empty(&path(cancelled, "accept")).await,
        r.post_empty(&path(cancelled, "cancel")).await,
    ];
    let first = PostJob::new(Capability::Opus, 5, 30, "p").idempotency_key("k-1");
    requester.post_job(first).await.unwrap();
    let reused = r
        .request(Method::POST, "/jobs")
        .header("Idempotency-Key", "k-1")
        .json(&post(6));
    answers.push(Response::of(reused).await);
    worker.accept_job(id).await.unwrap();
    answers.extend([
        o.post_empty(&path(id, "accept")).await,
        r.post_empty(&path(id, "cancel")).await,
        o.post(&path(id, "complete"), &result).await,
        w.post(&path(id, "complete"), &json!({ "result": "" }))
            .await,
        w.post(
            &path(id, "complete"),
            &json!({ "result": "x".repeat(3 * 1024 * 1024) }),
        )
        .await,
        w.post_empty(&path(late, "accept")).await,
    ]);
    app.clock.advance(Span::seconds(61));
    answers.extend([
        w.post_empty(&path(late, "accept")).await,
        w.post(&path(id, "complete"), &result).await,
    ]);
    let mut codes = BTreeSet::new();
    for answer in &answers {
        let e = answer.refusal();
        let (status, code) = (answer.status.as_u16(), answer.code());
        assert_eq!(
            (e.status(), e.code()),
            (Some(status), Some(code)),
            "{}",
            answer.body
        );
        codes.insert(code.to_owned());
    }
    assert_eq!(
        codes,
        [
            "IDEMPOTENCY_KEY_REUSED",
            "INSUFFICIENT_CREDITS",
            "INVALID_AMOUNT",
            "JOB_ALREADY_ACCEPTED",
            "JOB_EXPIRED",
            "JOB_NOT_ACCEPTED",
            "JOB_NOT_AVAILABLE",
            "JOB_NOT_FOUND",
            "NOT_THE_REQUESTER",
            "NOT_THE_WORKER",
            "OWN_JOB",
            "PAYLOAD_TOO_LARGE",
            "PAYMENTS_UNAVAILABLE",
            "TIMEOUT_EXPIRED",
            "TOO_MANY_OPEN_JOBS",
            "UNAUTHORIZED",
            "USER_NOT_FOUND",
            "VALIDATION_ERROR",
        ]
        .map(str::to_owned)
        .into(),
        "every refusal, and nothing else"
    );
}

#[tokio::test]
async fn a_429_is_waited_out_for_its_retry_after_then_succeeds() {
    let app = spawn_app_with(|c| c.limits.user_per_min = 60).await;
    let user = app.new_user().await;
    let mut refused = None;
    for _ in 0..80 {
        if let Err(e) = user.balance().await {
            refused = Some(e);
            break;
        }
    }
    let refused = refused.expect("the budget of 60 runs out");
    assert!(
        matches!(
            refused,
            Error::RateLimited {
                retry_after: 1..,
                ..
            }
        ),
        "{refused:?}"
    );

    let patient = Client::builder()
        .base_url(app.url(""))
        .token(user.token.clone())
        .max_retries(3)
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    patient.balance().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "it waited for the budget"
    );
}

#[tokio::test]
async fn a_post_whose_answer_is_lost_is_retried_and_posts_once() {
    let app = spawn_app().await;
    let proxy = Proxy::to(&app.base_url).await;
    let wallet = Wallet::random();
    let client = Client::builder()
        .base_url(proxy.api())
        .wallet(wallet.clone())
        .build()
        .unwrap();
    let me = client.authenticate().await.unwrap();
    app.core
        .grant_promo(me.id, j0_domain::Cents::new(100))
        .await
        .unwrap();

    proxy.lose_next_answer_to("POST /api/v1/jobs ");
    let posted = client.post_job(opus(10)).await.unwrap();
    let mine = client
        .jobs(JobQuery::default().requester(me.id))
        .await
        .unwrap();
    assert_eq!(
        mine.iter().map(|j| j.job_id).collect::<Vec<_>>(),
        [posted.job_id]
    );
    assert_eq!(client.balance().await.unwrap().total_cents.get(), 90);

    // An accept whose answer is lost: the retry hears JOB_ALREADY_ACCEPTED, reads the job back
    // and finds this worker holds it.
    let worker = Client::builder()
        .base_url(proxy.api())
        .wallet(Wallet::random())
        .build()
        .unwrap();
    worker.authenticate().await.unwrap();
    proxy.lose_next_answer_to(&format!("POST /api/v1/jobs/{}/accept ", posted.job_id));
    let accepted = worker.accept_job(posted.job_id).await.unwrap();
    assert_eq!(accepted.worker_id, Some(worker.user_id().await.unwrap()));
    proxy.lose_next_answer_to(&format!("POST /api/v1/jobs/{}/complete ", posted.job_id));
    let done = worker.complete_job(posted.job_id, "done").await.unwrap();
    assert_eq!(done.credits_earned.get(), 9);
    assert_eq!(worker.balance().await.unwrap().cash_cents.get(), 9);
    app.assert_ledger_clean().await;
}

#[tokio::test]
async fn streams_page_through_every_job_and_transaction() {
    let app = spawn_app().await;
    let requester = app.funded_user(5 * 250).await;
    for _ in 0..250 {
        requester.post_job(opus(5)).await.unwrap();
    }
    let jobs: Vec<_> = requester
        .jobs_stream(JobQuery::default().requester(requester.user_id))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(jobs.len(), 250);
    assert!(
        jobs.windows(2).all(|w| w[0].job_id > w[1].job_id),
        "newest first, no repeats"
    );
    let paged: Vec<_> = requester
        .jobs_stream(JobQuery::default().limit(7))
        .take(20)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        paged.iter().map(|j| j.job_id).collect::<Vec<_>>(),
        jobs[..20].iter().map(|j| j.job_id).collect::<Vec<_>>()
    );
    let history: Vec<_> = requester.transactions_stream().try_collect().await.unwrap();
    assert_eq!(history.len(), 251, "250 posts and the grant");
    app.assert_ledger_clean().await;
}

#[tokio::test]
async fn the_event_stream_resumes_across_a_restart_without_duplicates_or_gaps() {
    let first = spawn_app().await;
    let proxy = Proxy::to(&first.base_url).await;
    let requester = first.funded_user(100).await;
    let listener = Client::builder()
        .base_url(proxy.api())
        .wallet(Wallet::random())
        .build()
        .unwrap();
    // From the first event on, so the one posted while the socket opens is replayed.
    let mut events = listener.events(EventOptions {
        capabilities: vec![Capability::Opus],
        since: Some(j0_client::EventId(0)),
    });
    let posted_ids = async |events: &mut j0_client::EventStream, n: usize| {
        let mut ids = Vec::new();
        while ids.len() < n {
            let event = tokio::time::timeout(Duration::from_secs(15), events.next())
                .await
                .expect("an event in time")
                .expect("the stream goes on")
                .expect("no refusal");
            if let EventBody::JobPosted(job) = event.body {
                ids.push((event.id.expect("an id"), job.job_id));
            }
        }
        ids
    };
    let mut expected = vec![requester.post_job(opus(5)).await.unwrap().job_id];
    let mut heard = posted_ids(&mut events, 1).await;

    let second = first.spawn_peer().await;
    proxy.switch_to(&second.base_url);
    first.stop().await;
    let requester = j0_testkit::sign_in_at(&second.url(""), (*requester.wallet).clone()).await;
    for _ in 0..3 {
        expected.push(requester.post_job(opus(5)).await.unwrap().job_id);
    }
    requester
        .post_job(PostJob::new(
            Capability::Sonnet,
            5,
            30,
            "not for this listener",
        ))
        .await
        .unwrap();
    heard.extend(posted_ids(&mut events, 3).await);
    expected.push(requester.post_job(opus(5)).await.unwrap().job_id);
    heard.extend(posted_ids(&mut events, 1).await);

    assert_eq!(
        heard.iter().map(|(_, job)| *job).collect::<Vec<_>>(),
        expected
    );
    let ids: HashSet<_> = heard.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), heard.len(), "no event twice");
    assert!(heard.windows(2).all(|w| w[0].0 < w[1].0), "in id order");
    second.assert_ledger_clean().await;
}

/// The property names the document gives `schema`, and whether it lets others through.
fn documented_fields(doc: &serde_json::Value, schema: &str) -> (HashSet<String>, bool) {
    let schema = &doc["components"]["schemas"][schema];
    let fields = schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{schema} has properties"))
        .keys()
        .cloned()
        .collect();
    (fields, schema["additionalProperties"] == false)
}

#[tokio::test]
async fn the_clients_types_are_the_documents_schemas() {
    let app = spawn_app().await;
    let doc: serde_json::Value = app.raw().get("/openapi.json").await.ok();
    let [requester, worker] = app.users([100, 0]).await;
    let posted = requester.post_job(opus(10)).await.unwrap();
    worker.accept_job(posted.job_id).await.unwrap();
    let completed = worker.complete_job(posted.job_id, "r").await.unwrap();
    let cancelled = requester
        .cancel_job(requester.post_job(opus(5)).await.unwrap().job_id)
        .await
        .unwrap();
    let samples = [
        ("Job", serde_json::to_value(&posted).unwrap()),
        ("Completed", serde_json::to_value(&completed).unwrap()),
        ("Cancelled", serde_json::to_value(&cancelled).unwrap()),
        (
            "Balance",
            serde_json::to_value(requester.balance().await.unwrap()).unwrap(),
        ),
        (
            "Me",
            serde_json::to_value(requester.me().await.unwrap()).unwrap(),
        ),
        (
            "PublicUser",
            serde_json::to_value(worker.user(requester.user_id).await.unwrap()).unwrap(),
        ),
        (
            "Transaction",
            serde_json::to_value(&requester.transactions(None, None).await.unwrap()[0]).unwrap(),
        ),
        (
            "UsdcDepositAddress",
            serde_json::to_value(requester.deposit_address().await.unwrap()).unwrap(),
        ),
        (
            "Health",
            serde_json::to_value(requester.health().await.unwrap()).unwrap(),
        ),
    ];
    for (schema, sample) in samples {
        let (fields, closed) = documented_fields(&doc, schema);
        let sent: HashSet<String> = sample.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            sent, fields,
            "the client's {schema} has exactly the documented fields"
        );
        assert!(closed, "{schema} lists every field");
    }
    app.assert_ledger_clean().await;
}
