//! The lifecycle: requester/worker pairs running post → accept → complete over HTTP, in
//! process against one server (the default scenario) or against 1, 2 and 3 `j0 serve`
//! processes on one database (`scaling`).
//!
//! Every pair writes only its own balance rows and the shared append-only tables, which is what
//! the no-hot-row design predicts scales; each pair runs its lifecycles in sequence, like the
//! SQL ceiling's pgbench clients, so there is no backlog.

use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use serde_json::{Value, json};

use j0_client::{Capability, PostJob};
use j0_testkit::{Session, TestDatabase};

use crate::{
    Bench, Load,
    output::Outcome,
    servers,
    stats::{Latencies, Summary, timed},
};

/// Promo credit each requester starts with: far more than any run spends.
pub const REQUESTER_CENTS: i64 = 1_000_000;

/// The job every lifecycle posts.
pub fn bench_job() -> PostJob {
    PostJob::new(Capability::Sonnet, 5, 60, "Summarize this")
}

/// `j0-bench lifecycle`: the 1-instance lifecycle in process (what no arguments runs).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Requester/worker pairs.
    #[arg(long, env = "J0_BENCH_CLIENTS", default_value_t = 32)]
    pub clients: usize,
    /// Seconds of lifecycles.
    #[arg(long, env = "J0_BENCH_SECONDS", default_value_t = 10)]
    pub seconds: u64,
}

/// `j0-bench scaling`: the lifecycle against several `j0 serve` processes on one database.
#[derive(Debug, Clone, clap::Args)]
pub struct ScalingArgs {
    /// Instance counts to measure, each on a fresh database.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    pub instances: Vec<usize>,
    /// Requester/worker pairs, spread round-robin over the instances, for each instance count.
    #[command(flatten)]
    pub load: Load,
}

/// A requester and the worker who takes its jobs.
#[derive(Debug, Clone)]
pub struct Pair {
    /// Posts, holding promo credit.
    pub requester: Session,
    /// Accepts and completes.
    pub worker: Session,
}

/// What a run of lifecycles measured.
#[derive(Debug, Default)]
pub struct Run {
    /// Lifecycles completed.
    pub lifecycles: u64,
    /// Wall-clock seconds from the first post to the last completion.
    pub seconds: f64,
    /// `POST /jobs`.
    pub post: Latencies,
    /// `POST /jobs/{id}/accept`.
    pub accept: Latencies,
    /// `POST /jobs/{id}/complete`.
    pub complete: Latencies,
}

impl Run {
    /// Lifecycles per second.
    pub fn rate(&self) -> f64 {
        self.lifecycles as f64 / self.seconds
    }

    /// Every request's latency, whatever its step.
    pub fn requests(&self) -> Latencies {
        let mut all = self.post.clone();
        all.extend(&self.accept);
        all.extend(&self.complete);
        all
    }

    /// The run as JSON: counts, rate, and each step's percentiles.
    pub fn json(&self, clients: usize) -> Value {
        json!({
            "clients": clients,
            "seconds": self.seconds,
            "lifecycles": self.lifecycles,
            "lifecycles_per_s": self.rate(),
            "requests": self.requests().summary(),
            "post": self.post.summary(),
            "accept": self.accept.summary(),
            "complete": self.complete.summary(),
        })
    }
}

/// One pair's lifecycles until `deadline`.
async fn run_pair(pair: Pair, deadline: Instant, bar: ProgressBar) -> Run {
    let mut run = Run::default();
    while Instant::now() < deadline {
        let posted = timed(&mut run.post, pair.requester.post_job(bench_job()))
            .await
            .expect("post");
        timed(&mut run.accept, pair.worker.accept_job(posted.job_id))
            .await
            .expect("accept");
        timed(
            &mut run.complete,
            pair.worker.complete_job(posted.job_id, "done"),
        )
        .await
        .expect("complete");
        run.lifecycles += 1;
        bar.inc(1);
    }
    run
}

/// Runs every pair's lifecycles concurrently for `seconds`, counting them on `bar`.
pub async fn run_pairs(pairs: &[Pair], seconds: u64, bar: &ProgressBar) -> Run {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let runs = pairs
        .iter()
        .map(|pair| tokio::spawn(run_pair(pair.clone(), deadline, bar.clone())));
    let runs = futures_util::future::join_all(runs).await;
    let mut total = Run {
        seconds: started.elapsed().as_secs_f64(),
        ..Run::default()
    };
    for run in runs {
        let run = run.expect("a pair's task");
        total.lifecycles += run.lifecycles;
        total.post.extend(&run.post);
        total.accept.extend(&run.accept);
        total.complete.extend(&run.complete);
    }
    total
}

/// `step p50 … ms  p99 … ms` for the plain output.
fn step_line(step: &str, s: &Summary) -> String {
    format!("{step:<9} p50 {:.1} ms  p99 {:.1} ms", s.p50_ms, s.p99_ms)
}

