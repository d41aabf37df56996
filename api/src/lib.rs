//! Every HTTP server of the service.
//!
//! Layout:
//! - [`app`]: the full API (`/api/scaffolder/...`, health, metrics) served by `serve` and `api`;
//!   [`health_app`]: only health and metrics, served by a `worker` on its own port.
//! - `tasks`, `events`, `info`, `dry_run`: the scaffolder routes, Backstage's wire format.
//! - `auth`: credentials; `error`: the one mapping to Backstage's error envelope.
//! - `wire`: the JSON shapes, also the source of `openapi.json`.
//! - `body`, `catalog`: reading requests, resolving `templateRef`.
//! - `catalog_routes`: `/api/catalog`, Backstage's catalog API over the thin catalog.
//! - `techdocs`: `/api/techdocs`, pre-built documentation sites.
//! - `jwt`, `permissions`: user tokens and the RBAC policy.
//! - `ui`: the built-in web page (`/`, `/ui/*`, `ui-config`); `authoring`: the two routes it
//!   needs beyond Backstage's (page-by-page validation, reading a template's YAML).
//!
//! Invariant: this crate knows HTTP and nothing below it does; it holds no SQL text.

mod auth;
mod authoring;
mod body;
mod catalog;
mod catalog_routes;
mod dry_run;
mod error;
mod events;
mod health;
mod info;
mod jwt;
mod permissions;
mod s3;
mod state;
mod tasks;
mod techdocs;
mod ui;
mod wire;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use actions::{Registry, Runner, RunnerConfig};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use store::Store;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use worker::WorkerHealth;

pub use auth::{AuthConfig, Principal, StaticToken};
pub use error::ApiError;
pub use jwt::{Identity, Resolver, TokenIssuer};
pub use permissions::{PermissionConfig, Policy};
pub use s3::S3Config;
pub use state::ApiConfig;
use state::{AppState, Inner};
pub use techdocs::TechDocsConfig;
use wire::BearerAuth;

#[derive(OpenApi)]
#[openapi(
    info(title = "scaffolder", version = "1", description = "Backstage's scaffolder API (/api/scaffolder/v2), served by scaffolder"),
    servers((url = "/api/scaffolder")),
    tags((name = "tasks"), (name = "actions"), (name = "templates"), (name = "ui")),
    // Served outside the authenticated routes (see `ui`), documented here.
    paths(ui::ui_config),
    security(("JWT" = [])),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// Everything [`app`] needs.
pub struct AppParts {
    pub store: Store,
    /// Runs dry-runs (without server-held secrets); its registry answers `GET /v2/actions`.
    pub runner: Arc<Runner>,
    /// `backend.workingDirectory`: dry-run contents and workspaces go here.
    pub working_directory: PathBuf,
    /// Serves `/api/catalog` when set.
    pub catalog: Option<Arc<::catalog::Catalog>>,
    pub auth: AuthConfig,
    pub config: ApiConfig,
    /// Set in processes that run a worker: `/healthcheck` then also checks its claim loop.
    pub worker_health: Option<Arc<WorkerHealth>>,
    pub metrics: Option<PrometheusHandle>,
}

/// The scaffolder routes and their OpenAPI document, built from the same handlers.
fn scaffolder_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(tasks::create_task, tasks::list_tasks))
        .routes(routes!(tasks::get_task))
        .routes(routes!(tasks::cancel_task))
        .routes(routes!(tasks::retry_task))
        .routes(routes!(events::events))
        .routes(routes!(events::event_stream))
        .routes(routes!(info::list_actions))
        .routes(routes!(info::parameter_schema))
        .routes(routes!(dry_run::dry_run))
        .routes(routes!(info::templating_extensions))
        .routes(routes!(authoring::validate))
        .routes(routes!(authoring::parse_template))
        .split_for_parts()
}

/// The OpenAPI document served at `/api/scaffolder/openapi.json`.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    scaffolder_routes().1
}

/// The full API.
pub fn app(parts: AppParts) -> Router {
    let max_body = parts.config.max_body_bytes;
    let dry_run_slots = parts.config.max_concurrent_dry_runs.max(1);
    let authenticator = Arc::new(auth::Authenticator::new(parts.auth.clone()).with_users(parts.store.clone()));
    let ui = ui::Ui::new(&parts.auth, authenticator.clone());
    let permissions = permissions::Permissions::new(parts.config.permissions.clone(), parts.store.clone());
    let s3 = parts.config.techdocs.s3.clone().map(s3::S3::new);
    let state = AppState(Arc::new(Inner {
        permissions,
        s3,
        store: parts.store,
        runner: parts.runner,
        working_directory: parts.working_directory,
        catalog: parts.catalog,
        dry_runs: Arc::new(tokio::sync::Semaphore::new(dry_run_slots)),
        config: parts.config,
        worker_health: parts.worker_health,
        metrics: parts.metrics,
    }));
    let catalog_routes =
        catalog_routes::routes().route_layer(middleware::from_fn_with_state(authenticator.clone(), auth::authenticate));
    let techdocs_routes =
        techdocs::routes().route_layer(middleware::from_fn_with_state(authenticator.clone(), auth::authenticate));
    let (scaffolder, document) = scaffolder_routes();
    let document = Arc::new(document.to_json().expect("the OpenAPI document serialises"));
    let scaffolder = scaffolder.route_layer(middleware::from_fn_with_state(authenticator, auth::authenticate)).route(
        "/openapi.json",
        get(move || {
            let document = document.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], document.as_str().to_owned()) }
        }),
    );
    Router::new()
        .nest("/api/scaffolder", scaffolder)
        .nest("/api/catalog", catalog_routes)
        .nest("/api/techdocs", techdocs_routes)
        .merge(health_routes())
        .merge(ui::routes(Arc::new(ui)))
        .fallback(error::no_route)
        .with_state(state)
        .layer(middleware::from_fn(error::envelope))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(record_request))
        .layer(TraceLayer::new_for_http())
}

