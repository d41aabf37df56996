//! Backstage's own template filters: `parseRepoUrl`, `projectSlug`, `parseEntityRef`, `pick`.

use std::sync::Arc;

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Value};
use serde_json::{Map, Value as Json, json};

use crate::entity_ref::EntityRef;
use crate::js;

/// A source-control host the service knows (configured integrations plus Backstage's defaults).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Integration {
    pub host: String,
    /// `github`, `gitlab`, `bitbucketCloud`, `bitbucketServer`, `azure`, `gitea`, `gerrit`.
    pub kind: String,
}

impl Integration {
    pub fn new(host: &str, kind: &str) -> Self {
        Integration { host: host.to_owned(), kind: kind.to_owned() }
    }

    /// The hosts Backstage knows without configuration.
    pub fn defaults() -> Vec<Integration> {
        vec![
            Integration::new("github.com", "github"),
            Integration::new("gitlab.com", "gitlab"),
            Integration::new("bitbucket.org", "bitbucketCloud"),
            Integration::new("dev.azure.com", "azure"),
        ]
    }
}

fn input_error(message: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, message)
}

/// `GET /v2/templating-extensions` entries for Backstage's own filters: description, usage
/// examples and the JSON Schemas of input, arguments and output.
pub fn metadata() -> Vec<(&'static str, Json)> {
    let repo_spec = json!({
        "type": "object",
        "properties": {
            "repo": {"type": "string"}, "host": {"type": "string"}, "owner": {"type": "string"},
            "organization": {"type": "string"}, "workspace": {"type": "string"}, "project": {"type": "string"}
        },
        "required": ["repo", "host"],
        "description": "`RepoSpec`"
    });
    let picker_url = json!({"type": "string", "description": "repo URL as collected from repository picker"});
    let entity_ref = json!({
        "type": "object",
        "properties": {"kind": {"type": "string"}, "namespace": {"type": "string"}, "name": {"type": "string"}},
        "required": ["kind", "namespace", "name"],
        "description": "`CompoundEntityRef`"
    });
    let step = |name: &str, message: &str| {
        format!("- id: log\n  name: {name}\n  action: debug:log\n  input:\n    message: ${{{{ {message} }}}}\n")
    };
    vec![
        (
            "parseRepoUrl",
            json!({
                "description": "Parses a repository URL into its constituent parts: owner, repository name, etc.",
                "schema": {"input": picker_url, "arguments": [], "output": repo_spec},
                "examples": [{
                    "example": step("Parse Repo URL", "parameters.repoUrl | parseRepoUrl"),
                    "notes": "- **Input**: `github.com?repo=backstage&owner=backstage`\n- **Output**: `{\"host\":\"github.com\",\"owner\":\"backstage\",\"repo\":\"backstage\"}`\n"
                }]
            }),
        ),
        (
            "parseEntityRef",
            json!({
                "description": "Extracts the parts of an entity reference, such as the kind, namespace, and name.",
                "schema": {
                    "input": {"anyOf": [
                        {"type": "string", "description": "compact entity reference"},
                        {"type": "object", "properties": {"kind": {"type": "string"}, "namespace": {"type": "string"}, "name": {"type": "string"}}, "required": ["name"], "description": "`CompoundEntityRef`"}
                    ]},
                    "arguments": [{
                        "type": "object",
                        "properties": {
                            "defaultKind": {"type": "string", "description": "The default kind, if none is given in the reference"},
                            "defaultNamespace": {"type": "string", "description": "The default namespace, if none is given in the reference"}
                        }
                    }],
                    "output": entity_ref
                },
                "examples": [
                    {
                        "description": "Without context",
                        "example": step("Parse Entity Reference", "parameters.owner | parseEntityRef"),
                        "notes": "- **Input**: `group:techdocs`\n- **Output**: `{\"kind\": \"group\", \"namespace\": \"default\", \"name\": \"techdocs\"}`\n"
                    },
                    {
                        "description": "With context",
                        "example": step("Parse Entity Reference", "parameters.owner | parseEntityRef({ defaultKind:\"group\", defaultNamespace:\"another-namespace\" })"),
                        "notes": "- **Input**: `techdocs`\n- **Output**: `{\"kind\": \"group\", \"namespace\": \"another-namespace\", \"name\": \"techdocs\"}`\n"
                    }
                ]
            }),
        ),
        (
            "pick",
            json!({
                "description": "Selects a specific property (e.g. kind, namespace, name) from an object.",
                "schema": {"input": {}, "arguments": [{"type": "string", "description": "Property"}], "output": {"description": "Selected property"}},
                "examples": [{
                    "example": step("Pick", "parameters.owner | parseEntityRef | pick('name')"),
                    "notes": "- **Input**: `{ kind: 'Group', namespace: 'default', name: 'techdocs' }`\n- **Output**: `techdocs`\n"
                }]
            }),
        ),
        (
            "projectSlug",
            json!({
                "description": "Generates a project slug from a repository URL.",
                "schema": {"input": picker_url, "arguments": [], "output": {"type": "string"}},
                "examples": [{
                    "example": step("Project Slug", "parameters.repoUrl | projectSlug"),
                    "notes": "- **Input**: `github.com?repo=backstage&owner=backstage`\n- **Output**: `backstage/backstage`\n"
                }]
            }),
        ),
    ]
}

