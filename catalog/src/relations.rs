//! The relations Backstage's built-in processor derives from an entity's `spec`, and their
//! reverses on the entities they point at (`ownedBy` ↔ `ownerOf`, ...). Served as each entity's
//! `relations: [{type, targetRef}]`.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use templates::EntityRef;

/// (spec field, relation, its reverse, default kind of the target, kinds that carry it).
const RULES: &[(&str, &str, &str, &str, &[&str])] = &[
    ("owner", "ownedBy", "ownerOf", "group", &["component", "api", "resource", "system", "domain", "template"]),
    ("system", "partOf", "hasPart", "system", &["component", "api", "resource"]),
    ("domain", "partOf", "hasPart", "domain", &["system"]),
    ("subcomponentOf", "partOf", "hasPart", "component", &["component"]),
    ("providesApis", "providesApi", "apiProvidedBy", "api", &["component"]),
    ("consumesApis", "consumesApi", "apiConsumedBy", "api", &["component"]),
    ("dependsOn", "dependsOn", "dependencyOf", "component", &["component", "resource"]),
    ("dependencyOf", "dependencyOf", "dependsOn", "component", &["component", "resource"]),
    ("parent", "childOf", "parentOf", "group", &["group"]),
    ("children", "parentOf", "childOf", "group", &["group"]),
    ("members", "hasMember", "memberOf", "user", &["group"]),
    ("memberOf", "memberOf", "hasMember", "group", &["user"]),
];

/// `kind:namespace/name` of an entity, lower-cased.
pub(crate) fn reference_of(entity: &Value) -> String {
    format!(
        "{}:{}/{}",
        entity["kind"].as_str().unwrap_or_default(),
        entity["metadata"]["namespace"].as_str().unwrap_or("default"),
        entity["metadata"]["name"].as_str().unwrap_or_default()
    )
    .to_lowercase()
}

/// The relations an entity declares itself: `(type, target ref)`.
fn outgoing(entity: &Value) -> Vec<(&'static str, String)> {
    let kind = entity["kind"].as_str().unwrap_or_default().to_lowercase();
    let namespace = entity["metadata"]["namespace"].as_str().unwrap_or("default");
    let mut found = Vec::new();
    for (field, relation, _, default_kind, kinds) in RULES {
        if !kinds.contains(&kind.as_str()) {
            continue;
        }
        let values: Vec<&str> = match &entity["spec"][*field] {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => continue,
        };
        for value in values {
            if let Ok(target) = EntityRef::parse(value, Some(default_kind), Some(namespace)) {
                found.push((*relation, target.to_string()));
            }
        }
    }
    found
}

fn reverse_of(relation: &str) -> Option<&'static str> {
    RULES.iter().find(|rule| rule.1 == relation).map(|rule| rule.2)
}

/// Sets `relations` on every entity: what each declares, plus the reverses of what others
/// declare about it (only for entities that exist here).
pub(crate) fn attach(entities: &mut [Value]) {
    let mut incoming: BTreeMap<String, Vec<(&'static str, String)>> = BTreeMap::new();
    let declared: Vec<Vec<(&'static str, String)>> = entities.iter().map(outgoing).collect();
    for (entity, relations) in entities.iter().zip(&declared) {
        let source = reference_of(entity);
        for (relation, target) in relations {
            if let Some(reverse) = reverse_of(relation) {
                incoming.entry(target.clone()).or_default().push((reverse, source.clone()));
            }
        }
    }
    for (entity, relations) in entities.iter_mut().zip(declared) {
        let mut all = relations;
        if let Some(more) = incoming.remove(&reference_of(entity)) {
            for relation in more {
                if !all.contains(&relation) {
                    all.push(relation);
                }
            }
        }
        let list: Vec<Value> =
            all.into_iter().map(|(kind, target)| json!({"type": kind, "targetRef": target})).collect();
        if let Value::Object(map) = entity {
            map.insert("relations".to_owned(), Value::Array(list));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relations_and_their_reverses() {
        let mut entities = vec![
            json!({"kind": "Component", "metadata": {"name": "web", "namespace": "default"}, "spec": {"owner": "user:guest", "system": "shop", "providesApis": ["web-api"]}}),
            json!({"kind": "System", "metadata": {"name": "shop", "namespace": "default"}, "spec": {"owner": "team-a"}}),
            json!({"kind": "Location", "metadata": {"name": "l", "namespace": "default"}, "spec": {"target": "x"}}),
        ];
        attach(&mut entities);
        assert_eq!(
            entities[0]["relations"],
            json!([
                {"type": "ownedBy", "targetRef": "user:default/guest"},
                {"type": "partOf", "targetRef": "system:default/shop"},
                {"type": "providesApi", "targetRef": "api:default/web-api"}
            ])
        );
        assert_eq!(
            entities[1]["relations"],
            json!([{"type": "ownedBy", "targetRef": "group:default/team-a"}, {"type": "hasPart", "targetRef": "component:default/web"}])
        );
        assert_eq!(entities[2]["relations"], json!([]));
    }
}
