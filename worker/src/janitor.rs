//! The janitor service: recovers tasks whose worker went silent, fails tasks that ran too long and
//! prunes old finished tasks. Every sweep is one idempotent pass (see `store::janitor`), so it is
//! safe to run in every worker and from a cron at the same time.

use std::time::Duration;

use store::{Store, SweepConfig, SweepReport};
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug)]
pub struct JanitorConfig {
    pub sweep: SweepConfig,
    /// How often the stale-worker check runs (Backstage: every 10 s).
    pub recovery_interval: Duration,
    /// How often the full sweep (timeouts, retention) runs (`scaffolder.taskTimeoutJanitorFrequency`).
    pub full_interval: Duration,
}

#[derive(Clone, Debug)]
pub struct Janitor {
    store: Store,
    config: JanitorConfig,
}

impl Janitor {
    pub fn new(store: Store, config: JanitorConfig) -> Self {
        Janitor { store, config }
    }

    /// One full pass: stale workers, timeouts, retention.
    pub async fn run_once(&self) -> Result<SweepReport, store::StoreError> {
        let report = self.store.janitor_sweep(&self.config.sweep).await?;
        record(&report);
        Ok(report)
    }

    /// Sweeps until `shutdown`: the stale check often, the full pass at its own frequency.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut since_full = Duration::MAX;
        loop {
            let full = since_full >= self.config.full_interval;
            let result = if full {
                self.store.janitor_sweep(&self.config.sweep).await
            } else {
                let stale_only = SweepConfig { retention: None, task_timeout: None, ..self.config.sweep.clone() };
                self.store.janitor_sweep(&stale_only).await
            };
            match result {
                Ok(report) => {
                    record(&report);
                    if full {
                        since_full = Duration::ZERO;
                    }
                }
                Err(error) => tracing::warn!(%error, "janitor sweep failed; will retry"),
            }
            // Jitter keeps a fleet of workers from sweeping in lockstep.
            let base = self.config.recovery_interval.min(self.config.full_interval);
            let wait = base.mul_f64(0.8 + fastrand::f64() * 0.4);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            since_full = since_full.saturating_add(wait);
        }
    }
}

fn record(report: &SweepReport) {
    if report.is_empty() {
        return;
    }
    tracing::info!(
        recovered = report.recovered.len(),
        failed_stale = report.failed_stale.len(),
        cancelled = report.cancelled.len(),
        timed_out = report.timed_out.len(),
        pruned = report.pruned,
        "janitor sweep"
    );
    for (action, count) in [
        ("recovered", report.recovered.len() as u64),
        ("failed_stale", report.failed_stale.len() as u64),
        ("cancelled", report.cancelled.len() as u64),
        ("timed_out", report.timed_out.len() as u64),
        ("pruned", report.pruned),
    ] {
        if count > 0 {
            metrics::counter!("scaffolder_janitor_actions_total", "action" => action).increment(count);
        }
    }
    for id in &report.recovered {
        tracing::info!(task_id = %id, "recovered a task whose worker stopped responding");
    }
    for id in report.failed_stale.iter().chain(&report.timed_out) {
        tracing::info!(task_id = %id, "Successfully closed stale task");
    }
}
