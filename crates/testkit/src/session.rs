//! A signed-in user (the typed client and what it signed in with) and the raw HTTP kept for the
//! requests a typed client cannot send.

use std::{ops::Deref, sync::Arc, time::Duration};

use reqwest::{
    Method, StatusCode,
    header::{self, HeaderMap},
};
use serde_json::Value;

use j0_client::{
    Client, Completed, Error, HistoryType, Job, JobId, JobStatus, Transaction, UserId,
};

use crate::{TestApp, Wallet, opus};

/// How long a `wait_for_*` helper waits for what it waits for.
const PATIENCE: Duration = Duration::from_secs(30);
/// How often it looks again.
const POLL: Duration = Duration::from_millis(50);

/// A signed-in user: the typed client (which the session derefs to, so `worker.accept_job(id)`
/// is the client's call), its token and its wallet.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user's id.
    pub user_id: UserId,
    /// The bearer token.
    pub token: String,
    /// The wallet that signed in.
    pub wallet: Arc<Wallet>,
    /// The client, signed in as this user, retrying nothing (tests see every answer).
    pub client: Client,
    http: reqwest::Client,
}

impl Deref for Session {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

/// A client of `api` (`http://host:port/api/v1`) signing in with `wallet`, without retries.
pub fn client_at(api: &str, wallet: Wallet) -> Client {
    Client::builder()
        .base_url(api)
        .wallet(wallet)
        .max_retries(0)
        .build()
        .expect("client")
}

/// Signs `wallet` in through challenge and verify at `api` (`http://host:port/api/v1`), any
/// running j0, in-process or not.
pub async fn sign_in_at(api: &str, wallet: Wallet) -> Session {
    let client = client_at(api, wallet.clone());
    let me = client.authenticate().await.expect("sign in");
    Session {
        user_id: me.id,
        token: client.token().await.expect("token"),
        wallet: Arc::new(wallet),
        client,
        http: reqwest::Client::new(),
    }
}

impl Session {
    /// The same user, with the same token, on `app`: another instance of the service.
    pub fn on(&self, app: &TestApp) -> Session {
        if self.client.base_url() == app.url("") {
            return self.clone();
        }
        Session {
            client: app.client_with_token(&self.token),
            ..self.clone()
        }
    }

    /// Raw HTTP as this user, for requests a typed client cannot send.
    pub fn raw(&self) -> Raw {
        Raw {
            http: self.http.clone(),
            api: self.client.base_url().to_owned(),
            token: Some(self.token.clone()),
        }
    }

    /// Posts `opus(credits)` and returns the job's id.
    pub async fn post_opus(&self, credits: i64) -> JobId {
        self.post_job(opus(credits))
            .await
            .expect("post a job")
            .job_id
    }

    /// Posts `opus(credits)` and cancels it; returns the job's id.
    pub async fn post_cancelled(&self, credits: i64) -> JobId {
        let id = self.post_opus(credits).await;
        self.cancel_job(id).await.expect("cancel the job");
        id
    }

    /// Posts `opus(credits)`, which `worker` accepts; returns the job's id.
    pub async fn job_accepted_by(&self, worker: &Session, credits: i64) -> JobId {
        let id = self.post_opus(credits).await;
        worker.accept_job(id).await.expect("accept the job");
        id
    }

    /// Posts `opus(credits)`, which `worker` accepts and completes with the result `r`; returns
    /// what completing answered.
    pub async fn job_completed_by(&self, worker: &Session, credits: i64) -> Completed {
        let id = self.job_accepted_by(worker, credits).await;
        worker
            .complete_job(id, "r")
            .await
            .expect("complete the job")
    }

    /// The balance as `(cash, promo)`, asserting that the total is their sum.
    pub async fn buckets(&self) -> (i64, i64) {
        let b = self.balance().await.expect("balance");
        assert_eq!(
            b.total_cents.get(),
            b.cash_cents.get() + b.promo_cents.get()
        );
        (b.cash_cents.get(), b.promo_cents.get())
    }

