//! The store's error type: database failures, kept apart from "not found" style outcomes, which
//! are ordinary return values.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("invalid database configuration: {0}")]
    Config(String),
    #[error("corrupt row in {table}: {message}")]
    Corrupt { table: &'static str, message: String },
}

impl StoreError {
    /// True when retrying later may succeed (connection lost, database restarting, deadlock).
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database(e) => match e {
                sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_) => true,
                sqlx::Error::Database(db) => {
                    // 40001 serialization failure, 40P01 deadlock, 57P01..57P03 shutdown/restart,
                    // 08xxx connection exceptions, 53300 too many connections.
                    matches!(db.code().as_deref(), Some(c) if c.starts_with("08") || c.starts_with("57P") || c == "40001" || c == "40P01" || c == "53300")
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// True when PostgreSQL refused text the request brought: a NUL character (SQLSTATE 22021),
    /// which it cannot store, so no row can hold or match it.
    pub fn is_unstorable_text(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(db)) if db.code().as_deref() == Some("22021"))
    }
}
