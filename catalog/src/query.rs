//! Backstage's entity listing parameters: `filter` (each parameter a comma-separated AND of
//! `key=value` or bare `key` conditions; several parameters are ORed; values compare
//! case-insensitively; an array matches when any item does), `fields` (projection), `order`,
//! `offset` and `limit`.

use serde_json::{Map, Value};

use crate::CatalogError;

/// One `filter` parameter: all of its conditions must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    conditions: Vec<(String, Option<String>)>,
}

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, CatalogError> {
        let mut conditions = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (key, value) = match part.split_once('=') {
                Some((key, value)) => (key.trim(), Some(value.trim().to_lowercase())),
                None => (part, None),
            };
            if key.is_empty() {
                return Err(CatalogError::Input(format!("Invalid filter '{text}': a condition has no key")));
            }
            conditions.push((key.to_lowercase(), value));
        }
        if conditions.is_empty() {
            return Err(CatalogError::Input(format!("Invalid filter '{text}'")));
        }
        Ok(Filter { conditions })
    }

    pub fn matches(&self, entity: &Value) -> bool {
        self.conditions.iter().all(|(key, value)| {
            let found = lookup(entity, key);
            match value {
                None => !found.is_empty(),
                Some(wanted) => found.iter().any(|v| scalar_text(v).is_some_and(|text| text.to_lowercase() == *wanted)),
            }
        })
    }
}

/// The values at a dotted path (case-insensitive keys); arrays are entered.
fn lookup<'a>(entity: &'a Value, key: &str) -> Vec<&'a Value> {
    let mut current = vec![entity];
    for part in split_path(key) {
        let mut next = Vec::new();
        for value in current {
            match value {
                Value::Object(map) => {
                    if let Some(found) = map.iter().find(|(k, _)| k.to_lowercase() == part).map(|(_, v)| v) {
                        next.push(found);
                    }
                }
                Value::Array(items) => {
                    for item in items {
                        if let Value::Object(map) = item
                            && let Some(found) = map.iter().find(|(k, _)| k.to_lowercase() == part).map(|(_, v)| v)
                        {
                            next.push(found);
                        }
                    }
                }
                _ => {}
            }
        }
        current = next;
    }
    current
        .into_iter()
        .flat_map(|v| match v {
            Value::Array(items) => items.iter().collect::<Vec<_>>(),
            other => vec![other],
        })
        .collect()
}

/// `metadata.annotations.backstage.io/x` style keys: the first two parts are structural, the
/// rest (annotations and labels hold dotted keys) is one key.
fn split_path(key: &str) -> Vec<String> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.len() > 2 && parts[0] == "metadata" && (parts[1] == "annotations" || parts[1] == "labels") {
        return vec![parts[0].to_owned(), parts[1].to_owned(), parts[2..].join(".")];
    }
    parts.into_iter().map(str::to_owned).collect()
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Keeps only `fields` (dotted paths) of `entity`.
pub fn project_fields(entity: &Value, fields: &[String]) -> Value {
    let mut out = Map::new();
    for field in fields {
        let parts = split_path(field);
        let mut source = entity;
        let mut found = true;
        for part in &parts {
            match source.get(part.as_str()) {
                Some(next) => source = next,
                None => {
                    found = false;
                    break;
                }
            }
        }
        if !found {
            continue;
        }
        let mut target = &mut out;
        for (i, part) in parts.iter().enumerate() {
            if i + 1 == parts.len() {
                target.insert(part.clone(), source.clone());
            } else {
                let entry = target.entry(part.clone()).or_insert_with(|| Value::Object(Map::new()));
                let Value::Object(inner) = entry else { break };
                target = inner;
            }
        }
    }
    Value::Object(out)
}

/// The parameters of `GET /entities`.
#[derive(Clone, Debug, Default)]
pub struct EntityQuery {
    /// ORed; empty means every entity.
    pub filters: Vec<Filter>,
    pub fields: Vec<String>,
    /// `(field, descending)`.
    pub order: Vec<(String, bool)>,
    pub offset: usize,
    pub limit: Option<usize>,
}

impl EntityQuery {
    /// Filters, orders, pages and projects `entities`; returns the page and the total that
    /// matched.
    pub fn apply(&self, entities: Vec<Value>) -> (Vec<Value>, usize) {
        let mut matched: Vec<Value> = entities
            .into_iter()
            .filter(|e| self.filters.is_empty() || self.filters.iter().any(|f| f.matches(e)))
            .collect();
        if !self.order.is_empty() {
            matched.sort_by(|a, b| {
                for (field, descending) in &self.order {
                    let key = |e: &Value| {
                        lookup(e, &field.to_lowercase()).first().and_then(|v| scalar_text(v)).map(|s| s.to_lowercase())
                    };
                    let ordering = key(a).cmp(&key(b));
                    if ordering != std::cmp::Ordering::Equal {
                        return if *descending { ordering.reverse() } else { ordering };
                    }
                }
                std::cmp::Ordering::Equal
            });
        }
        let total = matched.len();
        let page = matched
            .into_iter()
            .skip(self.offset)
            .take(self.limit.unwrap_or(usize::MAX))
            .map(|e| if self.fields.is_empty() { e } else { project_fields(&e, &self.fields) })
            .collect();
        (page, total)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entity(kind: &str, name: &str, owner: &str, tags: &[&str]) -> Value {
        json!({"apiVersion": "backstage.io/v1alpha1", "kind": kind, "metadata": {"name": name, "namespace": "default", "tags": tags, "annotations": {"backstage.io/techdocs-ref": "dir:."}}, "spec": {"owner": owner, "type": "service"}})
    }

    #[test]
    fn filters_like_backstage() {
        let all = vec![
            entity("Component", "a", "team-a", &["java"]),
            entity("Component", "b", "team-b", &[]),
            entity("Template", "t", "team-a", &[]),
        ];
        let query = |filters: &[&str]| {
            let query = EntityQuery {
                filters: filters.iter().map(|f| Filter::parse(f).unwrap()).collect(),
                ..EntityQuery::default()
            };
            query
                .apply(all.clone())
                .0
                .iter()
                .map(|e| e["metadata"]["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(query(&["kind=component"]), ["a", "b"]);
        assert_eq!(query(&["kind=Component,spec.owner=TEAM-A"]), ["a"]);
        assert_eq!(query(&["kind=template", "metadata.name=b"]), ["b", "t"]);
        assert_eq!(query(&["metadata.tags=java"]), ["a"]);
        assert_eq!(query(&["metadata.annotations.backstage.io/techdocs-ref"]), ["a", "b", "t"]);
        assert_eq!(query(&["spec.lifecycle"]), Vec::<String>::new());
        assert!(Filter::parse(",").is_err());
    }

    #[test]
    fn fields_order_and_pages() {
        let all = vec![entity("Component", "b", "x", &[]), entity("Component", "a", "y", &[])];
        let query = EntityQuery {
            fields: vec!["metadata.name".to_owned(), "kind".to_owned()],
            order: vec![("metadata.name".to_owned(), false)],
            limit: Some(1),
            ..EntityQuery::default()
        };
        let (page, total) = query.apply(all);
        assert_eq!(total, 2);
        assert_eq!(page, vec![json!({"metadata": {"name": "a"}, "kind": "Component"})]);
    }
}
