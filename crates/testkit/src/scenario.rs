//! Builders of the scenes the contract's rules are stated against: a job posted, accepted, or
//! completed, by new users the builder signs in.

use j0_client::{Capability, Job, JobId, PostJob};

use crate::{Session, TestApp};

/// An `opus` job of `credits`, 30 seconds, prompt `Summarize this`: the job a test posts when
/// only its price matters.
pub fn opus(credits: i64) -> PostJob {
    PostJob::new(Capability::Opus, credits, 30, "Summarize this")
}

/// A job on the board and the requester who posted it.
#[derive(Debug, Clone)]
pub struct PostedJob {
    /// The requester, signed in.
    pub requester: Session,
    /// The job as the requester saw it posted.
    pub job: Job,
}

impl PostedJob {
    /// The job's id.
    pub fn id(&self) -> JobId {
        self.job.job_id
    }
}

/// A job a worker took: its requester, its worker, and the job as the worker's last step left
/// it (accepted, or completed).
#[derive(Debug, Clone)]
pub struct WorkedJob {
    /// The requester, signed in.
    pub requester: Session,
    /// The worker, signed in.
    pub worker: Session,
    /// The job as the worker's accept (or complete) answered it.
    pub job: Job,
}

impl WorkedJob {
    /// The job's id.
    pub fn id(&self) -> JobId {
        self.job.job_id
    }
}

impl TestApp {
    /// New users signed in one after the other, each holding the promo credit given for it
    /// (`0`: none granted): `let [requester, worker] = app.users([1_000, 0]).await`.
    pub async fn users<const N: usize>(&self, promo: [i64; N]) -> [Session; N] {
        let mut users = Vec::with_capacity(N);
        for cents in promo {
            users.push(match cents {
                0 => self.new_user().await,
                cents => self.funded_user(cents).await,
            });
        }
        users.try_into().expect("one user for each amount")
    }

    /// `job` posted by a new requester holding `promo` cents of promo credit beforehand.
    pub async fn posted_job(&self, promo: i64, job: PostJob) -> PostedJob {
        let requester = self.funded_user(promo).await;
        let job = requester.post_job(job).await.expect("post the job");
        PostedJob { requester, job }
    }

    /// [`TestApp::posted_job`], then accepted by a new worker.
    pub async fn accepted_job(&self, promo: i64, job: PostJob) -> WorkedJob {
        let PostedJob { requester, job } = self.posted_job(promo, job).await;
        let worker = self.new_user().await;
        let job = worker.accept_job(job.job_id).await.expect("accept the job");
        WorkedJob {
            requester,
            worker,
            job,
        }
    }

    /// [`TestApp::accepted_job`], then completed by its worker with `result`.
    pub async fn completed_job(&self, promo: i64, job: PostJob, result: &str) -> WorkedJob {
        let mut worked = self.accepted_job(promo, job).await;
        worked.job = worked
            .worker
            .complete_job(worked.id(), result)
            .await
            .expect("complete the job")
            .job;
        worked
    }
}
