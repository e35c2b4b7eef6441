//! `j0 serve` as its own process, the way operators, the CLI and MCP clients meet it.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, mpsc},
    time::Duration,
};

use serde_json::Value;

/// The JWT secret served processes sign with.
pub const PROCESS_JWT_SECRET: &str = "binary-test-secret-binary-test-secret-01";

/// A `j0` command at `bin` with the test secret and no inherited database.
pub fn j0_command(bin: &Path, database_url: Option<&str>, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("J0_BASE_URL")
        .env_remove("J0_PRIVATE_KEY")
        .env("J0_JWT_SECRET", PROCESS_JWT_SECRET)
        .env("RUST_LOG", "warn");
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    cmd
}

/// A `j0 serve` child process and the address it announced; killed on drop.
#[derive(Debug)]
pub struct Serving {
    child: Child,
    /// `http://127.0.0.1:<port>/api/v1`.
    pub base: String,
    /// Every line it logged so far.
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Serving {
    /// Starts `cmd` (a `j0 serve` command) on a free port, its metrics on another, and waits
    /// for it to listen.
    pub fn start(mut cmd: Command) -> Self {
        cmd.env("J0_BIND", "127.0.0.1:0")
            .env("J0_METRICS_BIND", "127.0.0.1:0")
            .env("J0_LOG_JSON", "1")
            .env("RUST_LOG", "info");
        let mut child = cmd
            .stdout(Stdio::inherit())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn j0 serve");
        let logs = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let kept = Arc::new(Mutex::new(Vec::new()));
        let lines = kept.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(logs).lines().map_while(Result::ok) {
                lines.lock().expect("lock").push(line.clone());
                if let Ok(log) = serde_json::from_str::<Value>(&line)
                    && log["fields"]["message"] == "j0 listening"
                {
                    let addr = log["fields"]["addr"].as_str().unwrap_or_default();
                    let _ = tx.send(addr.to_owned());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("j0 serve announced its address");
        Self {
            child,
            base: format!("http://{addr}/api/v1"),
            logs: kept,
        }
    }

    /// The process id, for what is read from outside it (`/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
