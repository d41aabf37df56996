//! Building the merged configuration tree from files and the environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::ConfigError;

/// Where configuration comes from. The environment is passed in, never read here, so loading is
/// testable.
#[derive(Clone, Debug, Default)]
pub struct ConfigSources {
    /// `--config` files in order; empty means `./app-config.yaml` (and `app-config.local.yaml`)
    /// when present.
    pub files: Vec<PathBuf>,
    pub cwd: PathBuf,
    pub env: BTreeMap<String, String>,
}

/// The merged tree, and whether a configuration file was found (none means the embedded defaults
/// apply; `APP_CONFIG_` overrides adjust them without leaving them).
pub fn load(sources: &ConfigSources) -> Result<(Value, bool), ConfigError> {
    let files: Vec<PathBuf> = if sources.files.is_empty() {
        ["app-config.yaml", "app-config.local.yaml"]
            .iter()
            .map(|name| sources.cwd.join(name))
            .filter(|path| path.is_file())
            .collect()
    } else {
        sources.files.iter().map(|path| sources.cwd.join(path)).collect()
    };
    let mut merged = Value::Object(Map::new());
    for path in &files {
        // Like Backstage ("expected object at config root"); a file of comments only is empty.
        // (Found by fuzzing: a scalar or list here used to replace the merged tree, and an
        // `APP_CONFIG_` override then panicked.)
        match read_file(path, &sources.env, 0)? {
            Value::Null => {}
            value @ Value::Object(_) => merge(&mut merged, value),
            _ => {
                return Err(ConfigError::Yaml {
                    path: path.display().to_string(),
                    message: "the top level must be a mapping of keys".to_owned(),
                });
            }
        }
    }
    let overrides = env_overrides(&sources.env)?;
    let found = !files.is_empty();
    for (path, value) in overrides {
        set_path(&mut merged, &path, value);
    }
    Ok((merged, found))
}

fn read_file(path: &Path, env: &BTreeMap<String, String>, depth: usize) -> Result<Value, ConfigError> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::Read { path: display.clone(), message: e.to_string() })?;
    let value: Value = if text.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_norway::from_str(&text)
            .map_err(|e| ConfigError::Yaml { path: display.clone(), message: e.to_string() })?
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    Ok(substitute(value, env, dir, depth)?.unwrap_or(Value::Object(Map::new())))
}

/// `${VAR}` in strings, `$env`, `$file` and `$include` objects. A value naming an unset variable
/// becomes absent, as in Backstage.
fn substitute(
    value: Value,
    env: &BTreeMap<String, String>,
    dir: &Path,
    depth: usize,
) -> Result<Option<Value>, ConfigError> {
    match value {
        Value::String(text) => Ok(substitute_string(&text, env).map(Value::String)),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                if let Some(item) = substitute(item, env, dir, depth)? {
                    out.push(item);
                }
            }
            Ok(Some(Value::Array(out)))
        }
        Value::Object(map) if map.len() == 1 && map.keys().next().is_some_and(|k| k.starts_with('$')) => {
            let (key, argument) = map.into_iter().next().expect("one entry");
            let invalid = |message: String| ConfigError::Invalid { key: key.clone(), message };
            let Some(argument) = argument.as_str() else { return Err(invalid("expects a string".to_owned())) };
            match key.as_str() {
                "$env" => Ok(env.get(argument).cloned().map(Value::String)),
                "$file" => std::fs::read_to_string(dir.join(argument))
                    .map(|text| Some(Value::String(text)))
                    .map_err(|e| invalid(format!("cannot read {argument}: {e}"))),
                "$include" => {
                    if depth > 8 {
                        return Err(invalid("includes nest too deeply".to_owned()));
                    }
                    let (file, fragment) = argument.split_once('#').unwrap_or((argument, ""));
                    let included = read_file(&dir.join(file), env, depth + 1)?;
                    let mut target = &included;
                    for part in fragment.split('.').filter(|p| !p.is_empty()) {
                        target = target.get(part).ok_or_else(|| invalid(format!("{argument}: no key '{part}'")))?;
                    }
                    Ok(Some(target.clone()))
                }
                _ => {
                    let mut map = Map::new();
                    map.insert(key.clone(), Value::String(argument.to_owned()));
                    Ok(Some(Value::Object(map)))
                }
            }
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, item) in map {
                if let Some(item) = substitute(item, env, dir, depth)? {
                    out.insert(key, item);
                }
            }
            Ok(Some(Value::Object(out)))
        }
        other => Ok(Some(other)),
    }
}

