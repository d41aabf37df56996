//! Nunjucks' tests (`x is string`, `x is divisibleby(3)`, ...), with JavaScript's meaning.

use minijinja::value::ValueKind;
use minijinja::{Environment, Value};

use crate::js;

pub const NAMES: &[&str] = &[
    "callable",
    "defined",
    "divisibleby",
    "escaped",
    "eq",
    "equalto",
    "even",
    "falsy",
    "ge",
    "greaterthan",
    "gt",
    "iterable",
    "le",
    "lessthan",
    "lower",
    "lt",
    "mapping",
    "ne",
    "null",
    "number",
    "odd",
    "sameas",
    "string",
    "truthy",
    "undefined",
    "upper",
];

fn integer(value: &Value) -> Option<f64> {
    (value.kind() == ValueKind::Number).then(|| js::to_number(value)).filter(|n| n.fract() == 0.0)
}

/// Evaluates test `name` on `value`; `None` for an unknown test.
pub(crate) fn evaluate(name: &str, value: &Value, args: &[Value]) -> Option<bool> {
    let other = args.first().cloned().unwrap_or(Value::UNDEFINED);
    Some(match name {
        "defined" => !value.is_undefined(),
        "undefined" => value.is_undefined(),
        "null" | "none" => value.is_none(),
        "string" => value.kind() == ValueKind::String,
        "number" => value.kind() == ValueKind::Number,
        "mapping" => value.kind() == ValueKind::Map,
        "iterable" => matches!(value.kind(), ValueKind::Seq | ValueKind::String | ValueKind::Iterable),
        "callable" => value.kind() == ValueKind::Plain,
        "truthy" => js::truthy(value),
        "falsy" => !js::truthy(value),
        "escaped" => value.is_safe(),
        "odd" => integer(value).is_some_and(|n| n.rem_euclid(2.0) == 1.0),
        "even" => integer(value).is_some_and(|n| n.rem_euclid(2.0) == 0.0),
        "divisibleby" => js::to_number(value) % js::to_number(&other) == 0.0,
        "lower" => value.kind() == ValueKind::String && value.as_str().is_some_and(|s| s.to_lowercase() == s),
        "upper" => value.kind() == ValueKind::String && value.as_str().is_some_and(|s| s.to_uppercase() == s),
        "eq" | "equalto" | "sameas" => js::strict_eq(value, &other),
        "ne" => !js::strict_eq(value, &other),
        "gt" | "greaterthan" => js::relational(">", value, &other),
        "ge" => js::relational(">=", value, &other),
        "lt" | "lessthan" => js::relational("<", value, &other),
        "le" => js::relational("<=", value, &other),
        _ => return None,
    })
}

pub(crate) fn register(env: &mut Environment<'static>) {
    for name in NAMES.iter().copied().chain(["none"]) {
        env.add_test(name, move |value: Value, args: minijinja::value::Rest<Value>| {
            evaluate(name, &value, &args).unwrap_or(false)
        });
    }
}
