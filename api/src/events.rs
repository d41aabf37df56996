//! A task's events: `GET /v2/tasks/{taskId}/events` (long-poll) and `.../eventstream` (SSE).
//!
//! Both read "events after N, plus the completion", wait on an in-process notification (fed by
//! `LISTEN` for writes made elsewhere) with a database re-read as a fallback, and so never miss
//! an event: ids of one task only grow in commit order.

use std::convert::Infallible;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use store::EventRow;
use templates::TaskSpec;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::auth::Principal;
use crate::body::{not_found_task, query_pairs, task_id};
use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::{ErrorEnvelope, SerializedTaskEvent};

/// The `after` query parameter: an integer, or absent.
fn after_param(query: Option<&str>) -> Result<Option<i64>, ApiError> {
    match query_pairs(query).into_iter().rev().find(|(k, _)| k == "after") {
        None => Ok(None),
        Some((_, value)) if value.is_empty() => Ok(None),
        Some((_, value)) => {
            value.trim().parse::<i64>().map(Some).map_err(|_| ApiError::input("request/query/after must be integer"))
        }
    }
}

/// Reads the task once: it must exist, and its spec says whether clients should expect a resume.
async fn recoverable(state: &AppState, principal: &Principal, raw: &str) -> Result<(Uuid, bool), ApiError> {
    let id = task_id(raw)?;
    let row = state.store.task_get(id).await?.ok_or_else(|| not_found_task(raw))?;
    state.permissions.require_task(principal, row.created_by.as_deref(), "scaffolder.task.read").await?;
    let recoverable = TaskSpec::from_json(&row.spec).map(|spec| spec.is_recoverable()).unwrap_or(false);
    Ok((id, recoverable))
}

/// Backstage's `trimEventsTillLastRecovery`: after a `startOver` recovery, only what follows it.
fn trim_till_last_recovery(mut events: Vec<EventRow>) -> Vec<EventRow> {
    let last_start_over = events.iter().rposition(|event| {
        event.event_type == "recovered"
            && serde_json::from_str::<Value>(&event.body).is_ok_and(|body| body["recoverStrategy"] == "startOver")
    });
    if let Some(position) = last_start_over {
        events.drain(..=position);
    }
    events
}

/// The next batch after `after`, waiting until `deadline`; empty if nothing came.
async fn next_batch(
    state: &AppState,
    id: Uuid,
    after: Option<i64>,
    deadline: tokio::time::Instant,
) -> Result<Vec<EventRow>, ApiError> {
    let waiter = state.store.signals().event_waiter(id);
    loop {
        let notified = waiter.notified();
        tokio::pin!(notified);
        // Registered before reading, so a write that lands in between still wakes us.
        notified.as_mut().enable();
        let events = trim_till_last_recovery(state.store.event_list(id, after).await?);
        if !events.is_empty() {
            return Ok(events);
        }
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(state.config.event_poll_interval) => {}
            _ = tokio::time::sleep_until(deadline) => return Ok(Vec::new()),
        }
    }
}

/// Long-poll: the first non-empty batch, or `[]` after 30 s.
#[utoipa::path(get, path = "/v2/tasks/{taskId}/events", tag = "tasks",
    params(("taskId" = String, Path), ("after" = Option<i64>, Query, description = "Return events with a greater id (the completion event is always included)")),
    responses((status = 200, body = Vec<SerializedTaskEvent>), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, description = "A permission is denied (RBAC)", body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 503, description = "The database is unavailable", body = ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait")))))]
pub async fn events(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(raw): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<SerializedTaskEvent>>, ApiError> {
    let after = after_param(query.as_deref())?;
    let (id, recoverable) = recoverable(&state, &principal, &raw).await?;
    let deadline = tokio::time::Instant::now() + state.config.long_poll_timeout;
    let events = next_batch(&state, id, after, deadline).await?;
    Ok(Json(events.into_iter().map(|row| SerializedTaskEvent::from_row(row, recoverable)).collect()))
}

/// Server-sent events: `event: <type>\ndata: <event JSON>\n\n` for every event, ending after the
/// completion (unless the task is recoverable).
#[utoipa::path(get, path = "/v2/tasks/{taskId}/eventstream", tag = "tasks",
    params(("taskId" = String, Path), ("after" = Option<i64>, Query)),
    responses((status = 200, description = "text/event-stream of SerializedTaskEvent", content_type = "text/event-stream"),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 403, description = "A permission is denied (RBAC)", body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 503, description = "The database is unavailable", body = ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait")))))]
pub async fn event_stream(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(raw): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let mut after = after_param(query.as_deref())?;
    let (id, recoverable) = recoverable(&state, &principal, &raw).await?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(16);
    tokio::spawn(async move {
        loop {
            let deadline = tokio::time::Instant::now() + state.config.sse_keepalive;
            let batch = match next_batch(&state, id, after, deadline).await {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(task_id = %id, status = %error.status(), "event stream ended by an error");
                    return;
                }
            };
            if batch.is_empty() {
                // Nothing for a while: a comment keeps proxies from closing the stream, and a
                // closed client shows up here as a failed send.
                if tx.send(Ok(Bytes::from_static(b": keep-alive\n\n"))).await.is_err() {
                    return;
                }
                continue;
            }
            let mut chunk = String::new();
            let mut finished = false;
            for row in batch {
                after = Some(after.map_or(row.id, |a| a.max(row.id)));
                finished |= row.event_type == "completion" && !recoverable;
                let event = SerializedTaskEvent::from_row(row, recoverable);
                chunk.push_str("event: ");
                chunk.push_str(&event.event_type);
                chunk.push_str("\ndata: ");
                chunk.push_str(&serde_json::to_string(&event).unwrap_or_default());
                chunk.push_str("\n\n");
            }
            if tx.send(Ok(Bytes::from(chunk))).await.is_err() || finished {
                return;
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Tell buffering proxies (nginx) to pass events through as they come.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, event_type: &str, body: &str) -> EventRow {
        EventRow {
            id,
            task_id: Uuid::nil(),
            event_type: event_type.to_owned(),
            body: body.to_owned(),
            created_at: String::new(),
        }
    }

    #[test]
    fn start_over_recovery_hides_what_came_before() {
        let events =
            vec![row(1, "log", "{}"), row(2, "recovered", r#"{"recoverStrategy":"startOver"}"#), row(3, "log", "{}")];
        assert_eq!(trim_till_last_recovery(events).iter().map(|e| e.id).collect::<Vec<_>>(), vec![3]);
        let plain = vec![row(1, "log", "{}"), row(2, "recovered", r#"{"recoverStrategy":"none"}"#)];
        assert_eq!(trim_till_last_recovery(plain).len(), 2);
    }

    #[test]
    fn after_must_be_an_integer() {
        assert_eq!(after_param(Some("after=12")).unwrap(), Some(12));
        assert_eq!(after_param(None).unwrap(), None);
        assert!(after_param(Some("after=abc")).is_err());
    }
}
