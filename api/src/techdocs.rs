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
    /// `techdocs.publisher.local.publishDirectory`.
    pub publish_directory: Option<PathBuf>,
    /// `techdocs.publisher.awsS3`.
    pub s3: Option<crate::s3::S3Config>,
}

/// Where an entity's site is.
enum Site {
    Local(PathBuf),
    /// The key prefix `<namespace>/<kind>/<name>/` in the bucket.
    S3(String),
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/static/docs/{namespace}/{kind}/{name}", get(site_root))
        .route("/static/docs/{namespace}/{kind}/{name}/", get(site_root))
        .route("/static/docs/{namespace}/{kind}/{name}/{*path}", get(site_file))
        .route("/metadata/techdocs/{namespace}/{kind}/{name}", get(techdocs_metadata))
        .route("/metadata/entity/{namespace}/{kind}/{name}", get(entity_metadata))
}

/// The entity's site, after the read permission.
async fn site(
    state: &AppState,
    principal: &Principal,
    namespace: &str,
    kind: &str,
    name: &str,
) -> Result<Site, ApiError> {
    state.permissions.require(principal, "catalog.entity.read", None).await?;
    for part in [namespace, kind, name] {
        if part.is_empty() || part == "." || part == ".." || part.contains(['/', '\\', '\0']) {
            return Err(ApiError::not_found(format!("No TechDocs site for {kind}:{namespace}/{name}")));
        }
    }
    let triplet = format!("{}/{}/{}", namespace.to_lowercase(), kind.to_lowercase(), name.to_lowercase());
    if state.s3.is_some() {
        return Ok(Site::S3(format!("{triplet}/")));
    }
    let directory = state
        .config
        .techdocs
        .publish_directory
        .as_ref()
        .ok_or_else(|| ApiError::not_found("No TechDocs publisher is configured (techdocs.publisher)"))?;
    Ok(Site::Local(directory.join(triplet)))
}

/// A file's bytes and ETag from the site; `None` when it is not there (or not inside the site).
async fn read(state: &AppState, site: &Site, relative: &str) -> Result<Option<(Vec<u8>, String, PathBuf)>, ApiError> {
    match site {
        Site::Local(root) => {
            let Some(file) = contained(root, relative) else { return Ok(None) };
            let Ok(metadata) = tokio::fs::metadata(&file).await else { return Ok(None) };
            let modified = metadata
                .modified()
                .ok()
                .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            let etag = format!("\"{:x}-{:x}\"", metadata.len(), modified);
            Ok(tokio::fs::read(&file).await.ok().map(|bytes| (bytes, etag, file)))
        }
        Site::S3(prefix) => {
            // Keys are plain strings: refuse anything that would name another entity's files.
            let parts: Vec<&str> = relative.split('/').collect();
            if parts.iter().any(|p| p.is_empty() || *p == "." || *p == ".." || p.contains(['\\', '\0'])) {
                return Ok(None);
            }
            let s3 = state.s3.as_ref().expect("an S3 site needs the client");
            let object = s3.get(&format!("{prefix}{relative}")).await.map_err(|e| {
                tracing::warn!(error = %e, "TechDocs: reading from S3 failed");
                ApiError::internal(format!("The TechDocs store could not be read: {e}"))
            })?;
            Ok(object.map(|o| (o.bytes, o.etag.unwrap_or_default(), PathBuf::from(relative))))
        }
    }
}

async fn site_root(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((namespace, kind, name)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let site = site(&state, &principal, &namespace, &kind, &name).await?;
    serve(&state, &site, "index.html", &headers).await
}

async fn site_file(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((namespace, kind, name, path)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let site = site(&state, &principal, &namespace, &kind, &name).await?;
    let path = if path.is_empty() || path.ends_with('/') { format!("{path}index.html") } else { path };
    serve(&state, &site, &path, &headers).await
}

async fn techdocs_metadata(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((namespace, kind, name)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let site = site(&state, &principal, &namespace, &kind, &name).await?;
    let missing =
        || ApiError::not_found(format!("Unable to read techdocs_metadata.json for {kind}:{namespace}/{name}"));
    let (bytes, _, _) = read(&state, &site, "techdocs_metadata.json").await?.ok_or_else(missing)?;
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

/// `relative` under `root`, if it is a file whose real path stays inside `root` (the same proof
/// task workspaces get).
fn contained(root: &FsPath, relative: &str) -> Option<PathBuf> {
    actions::resolve_safe_child_path(root, relative).ok().filter(|path| path.is_file())
}

async fn serve(state: &AppState, site: &Site, relative: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    let (bytes, etag, file) =
        read(state, site, relative).await?.ok_or_else(|| ApiError::not_found(format!("File not found: {relative}")))?;
    let etag_value = HeaderValue::from_str(&etag).unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    if !etag.is_empty()
        && headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(header::ETAG, etag_value);
        return Ok(response);
    }
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&file)));
    if !etag.is_empty() {
        headers.insert(header::ETAG, etag_value);
    }
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
