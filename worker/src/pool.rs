//! The [`Worker`]: claims tasks up to its concurrency limit and runs them.
//!
//! Claim loop: when slots are free, one statement claims up to that many tasks; then wait for a
//! wake-up (a new task here or, through `LISTEN`, elsewhere), a freed slot, or a jittered poll
//! (so a lost notification costs about a second, never a task).
//!
//! Shutdown (the token is cancelled, e.g. on SIGTERM): stop claiming, let running tasks finish
//! within the grace period, then stop the rest at their next boundary and hand them back
//! (`open`, with a `recovered` event) so another worker resumes them.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actions::{LeaseClock, RunOutcome, Runner, Secrets, StopReason, StopSignal, TaskRun, TaskState, Workspace};
use futures::FutureExt;
use serde_json::{Value, json};
use store::{ClaimedTask, EventType, NewEvent, Store, TaskStatus, WriteOp};
use templates::TaskSpec;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::heartbeat;
use crate::leases::{Held, Leases};
use crate::sink::DbSink;
use crate::writer::Writer;

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// How this process names itself in `claimed_by` (host, pid and a random suffix).
    pub worker_id: String,
    /// `scaffolder.concurrentTasksLimit`.
    pub concurrency: usize,
    /// `backend.workingDirectory`: task workspaces are created under it.
    pub working_directory: PathBuf,
    pub heartbeat_interval: Duration,
    /// How long a lease lasts without a heartbeat (`scaffolder.taskRecovery.staleTimeout`).
    pub lease_ttl: Duration,
    /// The fallback poll when no notification arrives.
    pub poll_interval: Duration,
    /// `scaffolder.taskTimeout`: the longest one run may take.
    pub task_timeout: Duration,
    /// `scaffolder.shutdownGracePeriod`.
    pub shutdown_grace: Duration,
}

/// What `/healthcheck` asks of a worker: is its claim loop still turning?
#[derive(Debug)]
pub struct WorkerHealth {
    origin: Instant,
    last_tick_ms: AtomicU64,
    stale_after: Duration,
}

impl WorkerHealth {
    fn new(stale_after: Duration) -> Self {
        WorkerHealth { origin: Instant::now(), last_tick_ms: AtomicU64::new(0), stale_after }
    }

    fn tick(&self) {
        self.last_tick_ms.store(self.origin.elapsed().as_millis() as u64, Ordering::Release);
    }

    /// True while the claim loop has run recently.
    pub fn is_alive(&self) -> bool {
        let last = Duration::from_millis(self.last_tick_ms.load(Ordering::Acquire));
        self.origin.elapsed().saturating_sub(last) < self.stale_after
    }
}

pub struct Worker {
    store: Store,
    runner: Arc<Runner>,
    config: WorkerConfig,
    health: Arc<WorkerHealth>,
}

struct Shared {
    runner: Arc<Runner>,
    config: WorkerConfig,
    leases: Arc<Leases>,
    writer: Writer,
    /// Workspaces still being removed after their task freed its slot, at most `concurrency`.
    removals: Arc<tokio::sync::Semaphore>,
}

impl Worker {
    pub fn new(store: Store, runner: Arc<Runner>, config: WorkerConfig) -> Self {
        // The loop wakes at least every poll interval; a loop silent for much longer is stuck.
        let stale_after = (config.poll_interval * 5).max(Duration::from_secs(10));
        Worker { store, runner, config, health: Arc::new(WorkerHealth::new(stale_after)) }
    }

    pub fn health(&self) -> Arc<WorkerHealth> {
        self.health.clone()
    }