/// `clients` pairs against a fresh in-process server for `seconds`; the ledger audited after.
pub async fn in_process(clients: usize, seconds: u64, bench: &Bench, name: &str) -> Run {
    let app = servers::in_process_server().await;
    let mut pairs = Vec::with_capacity(clients);
    for _ in 0..clients {
        pairs.push(Pair {
            requester: app.funded_user(REQUESTER_CENTS).await,
            worker: app.new_user().await,
        });
    }
    let bar = bench.ui.bar(name, None, "lifecycles");
    let run = run_pairs(&pairs, seconds, &bar).await;
    bar.finish();
    app.assert_ledger_clean().await;
    run
}

/// The in-process lifecycle, printing the plain lines scripts read.
pub async fn run(args: &Args, bench: &Bench) -> Outcome {
    let started = Instant::now();
    let run = in_process(args.clients, args.seconds, bench, "lifecycle").await;
    let requests = run.requests();
    let all = requests.summary();
    let ui = &bench.ui;
    ui.line(format!("clients               {}", args.clients));
    ui.line(format!("seconds               {:.1}", run.seconds));
    ui.line(format!("lifecycles            {}", run.lifecycles));
    ui.line(format!("lifecycles per second {:.0}", run.rate()));
    ui.line(format!(
        "requests per second   {:.0}",
        requests.len() as f64 / run.seconds
    ));
    for (name, value) in [
        ("p50", all.p50_ms),
        ("p90", all.p90_ms),
        ("p99", all.p99_ms),
    ] {
        ui.line(format!("request latency {name}   {value:.1} ms"));
    }
    for (step, latencies) in [
        ("post", &run.post),
        ("accept", &run.accept),
        ("complete", &run.complete),
    ] {
        ui.line(step_line(step, &latencies.summary()));
    }
    ui.line("ledger audit          clean");
    Outcome {
        scenario: "lifecycle",
        took: started.elapsed(),
        rows: vec![
            ("lifecycles/s".to_owned(), format!("{:.0}", run.rate())),
            ("request".to_owned(), all.short()),
            ("post".to_owned(), run.post.summary().short()),
            ("accept".to_owned(), run.accept.summary().short()),
            ("complete".to_owned(), run.complete.summary().short()),
            ("ledger".to_owned(), "clean".to_owned()),
        ],
        json: json!({ "run": run.json(args.clients), "ledger": "clean" }),
    }
}

/// The lifecycle against `n` `j0 serve` processes on one fresh database.
async fn scaled(n: usize, args: &ScalingArgs, bench: &Bench) -> Run {
    let db = TestDatabase::new().await;
    let servers: Vec<_> = (0..n)
        .map(|_| servers::serve(&bench.j0, db.url(), &[]))
        .collect();
    let mut pairs = Vec::with_capacity(args.load.clients);
    for i in 0..args.load.clients {
        let api = &servers[i % n].base;
        let mut two = servers::sign_in_many(api, 2).await;
        let worker = two.pop().expect("a worker");
        let requester = two.pop().expect("a requester");
        pairs.push(Pair { requester, worker });
    }
    let requesters: Vec<_> = pairs.iter().map(|p| p.requester.user_id).collect();
    servers::grant_promo(&bench.j0, db.url(), &requesters, REQUESTER_CENTS);
    let bar = bench.ui.bar(&format!("scaling x{n}"), None, "lifecycles");
    let run = run_pairs(&pairs, args.load.seconds, &bar).await;
    bar.finish();
    drop(servers);
    servers::audit_ledger(&bench.j0, db.url());
    run
}

/// `j0-bench scaling`: lifecycles/s and per-step latency at each instance count.
pub async fn scaling(args: &ScalingArgs, bench: &Bench) -> Outcome {
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut results = Vec::new();
    let mut first_rate = None;
    for &n in &args.instances {
        let run = scaled(n, args, bench).await;
        let rate = run.rate();
        let base = *first_rate.get_or_insert(rate);
        bench.ui.line(format!(
            "scaling {n} instance(s): {rate:.0} lifecycles/s ({:.2}x of {} instance(s))",
            rate / base,
            args.instances[0]
        ));
        for (step, latencies) in [
            ("post", &run.post),
            ("accept", &run.accept),
            ("complete", &run.complete),
        ] {
            bench
                .ui
                .line(format!("  {}", step_line(step, &latencies.summary())));
        }
        rows.push((format!("x{n} lifecycles/s"), format!("{rate:.0}")));
        for (step, latencies) in [
            ("post", &run.post),
            ("accept", &run.accept),
            ("complete", &run.complete),
        ] {
            rows.push((format!("x{n} {step}"), latencies.summary().short()));
        }
        let mut json = run.json(args.load.clients);
        json["instances"] = json!(n);
        results.push(json);
    }
    bench
        .ui
        .line("scaling: the ledger is clean after every count");
    rows.push(("ledger".to_owned(), "clean at every count".to_owned()));
    Outcome {
        scenario: "scaling",
        took: started.elapsed(),
        rows,
        json: json!({ "runs": results, "ledger": "clean" }),
    }
}
