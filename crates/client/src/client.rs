//! The client: configuration, sign-in, one request loop with retries, and every endpoint.

use std::{sync::Arc, time::Duration};

use ethers_core::rand::{Rng, thread_rng};
use futures_util::{Stream, TryStreamExt, stream};
use reqwest::{Method, header};
use serde::{Serialize, de::DeserializeOwned};
use time::OffsetDateTime;
use tokio::sync::Mutex;

use j0_domain::{
    Cents, JobId, TransactionId, UserId,
    job::{Capability, JobStatus},
};
use j0_wire::{
    BalanceView, Health, IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_MAX_CHARS, JobView,
    auth::{ChallengeRequest, ChallengeResponse, LogoutResponse, VerifyRequest, VerifyResponse},
    credits::{Transaction, Transactions},
    error::ErrorBody,
    jobs::{Cancelled, CompleteRequest, Completed, JobEnvelope, Jobs, PostJobRequest},
    payments::{Checkout, CheckoutRequest, DepositAddress},
    users::{Me, PublicUser},
};

use crate::{Error, Result, Wallet};

/// Where the client goes when neither the caller nor `J0_BASE_URL` says.
pub const DEFAULT_BASE_URL: &str = "https://j0.com/api/v1";
/// The environment variable naming the API's base URL (including `/api/v1`).
pub const BASE_URL_ENV: &str = "J0_BASE_URL";
/// Retries after the first attempt, unless configured otherwise.
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// How long one attempt may take, unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// A token this close to its expiry is renewed before use.
const RENEW_BEFORE_SEC: i64 = 60;
/// The longest a retry waits after a failure, before jitter.
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// The first retry's wait, before jitter; it doubles with every attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// How long an idle connection is kept for reuse: less than the server's keep-alive (actix's
/// 5 s), so the client never sends a request on a connection the server is closing, which
/// fails as a transport error however healthy the server is.
const POOL_IDLE: Duration = Duration::from_secs(4);
/// The server's page limit.
pub const MAX_PAGE: u32 = 100;

/// A typed client of j0's API. Cheap to clone; clones share the session.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    ws_url: String,
    wallet: Option<Wallet>,
    session: Mutex<Option<Session>>,
    max_retries: u32,
}

