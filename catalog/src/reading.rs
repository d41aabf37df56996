//! Reading a location: a `file` on this machine or a `url` (through the integrations), split into
//! YAML documents; nested `Location` entities name further targets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::CatalogError;
use crate::entity::Checked;

/// The largest catalog file read.
const MAX_FILE_BYTES: u64 = 4 << 20;

/// One document read from a location, and where exactly it came from (`kind:target`).
pub(crate) struct Document {
    pub entity: Checked,
    pub source: String,
    /// The `Location` entity generated for the registered location itself.
    pub generated: bool,
}

#[derive(Default)]
pub(crate) struct Read {
    pub documents: Vec<Document>,
    pub problems: Vec<String>,
    /// The location itself could not be read.
    pub fatal: Option<CatalogError>,
}

pub(crate) struct Reader {
    url: Option<Arc<actions::UrlReader>>,
}

impl Reader {
    pub fn new(url: Option<Arc<actions::UrlReader>>) -> Self {
        Reader { url }
    }

    /// A target as it is stored: absolute paths for files, URLs as given.
    pub fn check_target(&self, kind: &str, target: &str) -> Result<String, CatalogError> {
        match kind {
            "file" => Ok(crate::absolute(target).display().to_string()),
            "url" => {
                if !(target.starts_with("https://") || target.starts_with("http://")) {
                    return Err(CatalogError::Input(format!(
                        "Invalid location target {target}: a url location needs an http(s) URL"
                    )));
                }
                Ok(target.to_owned())
            }
            other => Err(CatalogError::Input(format!("Unknown location type {other}; use 'url' or 'file'"))),
        }
    }

    pub async fn read(&self, kind: &str, target: &str) -> Result<String, CatalogError> {
        let bytes = match kind {
            "file" => {
                let path = Path::new(target);
                let metadata = tokio::fs::metadata(path)
                    .await
                    .map_err(|e| CatalogError::NotFound(format!("Unable to read {kind}:{target}, {e}")))?;
                if metadata.len() > MAX_FILE_BYTES {
                    return Err(CatalogError::Input(format!("{target} is larger than {MAX_FILE_BYTES} bytes")));
                }
                tokio::fs::read(path)
                    .await
                    .map_err(|e| CatalogError::NotFound(format!("Unable to read {kind}:{target}, {e}")))?
            }
            "url" => {
                let Some(reader) = &self.url else {
                    return Err(CatalogError::NotAllowed(format!(
                        "Unable to read url:{target}: no URL reader is configured"
                    )));
                };
                reader.read(target, MAX_FILE_BYTES).await.map_err(|e| match e.name.as_str() {
                    "NotFoundError" => CatalogError::NotFound(format!("Unable to read url:{target}, {}", e.message)),
                    "NotAllowedError" => CatalogError::NotAllowed(e.message),
                    "InputError" => CatalogError::Input(e.message),
                    _ => CatalogError::Input(format!("Unable to read url:{target}, {}", e.message)),
                })?
            }
            other => return Err(CatalogError::Input(format!("Unknown location type {other}"))),
        };
        String::from_utf8(bytes).map_err(|_| CatalogError::Input(format!("{kind}:{target} is not UTF-8 text")))
    }
}

