//! `POST /v2/dry-run`: a template run against uploaded files, answered with the resulting files,
//! the log and the output. Nothing is stored; the server's own secrets are never available.

use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use serde_json::{Map, Value, json};
use templates::{Template, TemplateError, UserInfo, validate_values};

use crate::auth::Principal;
use crate::body::{JsonBody, body_object, object_field, required, secrets_field};
use crate::error::{ApiError, ValidationErrors};
use crate::state::AppState;
use crate::tasks::validate_secrets;
use crate::wire::{BadRequest, DryRunRequest, DryRunResponse, ErrorEnvelope};

/// Runs a template without a task: uploaded files in, resulting files, log and output back.
#[utoipa::path(post, path = "/v2/dry-run", tag = "templates", request_body = DryRunRequest,
    responses(
        (status = 200, body = DryRunResponse),
        (status = 400, description = "Malformed request, not a template, values failing the parameter schema, or a step's input error", body = BadRequest),
        (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, description = "A step failed with NotFoundError", body = ErrorEnvelope),
        (status = 409, description = "A step failed with ConflictError", body = ErrorEnvelope), (status = 413, body = ErrorEnvelope),
        (status = 500, description = "A step failed (the status follows the error's name, as Backstage's error middleware maps it)", body = ErrorEnvelope),
        (status = 501, description = "A step failed with NotImplementedError", body = ErrorEnvelope),
        (status = 503, description = "A step failed with ServiceUnavailableError, or the database is unavailable", body = ErrorEnvelope)))]
pub async fn dry_run(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    state.permissions.require(&principal, "scaffolder.template.dry-run", None).await?;
    let body = body_object(&body)?;
    let raw_template = required(body, "template")?;
    if !raw_template.is_object() {
        return Err(ApiError::input("request/body/template must be object"));
    }
    let values = object_field(body, "values")?;
    let files = uploads(body)?;
    let mut secrets = secrets_field(body)?;

    let template = Template::from_value(raw_template.clone()).map_err(|error| match error {
        TemplateError::NotATemplate => ApiError::input("Input template is not a template"),
        other => ApiError::input(format!("Input template is not a template: {other}")),
    })?;
    let values = Value::Object(values.clone());
    if let Err(errors) = validate_values(&template.parameter_pages(), &values) {
        return Ok(ValidationErrors(errors).into_response());
    }
    if let Some(errors) = validate_secrets(&template, secrets.as_ref())? {
        return Ok(errors.into_response());
    }

    let user_ref = principal.user_ref().map(str::to_owned);
    if let Principal::User { token, .. } = &principal {
        secrets.get_or_insert_with(Map::new).insert("backstageToken".to_owned(), Value::String(token.clone()));
    }
    let secrets = secrets
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(key, value)| value.as_str().map(|v| (key, v.to_owned())))
        .collect();
    tracing::info!(template = %template.name(), created_by = ?user_ref, "dry-run of {}", template.name());
    let request = actions::DryRunRequest {
        template,
        values,
        secrets,
        source: actions::DryRunSource::Files(files),
        user: UserInfo { entity: None, entity_ref: user_ref },
        observer: None,
        template_ref: "template:default/dry-run".to_owned(),
    };

    // The run continues when the client goes away, so its directories are always cleaned up.
    let permit = state.dry_runs.clone().acquire_owned().await.map_err(|_| ApiError::internal("shutting down"))?;
    let runner = state.runner.clone();
    let directory = state.working_directory.clone();
    let result = tokio::spawn(async move {
        let (result, leftovers) = actions::dry_run_keeping_directories(&runner, &directory, request).await;
        // Answer first; the directories go afterwards, still within this dry-run's permit.
        tokio::task::spawn_blocking(move || {
            drop(leftovers);
            drop(permit);
        });
        result
    })
    .await
    .map_err(|e| ApiError::internal(format!("The dry-run stopped unexpectedly: {e}")))?;
    let result = result.map_err(|error| ApiError::named(&error.name, error.message))?;
    metrics::counter!("scaffolder_dry_runs_total").increment(1);
    let directory_contents: Vec<Value> = result
        .files
        .iter()
        .map(|file| json!({"path": file.path, "executable": file.executable, "base64Content": STANDARD.encode(&file.content)}))
        .collect();
    Ok(axum::Json(json!({
        "log": result.log,
        "directoryContents": directory_contents,
        "output": result.output,
        "steps": result.steps,
    }))
    .into_response())
}

/// Padding optional, as Node's `Buffer.from(text, 'base64')` accepts.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// `directoryContents`: `[{path, base64Content}]`, decoded.
fn uploads(body: &Map<String, Value>) -> Result<Vec<actions::DryRunFile>, ApiError> {
    let Some(items) = required(body, "directoryContents")?.as_array() else {
        return Err(ApiError::input("request/body/directoryContents must be array"));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let field = |name: &str| {
                item.get(name)
                    .and_then(Value::as_str)
                    .ok_or_else(|| ApiError::input(format!("request/body/directoryContents/{i}/{name} must be string")))
            };
            if !item.is_object() {
                return Err(ApiError::input(format!("request/body/directoryContents/{i} must be object")));
            }
            let path = field("path")?;
            // Node's decoder skips whitespace (line-wrapped base64); so do we.
            let encoded: String = field("base64Content")?.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            let content = LENIENT.decode(encoded).map_err(|e| {
                ApiError::input(format!("request/body/directoryContents/{i}/base64Content ({path}) is not base64: {e}"))
            })?;
            Ok(actions::DryRunFile { path: path.to_owned(), content, executable: false })
        })
        .collect()
}
