//! Batched, fenced writes on behalf of running tasks.
//!
//! A worker funnels every event, state save and completion of all its tasks through one writer,
//! which hands them here in batches: one transaction per batch, a handful of statements whatever
//! its size. Each operation is applied only if its lease still holds, checked under the task's
//! row lock, so nothing a worker writes after losing a task ever lands.

use std::collections::{HashMap, HashSet};

use sqlx::Row;
use uuid::Uuid;

use crate::{Db, Lease, Result, Store, TaskStatus, WriteOp, WriteOutcome};

/// Most event bytes in one statement. sqlx does not set `TCP_NODELAY` on its PostgreSQL sockets:
/// a message larger than the socket's free send buffer (16 KiB at first on Linux) goes out in two
/// writes, and Nagle's algorithm holds the second until the server's delayed ACK, 40 ms later.
/// Measured here: event inserts of ~95 rows and more took 25–50 ms each in one statement, and
/// the single writer of a busy worker spent most of its time waiting on them. Statements kept
/// well below that go out in one write.
const MAX_STATEMENT_BYTES: usize = 8 * 1024;

/// Consecutive ranges of `bodies`, each (unless one body alone is larger) under `limit` bytes.
fn chunks_by_size(bodies: &[&str], limit: usize) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (index, body) in bodies.iter().enumerate() {
        // The task id, the type and the framing cost about 40 bytes per event.
        let cost = body.len() + 40;
        if index > start && size + cost > limit {
            ranges.push(start..index);
            (start, size) = (index, 0);
        }
        size += cost;
    }
    if start < bodies.len() {
        ranges.push(start..bodies.len());
    }
    ranges
}

/// Which operations of a batch may be applied, given the leases that hold at its start.
fn fence(ops: &[WriteOp], holding: &HashSet<Lease>) -> Vec<WriteOutcome> {
    let mut holding = holding.clone();
    ops.iter()
        .map(|op| {
            let lease = op.lease();
            if !holding.contains(&lease) {
                return WriteOutcome::LeaseLost;
            }
            if matches!(op, WriteOp::Complete { .. } | WriteOp::Release { .. }) {
                // Nothing after the end of a run may be written for this attempt.
                holding.remove(&lease);
            }
            WriteOutcome::Applied
        })
        .collect()
}

