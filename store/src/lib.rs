//! The only crate that speaks SQL.
//!
//! Layout:
//! - [`Store`] (this file): the connection pools for PostgreSQL or SQLite, migrations, health.
//! - `task`: what the API does to a task (insert, get, list, cancel, retry).
//! - `event`: reading a task's event log.
//! - `claim`, `heartbeat`, `write`: what a worker does (claim up to its free slots, keep its
//!   leases alive, write events/state/completions in batches, every write fenced by the lease).
//! - `janitor`: the one sweep that recovers, times out and prunes tasks; safe on every host at once.
//! - `catalog`: the minimal entity table that `templateRef` resolves against.
//! - `signals`: in-process wake-ups, fed by PostgreSQL `LISTEN` when other processes write.
//!
//! Invariant: every write to a task that a worker holds is fenced on `(id, attempt, status =
//! 'processing')` and takes the task's row lock, so a worker that lost its lease writes nothing and
//! event ids of one task only ever grow in commit order.

mod catalog;
mod claim;
mod enqueue;
mod error;
mod event;
mod heartbeat;
mod janitor;
mod signals;
mod task;
mod types;
mod write;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub use catalog::entity_ref_key;
pub use catalog::{EntityRow, LocationRow, NewEntity};
pub use error::StoreError;
pub use janitor::STALE_MESSAGE;
pub use janitor::{SweepConfig, SweepReport};
pub use signals::Signals;
pub use task::{CancelOutcome, InsertOutcome, NewTask, OrderField, RetryOutcome, TaskListQuery, TaskOrder};
pub use types::{
    ClaimedTask, EventRow, EventType, HeartbeatReply, Lease, NewEvent, TaskRow, TaskStanding, TaskStatus, WriteOp,
    WriteOutcome,
};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The PostgreSQL schema every table lives in.
pub const PG_SCHEMA: &str = "scaffolder";

static PG_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// How to reach PostgreSQL: a URL, individual fields, or both (fields override the URL).
#[derive(Clone, Debug, Default)]
pub struct PgSettings {
    pub url: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub database: Option<String>,
    pub max_connections: Option<u32>,
    pub acquire_timeout: Option<Duration>,
}

/// Where the SQLite database lives.
#[derive(Clone, Debug)]
pub enum SqliteLocation {
    File(std::path::PathBuf),
    Memory,
}

#[derive(Clone, Debug)]
pub enum DbSettings {
    Postgres(PgSettings),
    Sqlite(SqliteLocation),
}

#[derive(Clone, Debug)]
pub(crate) enum Db {
    Pg(PgPool),
    /// SQLite allows one writer at a time; a one-connection write pool makes that explicit in
    /// process (no SQLITE_BUSY, and event ids follow commit order) while reads run in parallel.
    Sqlite {
        write: SqlitePool,
        read: SqlitePool,
    },
}

/// A handle to the database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) db: Db,
    pub(crate) signals: Arc<Signals>,
    pub(crate) depth: Arc<enqueue::DepthEstimate>,
    pub(crate) announcer: Arc<enqueue::Announcer>,
}

impl Store {
    /// Connects without touching the schema. Call [`Store::migrate`] before use.
    pub async fn connect(settings: &DbSettings) -> Result<Self> {
        let db = match settings {
            DbSettings::Postgres(pg) => Db::Pg(connect_pg(pg).await?),
            DbSettings::Sqlite(location) => connect_sqlite(location).await?,
        };
        Ok(Store { db, signals: Arc::new(Signals::default()), depth: Arc::default(), announcer: Arc::default() })
    }

    /// A handle on the same connections with none of this one's in-process state (wake-ups,
    /// queue-depth estimate): what another process on the same database is, for tests.
    pub fn as_another_process(&self) -> Store {
        Store { db: self.db.clone(), signals: Arc::default(), depth: Arc::default(), announcer: Arc::default() }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.db, Db::Pg(_))
    }

    /// Applies every pending forward-only migration. Safe to run from several processes at once:
    /// PostgreSQL serialises them with an advisory lock.
    pub async fn migrate(&self) -> Result<()> {
        match &self.db {
            Db::Pg(pool) => {
                // The schema must exist before the migrator creates its bookkeeping table in it.
                sqlx::query("CREATE SCHEMA IF NOT EXISTS scaffolder").execute(pool).await?;
                PG_MIGRATOR.run(pool).await?;
            }
            Db::Sqlite { write, .. } => SQLITE_MIGRATOR.run(write).await?,
        }
        Ok(())
    }

    /// Succeeds while the database answers a trivial query.
    pub async fn ping(&self) -> Result<()> {
        match &self.db {
            Db::Pg(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
            Db::Sqlite { read, .. } => {
                sqlx::query("SELECT 1").execute(read).await?;
            }
        }
        Ok(())
    }

    /// In-process wake-ups (new tasks, cancels, new events).
    pub fn signals(&self) -> &Arc<Signals> {
        &self.signals
    }

    /// Closes every pooled connection.
    pub async fn close(&self) {
        match &self.db {
            Db::Pg(pool) => pool.close().await,
            Db::Sqlite { write, read } => {
                write.close().await;
                read.close().await;
            }
        }
    }
}

async fn connect_pg(settings: &PgSettings) -> Result<PgPool> {
    let mut options = match &settings.url {
        Some(url) => PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("backend.database.connection: {e}")))?,
        None => PgConnectOptions::new(),
    };
    if let Some(host) = &settings.host {
        options = options.host(host);
    }
    if let Some(port) = settings.port {
        options = options.port(port);
    }
    if let Some(user) = &settings.user {
        options = options.username(user);
    }
    if let Some(password) = &settings.password {
        options = options.password(password);
    }
    if let Some(database) = &settings.database {
        options = options.database(database);
    }
    let options = options.options([("search_path", PG_SCHEMA)]).application_name("scaffolder");
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections.unwrap_or(10))
        .min_connections(0)
        .acquire_timeout(settings.acquire_timeout.unwrap_or(Duration::from_secs(10)))
        .connect_with(options)
        .await?;
    Ok(pool)
}

async fn connect_sqlite(location: &SqliteLocation) -> Result<Db> {
    let base = match location {
        SqliteLocation::File(path) => {
            SqliteConnectOptions::new().filename(path).create_if_missing(true).journal_mode(SqliteJournalMode::Wal)
        }
        SqliteLocation::Memory => {
            SqliteConnectOptions::from_str("sqlite::memory:").map_err(|e| StoreError::Config(e.to_string()))?
        }
    };
    let base = base.foreign_keys(true).busy_timeout(Duration::from_secs(10)).synchronous(SqliteSynchronous::Normal);
    let write = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(base.clone())
        .await?;
    let read = match location {
        // An in-memory database exists only inside its one connection.
        SqliteLocation::Memory => write.clone(),
        SqliteLocation::File(_) => {
            SqlitePoolOptions::new().max_connections(4).min_connections(0).connect_with(base.read_only(true)).await?
        }
    };
    Ok(Db::Sqlite { write, read })
}
