//! Building the components from [`Settings`], and the process-level plumbing every command
//! shares: logging, metrics, signals, the HTTP listener.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actions::{Registry, RegistryConfig, Runner, RunnerConfig};
use anyhow::{Context, bail};
use catalog::{Catalog, CatalogConfig, LocationConfig, Rule};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use store::{Store, SweepConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use worker::{Janitor, JanitorConfig, WorkerConfig};

use crate::config::{ConfigSources, DatabaseKind, Settings, load};
use crate::samples;

/// `LOG_LEVEL` (Backstage's variable) or `RUST_LOG` choose the level; `LOG_FORMAT=json` makes
/// logs JSON lines for log collectors. With `OTEL_EXPORTER_OTLP_ENDPOINT` (a collector's base URL,
/// e.g. `http://127.0.0.1:4318`; or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, the full traces URL)
/// spans (task, step, action; each with the task id) are exported over OTLP/HTTP as well.
/// Keep the returned guard until the end: dropping it flushes the spans still buffered.
pub fn init_logging(default: &str) -> TelemetryGuard {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter =
        std::env::var("RUST_LOG").or_else(|_| std::env::var("LOG_LEVEL")).unwrap_or_else(|_| default.to_owned());
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json");
    let json_layer = json.then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr).json());
    let plain_layer = (!json).then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr));
    let (provider, problem) = match otlp_traces_url() {
        None => (None, None),
        Some(url) => match otlp_provider(&url) {
            Ok(provider) => (Some(provider), None),
            Err(error) => (None, Some(format!("OTLP trace export to {url} is off: {error}"))),
        },
    };
    let otel_layer = provider.as_ref().map(|provider| {
        use opentelemetry::trace::TracerProvider as _;
        tracing_opentelemetry::layer().with_tracer(provider.tracer("scaffolder"))
    });
    tracing_subscriber::registry().with(filter).with(json_layer).with(plain_layer).with(otel_layer).init();
    // A panic's text may carry the values it was handling (secrets included): logs get where it
    // happened, not what it said.
    std::panic::set_hook(Box::new(|info| {
        let place = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        tracing::error!(%place, "panic (its message is not logged: it may hold input values)");
    }));
    if let Some(problem) = problem {
        tracing::warn!("{problem}");
    }
    TelemetryGuard { provider }
}

/// Flushes and stops the OTLP exporter when dropped.
pub struct TelemetryGuard {
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("scaffolder: flushing traces failed: {error}");
        }
    }
}

fn otlp_traces_url() -> Option<String> {
    let nonempty = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    nonempty("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| {
        nonempty("OTEL_EXPORTER_OTLP_ENDPOINT").map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
    })
}

fn otlp_provider(url: &str) -> anyhow::Result<opentelemetry_sdk::trace::SdkTracerProvider> {
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().with_endpoint(url).build()?;
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "scaffolder".to_owned());
    Ok(opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(opentelemetry_sdk::Resource::builder().with_service_name(service).build())
        .build())
}

pub fn settings(files: &[PathBuf]) -> anyhow::Result<Settings> {
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let (tree, found) = load(&ConfigSources { files: files.to_vec(), cwd: cwd.clone(), env })?;
    Ok(Settings::from_tree(&tree, found, &cwd)?)
}

pub fn require_postgres(settings: &Settings, command: &str) -> anyhow::Result<()> {
    if settings.database_kind != DatabaseKind::Postgres {
        bail!(
            "`scaffolder {command}` runs beside other processes and needs PostgreSQL (backend.database.client: pg); \
             the embedded SQLite database is only for `scaffolder serve`"
        );
    }
    Ok(())
}

/// Running without authentication is only allowed where nobody else can reach the service.
pub fn check_auth_exposure(settings: &Settings) -> anyhow::Result<()> {
    if !settings.auth.disable_default_policy || settings.is_loopback() {
        return Ok(());
    }
    if settings.embedded_default {
        bail!(
            "refusing to listen on {} without authentication: the embedded default runs without tokens only on a \
             loopback address. Listen on 127.0.0.1, or configure backend.auth.externalAccess tokens",
            settings.listen_host
        );
    }
    tracing::warn!(
        host = %settings.listen_host,
        "backend.auth.dangerouslyDisableDefaultAuthPolicy is set on a non-loopback address: anyone who can reach this port can run templates"
    );
    Ok(())
}

/// Connects and applies pending migrations (safe from several processes at once).
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::connect(&settings.database).await.context("cannot connect to the database")?;
    store.migrate().await.context("cannot migrate the database")?;
    Ok(store)
}

