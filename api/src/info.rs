//! Read-only descriptions: `GET /v2/actions`, a template's parameter schema, and the templating
//! extensions.

use axum::Json;
use axum::extract::{Extension, Path, State};
use serde_json::{Map, Value, json};
use templates::EntityRef;

use crate::catalog::find_template;
use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::{ActionInfo, ErrorEnvelope, TemplateParameterSchema, TemplatingExtensions};

/// Every installed action with its input and output JSON Schemas, sorted by id.
#[utoipa::path(get, path = "/v2/actions", tag = "actions", responses((status = 200, body = Vec<ActionInfo>), (status = 401, body = ErrorEnvelope)))]
pub async fn list_actions(State(state): State<AppState>) -> Json<Vec<Value>> {
    Json(state.runner.registry().describe())
}

/// The parameter pages of a template, for rendering its form.
#[utoipa::path(get, path = "/v2/templates/{namespace}/{kind}/{name}/parameter-schema", tag = "templates",
    params(("namespace" = String, Path), ("kind" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = TemplateParameterSchema), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, description = "A permission is denied (RBAC)", body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 503, description = "The database is unavailable", body = ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait")))))]
pub async fn parameter_schema(
    State(state): State<AppState>,
    Extension(principal): Extension<crate::auth::Principal>,
    Path((namespace, kind, name)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    state.permissions.require(&principal, "scaffolder.template.parameter.read", None).await?;
    let reference = EntityRef { kind, namespace, name };
    let found = find_template(&state.store, &reference).await?;
    let template = &found.template;
    let metadata = template.metadata();
    let mut answer = Map::new();
    answer.insert("title".to_owned(), metadata.get("title").cloned().unwrap_or_else(|| json!(template.name())));
    if let Some(presentation) = template.spec().get("presentation") {
        answer.insert("presentation".to_owned(), presentation.clone());
    }
    if let Some(description) = metadata.get("description") {
        answer.insert("description".to_owned(), description.clone());
    }
    if let Some(options) = metadata.get("ui:options") {
        answer.insert("ui:options".to_owned(), options.clone());
    }
    let steps: Vec<Value> = template
        .parameter_pages()
        .into_iter()
        .map(|schema| {
            let mut step = Map::new();
            step.insert(
                "title".to_owned(),
                schema.get("title").cloned().unwrap_or_else(|| json!("Please enter the following information")),
            );
            if let Some(description) = schema.get("description") {
                step.insert("description".to_owned(), description.clone());
            }
            step.insert("schema".to_owned(), schema.clone());
            Value::Object(step)
        })
        .collect();
    answer.insert("steps".to_owned(), Value::Array(steps));
    if let Some(decorators) =
        template.spec().get("formDecorators").or_else(|| template.spec().get("EXPERIMENTAL_formDecorators"))
    {
        answer.insert("formDecorators".to_owned(), decorators.clone());
    }
    Ok(Json(Value::Object(answer)))
}

/// Every filter and global function templates can use, with descriptions and examples.
#[utoipa::path(get, path = "/v2/templating-extensions", tag = "templates",
    responses((status = 200, body = TemplatingExtensions), (status = 401, body = ErrorEnvelope)))]
pub async fn templating_extensions() -> Json<Value> {
    Json(templates::templating_extensions())
}
