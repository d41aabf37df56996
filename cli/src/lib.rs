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

/// Configuration loading and checking as start-up does them, for the fuzz targets (`fuzz/`).
/// Not an interface.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::config::{ConfigSources, Settings, load};
}

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
    /// Says why a task is (not) running: its place in line, its worker and heartbeat, hand-backs.
    Explain {
        /// The task's id.
        task: String,
    },
    /// Runs a template locally, with no server and no database (for template authors and CI).
    /// Exit status: 0 success, 1 the template failed, 2 usage or input error.
    DryRun {
        /// A template directory (holding template.yaml) or a template file.
        path: PathBuf,
        /// The parameter values (JSON or YAML).
        #[arg(long, value_name = "FILE")]
        values: Option<PathBuf>,
        /// Secrets (JSON or YAML mapping of names to strings).
        #[arg(long, value_name = "FILE")]
        secrets: Option<PathBuf>,
        /// Where to write the resulting files (new or empty). Default: a new temporary directory.
        #[arg(long, value_name = "DIR")]
        output: Option<PathBuf>,
        /// Print Backstage's dry-run response body (JSON) on stdout.
        #[arg(long)]
        json: bool,
    },
}

/// The whole program: parse the command line, read the configuration, run the command.
pub fn main_entry() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            // Usage errors exit 2; --help and --version are not errors.
            return ExitCode::from(if error.use_stderr() { 2 } else { 0 });
        }
    };
    // A dry-run prints its own progress; only warnings from the machinery underneath.
    let _telemetry = wiring::init_logging(if matches!(cli.command, Command::DryRun { .. }) {
        "warn"
    } else {
        "info,sqlx=warn,tower_http=warn"
    });
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
    if let Command::DryRun { path, values, secrets, output, json } = cli.command {
        let options = commands::dry_run::Options { path, values, secrets, output, json };
        return runtime.block_on(commands::dry_run::run(settings, options));
    }
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve => commands::serve::run(settings).await,
            Command::Api => commands::api::run(settings).await,
            Command::Worker => commands::worker::run(settings).await,
            Command::Janitor { once } => commands::janitor::run(settings, once).await,
            Command::Migrate => commands::migrate::run(settings).await,
            Command::Explain { task } => commands::explain::run(settings, &task).await,
            Command::DryRun { .. } => unreachable!("handled above"),
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
