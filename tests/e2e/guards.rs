//! The SQL guards of the job transitions against the domain's rules: for every status a job
//! can be in, every role of the caller and every side of the deadline, the guarded `UPDATE`
//! matches exactly when `JobState::check_*` allows the transition.

use time::Duration;

use j0_adapters_postgres::{
    PgStore,
    guard::{Transition, guard_matches},
};
use j0_domain::{
    JobId, UserId,
    job::{Job, JobState, JobStatus},
};
use j0_testkit::{TestApp, no_sweeper, opus, spawn_app_with};

/// One job in each status, with its requester and the worker it has (or would have had).
async fn jobs_in_every_status(app: &TestApp) -> Vec<(JobId, UserId, UserId)> {
    // Timed out unaccepted, and timed out in a worker's hands, before the others are made.
    let unwanted = app.posted_job(1_000, opus(10)).await;
    let abandoned = app.accepted_job(1_000, opus(10)).await;
    app.clock.advance(Duration::minutes(8));
    app.core.expire_due(100).await.unwrap();
    let mut jobs = Vec::new();
    let posted = app.posted_job(1_000, opus(10)).await;
    let bystander = app.new_user().await;
    jobs.push((posted.id(), posted.requester.user_id, bystander.user_id));
    for worked in [
        app.accepted_job(1_000, opus(10)).await,
        app.completed_job(1_000, opus(10), "r").await,
    ] {
        jobs.push((worked.id(), worked.requester.user_id, worked.worker.user_id));
    }
    let cancelled = app.posted_job(1_000, opus(10)).await;
    cancelled
        .requester
        .cancel_job(cancelled.id())
        .await
        .unwrap();
    jobs.push((
        cancelled.id(),
        cancelled.requester.user_id,
        bystander.user_id,
    ));
    jobs.push((unwanted.id(), unwanted.requester.user_id, bystander.user_id));
    jobs.push((
        abandoned.id(),
        abandoned.requester.user_id,
        abandoned.worker.user_id,
    ));
    jobs
}

fn domain_allows(
    transition: Transition,
    job: &Job,
    caller: UserId,
    now: time::OffsetDateTime,
) -> bool {
    let state = JobState::from(job);
    match transition {
        Transition::Accept => state.check_accept(caller, now).is_ok(),
        Transition::Complete => state.check_complete(caller, now).is_ok(),
        Transition::Cancel => state.check_cancel(caller, now).is_ok(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sql_guard_agrees_with_the_domain_on_every_status_role_and_clock() {
    let app = spawn_app_with(no_sweeper).await;
    let store = PgStore::connect(app.db.url(), 2).unwrap();
    let stranger = app.new_user().await.user_id;
    let mut statuses = Vec::new();
    let mut allowed = 0;
    for (id, requester, worker) in jobs_in_every_status(&app).await {
        let job = app.core.job(id).await.unwrap().unwrap();
        statuses.push(job.status);
        for caller in [requester, worker, stranger] {
            for offset in [-Duration::seconds(1), Duration::ZERO, Duration::seconds(1)] {
                let now = job.expires_at + offset;
                for transition in Transition::ALL {
                    let sql = guard_matches(&store, transition, id, caller, now)
                        .await
                        .unwrap();
                    let domain = domain_allows(transition, &job, caller, now);
                    assert_eq!(
                        sql, domain,
                        "{transition:?} of a {:?} job by user {caller} at deadline {offset:+}",
                        job.status
                    );
                    allowed += usize::from(domain);
                }
            }
        }
    }
    use JobStatus::*;
    assert_eq!(
        statuses,
        [Posted, Accepted, Completed, Cancelled, Timeout, Timeout]
    );
    // Before the deadline: the worker's or the stranger's accept of the posted job, its
    // requester's cancel, and the worker's completion of the accepted one.
    assert_eq!(allowed, 4, "the combinations the rules allow");
    app.assert_ledger_clean().await;
}
