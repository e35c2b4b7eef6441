//! The real server on port 0 against a test's own database, and its users.

use std::{net::SocketAddr, sync::Arc};

use serde_json::Value;

use j0_adapters_postgres::PgStore;
use j0_app::Marketplace;
use j0_client::{Client, ClientBuilder};
use j0_domain::Cents;
use j0_ports::Randomness;
use j0_server::{Config, OsRandomness, Running, TEST_JWT_SECRET};

use crate::{Raw, Session, TestClock, TestDatabase, Wallet, sign_in_at};

/// A running j0 and what a test needs around it.
#[derive(Debug)]
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// Where its metrics listener listens, when started with `metrics_bind` set.
    pub metrics_addr: Option<SocketAddr>,
    /// The clock the server reads; advance it to expire things.
    pub clock: Arc<TestClock>,
    /// The configuration it was started with.
    pub config: Config,
    /// The use cases on the same database, for what tests do behind the API (operator
    /// commands, a second sweeper).
    pub core: Marketplace,
    /// A client that keeps no cookies.
    pub http: reqwest::Client,
    running: Option<Running>,
    /// The test's database, shared with peers; dropped after the last server stops.
    pub db: Arc<TestDatabase>,
}

/// A table lock held by [`TestApp::lock_table`]; dropping it closes its connection, which
/// releases the lock too.
pub struct TableLock {
    conn: diesel_async::AsyncPgConnection,
}

impl std::fmt::Debug for TableLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableLock").finish_non_exhaustive()
    }
}

impl TableLock {
    /// Releases the lock.
    pub async fn release(mut self) {
        use diesel_async::SimpleAsyncConnection;
        self.conn.batch_execute("ROLLBACK").await.expect("unlock");
    }
}

/// Turns the server's own sweeper down to once an hour, so that only the test expires jobs:
/// `spawn_app_with(no_sweeper)`.
pub fn no_sweeper(config: &mut Config) {
    config.jobs.sweep_interval_ms = 3_600_000;
}

/// Starts j0 against a fresh database with the test configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts j0 with the test configuration changed by `adjust`.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let db = Arc::new(TestDatabase::new().await);
    let mut config = test_config(&db);
    adjust(&mut config);
    start(config, db, Arc::new(TestClock::default())).await
}

fn test_config(db: &TestDatabase) -> Config {
    let mut config = Config::for_tests();
    config.database.url = Some(db.url().into());
    config
}

async fn start(config: Config, db: Arc<TestDatabase>, clock: Arc<TestClock>) -> TestApp {
    let secret = j0_server::secret::load(config.auth.jwt_secret.as_ref(), &config.state_dir)
        .expect("test JWT secret");
    let running = j0_server::start(&config, db.url(), &secret, clock.clone())
        .await
        .expect("start j0");
    let store = PgStore::connect(db.url(), 8).expect("test store");
    let core = j0_server::build_app(&store, clock.clone(), Arc::new(OsRandomness), &config)
        .expect("build the use cases");
    TestApp {
        base_url: format!("http://{}", running.addr),
        metrics_addr: running.metrics_addr,
        clock,
        config,
        core,
        http: reqwest::Client::builder().build().expect("http client"),
        running: Some(running),
        db,
    }
}

