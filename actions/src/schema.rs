//! JSON Schemas of action inputs, derived from their Rust types so they cannot drift, and shaped
//! like the draft-07 schemas Backstage publishes (`GET /v2/actions`).

use schemars::JsonSchema;
use serde_json::Value;

/// The draft-07 schema of `T`: subschemas inlined, no titles, no `null` for optional fields.
pub(crate) fn schema_of<T: JsonSchema>() -> Value {
    let mut settings = schemars::generate::SchemaSettings::draft07();
    settings.inline_subschemas = true;
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut value = serde_json::to_value(schema).expect("schemas serialise");
    tidy(&mut value, true);
    value
}

fn tidy(value: &mut Value, root: bool) {
    let Value::Object(map) = value else { return };
    map.shift_remove("title");
    // An optional input is simply absent: Backstage's schemas never admit `null`.
    if let Some(Value::Array(types)) = map.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            map.insert("type".to_owned(), only);
        }
    }
    for keyword in ["anyOf", "oneOf"] {
        if let Some(Value::Array(schemas)) = map.get_mut(keyword) {
            schemas.retain(|schema| schema.get("type").and_then(Value::as_str) != Some("null"));
            // `Option<Union>` leaves a one-armed union behind: lift its arm into this schema.
            if schemas.len() == 1
                && let Some(Value::Object(arm)) =
                    map.shift_remove(keyword).and_then(|mut s| s.as_array_mut().map(|a| a.remove(0)))
            {
                for (key, value) in arm {
                    map.entry(key).or_insert(value);
                }
            }
        }
    }
    // A union of bare types is written as a type list, as zod-to-json-schema does.
    if let Some(Value::Array(arms)) = map.get("anyOf")
        && arms.len() > 1
        && arms
            .iter()
            .all(|arm| arm.as_object().is_some_and(|a| a.len() == 1 && a.get("type").is_some_and(Value::is_string)))
    {
        let types: Vec<Value> = arms.iter().map(|arm| arm["type"].clone()).collect();
        map.shift_remove("anyOf");
        map.insert("type".to_owned(), Value::Array(types));
    }
    // Any value at all: `{}`, as Backstage writes it.
    if map.get("additionalProperties") == Some(&Value::Bool(true)) {
        map.insert("additionalProperties".to_owned(), Value::Object(Default::default()));
    }
    map.shift_remove("definitions");
    // Rust-specific number formats mean nothing to JSON Schema users.
    if let Some(Value::String(format)) = map.get("format")
        && matches!(
            format.as_str(),
            "double"
                | "float"
                | "int"
                | "uint"
                | "int8"
                | "int16"
                | "int32"
                | "int64"
                | "uint8"
                | "uint16"
                | "uint32"
                | "uint64"
        )
    {
        map.shift_remove("format");
    }
    if root && let Some(schema) = map.shift_remove("$schema") {
        map.insert("$schema".to_owned(), schema);
    }
    for (keyword, item) in map.iter_mut() {
        match keyword.as_str() {
            // Maps from names to schemas: the names are data, not keywords.
            "properties" | "patternProperties" => {
                if let Value::Object(properties) = item {
                    properties.values_mut().for_each(|schema| tidy(schema, false));
                }
            }
            "anyOf" | "oneOf" | "allOf" => {
                if let Value::Array(schemas) = item {
                    schemas.iter_mut().for_each(|schema| tidy(schema, false));
                }
            }
            "items" | "additionalProperties" | "not" | "contains" | "propertyNames" | "if" | "then" | "else" => {
                match item {
                    Value::Array(schemas) => schemas.iter_mut().for_each(|schema| tidy(schema, false)),
                    schema => tidy(schema, false),
                }
            }
            _ => {}
        }
    }
}
