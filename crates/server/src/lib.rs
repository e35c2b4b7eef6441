//! The `j0` service: configuration, wiring of adapters into the use cases, the HTTP and
//! WebSocket server and the background tasks. `main.rs` is the command line over this; the
//! test kit starts the same [`start`] on port 0.

use std::{
    net::{SocketAddr, TcpListener},
    sync::Arc,
    time::Duration,
};

use actix_web::{App, HttpServer, dev::ServerHandle, middleware, web};
use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use secrecy::ExposeSecret;
use tokio::{sync::watch, task::JoinHandle};
use tracing_actix_web::TracingLogger;

use j0_adapters_evm::{Create2Deposits, EthSignatureVerifier, JsonRpcChain};
use j0_adapters_postgres::PgStore;
use j0_adapters_stripe::StripeGateway;
use j0_api::{
    ApiState, TokenService,
    ratelimit::{RateLimits, RatePerMinute, SharedLimits},
};
use j0_app::{CheckoutSettings, DepositSettings, Marketplace, Scan, ScanError, Settings};
use j0_domain::{Cents, auth::AuthDomain, chain::holds_real_money, job::OpenJobsCap};
use j0_pg_local::PrivateCluster;
use j0_ports::{
    Clock, ErrorChain, Ports, Randomness, RandomnessError, chain::ChainReader,
    payments::PaymentProvider,
};
use j0_ws::{Hub, WsState};

pub mod audit;
pub mod config;
mod exporter;
mod request_span;
pub mod secret;
pub mod state_dir;

use config::{ChainConfig, PaymentsConfig};
pub use config::{Config, TEST_JWT_SECRET};
use request_span::RequestSpan;

/// Jobs timed out per sweeper transaction.
const SWEEP_BATCH: i64 = 100;
/// How often expired challenges, revocations and idempotency keys are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// How often committed outbox events are numbered for delivery.
const SEQUENCE_EVERY: Duration = Duration::from_millis(50);
/// Events numbered per sequencer round.
const SEQUENCE_BATCH: i64 = 1000;
/// How often events past their retention are pruned (the contract allows 10 s of lag).
const PRUNE_EVENTS_EVERY: Duration = Duration::from_secs(5);
/// How often recorded latencies are folded into their histograms between scrapes.
const METRICS_UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The database to use: `DATABASE_URL`, or the private cluster under `<state>/pg`, started or
/// reused, with its `j0` database created on first use.
pub async fn database_url(config: &Config) -> anyhow::Result<String> {
    if let Some(url) = &config.database.url {
        return Ok(url.expose_secret().to_owned());
    }
    state_dir::prepare(&config.state_dir)?;
    let root = config.state_dir.join("pg");
    let cluster = tokio::task::spawn_blocking(move || PrivateCluster::start_or_reuse(&root))
        .await
        .context("starting the private PostgreSQL cluster")??;
    j0_adapters_postgres::ensure_database(&cluster.url("postgres"), "j0").await?;
    // The URL carries the cluster's password; only the socket is logged.
    tracing::info!(socket = %cluster.socket_dir().display(), "using the private PostgreSQL cluster");
    Ok(cluster.url("j0"))
}

/// Blocks asked for in one `eth_getLogs`.
const MAX_BLOCK_RANGE: u64 = 500;
/// How often idle rate-limit keys are dropped.
const FORGET_IDLE_EVERY: Duration = Duration::from_secs(60);
/// Longest pause after repeated failures of the deposit watcher.
const MAX_WATCH_BACKOFF: Duration = Duration::from_secs(60);

/// Stripe, when both secrets are configured; half a configuration is refused.
fn payments(config: &PaymentsConfig) -> anyhow::Result<Option<Arc<dyn PaymentProvider>>> {
    match (&config.stripe_secret_key, &config.stripe_webhook_secret) {
        (Some(key), Some(webhook)) => Ok(Some(Arc::new(StripeGateway::new(
            key.expose_secret(),
            webhook.expose_secret(),
            &config.stripe_api_base,
        )))),
        (None, None) => Ok(None),
        _ => anyhow::bail!("set both STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET, or neither"),
    }
}

/// Refuses to watch deposits on a chain whose USDC is real money while the deposit addresses
/// come from the documented placeholder forwarder: nothing could ever sweep what they receive.
pub fn check_deposit_chain(config: &ChainConfig) -> anyhow::Result<()> {
    let deposits = Create2Deposits::new(config.deposit_factory, config.deposit_init_code_hash);
    if config.rpc_url.is_some() && holds_real_money(config.chain_id) && deposits.is_placeholder() {
        anyhow::bail!(
            "chain {} holds real money, but J0_DEPOSIT_INIT_CODE_HASH is the documented \
             placeholder: USDC sent to those deposit addresses could never be swept. Set your \
             own forwarder (docs/payments.md), or leave J0_EVM_RPC_URL unset",
            config.chain_id
        );
    }
    Ok(())
}

