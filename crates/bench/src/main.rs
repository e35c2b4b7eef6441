//! `j0-bench`: the benchmark of record for j0, against the machine's PostgreSQL.
//!
//! # How to read the bench
//!
//! Run with no arguments it does what it always did, and what scripts (CI's smoke, the peers'
//! `j0-bench.sh`) parse: the **lifecycle** in process, `J0_BENCH_CLIENTS` (32)
//! requester/worker pairs running post → accept → complete over HTTP through `j0-client` for
//! `J0_BENCH_SECONDS` (10), printing `lifecycles per second <n>`, `request latency p50/p99 <x>
//! ms` and `ledger audit clean`. `j0-bench all` (what `just bench` runs) runs every scenario
//! below with its defaults, one after the other, in about five minutes on two cores.
//!
//! | scenario | what it measures | read it as |
//! |---|---|---|
//! | `lifecycle` | lifecycles/s and p50/p99 of each step, one in-process server | the headline; compare with the peers in docs/performance.md |
//! | `race` | 100 workers accept each of 1,000 jobs at once (a barrier per job) | exactly one winner per job (checked, or the run fails); the accept p99 under a 100-way burst |
//! | `fanout` | K idle WebSocket clients of one `j0 serve` process, then jobs posted | `job.posted` p50/p99/max from the post's response to each client; server RSS per connection |
//! | `signin` | challenge + `personal_sign` + verify, repeated by 32 clients | sign-ins per second; the client's signing shares the two cores |
//! | `scaling` | the lifecycle against 1, 2, 3 `j0 serve` processes on one database | the ratio to one instance: above 1 means the database had room; on 2 cores PostgreSQL saturates early |
//! | `statements` | statements (and round trips) each step sends, and every statement's calls per lifecycle | a regression shows as a higher count or a new statement |
//! | `ceiling` | pgbench replaying the exact statements j0 sent for one lifecycle, at the lifecycle's concurrency | **lifecycle ÷ ceiling**: the share of what PostgreSQL allows for j0's own statements that j0 reaches over HTTP |
//!
//! `statements` and `ceiling` read j0's traffic off a scratch PostgreSQL cluster of their own
//! (see `capture.rs`): one lifecycle's statements, in order, with their values and declared
//! types. In `statements`, "sent only by requests" is the request path; "shared" is sent by
//! requests and background tasks alike (the pool's checkout check, `BEGIN`/`COMMIT`);
//! "background" is the sequencer, hub and sweeper, whose share per lifecycle falls as the load
//! rises; "inside PostgreSQL" are foreign-key checks. In `ceiling`, the replay's differences
//! from j0's own traffic are printed with the result (`DIFFERENCES` in `ceiling.rs`): chiefly
//! that it runs without j0's background tasks and without HTTP, so the ratio is what j0's
//! service layer costs on top of its own SQL.
//!
//! Every scenario that moves money ends with the ledger audit and fails if it is not clean. Each
//! prints its plain result lines on stdout as it ends, its JSON to `target/bench/<scenario>.json`
//! (`all` also writes `target/bench/report.json`), and a summary table closes the run. Progress
//! bars go to stderr and are hidden when it is not a terminal.
//!
//! Numbers move with the machine: the server, the bench client and PostgreSQL share the cores,
//! and a build running beside the bench halves them. Compare runs of one machine, back to back,
//! and prefer ratios (lifecycle ÷ ceiling, n instances ÷ one) to absolute rates. Latencies are
//! measured in the client: they include the client's own scheduling, which on two busy cores is
//! a large part of a p99.
//!
//! The process scenarios (`fanout`, `scaling`, `statements`, `ceiling`) run `j0 serve` from the
//! `j0` binary beside this one (`--j0` to choose another), each instance on its own port and
//! metrics port, rate limits off, and audit with `j0 admin audit-ledger`. The in-process ones use
//! the test kit's server on a fresh database, exactly as the end-to-end tests do.
#![allow(
    clippy::print_stdout,
    clippy::expect_used,
    reason = "a measuring tool: it reports on stdout and stops on failure"
)]

mod capture;
mod ceiling;
mod fanout;
mod lifecycle;
mod output;
mod race;
mod servers;
mod signin;
mod statements;
mod stats;

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use clap::{Parser, Subcommand};
use serde_json::json;

use output::{Outcome, Ui};

/// j0's benchmark of record. With no command: the in-process lifecycle.
#[derive(Debug, Parser)]
#[command(name = "j0-bench", version)]
struct Cli {
    /// Where the JSON results go (default: `$CARGO_TARGET_DIR/bench`, else `target/bench`).
    #[arg(long, global = true)]
    out: Option<PathBuf>,
    /// The `j0` binary the process scenarios serve with (default: the one beside j0-bench).
    #[arg(long, global = true)]
    j0: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Scenario>,
}

