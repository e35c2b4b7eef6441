//! The outbox (contract §9 payloads): each change writes its events in the same transaction,
//! addressed and shaped for exactly the audience that may see them.

use serde_json::{Value, json};
use time::Duration;

use j0_client::{Capability, PostJob};
use j0_testkit::{Session, no_sweeper, spawn_app_with};

#[tokio::test(flavor = "multi_thread")]
async fn every_change_writes_its_events_for_exactly_their_audience() {
    let app = spawn_app_with(no_sweeper).await;
    let prompt = "p".repeat(250);
    let job = PostJob::new(Capability::Gpt4, 10, 10, prompt.clone());
    let done = app.completed_job(100, job, "done").await;
    let (requester, worker, id) = (&done.requester, &done.worker, done.id().get());
    let (r, w) = (Some(requester.user_id.0), Some(worker.user_id.0));
    requester.job_accepted_by(worker, 5).await;
    app.clock.advance(Duration::seconds(31));
    app.core.expire_due(10).await.unwrap();

    let events = app.outbox().await;
    let names: Vec<(&str, Option<i64>)> =
        events.iter().map(|(e, to, _)| (e.as_str(), *to)).collect();
    assert_eq!(
        names,
        [
            ("balance.updated", r), // the promo grant
            ("job.posted", None),
            ("balance.updated", r),
            ("job.accepted", r),
            ("job.completed", r),
            ("job.completed", w),
            ("balance.updated", w),
            ("job.posted", None),
            ("balance.updated", r),
            ("job.accepted", r),
            ("job.timeout", r),
            ("job.timeout", w),
            ("balance.updated", r),
        ]
    );
    let data = |i: usize| &events[i].2;
    assert_eq!(data(1)["job_id"], id);
    assert_eq!(data(1)["prompt"], "p".repeat(200));
    assert_eq!(data(1)["prompt_truncated"], true);
    assert_eq!(data(1)["result"], Value::Null);
    assert_eq!(data(3)["status"], "accepted");
    assert_eq!(data(3)["prompt"], prompt);
    assert_eq!(data(4)["result"], "done");
    assert!(data(4).get("credits_earned").is_none());
    assert_eq!(data(5)["credits_earned"], 9);
    assert_eq!(data(5)["result"], "done");
    let balance = async |s: &Session| s.raw().get("/credits/balance").await.ok();
    assert_eq!(*data(6), balance(worker).await);
    assert_eq!(data(10)["status"], "timeout");
    assert_eq!(data(11)["worker_id"], w.unwrap());
    assert_eq!(*data(12), balance(requester).await);
    assert_eq!(
        *data(12),
        json!({"cash_cents": 0, "promo_cents": 90, "total_cents": 90})
    );
    app.assert_ledger_clean().await;
}
