//! `j0-bench signin`: sign-ins per second over HTTP, rate limits off.
//!
//! Each client holds a wallet and signs in again and again: `POST /auth/challenge`, an EIP-191
//! `personal_sign` of the message in the client, `POST /auth/verify`. The first sign-in of each
//! wallet creates its user; the rest are returning users, which is the common case.

use std::time::{Duration, Instant};

use serde_json::json;

use j0_client::Wallet;
use j0_testkit::client_at;

use crate::{Bench, Load, output::Outcome, servers, stats::Latencies};

/// `j0-bench signin`: wallets signing in at once, each again as soon as it has a token.
pub type Args = Load;

/// Runs the sign-ins.
pub async fn run(args: &Args, bench: &Bench) -> Outcome {
    let started = Instant::now();
    let app = servers::in_process_server().await;
    let api = app.url("");
    let bar = bench.ui.bar("signin", None, "sign-ins");
    let measuring = Instant::now();
    let deadline = measuring + Duration::from_secs(args.seconds);
    let tasks = (0..args.clients).map(|_| {
        let client = client_at(&api, Wallet::random());
        let bar = bar.clone();
        tokio::spawn(async move {
            let mut latencies = Latencies::default();
            while Instant::now() < deadline {
                let sent = Instant::now();
                client.authenticate().await.expect("sign in");
                latencies.push(sent.elapsed());
                bar.inc(1);
            }
            latencies
        })
    });
    let mut latencies = Latencies::default();
    for task in futures_util::future::join_all(tasks).await {
        latencies.extend(&task.expect("a sign-in task"));
    }
    let seconds = measuring.elapsed().as_secs_f64();
    bar.finish();
    let rate = latencies.len() as f64 / seconds;
    let summary = latencies.summary();
    bench.ui.line(format!(
        "signin: {rate:.0} sign-ins per second ({} clients); challenge + verify p50 {:.1} ms  p99 {:.1} ms",
        args.clients, summary.p50_ms, summary.p99_ms
    ));
    Outcome {
        scenario: "signin",
        took: started.elapsed(),
        rows: vec![
            ("sign-ins/s".to_owned(), format!("{rate:.0}")),
            ("challenge + verify".to_owned(), summary.short()),
        ],
        json: json!({
            "clients": args.clients,
            "seconds": seconds,
            "sign_ins": latencies.len(),
            "sign_ins_per_s": rate,
            "challenge_and_verify": summary,
        }),
    }
}
