//! The JSON shapes on the wire, as Backstage's OpenAPI document names them. Serialising and
//! documenting from the same types keeps `openapi.json` from drifting from what is sent.

use serde::Serialize;
use serde_json::value::RawValue;
use store::{EventRow, TaskRow};
use utoipa::ToSchema;

/// Backstage's `SerializedTask`: never secrets or internal state.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SerializedTask {
    pub id: String,
    /// The TaskSpec the task runs, as stored.
    #[schema(value_type = Object)]
    pub spec: Box<RawValue>,
    #[schema(value_type = TaskStatus)]
    pub status: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// `open | processing | completed | failed | cancelled | skipped` (documentation only: the
/// status travels as the store's string).
#[allow(dead_code)]
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Cancelled,
    Completed,
    Failed,
    Open,
    Processing,
    Skipped,
}

impl SerializedTask {
    pub fn from_row(row: TaskRow) -> Self {
        let spec = RawValue::from_string(row.spec)
            .unwrap_or_else(|_| RawValue::from_string("{}".to_owned()).expect("valid JSON"));
        SerializedTask {
            id: row.id.to_string(),
            spec,
            status: row.status.as_str().to_owned(),
            created_at: row.created_at,
            last_heartbeat_at: row.last_heartbeat_at,
            created_by: row.created_by,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskList {
    pub tasks: Vec<SerializedTask>,
    pub total_tasks: i64,
}

/// Backstage's `SerializedTaskEvent`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SerializedTaskEvent {
    pub id: i64,
    pub is_task_recoverable: bool,
    pub task_id: String,
    /// `{message, stepId?, status?, output?, error?, ...}`.
    #[schema(value_type = Object)]
    pub body: Box<RawValue>,
    /// `log | completion | cancelled | recovered`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub created_at: String,
}

impl SerializedTaskEvent {
    pub fn from_row(row: EventRow, is_task_recoverable: bool) -> Self {
        let body = RawValue::from_string(row.body)
            .unwrap_or_else(|_| RawValue::from_string("{}".to_owned()).expect("valid JSON"));
        SerializedTaskEvent {
            id: row.id,
            is_task_recoverable,
            task_id: row.task_id.to_string(),
            body,
            event_type: row.event_type,
            created_at: row.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskCreated {
    pub id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CancelAnswer {
    /// Always `cancelled`, as in Backstage.
    pub status: String,
}

/// Body of `POST /v2/tasks`.
#[allow(dead_code)]
#[derive(Debug, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateTaskRequest {
    /// `[template:][namespace/]name`.
    pub template_ref: String,
    /// The form values, validated against the template's parameter schemas.
    #[schema(value_type = Object)]
    pub values: serde_json::Value,
    pub secrets: Option<std::collections::BTreeMap<String, String>>,
}

/// Body of `POST /v2/tasks/{taskId}/retry` (optional).
#[allow(dead_code)]
#[derive(Debug, ToSchema)]
pub struct RetryRequest {
    pub secrets: Option<std::collections::BTreeMap<String, String>>,
}

/// Backstage's error envelope.
#[allow(dead_code)]
#[derive(Debug, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorEnvelope {
    pub error: ErrorDetail,
    pub request: RequestDetail,
    pub response: ResponseDetail,
}

#[allow(dead_code)]
#[derive(Debug, ToSchema)]
pub struct ErrorDetail {
    pub name: String,
    pub message: String,
}

#[allow(dead_code)]
#[derive(Debug, ToSchema)]
pub struct RequestDetail {
    pub method: String,
    pub url: String,
}

#[allow(dead_code)]
#[derive(Debug, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResponseDetail {
    pub status_code: u16,
}

/// `400 {errors}`: JSON Schema errors in the npm `jsonschema` package's shape.
#[allow(dead_code)]
#[derive(Debug, ToSchema)]
pub struct ValidationErrorList {
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<serde_json::Value>,
}

/// A `400` of a route that validates values: `{errors}` when they fail the template's parameter
/// or secrets schema, Backstage's error envelope for everything else (a malformed body, a bad
/// template reference, ...).
#[allow(dead_code)]
#[derive(Debug, ToSchema)]
#[serde(untagged)]
pub enum BadRequest {
    Validation(ValidationErrorList),
    Envelope(ErrorEnvelope),
}

/// `components.securitySchemes.JWT`, required by every operation (Backstage's default auth
/// policy; `backend.auth.dangerouslyDisableDefaultAuthPolicy` lifts it).
pub struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(
            "A user token (a Backstage installation's or a configured OIDC provider's) or a static token of `backend.auth.externalAccess`",
        ));
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("JWT", SecurityScheme::Http(scheme.build()));
    }
}

/// An action as `GET /v2/actions` lists it.
#[allow(dead_code)]
#[derive(Debug, ToSchema)]
pub struct ActionInfo {
    pub id: String,
    pub description: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub examples: Vec<serde_json::Value>,
    #[schema(value_type = Object)]
    pub schema: serde_json::Value,
}

/// `GET /v2/templates/{namespace}/{kind}/{name}/parameter-schema`.
#[allow(dead_code)]
#[derive(Debug, ToSchema)]
pub struct TemplateParameterSchema {
    pub title: String,
    pub description: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<serde_json::Value>,
}

/// One uploaded file of a dry-run.
#[allow(dead_code)]
#[derive(Debug, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRunUpload {
    /// Relative to the template's directory (`template.yaml` sits at the top).
    pub path: String,
    pub base64_content: String,
}

/// Body of `POST /v2/dry-run`.
#[allow(dead_code)]
#[derive(Debug, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRunRequest {
    /// The Template entity itself (`apiVersion`, `kind`, `metadata`, `spec`).
    #[schema(value_type = Object)]
    pub template: serde_json::Value,
    #[schema(value_type = Object)]
    pub values: serde_json::Value,
    pub secrets: Option<std::collections::BTreeMap<String, String>>,
    pub directory_contents: Vec<DryRunUpload>,
}

/// One file of the workspace after a dry-run.
#[allow(dead_code)]
#[derive(Debug, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRunFileOut {
    pub path: String,
    pub executable: bool,
    pub base64_content: String,
}

/// `200` of `POST /v2/dry-run`.
#[allow(dead_code)]
#[derive(Debug, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRunResponse {
    /// `[{body: {message, stepId?, status?}}]`, as the task's events would have been.
    #[schema(value_type = Vec<Object>)]
    pub log: Vec<serde_json::Value>,
    pub directory_contents: Vec<DryRunFileOut>,
    #[schema(value_type = Object)]
    pub output: serde_json::Value,
    /// The steps as run (ids `step-N` and names filled in).
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<serde_json::Value>,
}

/// `GET /v2/templating-extensions`.
#[allow(dead_code)]
#[derive(Debug, ToSchema)]
pub struct TemplatingExtensions {
    /// Filter name → `{description, schema?, examples}`.
    #[schema(value_type = Object)]
    pub filters: serde_json::Value,
    /// `{functions: {name → {description, examples}}, values: {}}`.
    #[schema(value_type = Object)]
    pub globals: serde_json::Value,
}