    /// Runs until `shutdown` is cancelled and every task has finished or been handed back.
    pub async fn run(self, shutdown: CancellationToken) {
        let leases = Arc::new(Leases::default());
        let (writer, writer_task) = Writer::spawn(self.store.clone(), leases.clone());
        let shared = Arc::new(Shared {
            runner: self.runner.clone(),
            config: self.config.clone(),
            leases: leases.clone(),
            writer,
            removals: Arc::new(tokio::sync::Semaphore::new(self.config.concurrency.max(1))),
        });
        let background = CancellationToken::new();
        let heartbeats = tokio::spawn(heartbeat::run(
            self.store.clone(),
            leases.clone(),
            self.config.heartbeat_interval,
            background.clone(),
        ));
        let cancels = tokio::spawn(relay_cancels(self.store.clone(), leases.clone(), background.clone()));

        let mut tasks = JoinSet::new();
        self.claim_loop(&shared, &mut tasks, &shutdown).await;

        // Shutdown: no more claims. Give running tasks the grace period, then hand them back.
        let running = tasks.len();
        if running > 0 {
            tracing::info!(running, grace = ?self.config.shutdown_grace, "shutting down: waiting for running tasks");
            let deadline = tokio::time::sleep(self.config.shutdown_grace);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    joined = tasks.join_next() => if joined.is_none() { break },
                    _ = &mut deadline => {
                        tracing::info!(remaining = tasks.len(), "grace period over: handing tasks back");
                        leases.stop_all(StopReason::Shutdown);
                        while tasks.join_next().await.is_some() {}
                        break;
                    }
                }
            }
        }
        background.cancel();
        let _ = heartbeats.await;
        let _ = cancels.await;
        // Workspaces still being removed finish before the worker says it stopped.
        let _ = shared.removals.acquire_many(self.config.concurrency.max(1) as u32).await;
        // Dropping the last writer handle lets the writer drain its queue and stop.
        drop(shared);
        let _ = writer_task.await;
        tracing::info!("worker stopped");
    }

    async fn claim_loop(&self, shared: &Arc<Shared>, tasks: &mut JoinSet<()>, shutdown: &CancellationToken) {
        let signals = self.store.signals().clone();
        let mut backoff = Duration::from_millis(200);
        loop {
            self.health.tick();
            if shutdown.is_cancelled() {
                return;
            }
            let free = self.config.concurrency.saturating_sub(tasks.len());
            let mut claimed_all = false;
            if free > 0 {
                let started = Instant::now();
                match self.store.task_claim(&self.config.worker_id, free as u32).await {
                    Ok(claimed) => {
                        backoff = Duration::from_millis(200);
                        metrics::histogram!("scaffolder_claim_duration_seconds")
                            .record(started.elapsed().as_secs_f64());
                        if !claimed.is_empty() {
                            metrics::counter!("scaffolder_tasks_claimed_total").increment(claimed.len() as u64);
                        }
                        claimed_all = claimed.len() == free;
                        for task in claimed {
                            let shared = shared.clone();
                            let span = tracing::info_span!("task", task_id = %task.lease.task_id, attempt = task.lease.attempt);
                            tasks.spawn(run_claimed(shared, task).instrument(span));
                        }
                        metrics::gauge!("scaffolder_worker_tasks_running").set(tasks.len() as f64);
                    }
                    Err(error) => {
                        tracing::warn!(%error, retry_in = ?backoff, "claiming tasks failed");
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(jitter(backoff)) => {}
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                        continue;
                    }
                }
            }
            if claimed_all {
                // There may be more waiting: claim again at once.
                continue;
            }
            let has_free_slot = tasks.len() < self.config.concurrency;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {
                    gather_free_slots(tasks, self.config.concurrency).await;
                    metrics::gauge!("scaffolder_worker_tasks_running").set(tasks.len() as f64);
                }
                _ = signals.task_available(), if has_free_slot => {}
                _ = tokio::time::sleep(jitter(self.config.poll_interval)) => {}
            }
        }
    }
}

/// How long a busy worker waits, after a slot frees, for more to free before it claims.
const CLAIM_GATHER: Duration = Duration::from_millis(5);

/// Under load slots free one at a time, and claiming each alone costs a commit per task (measured:
/// 4,906 claims for 5,000 no-op tasks, and the queue drained at a quarter of what the database
/// can commit). So, once a slot frees, wait up to [`CLAIM_GATHER`] until a quarter of the slots
/// (at most 64) are free, and claim them in one statement. An idle worker has all its slots
/// free and claims at once; only a worker that is already full waits, and only this long.
async fn gather_free_slots(tasks: &mut JoinSet<()>, concurrency: usize) {
    let wanted = (concurrency / 4).clamp(1, 64);
    let deadline = tokio::time::Instant::now() + CLAIM_GATHER;
    while concurrency.saturating_sub(tasks.len()) < wanted && !tasks.is_empty() {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return,
        }
    }
}

/// ±20 %, so that a fleet does not poll in lockstep.
fn jitter(base: Duration) -> Duration {
    base.mul_f64(0.8 + fastrand::f64() * 0.4)
}

