//! The single writer of a worker process: every event, state save, completion and hand-back of
//! every task goes through one channel and is written in batches (one transaction each), so a
//! busy worker costs the database far less than one commit per event.
//!
//! Natural batching: while one batch is being written, new writes queue up and form the next.
//! Transient database errors (a restart) are retried with backoff, so nothing is lost while the
//! lease still holds; the fence decides what may land afterwards.

use std::sync::Arc;
use std::time::Duration;

use actions::StopReason;
use store::{Store, WriteOp, WriteOutcome};
use tokio::sync::{mpsc, oneshot};

use crate::leases::Leases;

/// Most operations in one transaction.
const MAX_BATCH: usize = 512;

struct Job {
    op: WriteOp,
    reply: Option<oneshot::Sender<WriteOutcome>>,
}

/// A handle to the writer task. Cheap to clone; the writer stops when every handle is dropped.
#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::UnboundedSender<Job>,
}

impl Writer {
    pub fn spawn(store: Store, leases: Arc<Leases>) -> (Writer, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = tokio::spawn(run(store, leases, rx));
        (Writer { tx }, handle)
    }

    /// Queues a write; a lost lease is reported to the task's stop signal.
    pub fn send(&self, op: WriteOp) {
        let _ = self.tx.send(Job { op, reply: None });
    }

    /// Queues a write and waits until it is committed (or refused by the fence).
    pub async fn write(&self, op: WriteOp) -> WriteOutcome {
        let (reply, wait) = oneshot::channel();
        if self.tx.send(Job { op, reply: Some(reply) }).is_err() {
            return WriteOutcome::LeaseLost;
        }
        wait.await.unwrap_or(WriteOutcome::LeaseLost)
    }
}

async fn run(store: Store, leases: Arc<Leases>, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut batch: Vec<Job> = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let started = std::time::Instant::now();
        let outcomes = write_with_retry(&store, &batch).await;
        metrics::histogram!("scaffolder_writer_batch_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("scaffolder_writer_batch_size").record(batch.len() as f64);
        for (job, outcome) in batch.drain(..).zip(outcomes) {
            if outcome == WriteOutcome::LeaseLost {
                leases.stop(&job.op.lease(), StopReason::LeaseLost);
            }
            if let Some(reply) = job.reply {
                let _ = reply.send(outcome);
            }
        }
    }
}

/// Writes a batch, retrying transient failures; a batch that fails for another reason is split
/// so that one bad operation cannot hold back the others.
async fn write_with_retry(store: &Store, batch: &[Job]) -> Vec<WriteOutcome> {
    let ops: Vec<WriteOp> = batch.iter().map(|job| job.op.clone()).collect();
    let mut delay = Duration::from_millis(50);
    loop {
        match store.write_batch(&ops).await {
            Ok(outcomes) => return outcomes,
            Err(error) if error.is_transient() => {
                tracing::warn!(%error, ops = ops.len(), "database unavailable; retrying the write batch");
                metrics::counter!("scaffolder_writer_retries_total").increment(1);
                tokio::time::sleep(delay + Duration::from_millis(fastrand::u64(0..=delay.as_millis() as u64 / 2)))
                    .await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(error) => {
                tracing::error!(%error, ops = ops.len(), "write batch failed; writing its operations one by one");
                let mut outcomes = Vec::with_capacity(ops.len());
                for op in &ops {
                    let outcome = match store.write_batch(std::slice::from_ref(op)).await {
                        Ok(mut one) => one.pop().unwrap_or(WriteOutcome::LeaseLost),
                        Err(error) => {
                            tracing::error!(%error, task_id = %op.lease().task_id, "dropping a write that the database refuses");
                            WriteOutcome::LeaseLost
                        }
                    };
                    outcomes.push(outcome);
                }
                return outcomes;
            }
        }
    }
}
