//! JavaScript's value semantics, which Backstage's templates assume: how values print, loose and
//! strict equality, relational comparison with coercion, `+` that concatenates as soon as a string
//! is involved, `JSON.stringify`, truthiness, and string lengths in UTF-16 units.

use minijinja::Value;
use minijinja::value::ValueKind;
use serde_json::Value as Json;

/// `String(value)` as a template prints it: undefined and null print nothing, arrays join their
/// items with commas, objects print `[object Object]`, numbers as JavaScript prints them.
pub fn display(value: &Value) -> String {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => String::new(),
        ValueKind::Bool => value.is_true().to_string(),
        ValueKind::Number => number_text(value),
        ValueKind::String | ValueKind::Bytes => value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string()),
        ValueKind::Seq | ValueKind::Iterable => match value.try_iter() {
            Ok(items) => items.map(|item| element_display(&item)).collect::<Vec<_>>().join(","),
            Err(_) => value.to_string(),
        },
        ValueKind::Map => "[object Object]".to_owned(),
        _ => value.to_string(),
    }
}

/// Array items print like `String()`, except that null and undefined items print as nothing.
fn element_display(value: &Value) -> String {
    display(value)
}

fn number_text(value: &Value) -> String {
    if let Some(i) = value.as_i64() {
        return i.to_string();
    }
    match f64::try_from(value.clone()) {
        Ok(f) => number(f),
        Err(_) => value.to_string(),
    }
}

/// JavaScript's `Number.prototype.toString()`.
pub fn number(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if f == 0.0 {
        return "0".to_owned();
    }
    let abs = f.abs();
    if !(1e-6..1e21).contains(&abs) {
        // Exponent form: shortest digits, `e+` for positive exponents as JavaScript writes them.
        let text = format!("{f:e}");
        return match text.split_once('e') {
            Some((mantissa, exponent)) if !exponent.starts_with('-') => format!("{mantissa}e+{exponent}"),
            _ => text,
        };
    }
    if f.fract() == 0.0 {
        return format!("{f:.0}");
    }
    f.to_string()
}

/// Numeric value of a template value as JavaScript's `Number()` would give it.
pub fn to_number(value: &Value) -> f64 {
    match value.kind() {
        ValueKind::Undefined => f64::NAN,
        ValueKind::None => 0.0,
        ValueKind::Bool => {
            if value.is_true() {
                1.0
            } else {
                0.0
            }
        }
        ValueKind::Number => {
            value.as_i64().map(|i| i as f64).or_else(|| f64::try_from(value.clone()).ok()).unwrap_or(f64::NAN)
        }
        ValueKind::String => string_to_number(value.as_str().unwrap_or_default()),
        ValueKind::Seq => match value.len() {
            Some(0) => 0.0,
            Some(1) => to_number(&value.get_item_by_index(0).unwrap_or_default()),
            _ => f64::NAN,
        },
        _ => f64::NAN,
    }
}

fn string_to_number(text: &str) -> f64 {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return 0.0;
    }
    if let Some(hex) = trimmed.strip_prefix("0x").or_else(|| trimmed.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).map(|n| n as f64).unwrap_or(f64::NAN);
    }
    match trimmed {
        "Infinity" | "+Infinity" => f64::INFINITY,
        "-Infinity" => f64::NEG_INFINITY,
        _ if trimmed.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-')) => {
            trimmed.parse().unwrap_or(f64::NAN)
        }
        _ => f64::NAN,
    }
}

/// A template value from an `f64`, kept an integer when it is one.
pub fn from_number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 { Value::from(f as i64) } else { Value::from(f) }
}

fn is_primitive(value: &Value) -> bool {
    matches!(
        value.kind(),
        ValueKind::Undefined | ValueKind::None | ValueKind::Bool | ValueKind::Number | ValueKind::String
    )
}

/// `ToPrimitive` for arrays and objects: their string form.
fn to_primitive(value: &Value) -> Value {
    if is_primitive(value) { value.clone() } else { Value::from(display(value)) }
}

