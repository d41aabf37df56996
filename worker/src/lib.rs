//! The worker side of the queue.
//!
//! Layout:
//! - `pool`: the [`Worker`]: claim loop, the per-process concurrency limit, running one task,
//!   graceful shutdown (finish within the grace period, then hand tasks back).
//! - `leases`: the tasks this process holds, with their stop signals and lease clocks.
//! - `heartbeat`: renews every held lease in one statement and relays cancel requests.
//! - `writer`: the single, batching writer of events, state and completions (fenced writes).
//! - `sink`: the runner's event sink for one task, on top of the writer.
//! - `janitor`: the [`Janitor`] service (stale, timed-out and old tasks), `run` and `run_once`.
//!
//! Invariants: a task is only ever written through its lease; nothing is spawned and forgotten
//! (every background task stops on the shutdown token and is awaited); a task's workspace is
//! removed whatever the outcome.

mod heartbeat;
mod janitor;
mod leases;
mod pool;
mod sink;
mod writer;

pub use janitor::{Janitor, JanitorConfig};
pub use pool::{Worker, WorkerConfig, WorkerHealth};
