//! Configuration, read once from the environment at start into typed values (contract §10).

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, FromArgMatches};
use secrecy::SecretString;

use j0_adapters_evm::{
    DEFAULT_DEPOSIT_FACTORY, DEFAULT_INIT_CODE_HASH, forwarder_init_code_hash, parse_init_code_hash,
};
use j0_api::ratelimit::TrustedProxies;
use j0_domain::WalletAddress;

/// A 32-byte init-code hash.
pub type InitCodeHash = [u8; 32];

fn parse_address(text: &str) -> Result<WalletAddress, String> {
    text.parse().map_err(|e| format!("{e}"))
}

fn parse_proxies(text: &str) -> Result<TrustedProxies, String> {
    text.parse()
        .map_err(|e: j0_api::ratelimit::InvalidProxy| e.to_string())
}

/// Where `J0_METRICS_BIND` sends the metrics listener: `off`, or a loopback address.
fn parse_metrics_bind(text: &str) -> Result<Option<SocketAddr>, String> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let addr: SocketAddr = text
        .trim()
        .parse()
        .map_err(|e| format!("{e}: expected `off` or a loopback address such as 127.0.0.1:9464"))?;
    check_metrics_bind(addr)?;
    Ok(Some(addr))
}

/// Refuses a metrics address off the loopback interface: the metrics are for the operator's
/// scraper on the same host (or a sidecar), never for the network.
pub fn check_metrics_bind(addr: SocketAddr) -> Result<(), String> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "J0_METRICS_BIND must be a loopback address (127.0.0.1 or [::1]) or `off`, not {addr}: \
             the metrics listener is never exposed to the network"
        ))
    }
}

fn parse_hash(text: &str) -> Result<InitCodeHash, String> {
    parse_init_code_hash(text)
        .map_err(|_| "must be 0x followed by 64 hexadecimal digits".to_owned())
}

/// Everything `j0 serve` reads from the environment, by concern. Each group is one section of
/// `j0 --help`; the environment variables and flags are the contract's (§10).
#[derive(Debug, Clone, Args)]
pub struct Config {
    #[command(flatten, next_help_heading = "HTTP")]
    pub http: HttpConfig,
    #[command(flatten, next_help_heading = "Database")]
    pub database: DatabaseConfig,
    #[command(flatten, next_help_heading = "Sign-in")]
    pub auth: AuthConfig,
    #[command(flatten, next_help_heading = "Jobs")]
    pub jobs: JobsConfig,
    #[command(flatten, next_help_heading = "Card payments")]
    pub payments: PaymentsConfig,
    #[command(flatten, next_help_heading = "USDC deposits")]
    pub chain: ChainConfig,
    #[command(flatten, next_help_heading = "Rate limits")]
    pub limits: LimitsConfig,
    #[command(flatten, next_help_heading = "Events and WebSocket")]
    pub realtime: RealtimeConfig,

    /// Where j0 keeps its local state (the private cluster and the generated secret).
    #[arg(long, env = "J0_STATE_DIR", default_value = ".j0")]
    pub state_dir: PathBuf,
}

/// The listeners and what the HTTP edge adds to every response.
#[derive(Debug, Clone, Args)]
pub struct HttpConfig {
    /// Listen address.
    #[arg(long, env = "J0_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// HTTP worker threads (default: one per core).
    #[arg(long = "http-workers", env = "J0_HTTP_WORKERS")]
    pub workers: Option<usize>,

    /// Prometheus metrics listener (`GET /metrics`), loopback only; `off` disables it.
    #[arg(long, env = "J0_METRICS_BIND", default_value = "127.0.0.1:9464",
          value_parser = parse_metrics_bind)]
    // `std::option::Option` spelled out: clap's derive would take a bare `Option` for "may be
    // left out" and parse a `SocketAddr`; this way `parse_metrics_bind` itself answers `None`.
    pub metrics_bind: std::option::Option<SocketAddr>,

    /// Mark the session cookie `Secure` (false only for plain-HTTP local development).
    #[arg(long, env = "J0_COOKIE_SECURE", default_value_t = true,
          action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub cookie_secure: bool,

    /// Comma-separated origins allowed to call the API from a browser, with credentials;
    /// empty (the default) sends no CORS headers at all.
    #[arg(
        long,
        env = "J0_CORS_ALLOWED_ORIGINS",
        default_value = "",
        value_delimiter = ','
    )]
    pub cors_allowed_origins: Vec<String>,
}