impl Store {
    /// Applies a batch of writes in one transaction; returns one outcome per operation.
    pub async fn write_batch(&self, ops: &[WriteOp]) -> Result<Vec<WriteOutcome>> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<Uuid> = ops.iter().map(|op| op.lease().task_id).collect();
        ids.sort();
        ids.dedup();
        let outcomes = match &self.db {
            Db::Pg(pool) => {
                let mut tx = pool.begin().await?;
                let rows = sqlx::query(
                    "SELECT id, attempt FROM tasks WHERE id = ANY($1) AND status = 'processing'
                     ORDER BY id FOR NO KEY UPDATE",
                )
                .bind(&ids)
                .fetch_all(&mut *tx)
                .await?;
                let holding = rows
                    .iter()
                    .map(|row| Ok(Lease { task_id: row.try_get("id")?, attempt: row.try_get("attempt")? }))
                    .collect::<Result<HashSet<_>>>()?;
                let outcomes = fence(ops, &holding);
                let applied =
                    || ops.iter().zip(&outcomes).filter(|(_, o)| **o == WriteOutcome::Applied).map(|(op, _)| op);

                let (mut event_tasks, mut event_types, mut event_bodies) = (Vec::new(), Vec::new(), Vec::new());
                for op in applied() {
                    for event in op.events() {
                        event_tasks.push(op.lease().task_id);
                        event_types.push(event.event_type.as_str());
                        event_bodies.push(event.body.as_str());
                    }
                }
                for range in chunks_by_size(&event_bodies, MAX_STATEMENT_BYTES) {
                    sqlx::query(
                        "INSERT INTO task_events (task_id, event_type, body)
                         SELECT task_id, event_type, body
                         FROM unnest($1::uuid[], $2::text[], $3::text[]) WITH ORDINALITY AS e(task_id, event_type, body, n)
                         ORDER BY n",
                    )
                    .bind(&event_tasks[range.clone()])
                    .bind(&event_types[range.clone()])
                    .bind(&event_bodies[range])
                    .execute(&mut *tx)
                    .await?;
                }

                // The last saved state of each task in the batch wins.
                let mut states: HashMap<Uuid, &str> = HashMap::new();
                let (mut ends, mut end_statuses) = (Vec::new(), Vec::new());
                for op in applied() {
                    match op {
                        WriteOp::State { lease, state } => {
                            states.insert(lease.task_id, state);
                        }
                        WriteOp::Complete { lease, status, state, .. } => {
                            if let Some(state) = state {
                                states.insert(lease.task_id, state);
                            }
                            ends.push(lease.task_id);
                            end_statuses.push(status.as_str());
                        }
                        WriteOp::Release { lease, state, .. } => {
                            if let Some(state) = state {
                                states.insert(lease.task_id, state);
                            }
                            ends.push(lease.task_id);
                            end_statuses.push(TaskStatus::Open.as_str());
                        }
                        WriteOp::Events { .. } => {}
                    }
                }
                if !states.is_empty() {
                    let (state_ids, state_values): (Vec<Uuid>, Vec<&str>) = states.into_iter().unzip();
                    sqlx::query(
                        "UPDATE tasks t SET state = v.state FROM unnest($1::uuid[], $2::text[]) AS v(id, state)
                         WHERE t.id = v.id",
                    )
                    .bind(&state_ids)
                    .bind(&state_values)
                    .execute(&mut *tx)
                    .await?;
                }
                if !ends.is_empty() {
                    // A run that ends drops its secrets; one handed back keeps them for the next
                    // worker, which needs them to resume.
                    sqlx::query(
                        "UPDATE tasks t SET status = v.status,
                            secrets = CASE WHEN v.status = 'open' THEN t.secrets ELSE NULL END,
                            completed_at = CASE WHEN v.status = 'open' THEN NULL ELSE now() END,
                            claimed_by = CASE WHEN v.status = 'open' THEN NULL ELSE t.claimed_by END,
                            last_heartbeat_at = now()
                         FROM unnest($1::uuid[], $2::text[]) AS v(id, status) WHERE t.id = v.id",
                    )
                    .bind(&ends)
                    .bind(&end_statuses)
                    .execute(&mut *tx)
                    .await?;
                }
                let mut touched: Vec<String> = event_tasks.iter().map(Uuid::to_string).collect();
                touched.dedup();
                if !touched.is_empty() {
                    // Payloads are limited to 8000 bytes: name the tasks, or say "look at all".
                    let payload = if touched.len() <= 150 { touched.join(",") } else { "*".to_owned() };
                    sqlx::query("SELECT pg_notify('scaffolder_events', $1)").bind(payload).execute(&mut *tx).await?;
                }
                if end_statuses.contains(&"open") {
                    sqlx::query("SELECT pg_notify('scaffolder_tasks', '')").execute(&mut *tx).await?;
                }
                tx.commit().await?;
                outcomes
            }
            Db::Sqlite { write, .. } => {
                let mut tx = write.begin().await?;
                let mut holding = HashSet::new();
                for id in &ids {
                    let attempt: Option<i32> =
                        sqlx::query_scalar("SELECT attempt FROM tasks WHERE id = ?1 AND status = 'processing'")
                            .bind(id.to_string())
                            .fetch_optional(&mut *tx)
                            .await?;
                    if let Some(attempt) = attempt {
                        holding.insert(Lease { task_id: *id, attempt });
                    }
                }
                let outcomes = fence(ops, &holding);
                for (op, _) in ops.iter().zip(&outcomes).filter(|(_, o)| **o == WriteOutcome::Applied) {
                    let id = op.lease().task_id.to_string();
                    for event in op.events() {
                        sqlx::query("INSERT INTO task_events (task_id, event_type, body) VALUES (?1, ?2, ?3)")
                            .bind(&id)
                            .bind(event.event_type.as_str())
                            .bind(&event.body)
                            .execute(&mut *tx)
                            .await?;
                    }
                    let (state, end) = match op {
                        WriteOp::State { state, .. } => (Some(state), None),
                        WriteOp::Complete { status, state, .. } => (state.as_ref(), Some(*status)),
                        WriteOp::Release { state, .. } => (state.as_ref(), Some(TaskStatus::Open)),
                        WriteOp::Events { .. } => (None, None),
                    };
                    if let Some(state) = state {
                        sqlx::query("UPDATE tasks SET state = ?2 WHERE id = ?1")
                            .bind(&id)
                            .bind(state)
                            .execute(&mut *tx)
                            .await?;
                    }
                    match end {
                        Some(TaskStatus::Open) => {
                            sqlx::query(
                                "UPDATE tasks SET status = 'open', completed_at = NULL, claimed_by = NULL,
                                 last_heartbeat_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1",
                            )
                            .bind(&id)
                            .execute(&mut *tx)
                            .await?;
                        }
                        Some(status) => {
                            sqlx::query(
                                "UPDATE tasks SET status = ?2, secrets = NULL,
                                 completed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
                                 last_heartbeat_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1",
                            )
                            .bind(&id)
                            .bind(status.as_str())
                            .execute(&mut *tx)
                            .await?;
                        }
                        None => {}
                    }
                }
                tx.commit().await?;
                outcomes
            }
        };
        let mut released = false;
        let mut touched = Vec::new();
        for (op, outcome) in ops.iter().zip(&outcomes) {
            if *outcome == WriteOutcome::Applied {
                if !op.events().is_empty() {
                    touched.push(op.lease().task_id);
                }
                released |= matches!(op, WriteOp::Release { .. });
            }
        }
        self.signals.notify_events(touched);
        if released {
            self.signals.notify_task_available();
        }
        Ok(outcomes)
    }
}

#[cfg(test)]
mod tests {
    use super::chunks_by_size;

    #[test]
    fn event_statements_are_cut_by_size_in_order() {
        let small = "x".repeat(100);
        let big = "y".repeat(1000);
        assert!(chunks_by_size(&[], 1000).is_empty());
        assert_eq!(chunks_by_size(&[&small, &small, &small], 1000), vec![0..3]);
        // 140 bytes each: seven fit under 1000, the eighth starts a new statement.
        let many: Vec<&str> = vec![&small; 10];
        assert_eq!(chunks_by_size(&many, 1000), vec![0..7, 7..10]);
        // A body larger than the limit goes alone, never dropped.
        assert_eq!(chunks_by_size(&[&small, &big, &small], 500), vec![0..1, 1..2, 2..3]);
    }
}
