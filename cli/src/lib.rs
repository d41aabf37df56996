//! `scaffolder`: one binary, several roles (DESIGN.md §2).
//!
//! Layout: `config` (loading and checking configuration), `wiring` (building the components from
//! it), `samples` (the templates compiled into the binary), and one file per subcommand under
//! `commands`. No business logic lives here. The binary's `main` only calls [`main_entry`], so
//! the end-to-end tests can build the very same program.

mod commands;
mod config;
mod samples;
mod wiring;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "scaffolder", version, about = "Backstage's scaffolder backend, in Rust")]
struct Cli {
    /// Configuration file (repeatable; merged in order, later wins). Default: ./app-config.yaml.
    #[arg(long = "config", global = true, value_name = "FILE")]
    config: Vec<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// API, worker pool and janitor in one process (SQLite or PostgreSQL).
    Serve,
    /// HTTP API only: enqueues tasks, claims none (PostgreSQL).
    Api,
    /// Claims and runs tasks; serves /healthcheck and /metrics (PostgreSQL).
    Worker,
    /// Recovers stale tasks, fails timed-out ones, prunes old ones (PostgreSQL).
    Janitor {
        /// One sweep, then exit (for a cron or a scheduled task).
        #[arg(long)]
        once: bool,
    },
    /// Applies database migrations and exits.
    Migrate,
}

/// The whole program: parse the command line, read the configuration, run the command.
pub fn main_entry() -> ExitCode {
    let cli = Cli::parse();
    wiring::init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("scaffolder: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let settings = match wiring::settings(&cli.config) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("scaffolder: configuration error: {error:#}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve => commands::serve::run(settings).await,
            Command::Api => commands::api::run(settings).await,
            Command::Worker => commands::worker::run(settings).await,
            Command::Janitor { once } => commands::janitor::run(settings, once).await,
            Command::Migrate => commands::migrate::run(settings).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("scaffolder: {error:#}");
            tracing::error!("{error:#}");
            ExitCode::from(1)
        }
    }
}
