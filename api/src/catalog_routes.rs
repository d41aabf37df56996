//! `/api/catalog/...`: Backstage's catalog routes over the thin catalog (entities, locations,
//! refresh), with Backstage's shapes and status codes (captured in `tests/fixtures/wire`).

use std::sync::Arc;

use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use catalog::{Catalog, CatalogError, EntityQuery, Filter, generated_location_ref, project_fields};
use serde_json::{Value, json};
use store::LocationRow;
use uuid::Uuid;

use crate::auth::Principal;
use crate::body::{JsonBody, body_object, query_pairs, required};
use crate::error::ApiError;
use crate::state::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/entities", get(list_entities))
        .route("/entities/by-query", get(query_entities))
        .route("/entities/by-refs", post(entities_by_refs))
        .route("/entities/by-uid/{uid}", get(entity_by_uid).delete(delete_entity))
        .route("/entities/by-name/{kind}/{namespace}/{name}", get(entity_by_name))
        .route("/locations", get(list_locations).post(add_location))
        .route("/locations/{id}", get(location_by_id).delete(delete_location))
        .route("/locations/by-entity/{kind}/{namespace}/{name}", get(location_by_entity))
        .route("/refresh", post(refresh))
}

fn catalog(state: &AppState) -> Result<&Arc<Catalog>, ApiError> {
    state.catalog.as_ref().ok_or_else(|| ApiError::not_found("The catalog is not served by this process"))
}

impl From<CatalogError> for ApiError {
    fn from(error: CatalogError) -> Self {
        match error {
            CatalogError::Store(error) => error.into(),
            CatalogError::Input(message) => ApiError::input(message),
            CatalogError::NotFound(message) => ApiError::not_found(message),
            CatalogError::Conflict(message) => ApiError::conflict(message),
            CatalogError::NotAllowed(message) => ApiError::not_allowed(message),
        }
    }
}

/// `filter`, `fields`, `order`, `offset`, `limit` of `GET /entities`.
fn entity_query(pairs: &[(String, String)]) -> Result<EntityQuery, ApiError> {
    let mut query = EntityQuery::default();
    for (key, value) in pairs {
        match key.as_str() {
            "filter" => query.filters.push(Filter::parse(value)?),
            "fields" => {
                query.fields.extend(value.split(',').map(str::trim).filter(|f| !f.is_empty()).map(str::to_owned))
            }
            "order" => {
                let (direction, field) = value.split_once(':').unwrap_or(("asc", value));
                match direction {
                    "asc" | "desc" => query.order.push((field.to_owned(), direction == "desc")),
                    _ => {
                        return Err(ApiError::input(format!(
                            "Invalid order '{value}': use asc:<field> or desc:<field>"
                        )));
                    }
                }
            }
            "offset" => query.offset = number(key, value)?,
            "limit" => query.limit = Some(number(key, value)?),
            _ => {}
        }
    }
    Ok(query)
}

fn number(key: &str, value: &str) -> Result<usize, ApiError> {
    value.parse().map_err(|_| ApiError::input(format!("Invalid {key} '{value}': expected a non-negative whole number")))
}