/// Cancel requests for tasks this process runs, as soon as they are known here (another
/// process's cancel arrives through `LISTEN`; heartbeats catch any notification that was lost).
async fn relay_cancels(store: Store, leases: Arc<Leases>, stop: CancellationToken) {
    let mut cancels = store.signals().subscribe_cancels();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            received = cancels.recv() => match received {
                Ok(task_id) => leases.stop_task(task_id, StopReason::Cancelled),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    // Missed some: the next heartbeat reports every pending cancel.
                    heartbeat::beat(&store, &leases).await;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

/// Runs one claimed task to its end and writes how it ended.
async fn run_claimed(shared: Arc<Shared>, task: ClaimedTask) {
    let lease = task.lease;
    let clock = Arc::new(LeaseClock::new(shared.config.lease_ttl));
    clock.renewed(Instant::now());
    let stop = Arc::new(StopSignal::with_lease(clock.clone()));
    if task.cancel_requested {
        stop.stop(StopReason::Cancelled);
    }
    shared.leases.insert(lease, Held { stop: stop.clone(), clock, finishing: Default::default() });
    let timeout = {
        let stop = stop.clone();
        let limit = shared.config.task_timeout;
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            stop.stop(StopReason::TimedOut);
        })
    };

    // A panic in a step must not leave the task held: its lease would be renewed by every
    // heartbeat while nothing runs it. The task fails instead; the message stays generic because
    // a panic's text may carry input values (secrets included).
    let (ending, workspace) = match AssertUnwindSafe(execute(&shared, &task, &stop)).catch_unwind().await {
        Ok(ended) => ended,
        Err(_) => {
            tracing::error!("the run panicked; the task fails");
            metrics::counter!("scaffolder_task_panics_total").increment(1);
            let message = "the worker hit an internal error while running this task (a panic; see the worker's log)";
            let body =
                json!({"message": "Run completed with status: failed", "error": {"name": "Error", "message": message}});
            (Ending::Complete { status: TaskStatus::Failed, body }, None)
        }
    };
    timeout.abort();
    shared.leases.finishing(&lease);
    match ending {
        Ending::Complete { status, body } => {
            let completion = NewEvent::new(EventType::Completion, &body);
            let outcome =
                shared.writer.write(WriteOp::Complete { lease, status, events: vec![completion], state: None }).await;
            tracing::info!(status = %status, ?outcome, "task finished");
        }
        Ending::HandBack => {
            let strategy = TaskSpec::from_json(&task.spec).map(|s| s.recover_strategy().to_owned()).unwrap_or_default();
            let body = json!({
                "message": format!("Worker {} shut down before the task finished; the task was handed back to the queue", shared.config.worker_id),
                "recoverStrategy": if strategy.is_empty() { "none".to_owned() } else { strategy },
            });
            let outcome = shared
                .writer
                .write(WriteOp::Release {
                    lease,
                    events: vec![NewEvent::new(EventType::Recovered, &body)],
                    state: None,
                })
                .await;
            tracing::info!(?outcome, "task handed back");
        }
        Ending::Nothing => tracing::warn!("task was taken away from this worker; its run stopped without writing"),
    }
    // Removed after the ending is written, so that clients see it without waiting for the file
    // system, and in the background, so that the slot frees at once: unlinking waits for the
    // device on ext4 mounted with `discard` (measured: slots idle on `blkdev_issue_discard`). At
    // most `concurrency` removals are pending; past that a finishing task waits for one, so disk
    // use stays bounded.
    if let Some(workspace) = workspace {
        match shared.removals.clone().acquire_owned().await {
            Ok(permit) => {
                tokio::task::spawn_blocking(move || {
                    drop(workspace);
                    drop(permit);
                });
            }
            Err(_) => workspace.remove().await,
        }
    }
    shared.leases.remove(&lease);
}

enum Ending {
    Complete { status: TaskStatus, body: Value },
    HandBack,
    Nothing,
}

/// Runs the task; hands back how it ended and its workspace, still to be removed.
async fn execute(shared: &Shared, task: &ClaimedTask, stop: &StopSignal) -> (Ending, Option<Workspace>) {
    let lease = task.lease;
    let fail = |message: String| Ending::Complete {
        status: TaskStatus::Failed,
        body: json!({"message": "Run completed with status: failed", "error": {"name": "Error", "message": message}}),
    };
    let spec = match TaskSpec::from_json(&task.spec) {
        Ok(spec) => spec,
        Err(message) => return (fail(format!("The task cannot run: {message}")), None),
    };
    if spec.api_version() != "scaffolder.backstage.io/v1beta3" {
        return (fail(format!("Unsupported Template apiVersion {}", spec.api_version())), None);
    }
    let secrets: Secrets = match task.secrets.as_deref().map(serde_json::from_str::<Secrets>) {
        None => Secrets::new(),
        Some(Ok(secrets)) => secrets,
        Some(Err(error)) => return (fail(format!("The task's secrets cannot be read: {error}")), None),
    };
    let state = TaskState::from_json(task.state.as_deref());
    let task_id = lease.task_id.to_string();
    let working_directory = shared.config.working_directory.clone();
    let workspace_name = task_id.clone();
    let has_steps = !spec.steps().is_empty();
    let workspace = match tokio::task::spawn_blocking(move || {
        if has_steps {
            Workspace::create(&working_directory, &workspace_name)
        } else {
            Workspace::unused(&working_directory, &workspace_name)
        }
    })
    .await
    {
        Ok(Ok(workspace)) => workspace,
        Ok(Err(error)) => return (fail(format!("Could not create the task's workspace: {error}")), None),
        Err(error) => return (fail(format!("Could not create the task's workspace: {error}")), None),
    };
    let sink = DbSink::new(shared.writer.clone(), lease);
    let outcome = shared
        .runner
        .run(TaskRun {
            task_id: &task_id,
            spec: &spec,
            secrets: &secrets,
            state,
            workspace: &workspace,
            is_dry_run: false,
            sink: &sink,
            stop,
        })
        .await;
    let ending = match &outcome {
        RunOutcome::Interrupted { reason: StopReason::LeaseLost } => Ending::Nothing,
        RunOutcome::Interrupted { .. } => Ending::HandBack,
        ended => {
            let (status, body) = ended.completion().expect("an ended run has a completion");
            let status = match status {
                "completed" => TaskStatus::Completed,
                "cancelled" => TaskStatus::Cancelled,
                _ => TaskStatus::Failed,
            };
            Ending::Complete { status, body }
        }
    };
    (ending, Some(workspace))
}
