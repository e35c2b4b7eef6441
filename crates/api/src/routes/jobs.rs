//! `POST /jobs`, `GET /jobs`, `GET /jobs/:id` and the accept, complete and cancel actions.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use j0_domain::{
    Cents, JobId, UserId,
    job::{Capability, Credits, JobResult, JobStatus, NewJob, Prompt, TimeoutSec},
    view::JobView,
};
use j0_ports::{IdempotencyKey, JobFilter};

use crate::{
    ApiState,
    error::ApiError,
    extract::{Json, PathId, Query, page_limit},
    token::Caller,
};

/// Header carrying a client's idempotency key for `POST /jobs`.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// Longest idempotency key, in characters.
const IDEMPOTENCY_KEY_MAX_CHARS: usize = 255;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PostJobRequest {
    capability: String,
    credits: i64,
    timeout_sec: i64,
    prompt: String,
}

impl PostJobRequest {
    fn into_domain(self) -> Result<NewJob, ApiError> {
        Ok(NewJob {
            capability: Capability::parse(&self.capability)?,
            credits: Credits::new(self.credits)?,
            timeout: TimeoutSec::new(self.timeout_sec)?,
            prompt: Prompt::new(self.prompt)?,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompleteRequest {
    result: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    status: Option<String>,
    requester_id: Option<i64>,
    worker_id: Option<i64>,
    capability: Option<String>,
    limit: Option<i64>,
    before: Option<i64>,
}

#[derive(Debug, Serialize)]
struct JobEnvelope {
    job: JobView,
}

#[derive(Debug, Serialize)]
struct JobsResponse {
    jobs: Vec<JobView>,
}

#[derive(Debug, Serialize)]
struct CompleteResponse {
    job: JobView,
    credits_earned: Cents,
}

#[derive(Debug, Serialize)]
struct CancelResponse {
    job: JobView,
    credits_refunded: Cents,
}

fn job_not_found() -> ApiError {
    ApiError::not_found("JOB_NOT_FOUND", "Job not found")
}

fn job_id(req: &HttpRequest) -> Result<JobId, ApiError> {
    PathId::from_request_with(req, job_not_found).map(|PathId(id)| JobId(id))
}

fn idempotency_key(
    req: &HttpRequest,
    document: serde_json::Value,
) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| ApiError::validation("Idempotency-Key: must be visible ASCII"))?;
    let chars = key.chars().count();
    if chars == 0 || chars > IDEMPOTENCY_KEY_MAX_CHARS {
        return Err(ApiError::validation(
            "Idempotency-Key: must be 1-255 characters",
        ));
    }
    Ok(Some(IdempotencyKey {
        key: key.to_owned(),
        request: document,
    }))
}

pub(crate) async fn post(
    state: web::Data<ApiState>,
    caller: Caller,
    req: HttpRequest,
    body: Json<PostJobRequest>,
) -> Result<HttpResponse, ApiError> {
    let idempotency = idempotency_key(&req, body.document)?;
    let job = body.value.into_domain()?;
    let posted = state.app.post_job(caller.user, job, idempotency).await?;
    Ok(HttpResponse::Ok().json(JobEnvelope {
        job: JobView::new(&posted.job, Some(caller.user)),
    }))
}

pub(crate) async fn list(
    state: web::Data<ApiState>,
    caller: Caller,
    query: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let filter = JobFilter {
        status: q.status.as_deref().map(JobStatus::parse).transpose()?,
        requester_id: q.requester_id.map(UserId),
        worker_id: q.worker_id.map(UserId),
        capability: q.capability.as_deref().map(Capability::parse).transpose()?,
        before: q.before.map(JobId),
        limit: page_limit(q.limit, 50, 100)?,
    };
    let jobs = state.app.jobs(&filter).await?;
    let jobs = jobs
        .iter()
        .map(|job| JobView::new(job, Some(caller.user)))
        .collect();
    Ok(HttpResponse::Ok().json(JobsResponse { jobs }))
}

pub(crate) async fn get(
    state: web::Data<ApiState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(&req)?;
    let job = state.app.job(id).await?.ok_or_else(job_not_found)?;
    Ok(HttpResponse::Ok().json(JobView::new(&job, Some(caller.user))))
}

pub(crate) async fn accept(
    state: web::Data<ApiState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(&req)?;
    let job = state.app.accept_job(id, caller.user).await?;
    Ok(HttpResponse::Ok().json(JobEnvelope {
        job: JobView::new(&job, Some(caller.user)),
    }))
}

pub(crate) async fn complete(
    state: web::Data<ApiState>,
    caller: Caller,
    req: HttpRequest,
    body: Json<CompleteRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(&req)?;
    let result = JobResult::new(body.value.result)?;
    let done = state.app.complete_job(id, caller.user, result).await?;
    Ok(HttpResponse::Ok().json(CompleteResponse {
        job: JobView::new(&done.job, Some(caller.user)),
        credits_earned: done.credits_earned,
    }))
}

pub(crate) async fn cancel(
    state: web::Data<ApiState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(&req)?;
    let cancelled = state.app.cancel_job(id, caller.user).await?;
    Ok(HttpResponse::Ok().json(CancelResponse {
        job: JobView::new(&cancelled.job, Some(caller.user)),
        credits_refunded: cancelled.refunded.total(),
    }))
}
