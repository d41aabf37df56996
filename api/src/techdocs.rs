//! `/api/techdocs`: pre-built TechDocs sites served from `techdocs.publisher.local.publishDirectory`
//! (`<dir>/<namespace>/<kind>/<name>/...`, the triplet lower-cased as Backstage does), with
//! content types, ETags (`If-None-Match` → 304) and the entity read permission.
//!
//! Invariant: a requested path is resolved to its real path and served only when it lies inside
//! the entity's own site directory (symlinks included); anything else is a 404.

use std::path::{Path as FsPath, PathBuf};

use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// `techdocs.*`.
#[derive(Clone, Debug, Default)]
pub struct TechDocsConfig {
    /// `techdocs.publisher.local.publishDirectory`; `None`: no sites are served.
    pub publish_directory: Option<PathBuf>,
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/static/docs/{namespace}/{kind}/{name}", get(site_root))
        .route("/static/docs/{namespace}/{kind}/{name}/", get(site_root))
        .route("/static/docs/{namespace}/{kind}/{name}/{*path}", get(site_file))
        .route("/metadata/techdocs/{namespace}/{kind}/{name}", get(techdocs_metadata))
        .route("/metadata/entity/{namespace}/{kind}/{name}", get(entity_metadata))
}

/// The entity's site directory, after the read permission and an existence check of the entity.
async fn site(
    state: &AppState,
    principal: &Principal,
    namespace: &str,
    kind: &str,
    name: &str,
) -> Result<PathBuf, ApiError> {
    state.permissions.require(principal, "catalog.entity.read", None).await?;
    let directory = state
        .config
        .techdocs
        .publish_directory
        .as_ref()
        .ok_or_else(|| ApiError::not_found("No TechDocs publisher is configured (techdocs.publisher)"))?;
    for part in [namespace, kind, name] {
        if part.is_empty() || part == "." || part == ".." || part.contains(['/', '\\', '\0']) {
            return Err(ApiError::not_found(format!("No TechDocs site for {kind}:{namespace}/{name}")));
        }
    }
    Ok(directory.join(namespace.to_lowercase()).join(kind.to_lowercase()).join(name.to_lowercase()))
}

async fn site_root(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((namespace, kind, name)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let root = site(&state, &principal, &namespace, &kind, &name).await?;
    serve(&root, "index.html", &headers).await
}

async fn site_file(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((namespace, kind, name, path)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let root = site(&state, &principal, &namespace, &kind, &name).await?;
    let path = if path.is_empty() || path.ends_with('/') { format!("{path}index.html") } else { path };
    serve(&root, &path, &headers).await
}

async fn techdocs_metadata(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((namespace, kind, name)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let root = site(&state, &principal, &namespace, &kind, &name).await?;
    let missing =
        || ApiError::not_found(format!("Unable to read techdocs_metadata.json for {kind}:{namespace}/{name}"));
    let file = contained(&root, "techdocs_metadata.json").ok_or_else(missing)?;
    let bytes = tokio::fs::read(&file).await.map_err(|_| missing())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::internal(format!("techdocs_metadata.json of {kind}:{namespace}/{name} is not JSON: {e}"))
    })?;
    Ok(Json(value))
}

async fn entity_metadata(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((namespace, kind, name)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    state.permissions.require(&principal, "catalog.entity.read", None).await?;
    let row = state
        .store
        .entity_get(&kind.to_lowercase(), &namespace, &name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Unable to get metadata for {kind}:{namespace}/{name}")))?;
    let value: Value = serde_json::from_str(&row.entity).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(value))
}

/// `relative` under `root`, if its real path stays inside `root`'s real path.
fn contained(root: &FsPath, relative: &str) -> Option<PathBuf> {
    if relative.contains('\0') {
        return None;
    }
    let real_root = root.canonicalize().ok()?;
    let real = root.join(relative).canonicalize().ok()?;
    (real.starts_with(&real_root) && real.is_file()).then_some(real)
}

async fn serve(root: &FsPath, relative: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    let missing = || ApiError::not_found(format!("File not found: {relative}"));
    let file = contained(root, relative).ok_or_else(missing)?;
    let metadata = tokio::fs::metadata(&file).await.map_err(|_| missing())?;
    let modified =
        metadata.modified().ok().and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    let etag = format!("\"{:x}-{:x}\"", metadata.len(), modified);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(header::ETAG, HeaderValue::from_str(&etag).expect("an ASCII etag"));
        return Ok(response);
    }
    let bytes = tokio::fs::read(&file).await.map_err(|_| missing())?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&file)));
    headers.insert(header::ETAG, HeaderValue::from_str(&etag).expect("an ASCII etag"));
    // Sites hold user content: never let a browser sniff a different type.
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(response)
}

fn content_type(path: &FsPath) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(str::to_lowercase).as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json" | "map") => "application/json; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff") => "font/woff",
        Some("woff2") => "font/woff2",
        Some("ttf") => "font/ttf",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        Some("xml") => "application/xml",
        Some("pdf") => "application/pdf",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containment_and_types() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site");
        std::fs::create_dir_all(site.join("a")).unwrap();
        std::fs::write(site.join("a/index.html"), "x").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), site.join("link.txt")).unwrap();
        assert!(contained(&site, "a/index.html").is_some());
        for bad in ["../secret.txt", "link.txt", "a/../../secret.txt", "/etc/passwd", "a", "nope.html", "a\0b"] {
            assert!(contained(&site, bad).is_none(), "{bad}");
        }
        assert_eq!(content_type(FsPath::new("x/Y.HTML")), "text/html; charset=utf-8");
        assert_eq!(content_type(FsPath::new("x/y")), "application/octet-stream");
    }
}
