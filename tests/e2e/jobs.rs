//! The job lifecycle (contract §6): validation, the order of refusals, visibility, listing,
//! idempotent posts and expiry. Every test that moves money ends with the ledger audit.

use std::time::Duration as StdDuration;

use serde_json::{Value, json};
use time::Duration;

use j0_testkit::{Session, TestApp, spawn_app, spawn_app_with};

fn job(credits: Value, timeout_sec: Value, prompt: Value) -> Value {
    json!({ "capability": "opus", "credits": credits, "timeout_sec": timeout_sec, "prompt": prompt })
}

/// Waits (bounded) until job `id` reaches `status`, as `viewer` sees it.
pub async fn wait_for_status(app: &TestApp, viewer: &Session, id: i64, status: &str) -> Value {
    for _ in 0..100 {
        let job = viewer.get(app, &format!("/jobs/{id}")).await.ok();
        if job["status"] == status {
            return job;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    panic!("job {id} never reached {status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_validation_boundary_is_checked_and_refusals_change_nothing() {
    let app = spawn_app().await;
    let user = app.funded_user(10_000).await;
    let long = |n: usize| json!("é".repeat(n));
    let refused = [
        job(json!(4), json!(30), json!("p")),
        job(json!(101), json!(30), json!("p")),
        job(json!(10.5), json!(30), json!("p")),
        job(json!("10"), json!(30), json!("p")),
        job(json!(10), json!(9), json!("p")),
        job(json!(10), json!(61), json!("p")),
        job(json!(10), json!(30), json!("")),
        job(json!(10), json!(30), long(10_241)),
        json!({ "capability": "gpt5", "credits": 10, "timeout_sec": 30, "prompt": "p" }),
        json!({ "capability": "Opus", "credits": 10, "timeout_sec": 30, "prompt": "p" }),
        json!({ "credits": 10, "timeout_sec": 30, "prompt": "p" }),
        json!({ "capability": "opus", "credits": 10, "timeout_sec": 30, "prompt": "p", "status": "completed" }),
    ];
    for body in &refused {
        let r = user.post(&app, "/jobs", body).await;
        r.assert_error(400, "VALIDATION_ERROR");
    }
    let r = user.post(&app, "/jobs", &refused[0]).await;
    assert!(
        r.body["error"].as_str().unwrap().starts_with("credits"),
        "{}",
        r.body
    );
    let r = user.post(&app, "/jobs", &refused[8]).await;
    assert!(
        r.body["error"].as_str().unwrap().starts_with("capability"),
        "{}",
        r.body
    );
    assert_eq!(user.balance(&app).await, (0, 10_000));
    assert!(
        user.get(&app, "/jobs").await.ok()["jobs"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let accepted = [
        job(json!(5), json!(10), json!("p")),
        job(json!(100), json!(60), long(10_240)),
    ];
    for body in &accepted {
        user.post(&app, "/jobs", body).await.ok();
    }
    for capability in ["opus", "sonnet", "gpt4", "gpt4-turbo", "dall-e-3"] {
        let body =
            json!({ "capability": capability, "credits": 5, "timeout_sec": 10, "prompt": "p" });
        assert_eq!(
            user.post(&app, "/jobs", &body).await.ok()["job"]["capability"],
            capability
        );
    }
    assert_eq!(user.balance(&app).await, (0, 10_000 - 105 - 25));
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn insufficient_credits_reports_the_total_and_changes_nothing() {
    let app = spawn_app().await;
    let user = app.funded_user(5).await;
    let r = user
        .post(&app, "/jobs", &job(json!(10), json!(30), json!("p")))
        .await;
    r.assert_error(400, "INSUFFICIENT_CREDITS");
    assert_eq!(r.body["error"], "Insufficient credits: have 5, need 10");
    assert_eq!(user.balance(&app).await, (0, 5));
    let history = user.get(&app, "/credits/transactions").await.ok();
    assert_eq!(history["transactions"].as_array().unwrap().len(), 1);
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_goes_from_posted_to_accepted_to_completed_and_pays_the_worker() {
    let app = spawn_app().await;
    let requester = app.funded_user(1_000).await;
    let worker = app.new_user().await;
    let posted = requester
        .post(
            &app,
            "/jobs",
            &job(json!(10), json!(30), json!("Summarize")),
        )
        .await
        .ok();
    let j = &posted["job"];
    let id = j["job_id"].as_i64().unwrap();
    assert_eq!(j["status"], "posted");
    assert_eq!(j["requester_id"].as_i64(), Some(requester.user_id.0));
    assert_eq!(j["worker_id"], Value::Null);
    assert_eq!(
        (j["prompt"].as_str(), j["prompt_truncated"].as_bool()),
        (Some("Summarize"), Some(false))
    );
    let created = time::OffsetDateTime::parse(
        j["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let expires = time::OffsetDateTime::parse(
        j["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(expires - created, Duration::seconds(420));
    assert!(j["created_at"].as_str().unwrap().ends_with('Z'));

    let accepted = worker
        .post_empty(&app, &format!("/jobs/{id}/accept"))
        .await
        .ok();
    let a = &accepted["job"];
    assert_eq!(
        (a["status"].as_str(), a["worker_id"].as_i64()),
        (Some("accepted"), Some(worker.user_id.0))
    );
    assert_eq!(a["prompt"], "Summarize");
    let accepted_at = time::OffsetDateTime::parse(
        a["accepted_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let deadline = time::OffsetDateTime::parse(
        a["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(deadline - accepted_at, Duration::seconds(30));

    let done = worker
        .post(
            &app,
            &format!("/jobs/{id}/complete"),
            &json!({ "result": "- a\n- b" }),
        )
        .await
        .ok();
    assert_eq!(done["credits_earned"], 9);
    assert_eq!(
        (
            done["job"]["status"].as_str(),
            done["job"]["result"].as_str()
        ),
        (Some("completed"), Some("- a\n- b"))
    );
    assert!(done["job"]["completed_at"].is_string());

    assert_eq!(requester.balance(&app).await, (0, 990));
    assert_eq!(worker.balance(&app).await, (9, 0));
    let seen = requester.get(&app, &format!("/jobs/{id}")).await.ok();
    assert_eq!(
        (seen["status"].as_str(), seen["result"].as_str()),
        (Some("completed"), Some("- a\n- b"))
    );
    let me = worker.get(&app, "/users/me").await.ok();
    assert_eq!(me["reputation_score"], 1.0);

    let history = |s: &Session| {
        let app = &app;
        let s = s.clone();
        async move {
            s.get(app, "/credits/transactions").await.ok()["transactions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    (
                        t["type"].as_str().unwrap().to_owned(),
                        t["amount_cents"].as_i64().unwrap(),
                        t["description"].as_str().unwrap().to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        history(&requester).await,
        [
            ("job_post".to_owned(), -10, format!("Posted job #{id}")),
            ("promo".to_owned(), 1_000, "Promotional credits".to_owned()),
        ]
    );
    assert_eq!(
        history(&worker).await,
        [("job_earn".to_owned(), 9, format!("Completed job #{id}"))]
    );
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fees_are_the_rest_after_the_floor_of_ninety_percent() {
    let app = spawn_app().await;
    let requester = app.funded_user(1_000).await;
    let worker = app.new_user().await;
    let mut earned_total = 0;
    for (credits, earned) in [(5, 4), (10, 9), (15, 13), (100, 90)] {
        let id = requester.post_job(&app, credits).await;
        worker
            .post_empty(&app, &format!("/jobs/{id}/accept"))
            .await
            .ok();
        let done = worker
            .post(
                &app,
                &format!("/jobs/{id}/complete"),
                &json!({ "result": "r" }),
            )
            .await
            .ok();
        assert_eq!(done["credits_earned"], earned, "{credits} credits");
        earned_total += earned;
    }
    assert_eq!(worker.balance(&app).await, (earned_total, 0));
    assert_eq!(requester.balance(&app).await, (0, 1_000 - 130));
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn posts_spend_promo_first_and_refunds_restore_the_same_buckets() {
    let app = spawn_app().await;
    let rich = app.funded_user(1_000).await;
    let user = app.funded_user(7).await;
    let earn = |credits: i64| {
        let (app, rich, user) = (&app, rich.clone(), user.clone());
        async move {
            let id = rich.post_job(app, credits).await;
            user.post_empty(app, &format!("/jobs/{id}/accept"))
                .await
                .ok();
            user.post(
                app,
                &format!("/jobs/{id}/complete"),
                &json!({ "result": "r" }),
            )
            .await
            .ok();
        }
    };
    earn(100).await;
    assert_eq!(user.balance(&app).await, (90, 7));

    let mixed = user.post_job(&app, 10).await;
    assert_eq!(user.balance(&app).await, (87, 0));
    let cash_only = user.post_job(&app, 20).await;
    assert_eq!(user.balance(&app).await, (67, 0));
    user.post_empty(&app, &format!("/jobs/{mixed}/cancel"))
        .await
        .ok();
    assert_eq!(user.balance(&app).await, (70, 7));
    let r = user
        .post_empty(&app, &format!("/jobs/{cash_only}/cancel"))
        .await
        .ok();
    assert_eq!(r["credits_refunded"], 20);
    assert_eq!(
        (r["job"]["job_id"].as_i64(), r["job"]["status"].as_str()),
        (Some(cash_only), Some("cancelled"))
    );
    assert_eq!(user.balance(&app).await, (90, 7));

    let promo_only = rich.post_job(&app, 15).await;
    assert_eq!(rich.balance(&app).await, (0, 1_000 - 100 - 15));
    app.clock.advance(Duration::seconds(421));
    wait_for_status(&app, &rich, promo_only, "timeout").await;
    assert_eq!(rich.balance(&app).await, (0, 1_000 - 100));
    let refund = &rich.get(&app, "/credits/transactions?limit=1").await.ok()["transactions"][0];
    assert_eq!(refund["type"], "job_refund");
    assert_eq!(refund["amount_cents"], 15);
    assert_eq!(
        refund["description"],
        format!("Refund for job #{promo_only} (timeout)")
    );
    let cancelled = &user.get(&app, "/credits/transactions?limit=1").await.ok()["transactions"][0];
    assert_eq!(
        cancelled["description"],
        format!("Refund for job #{cash_only} (cancelled)")
    );
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn only_participants_see_the_full_prompt_and_the_result() {
    let app = spawn_app().await;
    let requester = app.funded_user(100).await;
    let worker = app.new_user().await;
    let stranger = app.new_user().await;
    let prompt = format!("{}{}", "ü".repeat(200), "secret tail");
    let id = requester
        .post(&app, "/jobs", &job(json!(10), json!(30), json!(prompt)))
        .await
        .ok()["job"]["job_id"]
        .as_i64()
        .unwrap();
    let view = |s: &Session| {
        let (app, s) = (&app, s.clone());
        async move { s.get(app, &format!("/jobs/{id}")).await.ok() }
    };
    let preview = view(&stranger).await;
    assert_eq!(preview["prompt"], "ü".repeat(200));
    assert_eq!(preview["prompt_truncated"], true);
    let listed = stranger.get(&app, "/jobs?status=posted").await.ok();
    assert_eq!(listed["jobs"][0]["prompt"], "ü".repeat(200));
    assert_eq!(view(&worker).await["prompt_truncated"], true);
    assert_eq!(view(&requester).await["prompt"], prompt);

    let accepted = worker
        .post_empty(&app, &format!("/jobs/{id}/accept"))
        .await
        .ok();
    assert_eq!(
        (
            accepted["job"]["prompt"].as_str(),
            accepted["job"]["prompt_truncated"].as_bool()
        ),
        (Some(prompt.as_str()), Some(false))
    );
    assert_eq!(view(&worker).await["prompt"], prompt);
    assert_eq!(view(&stranger).await["prompt_truncated"], true);

    worker
        .post(
            &app,
            &format!("/jobs/{id}/complete"),
            &json!({ "result": "answer" }),
        )
        .await
        .ok();
    assert_eq!(view(&stranger).await["result"], Value::Null);
    assert_eq!(view(&requester).await["result"], "answer");
    assert_eq!(view(&worker).await["result"], "answer");
    let short = requester.post_job(&app, 5).await;
    let short_view = stranger.get(&app, &format!("/jobs/{short}")).await.ok();
    assert_eq!(
        (
            short_view["prompt"].as_str(),
            short_view["prompt_truncated"].as_bool()
        ),
        (Some("Summarize this"), Some(false))
    );
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn accept_refusals_come_in_the_contracts_order() {
    let app = spawn_app_with(|c| c.sweep_interval_ms = 3_600_000).await;
    let requester = app.funded_user(1_000).await;
    let worker = app.new_user().await;
    let other = app.new_user().await;
    worker
        .post_empty(&app, "/jobs/999999/accept")
        .await
        .assert_error(404, "JOB_NOT_FOUND");
    worker
        .post_empty(&app, "/jobs/0/accept")
        .await
        .assert_error(404, "JOB_NOT_FOUND");
    worker
        .post_empty(&app, "/jobs/x/accept")
        .await
        .assert_error(400, "VALIDATION_ERROR");

    let id = requester.post_job(&app, 10).await;
    requester
        .post_empty(&app, &format!("/jobs/{id}/accept"))
        .await
        .assert_error(403, "OWN_JOB");
    worker
        .post_empty(&app, &format!("/jobs/{id}/accept"))
        .await
        .ok();
    for s in [&worker, &other] {
        let r = s.post_empty(&app, &format!("/jobs/{id}/accept")).await;
        r.assert_error(400, "JOB_ALREADY_ACCEPTED");
        assert_eq!(r.body["error"], "Job already accepted by another worker");
    }
    requester
        .post_empty(&app, &format!("/jobs/{id}/accept"))
        .await
        .assert_error(403, "OWN_JOB");

    let cancelled = requester.post_job(&app, 10).await;
    requester
        .post_empty(&app, &format!("/jobs/{cancelled}/cancel"))
        .await
        .ok();
    worker
        .post_empty(&app, &format!("/jobs/{cancelled}/accept"))
        .await
        .assert_error(400, "JOB_NOT_AVAILABLE");

    let stale = requester.post_job(&app, 10).await;
    app.clock.advance(Duration::seconds(420));
    let r = worker
        .post_empty(&app, &format!("/jobs/{stale}/accept"))
        .await;
    r.assert_error(400, "JOB_EXPIRED");
    assert_eq!(r.body["error"], "Job timeout expired");
    other
        .post_empty(&app, &format!("/jobs/{id}/accept"))
        .await
        .assert_error(400, "JOB_ALREADY_ACCEPTED");

    app.core.expire_due(100).await.unwrap();
    worker
        .post_empty(&app, &format!("/jobs/{stale}/accept"))
        .await
        .assert_error(400, "JOB_EXPIRED");
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_at_the_open_jobs_cap_is_refused_only_after_every_other_rule() {
    let app = spawn_app_with(|c| {
        c.sweep_interval_ms = 3_600_000;
        c.max_open_jobs_per_worker = 2;
    })
    .await;
    let requester = app.funded_user(1_000).await;
    let worker = app.funded_user(100).await;
    let accept = |id: i64| format!("/jobs/{id}/accept");

    let held = [
        requester.post_job(&app, 10).await,
        requester.post_job(&app, 10).await,
    ];
    for id in held {
        worker.post_empty(&app, &accept(id)).await.ok();
    }
    let cancelled = requester.post_job(&app, 10).await;
    requester
        .post_empty(&app, &format!("/jobs/{cancelled}/cancel"))
        .await
        .ok();
    let own = worker.post_job(&app, 10).await;
    let open = requester.post_job(&app, 10).await;

    // Every answer the contract gives before the cap stays as it was.
    worker
        .post_empty(&app, "/jobs/999999/accept")
        .await
        .assert_error(404, "JOB_NOT_FOUND");
    worker
        .post_empty(&app, &accept(own))
        .await
        .assert_error(403, "OWN_JOB");
    worker
        .post_empty(&app, &accept(held[0]))
        .await
        .assert_error(400, "JOB_ALREADY_ACCEPTED");
    worker
        .post_empty(&app, &accept(cancelled))
        .await
        .assert_error(400, "JOB_NOT_AVAILABLE");

    let r = worker.post_empty(&app, &accept(open)).await;
    r.assert_error(400, "TOO_MANY_OPEN_JOBS");
    assert_eq!(
        r.body["error"],
        "Too many open jobs: at most 2 accepted at once"
    );
    let job = requester.get(&app, &format!("/jobs/{open}")).await.ok();
    assert_eq!(job["status"], "posted");
    assert_eq!(job["worker_id"], Value::Null);
    assert!(
        app.outbox()
            .await
            .iter()
            .all(|(kind, _, data)| !(kind == "job.accepted" && data["job_id"] == open)),
        "a refused accept announced nothing"
    );

    // Finishing one frees a place; so does a deadline passing, before any sweep.
    worker
        .post(
            &app,
            &format!("/jobs/{}/complete", held[0]),
            &json!({ "result": "done" }),
        )
        .await
        .ok();
    worker.post_empty(&app, &accept(open)).await.ok();
    let another = requester.post_job(&app, 10).await;
    worker
        .post_empty(&app, &accept(another))
        .await
        .assert_error(400, "TOO_MANY_OPEN_JOBS");
    app.clock.advance(Duration::seconds(30));
    worker.post_empty(&app, &accept(another)).await.ok();
    app.core.expire_due(100).await.unwrap();
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cap_of_zero_lets_one_worker_hold_any_number_of_jobs() {
    let app = spawn_app_with(|c| c.max_open_jobs_per_worker = 0).await;
    let requester = app.funded_user(1_000).await;
    let worker = app.new_user().await;
    for _ in 0..12 {
        let id = requester.post_job(&app, 10).await;
        worker
            .post_empty(&app, &format!("/jobs/{id}/accept"))
            .await
            .ok();
    }
    let mine = worker
        .get(
            &app,
            &format!("/jobs?status=accepted&worker_id={}", worker.user_id),
        )
        .await
        .ok();
    assert_eq!(mine["jobs"].as_array().unwrap().len(), 12);
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn complete_refusals_come_in_the_contracts_order_with_or_without_the_sweeper() {
    let app = spawn_app_with(|c| c.sweep_interval_ms = 3_600_000).await;
    let requester = app.funded_user(1_000).await;
    let worker = app.new_user().await;
    let other = app.new_user().await;
    let result = json!({ "result": "r" });
    worker
        .post(&app, "/jobs/999999/complete", &result)
        .await
        .assert_error(404, "JOB_NOT_FOUND");

    let id = requester.post_job(&app, 10).await;
    let complete = |s: &Session, id: i64, body: Value| {
        let (app, s) = (&app, s.clone());
        async move { s.post(app, &format!("/jobs/{id}/complete"), &body).await }
    };
    complete(&worker, id, result.clone())
        .await
        .assert_error(400, "JOB_NOT_ACCEPTED");
    worker
        .post_empty(&app, &format!("/jobs/{id}/accept"))
        .await
        .ok();
    complete(&other, id, result.clone())
        .await
        .assert_error(403, "NOT_THE_WORKER");
    complete(&requester, id, result.clone())
        .await
        .assert_error(403, "NOT_THE_WORKER");
    complete(&worker, id, json!({ "result": "" }))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    complete(&worker, id, json!({ "result": "字".repeat(100_001) }))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    complete(&worker, id, json!({ "result": "字".repeat(100_000) }))
        .await
        .ok();
    complete(&worker, id, result.clone())
        .await
        .assert_error(400, "JOB_NOT_ACCEPTED");
    complete(&other, id, result.clone())
        .await
        .assert_error(403, "NOT_THE_WORKER");

    let cancelled = requester.post_job(&app, 10).await;
    requester
        .post_empty(&app, &format!("/jobs/{cancelled}/cancel"))
        .await
        .ok();
    complete(&worker, cancelled, result.clone())
        .await
        .assert_error(400, "JOB_NOT_ACCEPTED");

    let late = requester.post_job(&app, 10).await;
    worker
        .post_empty(&app, &format!("/jobs/{late}/accept"))
        .await
        .ok();
    app.clock.advance(Duration::seconds(30));
    let r = complete(&worker, late, result.clone()).await;
    r.assert_error(400, "TIMEOUT_EXPIRED");
    assert_eq!(r.body["error"], "Job timeout expired");
    other
        .post_empty(&app, &format!("/jobs/{late}/accept"))
        .await
        .assert_error(400, "JOB_ALREADY_ACCEPTED");
    assert_eq!(app.core.expire_due(100).await.unwrap(), 1);
    complete(&worker, late, result.clone())
        .await
        .assert_error(400, "TIMEOUT_EXPIRED");
    complete(&other, late, result)
        .await
        .assert_error(403, "NOT_THE_WORKER");
    assert_eq!(
        worker.get(&app, "/users/me").await.ok()["reputation_score"],
        0.5
    );
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_refusals_come_in_the_contracts_order() {
    let app = spawn_app_with(|c| c.sweep_interval_ms = 3_600_000).await;
    let requester = app.funded_user(1_000).await;
    let worker = app.new_user().await;
    requester
        .post_empty(&app, "/jobs/999999/cancel")
        .await
        .assert_error(404, "JOB_NOT_FOUND");
    let id = requester.post_job(&app, 10).await;
    worker
        .post_empty(&app, &format!("/jobs/{id}/cancel"))
        .await
        .assert_error(403, "NOT_THE_REQUESTER");
    worker
        .post_empty(&app, &format!("/jobs/{id}/accept"))
        .await
        .ok();
    let r = requester
        .post_empty(&app, &format!("/jobs/{id}/cancel"))
        .await;
    r.assert_error(400, "JOB_ALREADY_ACCEPTED");
    assert_eq!(r.body["error"], "Job already accepted (cannot cancel)");
    worker
        .post_empty(&app, &format!("/jobs/{id}/cancel"))
        .await
        .assert_error(403, "NOT_THE_REQUESTER");

    let twice = requester.post_job(&app, 10).await;
    requester
        .post_empty(&app, &format!("/jobs/{twice}/cancel"))
        .await
        .ok();
    requester
        .post_empty(&app, &format!("/jobs/{twice}/cancel"))
        .await
        .assert_error(400, "JOB_NOT_AVAILABLE");

    let stale = requester.post_job(&app, 10).await;
    app.clock.advance(Duration::seconds(421));
    requester
        .post_empty(&app, &format!("/jobs/{stale}/cancel"))
        .await
        .assert_error(400, "JOB_NOT_AVAILABLE");
    app.core.expire_due(100).await.unwrap();
    requester
        .post_empty(&app, &format!("/jobs/{stale}/cancel"))
        .await
        .assert_error(400, "JOB_NOT_AVAILABLE");
    let refunds = requester.transactions_of(&app, "job_refund").await;
    assert_eq!(
        refunds.len(),
        3,
        "the cancel and the two timeouts, once each"
    );
    assert_eq!(requester.balance(&app).await, (0, 1_000));
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sweeper_times_out_unaccepted_and_unfinished_jobs_and_refunds_them() {
    let app = spawn_app().await;
    let requester = app.funded_user(100).await;
    let worker = app.new_user().await;
    let unaccepted = requester.post_job(&app, 10).await;
    let unfinished = requester.post_job(&app, 20).await;
    worker
        .post_empty(&app, &format!("/jobs/{unfinished}/accept"))
        .await
        .ok();
    assert_eq!(requester.balance(&app).await, (0, 70));

    app.clock.advance(Duration::seconds(31));
    let timed_out = wait_for_status(&app, &requester, unfinished, "timeout").await;
    assert_eq!(timed_out["worker_id"].as_i64(), Some(worker.user_id.0));
    assert_eq!(
        requester
            .get(&app, &format!("/jobs/{unaccepted}"))
            .await
            .ok()["status"],
        "posted"
    );
    assert_eq!(
        worker.get(&app, "/users/me").await.ok()["reputation_score"],
        0.0
    );

    app.clock.advance(Duration::seconds(390));
    wait_for_status(&app, &requester, unaccepted, "timeout").await;
    assert_eq!(requester.balance(&app).await, (0, 100));
    assert_eq!(requester.transactions_of(&app, "job_refund").await.len(), 2);
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reputation_is_completed_over_completed_plus_timed_out() {
    let app = spawn_app_with(|c| c.sweep_interval_ms = 3_600_000).await;
    let requester = app.funded_user(1_000).await;
    let worker = app.new_user().await;
    for _ in 0..3 {
        let id = requester.post_job(&app, 5).await;
        worker
            .post_empty(&app, &format!("/jobs/{id}/accept"))
            .await
            .ok();
        worker
            .post(
                &app,
                &format!("/jobs/{id}/complete"),
                &json!({ "result": "r" }),
            )
            .await
            .ok();
    }
    let id = requester.post_job(&app, 5).await;
    worker
        .post_empty(&app, &format!("/jobs/{id}/accept"))
        .await
        .ok();
    app.clock.advance(Duration::seconds(31));
    app.core.expire_due(100).await.unwrap();
    let unaccepted = requester.post_job(&app, 5).await;
    app.clock.advance(Duration::seconds(421));
    app.core.expire_due(100).await.unwrap();
    assert_eq!(
        requester
            .get(&app, &format!("/jobs/{unaccepted}"))
            .await
            .ok()["status"],
        "timeout"
    );
    let public = app
        .get_anon(&format!("/users/{}", worker.user_id))
        .await
        .ok();
    assert_eq!(public["reputation_score"], 0.75);
    assert_eq!(
        requester.get(&app, "/users/me").await.ok()["reputation_score"],
        0.0
    );
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_filters_pages_and_refuses_unknown_values() {
    let app = spawn_app().await;
    let alice = app.funded_user(1_000).await;
    let bob = app.funded_user(1_000).await;
    let worker = app.new_user().await;
    let a1 = alice.post_job(&app, 5).await;
    let sonnet = json!({ "capability": "sonnet", "credits": 5, "timeout_sec": 10, "prompt": "p" });
    let b1 = bob.post(&app, "/jobs", &sonnet).await.ok()["job"]["job_id"]
        .as_i64()
        .unwrap();
    let a2 = alice.post_job(&app, 5).await;
    worker
        .post_empty(&app, &format!("/jobs/{a1}/accept"))
        .await
        .ok();

    let ids = |path: &str| {
        let (app, worker, path) = (&app, worker.clone(), path.to_owned());
        async move {
            worker.get(app, &path).await.ok()["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["job_id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids("/jobs").await, [a2, b1, a1]);
    assert_eq!(ids("/jobs?status=posted").await, [a2, b1]);
    assert_eq!(ids("/jobs?status=accepted").await, [a1]);
    assert_eq!(
        ids(&format!("/jobs?requester_id={}", alice.user_id)).await,
        [a2, a1]
    );
    assert_eq!(
        ids(&format!("/jobs?worker_id={}", worker.user_id)).await,
        [a1]
    );
    assert_eq!(ids("/jobs?capability=sonnet").await, [b1]);
    assert_eq!(
        ids(&format!(
            "/jobs?status=posted&requester_id={}",
            alice.user_id
        ))
        .await,
        [a2]
    );
    assert_eq!(ids("/jobs?limit=2").await, [a2, b1]);
    assert_eq!(ids(&format!("/jobs?limit=2&before={b1}")).await, [a1]);
    assert_eq!(ids("/jobs?limit=1000").await.len(), 3);
    for bad in [
        "status=done",
        "capability=gpt5",
        "limit=0",
        "limit=-1",
        "limit=abc",
        "limit=1.5",
        "requester_id=x",
    ] {
        worker
            .get(&app, &format!("/jobs?{bad}"))
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
    app.get_anon("/jobs")
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn history_pages_newest_first_with_a_cursor() {
    let app = spawn_app().await;
    let user = app.funded_user(1_000).await;
    for _ in 0..4 {
        user.post_job(&app, 5).await;
    }
    let page = |query: String| {
        let (app, user) = (&app, user.clone());
        async move {
            user.get(app, &format!("/credits/transactions{query}"))
                .await
                .ok()["transactions"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    let all = page(String::new()).await;
    assert_eq!(all.len(), 5);
    let ids: Vec<i64> = all.iter().map(|t| t["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    assert!(
        all.iter()
            .all(|t| t["user_id"].as_i64() == Some(user.user_id.0))
    );
    let first = page("?limit=2".into()).await;
    let second = page(format!("?limit=2&before={}", first[1]["id"])).await;
    assert_eq!([first, second].concat(), all[..4]);
    for bad in ["?limit=0", "?limit=x", "?before=abc"] {
        user.get(&app, &format!("/credits/transactions{bad}"))
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
    app.assert_ledger_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_replays_the_first_post_for_a_day() {
    let app = spawn_app_with(|c| c.sweep_interval_ms = 3_600_000).await;
    let user = app.funded_user(1_000).await;
    let post_with_key = |key: &str, body: &str| {
        let request = app
            .http
            .post(app.url("/jobs"))
            .bearer_auth(&user.token)
            .header("Idempotency-Key", key)
            .header("Content-Type", "application/json")
            .body(body.to_owned());
        async move { TestApp::read(request.send().await.unwrap()).await }
    };
    let body = r#"{"capability":"opus","credits":10,"timeout_sec":30,"prompt":"p"}"#;
    let same_json = r#"{ "prompt": "p", "timeout_sec": 30, "credits": 10, "capability": "opus" }"#;
    let first = post_with_key("k-1", body).await.ok();
    let replay = post_with_key("k-1", same_json).await.ok();
    assert_eq!(first, replay);
    assert_eq!(user.balance(&app).await, (0, 990));

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

    let id = first["job"]["job_id"].as_i64().unwrap();
    let worker = app.new_user().await;
    worker
        .post_empty(&app, &format!("/jobs/{id}/accept"))
        .await
        .ok();
    assert_eq!(post_with_key("k-1", body).await.ok(), first);

    let poor = app.funded_user(5).await;
    let poor_post = |key: &'static str| {
        let request = app
            .http
            .post(app.url("/jobs"))
            .bearer_auth(&poor.token)
            .header("Idempotency-Key", key)
            .json(&serde_json::from_str::<Value>(body).unwrap());
        async move { TestApp::read(request.send().await.unwrap()).await }
    };
    poor_post("retry-me")
        .await
        .assert_error(400, "INSUFFICIENT_CREDITS");
    app.core
        .grant_promo(poor.user_id, j0_domain::Cents(5))
        .await
        .unwrap();
    let posted = poor_post("retry-me").await.ok();
    assert_eq!(posted["job"]["credits"], 10);
    assert_eq!(poor.balance(&app).await, (0, 0));

    app.clock
        .advance(Duration::hours(24) + Duration::seconds(1));
    let fresh = post_with_key("k-1", body).await.ok();
    assert_ne!(fresh["job"]["job_id"], first["job"]["job_id"]);
    assert_eq!(user.balance(&app).await, (0, 1_000 - 30));
    app.assert_ledger_clean().await;
}