/// The PostgreSQL j0 keeps everything in.
#[derive(Debug, Clone, Args)]
pub struct DatabaseConfig {
    /// PostgreSQL connection string; unset starts a private cluster under ./.j0/pg.
    #[arg(
        long = "database-url",
        id = "database_url",
        env = "DATABASE_URL",
        hide_env_values = true
    )]
    pub url: Option<SecretString>,

    /// Connections in the database pool.
    #[arg(long = "db-pool-size", env = "J0_DB_POOL_SIZE", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub pool_size: u32,
}

/// Signing in and the tokens it gives.
#[derive(Debug, Clone, Args)]
pub struct AuthConfig {
    /// HS256 key, at least 32 bytes; unset, one is generated once into ./.j0/jwt_secret.
    #[arg(long, env = "J0_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<SecretString>,

    /// First word of `message_to_sign`; also the token issuer.
    #[arg(long = "auth-domain", env = "J0_AUTH_DOMAIN", default_value = "j0.com")]
    pub domain: String,

    /// Promo credits granted on a user's first sign-in.
    #[arg(long, env = "J0_SIGNUP_PROMO_CENTS", default_value_t = 0,
          value_parser = clap::value_parser!(i64).range(0..))]
    pub signup_promo_cents: i64,
}

/// How jobs wait, how many a worker holds, and how often the expired are swept.
#[derive(Debug, Clone, Args)]
pub struct JobsConfig {
    /// Seconds a posted job waits for a worker.
    #[arg(long, env = "J0_ACCEPT_WINDOW_SEC", default_value_t = 420,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub accept_window_sec: u32,

    /// Jobs one worker may hold in `accepted` at once; 0 = no cap.
    #[arg(long = "max-open-jobs-per-worker",
          env = "J0_MAX_OPEN_JOBS_PER_WORKER",
          default_value_t = j0_domain::job::DEFAULT_MAX_OPEN_JOBS_PER_WORKER)]
    pub max_open_per_worker: u32,

    /// Milliseconds between expiry sweeps; each sweep drains every due job in batches.
    #[arg(long, env = "J0_SWEEP_INTERVAL_MS", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(10..))]
    pub sweep_interval_ms: u64,
}

/// Card payments through Stripe Checkout; off unless both secrets are set.
#[derive(Debug, Clone, Args)]
pub struct PaymentsConfig {
    /// Stripe secret API key; with the webhook secret, enables card payments.
    #[arg(long, env = "STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<SecretString>,

    /// Stripe webhook endpoint secret (`whsec_…`).
    #[arg(long, env = "STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub stripe_webhook_secret: Option<SecretString>,

    /// Where Stripe API calls go (tests point it at a local fake).
    #[arg(
        long,
        env = "J0_STRIPE_API_BASE",
        default_value = "https://api.stripe.com"
    )]
    pub stripe_api_base: String,

    /// Checkout's redirect after paying.
    #[arg(
        long,
        env = "J0_CHECKOUT_SUCCESS_URL",
        default_value = "https://j0.com/credits?paid=1"
    )]
    pub checkout_success_url: String,

    /// Checkout's redirect after giving up.
    #[arg(
        long,
        env = "J0_CHECKOUT_CANCEL_URL",
        default_value = "https://j0.com/credits"
    )]
    pub checkout_cancel_url: String,
}

/// USDC deposits on Base: the node, the token, and the deposit addresses; off unless the node
/// is set.
#[derive(Debug, Clone, Args)]
pub struct ChainConfig {
    /// JSON-RPC endpoint of the Base node; unset, the deposit watcher is off.
    #[arg(long = "evm-rpc-url", env = "J0_EVM_RPC_URL", hide_env_values = true)]
    pub rpc_url: Option<SecretString>,