async fn list_entities(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<Value>>, ApiError> {
    if !state.permissions.allowed(&principal, "catalog.entity.read", None).await? {
        return Ok(Json(empty_list_plain()));
    }
    let query = entity_query(&query_pairs(raw.as_deref()))?;
    let entities = catalog(&state)?.entities().await?;
    Ok(Json(query.apply(entities).0))
}

/// The state a `by-query` cursor carries (opaque to clients).
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Cursor {
    filters: Vec<String>,
    order: Vec<(String, bool)>,
    term: String,
    offset: usize,
}

async fn query_entities(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    if !state.permissions.allowed(&principal, "catalog.entity.read", None).await? {
        return Ok(Json(empty_list_page()));
    }
    let pairs = query_pairs(raw.as_deref());
    let get = |name: &str| pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect::<Vec<_>>();
    let limit = match get("limit").first() {
        Some(value) => number("limit", value)?,
        None => 20,
    };
    let fields: Vec<String> = get("fields")
        .iter()
        .flat_map(|v| v.split(',').map(str::trim).map(str::to_owned))
        .filter(|f| !f.is_empty())
        .collect();
    let cursor = match get("cursor").first() {
        Some(text) => base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Cursor>(&bytes).ok())
            .ok_or_else(|| ApiError::input("Malformed cursor"))?,
        None => {
            let mut order = Vec::new();
            for value in get("orderField") {
                let (field, direction) = value.split_once(',').unwrap_or((value.as_str(), "asc"));
                order.push((field.to_owned(), direction.eq_ignore_ascii_case("desc")));
            }
            Cursor {
                filters: get("filter"),
                order,
                term: get("fullTextFilterTerm").first().cloned().unwrap_or_default(),
                offset: get("offset").first().map(|v| number("offset", v)).transpose()?.unwrap_or(0),
            }
        }
    };
    let filters = cursor.filters.iter().map(|f| Filter::parse(f)).collect::<Result<Vec<_>, _>>()?;
    let term = cursor.term.to_lowercase();
    let entities: Vec<Value> = catalog(&state)?
        .entities()
        .await?
        .into_iter()
        .filter(|entity| term.is_empty() || full_text(entity).contains(&term))
        .collect();
    let query = EntityQuery { filters, fields, order: cursor.order.clone(), offset: cursor.offset, limit: Some(limit) };
    let (items, total) = query.apply(entities);
    let encode = |offset: usize| {
        let next =
            Cursor { filters: cursor.filters.clone(), order: cursor.order.clone(), term: cursor.term.clone(), offset };
        base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&next).expect("a cursor serialises"))
    };
    let mut page_info = serde_json::Map::new();
    if cursor.offset + items.len() < total {
        page_info.insert("nextCursor".to_owned(), Value::String(encode(cursor.offset + items.len())));
    }
    if cursor.offset > 0 {
        page_info.insert("prevCursor".to_owned(), Value::String(encode(cursor.offset.saturating_sub(limit))));
    }
    Ok(Json(json!({"items": items, "totalItems": total, "pageInfo": page_info})))
}

