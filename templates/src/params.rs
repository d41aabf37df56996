//! Validating a submission's `values` against the template's parameter pages.
//!
//! Backstage validates the whole `values` object against each page's schema in turn and answers
//! with the errors of the first failing page, in the shape of the `jsonschema` npm package's
//! `ValidationError` (`path`, `property`, `message`, `schema`, `instance`, `name`, `argument`,
//! `stack`). The Backstage frontend shows those messages, so they are reproduced here.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use serde::Serialize;
use serde_json::{Value, json};

/// One validation failure, serialised exactly as Backstage sends it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ParameterError {
    pub path: Vec<Value>,
    pub property: String,
    pub message: String,
    pub schema: Value,
    pub instance: Value,
    pub name: String,
    pub argument: Value,
    pub stack: String,
}

/// Validates `values` against each schema in `pages`; returns the errors of the first page that
/// fails. A page whose schema itself is broken fails with a single `schema` error naming it.
pub fn validate_values(pages: &[&Value], values: &Value) -> Result<(), Vec<ParameterError>> {
    for (index, page) in pages.iter().enumerate() {
        let errors = validate_page(page, values, index);
        if !errors.is_empty() {
            return Err(errors);
        }
    }
    Ok(())
}

/// Validates `instance` against one parameter page.
fn validate_page(schema: &Value, instance: &Value, index: usize) -> Vec<ParameterError> {
    match SchemaValidator::compile(schema) {
        Ok(validator) => validator.errors(instance),
        Err(error) => {
            let message = format!("parameter page {} has an invalid JSON Schema: {error}", index + 1);
            vec![ParameterError {
                path: Vec::new(),
                property: "instance".to_owned(),
                stack: format!("instance {message}"),
                message,
                schema: schema.clone(),
                instance: instance.clone(),
                name: "schema".to_owned(),
                argument: Value::Null,
            }]
        }
    }
}

/// A compiled draft-07 schema that reports errors the way Backstage does. Compile once, reuse.
pub struct SchemaValidator {
    schema: Value,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for SchemaValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaValidator").field("schema", &self.schema).finish_non_exhaustive()
    }
}

impl SchemaValidator {
    /// Compiles `schema`; external `$ref`s are never fetched.
    pub fn compile(schema: &Value) -> Result<Self, String> {
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .should_validate_formats(true)
            .build(schema)
            .map_err(|e| e.to_string())?;
        Ok(SchemaValidator { schema: schema.clone(), validator })
    }

    pub fn is_valid(&self, instance: &Value) -> bool {
        self.validator.is_valid(instance)
    }

    /// Every error, in the npm `jsonschema` package's shape.
    pub fn errors(&self, instance: &Value) -> Vec<ParameterError> {
        let schema = &self.schema;
        self.validator
            .iter_errors(instance)
            .map(|error| {
                let path: Vec<Value> = error
                    .instance_path()
                    .iter()
                    .map(|segment| match segment {
                        LocationSegment::Property(name) => Value::String(name.into_owned()),
                        LocationSegment::Index(i) => json!(i),
                    })
                    .collect();
                let property = property_name(&path);
                let (name, message, argument) = describe(error.kind());
                // The schema the failing keyword belongs to: the schema path without its keyword.
                let parent = keyword_parent(error.schema_path().as_str(), error.kind());
                let sub_schema = schema.pointer(&parent).cloned().unwrap_or_else(|| schema.clone());
                ParameterError {
                    stack: format!("{property} {message}"),
                    path,
                    property,
                    message,
                    schema: sub_schema,
                    instance: error.instance().clone().into_owned(),
                    name,
                    argument,
                }
            })
            .collect()
    }
}

