//! Methods called on values (`name.split(",")`, `tags.includes("x")`, `n.toFixed(2)`): the closed
//! allow-list of JavaScript's string, number and array methods Backstage permits, plus the Jinja
//! compatibility methods on lists and dicts. Nothing else is callable.

use minijinja::value::ValueKind;
use minijinja::{Error, ErrorKind, State, Value};

use crate::budget::{self, ITEM};
use crate::filters::{js_replacement_to_rust, regex_replace};
use crate::js;
use crate::runtime::JsRegex;

fn error(message: String) -> Error {
    Error::new(ErrorKind::UnknownMethod, message)
}

fn arg(args: &[Value], i: usize) -> Value {
    args.get(i).cloned().unwrap_or(Value::UNDEFINED)
}

/// JavaScript index arithmetic: negative counts from the end; the result is clamped.
fn index(value: &Value, len: usize, default: usize) -> usize {
    if value.is_undefined() {
        return default;
    }
    let n = js::to_number(value);
    let n = if n.is_nan() { 0.0 } else { n.trunc() };
    if n < 0.0 { (len as f64 + n).max(0.0) as usize } else { (n as usize).min(len) }
}

/// Every result is charged against the render's budget; methods whose result can be far larger
/// than their inputs check that it fits before building it.
pub(crate) fn call(_state: &mut State, value: &Value, name: &str, args: &[Value]) -> Result<Value, Error> {
    let result = match value.kind() {
        ValueKind::String => string_method(value.as_str().unwrap_or_default(), name, args),
        ValueKind::Number => number_method(value, name, args),
        ValueKind::Seq => array_method(value, name, args),
        ValueKind::Map => map_method(value, name, args),
        ValueKind::Undefined => Err(error(format!("Cannot read properties of undefined (reading '{name}')"))),
        ValueKind::None => Err(error(format!("Cannot read properties of null (reading '{name}')"))),
        _ => Err(error(format!("{name} is not a function"))),
    };
    budget::charged(result?)
}