/// Health and metrics only, for worker processes.
pub fn health_app(store: Store, worker_health: Option<Arc<WorkerHealth>>, metrics: Option<PrometheusHandle>) -> Router {
    let state = AppState(Arc::new(Inner {
        permissions: permissions::Permissions::new(Default::default(), store.clone()),
        s3: None,
        store,
        runner: Arc::new(Runner::new(Arc::new(Registry::from_actions(Vec::new())), RunnerConfig::default())),
        working_directory: std::env::temp_dir(),
        catalog: None,
        dry_runs: Arc::new(tokio::sync::Semaphore::new(1)),
        config: ApiConfig::default(),
        worker_health,
        metrics,
    }));
    health_routes()
        .fallback(error::no_route)
        .with_state(state)
        .layer(middleware::from_fn(error::envelope))
        .layer(middleware::from_fn(record_request))
}

fn health_routes() -> Router<AppState> {
    Router::new()
        .route("/healthcheck", get(health::healthcheck))
        .route("/.backstage/health/v1/readiness", get(health::healthcheck))
        .route("/.backstage/health/v1/liveness", get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }))
        .route("/metrics", get(health::metrics))
}

/// HTTP request metrics, labelled by route shape (ids folded) rather than by raw path.
async fn record_request(request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let route = route_label(request.uri().path());
    let started = Instant::now();
    let response = next.run(request).await.into_response();
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route, "status" => status.clone())
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route, "status" => status)
        .record(started.elapsed().as_secs_f64());
    response
}

/// A bounded set of labels: known routes with their parameters folded, everything else "other".
fn route_label(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match segments.as_slice() {
        ["", "api", "scaffolder", "v2", "tasks"] => "/api/scaffolder/v2/tasks",
        ["", "api", "scaffolder", "v2", "tasks", _] => "/api/scaffolder/v2/tasks/{taskId}",
        ["", "api", "scaffolder", "v2", "tasks", _, "cancel"] => "/api/scaffolder/v2/tasks/{taskId}/cancel",
        ["", "api", "scaffolder", "v2", "tasks", _, "retry"] => "/api/scaffolder/v2/tasks/{taskId}/retry",
        ["", "api", "scaffolder", "v2", "tasks", _, "events"] => "/api/scaffolder/v2/tasks/{taskId}/events",
        ["", "api", "scaffolder", "v2", "tasks", _, "eventstream"] => "/api/scaffolder/v2/tasks/{taskId}/eventstream",
        ["", "api", "scaffolder", "v2", "actions"] => "/api/scaffolder/v2/actions",
        ["", "api", "scaffolder", "v2", "dry-run"] => "/api/scaffolder/v2/dry-run",
        ["", "api", "scaffolder", "v2", "templating-extensions"] => "/api/scaffolder/v2/templating-extensions",
        ["", "api", "scaffolder", "v2", "templates", _, _, _, "parameter-schema"] => {
            "/api/scaffolder/v2/templates/{namespace}/{kind}/{name}/parameter-schema"
        }
        ["", "api", "scaffolder", "v2", "templates", _, _, _, "validate"] => {
            "/api/scaffolder/v2/templates/{namespace}/{kind}/{name}/validate"
        }
        ["", "api", "scaffolder", "v2", "parse-template"] => "/api/scaffolder/v2/parse-template",
        ["", "api", "scaffolder", "v2", "ui-config"] => "/api/scaffolder/v2/ui-config",
        [""] | ["", ""] => "/",
        ["", "ui", ..] => "/ui/{file}",
        ["", "api", "scaffolder", "openapi.json"] => "/api/scaffolder/openapi.json",
        ["", "api", "catalog", "entities"] => "/api/catalog/entities",
        ["", "api", "catalog", "entities", "by-query"] => "/api/catalog/entities/by-query",
        ["", "api", "catalog", "entities", "by-refs"] => "/api/catalog/entities/by-refs",
        ["", "api", "catalog", "entities", "by-uid", _] => "/api/catalog/entities/by-uid/{uid}",
        ["", "api", "catalog", "entities", "by-name", _, _, _] => {
            "/api/catalog/entities/by-name/{kind}/{namespace}/{name}"
        }
        ["", "api", "catalog", "locations"] => "/api/catalog/locations",
        ["", "api", "catalog", "locations", "by-entity", _, _, _] => {
            "/api/catalog/locations/by-entity/{kind}/{namespace}/{name}"
        }
        ["", "api", "catalog", "locations", _] => "/api/catalog/locations/{id}",
        ["", "api", "catalog", "refresh"] => "/api/catalog/refresh",
        ["", "api", "techdocs", "static", "docs", ..] => "/api/techdocs/static/docs/{namespace}/{kind}/{name}/{path}",
        ["", "api", "techdocs", "metadata", "techdocs", _, _, _] => {
            "/api/techdocs/metadata/techdocs/{namespace}/{kind}/{name}"
        }
        ["", "api", "techdocs", "metadata", "entity", _, _, _] => {
            "/api/techdocs/metadata/entity/{namespace}/{kind}/{name}"
        }
        ["", "healthcheck"] => "/healthcheck",
        ["", "metrics"] => "/metrics",
        ["", ".backstage", "health", "v1", _] => "/.backstage/health/v1",
        _ => "other",
    }
}

#[cfg(test)]
mod tests;
