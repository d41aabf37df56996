//! Why a run must stop, shared between the worker (which decides) and the runner and actions
//! (which check at every boundary and inside long waits).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// A user cancelled the task.
    Cancelled,
    /// The worker is shutting down: hand the task back so another worker resumes it.
    Shutdown,
    /// The task was taken away (janitor, another worker) or the lease could not be renewed in
    /// time: write nothing more.
    LeaseLost,
    /// The task ran longer than `scaffolder.taskTimeout`.
    TimedOut,
}

impl StopReason {
    fn code(self) -> u8 {
        match self {
            StopReason::Cancelled => 1,
            StopReason::Shutdown => 2,
            StopReason::LeaseLost => 3,
            StopReason::TimedOut => 4,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(StopReason::Cancelled),
            2 => Some(StopReason::Shutdown),
            3 => Some(StopReason::LeaseLost),
            4 => Some(StopReason::TimedOut),
            _ => None,
        }
    }
}

/// When the worker last renewed a task's lease, and how long a lease lasts. A worker that was
/// paused (or cut off from the database) past its lease must not act: another worker may own the
/// task by now.
#[derive(Debug)]
pub struct LeaseClock {
    origin: Instant,
    renewed_ms: AtomicU64,
    ttl: Duration,
}

impl LeaseClock {
    pub fn new(ttl: Duration) -> Self {
        LeaseClock { origin: Instant::now(), renewed_ms: AtomicU64::new(0), ttl }
    }

    /// Records a renewal that was *sent* at `sent` (the database may have applied it later, never
    /// earlier, so this errs on the safe side).
    pub fn renewed(&self, sent: Instant) {
        let ms = sent.saturating_duration_since(self.origin).as_millis() as u64;
        self.renewed_ms.fetch_max(ms, Ordering::AcqRel);
    }

    pub fn expired(&self) -> bool {
        let renewed = self.origin + Duration::from_millis(self.renewed_ms.load(Ordering::Acquire));
        renewed.elapsed() >= self.ttl
    }
}

/// A one-shot stop signal with a reason (the first reason wins) and an optional lease clock.
#[derive(Debug, Default)]
pub struct StopSignal {
    token: CancellationToken,
    reason: AtomicU8,
    lease: Option<Arc<LeaseClock>>,
}

impl StopSignal {
    pub fn new() -> Self {
        StopSignal::default()
    }

    pub fn with_lease(lease: Arc<LeaseClock>) -> Self {
        StopSignal { lease: Some(lease), ..StopSignal::default() }
    }

    pub fn stop(&self, reason: StopReason) {
        if self.reason.compare_exchange(0, reason.code(), Ordering::AcqRel, Ordering::Acquire).is_ok() {
            self.token.cancel();
        }
    }

    /// Why the run must stop, if it must. An expired lease counts, even if nobody said so yet.
    pub fn reason(&self) -> Option<StopReason> {
        if let Some(reason) = StopReason::from_code(self.reason.load(Ordering::Acquire)) {
            return Some(reason);
        }
        if self.lease.as_ref().is_some_and(|lease| lease.expired()) {
            self.stop(StopReason::LeaseLost);
            return Some(StopReason::LeaseLost);
        }
        None
    }

    pub fn is_stopped(&self) -> bool {
        self.reason().is_some()
    }

    /// Resolves once [`StopSignal::stop`] was called.
    pub async fn stopped(&self) {
        self.token.cancelled().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reason_wins() {
        let stop = StopSignal::new();
        assert_eq!(stop.reason(), None);
        stop.stop(StopReason::Cancelled);
        stop.stop(StopReason::Shutdown);
        assert_eq!(stop.reason(), Some(StopReason::Cancelled));
    }

    #[test]
    fn an_expired_lease_stops_the_run() {
        let clock = Arc::new(LeaseClock::new(Duration::from_millis(0)));
        let stop = StopSignal::with_lease(clock);
        assert_eq!(stop.reason(), Some(StopReason::LeaseLost));
        let fresh = Arc::new(LeaseClock::new(Duration::from_secs(60)));
        fresh.renewed(Instant::now());
        assert_eq!(StopSignal::with_lease(fresh).reason(), None);
    }
}
