//! The client commands of `j0`: act on a j0 server as a signed-in user.
//!
//! The private key comes from `J0_PRIVATE_KEY` or `--key-file`, never from a flag's value
//! (flags show up in `ps` and shell history); the server from `--url` or `J0_BASE_URL`
//! (including `/api/v1`). Output is for people by default and the API's JSON with `--json`.
#![allow(
    clippy::print_stdout,
    reason = "the client commands answer on standard output"
)]

use std::{
    path::PathBuf,
    process::{ExitCode, Stdio},
    time::Duration,
};

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use j0_wire::{credits::Transactions, jobs::Jobs};

use j0_client::{
    Assignment, Capability, Client, Job, JobId, JobQuery, JobStatus, MAX_RESULT_CHARS, PostJob,
    Report, Totals, UserId, WorkOptions,
};

/// Where the key and the server come from.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The API's base URL, including `/api/v1` [default: https://j0.com/api/v1].
    #[arg(long = "url", env = "J0_BASE_URL", global = true)]
    pub url: Option<String>,
    /// A file holding the private key (hex); else `J0_PRIVATE_KEY` is read.
    #[arg(long, global = true)]
    pub key_file: Option<PathBuf>,
}

impl Connection {
    /// A client signing in with the configured key.
    pub fn client(&self) -> anyhow::Result<Client> {
        let key = match &self.key_file {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("reading the key file {}", path.display()))?,
            None => std::env::var("J0_PRIVATE_KEY").map_err(|_| {
                anyhow::anyhow!("no private key: set J0_PRIVATE_KEY or pass --key-file")
            })?,
        };
        let mut builder = Client::builder().private_key(key.trim())?;
        if let Some(url) = &self.url {
            builder = builder.base_url(url);
        }
        Ok(builder.build()?)
    }
}

fn capability(text: &str) -> Result<Capability, String> {
    Capability::parse(text).map_err(|e| e.reason)
}

fn status(text: &str) -> Result<JobStatus, String> {
    JobStatus::parse(text).map_err(|e| e.reason)
}

