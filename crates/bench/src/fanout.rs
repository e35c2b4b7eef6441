//! `j0-bench fanout`: K idle WebSocket clients of one `j0 serve` process hear every
//! `job.posted`.
//!
//! `job.posted` goes to every connection without a capability filter (docs/api.md §9), and a
//! connection needs a token, so the clients connect as a few signed-in watchers (one per 1,000
//! connections; the server keeps no per-user state for a socket). Each client reads all the
//! time, as a live client does, which also answers the server's pings. The server runs as its
//! own process so that its resident memory can be read before and after the clients connect:
//! the difference over K is what one idle connection costs it. Delivery latency runs from the
//! post's HTTP response (as the requester sees it) to each client's receipt of that job's
//! `job.posted`; a receipt before the response counts as 0.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::{StreamExt, stream};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::{connect_async, tungstenite::Message};

use j0_client::{Wallet, ws_url_for};
use j0_testkit::{TestDatabase, sign_in_at};

use crate::{
    Bench,
    lifecycle::{REQUESTER_CENTS, bench_job},
    output::Outcome,
    servers,
    stats::Latencies,
};

/// Connections per watcher user.
const CONNECTIONS_PER_USER: usize = 1000;
/// Longest wait for the last deliveries after the last post.
const DELIVERY_PATIENCE: Duration = Duration::from_secs(30);
/// Pause before reading the server's memory, so that it settles.
const SETTLE: Duration = Duration::from_secs(2);

/// `j0-bench fanout`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Idle WebSocket clients.
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// Jobs posted once every client is connected.
    #[arg(long, default_value_t = 20)]
    pub posts: usize,
    /// Milliseconds between posts.
    #[arg(long, default_value_t = 250)]
    pub interval_ms: u64,
    /// Connections opened at a time.
    #[arg(long, default_value_t = 100)]
    pub connect_concurrency: usize,
}

/// What one client heard: each job's id and when its `job.posted` arrived.
type Receipts = Vec<(i64, Instant)>;

/// The job a `job.posted` message announces, if that is what `text` is.
fn posted_job(text: &str) -> Option<i64> {
    let message: Value = serde_json::from_str(text).ok()?;
    (message["event"] == "job.posted")
        .then(|| message["data"]["job_id"].as_i64())
        .flatten()
}

