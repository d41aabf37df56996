//! The janitor's queries: recover tasks whose worker vanished, fail tasks that ran too long, and
//! prune old finished tasks.
//!
//! Every sweep is idempotent and safe to run on every host at once: PostgreSQL sweeps lock the
//! rows they change with `SKIP LOCKED` (two janitors never act on the same task, and a janitor
//! never waits on a worker's write), and each changes a task only if it is still `processing`.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Row;
use uuid::Uuid;

use crate::task::{parse_uuid, pg_insert_events, sqlite_insert_events};
use crate::{Db, EventType, NewEvent, Result, Store};

/// Backstage's text for a task the janitor ends.
pub const STALE_MESSAGE: &str = "This task was marked as stale as it exceeded its timeout";

/// At most this many tasks per statement, so that one sweep never holds a huge transaction.
const SWEEP_BATCH: i64 = 500;

#[derive(Clone, Debug)]
pub struct SweepConfig {
    /// Re-open tasks whose worker stopped heartbeating (`scaffolder.taskRecovery.enabled`).
    pub recovery_enabled: bool,
    /// Heartbeat age after which a worker counts as gone (`scaffolder.taskRecovery.staleTimeout`).
    pub stale_timeout: Duration,
    /// After this many attempts a stale task fails instead of being re-opened once more.
    pub max_attempts: i32,
    /// Longest a single run may take (`scaffolder.taskTimeout`); `None` skips that check.
    pub task_timeout: Option<Duration>,
    /// Finished tasks older than this are deleted with their events (`scaffolder.taskRetention`).
    pub retention: Option<Duration>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub recovered: Vec<Uuid>,
    pub failed_stale: Vec<Uuid>,
    pub cancelled: Vec<Uuid>,
    pub timed_out: Vec<Uuid>,
    pub pruned: u64,
}

impl SweepReport {
    pub fn is_empty(&self) -> bool {
        *self == SweepReport::default()
    }
}

enum Verdict {
    Recover,
    FailStale,
    Cancel,
    TimeOut,
}

struct Candidate {
    id: Uuid,
    attempt: i32,
    cancel_requested: bool,
    spec: String,
}