/// The EVM node, when one is configured and [`check_deposit_chain`] allows it.
fn chain(config: &ChainConfig) -> anyhow::Result<Option<Arc<dyn ChainReader>>> {
    check_deposit_chain(config)?;
    match &config.rpc_url {
        Some(url) => Ok(Some(Arc::new(JsonRpcChain::new(url.expose_secret())?))),
        None => Ok(None),
    }
}

/// The operating system's cryptographically secure random source.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandomness;

impl Randomness for OsRandomness {
    fn fill(&self, bytes: &mut [u8]) -> Result<(), RandomnessError> {
        getrandom::fill(bytes).map_err(|e| RandomnessError(Box::new(e)))
    }
}

/// The use cases over PostgreSQL, the EVM adapters and (when configured) Stripe, drawing their
/// nonces and token ids from `random`.
pub fn build_app(
    store: &PgStore,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Randomness>,
    config: &Config,
) -> anyhow::Result<Marketplace> {
    let chain = chain(&config.chain)?;
    let store = Arc::new(store.clone());
    let ports = Ports {
        clock,
        random,
        signatures: Arc::new(EthSignatureVerifier),
        auth: store.clone(),
        users: store.clone(),
        health: store.clone(),
        jobs: store.clone(),
        ledger: store.clone(),
        events: store.clone(),
        event_stream: store.clone(),
        payments: payments(&config.payments)?,
        checkouts: store.clone(),
        deposit_addresses: Arc::new(Create2Deposits::new(
            config.chain.deposit_factory,
            config.chain.deposit_init_code_hash,
        )),
        deposits: store,
        chain,
    };
    let settings = Settings {
        auth_domain: AuthDomain::new(config.auth.domain.clone()),
        accept_window: time::Duration::seconds(i64::from(config.jobs.accept_window_sec)),
        max_open_jobs: OpenJobsCap::new(config.jobs.max_open_per_worker),
        signup_promo: Cents::new(config.auth.signup_promo_cents),
        checkout: CheckoutSettings {
            success_url: config.payments.checkout_success_url.clone(),
            cancel_url: config.payments.checkout_cancel_url.clone(),
        },
        deposits: DepositSettings {
            chain_id: config.chain.chain_id,
            usdc_contract: config.chain.usdc_contract,
            confirmations: config.chain.confirmations,
            start_block: config.chain.start_block,
            max_block_range: MAX_BLOCK_RANGE,
            addresses_per_query: usize::try_from(config.chain.addresses_per_query)
                .unwrap_or(usize::MAX),
        },
    };
    Ok(Marketplace::new(ports, settings))
}

/// A running service.
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where its metrics listener listens (`GET /metrics`), unless `J0_METRICS_BIND` is `off`.
    pub metrics_addr: Option<SocketAddr>,
    server: ServerHandle,
    server_task: JoinHandle<std::io::Result<()>>,
    metrics: Option<exporter::Listener>,
    stop_tasks: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Serves until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn serve_until_signalled(self) -> anyhow::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate =
            signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutting down");
        self.stop().await
    }

    /// Closes WebSockets with 1001 (going away) and stops the background tasks, then stops
    /// HTTP once in-flight requests are answered, and the metrics listener last.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop_tasks.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.server.stop(true).await;
        let served = self
            .server_task
            .await
            .context("HTTP server task failed")
            .and_then(|served| served.context("HTTP server failed"));
        let metrics = match self.metrics {
            Some(metrics) => metrics.stop().await,
            None => Ok(()),
        };
        served.and(metrics)
    }
}

