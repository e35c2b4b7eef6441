//! `POST /jobs`, `GET /jobs`, `GET /jobs/:id` and the accept, complete and cancel actions.

use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use j0_domain::{
    JobId, UserId,
    job::{Capability, Credits, JobResult, JobStatus, NewJob, Prompt, TimeoutSec},
    view::JobView,
};
use j0_ports::{IdempotencyKey, JobFilter};
use j0_wire::{
    IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_MAX_CHARS,
    jobs::{Cancelled, CompleteRequest, Completed, JobEnvelope, Jobs, PostJobRequest},
};

use super::{
    AcceptRefusals, CancelRefusals, CompleteRefusals, GetRefusals, ListRefusals, PostRefusals,
    Reply, State,
};
use crate::{
    error::{ApiError, ErrorCode},
    extract::{Json, PathId, Query, QueryInt, at_least, page_limit},
    token::{Bearer, Caller},
};

fn new_job(request: PostJobRequest) -> Result<NewJob, ApiError> {
    Ok(NewJob {
        capability: request.capability,
        credits: Credits::new(request.credits)?,
        timeout: TimeoutSec::new(request.timeout_sec)?,
        prompt: Prompt::new(request.prompt)?,
    })
}

/// The optional header of `POST /jobs`.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(
    dead_code,
    reason = "describes the header, read in `idempotency_key`; never built"
)]
pub(crate) struct PostJobHeaders {
    /// 1-255 visible ASCII characters. Reusing a key of the last 24 h returns the first
    /// response and posts nothing; the same key with a different body is 400
    /// `IDEMPOTENCY_KEY_REUSED`.
    #[param(rename = "Idempotency-Key", value_type = String, required = false, min_length = 1, max_length = 255, pattern = r"^[!-~]([ -~]*[!-~])?$")]
    idempotency_key: Option<String>,
}

/// Filters of the job list; all optional and combined with AND.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only jobs in this state; an unknown state is a 400.
    #[param(value_type = Option<JobStatus>)]
    status: Option<String>,
    /// Only jobs posted by this user.
    #[param(minimum = 1, value_type = Option<i64>)]
    requester_id: Option<QueryInt>,
    /// Only jobs accepted by this user.
    #[param(minimum = 1, value_type = Option<i64>)]
    worker_id: Option<QueryInt>,
    /// Only jobs for this model; an unknown capability is a 400.
    #[param(value_type = Option<Capability>)]
    capability: Option<String>,
    /// Jobs per page: default 50; above 100 is capped to 100; below 1 is a 400.
    #[param(minimum = 1, value_type = Option<i64>)]
    limit: Option<QueryInt>,
    /// Only jobs with a smaller id: the last `job_id` of the previous page.
    #[param(minimum = 1, value_type = Option<i64>)]
    before: Option<QueryInt>,
}

fn job_not_found() -> ApiError {
    ApiError::new(ErrorCode::JobNotFound)
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

/// Posts a job, moving its credits into escrow (promo first, then cash).
#[utoipa::path(
    post, path = "/jobs", operation_id = "postJob",
    params(PostJobHeaders), request_body = PostJobRequest,
    responses((status = 200, description = "The posted job", body = JobEnvelope), PostRefusals),
)]
pub(crate) async fn post(
    state: State,
    caller: Bearer,
    req: HttpRequest,
    body: Result<Json<PostJobRequest>, ApiError>,
) -> Reply {
    let input = body.and_then(|body| {
        let idempotency = idempotency_key(&req, body.document)?;
        Ok((new_job(body.value)?, idempotency))
    });
    let (job, idempotency) = caller.admit(&state, input).await?;
    let posted = state
        .app
        .post_job(&caller.signed_in(), job, idempotency)
        .await?;
    Ok(HttpResponse::Ok().json(JobEnvelope {
        job: JobView::new(&posted.job, Some(caller.user())),
    }))
}

/// Lists jobs, newest first; prompts are previews unless the caller takes part in the job.
#[utoipa::path(
    get, path = "/jobs", operation_id = "listJobs", params(ListQuery),
    responses((status = 200, description = "A page of jobs", body = Jobs), ListRefusals),
)]
pub(crate) async fn list(state: State, caller: Caller, query: Query<ListQuery>) -> Reply {
    let q = query.0;
    let filter = JobFilter {
        status: q.status.as_deref().map(JobStatus::parse).transpose()?,
        requester_id: at_least("requester_id", q.requester_id, 1)?.map(UserId),
        worker_id: at_least("worker_id", q.worker_id, 1)?.map(UserId),
        capability: q.capability.as_deref().map(Capability::parse).transpose()?,
        before: at_least("before", q.before, 1)?.map(JobId),
        limit: page_limit(q.limit, 50, 100)?,
    };
    let jobs = state.app.jobs(&filter).await?;
    let jobs = jobs
        .iter()
        .map(|job| JobView::new(job, Some(caller.user)))
        .collect();
    Ok(HttpResponse::Ok().json(Jobs { jobs }))
}