pub fn metrics() -> PrometheusHandle {
    const SECONDS: &[f64] =
        &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0];
    let handle = PrometheusBuilder::new()
        .set_buckets(SECONDS)
        .expect("static buckets")
        .install_recorder()
        .expect("the metrics recorder is installed once");
    // `install_recorder` leaves upkeep to the caller: without it every histogram sample is kept
    // until the next scrape of /metrics, so a process nobody scrapes grows without bound (the
    // soak found it: about 100 KiB a minute per worker at 20 tasks/s). Drained every 5 s, as
    // `install()` would; the loop lives as long as the runtime, like the recorder itself.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(5));
        loop {
            ticks.tick().await;
            upkeep.run_upkeep();
        }
    });
    handle
}

/// GitHub integrations, shared by the actions and the catalog's URL reader.
pub fn github(settings: &Settings) -> Arc<actions::Github> {
    Arc::new(actions::Github::new(settings.github.clone(), actions::RetryPolicy::default()))
}

fn fetch_config(settings: &Settings) -> actions::FetchConfig {
    actions::FetchConfig { integrations: settings.integrations.clone(), allow: settings.reading_allow.clone() }
}

/// The catalog module: `catalog.locations`, or with none configured the sample templates
/// compiled into the binary; `url` locations read through the integrations.
pub fn catalog(settings: &Settings, store: &Store, github: Arc<actions::Github>) -> anyhow::Result<Arc<Catalog>> {
    let config = if settings.catalog.locations.is_empty() {
        let directory = settings.working_directory.join("sample-templates");
        let files = samples::extract(&directory).context("cannot write the sample templates")?;
        CatalogConfig {
            rules: Some(vec![Rule {
                allow: vec![
                    "Template".to_owned(),
                    "Location".to_owned(),
                    "Component".to_owned(),
                    "API".to_owned(),
                    "System".to_owned(),
                    "Group".to_owned(),
                    "User".to_owned(),
                    "Resource".to_owned(),
                    "Domain".to_owned(),
                ],
            }]),
            locations: files
                .into_iter()
                .map(|f| LocationConfig { kind: "file".to_owned(), target: f.display().to_string(), rules: None })
                .collect(),
            ..settings.catalog.clone()
        }
    } else {
        settings.catalog.clone()
    };
    let reader = Arc::new(actions::UrlReader::new(fetch_config(settings), github));
    Ok(Arc::new(Catalog::new(store.clone(), config).with_url_reader(reader)))
}

/// The catalog this process serves at `/api/catalog`, loaded: none when `discovery.endpoints`
/// says the catalog runs elsewhere (it fills the shared tables there).
pub async fn served_catalog(settings: &Settings, store: &Store) -> anyhow::Result<Option<Arc<Catalog>>> {
    if let Some(url) = &settings.catalog_url {
        tracing::info!(%url, "the catalog runs elsewhere (discovery.endpoints); not serving /api/catalog");
        return Ok(None);
    }
    let catalog = catalog(settings, store, github(settings))?;
    load_catalog(&catalog).await?;
    Ok(Some(catalog))
}

/// Reads every configured location into the catalog tables.
pub async fn load_catalog(catalog: &Catalog) -> anyhow::Result<()> {
    let cwd = std::env::current_dir()?;
    let report = catalog.load_configured(&cwd).await?;
    for problem in &report.problems {
        tracing::warn!("catalog: {problem}");
    }
    tracing::info!(entities = report.loaded.len(), "catalog loaded: {}", report.loaded.join(", "));
    Ok(())
}

/// The built-in actions, reading files from the configured hosts and the catalog (none for a
/// dry-run without a server).
pub fn registry(settings: &Settings, catalog: Option<Arc<Catalog>>) -> Arc<Registry> {
    let catalog: Arc<dyn actions::CatalogApi> = match (&settings.catalog_url, catalog) {
        // `discovery.endpoints` puts the catalog elsewhere: actions reach it over HTTP.
        (Some(url), _) => Arc::new(catalog::HttpCatalog::new(url)),
        (None, Some(catalog)) => Arc::new(catalog::StoreCatalog::with_catalog(catalog)),
        (None, None) => Arc::new(actions::EmptyCatalog),
    };
    let config =
        RegistryConfig { fetch: fetch_config(settings), catalog, github: github(settings), git: settings.git.clone() };
    Arc::new(Registry::builtin(&config))
}

