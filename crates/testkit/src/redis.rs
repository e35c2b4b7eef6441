//! Redis for the tests of the shared rate limits: the machine's server at 127.0.0.1:6379
//! (shared by every test, so each test writes under a prefix of its own), and private servers
//! on free ports for tests that stop Redis mid-run, which must never touch the shared one.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use redis::AsyncTypedCommands;

/// The machine's Redis, which `.ci/run` starts when it is not running.
pub const SHARED_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// A key prefix no other test uses.
pub fn unique_prefix() -> String {
    format!("j0test:{}:", uuid::Uuid::new_v4().simple())
}

async fn connection(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("connecting to Redis")
}

/// The keys starting with `prefix` and what is left of each one's life in milliseconds
/// (`-1` for a key that never expires), sorted by key.
pub async fn keys_with_ttl(url: &str, prefix: &str) -> Vec<(String, i64)> {
    let mut conn = connection(url).await;
    let mut keys = conn.keys(format!("{prefix}*")).await.expect("KEYS");
    keys.sort();
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("PTTL");
        out.push((key, ttl));
    }
    out
}

/// A `redis-server` of the test's own, on a free port of 127.0.0.1, keeping nothing on disk;
/// killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one and waits until it answers.
    pub async fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = Self { port, child: None };
        server.start_again().await;
        server
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server, as a crash or a lost host would; its data is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "the Redis server is already running");
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let client = redis::Client::open(self.url()).expect("Redis URL");
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await
                && conn.ping().await.is_ok()
            {
                return;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