#[derive(Clone)]
struct Session {
    token: String,
    expires_at: i64,
    user: Option<UserId>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url)
            .field("wallet", &self.inner.wallet)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`]: each setting has a setter of its name. Nothing is sent until the first
/// call.
#[derive(Debug, Default, derive_setters::Setters)]
#[setters(strip_option)]
pub struct ClientBuilder {
    /// The API's base URL, including `/api/v1` (default: `J0_BASE_URL`, else
    /// [`DEFAULT_BASE_URL`]).
    #[setters(into)]
    base_url: Option<String>,
    /// The WebSocket URL (default: derived from the base URL, see [`ws_url_for`]).
    #[setters(into)]
    ws_url: Option<String>,
    /// Sign in with this wallet (and again whenever the session runs out).
    wallet: Option<Wallet>,
    /// Use this session token; with no wallet, the client cannot renew it.
    #[setters(into)]
    token: Option<String>,
    /// Retries after the first attempt of a call, for transport failures, 5xx and 429
    /// (default [`DEFAULT_MAX_RETRIES`]; `0` turns retries off).
    max_retries: Option<u32>,
    /// How long one attempt may take (default [`DEFAULT_TIMEOUT`]).
    timeout: Option<Duration>,
}

impl ClientBuilder {
    /// Sign in with this private key (hex, `0x` optional).
    pub fn private_key(self, key: &str) -> Result<Self> {
        Ok(self.wallet(Wallet::from_private_key(key)?))
    }

    /// The client.
    pub fn build(self) -> Result<Client> {
        let base_url = self
            .base_url
            .or_else(|| {
                std::env::var(BASE_URL_ENV)
                    .ok()
                    .filter(|u| !u.trim().is_empty())
            })
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let base_url = base_url.trim().trim_end_matches('/').to_owned();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(Error::Config(format!(
                "base URL must start with http:// or https://: {base_url}"
            )));
        }
        let ws_url = match self.ws_url {
            Some(url) => url,
            None => ws_url_for(&base_url),
        };
        let http = reqwest::Client::builder()
            .timeout(self.timeout.unwrap_or(DEFAULT_TIMEOUT))
            .pool_idle_timeout(POOL_IDLE)
            .user_agent(concat!("j0-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        let session = self.token.map(|token| Session {
            token,
            expires_at: i64::MAX,
            user: None,
        });
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url,
                ws_url,
                wallet: self.wallet,
                session: Mutex::new(session),
                max_retries: self.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
            }),
        })
    }
}

/// The WebSocket URL of a base URL: `http` → `ws`, `https` → `wss`, and a trailing `/api/v1`
/// replaced by `/ws` (`/ws` is appended when the base has no `/api/v1`).
pub fn ws_url_for(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let base = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_owned()
    };
    let root = base.strip_suffix(j0_wire::BASE_PATH).unwrap_or(&base);
    format!("{root}{}", j0_wire::WS_PATH)
}

/// A job to post. `timeout_sec` and the rest are checked by the server, which names the rule a
/// value breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostJob {
    /// The model a worker must run.
    pub capability: Capability,
    /// What it pays, 5–100 cents.
    pub credits: i64,
    /// Seconds the worker has after accepting, 10–60.
    pub timeout_sec: i64,
    /// 1–10,240 characters.
    pub prompt: String,
    /// Makes a repeated post return the first job instead of posting again; one is generated
    /// per call when none is given, so the client's own retries never post twice.
    pub idempotency_key: Option<String>,
}

impl PostJob {
    /// A job with no idempotency key of the caller's.
    pub fn new(
        capability: Capability,
        credits: i64,
        timeout_sec: i64,
        prompt: impl Into<String>,
    ) -> Self {
        Self {
            capability,
            credits,
            timeout_sec,
            prompt: prompt.into(),
            idempotency_key: None,
        }
    }

    /// The same job with the caller's idempotency key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// Filters and paging of `GET /jobs`; all optional, combined with AND. Each field has a setter
/// of its name taking the value itself (`JobQuery::default().status(JobStatus::Posted)`); the
/// user ids' are `requester` and `worker`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, derive_setters::Setters)]
#[setters(strip_option)]
pub struct JobQuery {
    /// Only jobs in this state.
    pub status: Option<JobStatus>,
    /// Only jobs for this model.
    pub capability: Option<Capability>,
    /// Only jobs posted by this user.
    #[setters(rename = "requester")]
    pub requester_id: Option<UserId>,
    /// Only jobs accepted by this user.
    #[setters(rename = "worker")]
    pub worker_id: Option<UserId>,
    /// Jobs per page (server default 50, at most 100).
    pub limit: Option<u32>,
    /// Only jobs with a smaller id.
    pub before: Option<JobId>,
}

impl JobQuery {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(s) = self.status {
            pairs.push(("status", s.as_str().to_owned()));
        }
        if let Some(c) = self.capability {
            pairs.push(("capability", c.as_str().to_owned()));
        }
        if let Some(u) = self.requester_id {
            pairs.push(("requester_id", u.to_string()));
        }
        if let Some(u) = self.worker_id {
            pairs.push(("worker_id", u.to_string()));
        }
        if let Some(l) = self.limit {
            pairs.push(("limit", l.to_string()));
        }
        if let Some(b) = self.before {
            pairs.push(("before", b.to_string()));
        }
        pairs
    }
}

/// One request, as often as it is tried.
struct Call {
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    authenticated: bool,
    idempotency_key: Option<String>,
}

impl Call {
    fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            query: Vec::new(),
            body: None,
            authenticated: true,
            idempotency_key: None,
        }
    }

    fn post(path: impl Into<String>) -> Self {
        Self {
            method: Method::POST,
            ..Self::get(path)
        }
    }

    fn json<T: Serialize>(mut self, body: &T) -> Result<Self> {
        let bytes = serde_json::to_vec(body).map_err(|e| Error::Config(format!("body: {e}")))?;
        self.body = Some(bytes);
        Ok(self)
    }

    fn anonymous(mut self) -> Self {
        self.authenticated = false;
        self
    }
}

/// A call's result, and whether an earlier attempt may have reached the server with its
/// answer lost on the way back.
struct Outcome<T> {
    result: Result<T>,
    answer_lost: bool,
}

impl Client {
    /// A builder.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client signing in with `private_key`, at `J0_BASE_URL` or [`DEFAULT_BASE_URL`].
    pub fn new(private_key: &str) -> Result<Self> {
        Self::builder().private_key(private_key)?.build()
    }

    /// The API's base URL.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The WebSocket URL.
    pub fn ws_url(&self) -> &str {
        &self.inner.ws_url
    }

    /// The signing wallet, if any.
    pub fn wallet(&self) -> Option<&Wallet> {
        self.inner.wallet.as_ref()
    }

    /// Signs in now (one challenge, one verify) and returns the user.
    pub async fn authenticate(&self) -> Result<Me> {
        let wallet = self
            .inner
            .wallet
            .as_ref()
            .ok_or_else(|| Error::Config("authenticate needs a private key".into()))?;
        let mut session = self.inner.session.lock().await;
        let verified = self.sign_in(wallet).await?;
        *session = Some(Session {
            token: verified.token,
            expires_at: verified.expires_at,
            user: Some(verified.user.id),
        });
        Ok(verified.user)
    }

    /// The current session token, signing in first if there is none or it is about to expire.
    pub async fn token(&self) -> Result<String> {
        Ok(self.session().await?.token)
    }

    /// The signed-in user's id (signing in first if needed).
    pub async fn user_id(&self) -> Result<UserId> {
        if let Some(user) = self.session().await?.user {
            return Ok(user);
        }
        let me = self.me().await?;
        if let Some(session) = self.inner.session.lock().await.as_mut() {
            session.user = Some(me.id);
        }
        Ok(me.id)
    }

    async fn session(&self) -> Result<Session> {
        let mut session = self.inner.session.lock().await;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        if let Some(current) = session.as_ref()
            && (self.inner.wallet.is_none()
                || current.expires_at.saturating_sub(now) > RENEW_BEFORE_SEC)
        {
            return Ok(current.clone());
        }
        let wallet = self
            .inner
            .wallet
            .as_ref()
            .ok_or_else(|| Error::Unauthorized {
                message: "no session: give the client a private key or a token".into(),
            })?;
        let verified = self.sign_in(wallet).await?;
        let fresh = Session {
            token: verified.token,
            expires_at: verified.expires_at,
            user: Some(verified.user.id),
        };
        *session = Some(fresh.clone());
        Ok(fresh)
    }

    /// Forgets `stale` if it is still the session, so the next call signs in again.
    pub(crate) async fn drop_session(&self, stale: &str) {
        let mut session = self.inner.session.lock().await;
        if session.as_ref().is_some_and(|s| s.token == stale) {
            *session = None;
        }
    }

    async fn sign_in(&self, wallet: &Wallet) -> Result<VerifyResponse> {
        let public_key = wallet.address().to_string();
        let challenge = Call::post("/auth/challenge")
            .anonymous()
            .json(&ChallengeRequest {
                public_key: public_key.clone(),
            })?;
        let challenge: ChallengeResponse = self.attempts(&challenge, None).await.result?;
        let signature = wallet.sign_personal(&challenge.message_to_sign);
        let verify = Call::post("/auth/verify")
            .anonymous()
            .json(&VerifyRequest {
                public_key,
                challenge_nonce: challenge.challenge.nonce,
                signature,
            })?;
        self.attempts(&verify, None).await.result
    }

    async fn call<T: DeserializeOwned>(&self, call: Call) -> Result<T> {
        self.call_tracked(call).await.result
    }

    /// Sends `call` with the session's token (signing in as needed); a 401 signs in again once
    /// (with a wallet) and tries once more.
    async fn call_tracked<T: DeserializeOwned>(&self, call: Call) -> Outcome<T> {
        if !call.authenticated {
            return self.attempts(&call, None).await;
        }
        let mut signed_in_again = false;
        let mut answer_lost = false;
        loop {
            let token = match self.session().await {
                Ok(session) => session.token,
                Err(e) => {
                    return Outcome {
                        result: Err(e),
                        answer_lost,
                    };
                }
            };
            let outcome = self.attempts(&call, Some(&token)).await;
            answer_lost |= outcome.answer_lost;
            match outcome.result {
                Err(Error::Unauthorized { .. })
                    if !signed_in_again && self.inner.wallet.is_some() =>
                {
                    signed_in_again = true;
                    self.drop_session(&token).await;
                }
                result => {
                    return Outcome {
                        result,
                        answer_lost,
                    };
                }
            }
        }
    }

    /// Sends `call` until it succeeds, fails for good, or the retries run out.
    async fn attempts<T: DeserializeOwned>(&self, call: &Call, token: Option<&str>) -> Outcome<T> {
        let mut answer_lost = false;
        let mut attempt = 0;
        loop {
            match self.send(call, token).await {
                Err(e) if e.is_retryable() && attempt < self.inner.max_retries => {
                    if let Error::Transport(t) = &e
                        && !t.is_connect()
                    {
                        answer_lost = true;
                    }
                    let wait = backoff(&e, attempt);
                    tracing::debug!(error = %e, attempt, wait_ms = wait.as_millis() as u64, path = %call.path, "retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                result => {
                    return Outcome {
                        result,
                        answer_lost,
                    };
                }
            }
        }
    }

    /// One attempt.
    async fn send<T: DeserializeOwned>(&self, call: &Call, token: Option<&str>) -> Result<T> {
        let mut url = format!("{}{}", self.inner.base_url, call.path);
        for (i, (name, value)) in call.query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(name);
            url.push('=');
            url.push_str(value);
        }
        let mut request = self.inner.http.request(call.method.clone(), url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = &call.idempotency_key {
            request = request.header(IDEMPOTENCY_KEY, key);
        }
        if let Some(body) = &call.body {
            request = request
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let response = request.send().await.map_err(Error::Transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let bytes = response.bytes().await.map_err(Error::Transport)?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&bytes).map_err(|e| Error::Protocol {
                status,
                message: format!("{}: {e}", call.path),
            });
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(Error::from_api(status, body, retry_after)),
            Err(_) => Err(Error::Protocol {
                status,
                message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            }),
        }
    }

    /// `GET /health`.
    pub async fn health(&self) -> Result<Health> {
        self.call(Call::get("/health").anonymous()).await
    }

    /// `POST /auth/logout`: revokes the session's token. The next call signs in again (with a
    /// wallet) or is refused.
    pub async fn logout(&self) -> Result<()> {
        let token = self.token().await?;
        let _: LogoutResponse = self.call(Call::post("/auth/logout")).await?;
        self.drop_session(&token).await;
        Ok(())
    }

    /// `GET /users/me`.
    pub async fn me(&self) -> Result<Me> {
        self.call(Call::get("/users/me")).await
    }

    /// `GET /users/:id`: what anyone may see of a user.
    pub async fn user(&self, id: UserId) -> Result<PublicUser> {
        self.call(Call::get(format!("/users/{id}")).anonymous())
            .await
    }

    /// `GET /credits/balance`.
    pub async fn balance(&self) -> Result<BalanceView> {
        self.call(Call::get("/credits/balance")).await
    }

    /// `GET /credits/transactions`: one page, newest first.
    pub async fn transactions(
        &self,
        limit: Option<u32>,
        before: Option<TransactionId>,
    ) -> Result<Vec<Transaction>> {
        let mut call = Call::get("/credits/transactions");
        if let Some(limit) = limit {
            call.query.push(("limit", limit.to_string()));
        }
        if let Some(before) = before {
            call.query.push(("before", before.to_string()));
        }
        let page: Transactions = self.call(call).await?;
        Ok(page.transactions)
    }

    /// The whole history, newest first, a page of 100 at a time.
    pub fn transactions_stream(&self) -> impl Stream<Item = Result<Transaction>> + Send + 'static {
        let client = self.clone();
        paged(
            move |before| {
                let client = client.clone();
                async move {
                    client
                        .transactions(Some(MAX_PAGE), before.map(TransactionId))
                        .await
                }
            },
            |t: &Transaction| t.id.get(),
        )
    }

    /// `POST /jobs`: posts a job, moving its credits into escrow. Always sends an
    /// `Idempotency-Key` (the caller's, or one generated for this call), so a retry after a
    /// lost answer returns the same job instead of posting twice.
    pub async fn post_job(&self, job: PostJob) -> Result<JobView> {
        let key = job
            .idempotency_key
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        if key.is_empty() || key.chars().count() > IDEMPOTENCY_KEY_MAX_CHARS {
            return Err(Error::invalid("Idempotency-Key: must be 1-255 characters"));
        }
        let mut call = Call::post("/jobs").json(&PostJobRequest {
            capability: job.capability,
            credits: job.credits,
            timeout_sec: job.timeout_sec,
            prompt: job.prompt,
        })?;
        call.idempotency_key = Some(key);
        let posted: JobEnvelope = self.call(call).await?;
        Ok(posted.job)
    }

    /// `GET /jobs`: one page, newest first.
    pub async fn jobs(&self, query: JobQuery) -> Result<Vec<JobView>> {
        let mut call = Call::get("/jobs");
        call.query = query.pairs();
        let page: Jobs = self.call(call).await?;
        Ok(page.jobs)
    }

    /// Every job matching `query` (its `before` is where to start), newest first, following
    /// `before=` page by page.
    pub fn jobs_stream(
        &self,
        query: JobQuery,
    ) -> impl Stream<Item = Result<JobView>> + Send + 'static {
        let client = self.clone();
        let limit = query.limit.unwrap_or(MAX_PAGE);
        let start = query.before;
        paged(
            move |before| {
                let client = client.clone();
                let query = JobQuery {
                    limit: Some(limit),
                    before: before.map(JobId).or(start),
                    ..query
                };
                async move { client.jobs(query).await }
            },
            |j: &JobView| j.job_id.get(),
        )
    }

    /// `GET /jobs/:id`.
    pub async fn job(&self, id: JobId) -> Result<JobView> {
        self.call(Call::get(format!("/jobs/{id}"))).await
    }

    /// `POST /jobs/:id/accept`: the first accept wins and sees the full prompt. If an earlier
    /// attempt's answer was lost and the retry hears `JOB_ALREADY_ACCEPTED`, the job is read
    /// back: when this user is its worker, that accept was this call's.
    pub async fn accept_job(&self, id: JobId) -> Result<JobView> {
        let outcome = self
            .call_tracked::<JobEnvelope>(Call::post(format!("/jobs/{id}/accept")))
            .await;
        match outcome.result {
            Ok(accepted) => Ok(accepted.job),
            Err(e @ Error::JobAlreadyAccepted { .. }) if outcome.answer_lost => {
                let job = self.job(id).await?;
                if job.worker_id == Some(self.user_id().await?) {
                    Ok(job)
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        }
    }

    /// `POST /jobs/:id/complete`: submits the result and pays the worker. If an earlier
    /// attempt's answer was lost and the retry hears `JOB_NOT_ACCEPTED`, the job is read back:
    /// completed with this user as its worker, that completion was this call's.
    pub async fn complete_job(&self, id: JobId, result: impl Into<String>) -> Result<Completed> {
        let call = Call::post(format!("/jobs/{id}/complete")).json(&CompleteRequest {
            result: result.into(),
        })?;
        let outcome = self.call_tracked::<Completed>(call).await;
        match outcome.result {
            Err(e @ Error::JobNotAccepted { .. }) if outcome.answer_lost => {
                let job = self.job(id).await?;
                if job.status == JobStatus::Completed
                    && job.worker_id == Some(self.user_id().await?)
                {
                    let credits_earned = j0_domain::ledger::worker_payout(job.credits);
                    Ok(Completed {
                        job,
                        credits_earned,
                    })
                } else {
                    Err(e)
                }
            }
            other => other,
        }
    }

    /// `POST /jobs/:id/cancel`: withdraws a job nobody accepted; its credits go back. If an
    /// earlier attempt's answer was lost and the retry hears `JOB_NOT_AVAILABLE`, the job is
    /// read back: cancelled, that cancellation was this call's.
    pub async fn cancel_job(&self, id: JobId) -> Result<Cancelled> {
        let outcome = self
            .call_tracked::<Cancelled>(Call::post(format!("/jobs/{id}/cancel")))
            .await;
        match outcome.result {
            Err(e @ Error::JobNotAvailable { .. }) if outcome.answer_lost => {
                let job = self.job(id).await?;
                if job.status == JobStatus::Cancelled {
                    let credits_refunded: Cents = job.credits;
                    Ok(Cancelled {
                        job,
                        credits_refunded,
                    })
                } else {
                    Err(e)
                }
            }
            other => other,
        }
    }

    /// `POST /payments/stripe/checkout`: a Checkout page where a person pays `amount_usd`
    /// dollars (5, 10, 20, 50 or 100) for `amount_usd * 95` cents of credits.
    pub async fn buy_credits(&self, amount_usd: i64) -> Result<Checkout> {
        self.call(Call::post("/payments/stripe/checkout").json(&CheckoutRequest { amount_usd })?)
            .await
    }

    /// `GET /payments/usdc/address`: this user's own USDC deposit address on Base.
    pub async fn deposit_address(&self) -> Result<DepositAddress> {
        self.call(Call::get("/payments/usdc/address")).await
    }
}

/// How long to wait before retrying after `error` on attempt `attempt` (0-based): the server's
/// `retry_after` on a 429, else exponential backoff; both with jitter, so clients that failed
/// together do not retry together.
fn backoff(error: &Error, attempt: u32) -> Duration {
    let mut rng = thread_rng();
    if let Error::RateLimited { retry_after, .. } = error {
        return Duration::from_secs(*retry_after) + Duration::from_millis(rng.gen_range(0..250));
    }
    let ceiling = FIRST_BACKOFF
        .saturating_mul(1 << attempt.min(16))
        .min(MAX_BACKOFF);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rng.gen_range(millis / 2..=millis))
}

/// The items of every page `fetch(before)` returns, following the last item's id until a page
/// comes back empty.
fn paged<T, F, Fut>(
    fetch: F,
    id_of: fn(&T) -> i64,
) -> impl Stream<Item = Result<T>> + Send + 'static
where
    T: Send + 'static,
    F: Fn(Option<i64>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<Vec<T>>> + Send,
{
    stream::try_unfold(
        (fetch, None::<i64>, false),
        move |(fetch, before, done)| async move {
            if done {
                return Ok::<_, Error>(None);
            }
            let page = fetch(before).await?;
            let next = page.last().map(id_of);
            let done = next.is_none();
            Ok(Some((
                stream::iter(page.into_iter().map(Ok)),
                (fetch, next, done),
            )))
        },
    )
    .try_flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_websocket_url_follows_the_base_url() {
        for (base, ws) in [
            ("http://127.0.0.1:8080/api/v1", "ws://127.0.0.1:8080/ws"),
            ("https://j0.com/api/v1/", "wss://j0.com/ws"),
            ("https://example.com/j0/api/v1", "wss://example.com/j0/ws"),
            ("http://localhost:9000", "ws://localhost:9000/ws"),
        ] {
            assert_eq!(ws_url_for(base), ws, "{base}");
        }
    }

    #[test]
    fn the_base_url_comes_from_the_caller_then_the_default() {
        let client = Client::builder()
            .base_url("http://127.0.0.1:1/api/v1/")
            .build()
            .unwrap();
        assert_eq!(client.base_url(), "http://127.0.0.1:1/api/v1");
        assert_eq!(client.ws_url(), "ws://127.0.0.1:1/ws");
        assert!(matches!(
            Client::builder().base_url("ftp://x").build(),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn backoff_grows_and_is_capped_and_honours_retry_after() {
        let transportish = Error::ServiceUnavailable {
            message: String::new(),
        };
        assert!(backoff(&transportish, 0) <= FIRST_BACKOFF);
        assert!(backoff(&transportish, 30) <= MAX_BACKOFF);
        assert!(backoff(&transportish, 3) >= FIRST_BACKOFF * 4);
        let limited = Error::RateLimited {
            retry_after: 2,
            message: String::new(),
        };
        let wait = backoff(&limited, 0);
        assert!(wait >= Duration::from_secs(2) && wait < Duration::from_millis(2250));
    }
}
