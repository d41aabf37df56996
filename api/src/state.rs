//! What every handler shares.

use std::sync::Arc;
use std::time::Duration;

use actions::Registry;
use metrics_exporter_prometheus::PrometheusHandle;
use store::Store;
use worker::WorkerHealth;

#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// `backend.maxRequestBodySize` (Backstage: 10 MB).
    pub max_body_bytes: usize,
    /// `scaffolder.maxQueueDepth`: more open tasks than this and `POST /v2/tasks` answers 503.
    pub max_queue_depth: i64,
    /// How long `GET .../events` waits for something new (Backstage: 30 s).
    pub long_poll_timeout: Duration,
    /// How often a waiting reader re-reads the database when no notification arrives.
    pub event_poll_interval: Duration,
    /// Comment lines on idle SSE streams, so proxies keep them open.
    pub sse_keepalive: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_body_bytes: 10 * 1024 * 1024,
            max_queue_depth: 10_000,
            long_poll_timeout: Duration::from_secs(30),
            event_poll_interval: Duration::from_millis(500),
            sse_keepalive: Duration::from_secs(15),
        }
    }
}

pub(crate) struct Inner {
    pub store: Store,
    pub registry: Arc<Registry>,
    pub config: ApiConfig,
    pub worker_health: Option<Arc<WorkerHealth>>,
    pub metrics: Option<PrometheusHandle>,
}

#[derive(Clone)]
pub(crate) struct AppState(pub(crate) Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
