//! `j0-bench race`: many workers race for each job; exactly one may win.
//!
//! For each job in turn, every racer's accept is released at once (a barrier). The check is the
//! contract's: one accept answers the job, every other one is the typed refusal
//! `JOB_ALREADY_ACCEPTED`; anything else fails the run. The winner completes the job, so money
//! moves and the ledger is audited at the end.

use std::time::Instant;

use serde_json::json;

use j0_client::Error;
use j0_testkit::{Session, at_once};

use crate::{
    Bench,
    lifecycle::{REQUESTER_CENTS, bench_job},
    output::Outcome,
    servers,
    stats::Latencies,
};

/// `j0-bench race`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Jobs raced for, one after the other.
    #[arg(long, default_value_t = 1000)]
    pub jobs: usize,
    /// Workers racing for each job.
    #[arg(long, default_value_t = 100)]
    pub racers: usize,
}

/// How one racer's accept ended.
enum Answer {
    Won,
    Refused,
    Other(Error),
}

/// Runs the race.
pub async fn run(args: &Args, bench: &Bench) -> Outcome {
    let started = Instant::now();
    let app = servers::in_process_server().await;
    let requester = app.funded_user(REQUESTER_CENTS).await;
    let mut racers: Vec<Session> = Vec::with_capacity(args.racers);
    for _ in 0..args.racers {
        racers.push(app.new_user().await);
    }
    let bar = bench.ui.bar("race", Some(args.jobs as u64), "jobs");
    let racing = Instant::now();
    let mut accepts = Latencies::default();
    let mut winners = Latencies::default();
    let mut completes = Latencies::default();
    let mut refused = 0usize;
    let mut not_one_winner = 0usize;
    let mut unexpected: Vec<String> = Vec::new();
    for _ in 0..args.jobs {
        let job = requester.post_job(bench_job()).await.expect("post").job_id;
        let answers = at_once(racers.len(), |i| {
            let racer = racers[i].clone();
            async move {
                let sent = Instant::now();
                let answer = match racer.accept_job(job).await {
                    Ok(_) => Answer::Won,
                    Err(Error::JobAlreadyAccepted { .. }) => Answer::Refused,
                    Err(e) => Answer::Other(e),
                };
                (answer, sent.elapsed())
            }
        })
        .await;
        let mut won_by = Vec::new();
        for (i, (answer, took)) in answers.into_iter().enumerate() {
            accepts.push(took);
            match answer {
                Answer::Won => {
                    winners.push(took);
                    won_by.push(i);
                }
                Answer::Refused => refused += 1,
                Answer::Other(e) => unexpected.push(format!("job {job}: {e}")),
            }
        }
        if won_by.len() != 1 {
            not_one_winner += 1;
        }
        for i in won_by {
            let sent = Instant::now();
            racers[i].complete_job(job, "done").await.expect("complete");
            completes.push(sent.elapsed());
        }
        bar.inc(1);
    }
    bar.finish();
    let race_seconds = racing.elapsed().as_secs_f64();
    assert!(
        unexpected.is_empty(),
        "{} accepts answered neither a win nor JOB_ALREADY_ACCEPTED, e.g. {}",
        unexpected.len(),
        unexpected[0]
    );
    assert_eq!(
        not_one_winner, 0,
        "{not_one_winner} of {} jobs did not have exactly one winner",
        args.jobs
    );
    app.assert_ledger_clean().await;
    let all = accepts.summary();
    let won = winners.summary();
    let ui = &bench.ui;
    ui.line(format!(
        "race: {} jobs x {} racers: exactly one winner for every job; {refused} refusals, all \
         JOB_ALREADY_ACCEPTED",
        args.jobs, args.racers
    ));
    ui.line(format!(
        "race accept latency p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms (all {} accepts)",
        all.p50_ms,
        all.p99_ms,
        all.max_ms,
        accepts.len()
    ));
    ui.line(format!(
        "race winning accept p50 {:.1} ms  p99 {:.1} ms",
        won.p50_ms, won.p99_ms
    ));
    ui.line("race: the ledger is clean");
    let took = started.elapsed();
    Outcome {
        scenario: "race",
        took,
        rows: vec![
            (
                "jobs x racers".to_owned(),
                format!("{} x {}", args.jobs, args.racers),
            ),
            (
                "one winner per job".to_owned(),
                format!("{} of {}", args.jobs - not_one_winner, args.jobs),
            ),
            ("accept (all)".to_owned(), all.short()),
            ("accept (winner)".to_owned(), won.short()),
            ("ledger".to_owned(), "clean".to_owned()),
        ],
        json: json!({
            "jobs": args.jobs,
            "racers": args.racers,
            "jobs_with_one_winner": args.jobs - not_one_winner,
            "refusals": refused,
            "accept": all,
            "winning_accept": won,
            "complete": completes.summary(),
            "race_seconds": race_seconds,
            "accepts_per_s": accepts.len() as f64 / race_seconds,
            "ledger": "clean",
        }),
    }
}