/// Runs the fan-out.
pub async fn run(args: &Args, bench: &Bench) -> Outcome {
    let started = Instant::now();
    let db = TestDatabase::new().await;
    let server = servers::serve(&bench.j0, db.url(), &[]);
    let pid = server.pid();
    let requester = sign_in_at(&server.base, Wallet::random()).await;
    servers::grant_promo(&bench.j0, db.url(), &[requester.user_id], REQUESTER_CENTS);
    let watchers =
        servers::sign_in_many(&server.base, args.clients.div_ceil(CONNECTIONS_PER_USER)).await;
    let ws = ws_url_for(&server.base);
    tokio::time::sleep(SETTLE).await;
    let rss_before = servers::rss_kib(pid);

    let bar = bench
        .ui
        .bar("fanout", Some(args.clients as u64), "connected");
    let urls: Vec<String> = (0..args.clients)
        .map(|i| format!("{ws}?token={}", watchers[i / CONNECTIONS_PER_USER].token))
        .collect();
    let connecting = Instant::now();
    let results: Vec<_> = stream::iter(urls)
        .map(|url| {
            let bar = bar.clone();
            async move {
                let outcome = connect_async(url).await.map(|(stream, _)| stream);
                bar.inc(1);
                outcome
            }
        })
        .buffer_unordered(args.connect_concurrency)
        .collect()
        .await;
    let connect_seconds = connecting.elapsed().as_secs_f64();
    let mut streams = Vec::with_capacity(results.len());
    let mut failures = Vec::new();
    for result in results {
        match result {
            Ok(stream) => streams.push(stream),
            Err(e) => failures.push(e.to_string()),
        }
    }
    let connected = streams.len();
    bar.finish_with_message(format!("{} failed", failures.len()));
    tokio::time::sleep(SETTLE).await;
    let rss_connected = servers::rss_kib(pid);

    let heard = Arc::new(AtomicUsize::new(0));
    let (stop, stopped) = watch::channel(false);
    let posts = args.posts;
    let readers: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            let heard = heard.clone();
            let mut stopped = stopped.clone();
            tokio::spawn(async move {
                let mut receipts = Receipts::with_capacity(posts);
                while receipts.len() < posts {
                    tokio::select! {
                        message = stream.next() => match message {
                            Some(Ok(Message::Text(text))) => {
                                if let Some(job) = posted_job(&text) {
                                    receipts.push((job, Instant::now()));
                                    heard.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            Some(Ok(_)) => {}
                            Some(Err(_)) | None => break,
                        },
                        _ = stopped.changed() => break,
                    }
                }
                receipts
            })
        })
        .collect();

    let delivery_bar = bench
        .ui
        .bar("fanout", Some((connected * posts) as u64), "deliveries");
    let mut answered: HashMap<i64, Instant> = HashMap::with_capacity(posts);
    let mut post_latency = Latencies::default();
    for _ in 0..posts {
        let sent = Instant::now();
        let job = requester.post_job(bench_job()).await.expect("post");
        let at = Instant::now();
        post_latency.push(at - sent);
        answered.insert(job.job_id.get(), at);
        delivery_bar.set_position(heard.load(Ordering::Relaxed) as u64);
        tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
    }
    let waiting = Instant::now();
    while heard.load(Ordering::Relaxed) < connected * posts && waiting.elapsed() < DELIVERY_PATIENCE
    {
        delivery_bar.set_position(heard.load(Ordering::Relaxed) as u64);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    delivery_bar.set_position(heard.load(Ordering::Relaxed) as u64);
    delivery_bar.finish();
    let rss_after_posts = servers::rss_kib(pid);
    let _ = stop.send(true);

    let mut delivery = Latencies::default();
    let mut before_response = 0usize;
    let mut received = 0usize;
    for reader in futures_util::future::join_all(readers).await {
        for (job, at) in reader.expect("a WebSocket reader") {
            let Some(&answered_at) = answered.get(&job) else {
                continue;
            };
            received += 1;
            if at < answered_at {
                before_response += 1;
            }
            delivery.push(at.saturating_duration_since(answered_at));
        }
    }
    drop(server);
    servers::audit_ledger(&bench.j0, db.url());

    let expected = connected * posts;
    let missing = expected - received;
    let per_connection_kib =
        rss_connected.saturating_sub(rss_before) as f64 / connected.max(1) as f64;
    let summary = delivery.summary();
    let ui = &bench.ui;
    ui.line(format!(
        "fanout: {connected} of {} clients connected in {connect_seconds:.1} s; {} failed{}",
        args.clients,
        failures.len(),
        failures
            .first()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    ));
    ui.line(format!(
        "fanout delivery of job.posted p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms ({received} of {expected} received, {missing} missing, {before_response} before the post's response)",
        summary.p50_ms, summary.p99_ms, summary.max_ms
    ));
    ui.line(format!(
        "fanout server RSS {rss_before} KiB idle, {rss_connected} KiB with {connected} clients: {per_connection_kib:.1} KiB per connection ({rss_after_posts} KiB after the posts)"
    ));
    ui.line("fanout: the ledger is clean");
    Outcome {
        scenario: "fanout",
        took: started.elapsed(),
        rows: vec![
            (
                "clients connected".to_owned(),
                format!("{connected} of {}", args.clients),
            ),
            (
                "job.posted delivery".to_owned(),
                format!("{}, max {:.1} ms", summary.short(), summary.max_ms),
            ),
            (
                "deliveries missing".to_owned(),
                format!("{missing} of {expected}"),
            ),
            (
                "server RSS per connection".to_owned(),
                format!("{per_connection_kib:.1} KiB"),
            ),
            ("ledger".to_owned(), "clean".to_owned()),
        ],
        json: json!({
            "clients": args.clients,
            "connected": connected,
            "connect_failures": failures.len(),
            "first_connect_failure": failures.first(),
            "connect_seconds": connect_seconds,
            "posts": posts,
            "interval_ms": args.interval_ms,
            "post": post_latency.summary(),
            "delivery": summary,
            "deliveries_expected": expected,
            "deliveries_received": received,
            "deliveries_before_response": before_response,
            "server_rss_kib": {
                "idle": rss_before,
                "connected": rss_connected,
                "after_posts": rss_after_posts,
            },
            "server_rss_kib_per_connection": per_connection_kib,
            "ledger": "clean",
        }),
    }
}
