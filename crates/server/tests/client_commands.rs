//! The client commands of the `j0` binary against a real `j0 serve`: posting and reading,
//! `j0 work` answering jobs with a command, and `j0 mcp` driven by a real MCP client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::{Value, json};

use j0_client::{Capability, JobId, JobStatus, PostJob};
use j0_testkit::process::{Serving, j0_command};
use j0_testkit::{Session, TestDatabase, Wallet, sign_in_at};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_j0"))
}

/// `j0 serve` on a fresh database, new users granted `J0_SIGNUP_PROMO_CENTS` of 1000.
fn serve(db: &TestDatabase) -> Serving {
    let mut cmd = j0_command(bin(), Some(db.url()), &["serve"]);
    cmd.env("J0_SIGNUP_PROMO_CENTS", "1000")
        .env("J0_RATE_IP_PER_MIN", "0")
        .env("J0_RATE_USER_PER_MIN", "0")
        .env("J0_RATE_AUTH_PER_MIN", "0");
    Serving::start(cmd)
}

/// A client command as `wallet`, against `serving`.
fn as_user(serving: &Serving, wallet: &Wallet, args: &[&str]) -> Command {
    let mut cmd = j0_command(bin(), None, args);
    cmd.env("J0_BASE_URL", &serving.base)
        .env("J0_PRIVATE_KEY", wallet.private_key_hex());
    cmd
}