/// The `Location` entity Backstage generates for a registered location:
/// `generated-<sha1("type:target")>`.
pub(crate) fn generated_location(kind: &str, target: &str) -> Document {
    use sha1::Digest;
    let reference = format!("{kind}:{target}");
    let name: String = sha1::Sha1::digest(reference.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let name = format!("generated-{name}");
    let value = serde_json::json!({
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Location",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"type": kind, "target": target},
    });
    Document {
        entity: Checked { kind: "Location".to_owned(), namespace: "default".to_owned(), name, value },
        source: reference,
        generated: true,
    }
}

/// `location:default/generated-…` of a registered location.
pub fn generated_location_ref(kind: &str, target: &str) -> String {
    format!("location:default/{}", generated_location(kind, target).entity.name)
}

/// How deep `[`/`{` may nest in a file before it is refused unparsed: the YAML parser's time
/// grows with the square of that nesting (a 400 kB file of brackets took minutes), and its own
/// recursion limit refuses anything deeper than 128 levels anyway.
const MAX_FLOW_DEPTH: usize = 1000;

/// The YAML documents of a file: `Ok(None)` for empty documents.
pub(crate) fn documents(text: &str) -> Vec<Result<Option<Value>, String>> {
    // Counted without regard to quotes: an upper bound is all this needs.
    let mut depth = 0usize;
    for byte in text.bytes() {
        match byte {
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => continue,
        }
        if depth > MAX_FLOW_DEPTH {
            return vec![Err(format!("collections nest more than {MAX_FLOW_DEPTH} levels deep"))];
        }
    }
    serde_norway::Deserializer::from_str(text)
        .map(|document| match Value::deserialize(document) {
            Ok(Value::Null) => Ok(None),
            Ok(value) => Ok(Some(value)),
            Err(error) => Err(error.to_string()),
        })
        .collect()
}

/// `spec.target` / `spec.targets` of a Location entity, resolved against the location that
/// holds it: paths relative to a file's directory, URLs relative to a URL.
pub(crate) fn location_targets(entity: &Value, kind: &str, target: &str) -> Vec<(String, String)> {
    let spec = &entity["spec"];
    let nested_kind = spec["type"].as_str().unwrap_or(kind).to_owned();
    spec["target"]
        .as_str()
        .into_iter()
        .chain(spec["targets"].as_array().into_iter().flatten().filter_map(Value::as_str))
        .filter_map(|nested| {
            let resolved = match (kind, nested_kind.as_str()) {
                (_, "url") if nested.contains("://") => nested.to_owned(),
                ("url", "url") => join_url(target, nested)?,
                ("file", "file") => {
                    let base = Path::new(target).parent().unwrap_or(Path::new("/"));
                    normalize(&base.join(nested)).display().to_string()
                }
                // A URL location may not point at files of this machine.
                _ => return None,
            };
            Some((nested_kind.clone(), resolved))
        })
        .collect()
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// `new URL(relative, base)` for the path part.
fn join_url(base: &str, relative: &str) -> Option<String> {
    let (scheme, rest) = base.split_once("://")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let mut segments: Vec<&str> = if relative.starts_with('/') { Vec::new() } else { path.split('/').collect() };
    if !relative.starts_with('/') {
        segments.pop();
    }
    for part in relative.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    Some(format!(
        "{scheme}://{authority}/{}",
        segments.into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join("/")
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn generated_location_names_are_backstages() {
        let document = generated_location("url", "https://github.com/acme/nope/blob/main/catalog-info.yaml");
        assert_eq!(document.entity.name, "generated-5dcabd18fca0657589dfdab63adbd4dee4dff739");
    }

    #[test]
    fn nested_targets_resolve_against_their_location() {
        let entity = json!({"spec": {"targets": ["./a.yaml", "../b.yaml"]}});
        assert_eq!(
            location_targets(&entity, "file", "/srv/catalog/all.yaml"),
            vec![("file".to_owned(), "/srv/catalog/a.yaml".to_owned()), ("file".to_owned(), "/srv/b.yaml".to_owned())]
        );
        let url = "https://github.com/acme/repo/blob/main/catalog/all.yaml";
        assert_eq!(
            location_targets(&entity, "url", url),
            vec![
                ("url".to_owned(), "https://github.com/acme/repo/blob/main/catalog/a.yaml".to_owned()),
                ("url".to_owned(), "https://github.com/acme/repo/blob/main/b.yaml".to_owned())
            ]
        );
        // A URL location cannot reach this machine's files.
        let sneaky = json!({"spec": {"type": "file", "target": "/etc/passwd"}});
        assert!(location_targets(&sneaky, "url", url).is_empty());
    }
}
