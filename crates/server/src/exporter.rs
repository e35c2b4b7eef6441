//! Prometheus metrics (`docs/operations.md`): the process's recorder, the names the server
//! records itself, and the listener that serves `GET /metrics` on its own loopback address,
//! never on the public API's.
//!
//! The recorder is installed once per process: several servers in one process (the tests) share
//! it, each serving the same registry.

use std::{
    net::{SocketAddr, TcpListener},
    sync::OnceLock,
};

use actix_web::{App, HttpResponse, HttpServer, dev::ServerHandle, http::header, web};
use anyhow::Context;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::task::JoinHandle;

use j0_adapters_postgres::PgStore;

/// The path scraped.
const METRICS_PATH: &str = "/metrics";
/// The text exposition format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Pool connections by `state`: `in_use` or `idle`.
pub(crate) const DB_POOL_CONNECTIONS: &str = "j0_db_pool_connections";
/// Requests and tasks waiting for a pool connection.
pub(crate) const DB_POOL_WAITING: &str = "j0_db_pool_waiting";
/// Expiry sweeps run.
pub(crate) const SWEEPER_RUNS: &str = "j0_sweeper_runs_total";
/// Jobs the sweeper timed out and refunded.
pub(crate) const SWEEPER_REFUNDS: &str = "j0_sweeper_refunds_total";
/// The next block the deposit watcher scans.
pub(crate) const WATCHER_BLOCK: &str = "j0_watcher_block";
/// Confirmed blocks the deposit watcher has not scanned yet.
pub(crate) const WATCHER_LAG_BLOCKS: &str = "j0_watcher_lag_blocks";

/// Upper bounds, in seconds, of the request duration histogram's buckets.
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process's recorder, installed on first use.
pub(crate) fn recorder() -> anyhow::Result<PrometheusHandle> {
    static RECORDER: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    RECORDER
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(j0_api::request_metrics::DURATION.to_owned()),
                    DURATION_BUCKETS,
                )
                .map_err(|e| e.to_string())?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
            describe();
            start_at_zero();
            Ok(handle)
        })
        .clone()
        .map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))
}

/// The `# HELP` of every metric.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        j0_api::request_metrics::REQUESTS,
        "HTTP requests answered, by method, matched route pattern and status"
    );
    describe_histogram!(
        j0_api::request_metrics::DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request, by method and matched route pattern"
    );
    describe_counter!(
        j0_api::ratelimit::RATE_LIMITED,
        "Requests refused with 429, by the scope of the limit: ip, auth or user"
    );
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        "Database pool connections, by state: in_use or idle"
    );
    describe_gauge!(
        DB_POOL_WAITING,
        "Requests and tasks waiting for a database pool connection"
    );
    describe_gauge!(j0_ws::CONNECTIONS, "WebSocket connections open");
    describe_counter!(
        j0_ws::SLOW_CONSUMERS_DROPPED,
        "WebSocket connections closed because the client read too slowly"
    );
    describe_gauge!(
        j0_ws::OUTBOX_LAG,
        "Outbox events numbered but not yet published to this instance's WebSockets"
    );
    describe_counter!(SWEEPER_RUNS, "Expiry sweeps run");
    describe_counter!(
        SWEEPER_REFUNDS,
        "Jobs the expiry sweeper timed out and refunded"
    );
    describe_gauge!(WATCHER_BLOCK, "The next block the deposit watcher scans");
    describe_gauge!(
        WATCHER_LAG_BLOCKS,
        "Confirmed blocks the deposit watcher has not scanned yet"
    );
}

/// Registers the counters and gauges that may stay untouched for long, so that the first scrape
/// already shows them at 0 (the watcher's only exist with a watcher).
fn start_at_zero() {
    for scope in ["ip", "auth", "user"] {
        metrics::counter!(j0_api::ratelimit::RATE_LIMITED, "scope" => scope).absolute(0);
    }
    metrics::counter!(j0_ws::SLOW_CONSUMERS_DROPPED).absolute(0);
    metrics::counter!(SWEEPER_REFUNDS).absolute(0);
    metrics::gauge!(j0_ws::CONNECTIONS).set(0);
}

/// What the scrape handler reads.
#[derive(Debug, Clone)]
struct Scrape {
    handle: PrometheusHandle,
    store: PgStore,
}

/// `GET /metrics`: samples the pool, then renders every metric.
async fn scrape(state: web::Data<Scrape>) -> HttpResponse {
    let pool = state.store.pool_status();
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(pool.in_use as f64);
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(pool.idle as f64);
    metrics::gauge!(DB_POOL_WAITING).set(pool.waiting as f64);
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, CONTENT_TYPE))
        .body(state.handle.render())
}

/// Anything but `GET /metrics`.
async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().finish()
}

/// The metrics listener, serving.
#[derive(Debug)]
pub(crate) struct Listener {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    server: ServerHandle,
    task: JoinHandle<std::io::Result<()>>,
}

impl Listener {
    /// Stops it, once the scrape in flight (if any) is answered.
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        self.server.stop(true).await;
        self.task
            .await
            .context("metrics server task failed")?
            .context("metrics server failed")
    }
}

/// Binds the metrics listener's socket.
pub(crate) fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .with_context(|| format!("binding the metrics listener to {addr} (J0_METRICS_BIND)"))
}

/// Serves `GET /metrics` on `listener`, and nothing else (404), sampling `store`'s pool.
pub(crate) fn serve(
    listener: TcpListener,
    handle: PrometheusHandle,
    store: PgStore,
) -> anyhow::Result<Listener> {
    let addr = listener.local_addr()?;
    let state = web::Data::new(Scrape { handle, store });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .service(
                web::resource(METRICS_PATH)
                    .route(web::get().to(scrape))
                    .default_service(web::to(not_found)),
            )
            .default_service(web::to(not_found))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    let server_handle = server.handle();
    let task = tokio::spawn(server);
    tracing::info!(%addr, "metrics listening");
    Ok(Listener {
        addr,
        server: server_handle,
        task,
    })
}