    /// Chain the deposits are on.
    #[arg(long, env = "J0_CHAIN_ID", default_value_t = 8453)]
    pub chain_id: u64,

    /// The USDC contract watched.
    #[arg(long, env = "J0_USDC_CONTRACT", value_parser = parse_address,
          default_value = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913")]
    pub usdc_contract: WalletAddress,

    /// Blocks on top before a deposit counts.
    #[arg(
        long = "usdc-confirmations",
        env = "J0_USDC_CONFIRMATIONS",
        default_value_t = 12
    )]
    pub confirmations: u64,

    /// Seconds between deposit polls.
    #[arg(long = "usdc-poll-sec",
          env = "J0_USDC_POLL_SEC", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub poll_sec: u64,

    /// Most deposit addresses in one `eth_getLogs` filter; more are asked for in several.
    #[arg(long = "usdc-addresses-per-query",
          env = "J0_USDC_ADDRESSES_PER_QUERY",
          default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub addresses_per_query: u64,

    /// First block the watcher scans on its first run (default: the head then).
    #[arg(long = "usdc-start-block", env = "J0_USDC_START_BLOCK")]
    pub start_block: Option<u64>,

    /// CREATE2 deployer of the deposit forwarders.
    #[arg(long, env = "J0_DEPOSIT_FACTORY", default_value = DEFAULT_DEPOSIT_FACTORY,
          value_parser = parse_address)]
    pub deposit_factory: WalletAddress,

    /// Keccak-256 of the forwarder's init code.
    #[arg(long, env = "J0_DEPOSIT_INIT_CODE_HASH", default_value = DEFAULT_INIT_CODE_HASH,
          value_parser = parse_hash)]
    pub deposit_init_code_hash: InitCodeHash,
}

/// Requests per minute per IP and per user, who is believed about the client's IP, and the
/// Redis that lets every instance share one count.
#[derive(Debug, Clone, Args)]
pub struct LimitsConfig {
    /// Requests per minute per client IP, every endpoint; 0 turns it off.
    #[arg(
        long = "rate-ip-per-min",
        env = "J0_RATE_IP_PER_MIN",
        default_value_t = 600
    )]
    pub ip_per_min: u32,

    /// Requests per minute per user, authenticated endpoints; 0 turns it off.
    #[arg(
        long = "rate-user-per-min",
        env = "J0_RATE_USER_PER_MIN",
        default_value_t = 300
    )]
    pub user_per_min: u32,

    /// Requests per minute per client IP on /auth/*; 0 turns it off.
    #[arg(
        long = "rate-auth-per-min",
        env = "J0_RATE_AUTH_PER_MIN",
        default_value_t = 30
    )]
    pub auth_per_min: u32,

    /// Comma-separated IPs/CIDRs whose X-Forwarded-For is believed.
    #[arg(long, env = "J0_TRUSTED_PROXIES", default_value = "", value_parser = parse_proxies)]
    pub trusted_proxies: TrustedProxies,

    /// Redis shared by every instance for the rate limits; unset, each instance limits alone.
    #[arg(long, env = "J0_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<SecretString>,

    /// Prefix of every key j0 writes to Redis (several deployments may share one Redis).
    #[arg(long, env = "J0_REDIS_PREFIX", default_value = "j0:")]
    pub redis_prefix: String,
}

/// How long events stay replayable, and how WebSockets are kept alive and kept up.
#[derive(Debug, Clone, Args)]
pub struct RealtimeConfig {
    /// Seconds events stay replayable with `?since=`.
    #[arg(long, env = "J0_EVENT_RETENTION_SEC", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub event_retention_sec: u64,

    /// Seconds between the server's WebSocket pings.
    #[arg(long = "ws-ping-sec", env = "J0_WS_PING_SEC", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub ping_sec: u64,

    /// Seconds of silence after which a WebSocket is closed.
    #[arg(long = "ws-idle-sec", env = "J0_WS_IDLE_SEC", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(2..))]
    pub idle_sec: u64,

