//! `j0-bench ceiling`: pgbench replaying exactly the statements j0 sent for one lifecycle, at
//! the lifecycle's concurrency, against the same PostgreSQL, and the ratio **lifecycle ÷
//! ceiling**.
//!
//! The statements come from [`crate::capture`]: one lifecycle of a `j0 serve` process on a
//! scratch cluster, every statement of each request in order (the pool's checkout check, the
//! revocation check, `BEGIN`/`COMMIT`, the guarded updates and ledger writes), with the values
//! and the parameter types j0 sent. The script keeps each statement's text and turns each
//! parameter into a pgbench variable cast to the type j0 declared:
//!
//! - the requester's and the worker's ids become `:requester` and `:worker`, one pair of users
//!   per pgbench client (`:client_id`), created and funded through j0 beforehand;
//! - the job's id comes from the post's own statement (`\gset` of its `job_id` column), as it
//!   does in j0; the idempotency key is a fresh random number per transaction;
//! - a value that carries one of those inside it (`job:48151623:post`, `Posted job #…`, the
//!   events' JSON, the arrays of user ids) is sent as a template and rebuilt in the statement
//!   with `replace()`;
//! - everything else (amounts, texts, timestamps) is the captured constant, passed with `-D` so
//!   that it stays a bind parameter. The timestamps are the capture's, consistent between the
//!   steps (an accept's deadline is later than its complete), so every guard passes as it did.
//!
//! How it differs from j0's traffic is written in [`DIFFERENCES`] and printed with the result.
//! The replay's database is audited with `j0 admin audit-ledger` afterwards: a replay that did
//! not write the ledger j0 writes would fail it.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use serde_json::json;

use crate::{
    Bench, Load,
    capture::{Capture, REQUESTER_ID, Rig, WORKER_ID, connect},
    lifecycle::{self, REQUESTER_CENTS},
    output::Outcome,
    servers,
};

/// What the replay does differently from j0, printed with every result.
pub const DIFFERENCES: [&str; 6] = [
    "parameters are sent untyped by pgbench, so each is cast to the type j0 declared in the statement's text ($n becomes (:var)::type)",
    "values that carry the job, the users or the idempotency key are rebuilt per transaction with replace() on a template inside the statement",
    "the replay runs without j0's background tasks (event sequencer, WebSocket hub, sweeper), which share PostgreSQL with the requests in the lifecycle run",
    "pgbench prepares every statement once per connection (-M prepared), including any j0 parsed during the request (counted in `parsed_in_call`)",
    "each pgbench client keeps one connection; j0's requests take a pool connection per checkout (the checkout's check statement is replayed, the pool is not)",
    "every client reuses the captured token id in the revocation check, and the captured timestamps",
];

/// `j0-bench ceiling`: as many lifecycle pairs as pgbench clients, each run as long.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub load: Load,
    /// pgbench binary.
    #[arg(long, default_value = "pgbench")]
    pub pgbench: PathBuf,
}

/// The values of the captured lifecycle that are its own.
struct Ids {
    job: String,
    requester: String,
    worker: String,
    key: String,
}

/// A pgbench script and the `-D` constants it reads.
#[derive(Debug)]
pub struct Script {
    /// The script.
    pub text: String,
    /// `(variable, value)` for `-D`.
    pub defines: Vec<(String, String)>,
    /// Parameters rebuilt per transaction from a template.
    pub templated: usize,
}

/// The placeholder of each per-transaction value, and the pgbench variable that fills it.
const PLACEHOLDERS: [(&str, &str); 4] = [
    ("@J@", ":job_id"),
    ("@R@", ":requester"),
    ("@W@", ":worker"),
    ("@K@", ":key"),
];

