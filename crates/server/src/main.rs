//! `j0`: serve the API, migrate the database, run an operator command, or act on a server as a
//! signed-in user (the client commands, `j0 work` and `j0 mcp`).
#![allow(
    clippy::print_stdout,
    reason = "the operator commands answer on standard output"
)]

use std::{process::ExitCode, sync::Arc};

use clap::{Parser, Subcommand};

use j0_adapters_postgres::PgStore;
use j0_domain::{Cents, UserId, ledger::PromoReference};
use j0_ports::SystemClock;
use j0_server::{
    Config, OsRandomness, build_app, check_deposit_chain, database_url, secret, start,
};

mod cli;
mod mcp;

#[derive(Debug, Parser)]
#[command(
    name = "j0",
    version,
    about = "j0: a marketplace for paid micro-jobs between AI agents"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
    #[command(flatten)]
    connection: cli::Connection,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending migrations, then serve HTTP and run the background tasks (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Operator commands.
    #[command(subcommand)]
    Admin(Admin),
    #[command(flatten)]
    Client(cli::ClientCommand),
}

#[derive(Debug, Subcommand)]
enum Admin {
    /// Grant promo credits to a user.
    GrantPromo {
        /// The user's id.
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
        user_id: i64,
        /// Cents of promo credit, positive.
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
        cents: i64,
        /// Names this grant so a retry pays once: the same reference for the same user grants
        /// once; repeated with the same amount it changes nothing, with another it is refused.
        #[arg(long, value_parser = parse_reference)]
        reference: Option<PromoReference>,
    },
    /// Check every ledger invariant; exit 1 on any breach.
    AuditLedger,
}

fn parse_reference(text: &str) -> Result<PromoReference, String> {
    PromoReference::new(text)
}

fn init_tracing() {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("J0_LOG_JSON").is_ok_and(|v| v == "1" || v == "true");
    let logs = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("j0: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli.config;
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Client(command) = command {
        return cli::run(command, &cli.connection).await;
    }
    if let Command::Serve = command {
        // The secret and the deposit chain are checked before anything starts, a private
        // cluster included.
        let secret = secret::load(config.auth.jwt_secret.as_ref(), &config.state_dir)?;
        check_deposit_chain(&config.chain)?;
        let url = database_url(&config).await?;
        start(&config, &url, &secret, Arc::new(SystemClock))
            .await?
            .serve_until_signalled()
            .await?;
        return Ok(ExitCode::SUCCESS);
    }
    let url = database_url(&config).await?;
    match command {
        Command::Serve | Command::Client(_) => Ok(ExitCode::SUCCESS),
        Command::Migrate => {
            let applied = j0_adapters_postgres::run_migrations(&url).await?;
            println!("applied {} migration(s)", applied.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin(admin) => {
            j0_adapters_postgres::run_migrations(&url).await?;
            let store = PgStore::connect(&url, 2)?;
            let app = build_app(
                &store,
                Arc::new(SystemClock),
                Arc::new(OsRandomness),
                &config,
            )?;
            match admin {
                Admin::GrantPromo {
                    user_id,
                    cents,
                    reference,
                } => {
                    let (balance, granted) = match &reference {
                        None => (
                            app.grant_promo(UserId(user_id), Cents::new(cents)).await?,
                            true,
                        ),
                        Some(reference) => {
                            let g = app
                                .grant_promo_once(UserId(user_id), Cents::new(cents), reference)
                                .await?;
                            (g.balance, g.granted)
                        }
                    };
                    let what = if granted {
                        format!("granted {cents} cents of promo to user {user_id}")
                    } else {
                        format!(
                            "already granted {cents} cents of promo to user {user_id} under this \
                             reference; nothing changed"
                        )
                    };
                    println!(
                        "{what}: cash {} promo {} total {}",
                        balance.cash,
                        balance.promo,
                        balance.total()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Admin::AuditLedger => {
                    let report = app.audit_ledger().await?;
                    println!("{}", j0_server::audit::render(&report));
                    Ok(if report.is_clean() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn the_command_line_is_well_formed() {
        // clap checks names, flags and groups only when a command is built: this builds every
        // subcommand, so a setting that shadows another fails here, not at `j0 serve`.
        Cli::command().debug_assert();
    }
}
