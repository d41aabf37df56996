//! Two routes Backstage does not have, for the built-in page (and any client that wants them):
//! checking a form's values page by page with the same validation `POST /v2/tasks` runs, and
//! reading a template written in YAML (browsers have no YAML parser; the dry-run wants JSON).

use axum::Json;
use axum::extract::{Extension, Path, State};
use serde::Serialize;
use serde_json::Value;
use templates::{EntityRef, Template, validate_values};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::body::{JsonBody, body_object, object_field, string_field};
use crate::catalog::find_template;
use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::ErrorEnvelope;

/// `{values, page?}`: the values entered so far, and the last page to check (0-based; all pages
/// when absent).
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ValidateRequest {
    #[schema(value_type = Object)]
    pub values: Value,
    #[schema(minimum = 0)]
    pub page: Option<u64>,
}

/// `valid`, and when not: the first failing page and its errors, exactly as `POST /v2/tasks`
/// would answer them in `400 {errors}`.
#[derive(Serialize, ToSchema)]
pub struct ValidateAnswer {
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<usize>,
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<templates::ParameterError>,
}

/// Checks `values` against the template's parameter pages up to `page`, with the function
/// `POST /v2/tasks` uses, so the messages are the ones a submission would get.
#[utoipa::path(post, path = "/v2/templates/{namespace}/{kind}/{name}/validate", tag = "templates",
    params(("namespace" = String, Path), ("kind" = String, Path), ("name" = String, Path)),
    request_body = ValidateRequest,
    responses((status = 200, body = ValidateAnswer), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 413, body = ErrorEnvelope),
        (status = 503, description = "The database is unavailable", body = ErrorEnvelope)))]
pub async fn validate(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((namespace, kind, name)): Path<(String, String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Json<ValidateAnswer>, ApiError> {
    state.permissions.require(&principal, "scaffolder.template.parameter.read", None).await?;
    let body = body_object(&body)?;
    let values = Value::Object(object_field(body, "values")?.clone());
    let page = match body.get("page") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_u64()
                .and_then(|page| usize::try_from(page).ok())
                .ok_or_else(|| ApiError::input("request/body/page must be a non-negative integer"))?,
        ),
    };
    let found = find_template(&state.store, &EntityRef { kind, namespace, name }).await?;
    let pages = found.template.parameter_pages();
    let last = match page {
        None => pages.len(),
        Some(page) if page < pages.len() => page + 1,
        Some(page) => {
            return Err(ApiError::input(format!(
                "request/body/page {page} does not exist: the template has {} parameter pages",
                pages.len()
            )));
        }
    };
    // Pages one at a time, in order, as `validate_values` walks them: the first failing one wins.
    for end in 1..=last {
        if let Err(errors) = validate_values(&pages[..end], &values) {
            return Ok(Json(ValidateAnswer { valid: false, page: Some(end - 1), errors }));
        }
    }
    Ok(Json(ValidateAnswer { valid: true, page: None, errors: Vec::new() }))
}

/// `{yaml}`: one YAML (or JSON) document.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct ParseTemplateRequest {
    pub yaml: String,
}

/// The document as JSON, ready for `POST /v2/dry-run`'s `template`.
#[derive(Serialize, ToSchema)]
pub struct ParseTemplateAnswer {
    #[schema(value_type = Object)]
    pub template: Value,
}

/// Reads a `scaffolder.backstage.io/v1beta3` template from YAML; what is wrong with it (syntax,
/// kind, apiVersion, steps) is a 400 naming the problem.
#[utoipa::path(post, path = "/v2/parse-template", tag = "templates", request_body = ParseTemplateRequest,
    responses((status = 200, body = ParseTemplateAnswer), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 413, body = ErrorEnvelope)))]
pub async fn parse_template(
    Extension(_principal): Extension<Principal>,
    JsonBody(body): JsonBody,
) -> Result<Json<ParseTemplateAnswer>, ApiError> {
    let text = string_field(body_object(&body)?, "yaml")?.to_owned();
    // A large document takes a while to parse: off the async executor.
    let parsed = tokio::task::spawn_blocking(move || Template::from_yaml(&text))
        .await
        .map_err(|e| ApiError::internal(format!("Parsing stopped unexpectedly: {e}")))?;
    let template = parsed.map_err(|error| ApiError::input(error.to_string()))?;
    Ok(Json(ParseTemplateAnswer { template: template.raw().clone() }))
}