/// `${VAR}` replaced by the variable, `$${VAR}` kept literally as `${VAR}`; `None` when a
/// referenced variable is unset.
fn substitute_string(text: &str, env: &BTreeMap<String, String>) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let escaped = start > 0 && rest.as_bytes()[start - 1] == b'$';
        let Some(end) = rest[start..].find('}') else { break };
        let name = rest[start + 2..start + end].trim();
        if escaped {
            out.push_str(&rest[..start - 1]);
            out.push_str(&rest[start..start + end + 1]);
        } else {
            out.push_str(&rest[..start]);
            out.push_str(env.get(name)?);
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// Objects merge key by key; anything else is replaced by the later value.
fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

/// `APP_CONFIG_backend_listen_port=7008` → `backend.listen.port = 7008` (JSON if it parses).
fn env_overrides(env: &BTreeMap<String, String>) -> Result<Vec<(Vec<String>, Value)>, ConfigError> {
    let mut overrides = Vec::new();
    for (name, raw) in env {
        let Some(path) = name.strip_prefix("APP_CONFIG_") else { continue };
        let parts: Vec<String> = path.split('_').map(str::to_owned).collect();
        let valid = parts.iter().all(|p| {
            let mut chars = p.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
        if !valid {
            return Err(ConfigError::Invalid {
                key: name.clone(),
                message: "is not a valid APP_CONFIG_ override name".to_owned(),
            });
        }
        let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.clone()));
        overrides.push((parts, value));
    }
    Ok(overrides)
}

fn set_path(root: &mut Value, path: &[String], value: Value) {
    let mut node = root;
    for part in &path[..path.len() - 1] {
        if !node.get(part).is_some_and(Value::is_object)
            && let Value::Object(map) = node
        {
            map.insert(part.clone(), Value::Object(Map::new()));
        }
        node = node.get_mut(part).expect("just inserted");
    }
    if let Value::Object(map) = node {
        map.insert(path[path.len() - 1].clone(), value);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn merges_files_in_order_substitutes_and_applies_overrides() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), "backend:\n  listen: {host: 0.0.0.0, port: 7007}\n  database: {client: pg, connection: '${DB_URL}'}\nscaffolder: {concurrentTasksLimit: 5, defaultCommitMessage: 'price $${NOT_A_VAR}'}\nlist: [1, 2]\n").unwrap();
        std::fs::write(dir.path().join("b.yaml"), "backend:\n  listen: {port: 8000}\nlist: [3]\ngone: '${UNSET}'\nsecret: {$env: TOKEN}\ncert: {$file: cert.pem}\n").unwrap();
        std::fs::write(dir.path().join("cert.pem"), "PEM").unwrap();
        let sources = ConfigSources {
            files: vec!["a.yaml".into(), "b.yaml".into()],
            cwd: dir.path().to_path_buf(),
            env: env(&[
                ("DB_URL", "postgres://x"),
                ("TOKEN", "t0k"),
                ("APP_CONFIG_scaffolder_concurrentTasksLimit", "9"),
                ("APP_CONFIG_backend_baseUrl", "http://h"),
            ]),
        };
        let (value, found) = load(&sources).unwrap();
        assert!(found);
        assert_eq!(value["backend"]["listen"], json!({"host": "0.0.0.0", "port": 8000}));
        assert_eq!(value["backend"]["database"]["connection"], "postgres://x");
        assert_eq!(value["backend"]["baseUrl"], "http://h");
        assert_eq!(value["scaffolder"]["concurrentTasksLimit"], 9);
        assert_eq!(value["scaffolder"]["defaultCommitMessage"], "price ${NOT_A_VAR}");
        assert_eq!(value["list"], json!([3]));
        assert!(value.get("gone").is_none());
        assert_eq!(value["secret"], "t0k");
        assert_eq!(value["cert"], "PEM");
    }

    #[test]
    fn without_files_nothing_is_found_and_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (value, found) = load(&ConfigSources { cwd: dir.path().to_path_buf(), ..Default::default() }).unwrap();
        assert!(!found);
        assert_eq!(value, json!({}));
        std::fs::write(dir.path().join("app-config.yaml"), "backend: [unclosed\n").unwrap();
        let error = load(&ConfigSources { cwd: dir.path().to_path_buf(), ..Default::default() }).unwrap_err();
        assert!(error.to_string().contains("app-config.yaml"), "{error}");
        let missing = load(&ConfigSources {
            files: vec!["nope.yaml".into()],
            cwd: dir.path().to_path_buf(),
            ..Default::default()
        })
        .unwrap_err();
        assert!(missing.to_string().contains("nope.yaml"));
    }

    #[test]
    fn a_file_must_hold_a_mapping_and_comments_alone_are_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("base.yaml"), "backend: {baseUrl: http://h}\n").unwrap();
        std::fs::write(dir.path().join("comments.yaml"), "# nothing yet\n").unwrap();
        std::fs::write(dir.path().join("list.yaml"), "[1, 2]\n").unwrap();
        std::fs::write(dir.path().join("scalar.yaml"), "just text\n").unwrap();
        let sources = |file: &str| ConfigSources {
            files: vec!["base.yaml".into(), file.into()],
            cwd: dir.path().to_path_buf(),
            env: env(&[("APP_CONFIG_backend_listen_port", "7008")]),
        };
        let (value, _) = load(&sources("comments.yaml")).unwrap();
        assert_eq!(value["backend"], json!({"baseUrl": "http://h", "listen": {"port": 7008}}));
        for file in ["list.yaml", "scalar.yaml"] {
            let error = load(&sources(file)).unwrap_err().to_string();
            assert!(error.contains(file) && error.contains("top level must be a mapping"), "{error}");
        }
    }
}
