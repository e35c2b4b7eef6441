//! `j0 mcp`: the marketplace as Model Context Protocol tools, over stdio, acting as the
//! signed-in user.
//!
//! Each tool is one API call (plus `wait_for_job`, which waits on the event stream), takes its
//! arguments by the contract's names and answers with the API's JSON, as structured content
//! and as text. A refusal is a tool result with `isError: true` carrying the contract's `code`
//! and message, so an agent can read it and act; the server itself never stops over one.
//! Standard output carries only JSON-RPC; logs go to standard error.

use std::time::Duration;

use futures_util::StreamExt;
use rmcp::{
    ErrorData, ServerHandler, ServiceExt,
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{CallToolResult, Implementation, ServerCapabilities, ServerConfig},
    schemars::{self, JsonSchema},
    tool, tool_handler, tool_router,
};
use serde::{Deserialize, Serialize};

use j0_wire::{credits::Transactions, jobs::Jobs};

use j0_client::{
    Capability, Client, Error, EventBody, EventOptions, JobId, JobQuery, JobStatus, PostJob, UserId,
};

/// Serves the tools on standard input and output until the client disconnects.
pub async fn serve(client: Client) -> anyhow::Result<()> {
    let service = Tools::new(client).serve(rmcp::transport::stdio()).await?;
    service.waiting().await?;
    Ok(())
}

/// The longest `wait_for_job` waits, in seconds.
const MAX_WAIT_SEC: u64 = 600;
/// How often `wait_for_job` reads the job back even without an event.
const RECHECK: Duration = Duration::from_secs(5);

/// A model a job requires.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum CapabilityArg {
    Opus,
    Sonnet,
    Gpt4,
    Gpt4Turbo,
    #[serde(rename = "dall-e-3")]
    DallE3,
}

impl From<CapabilityArg> for Capability {
    fn from(arg: CapabilityArg) -> Self {
        match arg {
            CapabilityArg::Opus => Capability::Opus,
            CapabilityArg::Sonnet => Capability::Sonnet,
            CapabilityArg::Gpt4 => Capability::Gpt4,
            CapabilityArg::Gpt4Turbo => Capability::Gpt4Turbo,
            CapabilityArg::DallE3 => Capability::DallE3,
        }
    }
}

/// Where a job is.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum StatusArg {
    Posted,
    Accepted,
    Completed,
    Cancelled,
    Timeout,
}

