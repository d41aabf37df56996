//! The tasks this process currently holds: for each lease, the stop signal its run checks and the
//! clock that says until when the lease is safe to act on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actions::{LeaseClock, StopReason, StopSignal};
use store::Lease;
use uuid::Uuid;

#[derive(Clone)]
pub(crate) struct Held {
    pub stop: Arc<StopSignal>,
    pub clock: Arc<LeaseClock>,
    /// Set once the run has ended and its final write is under way: a heartbeat that then finds
    /// the task no longer `processing` sees this run's own completion, not a lost lease.
    pub finishing: Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Default)]
pub(crate) struct Leases {
    held: Mutex<HashMap<Lease, Held>>,
}

impl Leases {
    pub fn insert(&self, lease: Lease, held: Held) {
        self.held.lock().expect("leases lock").insert(lease, held);
    }

    /// The run of `lease` has ended; its final write follows.
    pub fn finishing(&self, lease: &Lease) {
        if let Some(held) = self.held.lock().expect("leases lock").get(lease) {
            held.finishing.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    pub fn remove(&self, lease: &Lease) {
        self.held.lock().expect("leases lock").remove(lease);
    }

    pub fn snapshot(&self) -> Vec<(Lease, Held)> {
        self.held.lock().expect("leases lock").iter().map(|(l, h)| (*l, h.clone())).collect()
    }

    pub fn stop(&self, lease: &Lease, reason: StopReason) {
        if let Some(held) = self.held.lock().expect("leases lock").get(lease) {
            held.stop.stop(reason);
        }
    }

    pub fn stop_task(&self, task_id: Uuid, reason: StopReason) {
        for (lease, held) in self.held.lock().expect("leases lock").iter() {
            if lease.task_id == task_id {
                held.stop.stop(reason);
            }
        }
    }

    pub fn stop_all(&self, reason: StopReason) {
        for held in self.held.lock().expect("leases lock").values() {
            held.stop.stop(reason);
        }
    }
}
