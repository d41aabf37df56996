//! The one place that knows Backstage's error envelope and status codes.
//!
//! Handlers return [`ApiError`]; the [`envelope`] middleware, which knows the request, turns it
//! into `{error: {name, message}, request: {method, url}, response: {statusCode}}`. Parameter
//! validation failures are the exception Backstage makes: a bare `400 {errors: [...]}`.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use templates::ParameterError;

/// Mount point of the scaffolder routes; error envelopes show URLs relative to it, as Backstage.
pub(crate) const SCAFFOLDER_PREFIX: &str = "/api/scaffolder";
pub(crate) const CATALOG_PREFIX: &str = "/api/catalog";
pub(crate) const TECHDOCS_PREFIX: &str = "/api/techdocs";

#[derive(Clone, Debug)]
pub struct ApiError {
    status: StatusCode,
    name: &'static str,
    message: String,
    retry_after: Option<u64>,
}

/// Carried from a failing handler to the envelope middleware.
#[derive(Clone, Debug)]
struct ErrorInfo {
    name: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, name: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, name, message: message.into(), retry_after: None }
    }

    pub fn input(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InputError", message)
    }

    pub fn authentication(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "AuthenticationError", message)
    }

    pub fn not_allowed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "NotAllowedError", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFoundError", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "ConflictError", message)
    }

    pub fn too_large() -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLargeError", "request entity too large")
    }

    pub fn unavailable(message: impl Into<String>, retry_after_secs: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after_secs),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailableError", message)
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Error", message)
    }

    /// An error named after the JavaScript error a step threw; the status follows the name, as
    /// Backstage's error middleware maps it.
    pub fn named(name: &str, message: impl Into<String>) -> Self {
        let (status, name): (StatusCode, &'static str) = match name {
            "InputError" => (StatusCode::BAD_REQUEST, "InputError"),
            "AuthenticationError" => (StatusCode::UNAUTHORIZED, "AuthenticationError"),
            "NotAllowedError" => (StatusCode::FORBIDDEN, "NotAllowedError"),
            "NotFoundError" => (StatusCode::NOT_FOUND, "NotFoundError"),
            "ConflictError" => (StatusCode::CONFLICT, "ConflictError"),
            "NotImplementedError" => (StatusCode::NOT_IMPLEMENTED, "NotImplementedError"),
            "ServiceUnavailableError" => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailableError"),
            "TemplateRenderError" => (StatusCode::INTERNAL_SERVER_ERROR, "TemplateRenderError"),
            "TypeError" => (StatusCode::INTERNAL_SERVER_ERROR, "TypeError"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "Error"),
        };
        Self::new(status, name, message)
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<store::StoreError> for ApiError {
    fn from(error: store::StoreError) -> Self {
        // The request's own text, not the database, is at fault: a NUL character PostgreSQL
        // refuses (SQLite would just match nothing). Routes that look names up say 404 first.
        if error.is_unstorable_text() {
            return ApiError::input("The request holds a NUL character, which no name or value here can contain");
        }
        tracing::error!(%error, "database error while serving a request");
        if error.is_transient() {
            ApiError::unavailable("The database is unavailable; try again shortly", 2)
        } else {
            ApiError::internal("Internal error while reading or writing the database")
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(ErrorInfo { name: self.name, message: self.message });
        response
    }
}

/// Backstage's parameter-validation answer: `400 {errors: [...]}`.
pub struct ValidationErrors(pub Vec<ParameterError>);

impl IntoResponse for ValidationErrors {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, axum::Json(json!({"errors": self.0}))).into_response()
    }
}

/// Wraps every error response in Backstage's envelope, naming the request it answers.
pub async fn envelope(request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let uri = request.uri();
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    // Relative to the plugin's mount, as Backstage reports it.
    let url = [SCAFFOLDER_PREFIX, CATALOG_PREFIX, TECHDOCS_PREFIX]
        .iter()
        .find_map(|prefix| path_and_query.strip_prefix(prefix).filter(|rest| rest.starts_with('/')))
        .unwrap_or(path_and_query)
        .to_owned();
    let mut response = next.run(request).await;
    let info = match response.extensions_mut().remove::<ErrorInfo>() {
        Some(info) => info,
        // Produced below the handlers (body limits, unknown methods): give them the envelope too.
        None if response.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ErrorInfo { name: "PayloadTooLargeError", message: "request entity too large".to_owned() }
        }
        None if response.status() == StatusCode::METHOD_NOT_ALLOWED => {
            ErrorInfo { name: "NotAllowedError", message: format!("Method {method} is not allowed for {url}") }
        }
        // An extractor's own plain-text refusal (a path segment that is not UTF-8 once decoded):
        // Backstage answers those with the envelope too.
        None if response.status() == StatusCode::BAD_REQUEST && is_plain_text(&response) => {
            let (_, body) = response.into_parts();
            let text = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
            let message = String::from_utf8_lossy(&text).into_owned();
            let body = json!({
                "error": {"name": "InputError", "message": message},
                "request": {"method": method, "url": url},
                "response": {"statusCode": 400},
            });
            return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
        }
        None => return response,
    };
    let status = response.status();
    let body = json!({
        "error": {"name": info.name, "message": info.message},
        "request": {"method": method, "url": url},
        "response": {"statusCode": status.as_u16()},
    });
    let mut enveloped = (status, axum::Json(body)).into_response();
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            enveloped.headers_mut().insert(name.clone(), value.clone());
        }
    }
    enveloped
}

fn is_plain_text(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/plain"))
}

/// The answer for a route that does not exist.
pub async fn no_route(request: Request) -> ApiError {
    ApiError::not_found(format!("No route for {} {}", request.method(), request.uri().path()))
}