/// `value` with the captured key and every whole number equal to a captured id replaced by its
/// placeholder.
fn with_placeholders(value: &str, ids: &Ids) -> String {
    let value = value.replace(&ids.key, "@K@");
    let mut out = String::with_capacity(value.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        let placeholder = [
            (&ids.job, "@J@"),
            (&ids.requester, "@R@"),
            (&ids.worker, "@W@"),
        ]
        .into_iter()
        .find(|(id, _)| *id == digits)
        .map(|(_, p)| p);
        out.push_str(placeholder.unwrap_or(digits));
        digits.clear();
    };
    for c in value.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

/// The pgbench expression of one parameter (defining its constant or template as `var`).
fn expression(
    value: Option<&str>,
    ty: Option<&str>,
    var: &str,
    ids: &Ids,
    script: &mut Script,
) -> String {
    let cast = |e: String| match ty {
        Some(ty) => format!("({e})::{ty}"),
        None => format!("({e})"),
    };
    let Some(value) = value else {
        return cast("NULL".to_owned());
    };
    let template = with_placeholders(value, ids);
    if let Some((_, whole)) = PLACEHOLDERS.iter().find(|(p, _)| *p == template) {
        return cast((*whole).to_owned());
    }
    script.defines.push((var.to_owned(), template.clone()));
    let mut e = format!(":{var}");
    for (placeholder, filler) in PLACEHOLDERS {
        if template.contains(placeholder) {
            e = format!("replace({e}, '{placeholder}', {filler}::text)");
        }
    }
    if e != format!(":{var}") {
        script.templated += 1;
    }
    cast(e)
}

/// `sql` with each `$n` replaced by `params[n - 1]`.
fn substitute(sql: &str, params: &[String]) -> String {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len() * 2);
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
            let mut j = i + 1;
            while chars.get(j).is_some_and(char::is_ascii_digit) {
                j += 1;
            }
            let n: usize = chars[i + 1..j]
                .iter()
                .collect::<String>()
                .parse()
                .expect("a parameter number");
            out.push_str(&params[n - 1]);
            i = j;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// The pgbench script replaying `capture`, for clients whose requester is `first_requester +
/// client_id` and worker `first_worker + client_id`.
pub fn script(capture: &Capture, first_requester: i64, first_worker: i64) -> Script {
    let ids = Ids {
        job: capture.job_id.to_string(),
        requester: REQUESTER_ID.to_string(),
        worker: WORKER_ID.to_string(),
        key: capture.key.clone(),
    };
    let mut script = Script {
        text: String::new(),
        defines: Vec::new(),
        templated: 0,
    };
    let mut text = format!(
        "-- j0's lifecycle as j0 sent it (captured by j0-bench; see crates/bench/src/ceiling.rs)\n\
         \\set requester {first_requester} + :client_id\n\
         \\set worker {first_worker} + :client_id\n\
         \\set key random(1, 9000000000000000000)\n"
    );
    let mut job_known = false;
    for step in &capture.steps {
        text.push_str(&format!("-- {}\n", step.name));
        for (g, group) in step.groups.iter().enumerate() {
            for (s, statement) in group.statements.iter().enumerate() {
                if statement.simple {
                    text.push_str(&format!("{};\n", statement.sql.trim()));
                    continue;
                }
                let params: Vec<String> = statement
                    .params
                    .iter()
                    .enumerate()
                    .map(|(p, value)| {
                        expression(
                            value.as_deref(),
                            statement.types.get(p).cloned().flatten().as_deref(),
                            &format!("c_{}_{g}_{s}_{}", step.name, p + 1),
                            &ids,
                            &mut script,
                        )
                    })
                    .collect();
                let sql = substitute(statement.sql.trim(), &params);
                let returns_job = statement.columns.iter().any(|c| c == "job_id");
                if step.name == "post" && !job_known && returns_job {
                    assert!(
                        statement
                            .columns
                            .iter()
                            .all(|c| c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')),
                        "the post's statement returning job_id has columns pgbench cannot name: {:?}",
                        statement.columns
                    );
                    text.push_str(&format!("{sql} \\gset\n"));
                    job_known = true;
                } else {
                    text.push_str(&format!("{sql};\n"));
                }
            }
        }
    }
    assert!(
        job_known,
        "no statement of the captured post returns a job_id column: the replay cannot learn the new job's id"
    );
    assert!(
        text.matches(":job_id").count() > 1,
        "the captured accept and complete never name the job by its id"
    );
    script.text = text;
    script
}

/// What pgbench reported.
#[derive(Debug, Default, serde::Serialize)]
struct Replay {
    tps: f64,
    processed: u64,
    failed: u64,
    latency_average_ms: f64,
}

/// Reads pgbench's report.
fn parse_report(report: &str) -> Replay {
    let number = |prefix: &str| {
        report
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<f64>().ok())
            .unwrap_or_default()
    };
    Replay {
        tps: number("tps = "),
        processed: number("number of transactions actually processed: ") as u64,
        failed: number("number of failed transactions: ") as u64,
        latency_average_ms: number("latency average = "),
    }
}

/// Writes the script and its constants under `dir`; returns the script's path.
fn write_script(dir: &Path, script: &Script) -> PathBuf {
    std::fs::create_dir_all(dir).expect("create the ceiling directory");
    let path = dir.join("lifecycle.sql");
    std::fs::write(&path, &script.text).expect("write the replay script");
    let defines: serde_json::Map<String, serde_json::Value> = script
        .defines
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    std::fs::write(
        dir.join("defines.json"),
        serde_json::to_string_pretty(&defines).expect("defines as JSON"),
    )
    .expect("write the replay's constants");
    path
}

/// Runs the capture, j0's lifecycle and the replay; prints lifecycle ÷ ceiling.
pub async fn run(args: &Args, bench: &Bench) -> Outcome {
    let started = Instant::now();
    let capture = {
        let rig = Rig::start(bench).await;
        rig.capture().await
    };
    let parsed_in_call = capture
        .steps
        .iter()
        .flat_map(|s| s.statements())
        .filter(|s| s.prepared_in_call)
        .count();

    let j0 = lifecycle::in_process(args.load.clients, args.load.seconds, bench, "ceiling j0").await;

    let app = servers::in_process_server().await;
    let mut requesters = Vec::with_capacity(args.load.clients);
    for _ in 0..args.load.clients {
        requesters.push(app.funded_user(REQUESTER_CENTS).await.user_id.get());
    }
    let mut workers = Vec::with_capacity(args.load.clients);
    for _ in 0..args.load.clients {
        workers.push(app.new_user().await.user_id.get());
    }
    let contiguous = |ids: &[i64]| ids.windows(2).all(|w| w[1] == w[0] + 1);
    assert!(
        contiguous(&requesters) && contiguous(&workers),
        "the replay's users did not get consecutive ids"
    );
    let db = app.db.clone();
    app.stop().await;

    let script = script(&capture, requesters[0], workers[0]);
    let dir = bench.out.join("ceiling");
    let path = write_script(&dir, &script);
    let bar = bench.ui.bar("ceiling", None, "");
    bar.set_message("pgbench replaying j0's statements");
    let mut pgbench = tokio::process::Command::new(&args.pgbench);
    pgbench
        .args(["-n", "-M", "prepared", "-j", "2", "-r"])
        .arg("-c")
        .arg(args.load.clients.to_string())
        .arg("-T")
        .arg(args.load.seconds.to_string())
        .arg("-f")
        .arg(&path);
    for (name, value) in &script.defines {
        pgbench.arg("-D").arg(format!("{name}={value}"));
    }
    let output = pgbench.arg(db.url()).output().await.expect("run pgbench");
    bar.finish();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(dir.join("pgbench.log"), &report).expect("keep pgbench's report");
    assert!(
        output.status.success(),
        "pgbench failed replaying {}:\n{report}",
        path.display()
    );
    let replay = parse_report(&report);
    assert!(replay.processed > 0, "pgbench processed nothing:\n{report}");

    let check = connect(db.url()).await;
    let completed: i64 = check
        .query_one("SELECT count(*) FROM jobs WHERE status = 'completed'", &[])
        .await
        .expect("count the replay's completed jobs")
        .get(0);
    drop(check);
    assert!(
        completed as u64 >= replay.processed,
        "pgbench counted {} lifecycles but only {completed} jobs were completed: the replay's guards did not pass as j0's did",
        replay.processed
    );
    servers::audit_ledger(&bench.j0, db.url());
    drop(db);

    let ratio = j0.rate() / replay.tps;
    let ui = &bench.ui;
    ui.line(format!(
        "ceiling: j0 {:.0} lifecycles/s over HTTP; pgbench replaying j0's own statements {:.0} lifecycles/s ({} clients, {} s)",
        j0.rate(),
        replay.tps,
        args.load.clients,
        args.load.seconds
    ));
    ui.line(format!("ceiling: lifecycle / ceiling = {ratio:.2}"));
    ui.line(format!(
        "ceiling: the replay completed {completed} jobs, the ledger is clean; script {} ({} constants, {} rebuilt per transaction)",
        path.display(),
        script.defines.len(),
        script.templated
    ));
    for difference in DIFFERENCES {
        ui.line(format!("  differs: {difference}"));
    }
    Outcome {
        scenario: "ceiling",
        took: started.elapsed(),
        rows: vec![
            ("j0 lifecycles/s".to_owned(), format!("{:.0}", j0.rate())),
            (
                "replay lifecycles/s".to_owned(),
                format!("{:.0}", replay.tps),
            ),
            ("lifecycle / ceiling".to_owned(), format!("{ratio:.2}")),
            ("ledger".to_owned(), "clean (j0 and replay)".to_owned()),
        ],
        json: json!({
            "clients": args.load.clients,
            "seconds": args.load.seconds,
            "j0": j0.json(args.load.clients),
            "replay": replay,
            "replay_completed_jobs": completed,
            "lifecycle_over_ceiling": ratio,
            "script": path,
            "constants": script.defines.len(),
            "rebuilt_per_transaction": script.templated,
            "parsed_in_call": parsed_in_call,
            "differences": DIFFERENCES,
            "ledger": "clean",
        }),
    }
}
