//! What every handler shares.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actions::Runner;
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
    /// Dry-runs executing at once in this process (`scaffolder.maxConcurrentDryRuns`).
    pub max_concurrent_dry_runs: usize,
    /// `permission.*`: the RBAC policy.
    pub permissions: crate::permissions::PermissionConfig,
    /// `techdocs.*`: where pre-built sites are served from.
    pub techdocs: crate::techdocs::TechDocsConfig,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_body_bytes: 10 * 1024 * 1024,
            max_queue_depth: 10_000,
            long_poll_timeout: Duration::from_secs(30),
            event_poll_interval: Duration::from_millis(500),
            sse_keepalive: Duration::from_secs(15),
            permissions: Default::default(),
            techdocs: Default::default(),
            max_concurrent_dry_runs: 8,
        }
    }
}

pub(crate) struct Inner {
    pub store: Store,
    /// Runs dry-runs; its registry answers `GET /v2/actions`.
    pub runner: Arc<Runner>,
    /// Where dry-runs put their uploaded files and workspaces (`backend.workingDirectory`).
    pub working_directory: PathBuf,
    pub permissions: crate::permissions::Permissions,
    /// The TechDocs bucket, for the `awsS3` publisher.
    pub s3: Option<crate::s3::S3>,
    /// The catalog module (`/api/catalog`), where this process serves it.
    pub catalog: Option<Arc<::catalog::Catalog>>,
    /// Dry-runs run at most this many at once; more wait their turn.
    pub dry_runs: Arc<tokio::sync::Semaphore>,
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
