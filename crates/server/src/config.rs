//! Configuration, read once from the environment at start into typed values (contract §10).

use std::{net::SocketAddr, path::PathBuf};

use clap::Args;

use j0_adapters_evm::{DEFAULT_DEPOSIT_FACTORY, DEFAULT_INIT_CODE_HASH, parse_init_code_hash};
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

/// Everything `j0 serve` reads from the environment.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// PostgreSQL connection string; unset starts a private cluster under ./.j0/pg.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Listen address.
    #[arg(long, env = "J0_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Prometheus metrics listener (`GET /metrics`), loopback only; `off` disables it.
    #[arg(long, env = "J0_METRICS_BIND", default_value = "127.0.0.1:9464",
          value_parser = parse_metrics_bind)]
    // `std::option::Option` spelled out: clap's derive would take a bare `Option` for "may be
    // left out" and parse a `SocketAddr`; this way `parse_metrics_bind` itself answers `None`.
    pub metrics_bind: std::option::Option<SocketAddr>,

    /// HS256 key, at least 32 bytes; unset, one is generated once into ./.j0/jwt_secret.
    #[arg(long, env = "J0_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// First word of `message_to_sign`; also the token issuer.
    #[arg(long, env = "J0_AUTH_DOMAIN", default_value = "j0.com")]
    pub auth_domain: String,

    /// Seconds a posted job waits for a worker.
    #[arg(long, env = "J0_ACCEPT_WINDOW_SEC", default_value_t = 420,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub accept_window_sec: u32,

    /// Jobs one worker may hold in `accepted` at once; 0 = no cap.
    #[arg(long, env = "J0_MAX_OPEN_JOBS_PER_WORKER",
          default_value_t = j0_domain::job::DEFAULT_MAX_OPEN_JOBS_PER_WORKER)]
    pub max_open_jobs_per_worker: u32,

    /// Promo credits granted on a user's first sign-in.
    #[arg(long, env = "J0_SIGNUP_PROMO_CENTS", default_value_t = 0,
          value_parser = clap::value_parser!(i64).range(0..))]
    pub signup_promo_cents: i64,

    /// Mark the session cookie `Secure` (false only for plain-HTTP local development).
    #[arg(long, env = "J0_COOKIE_SECURE", default_value_t = true,
          action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub cookie_secure: bool,

    /// Connections in the database pool.
    #[arg(long, env = "J0_DB_POOL_SIZE", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub db_pool_size: u32,

    /// Milliseconds between expiry sweeps; each sweep drains every due job in batches.
    #[arg(long, env = "J0_SWEEP_INTERVAL_MS", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(10..))]
    pub sweep_interval_ms: u64,

    /// Seconds events stay replayable with `?since=`.
    #[arg(long, env = "J0_EVENT_RETENTION_SEC", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub event_retention_sec: u64,

    /// Seconds between the server's WebSocket pings.
    #[arg(long, env = "J0_WS_PING_SEC", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub ws_ping_sec: u64,

    /// Seconds of silence after which a WebSocket is closed.
    #[arg(long, env = "J0_WS_IDLE_SEC", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(2..))]
    pub ws_idle_sec: u64,

    /// Bytes of events a WebSocket may fall behind before it is closed as too slow.
    #[arg(long, env = "J0_WS_MAX_BACKLOG_BYTES", default_value_t = 128 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..))]
    pub ws_max_backlog_bytes: u64,

    /// Stripe secret API key; with the webhook secret, enables card payments.
    #[arg(long, env = "STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<String>,

    /// Stripe webhook endpoint secret (`whsec_…`).
    #[arg(long, env = "STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub stripe_webhook_secret: Option<String>,

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

    /// JSON-RPC endpoint of the Base node; unset, the deposit watcher is off.
    #[arg(long, env = "J0_EVM_RPC_URL", hide_env_values = true)]
    pub evm_rpc_url: Option<String>,

    /// Chain the deposits are on.
    #[arg(long, env = "J0_CHAIN_ID", default_value_t = 8453)]
    pub chain_id: u64,

    /// The USDC contract watched.
    #[arg(long, env = "J0_USDC_CONTRACT",
          default_value = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", value_parser = parse_address)]
    pub usdc_contract: WalletAddress,

    /// Blocks on top before a deposit counts.
    #[arg(long, env = "J0_USDC_CONFIRMATIONS", default_value_t = 12)]
    pub usdc_confirmations: u64,

    /// Seconds between deposit polls.
    #[arg(long, env = "J0_USDC_POLL_SEC", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub usdc_poll_sec: u64,

    /// Most deposit addresses in one `eth_getLogs` filter; more are asked for in several.
    #[arg(long, env = "J0_USDC_ADDRESSES_PER_QUERY", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub usdc_addresses_per_query: u64,

    /// First block the watcher scans on its first run (default: the head then).
    #[arg(long, env = "J0_USDC_START_BLOCK")]
    pub usdc_start_block: Option<u64>,

    /// CREATE2 deployer of the deposit forwarders.
    #[arg(long, env = "J0_DEPOSIT_FACTORY", default_value = DEFAULT_DEPOSIT_FACTORY,
          value_parser = parse_address)]
    pub deposit_factory: WalletAddress,

    /// Keccak-256 of the forwarder's init code.
    #[arg(long, env = "J0_DEPOSIT_INIT_CODE_HASH", default_value = DEFAULT_INIT_CODE_HASH,
          value_parser = parse_hash)]
    pub deposit_init_code_hash: InitCodeHash,

    /// Requests per minute per client IP, every endpoint; 0 turns it off.
    #[arg(long, env = "J0_RATE_IP_PER_MIN", default_value_t = 600)]
    pub rate_ip_per_min: u32,

    /// Requests per minute per user, authenticated endpoints; 0 turns it off.
    #[arg(long, env = "J0_RATE_USER_PER_MIN", default_value_t = 300)]
    pub rate_user_per_min: u32,

    /// Requests per minute per client IP on /auth/*; 0 turns it off.
    #[arg(long, env = "J0_RATE_AUTH_PER_MIN", default_value_t = 30)]
    pub rate_auth_per_min: u32,

    /// Comma-separated IPs/CIDRs whose X-Forwarded-For is believed.
    #[arg(long, env = "J0_TRUSTED_PROXIES", default_value = "", value_parser = parse_proxies)]
    pub trusted_proxies: TrustedProxies,

    /// Redis shared by every instance for the rate limits; unset, each instance limits alone.
    #[arg(long, env = "J0_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Prefix of every key j0 writes to Redis (several deployments may share one Redis).
    #[arg(long, env = "J0_REDIS_PREFIX", default_value = "j0:")]
    pub redis_prefix: String,

    /// Comma-separated origins allowed to call the API from a browser, with credentials;
    /// empty (the default) sends no CORS headers at all.
    #[arg(
        long,
        env = "J0_CORS_ALLOWED_ORIGINS",
        default_value = "",
        value_delimiter = ','
    )]
    pub cors_allowed_origins: Vec<String>,

    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "J0_HTTP_WORKERS")]
    pub http_workers: Option<usize>,

    /// Where j0 keeps its local state (the private cluster and the generated secret).
    #[arg(long, env = "J0_STATE_DIR", default_value = ".j0")]
    pub state_dir: PathBuf,
}

