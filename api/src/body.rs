//! Reading requests: JSON bodies with Backstage's validation wording, task ids, query strings.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::ApiError;

/// A JSON body, read within the size limit; anything else is a specific 400 or a 413.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large()
            } else {
                ApiError::input(format!("Could not read the request body: {rejection}"))
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            // Like Express without a body: an empty object, which validation then judges.
            return Ok(JsonBody(Value::Object(Map::new())));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::input(format!("Malformed JSON in request body: {e}")))
    }
}

/// Field checks worded like Backstage's OpenAPI request validator (`request/body/...`).
pub fn body_object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object().ok_or_else(|| ApiError::input("request/body must be object"))
}

pub fn required<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a Value, ApiError> {
    body.get(field).ok_or_else(|| ApiError::input(format!("request/body must have required property '{field}'")))
}

pub fn string_field<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    required(body, field)?.as_str().ok_or_else(|| ApiError::input(format!("request/body/{field} must be string")))
}

pub fn object_field<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a Map<String, Value>, ApiError> {
    required(body, field)?.as_object().ok_or_else(|| ApiError::input(format!("request/body/{field} must be object")))
}

/// `secrets`: optional, an object of strings.
pub fn secrets_field(body: &Map<String, Value>) -> Result<Option<Map<String, Value>>, ApiError> {
    match body.get("secrets") {
        None => Ok(None),
        Some(Value::Object(secrets)) => {
            for (key, value) in secrets {
                if !value.is_string() {
                    return Err(ApiError::input(format!("request/body/secrets/{key} must be string")));
                }
            }
            Ok(Some(secrets.clone()))
        }
        Some(_) => Err(ApiError::input("request/body/secrets must be object")),
    }
}

/// Backstage answers an id that is not a UUID exactly like an unknown one.
pub fn task_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| not_found_task(raw))
}

pub fn not_found_task(raw: &str) -> ApiError {
    ApiError::not_found(format!("No task with id '{raw}' found"))
}

/// Query parameters in order, repeated keys kept (`status=a&status=b`).
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

/// An optional non-negative integer query parameter.
pub fn integer_param(pairs: &[(String, String)], name: &str) -> Result<Option<i64>, ApiError> {
    match pairs.iter().rev().find(|(k, _)| k == name) {
        None => Ok(None),
        Some((_, value)) => match value.trim().parse::<i64>() {
            Ok(n) if n >= 0 => Ok(Some(n)),
            Ok(_) => Err(ApiError::input(format!("request/query/{name} must be >= 0"))),
            Err(_) => Err(ApiError::input(format!("request/query/{name} must be integer"))),
        },
    }
}
