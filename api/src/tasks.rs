//! `POST /v2/tasks`, `GET /v2/tasks`, `GET /v2/tasks/{taskId}`, cancel and retry.

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use store::{
    CancelOutcome, EventType, InsertOutcome, NewEvent, NewTask, OrderField, RetryOutcome, TaskListQuery, TaskOrder,
    TaskStatus,
};
use templates::{EntityRef, SchemaValidator, TaskSpec, UserInfo, build_task_spec, validate_values};
use uuid::Uuid;

use crate::auth::Principal;
use crate::body::{
    JsonBody, body_object, integer_param, not_found_task, object_field, query_pairs, secrets_field, string_field,
    task_id,
};
use crate::catalog::find_template;
use crate::error::{ApiError, ValidationErrors};
use crate::state::AppState;
use crate::wire::{
    BadRequest, CancelAnswer, CreateTaskRequest, ErrorEnvelope, RetryRequest, SerializedTask, TaskCreated, TaskList,
};

/// Runs a template: validates the values against every parameter page and enqueues the task.
#[utoipa::path(post, path = "/v2/tasks", tag = "tasks", request_body = CreateTaskRequest,
    responses(
        (status = 201, body = TaskCreated),
        (status = 400, description = "Malformed request, invalid template, or values failing the parameter schema", body = BadRequest),
        (status = 401, body = ErrorEnvelope), (status = 403, description = "A permission is denied (RBAC)", body = ErrorEnvelope),
        (status = 404, description = "Unknown template", body = ErrorEnvelope), (status = 413, body = ErrorEnvelope),
        (status = 503, description = "Queue full or database unavailable", body = ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait")))))]
pub async fn create_task(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let body = body_object(&body)?;
    let template_ref = string_field(body, "templateRef")?;
    let values = object_field(body, "values")?;
    let secrets = secrets_field(body)?;

    let reference =
        EntityRef::parse(template_ref, Some("template"), None).map_err(|e| ApiError::input(e.to_string()))?;
    let found = find_template(&state.store, &reference).await?;
    // Running a template means reading its parameters and steps, and executing each action.
    let mut checks: Vec<(&str, Option<&str>)> = vec![
        ("scaffolder.task.create", None),
        ("scaffolder.template.run", Some(&found.entity_ref)),
        ("scaffolder.template.parameter.read", None),
        ("scaffolder.template.step.read", None),
    ];
    let steps = found.template.steps();
    checks.extend(steps.iter().map(|step| ("scaffolder.action.execute", Some(step.action()))));
    state.permissions.require_all(&principal, &checks).await?;
    let user_ref = principal.user_ref().map(str::to_owned);
    tracing::info!(template = %found.entity_ref, created_by = ?user_ref, "Scaffolding task for {}", found.entity_ref);

    let values = Value::Object(values.clone());
    if let Err(errors) = validate_values(&found.template.parameter_pages(), &values) {
        return Ok(ValidationErrors(errors).into_response());
    }
    if let Some(errors) = validate_secrets(&found.template, secrets.as_ref())? {
        return Ok(errors.into_response());
    }

    let user = UserInfo { entity: None, entity_ref: user_ref.clone() };
    let spec = build_task_spec(&found.template, &found.entity_ref, found.base_url.as_deref(), &values, &user);
    state.runner.check(&spec).map_err(|error| ApiError::input(error.message))?;
    // Time-ordered ids: tasks sort by creation even within one millisecond, and new rows land at
    // the end of the primary-key index.
    let id = Uuid::now_v7();
    let task = NewTask {
        id,
        spec: spec.to_json(),
        secrets: stored_secrets(secrets, &principal),
        created_by: user_ref,
        template_ref: found.entity_ref.clone(),
    };
    match state.store.task_insert(&task, state.config.max_queue_depth).await? {
        InsertOutcome::Inserted => {}
        InsertOutcome::QueueFull => {
            return Err(ApiError::unavailable(
                format!("The task queue is full ({} tasks waiting); try again later", state.config.max_queue_depth),
                5,
            ));
        }
    }
    metrics::counter!("scaffolder_tasks_created_total", "template" => found.entity_ref).increment(1);
    Ok((StatusCode::CREATED, Json(TaskCreated { id: id.to_string() })).into_response())
}

/// `spec.secrets.schema`, with Backstage's rewording of the errors (answered as `400 {errors}`).
pub(crate) fn validate_secrets(
    template: &templates::Template,
    secrets: Option<&Map<String, Value>>,
) -> Result<Option<ValidationErrors>, ApiError> {
    let Some(schema) = template.secrets_schema() else { return Ok(None) };
    let validator = SchemaValidator::compile(schema)
        .map_err(|e| ApiError::input(format!("The template's secrets schema is invalid: {e}")))?;
    let instance = Value::Object(secrets.cloned().unwrap_or_default());
    let errors = validator.errors(&instance);
    if errors.is_empty() {
        return Ok(None);
    }
    // Backstage never echoes secret values: `instance` is emptied and the wording names the key.
    let rewritten = errors
        .into_iter()
        .map(|mut error| {
            error.property = error.property.replacen("instance", "secrets", 1);
            error.message = if error.name == "required" {
                format!("secrets.{} is required", error.argument.as_str().unwrap_or_default())
            } else {
                format!("{} {}", error.property, error.message)
            };
            error.instance = json!({});
            error
        })
        .collect();
    Ok(Some(ValidationErrors(rewritten)))
}

/// What a task keeps as secrets while it is not finished: the caller's, plus the caller's own
/// token (Backstage's `backstageToken`) for actions that call back on the user's behalf.
fn stored_secrets(secrets: Option<Map<String, Value>>, principal: &Principal) -> Option<String> {
    let mut secrets = secrets.unwrap_or_default();
    if let Principal::User { token, .. } = principal {
        secrets.insert("backstageToken".to_owned(), Value::String(token.clone()));
    }
    (!secrets.is_empty()).then(|| Value::Object(secrets).to_string())
}

/// Lists tasks: `createdBy`, `status` (both repeatable), `order` (`asc|desc:<field>`), `limit`, `offset`.
#[utoipa::path(get, path = "/v2/tasks", tag = "tasks",
    params(
        ("createdBy" = Option<Vec<String>>, Query, description = "Created by (repeatable)"),
        ("status" = Option<Vec<String>>, Query, description = "Status (repeatable)"),
        ("order" = Option<Vec<String>>, Query, description = "`asc:<field>` or `desc:<field>`; fields: created_at, status, created_by"),
        ("limit" = Option<i64>, Query, minimum = 0), ("offset" = Option<i64>, Query, minimum = 0)),
    responses((status = 200, body = TaskList), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 503, description = "The database is unavailable", body = ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait")))))]
pub async fn list_tasks(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    RawQuery(query): RawQuery,
) -> Result<Json<TaskList>, ApiError> {
    let pairs = query_pairs(query.as_deref());
    let mut filter = TaskListQuery {
        limit: integer_param(&pairs, "limit")?,
        offset: integer_param(&pairs, "offset")?,
        ..TaskListQuery::default()
    };
    for (key, value) in &pairs {
        match key.as_str() {
            "createdBy" => filter.created_by.push(value.clone()),
            "status" => filter.status.push(value.parse::<TaskStatus>().map_err(|_| {
                ApiError::input(format!(
                    "Invalid status \"{value}\", expected one of open, processing, completed, failed, cancelled, skipped"
                ))
            })?),
            "order" => filter.order.push(parse_order(value)?),
            _ => {}
        }
    }
    // No task was created by a name holding NUL (PostgreSQL text cannot even hold one, and would
    // answer the query with an error): such names match nothing, as on SQLite.
    if filter.created_by.iter().any(|c| c.contains('\0')) {
        filter.created_by.retain(|c| !c.contains('\0'));
        if filter.created_by.is_empty() {
            return Ok(Json(TaskList { tasks: Vec::new(), total_tasks: 0 }));
        }
    }
    // Without `scaffolder.task.read` a user's list holds their own tasks only: the others are
    // as if they did not exist.
    if !state.permissions.allowed(&principal, "scaffolder.task.read", None).await? {
        let me = principal.user_ref().unwrap_or_default().to_lowercase();
        if filter.created_by.is_empty() {
            filter.created_by.push(me.clone());
        }
        filter.created_by.retain(|c| c.eq_ignore_ascii_case(&me));
        if me.is_empty() || filter.created_by.is_empty() {
            return Ok(Json(TaskList { tasks: Vec::new(), total_tasks: 0 }));
        }
    }
    let (rows, total) = state.store.task_list(&filter).await?;
    Ok(Json(TaskList { tasks: rows.into_iter().map(SerializedTask::from_row).collect(), total_tasks: total }))
}

fn parse_order(item: &str) -> Result<TaskOrder, ApiError> {
    let invalid =
        || ApiError::input(format!("Invalid order parameter \"{item}\", expected \"<asc or desc>:<field name>\""));
    let (direction, field) = item.split_once(':').ok_or_else(invalid)?;
    let descending = match direction {
        "asc" => false,
        "desc" => true,
        _ => return Err(invalid()),
    };
    if field.is_empty() {
        return Err(invalid());
    }
    let field = OrderField::parse(field).ok_or_else(|| {
        ApiError::input(format!("Invalid order field \"{field}\", expected one of created_at, status, created_by"))
    })?;
    Ok(TaskOrder { field, descending })
}

#[utoipa::path(get, path = "/v2/tasks/{taskId}", tag = "tasks", params(("taskId" = String, Path)),
    responses((status = 200, body = SerializedTask), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 403, description = "A permission is denied (RBAC)", body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 503, description = "The database is unavailable", body = ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait")))))]
pub async fn get_task(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(raw): Path<String>,
) -> Result<Json<SerializedTask>, ApiError> {
    let id = task_id(&raw)?;
    let row = state.store.task_get(id).await?.ok_or_else(|| not_found_task(&raw))?;
    state.permissions.require_task(&principal, row.created_by.as_deref(), "scaffolder.task.read").await?;
    Ok(Json(SerializedTask::from_row(row)))
}

/// Cancels a task. A running task stops at its next boundary and ends `cancelled`; one that has
/// not started ends at once; a finished one is left as it is. The answer is always Backstage's.
#[utoipa::path(post, path = "/v2/tasks/{taskId}/cancel", tag = "tasks", params(("taskId" = String, Path)),
    responses((status = 200, body = CancelAnswer), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 403, description = "A permission is denied (RBAC)", body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 503, description = "The database is unavailable", body = ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait")))))]
pub async fn cancel_task(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(raw): Path<String>,
) -> Result<Json<CancelAnswer>, ApiError> {
    let id = task_id(&raw)?;
    let row = state.store.task_get(id).await?.ok_or_else(|| not_found_task(&raw))?;
    state.permissions.require_task(&principal, row.created_by.as_deref(), "scaffolder.task.cancel").await?;
    // For a task that never started, the first step carries the cancellation, so that clients
    // which follow steps show where it stopped.
    let first_step =
        TaskSpec::from_json(&row.spec).ok().and_then(|spec| spec.steps().first().map(|s| s.id().to_owned()));
    let mut events = Vec::new();
    if let Some(step) = &first_step {
        events.push(NewEvent::new(
            EventType::Cancelled,
            &json!({"message": format!("Step {step} has been cancelled."), "stepId": step, "status": "cancelled"}),
        ));
    }
    events.push(NewEvent::new(
        EventType::Completion,
        &json!({"message": "Run completed with status: cancelled", "error": {"name": "Error", "message": format!("Task {id} was cancelled before it started.")}}),
    ));
    match state.store.task_cancel(id, &events).await? {
        CancelOutcome::NotFound => return Err(not_found_task(&raw)),
        outcome => tracing::info!(task_id = %id, ?outcome, "cancel requested"),
    }
    Ok(Json(CancelAnswer { status: "cancelled".to_owned() }))
}

/// Runs a finished task again; steps that already completed are skipped.
#[utoipa::path(post, path = "/v2/tasks/{taskId}/retry", tag = "tasks", params(("taskId" = String, Path)), request_body(content = RetryRequest),
    responses((status = 201, body = TaskCreated),
        (status = 400, description = "Malformed request, or secrets failing the template's secrets schema", body = BadRequest),
        (status = 401, body = ErrorEnvelope), (status = 403, description = "A permission is denied (RBAC)", body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, description = "The task has not finished", body = ErrorEnvelope), (status = 413, body = ErrorEnvelope),
        (status = 503, description = "The database is unavailable", body = ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait")))))]
pub async fn retry_task(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let id = task_id(&raw)?;
    let secrets = secrets_field(body_object(&body)?)?;
    let row = state.store.task_get(id).await?.ok_or_else(|| not_found_task(&raw))?;
    state.permissions.require(&principal, "scaffolder.task.create", None).await?;
    state.permissions.require_task(&principal, row.created_by.as_deref(), "scaffolder.task.read").await?;
    let spec = TaskSpec::from_json(&row.spec).map_err(ApiError::internal)?;
    // The template may have changed or gone; when it is still there, its secrets schema applies.
    if let Some(reference) = spec.template_info().and_then(|info| info["entityRef"].as_str())
        && let Ok(reference) = EntityRef::parse(reference, Some("template"), None)
        && let Ok(found) = find_template(&state.store, &reference).await
        && let Some(errors) = validate_secrets(&found.template, secrets.as_ref())?
    {
        return Ok(errors.into_response());
    }
    let recovered = NewEvent::new(
        EventType::Recovered,
        &json!({"message": "The task was retried", "recoverStrategy": spec.recover_strategy()}),
    );
    match state.store.task_retry(id, stored_secrets(secrets, &principal).as_deref(), &recovered).await? {
        RetryOutcome::NotFound => Err(not_found_task(&raw)),
        RetryOutcome::NotTerminal(_) => Err(ApiError::conflict(format!("Task with taskId {id} cannot be retried"))),
        RetryOutcome::Reopened => Ok((StatusCode::CREATED, Json(TaskCreated { id: id.to_string() })).into_response()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_parsing_follows_the_allow_list() {
        assert_eq!(
            parse_order("desc:created_at").unwrap(),
            TaskOrder { field: OrderField::CreatedAt, descending: true }
        );
        assert_eq!(parse_order("asc:status").unwrap(), TaskOrder { field: OrderField::Status, descending: false });
        for bad in ["created_at", "up:status", "asc:", "asc:spec", "desc:id; DROP TABLE tasks", ":"] {
            assert!(parse_order(bad).is_err(), "{bad}");
        }
    }
}
