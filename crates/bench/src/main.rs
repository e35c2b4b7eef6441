//! `j0-bench`: how many post → accept → complete lifecycles per second j0 sustains.
//!
//! It starts the real server (as the tests do: a fresh database on the machine's PostgreSQL,
//! rate limits off), gives each of `J0_BENCH_CLIENTS` requester/worker pairs its own users, and
//! runs lifecycles over HTTP for `J0_BENCH_SECONDS`. Every pair writes only its own balance rows
//! and the shared append-only tables, which is what the no-hot-row design predicts scales.
//! Prints lifecycles per second and request latency percentiles, then audits the ledger.
#![allow(
    clippy::print_stdout,
    clippy::expect_used,
    reason = "a measuring tool: it reports on stdout and stops on failure"
)]

use std::time::{Duration, Instant};

use j0_client::{Capability, PostJob};
use j0_testkit::{Session, spawn_app_with};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Awaits `call`, recording how long it took in `latencies`.
async fn timed<T>(latencies: &mut Vec<Duration>, call: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let outcome = call.await;
    latencies.push(started.elapsed());
    outcome
}

/// One pair's lifecycles until `deadline`: how many, and each request's latency.
async fn run_pair(
    requester: &Session,
    worker: &Session,
    deadline: Instant,
) -> (u64, Vec<Duration>) {
    let mut done = 0;
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        let job = PostJob::new(Capability::Sonnet, 5, 60, "Summarize this");
        let posted = timed(&mut latencies, requester.post_job(job))
            .await
            .expect("post");
        timed(&mut latencies, worker.accept_job(posted.job_id))
            .await
            .expect("accept");
        timed(&mut latencies, worker.complete_job(posted.job_id, "done"))
            .await
            .expect("complete");
        done += 1;
    }
    (done, latencies)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

#[tokio::main]
async fn main() {
    let clients = env_or("J0_BENCH_CLIENTS", 32) as usize;
    let seconds = env_or("J0_BENCH_SECONDS", 10);
    let app = spawn_app_with(|c| {
        c.db_pool_size = 64;
        c.http_workers = None;
    })
    .await;
    let mut pairs = Vec::with_capacity(clients);
    for _ in 0..clients {
        pairs.push((app.funded_user(1_000_000).await, app.new_user().await));
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let runs = pairs
        .iter()
        .map(|(requester, worker)| run_pair(requester, worker, deadline));
    let results = futures_util::future::join_all(runs).await;
    let elapsed = started.elapsed().as_secs_f64();
    let lifecycles: u64 = results.iter().map(|(n, _)| n).sum();
    let mut latencies: Vec<Duration> = results.into_iter().flat_map(|(_, l)| l).collect();
    latencies.sort_unstable();
    println!("clients               {clients}");
    println!("seconds               {elapsed:.1}");
    println!("lifecycles            {lifecycles}");
    println!("lifecycles per second {:.0}", lifecycles as f64 / elapsed);
    println!(
        "requests per second   {:.0}",
        latencies.len() as f64 / elapsed
    );
    for (name, p) in [("p50", 0.50), ("p90", 0.90), ("p99", 0.99)] {
        println!(
            "request latency {name}   {:.1} ms",
            percentile(&latencies, p).as_secs_f64() * 1e3
        );
    }
    app.assert_ledger_clean().await;
    println!("ledger audit          clean");
}
