//! `j0-bench statements`: what each step sends to PostgreSQL, and every statement's calls per
//! lifecycle under load.
//!
//! Two readings of one `j0 serve` process on a scratch cluster (see [`crate::capture`]):
//!
//! - **per step**, from one captured lifecycle: the statements of each request (transaction
//!   control and the pool's checkout check included) and the round trips they cost: one each,
//!   plus one for a statement PostgreSQL had to parse during the request (the proxy saw its
//!   `Parse`), which is what an unprepared statement costs through tokio-postgres;
//! - **under load**, from `pg_stat_statements`: reset after the set-up, then N lifecycles by
//!   several pairs; each statement's calls ÷ N, labelled with the steps that send it, or
//!   `background` for the server's own tasks (sequencer, hub, sweeper), whose share per
//!   lifecycle shrinks as the load grows.

use std::{
    collections::{BTreeMap, HashSet},
    time::Instant,
};

use serde_json::json;

use j0_client::{JobId, Wallet};
use j0_testkit::sign_in_at;

use crate::{
    Bench,
    capture::{Capture, Rig, STEPS, is_transaction_control},
    lifecycle::{REQUESTER_CENTS, bench_job},
    output::Outcome,
    servers,
};

/// `j0-bench statements`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Lifecycles counted with `pg_stat_statements`.
    #[arg(long, default_value_t = 400)]
    pub lifecycles: usize,
    /// Requester/worker pairs running them.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
}

/// Each step's statement and round-trip counts, as `(step, statements, round trips, parsed in
/// the call)`.
pub fn per_step(capture: &Capture) -> Vec<(&'static str, usize, usize, usize)> {
    capture
        .steps
        .iter()
        .map(|step| {
            let statements: Vec<_> = step.statements().collect();
            (
                step.name,
                statements.len(),
                statements.iter().map(|s| s.round_trips()).sum(),
                statements.iter().filter(|s| s.prepared_in_call).count(),
            )
        })
        .collect()
}

/// Who sends the statement with query id `id`: the steps whose captured statements include
/// it (with `+background` when the idle server sent it too, like the pool's checkout check),
/// `background`, or `inside PostgreSQL` when no session of j0's sent it (foreign-key checks,
/// statements in functions).
fn label(capture: &Capture, sent: &HashSet<i64>, id: i64, sql: &str) -> String {
    // The log gives simple-protocol statements no query id: transaction control is matched by
    // its text.
    let control = is_transaction_control(sql);
    let mut who: Vec<&str> = capture
        .steps
        .iter()
        .filter(|step| {
            step.statements()
                .any(|s| s.query_id == id || (control && s.sql.trim() == sql.trim()))
        })
        .map(|step| step.name)
        .collect();
    let background = if control {
        capture.background_transactions
    } else {
        capture.background_ids.contains(&id) || (who.is_empty() && sent.contains(&id))
    };
    if background {
        who.push("background");
    }
    if who.is_empty() {
        "inside PostgreSQL".to_owned()
    } else {
        who.join("+")
    }
}

/// The first line of a statement, shortened, for the table.
fn headline(sql: &str) -> String {
    let line: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 90 {
        format!("{}…", line.chars().take(89).collect::<String>())
    } else {
        line
    }
}

