//! Checking one catalog document: the envelope every entity needs, and the kind rules.

use serde_json::Value;

use templates::is_valid_entity_name;

use crate::rules::{Rule, allows};

/// Why a document was refused, naming the field.
pub type EntityProblem = String;

/// A document that passed: its identity and its (namespace-completed) body.
pub(crate) struct Checked {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub value: Value,
}

pub(crate) fn check(mut value: Value, rules: Option<&[Rule]>) -> Result<Checked, EntityProblem> {
    let Some(entity) = value.as_object_mut() else { return Err("an entity must be a YAML mapping".to_owned()) };
    let api_version = entity.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    if api_version.is_empty() || !api_version.contains('/') {
        return Err(format!("apiVersion \"{api_version}\" must be a string of the form <group>/<version>"));
    }
    let kind = entity.get("kind").and_then(Value::as_str).unwrap_or_default().to_owned();
    if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!("kind \"{kind}\" must be a non-empty alphanumeric string"));
    }
    if !allows(rules, &kind) {
        return Err(format!("kind {kind} is not allowed by catalog.rules; add it to an `allow` list to load it"));
    }
    let Some(Value::Object(metadata)) = entity.get_mut("metadata") else {
        return Err("metadata must be a mapping".to_owned());
    };
    let name = metadata.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
    if !is_valid_entity_name(&name) {
        return Err(format!("metadata.name \"{name}\" must be 1-63 characters of [a-zA-Z0-9] separated by [-_.]"));
    }
    let namespace = match metadata.get("namespace") {
        None => "default".to_owned(),
        Some(Value::String(namespace)) if is_valid_entity_name(namespace) => namespace.clone(),
        Some(other) => return Err(format!("metadata.namespace {other} is not a valid namespace")),
    };
    // Backstage stores the namespace first, so echoed metadata reads the same.
    let mut ordered = serde_json::Map::new();
    ordered.insert("namespace".to_owned(), Value::String(namespace.clone()));
    for (key, item) in std::mem::take(metadata) {
        if key != "namespace" {
            ordered.insert(key, item);
        }
    }
    *metadata = ordered;
    Ok(Checked { kind, namespace, name, value })
}