fn json_of(cmd: &mut Command) -> Value {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn audit(db: &TestDatabase) {
    let out = j0_command(bin(), Some(db.url()), &["admin", "audit-ledger"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_client_commands_post_read_and_cancel() {
    let db = TestDatabase::new().await;
    let serving = serve(&db);
    let wallet = Wallet::random();

    let mut post = as_user(
        &serving,
        &wallet,
        &[
            "post",
            "--capability",
            "opus",
            "--credits",
            "10",
            "--timeout",
            "30",
            "--json",
            "-",
        ],
    );
    let mut child = post
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"Summarize: a prompt from stdin\n")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let posted: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(posted["prompt"], "Summarize: a prompt from stdin\n");
    let id = posted["job_id"].as_i64().unwrap().to_string();

    let shown = json_of(&mut as_user(&serving, &wallet, &["job", &id, "--json"]));
    assert_eq!(shown["status"], "posted");
    let listed = json_of(&mut as_user(
        &serving,
        &wallet,
        &["jobs", "--status", "posted", "--json"],
    ));
    assert_eq!(listed["jobs"][0]["job_id"], posted["job_id"]);
    let human = as_user(&serving, &wallet, &["jobs", "--capability", "opus"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&human.stdout).contains(&format!("#{id}")));
    let balance = json_of(&mut as_user(&serving, &wallet, &["balance", "--json"]));
    assert_eq!(
        balance,
        json!({ "cash_cents": 0, "promo_cents": 990, "total_cents": 990 })
    );

    let cancelled = json_of(&mut as_user(&serving, &wallet, &["cancel", &id, "--json"]));
    assert_eq!(cancelled["credits_refunded"], 10);
    let history = json_of(&mut as_user(&serving, &wallet, &["transactions", "--json"]));
    assert_eq!(history["transactions"][0]["type"], "job_refund");

    let refused = as_user(&serving, &wallet, &["cancel", &id])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("job not available"));
    let keyless = j0_command(bin(), None, &["balance", "--url", &serving.base])
        .output()
        .unwrap();
    assert!(!keyless.status.success());
    assert!(String::from_utf8_lossy(&keyless.stderr).contains("J0_PRIVATE_KEY"));
    audit(&db);
}

/// Posts `job` as `requester`; its id.
async fn post(requester: &Session, job: PostJob) -> JobId {
    requester.post_job(job).await.unwrap().job_id
}

/// `j0 work` as `wallet` with `args` after `work`, its output piped.
fn work(serving: &Serving, wallet: &Wallet, args: &[&str]) -> std::process::Child {
    let args: Vec<&str> = ["work"].into_iter().chain(args.iter().copied()).collect();
    as_user(serving, wallet, &args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Sends `signal` to a `j0 work` process and returns how it exited and what it printed.
async fn stop(
    mut worker: std::process::Child,
    signal: nix::sys::signal::Signal,
) -> (std::process::ExitStatus, String) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(worker.id()).unwrap());
    nix::sys::signal::kill(pid, signal).unwrap();
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let status = worker.wait().unwrap();
        let mut stdout = String::new();
        worker
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        (status, stdout)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn j0_work_answers_jobs_of_its_capabilities_with_a_command() {
    let db = TestDatabase::new().await;
    let serving = serve(&db);
    let requester = sign_in_at(&serving.base, Wallet::random()).await;
    // Posted before the worker starts: picked up from the list.
    let early = post(
        &requester,
        PostJob::new(Capability::Opus, 10, 30, "posted before"),
    )
    .await;
    let upper = ["--capability", "opus", "--exec", "tr a-z A-Z"];
    let worker = work(&serving, &Wallet::random(), &upper);
    let done = requester.wait_for_status(early, JobStatus::Completed).await;
    assert_eq!(done.result.as_deref(), Some("POSTED BEFORE"));

    let ignored = post(
        &requester,
        PostJob::new(Capability::Sonnet, 10, 30, "not mine"),
    )
    .await;
    let live = post(
        &requester,
        PostJob::new(Capability::Opus, 20, 30, "hello worker"),
    )
    .await;
    let live = requester.wait_for_status(live, JobStatus::Completed).await;
    assert_eq!(live.result.as_deref(), Some("HELLO WORKER"));
    assert_eq!(
        requester.job(ignored).await.unwrap().status,
        JobStatus::Posted
    );

    let (status, printed) = stop(worker, nix::sys::signal::Signal::SIGTERM).await;
    assert!(status.success(), "exits 0 on SIGTERM: {status:?} {printed}");
    for line in [
        format!("completed job #{early}: earned 9 credits"),
        "earned 18 credits".to_owned(),
        "total 27 credits from 2 job(s)".to_owned(),
    ] {
        assert!(printed.contains(&line), "{line}: {printed}");
    }
    assert!(!printed.contains(&format!("#{ignored}")), "{printed}");
    audit(&db);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_that_overruns_the_deadline_is_killed_and_nothing_is_submitted() {
    let db = TestDatabase::new().await;
    let serving = serve(&db);
    let requester = sign_in_at(&serving.base, Wallet::random()).await;
    let pid_file = tempfile::NamedTempFile::new().unwrap();
    let exec = format!(
        "echo $$ > {}; sleep 60; echo never",
        pid_file.path().display()
    );
    let worker = work(
        &serving,
        &Wallet::random(),
        &["--capability", "gpt4", "--exec", &exec],
    );
    let job = post(
        &requester,
        PostJob::new(Capability::Gpt4, 10, 10, "take your time"),
    )
    .await;
    requester.wait_for_status(job, JobStatus::Accepted).await;
    let timed_out = requester.wait_for_status(job, JobStatus::Timeout).await;
    assert_eq!(timed_out.result, None);
    assert_eq!(requester.balance().await.unwrap().total_cents.get(), 1000);

    let pid: i32 = std::fs::read_to_string(pid_file.path())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
    assert!(!alive, "the command's process group was killed");
    let out = stop(worker, nix::sys::signal::Signal::SIGINT).await;
    assert!(out.0.success());
    let line = format!("failed    job #{job}: the command overran the deadline and was killed");
    assert!(
        out.1.contains(&line) && out.1.contains("nothing submitted"),
        "{}",
        out.1
    );
    audit(&db);
}

fn tool_json(result: &CallToolResult) -> Value {
    result
        .structured_content
        .clone()
        .expect("structured content")
}

#[tokio::test(flavor = "multi_thread")]
async fn j0_mcp_offers_the_marketplace_as_tools() {
    let db = TestDatabase::new().await;
    let serving = serve(&db);
    let agent = Wallet::random();
    let base = serving.base.clone();
    let key = agent.private_key_hex();
    let transport = TokioChildProcess::new(tokio::process::Command::new(bin()).configure(|cmd| {
        cmd.arg("mcp")
            .env_remove("DATABASE_URL")
            .env("J0_BASE_URL", &base)
            .env("J0_PRIVATE_KEY", &key)
            .env("RUST_LOG", "info");
    }))
    .unwrap();
    let mcp = ().serve(transport).await.unwrap();

    let tools = mcp.list_all_tools().await.unwrap();
    let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "accept_job",
            "buy_credits",
            "cancel_job",
            "complete_job",
            "deposit_address",
            "get_balance",
            "get_job",
            "list_jobs",
            "list_transactions",
            "post_job",
            "wait_for_job",
        ]
    );
    for tool in &tools {
        assert_eq!(
            tool.input_schema.get("type"),
            Some(&json!("object")),
            "{}",
            tool.name
        );
        assert!(
            tool.description.as_ref().is_some_and(|d| d.len() > 40),
            "{}",
            tool.name
        );
    }
    let post = tools.iter().find(|t| t.name == "post_job").unwrap();
    let props = post.input_schema.get("properties").unwrap();
    for arg in ["capability", "credits", "timeout_sec", "prompt"] {
        assert!(props.get(arg).is_some(), "post_job takes {arg}");
    }

    let call = |name: &'static str, args: Value| {
        let params =
            CallToolRequestParams::new(name).with_arguments(args.as_object().unwrap().clone());
        mcp.call_tool(params)
    };
    let posted = call(
        "post_job",
        json!({ "capability": "opus", "credits": 10, "timeout_sec": 30, "prompt": "Say hi" }),
    )
    .await
    .unwrap();
    assert_eq!(posted.is_error, Some(false));
    let job_id = tool_json(&posted)["job_id"].as_i64().unwrap();
    let text = posted.content[0].as_text().unwrap().text.clone();
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["job_id"],
        job_id
    );

    let refused = call("accept_job", json!({ "job_id": job_id }))
        .await
        .unwrap();
    assert_eq!(refused.is_error, Some(true));
    assert_eq!(tool_json(&refused)["code"], "OWN_JOB");

    // Another agent takes the job while the first waits for it in one call.
    let worker = sign_in_at(&serving.base, Wallet::random()).await;
    let id = j0_client::JobId(job_id);
    let answer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        worker.accept_job(id).await.unwrap();
        worker.complete_job(id, "hi!").await.unwrap();
    });
    let waited = call(
        "wait_for_job",
        json!({ "job_id": job_id, "timeout_sec": 30 }),
    )
    .await
    .unwrap();
    answer.await.unwrap();
    let waited = tool_json(&waited);
    assert_eq!(waited["done"], true);
    assert_eq!(waited["job"]["result"], "hi!");

    let balance = tool_json(&call("get_balance", json!({})).await.unwrap());
    assert_eq!(balance["total_cents"], 990);
    let unknown = call("get_job", json!({ "job_id": 987_654 })).await.unwrap();
    assert_eq!(
        (unknown.is_error, tool_json(&unknown)["code"].clone()),
        (Some(true), json!("JOB_NOT_FOUND"))
    );
    let payments = call("buy_credits", json!({ "amount_usd": 10 }))
        .await
        .unwrap();
    assert_eq!(tool_json(&payments)["code"], "PAYMENTS_UNAVAILABLE");
    mcp.cancel().await.unwrap();
    audit(&db);
}