/// `a == b` (abstract equality).
pub fn loose_eq(a: &Value, b: &Value) -> bool {
    use ValueKind as K;
    match (a.kind(), b.kind()) {
        (K::Undefined | K::None, K::Undefined | K::None) => true,
        (K::Undefined | K::None, _) | (_, K::Undefined | K::None) => false,
        (K::String, K::String) => a.as_str() == b.as_str(),
        (K::Number, K::Number) => to_number(a) == to_number(b),
        (K::Bool, _) => loose_eq(&Value::from(to_number(a) as i64), b),
        (_, K::Bool) => loose_eq(a, &Value::from(to_number(b) as i64)),
        (K::Number, K::String) | (K::String, K::Number) => to_number(a) == to_number(b),
        (K::Seq | K::Map, K::Seq | K::Map) => a == b,
        (K::Seq | K::Map, _) => loose_eq(&to_primitive(a), b),
        (_, K::Seq | K::Map) => loose_eq(a, &to_primitive(b)),
        _ => a == b,
    }
}

/// `a === b` (strict equality; arrays and objects compare by content here, as values are
/// immutable in templates).
pub fn strict_eq(a: &Value, b: &Value) -> bool {
    use ValueKind as K;
    match (a.kind(), b.kind()) {
        (K::Undefined, K::Undefined) | (K::None, K::None) => true,
        (K::Number, K::Number) => to_number(a) == to_number(b),
        (x, y) if x == y => a == b,
        _ => false,
    }
}

/// `<`, `>`, `<=`, `>=` with JavaScript's coercions: two strings compare by UTF-16 code units,
/// anything else as numbers (so anything compared with `undefined` is false).
pub fn relational(op: &str, a: &Value, b: &Value) -> bool {
    let (a, b) = (to_primitive(a), to_primitive(b));
    if let (Some(x), Some(y)) = (a.as_str(), b.as_str())
        && a.kind() == ValueKind::String
        && b.kind() == ValueKind::String
    {
        let (x, y): (Vec<u16>, Vec<u16>) = (x.encode_utf16().collect(), y.encode_utf16().collect());
        return match op {
            "<" => x < y,
            ">" => x > y,
            "<=" => x <= y,
            _ => x >= y,
        };
    }
    let (x, y) = (to_number(&a), to_number(&b));
    match op {
        "<" => x < y,
        ">" => x > y,
        "<=" => x <= y,
        _ => x >= y,
    }
}

/// `a + b`: string concatenation when either side is (or becomes) a string, else addition.
pub fn add(a: &Value, b: &Value) -> Value {
    let (pa, pb) = (to_primitive(a), to_primitive(b));
    if pa.kind() == ValueKind::String || pb.kind() == ValueKind::String {
        return Value::from(format!("{}{}", display(&pa), display(&pb)));
    }
    if let (Some(x), Some(y)) = (pa.as_i64(), pb.as_i64())
        && let Some(sum) = x.checked_add(y)
    {
        return Value::from(sum);
    }
    from_number(to_number(&pa) + to_number(&pb))
}

/// JavaScript truthiness (an empty array or object is true).
pub fn truthy(value: &Value) -> bool {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => false,
        ValueKind::Bool => value.is_true(),
        ValueKind::Number => {
            let n = to_number(value);
            n != 0.0 && !n.is_nan()
        }
        ValueKind::String => !value.as_str().unwrap_or_default().is_empty(),
        _ => true,
    }
}

/// Length in UTF-16 code units, as JavaScript's `String.length`.
pub fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// A template value as JSON (undefined has no JSON form).
pub fn to_json(value: &Value) -> Option<Json> {
    if value.is_undefined() {
        return None;
    }
    serde_json::to_value(value).ok()
}

pub fn from_json(value: &Json) -> Value {
    Value::from(minijinja::value::Serde(value))
}

/// `JSON.stringify(value, null, indent)`: numbers as JavaScript writes them, no escaping of `<`
/// or `&`, `undefined` for undefined.
pub fn stringify(value: &Value, indent: usize) -> Option<String> {
    let json = to_json(value)?;
    let mut out = String::new();
    write_json(&json, indent, 0, &mut out);
    Some(out)
}