impl TestApp {
    /// `/api/v1` + `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base_url)
    }

    /// `GET path` from this server's root, outside the API (`/docs`, `/metrics`), as a browser
    /// would: redirects followed, nothing checked.
    pub async fn get_page(&self, path: &str) -> reqwest::Response {
        let url = format!("{}{path}", self.base_url);
        self.http.get(url).send().await.expect("the server answers")
    }

    /// Raw HTTP to this server, without authentication: for requests a typed client cannot
    /// send. [`Session::raw`] is the same as a user.
    pub fn raw(&self) -> Raw {
        Raw::anonymous(self.http.clone(), self.url(""))
    }

    /// Asks for a sign-in challenge for `address`, raw: the client asks for one only inside
    /// signing in.
    pub async fn challenge(&self, address: &str) -> crate::Response {
        let body = serde_json::json!({ "public_key": address });
        self.raw().post("/auth/challenge", &body).await
    }

    /// A client of this server with no session, for the calls anyone may make.
    pub fn anonymous(&self) -> Client {
        self.client_builder().build().expect("client")
    }

    /// A client of this server sending `token`, whatever it is, and never signing in.
    pub fn client_with_token(&self, token: &str) -> Client {
        self.client_builder().token(token).build().expect("client")
    }

    fn client_builder(&self) -> ClientBuilder {
        Client::builder().base_url(self.url("")).max_retries(0)
    }

    /// Signs `wallet` in through challenge and verify.
    pub async fn sign_in(&self, wallet: Wallet) -> Session {
        sign_in_at(&self.url(""), wallet).await
    }

    /// A new user with a random wallet.
    pub async fn new_user(&self) -> Session {
        self.sign_in(Wallet::random()).await
    }

    /// A new user holding `promo` cents of promo credit, granted by the operator command.
    pub async fn funded_user(&self, promo: i64) -> Session {
        let session = self.new_user().await;
        self.core
            .grant_promo(session.user_id, Cents::new(promo))
            .await
            .expect("grant promo");
        session
    }

    /// Asserts that every ledger invariant holds.
    #[track_caller]
    pub fn assert_ledger_clean(&self) -> impl std::future::Future<Output = ()> + '_ {
        let caller = std::panic::Location::caller();
        async move {
            let report = self.core.audit_ledger().await.expect("audit the ledger");
            assert!(
                report.is_clean(),
                "ledger audit failed (called at {caller}):\n{}",
                j0_server::audit::render(&report)
            );
        }
    }

    /// The use cases on this database reading their own clock, e.g. a sweeper ahead in time.
    pub fn core_with_clock(&self, clock: Arc<TestClock>) -> Marketplace {
        self.core_with(clock, Arc::new(OsRandomness))
    }

    /// The use cases on this server's database, with their own clock and randomness.
    pub fn core_with(&self, clock: Arc<TestClock>, random: Arc<dyn Randomness>) -> Marketplace {
        let store = PgStore::connect(self.db.url(), 8).expect("test store");
        j0_server::build_app(&store, clock, random, &self.config).expect("build the use cases")
    }

    /// Every outbox event so far, oldest first, as `(event, recipient, data)`.
    pub async fn outbox(&self) -> Vec<(String, Option<i64>, Value)> {
        use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            event: String,
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
            recipient_id: Option<i64>,
            #[diesel(sql_type = diesel::sql_types::Jsonb)]
            data: Value,
        }
        let mut conn = AsyncPgConnection::establish(self.db.url())
            .await
            .expect("connect");
        let rows: Vec<Row> =
            diesel::sql_query("SELECT event, recipient_id, data FROM events ORDER BY id")
                .load(&mut conn)
                .await
                .expect("read the outbox");
        rows.into_iter()
            .map(|r| (r.event, r.recipient_id, r.data))
            .collect()
    }

    /// Writes `n` broadcast events of about `bytes` bytes each straight into the outbox.
    pub async fn insert_broadcast_events(&self, n: i64, bytes: usize) {
        use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
        let mut conn = AsyncPgConnection::establish(self.db.url())
            .await
            .expect("connect");
        diesel::sql_query(
            "INSERT INTO events (event, data, created_at)
             SELECT 'job.posted', jsonb_build_object('job_id', g, 'capability', 'opus', 'pad', repeat('x', $2)), now()
             FROM generate_series(1, $1) g",
        )
        .bind::<diesel::sql_types::BigInt, _>(n)
        .bind::<diesel::sql_types::Integer, _>(bytes as i32)
        .execute(&mut conn)
        .await
        .expect("insert events");
    }

    /// Locks `table` against every other statement until the returned lock is released, so
    /// requests that read it wait, each holding one of the server's pool connections.
    pub async fn lock_table(&self, table: &str) -> TableLock {
        use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
        let mut conn = AsyncPgConnection::establish(self.db.url())
            .await
            .expect("connect");
        conn.batch_execute(&format!(
            "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
        ))
        .await
        .expect("lock the table");
        TableLock { conn }
    }

    /// Terminates this database's event-listener connections; returns how many.
    pub async fn kill_event_listeners(&self) -> usize {
        use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
        let mut conn = AsyncPgConnection::establish(self.db.url())
            .await
            .expect("connect");
        diesel::sql_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = $1 AND datname = current_database()",
        )
        .bind::<diesel::sql_types::Text, _>(j0_adapters_postgres::LISTENER_APPLICATION_NAME)
        .execute(&mut conn)
        .await
        .expect("terminate listeners")
    }

    /// A second server on the same database and clock: another instance of the service.
    pub async fn spawn_peer(&self) -> TestApp {
        start(self.config.clone(), self.db.clone(), self.clock.clone()).await
    }

    /// Scrapes `GET /metrics` from this server's metrics listener: the exposition text, after
    /// checking the status and the content type.
    pub async fn scrape_metrics(&self) -> String {
        let addr = self
            .metrics_addr
            .expect("a metrics listener: start the server with metrics_bind set");
        let response = self
            .http
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .expect("scrape the metrics");
        assert_eq!(
            response.status(),
            reqwest::StatusCode::OK,
            "scraping /metrics"
        );
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "the text exposition format, not {content_type:?}"
        );
        response.text().await.expect("the metrics text")
    }

    /// `ws://…/ws` on this server.
    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.base_url.replacen("http", "ws", 1))
    }

    /// Stops the server gracefully.
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("stop j0");
        }
    }
}

/// Randomness that draws the same byte over and over, for tests that fix nonces and token ids.
#[derive(Debug, Clone, Copy)]
pub struct FixedRandomness(pub u8);

impl Randomness for FixedRandomness {
    fn fill(&self, bytes: &mut [u8]) -> Result<(), j0_ports::RandomnessError> {
        bytes.fill(self.0);
        Ok(())
    }
}

/// The secret test servers sign tokens with, for tests that forge tokens.
pub fn app_secret() -> &'static [u8] {
    TEST_JWT_SECRET.as_bytes()
}