    /// The last 100 history rows of type `kind`, newest first.
    pub async fn transactions_of(&self, kind: HistoryType) -> Vec<Transaction> {
        self.transactions(Some(100), None)
            .await
            .expect("transactions")
            .into_iter()
            .filter(|t| t.kind == kind)
            .collect()
    }

    /// Waits (bounded) until job `id` reaches `status` as this user sees it.
    pub async fn wait_for_status(&self, id: JobId, status: JobStatus) -> Job {
        let mut last = None;
        for _ in 0..PATIENCE.as_millis() / POLL.as_millis() {
            let job = self.job(id).await.expect("read the job");
            if job.status == status {
                return job;
            }
            last = Some(job.status);
            tokio::time::sleep(POLL).await;
        }
        panic!("job {id} never reached {status}: still {last:?}");
    }

    /// Waits (bounded) until this user's cash is `cash`.
    pub async fn wait_for_cash(&self, cash: i64) {
        let mut last = (0, 0);
        for _ in 0..PATIENCE.as_millis() / POLL.as_millis() {
            last = self.buckets().await;
            if last.0 == cash {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
        panic!("cash never reached {cash}: (cash, promo) is {last:?}");
    }
}

/// Raw HTTP to one server's `/api/v1`, anonymously or as one user: for the requests a typed
/// client cannot send (malformed, mistyped or oversized bodies, ids out of range, odd headers)
/// and for answers checked to their status, headers and exact JSON.
#[derive(Debug, Clone)]
pub struct Raw {
    http: reqwest::Client,
    api: String,
    token: Option<String>,
}

impl Raw {
    /// Raw HTTP to `api` (`http://host:port/api/v1`), without authentication.
    pub fn anonymous(http: reqwest::Client, api: String) -> Self {
        Self {
            http,
            api,
            token: None,
        }
    }

    /// A request to `/api/v1` + `path`, with the bearer token if there is one, to add to.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.api));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends `method path` with an optional JSON body.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Response {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        Response::of(request).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Response {
        self.call(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.call(Method::POST, path, Some(body)).await
    }

    /// `POST path` without a body.
    pub async fn post_empty(&self, path: &str) -> Response {
        self.call(Method::POST, path, None).await
    }
}

/// An HTTP answer: status, headers and the JSON body (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Parsed body.
    pub body: Value,
}

impl Response {
    /// Sends `request` and reads its answer.
    pub async fn of(request: reqwest::RequestBuilder) -> Self {
        Self::read(request.send().await.expect("request sent")).await
    }

    /// Reads an answer.
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("response body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            body,
        }
    }

    /// This answer as the client reports a refusal: [`Error::from_api`] of its status, body and
    /// `Retry-After`.
    pub fn refusal(&self) -> Error {
        let body = serde_json::from_value(self.body.clone()).expect("an error body");
        let retry_after = self
            .headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        Error::from_api(self.status.as_u16(), body, retry_after)
    }

    /// `OK` for a success, else the error's code: how races tally their answers.
    pub fn outcome(&self) -> &str {
        if self.status.is_success() {
            "OK"
        } else {
            self.code()
        }
    }

    /// The error `code` of an error body.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    /// Asserts the status is 200 and returns the body.
    #[track_caller]
    pub fn ok(self) -> Value {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "unexpected answer: {}",
            self.body
        );
        self.body
    }

    /// Asserts an error status and code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status.as_u16(), self.code()),
            (status, code),
            "unexpected answer: {}",
            self.body
        );
    }

    /// Asserts a 429 as the contract words it: `RATE_LIMITED`, `retry_after` of at least a
    /// second in the body, and the same in `Retry-After`.
    #[track_caller]
    pub fn assert_limited(&self) {
        self.assert_error(429, "RATE_LIMITED");
        assert_eq!(self.body["error"], "Rate limit exceeded");
        let seconds = self.body["retry_after"].as_u64().expect("retry_after");
        assert!(seconds >= 1);
        assert_eq!(
            self.headers[header::RETRY_AFTER]
                .to_str()
                .expect("Retry-After"),
            seconds.to_string()
        );
    }
}
