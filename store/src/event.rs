//! Reading a task's event log.

use sqlx::Row;
use uuid::Uuid;

use crate::task::parse_uuid;
use crate::{Db, EventRow, Result, Store};

/// Builds an [`EventRow`] from a row of either database, given its decoded task id.
macro_rules! event_row {
    ($row:expr, $task_id:expr) => {
        EventRow {
            id: $row.try_get("id")?,
            task_id: $task_id,
            event_type: $row.try_get("event_type")?,
            body: $row.try_get("body")?,
            created_at: $row.try_get("created_at")?,
        }
    };
}

/// At most this many events per read; a reader continues from the last id it got.
pub const EVENT_PAGE: i64 = 5000;

impl Store {
    /// Events of `task_id` with an id greater than `after`, plus its completion event whatever
    /// its id (so a client that already saw everything still learns that the task ended), in id
    /// order. Ids of one task only grow in commit order (see the crate docs), so reading "after
    /// the last id I saw" never misses an event.
    pub async fn event_list(&self, task_id: Uuid, after: Option<i64>) -> Result<Vec<EventRow>> {
        let after = after.unwrap_or(-1);
        match &self.db {
            Db::Pg(pool) => {
                let rows = sqlx::query(
                    "SELECT id, task_id, event_type, body,
                     to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS created_at
                     FROM task_events WHERE task_id = $1 AND (id > $2 OR event_type = 'completion')
                     ORDER BY id LIMIT $3",
                )
                .bind(task_id)
                .bind(after)
                .bind(EVENT_PAGE)
                .fetch_all(pool)
                .await?;
                rows.iter().map(|row| Ok(event_row!(row, row.try_get("task_id")?))).collect()
            }
            Db::Sqlite { read, .. } => {
                let rows = sqlx::query(
                    "SELECT id, task_id, event_type, body, created_at FROM task_events
                     WHERE task_id = ?1 AND (id > ?2 OR event_type = 'completion') ORDER BY id LIMIT ?3",
                )
                .bind(task_id.to_string())
                .bind(after)
                .bind(EVENT_PAGE)
                .fetch_all(read)
                .await?;
                rows.iter().map(|row| Ok(event_row!(row, parse_uuid(row.try_get("task_id")?)?))).collect()
            }
        }
    }
}