/// One job, as the caller may see it.
#[utoipa::path(
    get, path = "/jobs/{id}", operation_id = "getJob", params(PathId),
    responses((status = 200, description = "The job", body = JobView), GetRefusals),
)]
pub(crate) async fn get(state: State, caller: Caller, req: HttpRequest) -> Reply {
    let id = job_id(&req)?;
    let job = state.app.job(id).await?.ok_or_else(job_not_found)?;
    Ok(HttpResponse::Ok().json(JobView::new(&job, Some(caller.user))))
}

/// Accepts a posted job; of concurrent accepts exactly one wins.
///
/// A worker holds at most `J0_MAX_OPEN_JOBS_PER_WORKER` jobs in `accepted` at once (default
/// 10); an accept that every other rule allows but that would exceed it is refused with
/// `TOO_MANY_OPEN_JOBS` and changes nothing.
#[utoipa::path(
    post, path = "/jobs/{id}/accept", operation_id = "acceptJob", params(PathId),
    responses(
        (status = 200, description = "The accepted job, with its full prompt", body = JobEnvelope),
        AcceptRefusals,
    ),
)]
pub(crate) async fn accept(state: State, caller: Bearer, req: HttpRequest) -> Reply {
    let id = caller.admit(&state, job_id(&req)).await?;
    let job = state.app.accept_job(id, &caller.signed_in()).await?;
    Ok(HttpResponse::Ok().json(JobEnvelope {
        job: JobView::new(&job, Some(caller.user())),
    }))
}

/// Submits the result of an accepted job and pays its worker.
#[utoipa::path(
    post, path = "/jobs/{id}/complete", operation_id = "completeJob",
    params(PathId), request_body = CompleteRequest,
    responses((status = 200, description = "The completed job", body = Completed), CompleteRefusals),
)]
pub(crate) async fn complete(
    state: State,
    caller: Bearer,
    req: HttpRequest,
    body: Result<Json<CompleteRequest>, ApiError>,
) -> Reply {
    let input = body.and_then(|body| Ok((job_id(&req)?, JobResult::new(body.value.result)?)));
    let (id, result) = caller.admit(&state, input).await?;
    let done = state
        .app
        .complete_job(id, &caller.signed_in(), result)
        .await?;
    Ok(HttpResponse::Ok().json(Completed {
        job: JobView::new(&done.job, Some(caller.user())),
        credits_earned: done.credits_earned,
    }))
}

/// Cancels a posted job before anyone accepts it and refunds the requester.
#[utoipa::path(
    post, path = "/jobs/{id}/cancel", operation_id = "cancelJob", params(PathId),
    responses((status = 200, description = "The cancelled job", body = Cancelled), CancelRefusals),
)]
pub(crate) async fn cancel(state: State, caller: Caller, req: HttpRequest) -> Reply {
    let id = job_id(&req)?;
    let cancelled = state.app.cancel_job(id, caller.user).await?;
    Ok(HttpResponse::Ok().json(Cancelled {
        job: JobView::new(&cancelled.job, Some(caller.user)),
        credits_refunded: cancelled.refunded.total(),
    }))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::PostJobRequest;
    use crate::{error::ErrorCode, extract::parse_json};

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            "\\PC{0,300}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("capability".to_owned()),
                        Just("credits".to_owned()),
                        Just("timeout_sec".to_owned()),
                        Just("prompt".to_owned()),
                        "[a-z_]{1,12}",
                    ],
                    inner,
                    0..6,
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any bytes, and any JSON shaped like a job, either become a job or a 400 naming the
        /// problem: never a panic, never another status.
        #[test]
        fn fuzz_job_bodies(
            bytes in prop::collection::vec(any::<u8>(), 0..400),
            document in json_value(),
            capability in "\\PC{0,12}",
            credits in any::<i64>(),
            timeout_sec in any::<i64>(),
            prompt in "\\PC{0,40}",
        ) {
            let near_valid = serde_json::json!({
                "capability": capability, "credits": credits, "timeout_sec": timeout_sec, "prompt": prompt,
            });
            for body in [bytes, document.to_string().into_bytes(), near_valid.to_string().into_bytes()] {
                match parse_json::<PostJobRequest>(&body) {
                    Ok((request, _)) => {
                        if let Err(e) = super::new_job(request) {
                            prop_assert_eq!(e.code(), ErrorCode::ValidationError);
                        }
                    }
                    Err(e) => prop_assert_eq!(e.code(), ErrorCode::ValidationError),
                }
            }
        }
    }
}