impl Config {
    /// The configuration the environment gives, as `j0 serve` would read it.
    pub fn from_env() -> Result<Self, clap::Error> {
        #[derive(clap::Parser)]
        struct Env {
            #[command(flatten)]
            config: Config,
        }
        <Env as clap::Parser>::try_parse_from(["j0"]).map(|env| env.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        #[derive(clap::Parser)]
        struct Args {
            #[command(flatten)]
            config: Config,
        }
        let argv = std::iter::once("j0").chain(args.iter().copied());
        <Args as clap::Parser>::try_parse_from(argv).map(|args| args.config)
    }

    #[test]
    fn the_metrics_listener_is_loopback_only_and_off_disables_it() {
        let bind = |value: &str| parse(&["--metrics-bind", value]).map(|c| c.metrics_bind);
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
    fn the_metrics_listener_defaults_to_the_loopback_port_9464() {
        assert_eq!(
            parse_metrics_bind("127.0.0.1:9464"),
            Ok(Some(SocketAddr::from(([127, 0, 0, 1], 9464))))
        );
        let default = Config::augment_args(clap::Command::new("j0"))
            .get_arguments()
            .find(|a| a.get_id() == "metrics_bind")
            .and_then(|a| a.get_default_values().first().cloned());
        assert_eq!(
            default.as_deref(),
            Some(std::ffi::OsStr::new("127.0.0.1:9464"))
        );
    }
}
