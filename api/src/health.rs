//! `/healthcheck` and `/metrics`, served by every process (the API and workers alike).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

/// 200 only while the database answers and, in a process that runs a worker, its claim loop is
/// turning. (Backstage once reported healthy for days with a dead claim loop.)
#[utoipa::path(get, path = "/healthcheck", tag = "health",
    responses((status = 200, description = "Healthy"), (status = 503, description = "Database unreachable or claim loop stuck")))]
pub async fn healthcheck(State(state): State<AppState>) -> Response {
    let database = tokio::time::timeout(Duration::from_secs(3), state.store.ping()).await;
    let problem = match database {
        Err(_) => Some("the database did not answer within 3 s".to_owned()),
        Ok(Err(error)) => Some(format!("the database is unreachable: {error}")),
        Ok(Ok(())) => match &state.worker_health {
            Some(health) if !health.is_alive() => Some("the worker's claim loop has stopped".to_owned()),
            _ => None,
        },
    };
    match problem {
        None => Json(json!({"status": "ok"})).into_response(),
        Some(message) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "error", "message": message}))).into_response()
        }
    }
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus metrics", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    if let Ok(counts) = state.store.task_count_by_status().await {
        for status in store::TaskStatus::ALL {
            let count = counts.iter().find(|(s, _)| *s == status).map_or(0, |(_, c)| *c);
            metrics::gauge!("scaffolder_queue_depth", "status" => status.as_str()).set(count as f64);
        }
    }
    if let Ok(age) = state.store.task_oldest_heartbeat_age().await {
        metrics::gauge!("scaffolder_oldest_heartbeat_age_seconds").set(age.unwrap_or(0.0).max(0.0));
    }
    match &state.metrics {
        Some(handle) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled").into_response(),
    }
}