pub fn runner(settings: &Settings, catalog: Option<Arc<Catalog>>) -> Arc<Runner> {
    Arc::new(Runner::new(
        registry(settings, catalog),
        RunnerConfig {
            recovery_enabled: settings.recovery_enabled,
            environment: settings.environment.clone(),
            limits: settings.workspace_limits,
            integrations: settings.integrations.clone(),
        },
    ))
}

pub fn worker_config(settings: &Settings) -> anyhow::Result<WorkerConfig> {
    actions::prepare_working_directory(&settings.working_directory).with_context(|| {
        format!("backend.workingDirectory {} cannot be created", settings.working_directory.display())
    })?;
    let probe = settings.working_directory.join(format!(".write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").with_context(|| {
        format!("backend.workingDirectory {} is not writable", settings.working_directory.display())
    })?;
    let _ = std::fs::remove_file(probe);
    let host =
        std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "host".to_owned());
    Ok(WorkerConfig {
        worker_id: format!("{host}:{}:{:04x}", std::process::id(), fastrand::u16(..)),
        concurrency: settings.concurrency,
        working_directory: settings.working_directory.clone(),
        heartbeat_interval: (settings.stale_timeout / 6).clamp(Duration::from_millis(100), Duration::from_secs(5)),
        lease_ttl: settings.stale_timeout,
        poll_interval: Duration::from_secs(1),
        task_timeout: settings.task_timeout,
        shutdown_grace: settings.shutdown_grace,
    })
}

pub fn janitor_config(settings: &Settings) -> JanitorConfig {
    JanitorConfig {
        sweep: SweepConfig {
            recovery_enabled: settings.recovery_enabled,
            stale_timeout: settings.stale_timeout,
            max_attempts: settings.max_attempts,
            task_timeout: Some(settings.task_timeout),
            retention: settings.retention,
        },
        // Backstage checks for lost workers every 10 s; a third of the lease is never later.
        recovery_interval: (settings.stale_timeout / 3).clamp(Duration::from_millis(500), Duration::from_secs(10)),
        full_interval: settings.janitor_frequency,
    }
}

/// What long-running commands run beside their main job: the `LISTEN` relay (so this process
/// hears writes made elsewhere) and, where tasks run, the janitor.
pub struct Background {
    token: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Background {
    pub fn start(store: &Store, settings: &Settings, with_janitor: bool) -> Background {
        let token = CancellationToken::new();
        let mut tasks = vec![store.spawn_listener(token.clone())];
        if with_janitor {
            tasks.push(tokio::spawn(Janitor::new(store.clone(), janitor_config(settings)).run(token.clone())));
        }
        Background { token, tasks }
    }

    /// Also reads every catalog location again every `catalog.processingInterval`.
    pub fn with_catalog_refresh(mut self, catalog: Option<&Arc<Catalog>>) -> Background {
        if let Some(catalog) = catalog {
            self.tasks.push(tokio::spawn(catalog.clone().run_refresh(self.token.clone())));
        }
        self
    }

    pub async fn stop(self) {
        self.token.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Cancels `token` on SIGTERM or SIGINT.
pub fn on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT received: shutting down"),
        }
        token.cancel();
    });
}

pub async fn bind(settings: &Settings) -> anyhow::Result<TcpListener> {
    let address = format!("{}:{}", settings.listen_host, settings.listen_port);
    let listener =
        TcpListener::bind(&address).await.with_context(|| format!("cannot listen on {address} (backend.listen)"))?;
    let local = listener.local_addr()?;
    tracing::info!("listening on http://{local}");
    // Scripts and tests read this line to find the port (backend.listen.port: 0 picks one).
    println!("scaffolder listening on http://{local}");
    Ok(listener)
}

/// Serves until `stop`, then lets open requests finish for a few seconds (event streams never
/// finish on their own, so they are cut after that).
pub async fn serve_http(listener: TcpListener, app: axum::Router, stop: CancellationToken) -> anyhow::Result<()> {
    use axum::serve::ListenerExt;
    let graceful = stop.clone();
    // Small responses (an SSE frame, a JSON body after its headers) go out at once instead of
    // waiting on Nagle's algorithm for the client's delayed ACK (40 ms on Linux).
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
    });
    let server = axum::serve(listener, app).with_graceful_shutdown(async move { graceful.cancelled().await });
    tokio::select! {
        result = server => result.context("the HTTP server failed")?,
        _ = async {
            stop.cancelled().await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        } => tracing::info!("closing remaining HTTP connections"),
    }
    Ok(())
}
