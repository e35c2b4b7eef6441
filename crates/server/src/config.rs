//! Configuration, read once from the environment at start into typed values (contract §10).

use std::{net::SocketAddr, path::PathBuf};

use clap::Args;

/// Everything `j0 serve` reads from the environment.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// PostgreSQL connection string; unset starts a private cluster under ./.j0/pg.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Listen address.
    #[arg(long, env = "J0_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

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
