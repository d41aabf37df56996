//! What keeps enqueueing cheap however deep the queue is.
//!
//! - [`DepthEstimate`]: `scaffolder.maxQueueDepth` is enforced exactly (the insert counts the
//!   open tasks in the same statement) only when the queue may be near the limit. Counting is
//!   linear in the queue's depth: at 20,000 open tasks it cost every `POST` more than the rest of
//!   the insert. So each process counts at most once a second and adds its own inserts; while
//!   that estimate is under half the limit, inserts skip the count. Other processes' inserts
//!   within that second are not in the estimate, so a fleet would have to enqueue half the limit
//!   in one second to overshoot it.
//! - [`Announcer`]: `NOTIFY scaffolder_tasks` wakes workers on other hosts. In the inserting
//!   transaction it takes PostgreSQL's notification lock until the commit is on disk, so every
//!   `POST` waited for the one before it to be flushed (measured: about 1,000 inserts a second
//!   whatever the concurrency, most backends waiting on `Lock:object`). The announcer sends it
//!   after the commit instead, from one connection, coalescing every insert that happened while
//!   the previous notification was on its way. In-process workers are woken directly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::signals::CHANNEL_TASKS;

/// How long a count of open tasks is trusted.
const COUNT_TTL: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub(crate) struct DepthEstimate {
    /// When the open tasks were last counted, and that count plus this process's inserts since.
    last: Mutex<Option<(Instant, i64)>>,
}

/// What an insert has to do about the depth limit.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DepthCheck {
    /// The queue is far below the limit: insert without counting.
    Skip,
    /// Count in the insert; first refresh the estimate (this caller now owns the refresh).
    CountAndRefresh,
    /// Count in the insert.
    Count,
}

impl DepthEstimate {
    pub(crate) fn check(&self, max_open: i64) -> DepthCheck {
        let mut last = self.last.lock().expect("depth estimate lock");
        match *last {
            Some((counted, open)) if counted.elapsed() < COUNT_TTL => {
                if open.saturating_add(1) <= max_open / 2 {
                    DepthCheck::Skip
                } else {
                    DepthCheck::Count
                }
            }
            Some((_, open)) => {
                // Claim the refresh: others go on trusting the old figure meanwhile.
                *last = Some((Instant::now(), open));
                DepthCheck::CountAndRefresh
            }
            None => {
                *last = Some((Instant::now(), i64::MAX));
                DepthCheck::CountAndRefresh
            }
        }
    }

    pub(crate) fn counted(&self, open: i64) {
        *self.last.lock().expect("depth estimate lock") = Some((Instant::now(), open));
    }

    pub(crate) fn inserted(&self) {
        if let Some((_, open)) = self.last.lock().expect("depth estimate lock").as_mut() {
            *open = open.saturating_add(1);
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Announcer {
    /// An insert happened that no notification sent so far covers.
    pending: AtomicBool,
    /// A sender task is running.
    sending: AtomicBool,
}

impl Announcer {
    /// Makes sure one `NOTIFY scaffolder_tasks` is sent after this call. Returns at once; the
    /// notification goes from a task that lives while there is something to send.
    pub(crate) fn task_available(self: &Arc<Self>, pool: &PgPool) {
        self.pending.store(true, Ordering::SeqCst);
        if self.sending.swap(true, Ordering::SeqCst) {
            return; // The running sender will see `pending`.
        }
        let this = self.clone();
        let pool = pool.clone();
        tokio::spawn(async move {
            loop {
                while this.pending.swap(false, Ordering::SeqCst) {
                    if let Err(error) = sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL_TASKS).execute(&pool).await
                    {
                        // Workers elsewhere find the task at their next poll.
                        tracing::warn!(%error, "could not announce new tasks to other processes");
                    }
                }
                this.sending.store(false, Ordering::SeqCst);
                // An insert between the last check and the line above found `sending` still set.
                if !this.pending.load(Ordering::SeqCst) || this.sending.swap(true, Ordering::SeqCst) {
                    return;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_first_then_skips_only_far_below_the_limit() {
        let estimate = DepthEstimate::default();
        assert_eq!(estimate.check(10), DepthCheck::CountAndRefresh, "a process counts before its first insert");
        assert_eq!(estimate.check(10), DepthCheck::Count, "while that count is under way, others count in the insert");
        estimate.counted(3);
        assert_eq!(estimate.check(10), DepthCheck::Skip);
        estimate.inserted();
        assert_eq!(estimate.check(10), DepthCheck::Skip, "4 + 1 is still half the limit");
        estimate.inserted();
        assert_eq!(estimate.check(10), DepthCheck::Count, "5 + 1 is past half: the insert counts exactly");
        assert_eq!(estimate.check(1), DepthCheck::Count, "a limit of one is always counted");
    }

    #[test]
    fn an_old_count_is_refreshed_once() {
        let estimate = DepthEstimate::default();
        *estimate.last.lock().unwrap() = Some((Instant::now() - COUNT_TTL * 2, 0));
        assert_eq!(estimate.check(100), DepthCheck::CountAndRefresh);
        assert_eq!(estimate.check(100), DepthCheck::Skip, "the others trust the old figure meanwhile");
    }
}
