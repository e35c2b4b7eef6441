//! `j0 serve` as its own process (or several on one database), the operator commands the
//! process scenarios fund users and audit the ledger with, and what is read off a process.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use j0_client::{UserId, Wallet};
use j0_testkit::{
    Session, TestApp,
    process::{Serving, j0_command},
    sign_in_at, spawn_app_with,
};

/// The test kit's server on a fresh database, sized as a bench target: a pool of 64 and
/// actix-web's own worker count (one per core), rate limits off as in every test server.
pub async fn in_process_server() -> TestApp {
    spawn_app_with(|c| {
        c.database.pool_size = 64;
        c.http.workers = None;
    })
    .await
}

/// The `j0` binary: `--j0`, else the one beside this executable (`target/<profile>/j0`, which
/// `just bench` builds in the same cargo invocation).
pub fn j0_path(flag: Option<&Path>) -> PathBuf {
    match flag {
        Some(path) => path.to_owned(),
        None => std::env::current_exe()
            .expect("the bench's own path")
            .with_file_name("j0"),
    }
}

/// Stops with a hint when the `j0` binary a process scenario needs is missing.
pub fn require(bin: &Path) {
    assert!(
        bin.is_file(),
        "no j0 binary at {}: build it with the bench (`cargo build --release -p j0-server --bin j0 \
         -p j0-bench`) or pass --j0",
        bin.display()
    );
}

/// Starts `j0 serve` on `database_url`: its own port and metrics port, rate limits off, and
/// `env` on top.
pub fn serve(bin: &Path, database_url: &str, env: &[(&str, String)]) -> Serving {
    let mut cmd = j0_command(bin, Some(database_url), &["serve"]);
    for limit in [
        "J0_RATE_IP_PER_MIN",
        "J0_RATE_USER_PER_MIN",
        "J0_RATE_AUTH_PER_MIN",
    ] {
        cmd.env(limit, "0");
    }
    for (name, value) in env {
        cmd.env(name, value);
    }
    Serving::start(cmd)
}

/// Runs the operator command `j0 admin <args>` on `database_url`; its stdout, or a panic with
/// its output when it fails.
fn admin(bin: &Path, database_url: &str, args: &[&str]) -> String {
    let mut full = vec!["admin"];
    full.extend_from_slice(args);
    let output = j0_command(bin, Some(database_url), &full)
        .output()
        .expect("run j0 admin");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "j0 admin {} failed:\n{stdout}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Grants `cents` of promo credit to each of `users`, with the operator command.
pub fn grant_promo(bin: &Path, database_url: &str, users: &[UserId], cents: i64) {
    let children: Vec<_> = users
        .iter()
        .map(|user| {
            let mut cmd: Command = j0_command(
                bin,
                Some(database_url),
                &[
                    "admin",
                    "grant-promo",
                    "--user-id",
                    &user.to_string(),
                    "--cents",
                    &cents.to_string(),
                ],
            );
            cmd.stdout(std::process::Stdio::null())
                .spawn()
                .expect("run j0 admin grant-promo")
        })
        .collect();
    for mut child in children {
        let status = child.wait().expect("j0 admin grant-promo");
        assert!(status.success(), "j0 admin grant-promo failed");
    }
}

/// `j0 admin audit-ledger` on `database_url`: returns when every invariant holds, panics with
/// the report otherwise.
pub fn audit_ledger(bin: &Path, database_url: &str) {
    admin(bin, database_url, &["audit-ledger"]);
}

/// New users signed in at `api` (`http://host:port/api/v1`), one after the other.
pub async fn sign_in_many(api: &str, n: usize) -> Vec<Session> {
    let mut users = Vec::with_capacity(n);
    for _ in 0..n {
        users.push(sign_in_at(api, Wallet::random()).await);
    }
    users
}

/// The resident set size of process `pid`, in KiB (`VmRSS` in `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/<pid>/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}