/// Migrates, then starts HTTP, the WebSocket, the metrics listener (when configured) and the
/// background tasks on `database_url`, signing tokens with `jwt_secret` (see [`secret::load`]).
pub async fn start(
    config: &Config,
    database_url: &str,
    jwt_secret: &[u8],
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Running> {
    let tokens = TokenService::new(jwt_secret, &config.auth.domain)?;
    let recorder = match config.http.metrics_bind {
        Some(addr) => {
            config::check_metrics_bind(addr).map_err(anyhow::Error::msg)?;
            Some(exporter::recorder()?)
        }
        None => None,
    };
    let applied = j0_adapters_postgres::run_migrations(database_url).await?;
    if !applied.is_empty() {
        tracing::info!(?applied, "applied migrations");
    }
    let store = PgStore::connect(database_url, config.database.pool_size as usize)?;
    let app = build_app(&store, clock, Arc::new(OsRandomness), config)?;
    let mut limits = RateLimits::new(
        RatePerMinute {
            ip: config.limits.ip_per_min,
            user: config.limits.user_per_min,
            auth: config.limits.auth_per_min,
        },
        config.limits.trusted_proxies.clone(),
    );
    if let Some(url) = &config.limits.redis_url {
        let prefix = &config.limits.redis_prefix;
        let shared = SharedLimits::new(url.expose_secret(), prefix).context("J0_REDIS_URL")?;
        limits = limits.shared_through(shared);
        tracing::info!(%prefix, "rate limits shared through Redis");
    }
    let state = ApiState {
        app: app.clone(),
        tokens,
        cookie_secure: config.http.cookie_secure,
        limits: limits.clone(),
    };
    // `https://a.com, https://b.com` is how people write lists: the spaces are not the origin's.
    let origins: Vec<String> = config
        .http
        .cors_allowed_origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .map(str::to_owned)
        .collect();
    let (stop_tasks, stopped) = watch::channel(false);
    let hub = Hub::default();
    let ws = WsState {
        api: state.clone(),
        hub: hub.clone(),
        shutdown: stopped.clone(),
        limits: j0_ws::Limits {
            ping_every: Duration::from_secs(config.realtime.ping_sec),
            silence_limit: Duration::from_secs(config.realtime.idle_sec),
            max_backlog_bytes: config.realtime.max_backlog_bytes,
            ..j0_ws::Limits::default()
        },
    };

    // Both listeners are bound before either serves, so a taken port fails the start whole.
    let metrics_listener = config.http.metrics_bind.map(exporter::bind).transpose()?;
    let bind = config.http.bind;
    let listener = TcpListener::bind(bind).with_context(|| format!("binding {bind}"))?;
    let addr = listener.local_addr()?;
    // Without a metrics listener nothing records, so requests are not labelled for nobody.
    let metered = metrics_listener.is_some();
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(middleware::from_fn(j0_api::limit_declared_body))
            .wrap(middleware::from_fn(j0_api::echo_request_id))
            .wrap(middleware::from_fn(j0_api::ratelimit::limit_by_ip))
            .wrap(
                middleware::DefaultHeaders::new()
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("Referrer-Policy", "no-referrer"))
                    .add(("Cache-Control", "no-store")),
            )
            .wrap(middleware::Condition::new(
                !origins.is_empty(),
                cors(&origins),
            ))
            .wrap(middleware::Condition::new(
                metered,
                middleware::from_fn(j0_api::request_metrics::record),
            ))
            .wrap(TracingLogger::<RequestSpan>::new())
            .configure(j0_api::configure(state.clone()))
            .configure(j0_ws::configure(ws.clone()))
            .default_service(web::to(j0_api::not_found))
    })
    .disable_signals()
    .shutdown_timeout(10);
    if let Some(workers) = config.http.workers {
        server = server.workers(workers);
    }
    let server = server.listen(listener)?.run();
    let handle = server.handle();
    let server_task = tokio::spawn(server);
    tracing::info!(%addr, "j0 listening");
    let metrics = match (metrics_listener, &recorder) {
        (Some(listener), Some(handle)) => {
            Some(exporter::serve(listener, handle.clone(), store.clone())?)
        }
        _ => None,
    };

    let sweep_every = Duration::from_millis(config.jobs.sweep_interval_ms);
    let retention = time::Duration::seconds(config.realtime.event_retention_sec as i64);
    let mut tasks = vec![
        tokio::spawn(sweep(app.clone(), sweep_every, stopped.clone())),
        tokio::spawn(prune(app.clone(), stopped.clone())),
        tokio::spawn(sequence(app.clone(), stopped.clone())),
        tokio::spawn(prune_events(app.clone(), retention, stopped.clone())),
        tokio::spawn(j0_ws::hub::run(app.clone(), hub, stopped.clone())),
        tokio::spawn(forget_idle_clients(limits, stopped.clone())),
    ];
    if let Some(handle) = recorder {
        tasks.push(tokio::spawn(upkeep_metrics(handle, stopped.clone())));
    }
    if config.chain.rpc_url.is_some() {
        let poll = Duration::from_secs(config.chain.poll_sec);
        tasks.push(tokio::spawn(watch_deposits(app, poll, stopped)));
    }
    Ok(Running {
        addr,
        metrics_addr: metrics.as_ref().map(|m| m.addr),
        server: handle,
        server_task,
        metrics,
        stop_tasks,
        tasks,
    })
}

/// CORS for the configured origins, with credentials (the session cookie).
fn cors(origins: &[String]) -> actix_cors::Cors {
    use actix_web::http::header;
    origins
        .iter()
        .fold(actix_cors::Cors::default(), |cors, origin| {
            cors.allowed_origin(origin)
        })
        .allowed_methods(["GET", "POST"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            header::RETRY_AFTER,
            header::HeaderName::from_static("x-request-id"),
        ])
        .supports_credentials()
        .max_age(600)
}