pub(crate) fn register(env: &mut Environment<'static>, integrations: Arc<Vec<Integration>>) {
    let for_parse = integrations.clone();
    env.add_filter("parseRepoUrl", move |url: Value| -> Result<Value, Error> {
        let parsed = parse_repo_url(&js::display(&url), &for_parse)?;
        Ok(js::from_json(&Json::Object(parsed)))
    });
    env.add_filter("projectSlug", move |url: Value| -> Result<Value, Error> {
        let parsed = parse_repo_url(&js::display(&url), &integrations)?;
        let part = |key: &str| parsed.get(key).and_then(Json::as_str).unwrap_or("undefined").to_owned();
        Ok(Value::from(format!("{}/{}", part("owner"), part("repo"))))
    });
    env.add_filter("parseEntityRef", parse_entity_ref);
    env.add_filter("pick", |value: Value, path: String| pick(&value, &path));
}

/// Backstage's `parseRepoUrl`: `https://` is put in front and the host must be a known
/// integration; the query parameters each integration type needs must be present.
pub fn parse_repo_url(url: &str, integrations: &[Integration]) -> Result<Map<String, Json>, Error> {
    let (authority, query) = url.split_once('?').unwrap_or((url, ""));
    let host = authority.split('/').next().unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) || host.contains('@') {
        return Err(input_error(format!("Invalid repo URL passed to publisher, got {url}, TypeError: Invalid URL")));
    }
    let host = host.to_lowercase();
    let kind =
        integrations.iter().find(|i| i.host.eq_ignore_ascii_case(&host)).map(|i| i.kind.as_str()).ok_or_else(|| {
            input_error(format!(
                "No matching integration configuration for host {host}, please check your integrations config"
            ))
        })?;
    let mut params = Map::new();
    for (key, value) in form_pairs(query) {
        if ["owner", "organization", "workspace", "project", "repo"].contains(&key.as_str())
            && !params.contains_key(&key)
        {
            let trimmed = value.trim_matches('/').to_owned();
            if !value.is_empty() {
                params.insert(key, Json::String(trimmed));
            }
        }
    }
    let required: &[&str] = match kind {
        "bitbucketCloud" => &["workspace", "project", "repo"],
        "bitbucketServer" => &["project", "repo"],
        "azure" => &["project", "repo"],
        "gitlab" if params.contains_key("project") => &[],
        "gitlab" => &["owner", "repo"],
        "gitea" | "gerrit" => &["repo"],
        _ => &["repo", "owner"],
    };
    for param in required {
        if !params.contains_key(*param) {
            return Err(input_error(format!("Invalid repo URL passed to publisher: https://{url}, missing {param}")));
        }
    }
    let mut out = Map::new();
    out.insert("host".to_owned(), Json::String(host));
    for key in ["owner", "repo", "organization", "workspace", "project"] {
        if let Some(value) = params.remove(key) {
            out.insert(key.to_owned(), value);
        }
    }
    Ok(out)
}