/// The client commands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Post a job and print it.
    Post {
        /// The model a worker must run.
        #[arg(long, value_parser = capability)]
        capability: Capability,
        /// What the job pays, 5-100 credits.
        #[arg(long)]
        credits: i64,
        /// Seconds the worker has after accepting, 10-60.
        #[arg(long)]
        timeout: i64,
        /// Makes a repeated post return the first job (one is generated otherwise).
        #[arg(long)]
        idempotency_key: Option<String>,
        /// The prompt, or `-` to read it from standard input.
        prompt: String,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// List jobs, newest first.
    Jobs {
        /// Only jobs in this state.
        #[arg(long, value_parser = status)]
        status: Option<JobStatus>,
        /// Only jobs for this model.
        #[arg(long, value_parser = capability)]
        capability: Option<Capability>,
        /// Only jobs posted by this user.
        #[arg(long)]
        requester_id: Option<i64>,
        /// Only jobs accepted by this user.
        #[arg(long)]
        worker_id: Option<i64>,
        /// At most this many (1-100).
        #[arg(long)]
        limit: Option<u32>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one job.
    Job {
        /// The job's id.
        id: i64,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the balance.
    Balance {
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the credit history, newest first.
    Transactions {
        /// At most this many (1-100).
        #[arg(long)]
        limit: Option<u32>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a job nobody accepted yet; its credits come back.
    Cancel {
        /// The job's id.
        id: i64,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Work: take posted jobs of these capabilities and answer each with a command.
    ///
    /// The command runs under `sh -c` with the full prompt on standard input and `J0_JOB_ID`,
    /// `J0_DEADLINE` (Unix seconds) in its environment; its standard output, less one trailing
    /// newline, is the result. A command that exits non-zero, prints more than 100,000
    /// characters, or is still running a second before the deadline (its whole process group
    /// is killed then) submits nothing: the job times out and its requester is refunded.
    /// SIGINT or SIGTERM finishes the jobs in hand, then exits 0.
    Work {
        /// Take jobs for this model (repeat for several).
        #[arg(long = "capability", value_parser = capability, required = true)]
        capabilities: Vec<Capability>,
        /// Only jobs paying at least this many credits.
        #[arg(long, default_value_t = 0)]
        min_credits: i64,
        /// The command that answers a prompt.
        #[arg(long)]
        exec: String,
        /// Jobs handled at the same time.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
        concurrency: u16,
    },
    /// Serve the marketplace as Model Context Protocol tools on standard input and output.
    Mcp,
}

/// Runs `command` against the server `connection` names.
pub async fn run(command: ClientCommand, connection: &Connection) -> anyhow::Result<ExitCode> {
    let client = connection.client()?;
    match command {
        ClientCommand::Post {
            capability,
            credits,
            timeout,
            idempotency_key,
            prompt,
            json,
        } => {
            let prompt = if prompt == "-" {
                let mut text = String::new();
                tokio::io::stdin()
                    .read_to_string(&mut text)
                    .await
                    .context("reading the prompt from standard input")?;
                text
            } else {
                prompt
            };
            let mut job = PostJob::new(capability, credits, timeout, prompt);
            job.idempotency_key = idempotency_key;
            let job = client.post_job(job).await?;
            show(json, &job, || print_job(&job));
        }
        ClientCommand::Jobs {
            status,
            capability,
            requester_id,
            worker_id,
            limit,
            json,
        } => {
            let query = JobQuery {
                status,
                capability,
                requester_id: requester_id.map(UserId),
                worker_id: worker_id.map(UserId),
                limit,
                before: None,
            };
            let page = Jobs {
                jobs: client.jobs(query).await?,
            };
            show(json, &page, || {
                for job in &page.jobs {
                    println!("{}", job_line(job));
                }
            });
        }
        ClientCommand::Job { id, json } => {
            let job = client.job(JobId(id)).await?;
            show(json, &job, || print_job(&job));
        }
        ClientCommand::Balance { json } => {
            let balance = client.balance().await?;
            show(json, &balance, || {
                println!(
                    "{} credits ({} cash, {} promo)",
                    balance.total_cents, balance.cash_cents, balance.promo_cents
                );
            });
        }
        ClientCommand::Transactions { limit, json } => {
            let page = Transactions {
                transactions: client.transactions(limit, None).await?,
            };
            show(json, &page, || {
                for row in &page.transactions {
                    println!(
                        "#{:<6} {:>+6}  {:<10} {}  {}",
                        row.id,
                        row.amount_cents.get(),
                        row.kind.as_str(),
                        j0_domain::time::rfc3339(row.created_at),
                        row.description
                    );
                }
            });
        }
        ClientCommand::Cancel { id, json } => {
            let cancelled = client.cancel_job(JobId(id)).await?;
            show(json, &cancelled, || {
                println!(
                    "cancelled job #{}: {} credits refunded",
                    cancelled.job.job_id, cancelled.credits_refunded
                );
            });
        }
        ClientCommand::Work {
            capabilities,
            min_credits,
            exec,
            concurrency,
        } => {
            let options = WorkOptions {
                capabilities,
                min_credits,
                concurrency: usize::from(concurrency),
            };
            let totals = work(&client, options, exec).await?;
            println!(
                "stopped: {} completed, {} failed, {} lost, {} credits earned",
                totals.completed, totals.failed, totals.lost, totals.earned
            );
        }
        ClientCommand::Mcp => crate::mcp::serve(client).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints `value` as JSON, or runs `human`.
fn show<T: Serialize>(json: bool, value: &T, human: impl FnOnce()) {
    if json {
        match serde_json::to_string_pretty(value) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("j0: printing JSON: {e}"),
        }
    } else {
        human();
    }
}

fn job_line(job: &Job) -> String {
    let preview: String = job.prompt.chars().take(60).collect();
    format!(
        "#{:<6} {:<9} {:<10} {:>3} credits  {:>2} s  {}",
        job.job_id,
        job.status.as_str(),
        job.capability.as_str(),
        job.credits,
        job.timeout_sec,
        preview.replace('\n', " ")
    )
}

fn print_job(job: &Job) {
    println!(
        "job #{} {} — {}, {} credits, {} s to complete",
        job.job_id, job.status, job.capability, job.credits, job.timeout_sec
    );
    println!("  posted  {}", j0_domain::time::rfc3339(job.created_at));
    println!("  expires {}", j0_domain::time::rfc3339(job.expires_at));
    if let Some(worker) = job.worker_id {
        println!("  worker  user #{worker}");
    }
    let truncated = if job.prompt_truncated {
        " (preview)"
    } else {
        ""
    };
    println!("  prompt{truncated}: {}", job.prompt);
    if let Some(result) = &job.result {
        println!("  result: {result}");
    }
}

async fn work(client: &Client, options: WorkOptions, exec: String) -> anyhow::Result<Totals> {
    let handler = move |task: Assignment| {
        let exec = exec.clone();
        async move { run_exec(&exec, task).await }
    };
    let totals = client
        .work(options, handler, print_report, shutdown_signal())
        .await?;
    Ok(totals)
}

fn print_report(report: &Report, totals: &Totals) {
    let total = format!(
        "total {} credits from {} job(s)",
        totals.earned, totals.completed
    );
    match report {
        Report::Won { job, credits } => println!("won       job #{job} ({credits} credits)"),
        Report::Lost { job, reason } => println!("lost      job #{job}: {reason}"),
        Report::Completed { job, earned, took } => println!(
            "completed job #{job}: earned {earned} credits in {:.1} s; {total}",
            took.as_secs_f64()
        ),
        Report::Failed { job, reason, took } => println!(
            "failed    job #{job}: {reason} after {:.1} s, nothing submitted; {total}",
            took.as_secs_f64()
        ),
    }
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    eprintln!("j0: stopping after the jobs in hand");
}

/// Most bytes of output read: every character of the longest result may take four.
const MAX_OUTPUT_BYTES: usize = MAX_RESULT_CHARS * 4;

/// Runs `exec` for `task` and returns its output, or why there is none.
async fn run_exec(exec: &str, task: Assignment) -> Result<String, String> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(exec)
        .env("J0_JOB_ID", task.job.job_id.to_string())
        .env("J0_DEADLINE", task.deadline.unix_timestamp().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start the command: {e}"))?;
    let group = child.id().and_then(|id| i32::try_from(id).ok());
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err("the command's standard streams are not available".into());
    };
    let prompt = task.job.prompt.clone();
    // A command that never reads its input must not block the worker.
    let feed = tokio::spawn(async move {
        let _ = stdin.write_all(prompt.as_bytes()).await;
    });
    let read = tokio::spawn(async move {
        let mut output = Vec::new();
        let mut limited = stdout.take(u64::try_from(MAX_OUTPUT_BYTES + 1).unwrap_or(u64::MAX));
        limited.read_to_end(&mut output).await.map(|_| output)
    });
    let deadline = tokio::time::Instant::from_std(task.submit_by);
    let finished = tokio::time::timeout_at(deadline, child.wait()).await;
    feed.abort();
    let status = match finished {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return Err(format!("waiting for the command: {e}")),
        Err(_) => {
            kill_group(group);
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            read.abort();
            return Err("the command overran the deadline and was killed".into());
        }
    };
    // The command is done; what it printed is read up to the end (or the limit).
    let output = match tokio::time::timeout_at(deadline, read).await {
        Ok(Ok(Ok(output))) => output,
        _ => {
            kill_group(group);
            return Err("the command's output did not end before the deadline".into());
        }
    };
    kill_group(group);
    if !status.success() {
        return Err(format!("the command failed ({status})"));
    }
    if output.len() > MAX_OUTPUT_BYTES {
        return Err(format!("output over {MAX_RESULT_CHARS} characters"));
    }
    let mut text = String::from_utf8(output).map_err(|_| "output is not UTF-8".to_owned())?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

/// Kills every process of the command's group (its children included), if any remain.
fn kill_group(group: Option<i32>) {
    if let Some(group) = group {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(group),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}