/// Drops rate-limit state of clients idle long enough to have their full burst back.
async fn forget_idle_clients(limits: RateLimits, stop: watch::Receiver<bool>) {
    every(FORGET_IDLE_EVERY, stop, || async { limits.forget_idle() }).await;
}

/// Folds recorded latencies into their histograms, so that memory stays bounded however rarely
/// the metrics are scraped.
async fn upkeep_metrics(handle: PrometheusHandle, stop: watch::Receiver<bool>) {
    every(METRICS_UPKEEP_EVERY, stop, || async { handle.run_upkeep() }).await;
}

/// Runs `step` every `period` until told to stop.
async fn every<F, Fut>(period: Duration, mut stop: watch::Receiver<bool>, mut step: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => step().await,
            _ = stop.changed() => return,
        }
    }
}

/// The expiry sweeper: times out and refunds due jobs, batch after batch while batches are full.
/// At the default 500 ms period every timeout lands within the contract's 2 s of its deadline.
async fn sweep(app: Marketplace, period: Duration, stop: watch::Receiver<bool>) {
    every(period, stop, || async {
        metrics::counter!(exporter::SWEEPER_RUNS).increment(1);
        loop {
            let expired = app.expire_due(SWEEP_BATCH).await;
            if let Ok(n) = &expired {
                metrics::counter!(exporter::SWEEPER_REFUNDS).increment(*n as u64);
            }
            match expired {
                Ok(n) if n as i64 == SWEEP_BATCH => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %ErrorChain(&e), "expiry sweep failed; retrying next tick");
                    break;
                }
            }
        }
    })
    .await;
}

/// Numbers committed outbox events for delivery and announces them, batch after batch.
async fn sequence(app: Marketplace, stop: watch::Receiver<bool>) {
    every(SEQUENCE_EVERY, stop, || async {
        loop {
            match app.sequence_events(SEQUENCE_BATCH).await {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %ErrorChain(&e), "numbering outbox events failed; retrying");
                    break;
                }
            }
        }
    })
    .await;
}

/// Deletes events that fell out of the replay window.
async fn prune_events(app: Marketplace, retention: time::Duration, stop: watch::Receiver<bool>) {
    every(PRUNE_EVENTS_EVERY, stop, || async {
        if let Err(e) = app.prune_events(retention).await {
            tracing::warn!(error = %ErrorChain(&e), "pruning old events failed");
        }
    })
    .await;
}

/// The USDC deposit watcher: scans confirmed blocks in bounded ranges, straight on while behind,
/// every `poll` once caught up, backing off on errors without ever skipping a block (the cursor
/// moves only with the credits).
async fn watch_deposits(app: Marketplace, poll: Duration, mut stop: watch::Receiver<bool>) {
    let mut backoff = poll;
    let mut watch = app.deposit_watch();
    loop {
        let scanned = app.scan_deposits(&mut watch).await;
        if let Ok(scan) = &scanned {
            metrics::gauge!(exporter::WATCHER_BLOCK).set(scan.cursor() as f64);
            metrics::gauge!(exporter::WATCHER_LAG_BLOCKS).set(scan.blocks_behind() as f64);
        }
        let wait = match scanned {
            Ok(Scan::Scanned {
                caught_up: false, ..
            }) => Duration::ZERO,
            Ok(Scan::Narrowed {
                from,
                to,
                blocks,
                error,
                ..
            }) => {
                tracing::warn!(%error, from, to, blocks, "deposit scan failed; asking for fewer blocks");
                Duration::ZERO
            }
            Ok(Scan::Idle { .. } | Scan::Scanned { .. }) => {
                backoff = poll;
                poll
            }
            Err(e @ ScanError::WrongChain { .. }) => {
                tracing::error!(error = %e, "the deposit watcher stops: check J0_EVM_RPC_URL and J0_CHAIN_ID");
                return;
            }
            Err(e) => {
                backoff = (backoff * 2).min(MAX_WATCH_BACKOFF);
                tracing::warn!(error = %ErrorChain(&e), retry_in_sec = backoff.as_secs(), "deposit scan failed");
                backoff
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Forgets expired sign-in challenges, token revocations and idempotency keys.
async fn prune(app: Marketplace, stop: watch::Receiver<bool>) {
    every(PRUNE_EVERY, stop, || async {
        if let Err(e) = app.prune_expired().await {
            tracing::warn!(error = %ErrorChain(&e), "pruning expired rows failed");
        }
    })
    .await;
}
