//! In-process wake-ups, so that waiting never means polling fast.
//!
//! Writers in this process call the `notify_*` methods after they commit. With PostgreSQL the
//! same writes also `NOTIFY`, and [`Store::spawn_listener`] forwards other processes'
//! notifications here, so a worker wakes for a task posted to an API-only node and an API node
//! streams events written by a worker elsewhere. Notifications can be lost (a restart, a dropped
//! connection): every waiter also polls with a timeout, and these signals only make it prompt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{Db, Store};

pub(crate) const CHANNEL_TASKS: &str = "scaffolder_tasks";
pub(crate) const CHANNEL_CANCELS: &str = "scaffolder_cancels";
pub(crate) const CHANNEL_EVENTS: &str = "scaffolder_events";

#[derive(Debug)]
pub struct Signals {
    task_available: Notify,
    cancels: broadcast::Sender<Uuid>,
    events: Mutex<HashMap<Uuid, Weak<Notify>>>,
}

impl Default for Signals {
    fn default() -> Self {
        Signals { task_available: Notify::new(), cancels: broadcast::channel(1024).0, events: Mutex::default() }
    }
}

impl Signals {
    /// A task became claimable (created, retried, recovered, handed back).
    pub fn notify_task_available(&self) {
        self.task_available.notify_one();
    }

    /// Resolves after the next [`Signals::notify_task_available`] (or at once if one is pending).
    pub async fn task_available(&self) {
        self.task_available.notified().await;
    }

    /// Someone asked to cancel a running task.
    pub fn notify_cancel(&self, task_id: Uuid) {
        let _ = self.cancels.send(task_id);
    }

    pub fn subscribe_cancels(&self) -> broadcast::Receiver<Uuid> {
        self.cancels.subscribe()
    }

    /// The notifier a reader of `task_id`'s events waits on. Keep the `Arc` while waiting.
    pub fn event_waiter(&self, task_id: Uuid) -> Arc<Notify> {
        let mut map = self.events.lock().expect("signals lock");
        if let Some(existing) = map.get(&task_id).and_then(Weak::upgrade) {
            return existing;
        }
        map.retain(|_, weak| weak.strong_count() > 0);
        let notify = Arc::new(Notify::new());
        map.insert(task_id, Arc::downgrade(&notify));
        notify
    }

    /// New events were committed for these tasks.
    pub fn notify_events(&self, task_ids: impl IntoIterator<Item = Uuid>) {
        let map = self.events.lock().expect("signals lock");
        if map.is_empty() {
            return;
        }
        for id in task_ids {
            if let Some(notify) = map.get(&id).and_then(Weak::upgrade) {
                notify.notify_waiters();
            }
        }
    }

    /// Wakes every waiter: used after a lost connection, when notifications may have been missed.
    fn notify_everything(&self) {
        self.task_available.notify_one();
        let map = self.events.lock().expect("signals lock");
        for notify in map.values().filter_map(Weak::upgrade) {
            notify.notify_waiters();
        }
    }
}

impl Store {
    /// With PostgreSQL, forwards `NOTIFY`s from other processes into [`Store::signals`] until
    /// `shutdown`; reconnects by itself. With SQLite (one process) there is nothing to listen to.
    pub fn spawn_listener(&self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let Db::Pg(pool) = &store.db else { return };
            let mut backoff = Duration::from_millis(200);
            while !shutdown.is_cancelled() {
                let mut listener = match PgListener::connect_with(pool).await {
                    Ok(listener) => listener,
                    Err(error) => {
                        tracing::warn!(%error, "cannot open the LISTEN connection; retrying");
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        continue;
                    }
                };
                if let Err(error) = listener.listen_all([CHANNEL_TASKS, CHANNEL_CANCELS, CHANNEL_EVENTS]).await {
                    tracing::warn!(%error, "LISTEN failed; retrying");
                    continue;
                }
                backoff = Duration::from_millis(200);
                // Anything sent while we were not listening is lost: look again now.
                store.signals.notify_everything();
                loop {
                    let received = tokio::select! {
                        _ = shutdown.cancelled() => return,
                        received = listener.try_recv() => received,
                    };
                    match received {
                        Ok(Some(notification)) => {
                            store.signals.dispatch(notification.channel(), notification.payload())
                        }
                        Ok(None) => store.signals.notify_everything(),
                        Err(error) => {
                            tracing::warn!(%error, "LISTEN connection lost; reconnecting");
                            break;
                        }
                    }
                }
            }
        })
    }
}

impl Signals {
    fn dispatch(&self, channel: &str, payload: &str) {
        match channel {
            CHANNEL_TASKS => self.notify_task_available(),
            CHANNEL_CANCELS => {
                if let Ok(id) = payload.parse() {
                    self.notify_cancel(id);
                }
            }
            CHANNEL_EVENTS => {
                if payload == "*" {
                    self.notify_everything();
                } else {
                    self.notify_events(payload.split(',').filter_map(|id| id.parse().ok()));
                }
            }
            _ => {}
        }
    }
}
