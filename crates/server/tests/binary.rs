//! The `j0` binary as operators run it: its commands, its refusal of a weak secret, the private
//! cluster it starts when no database is configured, and the sweeper of `j0 serve` in real time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    os::unix::fs::PermissionsExt,
    path::Path,
    process::{Command, Output},
    time::Duration,
};

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::Value;

use j0_client::{Capability, HistoryType, JobStatus, PostJob};
use j0_pg_local::PrivateCluster;
use j0_testkit::{
    Response, TestDatabase, Wallet, assert_refused, client_at,
    process::{Serving, j0_command},
    sign_in_at, spawn_app,
};

fn j0(database_url: Option<&str>, args: &[&str]) -> Command {
    j0_command(Path::new(env!("CARGO_BIN_EXE_j0")), database_url, args)
}

fn run(cmd: &mut Command) -> (Output, String, String) {
    let output = cmd.output().expect("run j0");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_commands_grant_promo_and_audit_the_ledger() {
    let app = spawn_app().await;
    let url = app.db.url().to_owned();
    let user = app.new_user().await;

    let (out, stdout, _) = run(&mut j0(Some(&url), &["migrate"]));
    assert!(out.status.success());
    assert!(stdout.contains("applied 0 migration(s)"), "{stdout}");

    let id = user.user_id.to_string();
    let (out, stdout, stderr) = run(&mut j0(
        Some(&url),
        &["admin", "grant-promo", "--user-id", &id, "--cents", "500"],
    ));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("promo 500"), "{stdout}");
    assert_eq!(user.buckets().await, (0, 500));

    for (args, expect) in [
        (
            vec!["--user-id", "999999", "--cents", "5"],
            "no user with id 999999",
        ),
        (vec!["--user-id", id.as_str(), "--cents", "0"], "--cents"),
        (vec!["--user-id", id.as_str(), "--cents", "-5"], "--cents"),
        (vec!["--user-id", id.as_str(), "--cents", "abc"], "--cents"),
    ] {
        let mut full = vec!["admin", "grant-promo"];
        full.extend(args);
        let (out, _, stderr) = run(&mut j0(Some(&url), &full));
        assert!(!out.status.success(), "{full:?} succeeded");
        assert!(stderr.contains(expect), "{full:?}: {stderr}");
    }
    assert_eq!(user.buckets().await, (0, 500));

    user.post_opus(10).await;
    let (out, stdout, _) = run(&mut j0(Some(&url), &["admin", "audit-ledger"]));
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("ledger is clean"), "{stdout}");

    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
    diesel::sql_query(
        "WITH t AS (INSERT INTO ledger_transfers (idempotency_key, created_at)
                    VALUES ('forged', now()) RETURNING id)
         INSERT INTO ledger_entries (transfer_id, account, amount_cents) SELECT id, 'escrow', 7 FROM t",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let (out, stdout, _) = run(&mut j0(Some(&url), &["admin", "audit-ledger"]));
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("BREACH every transfer balances") && stdout.contains("forged"),
        "{stdout}"
    );
    assert!(
        stdout.contains("BREACH escrow equals the credits of open jobs"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_grant_with_a_reference_pays_once_however_often_it_is_retried() {
    let app = spawn_app().await;
    let url = app.db.url().to_owned();
    let (user, other) = (app.new_user().await, app.new_user().await);
    let grant = |user_id: j0_domain::UserId, cents: &str, reference: &str| {
        let id = user_id.to_string();
        run(&mut j0(
            Some(&url),
            &[
                "admin",
                "grant-promo",
                "--user-id",
                &id,
                "--cents",
                cents,
                "--reference",
                reference,
            ],
        ))
    };

    let (out, stdout, stderr) = grant(user.user_id, "500", "campaign-7");
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with("granted 500 cents"), "{stdout}");
    let (out, stdout, stderr) = grant(user.user_id, "500", "campaign-7");
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("already granted"), "{stdout}");
    assert_eq!(user.buckets().await, (0, 500));

    let (out, _, stderr) = grant(user.user_id, "700", "campaign-7");
    assert!(
        !out.status.success(),
        "another amount under a used reference succeeded"
    );
    assert!(
        stderr.contains("already granted 500 cents") && stderr.contains("nothing changed"),
        "{stderr}"
    );
    assert_eq!(user.buckets().await, (0, 500));

    // The reference is the user's: another user under it is another grant.
    let (out, _, stderr) = grant(other.user_id, "700", "campaign-7");
    assert!(out.status.success(), "{stderr}");
    assert_eq!(other.buckets().await, (0, 700));

    for bad in ["", "tab\there"] {
        let (out, _, stderr) = grant(user.user_id, "5", bad);
        assert!(!out.status.success(), "{bad:?} accepted");
        assert!(stderr.contains("--reference"), "{stderr}");
    }
    assert_eq!(user.transactions_of(HistoryType::Promo).await.len(), 1);
    app.assert_ledger_clean().await;
}

