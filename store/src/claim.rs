//! Claiming: one statement moves up to `limit` open tasks, oldest first, to `processing`,
//! stamping a new attempt number (the lease) and the claimer, and commits at once.

use sqlx::Row;

use crate::task::parse_uuid;
use crate::{ClaimedTask, Db, Lease, Result, Store};

/// Builds a [`ClaimedTask`] from a row of either database, given its decoded id.
macro_rules! claimed {
    ($row:expr, $id:expr) => {
        ClaimedTask {
            lease: Lease { task_id: $id, attempt: $row.try_get("attempt")? },
            spec: $row.try_get("spec")?,
            secrets: $row.try_get("secrets")?,
            state: $row.try_get("state")?,
            created_by: $row.try_get("created_by")?,
            template_ref: $row.try_get("template_ref")?,
            cancel_requested: $row.try_get("cancel_requested")?,
        }
    };
}

impl Store {
    /// Claims up to `limit` open tasks for `worker_id`. Two workers never get the same task:
    /// PostgreSQL skips rows another claimer has locked, SQLite has one writer.
    pub async fn task_claim(&self, worker_id: &str, limit: u32) -> Result<Vec<ClaimedTask>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        match &self.db {
            Db::Pg(pool) => {
                let rows = sqlx::query(
                    "WITH picked AS MATERIALIZED (
                        SELECT id FROM tasks WHERE status = 'open'
                        ORDER BY created_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
                     UPDATE tasks t SET status = 'processing', attempt = t.attempt + 1, claimed_by = $2,
                        claimed_at = now(), last_heartbeat_at = now()
                     FROM picked WHERE t.id = picked.id
                     RETURNING t.id, t.attempt, t.spec, t.secrets, t.state, t.created_by, t.template_ref,
                        t.cancel_requested_at IS NOT NULL AS cancel_requested",
                )
                .bind(i64::from(limit))
                .bind(worker_id)
                .fetch_all(pool)
                .await?;
                rows.iter().map(|row| Ok(claimed!(row, row.try_get("id")?))).collect()
            }
            Db::Sqlite { write, .. } => {
                let rows = sqlx::query(
                    "UPDATE tasks SET status = 'processing', attempt = attempt + 1, claimed_by = ?2,
                        claimed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
                        last_heartbeat_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                     WHERE id IN (SELECT id FROM tasks WHERE status = 'open' ORDER BY created_at, id LIMIT ?1)
                     RETURNING id, attempt, spec, secrets, state, created_by, template_ref,
                        cancel_requested_at IS NOT NULL AS cancel_requested",
                )
                .bind(i64::from(limit))
                .bind(worker_id)
                .fetch_all(write)
                .await?;
                rows.iter().map(|row| Ok(claimed!(row, parse_uuid(row.try_get("id")?)?))).collect()
            }
        }
    }
}