/// How many clients a scenario runs at once, and for how many seconds; what a client is, the
/// scenario says (a requester/worker pair, a pgbench client, a signing-in wallet).
#[derive(Debug, Clone, clap::Args)]
pub struct Load {
    /// Clients at once.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// Seconds of each run.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
}

/// A scenario, or all of them.
#[derive(Debug, Subcommand)]
enum Scenario {
    /// Post → accept → complete over HTTP, one in-process server (the default).
    Lifecycle(lifecycle::Args),
    /// Many workers race for each job: exactly one winner, and the accept latency.
    Race(race::Args),
    /// Idle WebSocket clients of a `j0 serve` process hear `job.posted`.
    Fanout(fanout::Args),
    /// Sign-ins (challenge + verify) per second.
    Signin(signin::Args),
    /// The lifecycle against several `j0 serve` processes on one database.
    Scaling(lifecycle::ScalingArgs),
    /// What each step sends to PostgreSQL, and each statement's calls per lifecycle.
    Statements(statements::Args),
    /// pgbench replaying j0's own statements: lifecycle ÷ ceiling.
    Ceiling(ceiling::Args),
    /// Every scenario with its defaults; writes report.json.
    All,
}

/// What every scenario needs: the display, where results go, and the server binary.
#[derive(Debug)]
pub struct Bench {
    /// Progress bars and plain lines.
    pub ui: Ui,
    /// Where the JSON goes.
    pub out: PathBuf,
    /// The `j0` binary (checked only by the scenarios that run it).
    pub j0: PathBuf,
}

/// Raises this process's open-file limit to the hard limit: thousands of WebSocket clients, and
/// the `j0 serve` children (which inherit it) holding the other end of each.
fn raise_open_file_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).expect("raise the open-file limit")
}

/// Runs one scenario; writes its JSON.
async fn run(scenario: &Scenario, bench: &Bench) -> Outcome {
    let outcome = match scenario {
        Scenario::Lifecycle(args) => lifecycle::run(args, bench).await,
        Scenario::Race(args) => race::run(args, bench).await,
        Scenario::Fanout(args) => {
            servers::require(&bench.j0);
            fanout::run(args, bench).await
        }
        Scenario::Signin(args) => signin::run(args, bench).await,
        Scenario::Scaling(args) => {
            servers::require(&bench.j0);
            lifecycle::scaling(args, bench).await
        }
        Scenario::Statements(args) => {
            servers::require(&bench.j0);
            statements::run(args, bench).await
        }
        Scenario::Ceiling(args) => {
            servers::require(&bench.j0);
            ceiling::run(args, bench).await
        }
        Scenario::All => unreachable!("`all` is expanded into its scenarios"),
    };
    let path = output::write_json(
        &bench.out,
        outcome.scenario,
        &output::scenario_json(&outcome),
    );
    bench.ui.line(format!(
        "{} took {:.0} s; results in {}",
        outcome.scenario,
        outcome.took.as_secs_f64(),
        path.display()
    ));
    outcome
}

/// Scenario `name` with its defaults (and the environment variables it reads).
fn defaults(name: &str) -> Scenario {
    Cli::try_parse_from(["j0-bench", name])
        .expect("defaults parse")
        .command
        .expect("a scenario")
}

/// Every scenario with its defaults, in the order `all` runs them.
fn every_scenario() -> Vec<Scenario> {
    [
        "lifecycle",
        "race",
        "fanout",
        "signin",
        "scaling",
        "statements",
        "ceiling",
    ]
    .into_iter()
    .map(defaults)
    .collect()
}

#[tokio::main]
async fn main() {
    let started = Instant::now();
    let cli = Cli::parse();
    let open_files = raise_open_file_limit();
    let bench = Bench {
        ui: Ui::new(),
        out: output::out_dir(cli.out.as_deref()),
        j0: servers::j0_path(cli.j0.as_deref()),
    };
    let command = cli.command.unwrap_or_else(|| defaults("lifecycle"));
    let (scenarios, all) = match command {
        Scenario::All => (every_scenario(), true),
        one => (vec![one], false),
    };
    let mut outcomes = Vec::with_capacity(scenarios.len());
    for scenario in &scenarios {
        outcomes.push(run(scenario, &bench).await);
    }
    let took: Duration = started.elapsed();
    if all {
        let report = json!({
            "took_s": took.as_secs_f64(),
            "open_file_limit": open_files,
            "machine": output::machine(),
            "scenarios": outcomes.iter().map(output::scenario_json).collect::<Vec<_>>(),
        });
        let path = output::write_json(&bench.out, "report", &report);
        bench.ui.line(format!("report in {}", path.display()));
    }
    bench.ui.line(output::summary_table(&outcomes).to_string());
    bench
        .ui
        .line(format!("bench took {:.0} s", took.as_secs_f64()));
}
