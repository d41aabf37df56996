//! The helpers translated templates call (`__nj_*`): JavaScript's operators, truthiness,
//! `.length`, object iteration and regular expressions.

use std::sync::Arc;

use minijinja::value::{Object, ObjectRepr, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Value};

use crate::{budget, js};

/// A regular expression literal (`r/…/flags`). Matching uses a linear-time engine, so a hostile
/// pattern cannot stall a render; JavaScript features it lacks (look-around, back-references)
/// are refused with a clear error.
#[derive(Debug)]
pub(crate) struct JsRegex {
    pub regex: regex::Regex,
    pub global: bool,
    pub source: String,
    pub flags: String,
}

impl Object for JsRegex {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/{}/{}", self.source, self.flags)
    }
}

impl JsRegex {
    pub(crate) fn compile(source: &str, flags: &str) -> Result<JsRegex, Error> {
        let mut builder = regex::RegexBuilder::new(source);
        for flag in flags.chars() {
            match flag {
                'i' => {
                    builder.case_insensitive(true);
                }
                'm' => {
                    builder.multi_line(true);
                }
                's' => {
                    builder.dot_matches_new_line(true);
                }
                'g' | 'u' => {}
                other => {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!("unsupported regular expression flag '{other}'"),
                    ));
                }
            }
        }
        builder.size_limit(1 << 20);
        let regex = builder.build().map_err(|e| {
            Error::new(ErrorKind::InvalidOperation, format!("invalid regular expression /{source}/: {e}"))
        })?;
        Ok(JsRegex { regex, global: flags.contains('g'), source: source.to_owned(), flags: flags.to_owned() })
    }
}

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_function("__nj_truthy", |v: Value| js::truthy(&v));
    env.add_function("__nj_eq", |a: Value, b: Value| js::loose_eq(&a, &b));
    env.add_function("__nj_ne", |a: Value, b: Value| !js::loose_eq(&a, &b));
    env.add_function("__nj_strict_eq", |a: Value, b: Value| js::strict_eq(&a, &b));
    env.add_function("__nj_strict_ne", |a: Value, b: Value| !js::strict_eq(&a, &b));
    env.add_function("__nj_lt", |a: Value, b: Value| js::relational("<", &a, &b));
    env.add_function("__nj_gt", |a: Value, b: Value| js::relational(">", &a, &b));
    env.add_function("__nj_le", |a: Value, b: Value| js::relational("<=", &a, &b));
    env.add_function("__nj_ge", |a: Value, b: Value| js::relational(">=", &a, &b));
    env.add_function("__nj_add", |a: Value, b: Value| budget::charged(js::add(&a, &b)));
    // Nunjucks' `~`, as minijinja's own operator concatenates, but charged.
    env.add_function("__nj_concat", |a: Value, b: Value| budget::charged(Value::from(format!("{a}{b}"))));
    env.add_function("__nj_sub", |a: Value, b: Value| arithmetic(&a, &b, |x, y| x.checked_sub(y), |x, y| x - y));
    env.add_function("__nj_mul", |a: Value, b: Value| arithmetic(&a, &b, |x, y| x.checked_mul(y), |x, y| x * y));
    env.add_function("__nj_div", |a: Value, b: Value| js::from_number(js::to_number(&a) / js::to_number(&b)));
    env.add_function("__nj_floordiv", |a: Value, b: Value| {
        js::from_number((js::to_number(&a) / js::to_number(&b)).floor())
    });
    // JavaScript's remainder keeps the dividend's sign.
    env.add_function("__nj_mod", |a: Value, b: Value| arithmetic(&a, &b, |x, y| x.checked_rem(y), |x, y| x % y));
    env.add_function("__nj_pow", |a: Value, b: Value| js::from_number(js::to_number(&a).powf(js::to_number(&b))));
    // i64::MIN has no negation in i64 (found by fuzzing): a double holds it, as in JavaScript.
    env.add_function("__nj_neg", |a: Value| match a.as_i64().and_then(i64::checked_neg) {
        Some(negated) if a.kind() == ValueKind::Number => Value::from(negated),
        _ => js::from_number(-js::to_number(&a)),
    });
    env.add_function("__nj_number", |a: Value| js::from_number(js::to_number(&a)));
    env.add_function("__nj_length", length_attribute);
    env.add_function("__nj_pairs", pairs);
    env.add_function("__nj_iterable", iterable);
    env.add_function("__nj_regex", |source: String, flags: String| {
        Ok::<_, Error>(Value::from_object(JsRegex::compile(&source, &flags)?))
    });
}

/// Integer arithmetic while it fits, JavaScript's doubles otherwise (and for any coercion).
fn arithmetic(a: &Value, b: &Value, int: fn(i64, i64) -> Option<i64>, float: fn(f64, f64) -> f64) -> Value {
    if a.kind() == ValueKind::Number
        && b.kind() == ValueKind::Number
        && let (Some(x), Some(y)) = (a.as_i64(), b.as_i64())
        && let Some(result) = int(x, y)
    {
        return Value::from(result);
    }
    js::from_number(float(js::to_number(a), js::to_number(b)))
}

/// `x.length`: an object's own `length`, a string's UTF-16 length, an array's length.
fn length_attribute(value: Value) -> Value {
    match value.kind() {
        ValueKind::String => Value::from(js::utf16_len(value.as_str().unwrap_or_default())),
        ValueKind::Seq => Value::from(value.len().unwrap_or(0)),
        ValueKind::Map => value.get_attr("length").unwrap_or(Value::UNDEFINED),
        _ => Value::UNDEFINED,
    }
}

/// `for k, v in x`: entries of an object; arrays (of pairs) as they are.
fn pairs(value: Value) -> Result<Value, Error> {
    match value.kind() {
        ValueKind::Map => {
            let mut entries = Vec::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                entries.push(Value::from(vec![key, item]));
            }
            Ok(Value::from(entries))
        }
        ValueKind::Undefined | ValueKind::None => Ok(Value::from(Vec::<Value>::new())),
        _ => Ok(value),
    }
}

/// `for x in y`: Nunjucks loops over arrays and strings; anything else has no items.
fn iterable(value: Value) -> Value {
    match value.kind() {
        ValueKind::Seq | ValueKind::String | ValueKind::Iterable => value,
        _ => Value::from(Vec::<Value>::new()),
    }
}