    /// Bytes of events a WebSocket may fall behind before it is closed as too slow.
    #[arg(long = "ws-max-backlog-bytes",
          env = "J0_WS_MAX_BACKLOG_BYTES",
          default_value_t = 128 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..))]
    pub max_backlog_bytes: u64,
}

/// The JWT secret [`Config::for_tests`] signs with.
pub const TEST_JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

impl Config {
    /// Every default, as `j0 serve` would take them from an empty environment: the environment
    /// of this process is not read.
    pub fn defaults() -> Self {
        let command = Self::command_without_environment();
        // Every argument has a default or is optional, and each default parses: a unit test
        // holds both, so this is a property of the code, not of any input.
        #[allow(
            clippy::expect_used,
            reason = "the defaults are checked by a unit test"
        )]
        let defaults = Self::parse(command, std::iter::empty()).expect("the defaults parse");
        defaults
    }

    /// The defaults with what a server under test needs instead: any free port, no metrics
    /// listener, a fixed JWT secret, a small pool, no rate limits, a sweeper and a deposit
    /// watcher that run often, two HTTP workers, state under the temporary directory, and
    /// deposit addresses cloning a forwarder that is not the placeholder a chain of real money
    /// refuses (the test chain runs with Base's id). The database is the test's own to set.
    pub fn for_tests() -> Self {
        let mut config = Self::defaults();
        config.http.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        config.http.workers = Some(2);
        // Many servers run at once: a fixed port would collide. A test of the metrics sets
        // `127.0.0.1:0`.
        config.http.metrics_bind = None;
        config.database.pool_size = 16;
        config.auth.jwt_secret = Some(TEST_JWT_SECRET.into());
        config.jobs.sweep_interval_ms = 100;
        config.limits.ip_per_min = 0;
        config.limits.user_per_min = 0;
        config.limits.auth_per_min = 0;
        config.chain.poll_sec = 1;
        config.chain.deposit_init_code_hash =
            forwarder_init_code_hash(&WalletAddress::from_bytes([0x0d; 20]));
        config.state_dir = std::env::temp_dir().join("j0-test-state");
        config
    }

    fn command() -> clap::Command {
        <Self as Args>::augment_args(clap::Command::new("j0").no_binary_name(true))
    }

    /// [`Self::command`] with no argument read from the environment.
    fn command_without_environment() -> clap::Command {
        Self::command().mut_args(|arg| arg.env(None::<&'static str>))
    }

    fn parse<'a>(
        command: clap::Command,
        args: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, clap::Error> {
        let matches = command.try_get_matches_from(args)?;
        <Self as FromArgMatches>::from_arg_matches(&matches)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::parse(Config::command(), args.iter().copied())
    }

    #[test]
    fn the_metrics_listener_is_loopback_only_and_off_disables_it() {
        let bind = |value: &str| parse(&["--metrics-bind", value]).map(|c| c.http.metrics_bind);
        assert_eq!(bind("off").unwrap(), None);
        assert_eq!(bind("OFF").unwrap(), None);
        assert_eq!(
            bind("127.0.0.1:9464").unwrap(),
            Some("127.0.0.1:9464".parse().unwrap())
        );
        assert_eq!(bind("[::1]:0").unwrap(), Some("[::1]:0".parse().unwrap()));
        for public in ["0.0.0.0:9464", "[::]:9464", "192.168.1.10:9464"] {
            let refused = bind(public).unwrap_err().to_string();
            assert!(refused.contains("loopback"), "{public}: {refused}");
        }
        assert!(bind("localhost").is_err(), "an address, not a name");
        assert!(check_metrics_bind("10.0.0.1:9464".parse().unwrap()).is_err());
    }

    #[test]
    fn the_defaults_are_the_contracts_whatever_the_environment_holds() {
        let defaults = Config::defaults();
        assert_eq!(defaults.http.bind, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(
            defaults.http.metrics_bind,
            Some(SocketAddr::from(([127, 0, 0, 1], 9464)))
        );
        assert!(defaults.http.cookie_secure);
        assert!(defaults.database.url.is_none());
        assert_eq!(defaults.database.pool_size, 32);
        assert!(defaults.auth.jwt_secret.is_none());
        assert_eq!(defaults.auth.domain, "j0.com");
        assert_eq!(defaults.jobs.accept_window_sec, 420);
        assert_eq!(defaults.jobs.max_open_per_worker, 10);
        assert_eq!(defaults.limits.ip_per_min, 600);
        assert_eq!(defaults.limits.user_per_min, 300);
        assert_eq!(defaults.limits.auth_per_min, 30);
        assert_eq!(defaults.realtime.event_retention_sec, 3600);
        assert_eq!(defaults.chain.chain_id, 8453);
        assert_eq!(defaults.chain.confirmations, 12);
        assert_eq!(
            defaults.chain.deposit_init_code_hash,
            parse_hash(DEFAULT_INIT_CODE_HASH).unwrap()
        );
        assert_eq!(defaults.state_dir, PathBuf::from(".j0"));
        // The environment of this process is not read: it is a test's, and may be anything.
        let settings = Config::command().get_arguments().count();
        let from_environment = Config::command()
            .get_arguments()
            .filter(|a| a.get_env().is_some())
            .count();
        assert_eq!(from_environment, settings, "each setting has its variable");
        let read_by_defaults = Config::command_without_environment()
            .get_arguments()
            .filter(|a| a.get_env().is_some())
            .count();
        assert_eq!(read_by_defaults, 0);
    }

    #[test]
    fn the_flags_keep_their_names_inside_the_groups() {
        let config = parse(&[
            "--db-pool-size",
            "7",
            "--rate-user-per-min",
            "9",
            "--ws-ping-sec",
            "3",
            "--usdc-confirmations",
            "2",
            "--max-open-jobs-per-worker",
            "0",
            "--http-workers",
            "1",
            "--jwt-secret",
            "a-secret-of-at-least-thirty-two-bytes",
        ])
        .unwrap();
        assert_eq!(config.database.pool_size, 7);
        assert_eq!(config.limits.user_per_min, 9);
        assert_eq!(config.realtime.ping_sec, 3);
        assert_eq!(config.chain.confirmations, 2);
        assert_eq!(config.jobs.max_open_per_worker, 0);
        assert_eq!(config.http.workers, Some(1));
        let secret = config.auth.jwt_secret.as_ref().unwrap();
        assert_eq!(
            secret.expose_secret(),
            "a-secret-of-at-least-thirty-two-bytes"
        );
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let mut config = Config::for_tests();
        config.database.url = Some("postgres://j0:database-password@db/j0".into());
        config.payments.stripe_secret_key = Some("sk_live_stripe-key".into());
        config.payments.stripe_webhook_secret = Some("whsec_webhook-secret".into());
        config.chain.rpc_url = Some("https://base.example/v2/rpc-api-key".into());
        config.limits.redis_url = Some("redis://:redis-password@cache".into());
        let printed = format!("{config:?}");
        for secret in [
            "database-password",
            "stripe-key",
            "webhook-secret",
            "rpc-api-key",
            "redis-password",
            TEST_JWT_SECRET,
        ] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
    }

    #[test]
    fn a_test_server_changes_only_what_a_test_needs() {
        let (tests, defaults) = (Config::for_tests(), Config::defaults());
        assert_eq!(tests.http.bind.port(), 0);
        assert_eq!(tests.http.metrics_bind, None);
        assert_eq!(tests.limits.ip_per_min, 0);
        assert_ne!(
            tests.chain.deposit_init_code_hash, defaults.chain.deposit_init_code_hash,
            "not the placeholder forwarder"
        );
        assert_eq!(tests.auth.domain, defaults.auth.domain);
        assert_eq!(
            tests.jobs.accept_window_sec,
            defaults.jobs.accept_window_sec
        );
        assert_eq!(tests.realtime.idle_sec, defaults.realtime.idle_sec);
        assert_eq!(tests.chain.usdc_contract, defaults.chain.usdc_contract);
        assert_eq!(
            tests.payments.stripe_api_base,
            defaults.payments.stripe_api_base
        );
    }
}