/// Runs the capture and the counted load.
pub async fn run(args: &Args, bench: &Bench) -> Outcome {
    let started = Instant::now();
    let rig = Rig::start(bench).await;
    let capture = rig.capture().await;
    let ui = &bench.ui;
    let steps = per_step(&capture);
    for (step, statements, round_trips, parsed) in &steps {
        ui.line(format!(
            "statements {step:<9} {statements} statements, {round_trips} round trips ({parsed} parsed in the call)"
        ));
    }
    let lifecycle_statements: usize = steps.iter().map(|s| s.1).sum();
    let lifecycle_round_trips: usize = steps.iter().map(|s| s.2).sum();
    ui.line(format!(
        "statements per lifecycle {lifecycle_statements}, round trips per lifecycle {lifecycle_round_trips} (one captured lifecycle, {} of 3 agreeing)",
        capture.agreeing
    ));

    let mut pairs = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        let requester = sign_in_at(&rig.server.base, Wallet::random()).await;
        let worker = sign_in_at(&rig.server.base, Wallet::random()).await;
        pairs.push((requester, worker));
    }
    let requesters: Vec<_> = pairs.iter().map(|(r, _)| r.user_id).collect();
    servers::grant_promo(&bench.j0, &rig.url, &requesters, REQUESTER_CENTS);
    let per_pair = args.lifecycles.div_ceil(args.clients);
    let total = per_pair * args.clients;
    let bar = ui.bar("statements", Some(total as u64), "lifecycles");
    rig.reset_statements().await;
    let runs = pairs.into_iter().map(|(requester, worker)| {
        let bar = bar.clone();
        tokio::spawn(async move {
            for _ in 0..per_pair {
                let job: JobId = requester.post_job(bench_job()).await.expect("post").job_id;
                worker.accept_job(job).await.expect("accept");
                worker.complete_job(job, "done").await.expect("complete");
                bar.inc(1);
            }
        })
    });
    for run in futures_util::future::join_all(runs).await {
        run.expect("a pair's task");
    }
    let calls = rig.statement_calls().await;
    bar.finish();

    let sent = rig.sent_query_ids().await;
    let mut table = Vec::new();
    let mut by_kind: BTreeMap<&str, i64> = BTreeMap::new();
    for (id, sql, n) in &calls {
        if sql.contains("pg_stat_statements") {
            continue;
        }
        let label = label(&capture, &sent, *id, sql);
        let kind = match label.as_str() {
            "background" => "background",
            "inside PostgreSQL" => "inside PostgreSQL",
            shared if shared.ends_with("+background") => "shared",
            _ => "request",
        };
        *by_kind.entry(kind).or_default() += n;
        table.push(json!({
            "sent_by": label,
            "calls_per_lifecycle": *n as f64 / total as f64,
            "calls": n,
            "query_id": id,
            "query": sql,
        }));
    }
    let per = |kind: &str| by_kind.get(kind).copied().unwrap_or_default() as f64 / total as f64;
    let request_per = per("request");
    let shared_per = per("shared");
    let background_per = per("background");
    let internal_per = per("inside PostgreSQL");
    ui.line(format!(
        "statements under load ({total} lifecycles, {} pairs), per lifecycle: {request_per:.2} sent only by requests, {shared_per:.2} by requests and background tasks, {background_per:.2} by background tasks, {internal_per:.2} inside PostgreSQL",
        args.clients
    ));
    for row in &table {
        let per = row["calls_per_lifecycle"].as_f64().unwrap_or_default();
        if per >= 0.01 {
            ui.line(format!(
                "  {per:>6.2}  {:<28} {}",
                row["sent_by"].as_str().unwrap_or_default(),
                headline(row["query"].as_str().unwrap_or_default())
            ));
        }
    }
    let server = rig.url.clone();
    drop(rig.server);
    servers::audit_ledger(&bench.j0, &server);
    ui.line("statements: the ledger is clean");

    let mut rows: Vec<(String, String)> = steps
        .iter()
        .map(|(step, statements, round_trips, _)| {
            (
                format!("{step} (captured)"),
                format!("{statements} statements, {round_trips} round trips"),
            )
        })
        .collect();
    rows.push((
        "lifecycle (captured)".to_owned(),
        format!("{lifecycle_statements} statements, {lifecycle_round_trips} round trips"),
    ));
    rows.push((
        "per lifecycle under load".to_owned(),
        format!(
            "{request_per:.2} requests, {shared_per:.2} shared, {background_per:.2} background, {internal_per:.2} in PostgreSQL"
        ),
    ));
    rows.push(("ledger".to_owned(), "clean".to_owned()));
    Outcome {
        scenario: "statements",
        took: started.elapsed(),
        rows,
        json: json!({
            "captured": {
                "steps": steps.iter().map(|(step, statements, round_trips, parsed)| json!({
                    "step": step,
                    "statements": statements,
                    "round_trips": round_trips,
                    "parsed_in_call": parsed,
                })).collect::<Vec<_>>(),
                "statements_per_lifecycle": lifecycle_statements,
                "round_trips_per_lifecycle": lifecycle_round_trips,
                "lifecycles_agreeing": capture.agreeing,
                "lifecycle": capture.steps,
            },
            "under_load": {
                "lifecycles": total,
                "clients": args.clients,
                "per_lifecycle": {
                    "sent_only_by_requests": request_per,
                    "sent_by_requests_and_background": shared_per,
                    "sent_by_background": background_per,
                    "inside_postgresql": internal_per,
                },
                "statements": table,
            },
            "step_order": STEPS,
            "ledger": "clean",
        }),
    }
}