impl From<StatusArg> for JobStatus {
    fn from(arg: StatusArg) -> Self {
        match arg {
            StatusArg::Posted => JobStatus::Posted,
            StatusArg::Accepted => JobStatus::Accepted,
            StatusArg::Completed => JobStatus::Completed,
            StatusArg::Cancelled => JobStatus::Cancelled,
            StatusArg::Timeout => JobStatus::Timeout,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
struct PostJobArgs {
    /// The model the worker must run.
    capability: CapabilityArg,
    /// What the job pays, 5 to 100 credits (1 credit = 1 cent); held in escrow until the job
    /// ends, refunded if nobody completes it.
    credits: i64,
    /// Seconds the worker has to answer after accepting, 10 to 60.
    timeout_sec: i64,
    /// The task, 1 to 10,240 characters.
    prompt: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct ListJobsArgs {
    /// Only jobs in this state (`posted` for jobs waiting for a worker).
    status: Option<StatusArg>,
    /// Only jobs for this model.
    capability: Option<CapabilityArg>,
    /// Only jobs posted by this user id.
    requester_id: Option<i64>,
    /// Only jobs accepted by this user id.
    worker_id: Option<i64>,
    /// At most this many jobs, 1 to 100 (default 50), newest first.
    limit: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct JobIdArgs {
    /// The job's id.
    job_id: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct CompleteJobArgs {
    /// The job's id.
    job_id: i64,
    /// The answer, 1 to 100,000 characters.
    result: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct ListTransactionsArgs {
    /// At most this many rows, 1 to 100 (default 50), newest first.
    limit: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct BuyCreditsArgs {
    /// Dollars to pay: 5, 10, 20, 50 or 100; each dollar buys 95 credits.
    amount_usd: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct NoArgs {}

#[derive(Debug, Deserialize, JsonSchema)]
struct WaitArgs {
    /// The job's id.
    job_id: i64,
    /// How long to wait at most, in seconds (up to 600).
    timeout_sec: u64,
}

/// What `wait_for_job` found.
#[derive(Debug, Serialize)]
struct Waited<T> {
    /// The job as it is now.
    job: T,
    /// Whether it reached a final state (`completed`, `cancelled` or `timeout`).
    done: bool,
}

/// The marketplace's tools, acting as one signed-in user.
#[derive(Debug, Clone)]
struct Tools {
    client: Client,
    #[allow(dead_code, reason = "read by the code #[tool_handler] generates")]
    tool_router: ToolRouter<Self>,
}

/// What a tool call returns; a refusal of the API is a result too, marked as an error.
type Answer = Result<CallToolResult, ErrorData>;

/// The API's answer, or its refusal as a tool error.
fn answer<T: Serialize>(result: Result<T, Error>) -> Answer {
    Ok(match result {
        Ok(value) => match serde_json::to_value(&value) {
            Ok(json) => CallToolResult::structured(json),
            Err(e) => CallToolResult::structured_error(
                serde_json::json!({ "error": e.to_string(), "code": null }),
            ),
        },
        Err(e) => {
            tracing::info!(error = %e, "tool call refused");
            CallToolResult::structured_error(serde_json::json!({
                "error": e.to_string(),
                "code": e.code(),
                "status": e.status(),
            }))
        }
    })
}

#[tool_router]
impl Tools {
    fn new(client: Client) -> Self {
        Self {
            client,
            tool_router: Self::tool_router(),
        }
    }

    /// Post a paid job to the j0 marketplace. The credits move from your balance into escrow; the
    /// first worker to accept gets the full prompt and must submit a result within timeout_sec.
    /// Returns the job (with job_id); use wait_for_job to get its result. Refused with
    /// INSUFFICIENT_CREDITS when your balance is too low.
    #[tool]
    async fn post_job(&self, Parameters(args): Parameters<PostJobArgs>) -> Answer {
        let job = PostJob::new(
            args.capability.into(),
            args.credits,
            args.timeout_sec,
            args.prompt,
        );
        answer(self.client.post_job(job).await)
    }

    /// Get one job: its status, deadline (expires_at), and, for its requester and worker, the full
    /// prompt and result.
    #[tool]
    async fn get_job(&self, Parameters(args): Parameters<JobIdArgs>) -> Answer {
        answer(self.client.job(JobId(args.job_id)).await)
    }

    /// List jobs, newest first. Use status=posted to find jobs waiting for a worker. Prompts of
    /// jobs you take no part in are shown as a 200-character preview.
    #[tool]
    async fn list_jobs(&self, Parameters(args): Parameters<ListJobsArgs>) -> Answer {
        let query = JobQuery {
            status: args.status.map(Into::into),
            capability: args.capability.map(Into::into),
            requester_id: args.requester_id.map(UserId),
            worker_id: args.worker_id.map(UserId),
            limit: args.limit,
            before: None,
        };
        answer(self.client.jobs(query).await.map(|jobs| Jobs { jobs }))
    }

    /// Accept a posted job as its worker. The first accept wins and returns the job with its full
    /// prompt; you must then call complete_job before expires_at. JOB_ALREADY_ACCEPTED means
    /// another worker was faster: move on.
    #[tool]
    async fn accept_job(&self, Parameters(args): Parameters<JobIdArgs>) -> Answer {
        answer(self.client.accept_job(JobId(args.job_id)).await)
    }

    /// Submit the result of a job you accepted, before its deadline. You are paid 90% of its
    /// credits (credits_earned). TIMEOUT_EXPIRED means it came too late and the requester was
    /// refunded.
    #[tool]
    async fn complete_job(&self, Parameters(args): Parameters<CompleteJobArgs>) -> Answer {
        answer(
            self.client
                .complete_job(JobId(args.job_id), args.result)
                .await,
        )
    }

    /// Cancel a job you posted that nobody has accepted yet; its credits come back to your balance
    /// (credits_refunded).
    #[tool]
    async fn cancel_job(&self, Parameters(args): Parameters<JobIdArgs>) -> Answer {
        answer(self.client.cancel_job(JobId(args.job_id)).await)
    }

    /// Get your balance in credits (1 credit = 1 cent): cash_cents, promo_cents (spent first) and
    /// total_cents.
    #[tool]
    async fn get_balance(&self, Parameters(_): Parameters<NoArgs>) -> Answer {
        answer(self.client.balance().await)
    }

    /// List your credit history, newest first: purchases, jobs posted (negative), earnings, refunds
    /// and promo grants.
    #[tool]
    async fn list_transactions(
        &self,
        Parameters(args): Parameters<ListTransactionsArgs>,
    ) -> Answer {
        answer(
            self.client
                .transactions(args.limit, None)
                .await
                .map(|transactions| Transactions { transactions }),
        )
    }

    /// Start a card purchase of credits. Returns checkout_url: a Stripe page a human must open to
    /// pay; the credits arrive once paid. amount_usd is one of 5, 10, 20, 50, 100.
    #[tool]
    async fn buy_credits(&self, Parameters(args): Parameters<BuyCreditsArgs>) -> Answer {
        answer(self.client.buy_credits(args.amount_usd).await)
    }

    /// Get your own USDC deposit address on Base: USDC sent there is credited as cash (1 USDC = 100
    /// credits) after min_confirmations blocks.
    #[tool]
    async fn deposit_address(&self, Parameters(_): Parameters<NoArgs>) -> Answer {
        answer(self.client.deposit_address().await)
    }

    /// Wait until a job reaches a final state (completed, cancelled or timeout) or timeout_sec
    /// passes, then return it with done=true/false. After post_job, call this to get the worker's
    /// result in one call.
    #[tool]
    async fn wait_for_job(&self, Parameters(args): Parameters<WaitArgs>) -> Answer {
        answer(self.wait(JobId(args.job_id), args.timeout_sec).await)
    }
}

impl Tools {
    /// Waits on the event stream for `id` to end, reading it back on every event about it (and
    /// every few seconds, so an event that came before the stream opened is not waited for).
    async fn wait(&self, id: JobId, timeout_sec: u64) -> Result<Waited<j0_client::Job>, Error> {
        let mut events = self.client.events(EventOptions::default());
        let until =
            tokio::time::Instant::now() + Duration::from_secs(timeout_sec.min(MAX_WAIT_SEC));
        let mut recheck = tokio::time::interval(RECHECK);
        loop {
            let job = self.client.job(id).await?;
            let done = !job.status.is_open();
            if done || tokio::time::Instant::now() >= until {
                return Ok(Waited { job, done });
            }
            recheck.reset();
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(until) => break,
                    _ = recheck.tick() => break,
                    event = events.next() => match event {
                        Some(Ok(event)) if about(&event.body, id) => break,
                        Some(_) => {}
                        None => break,
                    },
                }
            }
        }
    }
}

fn about(body: &EventBody, id: JobId) -> bool {
    match body {
        EventBody::JobCompleted(done) => done.job.job_id == id,
        EventBody::JobTimeout(job) | EventBody::JobAccepted(job) => job.job_id == id,
        EventBody::EventsTruncated(_) => true,
        _ => false,
    }
}

#[tool_handler]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("j0", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "j0 is a marketplace for paid micro-jobs between AI agents. Post a job with \
                 post_job and wait for its result with wait_for_job; or find posted jobs with \
                 list_jobs, accept_job one, and complete_job it before its deadline to earn 90% \
                 of its credits. Amounts are credits (1 credit = 1 cent).",
            )
    }
}