fn string_method(text: &str, name: &str, args: &[Value]) -> Result<Value, Error> {
    let units: Vec<u16> = text.encode_utf16().collect();
    let len = units.len();
    let slice = |start: usize, end: usize| {
        Value::from(String::from_utf16_lossy(&units[start.min(end)..end.max(start).min(len)]))
    };
    let a0 = arg(args, 0);
    let needle = js::display(&a0);
    Ok(match name {
        "toLowerCase" | "toLocaleLowerCase" | "lower" => Value::from(text.to_lowercase()),
        "toUpperCase" | "toLocaleUpperCase" | "upper" => Value::from(text.to_uppercase()),
        "trim" | "strip" => Value::from(text.trim()),
        "trimStart" | "trimLeft" | "lstrip" => Value::from(text.trim_start()),
        "trimEnd" | "trimRight" | "rstrip" => Value::from(text.trim_end()),
        "toString" | "valueOf" => Value::from(text),
        "includes" => Value::from(text.contains(&needle)),
        "startsWith" | "startswith" => Value::from(text.starts_with(&needle)),
        "endsWith" | "endswith" => Value::from(text.ends_with(&needle)),
        "indexOf" | "find" => Value::from(text.find(&needle).map_or(-1, |b| js::utf16_len(&text[..b]) as i64)),
        "lastIndexOf" | "rfind" => Value::from(text.rfind(&needle).map_or(-1, |b| js::utf16_len(&text[..b]) as i64)),
        "charAt" => {
            let i = index(&a0, len, 0);
            if i < len { slice(i, i + 1) } else { Value::from("") }
        }
        "charCodeAt" => {
            let i = index(&a0, len, 0);
            units.get(i).map_or(js::from_number(f64::NAN), |u| Value::from(*u))
        }
        "at" => {
            let n = js::to_number(&a0).trunc();
            let i = if n < 0.0 { len as f64 + n } else { n };
            if i >= 0.0 && (i as usize) < len { slice(i as usize, i as usize + 1) } else { Value::UNDEFINED }
        }
        "concat" => {
            let mut out = budget::Text::default();
            out.push(text)?;
            for extra in args {
                out.push(&js::display(extra))?;
            }
            out.into_value()
        }
        "slice" => slice(index(&a0, len, 0), index(&arg(args, 1), len, len)),
        "substring" => {
            let clamp = |v: &Value, default: usize| {
                if v.is_undefined() { default } else { (js::to_number(v).max(0.0) as usize).min(len) }
            };
            let (a, b) = (clamp(&a0, 0), clamp(&arg(args, 1), len));
            slice(a.min(b), a.max(b))
        }
        "substr" => {
            let start = index(&a0, len, 0);
            let count = if arg(args, 1).is_undefined() { len } else { js::to_number(&arg(args, 1)).max(0.0) as usize };
            slice(start, start.saturating_add(count).min(len))
        }
        "padStart" | "padEnd" => {
            let target = js::to_number(&a0).max(0.0) as usize;
            let fill = if arg(args, 1).is_undefined() { " ".to_owned() } else { js::display(&arg(args, 1)) };
            if target <= len || fill.is_empty() || target > 100_000 {
                return Ok(Value::from(text));
            }
            let padding: String = fill.chars().cycle().take(target - len).collect();
            Value::from(if name == "padStart" { format!("{padding}{text}") } else { format!("{text}{padding}") })
        }
        "repeat" => {
            let count = js::to_number(&a0);
            if !(0.0..=10_000.0).contains(&count) || text.len() * count as usize > 1 << 20 {
                return Err(error("Invalid count value for repeat".to_owned()));
            }
            Value::from(text.repeat(count as usize))
        }
        "split" => {
            if a0.is_undefined() {
                return Ok(Value::from(vec![Value::from(text)]));
            }
            let limit =
                if arg(args, 1).is_undefined() { usize::MAX } else { js::to_number(&arg(args, 1)).max(0.0) as usize };
            let regex = a0.downcast_object_ref::<JsRegex>();
            let count = match regex {
                Some(regex) => regex.regex.find_iter(text).count(),
                None if needle.is_empty() => text.chars().count(),
                None => text.matches(needle.as_str()).count(),
            };
            budget::check(count.saturating_add(1).min(limit).saturating_mul(ITEM))?;
            let parts: Vec<Value> = if let Some(regex) = regex {
                regex.regex.split(text).map(Value::from).collect()
            } else if needle.is_empty() {
                text.chars().map(|c| Value::from(c.to_string())).collect()
            } else {
                text.split(needle.as_str()).map(Value::from).collect()
            };
            Value::from(parts.into_iter().take(limit).collect::<Vec<_>>())
        }
        "replace" | "replaceAll" => {
            let replacement = js::display(&arg(args, 1));
            if let Some(regex) = a0.downcast_object_ref::<JsRegex>() {
                let template = js_replacement_to_rust(&replacement);
                return regex_replace(&regex.regex, text, &template, regex.global || name == "replaceAll");
            }
            let found = match (name, needle.is_empty()) {
                ("replaceAll", true) => text.chars().count() + 1,
                ("replaceAll", false) => text.matches(needle.as_str()).count(),
                _ => 1,
            };
            budget::check(text.len().saturating_add(found.saturating_mul(replacement.len())))?;
            if name == "replaceAll" {
                Value::from(text.replace(&needle, &replacement))
            } else {
                Value::from(text.replacen(&needle, &replacement, 1))
            }
        }
        "match" => {
            let Some(regex) = a0.downcast_object_ref::<JsRegex>() else {
                return Err(error("match() needs a regular expression".to_owned()));
            };
            if regex.global {
                budget::check(regex.regex.find_iter(text).count().saturating_mul(ITEM))?;
                let found: Vec<Value> = regex.regex.find_iter(text).map(|m| Value::from(m.as_str())).collect();
                if found.is_empty() { Value::from(()) } else { Value::from(found) }
            } else {
                match regex.regex.captures(text) {
                    Some(captures) => Value::from(
                        captures
                            .iter()
                            .map(|c| c.map_or(Value::UNDEFINED, |m| Value::from(m.as_str())))
                            .collect::<Vec<_>>(),
                    ),
                    None => Value::from(()),
                }
            }
        }
        "test" => return Err(error("test is not a function of strings".to_owned())),
        "capitalize" => {
            let mut chars = text.chars();
            Value::from(
                chars
                    .next()
                    .map(|c| c.to_uppercase().chain(chars.as_str().to_lowercase().chars()).collect::<String>())
                    .unwrap_or_default(),
            )
        }
        _ => return Err(error(format!("{name} is not a function of strings"))),
    })
}

fn number_method(value: &Value, name: &str, args: &[Value]) -> Result<Value, Error> {
    let n = js::to_number(value);
    let digits = |default: usize| {
        let d = arg(args, 0);
        if d.is_undefined() {
            Ok(default)
        } else {
            usize::try_from(js::to_number(&d) as i64).ok().filter(|d| *d <= 100).ok_or(())
        }
    };
    Ok(match name {
        "toString" => match arg(args, 0) {
            radix if radix.is_undefined() => Value::from(js::number(n)),
            radix => {
                let radix = js::to_number(&radix) as u32;
                if !(2..=36).contains(&radix) || n.fract() != 0.0 {
                    Value::from(js::number(n))
                } else {
                    let mut digits = String::new();
                    let mut rest = n.abs() as u64;
                    loop {
                        digits.insert(0, std::char::from_digit((rest % u64::from(radix)) as u32, radix).unwrap_or('0'));
                        rest /= u64::from(radix);
                        if rest == 0 {
                            break;
                        }
                    }
                    Value::from(if n < 0.0 { format!("-{digits}") } else { digits })
                }
            }
        },
        "toFixed" => {
            let d = digits(0).map_err(|_| error("toFixed() digits argument must be between 0 and 100".to_owned()))?;
            Value::from(format!("{n:.d$}"))
        }
        "toPrecision" => {
            if arg(args, 0).is_undefined() {
                Value::from(js::number(n))
            } else {
                let p =
                    digits(1).map_err(|_| error("toPrecision() argument must be between 1 and 100".to_owned()))?.max(1);
                let magnitude = if n == 0.0 { 0 } else { n.abs().log10().floor() as i32 };
                let decimals = (p as i32 - 1 - magnitude).max(0) as usize;
                Value::from(format!("{n:.decimals$}"))
            }
        }
        "toExponential" => {
            let d = digits(6).map_err(|_| error("toExponential() argument must be between 0 and 100".to_owned()))?;
            let text = format!("{n:.d$e}");
            Value::from(match text.split_once('e') {
                Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
                _ => text,
            })
        }
        "valueOf" => value.clone(),
        _ => return Err(error(format!("{name} is not a function of numbers"))),
    })
}