fn write_json(value: &Json, indent: usize, depth: usize, out: &mut String) {
    let newline = |out: &mut String, depth: usize| {
        if indent > 0 {
            out.push('\n');
            out.push_str(&" ".repeat(indent * depth));
        }
    };
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (_, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) if f.is_finite() => out.push_str(&number(f)),
            _ => out.push_str("null"),
        },
        Json::String(s) => out.push_str(&Json::String(s.clone()).to_string()),
        Json::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write_json(item, indent, depth + 1, out);
            }
            newline(out, depth);
            out.push(']');
        }
        Json::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                out.push_str(&Json::String(key.clone()).to_string());
                out.push(':');
                if indent > 0 {
                    out.push(' ');
                }
                write_json(item, indent, depth + 1, out);
            }
            newline(out, depth);
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn v(json: Json) -> Value {
        from_json(&json)
    }

    #[test]
    fn printing_like_javascript() {
        let cases = [
            (json!(null), ""),
            (json!(true), "true"),
            (json!(3), "3"),
            (json!(2.0), "2"),
            (json!(0.25), "0.25"),
            (json!(1e21), "1e+21"),
            (json!(1.5e-7), "1.5e-7"),
            (json!([1, "a", [2, 3], null]), "1,a,2,3,"),
            (json!({"a": 1}), "[object Object]"),
            (json!("text"), "text"),
        ];
        for (input, expected) in cases {
            assert_eq!(display(&v(input.clone())), expected, "{input}");
        }
        assert_eq!(display(&Value::UNDEFINED), "");
        assert_eq!(number(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(number(-0.0), "0");
    }

    #[test]
    fn equality_and_comparison() {
        assert!(loose_eq(&v(json!(3)), &v(json!("3"))));
        assert!(!strict_eq(&v(json!(3)), &v(json!("3"))));
        assert!(loose_eq(&Value::UNDEFINED, &v(json!(null))));
        assert!(!strict_eq(&Value::UNDEFINED, &v(json!(null))));
        assert!(loose_eq(&v(json!(true)), &v(json!(1))));
        assert!(loose_eq(&v(json!("")), &v(json!(0))));
        assert!(loose_eq(&v(json!([1, 2])), &v(json!("1,2"))));
        assert!(strict_eq(&v(json!(3)), &v(json!(3.0))));
        assert!(!relational("<", &v(json!("10")), &v(json!(9))));
        assert!(relational("<", &v(json!("10")), &v(json!("9"))));
        assert!(!relational(">", &Value::UNDEFINED, &v(json!(0))));
        assert!(relational(">=", &v(json!(null)), &v(json!(0))));
    }

    #[test]
    fn plus_concatenates_or_adds() {
        assert_eq!(add(&v(json!("a")), &v(json!(1))), Value::from("a1"));
        assert_eq!(add(&v(json!(1)), &v(json!(2))), Value::from(3));
        assert_eq!(add(&v(json!(1.5)), &v(json!(2))), Value::from(3.5));
        assert_eq!(add(&v(json!([1, 2])), &v(json!("x"))), Value::from("1,2x"));
        assert_eq!(display(&add(&Value::UNDEFINED, &v(json!(1)))), "NaN");
        assert_eq!(add(&v(json!(true)), &v(json!(1))), Value::from(2));
    }

    #[test]
    fn stringify_like_json_stringify() {
        assert_eq!(
            stringify(&v(json!({"a": [1, 2.0, "x<y"], "b": null})), 0).unwrap(),
            r#"{"a":[1,2,"x<y"],"b":null}"#
        );
        assert_eq!(stringify(&v(json!({"a": [1], "b": {}})), 2).unwrap(), "{\n  \"a\": [\n    1\n  ],\n  \"b\": {}\n}");
        assert_eq!(stringify(&Value::UNDEFINED, 0), None);
        assert_eq!(utf16_len("a😀é"), 4);
    }
}