impl Store {
    /// One janitor pass. Returns what it did.
    pub async fn janitor_sweep(&self, config: &SweepConfig) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        // Tasks whose worker went silent.
        loop {
            let n = self.sweep_once(config, None, &mut report).await?;
            if n < SWEEP_BATCH as usize {
                break;
            }
        }
        // Tasks whose worker is alive but which have run for longer than the task timeout.
        if let Some(task_timeout) = config.task_timeout {
            loop {
                let n = self.sweep_once(config, Some(task_timeout), &mut report).await?;
                if n < SWEEP_BATCH as usize {
                    break;
                }
            }
        }
        if let Some(retention) = config.retention {
            loop {
                let n = self.prune(retention).await?;
                report.pruned += n;
                if n < SWEEP_BATCH as u64 {
                    break;
                }
            }
        }
        let touched: Vec<Uuid> = report
            .recovered
            .iter()
            .chain(&report.failed_stale)
            .chain(&report.cancelled)
            .chain(&report.timed_out)
            .copied()
            .collect();
        self.signals.notify_events(touched);
        if !report.recovered.is_empty() {
            self.signals.notify_task_available();
        }
        Ok(report)
    }

    /// One batch of stale tasks (`timeout: None`) or of tasks running longer than `timeout`.
    async fn sweep_once(
        &self,
        config: &SweepConfig,
        timeout: Option<Duration>,
        report: &mut SweepReport,
    ) -> Result<usize> {
        let timeouts = timeout.is_some();
        let verdict = |c: &Candidate| {
            if timeouts {
                Verdict::TimeOut
            } else if c.cancel_requested {
                Verdict::Cancel
            } else if config.recovery_enabled && c.attempt < config.max_attempts {
                Verdict::Recover
            } else {
                Verdict::FailStale
            }
        };
        let age = timeout.unwrap_or(config.stale_timeout);
        match &self.db {
            Db::Pg(pool) => {
                let mut tx = pool.begin().await?;
                let select = if timeouts {
                    "SELECT id, attempt, cancel_requested_at IS NOT NULL AS cancel_requested, spec FROM tasks
                     WHERE status = 'processing' AND claimed_at < now() - make_interval(secs => $1)
                     ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED"
                } else {
                    "SELECT id, attempt, cancel_requested_at IS NOT NULL AS cancel_requested, spec FROM tasks
                     WHERE status = 'processing' AND last_heartbeat_at < now() - make_interval(secs => $1)
                     ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED"
                };
                let rows = sqlx::query(select).bind(age.as_secs_f64()).bind(SWEEP_BATCH).fetch_all(&mut *tx).await?;
                let candidates = rows
                    .iter()
                    .map(|row| {
                        Ok(Candidate {
                            id: row.try_get("id")?,
                            attempt: row.try_get("attempt")?,
                            cancel_requested: row.try_get("cancel_requested")?,
                            spec: row.try_get("spec")?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                if candidates.is_empty() {
                    tx.rollback().await?;
                    return Ok(0);
                }
                let ids: Vec<Uuid> = candidates.iter().map(|c| c.id).collect();
                let step_rows = sqlx::query(
                    "SELECT task_id, body FROM task_events WHERE task_id = ANY($1) AND event_type IN ('log', 'cancelled')
                     ORDER BY id",
                )
                .bind(&ids)
                .fetch_all(&mut *tx)
                .await?;
                let mut bodies: HashMap<Uuid, Vec<String>> = HashMap::new();
                for row in step_rows {
                    bodies.entry(row.try_get("task_id")?).or_default().push(row.try_get("body")?);
                }
                for candidate in &candidates {
                    let verdict = verdict(candidate);
                    let events = verdict_events(
                        &verdict,
                        candidate,
                        bodies.get(&candidate.id).map(Vec::as_slice).unwrap_or(&[]),
                    );
                    let update = match verdict {
                        Verdict::Recover => {
                            "UPDATE tasks SET status = 'open', claimed_by = NULL, last_heartbeat_at = now() WHERE id = $1"
                        }
                        Verdict::Cancel => {
                            "UPDATE tasks SET status = 'cancelled', secrets = NULL, completed_at = now(),
                             last_heartbeat_at = now() WHERE id = $1"
                        }
                        Verdict::FailStale | Verdict::TimeOut => {
                            "UPDATE tasks SET status = 'failed', secrets = NULL, completed_at = now(),
                             last_heartbeat_at = now() WHERE id = $1"
                        }
                    };
                    sqlx::query(update).bind(candidate.id).execute(&mut *tx).await?;
                    pg_insert_events(&mut tx, candidate.id, &events).await?;
                    record(report, &verdict, candidate.id);
                }
                if report.recovered.iter().any(|id| ids.contains(id)) {
                    sqlx::query("SELECT pg_notify('scaffolder_tasks', '')").execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(candidates.len())
            }
            Db::Sqlite { write, .. } => {
                let mut tx = write.begin().await?;
                let select = if timeouts {
                    "SELECT id, attempt, cancel_requested_at IS NOT NULL AS cancel_requested, spec FROM tasks
                     WHERE status = 'processing' AND claimed_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1)
                     ORDER BY id LIMIT ?2"
                } else {
                    "SELECT id, attempt, cancel_requested_at IS NOT NULL AS cancel_requested, spec FROM tasks
                     WHERE status = 'processing' AND last_heartbeat_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1)
                     ORDER BY id LIMIT ?2"
                };
                let rows = sqlx::query(select)
                    .bind(format!("-{:.3} seconds", age.as_secs_f64()))
                    .bind(SWEEP_BATCH)
                    .fetch_all(&mut *tx)
                    .await?;
                let candidates = rows
                    .iter()
                    .map(|row| {
                        Ok(Candidate {
                            id: parse_uuid(row.try_get("id")?)?,
                            attempt: row.try_get("attempt")?,
                            cancel_requested: row.try_get("cancel_requested")?,
                            spec: row.try_get("spec")?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                for candidate in &candidates {
                    let bodies: Vec<String> = sqlx::query_scalar(
                        "SELECT body FROM task_events WHERE task_id = ?1 AND event_type IN ('log', 'cancelled') ORDER BY id",
                    )
                    .bind(candidate.id.to_string())
                    .fetch_all(&mut *tx)
                    .await?;
                    let verdict = verdict(candidate);
                    let events = verdict_events(&verdict, candidate, &bodies);
                    let update = match verdict {
                        Verdict::Recover => {
                            "UPDATE tasks SET status = 'open', claimed_by = NULL,
                             last_heartbeat_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1"
                        }
                        Verdict::Cancel => {
                            "UPDATE tasks SET status = 'cancelled', secrets = NULL,
                             completed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
                             last_heartbeat_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1"
                        }
                        Verdict::FailStale | Verdict::TimeOut => {
                            "UPDATE tasks SET status = 'failed', secrets = NULL,
                             completed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
                             last_heartbeat_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1"
                        }
                    };
                    sqlx::query(update).bind(candidate.id.to_string()).execute(&mut *tx).await?;
                    sqlite_insert_events(&mut tx, candidate.id, &events).await?;
                    record(report, &verdict, candidate.id);
                }
                tx.commit().await?;
                Ok(candidates.len())
            }
        }
    }

    async fn prune(&self, retention: Duration) -> Result<u64> {
        let deleted = match &self.db {
            Db::Pg(pool) => sqlx::query(
                "DELETE FROM tasks WHERE id IN (
                    SELECT id FROM tasks WHERE completed_at < now() - make_interval(secs => $1)
                    AND status IN ('completed', 'failed', 'cancelled', 'skipped')
                    LIMIT $2 FOR UPDATE SKIP LOCKED)",
            )
            .bind(retention.as_secs_f64())
            .bind(SWEEP_BATCH)
            .execute(pool)
            .await?
            .rows_affected(),
            Db::Sqlite { write, .. } => sqlx::query(
                "DELETE FROM tasks WHERE id IN (
                    SELECT id FROM tasks WHERE completed_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1)
                    AND status IN ('completed', 'failed', 'cancelled', 'skipped') LIMIT ?2)",
            )
            .bind(format!("-{:.3} seconds", retention.as_secs_f64()))
            .bind(SWEEP_BATCH)
            .execute(write)
            .await?
            .rows_affected(),
        };
        Ok(deleted)
    }
}

fn record(report: &mut SweepReport, verdict: &Verdict, id: Uuid) {
    match verdict {
        Verdict::Recover => report.recovered.push(id),
        Verdict::FailStale => report.failed_stale.push(id),
        Verdict::Cancel => report.cancelled.push(id),
        Verdict::TimeOut => report.timed_out.push(id),
    }
}

/// Steps that began (a `processing` event) and have not finished, in order.
fn unfinished_steps(bodies: &[String]) -> Vec<String> {
    let mut open: Vec<String> = Vec::new();
    for body in bodies {
        let Ok(body) = serde_json::from_str::<Value>(body) else {
            continue;
        };
        let (Some(step), Some(status)) = (body["stepId"].as_str(), body["status"].as_str()) else {
            continue;
        };
        match status {
            "processing" => {
                if !open.iter().any(|s| s == step) {
                    open.push(step.to_owned());
                }
            }
            _ => open.retain(|s| s != step),
        }
    }
    open
}

fn recover_strategy(spec: &str) -> String {
    serde_json::from_str::<Value>(spec)
        .ok()
        .and_then(|spec| spec["EXPERIMENTAL_recovery"]["EXPERIMENTAL_strategy"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "none".to_owned())
}

fn verdict_events(verdict: &Verdict, candidate: &Candidate, bodies: &[String]) -> Vec<NewEvent> {
    let steps = unfinished_steps(bodies);
    match verdict {
        Verdict::Recover => vec![NewEvent::new(
            EventType::Recovered,
            &json!({
                "message": format!(
                    "The worker running attempt {} stopped responding; the task was handed to another worker",
                    candidate.attempt
                ),
                "recoverStrategy": recover_strategy(&candidate.spec),
            }),
        )],
        Verdict::Cancel => {
            let mut events: Vec<NewEvent> = steps
                .iter()
                .map(|step| {
                    NewEvent::new(
                        EventType::Cancelled,
                        &json!({"message": format!("Step {step} has been cancelled."), "stepId": step, "status": "cancelled"}),
                    )
                })
                .collect();
            let message = format!("Task {} was cancelled while its worker was not responding.", candidate.id);
            events.push(NewEvent::new(
                EventType::Completion,
                &json!({"message": "Run completed with status: cancelled", "error": {"name": "Error", "message": message}}),
            ));
            events
        }
        Verdict::FailStale | Verdict::TimeOut => {
            let mut events: Vec<NewEvent> = steps
                .iter()
                .map(|step| {
                    NewEvent::new(
                        EventType::Log,
                        &json!({"message": STALE_MESSAGE, "stepId": step, "status": "failed"}),
                    )
                })
                .collect();
            events.push(NewEvent::new(
                EventType::Completion,
                &json!({"message": STALE_MESSAGE, "error": {"name": "Error", "message": STALE_MESSAGE}}),
            ));
            events
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfinished_steps_follow_the_status_events() {
        let bodies = [
            r#"{"message":"Starting up task with 3 steps"}"#,
            r#"{"message":"Beginning step A","stepId":"a","status":"processing"}"#,
            r#"{"message":"Finished step A","stepId":"a","status":"completed"}"#,
            r#"{"message":"Beginning step B","stepId":"b","status":"processing"}"#,
            r#"{"message":"info: working","stepId":"b"}"#,
        ]
        .map(str::to_owned);
        assert_eq!(unfinished_steps(&bodies), vec!["b".to_owned()]);
    }

    #[test]
    fn recover_strategy_defaults_to_none() {
        assert_eq!(recover_strategy("{}"), "none");
        assert_eq!(recover_strategy(r#"{"EXPERIMENTAL_recovery":{"EXPERIMENTAL_strategy":"startOver"}}"#), "startOver");
    }
}