#[test]
fn a_short_jwt_secret_stops_the_server_with_a_clear_message() {
    let db_free = j0(Some("postgres://postgres@127.0.0.1:1/none"), &["serve"])
        .env("J0_JWT_SECRET", "too-short")
        .output()
        .unwrap();
    assert!(!db_free.status.success());
    let stderr = String::from_utf8_lossy(&db_free.stderr);
    assert!(
        stderr.contains("J0_JWT_SECRET is 9 bytes; it must be at least 32 bytes"),
        "{stderr}"
    );
}

#[test]
fn deposits_on_a_chain_of_real_money_need_a_real_forwarder() {
    let serve_on = |chain: &str| {
        j0(Some("postgres://postgres@127.0.0.1:1/none"), &["serve"])
            .env("J0_EVM_RPC_URL", "http://127.0.0.1:9/")
            .env("J0_CHAIN_ID", chain)
            .output()
            .unwrap()
    };
    let base = serve_on("8453");
    assert!(!base.status.success());
    let stderr = String::from_utf8_lossy(&base.stderr);
    assert!(
        stderr.contains("chain 8453 holds real money, but J0_DEPOSIT_INIT_CODE_HASH is the documented placeholder"),
        "{stderr}"
    );
    // On Base Sepolia the placeholder passes; this server stops later, at its missing database.
    let sepolia = serve_on("84532");
    assert!(!sepolia.status.success());
    let stderr = String::from_utf8_lossy(&sepolia.stderr);
    assert!(!stderr.contains("placeholder"), "{stderr}");
    assert!(
        stderr.contains("127.0.0.1:1") || stderr.to_lowercase().contains("connect"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_times_out_and_refunds_a_job_in_real_time() {
    let db = TestDatabase::new().await;
    let serving = Serving::start(j0(Some(db.url()), &["serve"]));
    let requester = sign_in_at(&serving.base, Wallet::random()).await;
    let worker = sign_in_at(&serving.base, Wallet::random()).await;
    let (out, _, stderr) = run(&mut j0(
        Some(db.url()),
        &[
            "admin",
            "grant-promo",
            "--user-id",
            &requester.user_id.to_string(),
            "--cents",
            "100",
        ],
    ));
    assert!(out.status.success(), "{stderr}");

    let posted = requester
        .post_job(PostJob::new(Capability::Sonnet, 10, 10, "p"))
        .await
        .unwrap();
    worker.accept_job(posted.job_id).await.unwrap();
    requester
        .wait_for_status(posted.job_id, JobStatus::Timeout)
        .await;
    assert_eq!(requester.buckets().await, (0, 100));
    let (out, stdout, _) = run(&mut j0(Some(db.url()), &["admin", "audit-ledger"]));
    assert!(out.status.success(), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn request_logs_never_carry_a_token() {
    let db = TestDatabase::new().await;
    let serving = Serving::start(j0(Some(db.url()), &["serve"]));
    let user = sign_in_at(&serving.base, Wallet::random()).await;
    let token = user.token.clone();
    let ws = serving.base.replace("/api/v1", "/ws");
    let refused = reqwest::get(format!("{ws}?token=not-a-token-but-secret-looking"))
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    // Raw: a token in the query too, which the client never sends.
    let me = user
        .raw()
        .request(reqwest::Method::GET, &format!("/users/me?token={token}"));
    assert_eq!(Response::of(me).await.status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = serving.logs.lock().unwrap().join("\n");
    assert!(
        logs.contains("\"http.target\":\"/ws\""),
        "requests are logged: {logs}"
    );
    assert!(!logs.contains("secret-looking"), "a query token was logged");
    assert!(!logs.contains(&token), "a session token was logged");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_checkout_is_logged_with_why() {
    let db = TestDatabase::new().await;
    // A port nothing listens on: Stripe refuses the connection.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut cmd = j0(Some(db.url()), &["serve"]);
    cmd.env("STRIPE_SECRET_KEY", "sk_test_unreachable")
        .env("STRIPE_WEBHOOK_SECRET", "whsec_unreachable")
        .env("J0_STRIPE_API_BASE", format!("http://{closed}"));
    let serving = Serving::start(cmd);
    let user = sign_in_at(&serving.base, Wallet::random()).await;
    assert_refused!(user.buy_credits(10).await => 503, "PAYMENTS_UNAVAILABLE", PaymentsUnavailable);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = serving.logs.lock().unwrap().clone();
    let failure: Value = logs
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|log| log["fields"]["message"] == "creating a checkout session failed")
        .expect("the failure is logged");
    let error = failure["fields"]["error"].as_str().unwrap();
    assert!(
        error.starts_with("payment provider unavailable: ") && error.len() > 40,
        "the log says why: {error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_no_configuration_serve_starts_a_private_cluster_and_keeps_a_secret() {
    let dir = tempfile::Builder::new()
        .prefix("j0-private-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let stop_cluster = StopCluster(dir.path().join(".j0/pg"));
    let mut cmd = j0(None, &[]);
    cmd.env_remove("J0_JWT_SECRET").current_dir(dir.path());
    let serving = Serving::start(cmd);
    let health = client_at(&serving.base, Wallet::random())
        .health()
        .await
        .unwrap();
    assert_eq!(
        (health.status.as_str(), health.database.as_str()),
        ("ok", "ok")
    );
    let secret = dir.path().join(".j0/jwt_secret");
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(std::fs::read_to_string(&secret).unwrap().len() >= 32);
    assert!(dir.path().join(".j0/pg/data/PG_VERSION").exists());

    // Closed to every other local user: nothing under .j0 can be listed or read by them, the
    // socket is the server user's only, and a connection needs the generated password.
    let mode = |path: &str| {
        std::fs::metadata(dir.path().join(path))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(".j0"), 0o711);
    for private in [".j0/pg", ".j0/pg/data", ".j0/pg/run", ".j0/pg/log"] {
        assert_eq!(mode(private), 0o700, "{private}");
    }
    assert_eq!(mode(".j0/pg/run/.s.PGSQL.5432"), 0o700);
    assert_eq!(mode(".j0/pg/password"), 0o600);
    let nobody = Command::new("runuser")
        .args(["-u", "nobody", "--", "ls"])
        .arg(dir.path().join(".j0"))
        .output()
        .unwrap();
    assert!(!nobody.status.success(), "another user listed .j0");
    let socket = dir.path().join(".j0/pg/run");
    let no_password = format!("postgresql://postgres@/j0?host={}", socket.display());
    let refused = AsyncPgConnection::establish(&no_password).await;
    assert!(refused.is_err(), "connected without the password");
    let wrong = format!("postgresql://postgres:wrong@/j0?host={}", socket.display());
    let refused = AsyncPgConnection::establish(&wrong).await;
    assert!(
        refused
            .err()
            .is_some_and(|e| e.to_string().contains("password authentication failed")),
        "connected with a wrong password"
    );
    let logs = serving.logs.lock().unwrap().join("\n");
    let password = std::fs::read_to_string(dir.path().join(".j0/pg/password")).unwrap();
    assert!(
        !logs.contains(password.trim()),
        "the cluster's password was logged"
    );
    drop(serving);
    drop(stop_cluster);
}

/// Stops the private cluster under a directory when the test ends, passed or not.
struct StopCluster(std::path::PathBuf);

impl Drop for StopCluster {
    fn drop(&mut self) {
        if Path::new(&self.0).join("data/PG_VERSION").exists()
            && let Ok(cluster) = PrivateCluster::start_or_reuse(&self.0)
        {
            let _ = cluster.stop();
        }
    }
}