/// `application/x-www-form-urlencoded` pairs, decoded as URLSearchParams does.
fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high * 16 + low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_entity_ref(value: Value, context: Option<Value>, _kwargs: Kwargs) -> Result<Value, Error> {
    let option = |name: &str| {
        context
            .as_ref()
            .and_then(|c| c.get_attr(name).ok())
            .filter(|v| !v.is_undefined() && !v.is_none())
            .map(|v| js::display(&v))
    };
    let (default_kind, default_namespace) = (option("defaultKind"), option("defaultNamespace"));
    let reference = match value.kind() {
        ValueKind::String => {
            EntityRef::parse(value.as_str().unwrap_or_default(), default_kind.as_deref(), default_namespace.as_deref())
                .map_err(|e| input_error(e.to_string()))?
        }
        ValueKind::Map => {
            let field = |name: &str| value.get_attr(name).ok().filter(|v| !v.is_undefined()).map(|v| js::display(&v));
            let name = field("name")
                .filter(|n| !n.is_empty())
                .ok_or_else(|| input_error("Entity reference object had missing or empty name".to_owned()))?;
            let kind = field("kind")
                .or(default_kind)
                .ok_or_else(|| input_error("Entity reference object had missing or empty kind".to_owned()))?;
            EntityRef {
                kind,
                namespace: field("namespace").or(default_namespace).unwrap_or_else(|| "default".to_owned()),
                name,
            }
        }
        _ => {
            return Err(input_error(format!(
                "Entity reference must be a string or an object, got {}",
                js::display(&value)
            )));
        }
    };
    Ok(minijinja::context! { kind => reference.kind, namespace => reference.namespace, name => reference.name })
}

/// lodash `get(object, path)`: `a.b`, `a[0].b`, `a["b c"]`.
pub fn pick(value: &Value, path: &str) -> Result<Value, Error> {
    let mut current = value.clone();
    for segment in path_segments(path) {
        if current.is_undefined() || current.is_none() {
            return Ok(Value::UNDEFINED);
        }
        current = match current.kind() {
            ValueKind::Seq => segment
                .parse::<usize>()
                .ok()
                .and_then(|i| current.get_item_by_index(i).ok())
                .unwrap_or(Value::UNDEFINED),
            ValueKind::String if segment == "length" => {
                Value::from(js::utf16_len(current.as_str().unwrap_or_default()))
            }
            _ => current.get_item(&Value::from(segment)).unwrap_or(Value::UNDEFINED),
        };
    }
    Ok(current)
}

fn path_segments(path: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut current = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if !current.is_empty() {
                    segments.push(std::mem::take(&mut current));
                }
            }
            '[' => {
                if !current.is_empty() {
                    segments.push(std::mem::take(&mut current));
                }
                let mut inside = String::new();
                for d in chars.by_ref() {
                    if d == ']' {
                        break;
                    }
                    inside.push(d);
                }
                segments.push(inside.trim_matches(['"', '\'']).to_owned());
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        segments.push(current);
    }
    segments
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parse_repo_url_like_backstage() {
        let integrations = Integration::defaults();
        let parsed = parse_repo_url("github.com?owner=acme-corp&repo=billing-service", &integrations).unwrap();
        assert_eq!(
            Json::Object(parsed),
            json!({"host": "github.com", "owner": "acme-corp", "repo": "billing-service"})
        );
        let gitlab = parse_repo_url("gitlab.com?owner=acme%2Fplatform&repo=billing", &integrations).unwrap();
        assert_eq!(gitlab["owner"], "acme/platform");
        let error = parse_repo_url("git.internal.example?owner=a&repo=b", &integrations).unwrap_err();
        assert!(error.to_string().contains("No matching integration configuration for host git.internal.example"));
        assert!(parse_repo_url("github.com?owner=a", &integrations).unwrap_err().to_string().contains("missing repo"));
        let bitbucket = parse_repo_url("bitbucket.org?workspace=w&project=p&repo=r", &integrations).unwrap();
        assert_eq!(
            Json::Object(bitbucket),
            json!({"host": "bitbucket.org", "repo": "r", "workspace": "w", "project": "p"})
        );
    }

    #[test]
    fn pick_follows_lodash_paths() {
        let value = js::from_json(&json!({"links": [{"url": "u", "title": "t"}], "a": {"b c": 1}}));
        assert_eq!(pick(&value, "links[0].url").unwrap(), Value::from("u"));
        assert_eq!(pick(&js::from_json(&json!([{"url": "x"}])), "[0].url").unwrap(), Value::from("x"));
        assert_eq!(pick(&value, "a[\"b c\"]").unwrap(), Value::from(1));
        assert!(pick(&value, "links[5].url").unwrap().is_undefined());
    }
}