/// `instance.a.b[0]`, quoting names that are not identifiers as the npm package does.
fn property_name(path: &[Value]) -> String {
    let mut out = String::from("instance");
    for segment in path {
        match segment {
            Value::String(name) if is_identifier(name) => {
                out.push('.');
                out.push_str(name);
            }
            Value::String(name) => {
                out.push('[');
                out.push_str(&Value::String(name.clone()).to_string());
                out.push(']');
            }
            other => {
                out.push('[');
                out.push_str(&other.to_string());
                out.push(']');
            }
        }
    }
    out
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

fn keyword_parent(pointer: &str, kind: &ValidationErrorKind) -> String {
    let trimmed = match pointer.rsplit_once('/') {
        Some((parent, _)) => parent,
        None => "",
    };
    // `required` errors point at the keyword's array item in some engines: step back once more.
    if matches!(kind, ValidationErrorKind::Required { .. }) && trimmed.ends_with("/required") {
        return trimmed.trim_end_matches("/required").to_owned();
    }
    trimmed.to_owned()
}

fn type_name(kind: &TypeKind) -> String {
    match kind {
        TypeKind::Single(t) => t.to_string(),
        TypeKind::Multiple(types) => types.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(","),
    }
}

fn type_argument(kind: &TypeKind) -> Value {
    match kind {
        TypeKind::Single(t) => json!([t.to_string()]),
        TypeKind::Multiple(types) => Value::Array(types.iter().map(|t| Value::String(t.to_string())).collect()),
    }
}

/// Keyword name, message and argument, worded as the `jsonschema` npm package words them.
fn describe(kind: &ValidationErrorKind) -> (String, String, Value) {
    use ValidationErrorKind as K;
    let (name, message, argument) = match kind {
        K::Required { property } => {
            let name = property.as_str().map(str::to_owned).unwrap_or_else(|| property.to_string());
            ("required", format!("requires property \"{name}\""), Value::String(name))
        }
        K::Type { kind } => ("type", format!("is not of a type(s) {}", type_name(kind)), type_argument(kind)),
        K::Pattern { pattern } => {
            ("pattern", format!("does not match pattern \"{pattern}\""), Value::String(pattern.clone()))
        }
        K::Minimum { limit } => ("minimum", format!("must be greater than or equal to {limit}"), limit.clone()),
        K::Maximum { limit } => ("maximum", format!("must be less than or equal to {limit}"), limit.clone()),
        K::ExclusiveMinimum { limit } => ("exclusiveMinimum", format!("must be greater than {limit}"), limit.clone()),
        K::ExclusiveMaximum { limit } => ("exclusiveMaximum", format!("must be less than {limit}"), limit.clone()),
        K::MinLength { limit } => ("minLength", format!("does not meet minimum length of {limit}"), json!(limit)),
        K::MaxLength { limit } => ("maxLength", format!("does not meet maximum length of {limit}"), json!(limit)),
        K::MinItems { limit } => ("minItems", format!("does not meet minimum length of {limit}"), json!(limit)),
        K::MaxItems { limit } => ("maxItems", format!("does not meet maximum length of {limit}"), json!(limit)),
        K::MinProperties { limit } => {
            ("minProperties", format!("does not meet minimum property length of {limit}"), json!(limit))
        }
        K::MaxProperties { limit } => {
            ("maxProperties", format!("does not meet maximum property length of {limit}"), json!(limit))
        }
        K::Enum { options } => {
            let listed = options
                .as_array()
                .map(|items| items.iter().map(js_string).collect::<Vec<_>>().join(","))
                .unwrap_or_default();
            ("enum", format!("is not one of enum values: {listed}"), (**options).clone())
        }
        K::Constant { expected_value } => (
            "const",
            format!("does not exactly match expected constant: {}", js_string(expected_value)),
            (**expected_value).clone(),
        ),
        K::Format { format } => {
            ("format", format!("does not conform to the \"{format}\" format"), Value::String(format.clone()))
        }
        K::AdditionalProperties { unexpected } => {
            let first = unexpected.first().cloned().unwrap_or_default();
            (
                "additionalProperties",
                format!("is not allowed to have the additional property \"{first}\""),
                Value::String(first),
            )
        }
        K::UniqueItems => ("uniqueItems", "contains duplicate item".to_owned(), Value::Null),
        K::MultipleOf { multiple_of, .. } => {
            ("multipleOf", format!("is not a multiple of (divisible by) {multiple_of}"), json!(multiple_of))
        }
        K::AnyOf { .. } => ("anyOf", "is not any of the allowed schemas".to_owned(), Value::Null),
        K::OneOfNotValid { .. } => ("oneOf", "is not exactly one from the allowed schemas".to_owned(), Value::Null),
        K::OneOfMultipleValid { .. } => {
            ("oneOf", "is valid against more than one of the allowed schemas".to_owned(), Value::Null)
        }
        K::Not { schema } => ("not", format!("is of prohibited type {schema}"), schema.clone()),
        K::FalseSchema => ("not", "is not allowed".to_owned(), Value::Null),
        K::Contains => ("contains", "does not contain an item matching the schema".to_owned(), Value::Null),
        other => ("schema", other_message(other), Value::Null),
    };
    (name.to_owned(), message, argument)
}

fn other_message(kind: &ValidationErrorKind) -> String {
    format!("{kind:?}").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// How JavaScript's `String(x)` prints a JSON value.
fn js_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_owned(),
        Value::Array(items) => items.iter().map(js_string).collect::<Vec<_>>().join(","),
        Value::Object(_) => "[object Object]".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(yaml: &str) -> Value {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn required_error_matches_backstage() {
        let schema = page("title: Basics\nrequired: [name]\nproperties:\n  name: {title: Name, type: string}\n");
        let errors = validate_values(&[&schema], &json!({"owner": "x"})).unwrap_err();
        let got = serde_json::to_value(&errors).unwrap();
        assert_eq!(
            got,
            json!([{
                "path": [], "property": "instance", "message": "requires property \"name\"",
                "schema": schema, "instance": {"owner": "x"}, "name": "required", "argument": "name",
                "stack": "instance requires property \"name\""
            }])
        );
    }

    #[test]
    fn pattern_and_minimum_on_the_first_failing_page_only() {
        let first = page(
            "required: [name]\nproperties:\n  name: {type: string, pattern: '^[a-z]+$'}\n  port: {type: integer, minimum: 1024}\n",
        );
        let second = page("required: [owner]\n");
        let errors = validate_values(&[&first, &second], &json!({"name": "Bad!", "port": 80})).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].property, "instance.name");
        assert_eq!(errors[0].message, "does not match pattern \"^[a-z]+$\"");
        assert_eq!(errors[0].schema, json!({"type": "string", "pattern": "^[a-z]+$"}));
        assert_eq!(errors[1].stack, "instance.port must be greater than or equal to 1024");
        assert_eq!(errors[1].argument, json!(1024));
        assert_eq!(errors[1].path, vec![json!("port")]);
    }

    #[test]
    fn messages_for_common_keywords() {
        let schema = page(
            "properties:\n  kind: {enum: [a, b]}\n  tags: {type: array, minItems: 1}\n  'odd-name': {type: string}\n  list: {type: array, items: {type: string}}\n",
        );
        let errors = validate_values(&[&schema], &json!({"kind": "c", "tags": [], "odd-name": 3, "list": ["x", 2]}))
            .unwrap_err();
        let stacks: Vec<&str> = errors.iter().map(|e| e.stack.as_str()).collect();
        assert!(stacks.contains(&"instance.kind is not one of enum values: a,b"), "{stacks:?}");
        assert!(stacks.contains(&"instance.tags does not meet minimum length of 1"), "{stacks:?}");
        assert!(stacks.contains(&"instance[\"odd-name\"] is not of a type(s) string"), "{stacks:?}");
        assert!(stacks.contains(&"instance.list[1] is not of a type(s) string"), "{stacks:?}");
    }

    #[test]
    fn broken_schema_is_reported_not_panicked() {
        let schema = json!({"properties": {"x": {"type": "strang"}}});
        let errors = validate_values(&[&schema], &json!({})).unwrap_err();
        assert_eq!(errors[0].name, "schema");
        assert!(errors[0].message.contains("parameter page 1"));
    }
}