fn array_method(value: &Value, name: &str, args: &[Value]) -> Result<Value, Error> {
    let items: Vec<Value> = value.try_iter()?.collect();
    let len = items.len();
    let a0 = arg(args, 0);
    let position = |needle: &Value| items.iter().position(|item| js::strict_eq(item, needle));
    Ok(match name {
        "includes" => Value::from(position(&a0).is_some()),
        "indexOf" => Value::from(position(&a0).map_or(-1, |i| i as i64)),
        "lastIndexOf" => Value::from(items.iter().rposition(|item| js::strict_eq(item, &a0)).map_or(-1, |i| i as i64)),
        "join" => {
            let separator = if a0.is_undefined() { ",".to_owned() } else { js::display(&a0) };
            let mut out = budget::Text::default();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(&separator)?;
                }
                out.push(&js::display(item))?;
            }
            out.into_value()
        }
        "slice" => Value::from(
            items[index(&a0, len, 0).min(index(&arg(args, 1), len, len))..index(&arg(args, 1), len, len)].to_vec(),
        ),
        "concat" => {
            let added: usize =
                args.iter().map(|extra| extra.len().filter(|_| extra.kind() == ValueKind::Seq).unwrap_or(1)).sum();
            budget::check(len.saturating_add(added).saturating_mul(ITEM))?;
            let mut out = items.clone();
            for extra in args {
                match extra.kind() {
                    ValueKind::Seq => out.extend(extra.try_iter()?),
                    _ => out.push(extra.clone()),
                }
            }
            Value::from(out)
        }
        "at" => {
            let n = js::to_number(&a0).trunc();
            let i = if n < 0.0 { len as f64 + n } else { n };
            if i >= 0.0 && (i as usize) < len { items[i as usize].clone() } else { Value::UNDEFINED }
        }
        "reverse" => Value::from(items.into_iter().rev().collect::<Vec<_>>()),
        "sort" => {
            let mut sorted = items;
            sorted.sort_by_key(|item| js::display(item).encode_utf16().collect::<Vec<u16>>());
            Value::from(sorted)
        }
        "flat" => {
            let total: usize =
                items.iter().map(|item| item.len().filter(|_| item.kind() == ValueKind::Seq).unwrap_or(1)).sum();
            budget::check(total.saturating_mul(ITEM))?;
            let mut out = Vec::new();
            for item in items {
                match item.kind() {
                    ValueKind::Seq => out.extend(item.try_iter()?),
                    _ => out.push(item),
                }
            }
            Value::from(out)
        }
        "count" => Value::from(items.iter().filter(|item| js::strict_eq(item, &a0)).count()),
        "index" => Value::from(position(&a0).ok_or_else(|| error("value is not in the list".to_owned()))?),
        "toString" => Value::from(js::display(value)),
        // Mutating methods: templates see immutable values, so these answer what JavaScript
        // returns without changing the array.
        "push" | "unshift" | "append" => Value::from(len + args.len()),
        "pop" => items.last().cloned().unwrap_or(Value::UNDEFINED),
        "shift" => items.first().cloned().unwrap_or(Value::UNDEFINED),
        _ => return Err(error(format!("{name} is not a function of arrays"))),
    })
}

fn map_method(value: &Value, name: &str, args: &[Value]) -> Result<Value, Error> {
    let keys: Vec<Value> = value.try_iter()?.collect();
    Ok(match name {
        "keys" => Value::from(keys),
        "values" => Value::from(keys.iter().map(|k| value.get_item(k).unwrap_or_default()).collect::<Vec<_>>()),
        "items" | "entries" => Value::from(
            keys.iter()
                .map(|k| Value::from(vec![k.clone(), value.get_item(k).unwrap_or_default()]))
                .collect::<Vec<_>>(),
        ),
        "get" => {
            let found = value.get_item(&arg(args, 0)).unwrap_or(Value::UNDEFINED);
            if found.is_undefined() { args.get(1).cloned().unwrap_or(Value::from(())) } else { found }
        }
        "has_key" | "hasOwnProperty" => Value::from(keys.iter().any(|k| js::strict_eq(k, &arg(args, 0)))),
        _ => {
            // A function stored under that key is not callable from templates.
            return Err(error(format!("{name} is not a function")));
        }
    })
}
