//! Heartbeats: one statement refreshes every lease a worker holds and, in the same reply, says
//! which tasks were taken away and which were asked to cancel (so cancel works across hosts
//! even when a `NOTIFY` is lost).

use std::collections::HashMap;

use sqlx::Row;
use uuid::Uuid;

use crate::task::parse_uuid;
use crate::{Db, HeartbeatReply, Lease, Result, Store};

impl Store {
    pub async fn task_heartbeat(&self, leases: &[Lease]) -> Result<Vec<HeartbeatReply>> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let mut alive: HashMap<(Uuid, i32), bool> = HashMap::new();
        match &self.db {
            Db::Pg(pool) => {
                let ids: Vec<Uuid> = leases.iter().map(|l| l.task_id).collect();
                let attempts: Vec<i32> = leases.iter().map(|l| l.attempt).collect();
                // Rows are locked in id order, like every other multi-row writer, so heartbeats
                // and batched writes cannot deadlock.
                let rows = sqlx::query(
                    "WITH mine AS (
                        SELECT t.id FROM tasks t
                        JOIN unnest($1::uuid[], $2::int4[]) AS l(id, attempt) ON t.id = l.id AND t.attempt = l.attempt
                        WHERE t.status = 'processing' ORDER BY t.id FOR NO KEY UPDATE OF t)
                     UPDATE tasks t SET last_heartbeat_at = now() FROM mine WHERE t.id = mine.id
                     RETURNING t.id, t.attempt, t.cancel_requested_at IS NOT NULL AS cancel_requested",
                )
                .bind(&ids)
                .bind(&attempts)
                .fetch_all(pool)
                .await?;
                for row in rows {
                    alive.insert((row.try_get("id")?, row.try_get("attempt")?), row.try_get("cancel_requested")?);
                }
            }
            Db::Sqlite { write, .. } => {
                let mut tx = write.begin().await?;
                for lease in leases {
                    let row = sqlx::query(
                        "UPDATE tasks SET last_heartbeat_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                         WHERE id = ?1 AND attempt = ?2 AND status = 'processing'
                         RETURNING id, attempt, cancel_requested_at IS NOT NULL AS cancel_requested",
                    )
                    .bind(lease.task_id.to_string())
                    .bind(lease.attempt)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(row) = row {
                        alive.insert(
                            (parse_uuid(row.try_get("id")?)?, row.try_get("attempt")?),
                            row.try_get("cancel_requested")?,
                        );
                    }
                }
                tx.commit().await?;
            }
        }
        Ok(leases
            .iter()
            .map(|lease| match alive.get(&(lease.task_id, lease.attempt)) {
                Some(cancel_requested) => {
                    HeartbeatReply { lease: *lease, alive: true, cancel_requested: *cancel_requested }
                }
                None => HeartbeatReply { lease: *lease, alive: false, cancel_requested: false },
            })
            .collect())
    }
}
