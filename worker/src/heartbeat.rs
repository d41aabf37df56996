//! Keeps this process's leases alive: one statement per beat for every task held, whose reply
//! also says which tasks were taken away and which were asked to cancel.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actions::StopReason;
use store::Store;
use tokio_util::sync::CancellationToken;

use crate::leases::Leases;

pub(crate) async fn run(store: Store, leases: Arc<Leases>, interval: Duration, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        beat(&store, &leases).await;
    }
}

pub(crate) async fn beat(store: &Store, leases: &Leases) {
    let held = leases.snapshot();
    if held.is_empty() {
        return;
    }
    let sent = Instant::now();
    let lease_list: Vec<_> = held.iter().map(|(lease, _)| *lease).collect();
    match store.task_heartbeat(&lease_list).await {
        Ok(replies) => {
            for (reply, (_, handle)) in replies.iter().zip(&held) {
                if !reply.alive && handle.finishing.load(std::sync::atomic::Ordering::SeqCst) {
                    // This run's own final write got there first.
                } else if !reply.alive {
                    tracing::warn!(task_id = %reply.lease.task_id, "task was taken away from this worker; stopping it");
                    handle.stop.stop(StopReason::LeaseLost);
                } else {
                    handle.clock.renewed(sent);
                    if reply.cancel_requested {
                        handle.stop.stop(StopReason::Cancelled);
                    }
                }
            }
        }
        Err(error) => {
            tracing::warn!(%error, tasks = held.len(), "heartbeat failed");
            // Leases that ran out while the database was unreachable must stop now, even if
            // their run is waiting on something.
            for (_, handle) in &held {
                if handle.clock.expired() {
                    handle.stop.stop(StopReason::LeaseLost);
                }
            }
        }
    }
}
