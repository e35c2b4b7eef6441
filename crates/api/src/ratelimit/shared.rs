//! Limits shared by every instance through Redis (`J0_REDIS_URL`), so that N instances behind
//! one balancer give a client one budget, not N.
//!
//! Each check is one `EVALSHA` of a GCRA script: Redis runs it atomically, reads its own clock
//! (`TIME`, one clock for every instance), and stores only the key's theoretical arrival time,
//! with an expiry equal to what is left of the burst period, so idle keys vanish by themselves.
//! The in-process limiter stays the first line and the fallback: when Redis cannot answer
//! within [`CALL_TIMEOUT`], the request is judged by the instance's own limiter, the outage is
//! logged once, and Redis is tried again every [`RETRY_EVERY`] rather than on every request.

use std::{
    fmt::Display,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use redis::{
    Client, Script,
    aio::{ConnectionManager, ConnectionManagerConfig},
};

use j0_ports::ErrorChain;

/// Longest wait for Redis on a request's path; past it the request is judged locally.
const CALL_TIMEOUT: Duration = Duration::from_millis(250);
/// How long Redis is left alone after it failed to answer.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// GCRA over one key. `ARGV[1]`: microseconds between requests at the sustained rate;
/// `ARGV[2]`: the burst. Returns 0 when allowed (and counts the request), else the wait in
/// microseconds (and counts nothing).
const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local next_tat = tat + interval
local allow_at = next_tat - interval * burst
if allow_at > now then
  return math.ceil(allow_at - now)
end
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
return 0
";

/// The Redis side of the limits.
#[derive(Clone)]
pub struct SharedLimits {
    connection: ConnectionManager,
    script: Arc<Script>,
    prefix: String,
    /// While Redis is out of reach: when to try it again.
    retry_at: Arc<Mutex<Option<Instant>>>,
}

impl std::fmt::Debug for SharedLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimits")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// What Redis said about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the shared budget (and counted).
    Allowed,
    /// Over it; wait this long.
    Refused(Duration),
    /// Redis did not answer: judge locally.
    Unreachable,
}

impl SharedLimits {
    /// Limits in the Redis at `url` under keys starting with `prefix`. Connects lazily: a
    /// Redis that is down at start only means local limits until it is up.
    pub fn new(url: &str, prefix: &str) -> Result<Self, redis::RedisError> {
        let client = Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1);
        Ok(Self {
            connection: ConnectionManager::new_lazy_with_config(client, config)?,
            script: Arc::new(Script::new(GCRA)),
            prefix: prefix.to_owned(),
            retry_at: Arc::new(Mutex::new(None)),
        })
    }

    /// The Redis key of `key` under the limit `kind` (`ip`, `auth`, `user`).
    pub fn key(&self, kind: &str, key: impl Display) -> String {
        format!("{}{kind}:{key}", self.prefix)
    }

    /// Counts one request of `key` against `per_minute` with a burst of as many.
    pub async fn check(&self, kind: &str, key: impl Display, per_minute: NonZeroU32) -> Verdict {
        if self.resting() {
            return Verdict::Unreachable;
        }
        let interval_us = 60_000_000 / u64::from(per_minute.get());
        let mut connection = self.connection.clone();
        let mut invocation = self.script.key(self.key(kind, key));
        invocation.arg(interval_us).arg(per_minute.get());
        let answer = tokio::time::timeout(
            CALL_TIMEOUT,
            invocation.invoke_async::<u64>(&mut connection),
        )
        .await;
        match answer {
            Ok(Ok(wait_us)) => {
                self.reachable();
                match wait_us {
                    0 => Verdict::Allowed,
                    us => Verdict::Refused(Duration::from_micros(us)),
                }
            }
            Ok(Err(e)) => {
                self.unreachable(&e);
                Verdict::Unreachable
            }
            Err(elapsed) => {
                self.unreachable(&elapsed);
                Verdict::Unreachable
            }
        }
    }

    /// Whether Redis failed recently enough to be left alone.
    fn resting(&self) -> bool {
        let retry_at = self.retry_at.lock().map(|r| *r).unwrap_or(None);
        retry_at.is_some_and(|at| Instant::now() < at)
    }

    fn reachable(&self) {
        if let Ok(mut retry_at) = self.retry_at.lock()
            && retry_at.take().is_some()
        {
            tracing::info!("Redis answers again: rate limits are shared across instances");
        }
    }

    fn unreachable(&self, cause: &dyn std::error::Error) {
        if let Ok(mut retry_at) = self.retry_at.lock() {
            if retry_at.is_none() {
                tracing::warn!(
                    error = %ErrorChain(cause),
                    "Redis unreachable: rate limits are per instance until it answers again"
                );
            }
            *retry_at = Some(Instant::now() + RETRY_EVERY);
        }
    }
}
