//! The tasks this process currently holds: for each lease, the stop signal its run checks and the
//! clock that says until when the lease is safe to act on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// How long a stop for a task this process does not hold is remembered. A cancel that lands just
/// after the claim commits has its notification arrive before the run holds its lease here; the
/// next heartbeat would bring it back, but a task shorter than the heartbeat interval has
/// completed by then (found by the soak: 2 of 360 cancels lost in 2 minutes).
const EARLY_STOP_MEMORY: Duration = Duration::from_secs(60);

#[derive(Default)]
pub(crate) struct Leases {
    held: Mutex<HashMap<Lease, Held>>,
    /// Stops for tasks not held (yet): when each came and why. Locked after `held`, always.
    early: Mutex<HashMap<Uuid, (Instant, StopReason)>>,
}

impl Leases {
    pub fn insert(&self, lease: Lease, held: Held) {
        let mut leases = self.held.lock().expect("leases lock");
        if let Some((_, reason)) = self.early.lock().expect("early stops lock").remove(&lease.task_id) {
            held.stop.stop(reason);
        }
        leases.insert(lease, held);
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

    /// Stops the run of `task_id`, or the run about to start when its lease is not held yet (a
    /// stop for a task another process holds is remembered for [`EARLY_STOP_MEMORY`] and dropped).
    pub fn stop_task(&self, task_id: Uuid, reason: StopReason) {
        let leases = self.held.lock().expect("leases lock");
        let mut found = false;
        for (lease, held) in leases.iter() {
            if lease.task_id == task_id {
                held.stop.stop(reason);
                found = true;
            }
        }
        if !found {
            let mut early = self.early.lock().expect("early stops lock");
            let now = Instant::now();
            early.retain(|_, (at, _)| now.duration_since(*at) < EARLY_STOP_MEMORY);
            early.insert(task_id, (now, reason));
        }
    }

    pub fn stop_all(&self, reason: StopReason) {
        for held in self.held.lock().expect("leases lock").values() {
            held.stop.stop(reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held() -> Held {
        let clock = Arc::new(LeaseClock::new(Duration::from_secs(30)));
        Held { stop: Arc::new(StopSignal::with_lease(clock.clone())), clock, finishing: Default::default() }
    }

    #[test]
    fn a_cancel_that_arrives_before_the_lease_is_held_stops_the_run() {
        let leases = Leases::default();
        let lease = Lease { task_id: Uuid::now_v7(), attempt: 1 };
        leases.stop_task(lease.task_id, StopReason::Cancelled);
        let run = held();
        leases.insert(lease, run.clone());
        assert_eq!(run.stop.reason(), Some(StopReason::Cancelled));
        // Remembered once: a later attempt of the same task starts clean.
        let next = held();
        leases.insert(Lease { task_id: lease.task_id, attempt: 2 }, next.clone());
        assert_eq!(next.stop.reason(), None);
    }

    #[test]
    fn a_cancel_for_a_held_lease_stops_it_and_is_not_remembered() {
        let leases = Leases::default();
        let lease = Lease { task_id: Uuid::now_v7(), attempt: 1 };
        let run = held();
        leases.insert(lease, run.clone());
        leases.stop_task(lease.task_id, StopReason::Cancelled);
        assert_eq!(run.stop.reason(), Some(StopReason::Cancelled));
        assert!(leases.early.lock().unwrap().is_empty());
    }
}