/// What `fullTextFilterTerm` searches: names, titles, descriptions, kinds, types and owners.
fn full_text(entity: &Value) -> String {
    ["/metadata/name", "/metadata/title", "/metadata/description", "/kind", "/spec/type", "/spec/owner"]
        .iter()
        .filter_map(|pointer| entity.pointer(pointer).and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

async fn entities_by_refs(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    state.permissions.require(&principal, "catalog.entity.read", None).await?;
    if let Some((key, _)) = query_pairs(raw.as_deref()).first() {
        return Err(ApiError::input(format!("Unknown query parameter '{key}'")));
    }
    let body = body_object(&body)?;
    let refs = required(body, "entityRefs")?
        .as_array()
        .ok_or_else(|| ApiError::input("request/body/entityRefs must be array"))?
        .iter()
        .map(|r| {
            r.as_str()
                .map(str::to_owned)
                .ok_or_else(|| ApiError::input("request/body/entityRefs must be an array of strings"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let fields: Vec<String> = body
        .get("fields")
        .and_then(Value::as_array)
        .map(|f| f.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let found = catalog(&state)?.entities_by_refs(&refs).await?;
    let items: Vec<Value> = found
        .into_iter()
        .map(|entity| match entity {
            Some(entity) if !fields.is_empty() => project_fields(&entity, &fields),
            Some(entity) => entity,
            None => Value::Null,
        })
        .collect();
    Ok(Json(json!({"items": items})))
}

async fn entity_by_uid(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(uid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.permissions.require(&principal, "catalog.entity.read", None).await?;
    catalog(&state)?
        .entity_by_uid(&uid)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("No entity with uid {uid}")))
}

/// Always 204, as Backstage: deleting what is not there is not an error.
async fn delete_entity(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(uid): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.permissions.require(&principal, "catalog.entity.delete", None).await?;
    if let Ok(uid) = Uuid::parse_str(&uid) {
        catalog(&state)?.delete_entity(uid).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn entity_by_name(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((kind, namespace, name)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    state.permissions.require(&principal, "catalog.entity.read", None).await?;
    catalog(&state)?.entity_by_name(&kind, &namespace, &name).await?.map(Json).ok_or_else(|| {
        ApiError::not_found(format!(
            "No entity named '{name}' found, with kind '{}' in namespace '{namespace}'",
            kind.to_lowercase()
        ))
    })
}

fn location_json(row: &LocationRow) -> Value {
    json!({
        "id": row.id.to_string(),
        "type": row.location_type,
        "target": row.target,
        "entityRef": generated_location_ref(&row.location_type, &row.target),
    })
}

async fn list_locations(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Vec<Value>>, ApiError> {
    state.permissions.require(&principal, "catalog.location.read", None).await?;
    let rows = catalog(&state)?.registered_locations().await?;
    Ok(Json(rows.iter().map(|row| json!({"data": location_json(row)})).collect()))
}

async fn location_by_id(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.permissions.require(&principal, "catalog.location.read", None).await?;
    let missing = || ApiError::not_found(format!("Found no location with ID {id}"));
    let uid = Uuid::parse_str(&id).map_err(|_| missing())?;
    let row = catalog(&state)?.location(uid).await?.ok_or_else(missing)?;
    Ok(Json(location_json(&row)))
}

async fn location_by_entity(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((kind, namespace, name)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    state.permissions.require(&principal, "catalog.location.read", None).await?;
    let row = catalog(&state)?.location_of(&kind, &namespace, &name).await?;
    Ok(Json(location_json(&row)))
}

async fn add_location(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    state.permissions.require(&principal, "catalog.location.create", None).await?;
    let dry_run = query_pairs(raw.as_deref()).iter().any(|(k, v)| k == "dryRun" && v == "true");
    if !dry_run {
        // Registering stores the location's entities.
        state.permissions.require(&principal, "catalog.entity.create", None).await?;
    }
    let body = body_object(&body)?;
    let target =
        required(body, "target")?.as_str().ok_or_else(|| ApiError::input("request/body/target must be string"))?;
    let kind = required(body, "type")?.as_str().ok_or_else(|| ApiError::input("request/body/type must be string"))?;
    if kind != "url" && kind != "file" {
        return Err(ApiError::input("Registered locations must be of an allowed type [\"url\"]"));
    }
    let added = catalog(&state)?.add_location(kind, target, dry_run).await?;
    let body = if dry_run {
        // Backstage names a location that is not registered by `type:target`, in this key order.
        let row = &added.location;
        let location = json!({
            "type": row.location_type,
            "target": row.target,
            "id": format!("{}:{}", row.location_type, row.target),
            "entityRef": generated_location_ref(&row.location_type, &row.target),
        });
        json!({"exists": added.exists, "location": location, "entities": added.entities})
    } else {
        tracing::info!(kind, target, "registered a catalog location");
        json!({"location": location_json(&added.location), "entities": added.entities})
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn delete_location(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.permissions.require(&principal, "catalog.location.delete", None).await?;
    let missing = || ApiError::not_found(format!("Found no location with ID {id}"));
    let uid = Uuid::parse_str(&id).map_err(|_| missing())?;
    match catalog(&state)?.delete_location(uid).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(CatalogError::NotFound(_)) => Err(missing()),
        Err(error) => Err(error.into()),
    }
}

/// 200 with an empty body, as Backstage answers.
async fn refresh(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    JsonBody(body): JsonBody,
) -> Result<StatusCode, ApiError> {
    state.permissions.require(&principal, "catalog.entity.refresh", None).await?;
    let body = body_object(&body)?;
    let reference = required(body, "entityRef")?
        .as_str()
        .ok_or_else(|| ApiError::input("request/body/entityRef must be string"))?;
    let report = catalog(&state)?.refresh_entity(reference).await?;
    for problem in report.problems {
        tracing::warn!("catalog refresh of {reference}: {problem}");
    }
    Ok(StatusCode::OK)
}

/// What a caller without `catalog.entity.read` sees: nothing, as if the catalog were empty.
fn empty_list_plain() -> Vec<Value> {
    Vec::new()
}

fn empty_list_page() -> Value {
    json!({"items": [], "totalItems": 0, "pageInfo": {}})
}
