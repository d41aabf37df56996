//! Nunjucks' built-in filters with their JavaScript behaviour (the ones minijinja also has behave
//! differently in small ways that show in generated files: `join`'s default separator, `length`
//! in UTF-16 units, `replace` with an empty search, `default` keeping `null`, ...).

use minijinja::value::{Rest, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Value};

use crate::budget::{self, Text, charged};
use crate::js;
use crate::runtime::JsRegex;

fn arg(args: &[Value], index: usize) -> Option<&Value> {
    args.get(index).filter(|v| !v.is_undefined())
}

/// Nunjucks' `normalize(value, default)`: null, undefined and false become the default.
fn normalize(value: &Value) -> Option<&Value> {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => None,
        ValueKind::Bool if !value.is_true() => None,
        _ => Some(value),
    }
}

fn text_of(value: &Value) -> String {
    normalize(value).map(js::display).unwrap_or_default()
}

fn type_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

fn items(value: &Value) -> Result<Vec<Value>, Error> {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => Ok(Vec::new()),
        ValueKind::String => {
            let text = value.as_str().unwrap_or_default();
            budget::charge_items(text.chars().count())?;
            Ok(text.chars().map(|c| Value::from(c.to_string())).collect())
        }
        _ => {
            budget::charge_items(value.len().unwrap_or(0))?;
            Ok(value.try_iter()?.collect())
        }
    }
}

/// Name, description and example of every filter (served by `GET /v2/templating-extensions`).
pub const DESCRIPTIONS: &[(&str, &str, &str)] = &[
    ("abs", "Absolute value of a number.", "${{ -3 | abs }} → 3"),
    ("capitalize", "First character upper-case, the rest lower-case.", "${{ 'hELLO' | capitalize }} → Hello"),
    ("center", "Centers a string in a field of the given width (default 80).", "${{ 'x' | center(5) }} → '  x  '"),
    ("d", "Alias of default.", "${{ x | d('none') }}"),
    (
        "default",
        "The value, or the default when it is undefined (also when falsy with a second argument true).",
        "${{ parameters.region | default('eu-west-1') }}",
    ),
    (
        "dictsort",
        "An object's [key, value] pairs sorted by key (or by value with by='value').",
        "${{ {'b': 1, 'a': 2} | dictsort }}",
    ),
    ("dump", "JSON.stringify of the value, optionally indented.", "${{ values.labels | dump }} → {\"team\":\"a\"}"),
    ("e", "Alias of escape.", "${{ '<b>' | e }}"),
    ("escape", "HTML-escapes a string.", "${{ '<b>' | escape }} → &lt;b&gt;"),
    ("first", "The first item of an array, or the first character of a string.", "${{ [1, 2] | first }} → 1"),
    ("float", "parseFloat of the value, or the default when it is not a number.", "${{ '1.5kg' | float }} → 1.5"),
    ("groupby", "Groups an array of objects by an attribute.", "${{ users | groupby('team') }}"),
    (
        "indent",
        "Indents every line but the first (or all with a second argument true) by width spaces.",
        "${{ text | indent(2) }}",
    ),
    ("int", "parseInt of the value, or the default when it is not a number.", "${{ '42px' | int }} → 42"),
    ("join", "Joins array items with a separator (default: none).", "${{ ['a', 'b'] | join(', ') }} → a, b"),
    ("last", "The last item of an array, or the last character of a string.", "${{ [1, 2] | last }} → 2"),
    (
        "length",
        "Length of a string (UTF-16 units), an array, or the number of keys of an object.",
        "${{ 'héllo' | length }} → 5",
    ),
    ("list", "An array: characters of a string, items of an array, {key, value} of an object.", "${{ 'ab' | list }}"),
    ("lower", "Lower-cases a string.", "${{ 'ABC' | lower }} → abc"),
    ("nl2br", "Replaces new lines with <br />.", "${{ text | nl2br }}"),
    ("reject", "Items for which a test fails.", "${{ numbers | reject('odd') }}"),
    (
        "rejectattr",
        "Items whose attribute is falsy... removed: keeps items whose attribute is falsy.",
        "${{ users | rejectattr('admin') }}",
    ),
    (
        "replace",
        "Replaces occurrences of a string (or a regular expression) with another, optionally at most n times.",
        "${{ url | replace('/tree/', '/blob/') }}",
    ),
    ("reverse", "Reverses an array or a string.", "${{ [1, 2] | reverse }}"),
    ("round", "Rounds to a precision (default 0) with method common, ceil or floor.", "${{ 2.567 | round(2) }} → 2.57"),
    ("safe", "Marks a string as safe (no effect: output is not escaped).", "${{ html | safe }}"),
    ("select", "Items for which a test passes.", "${{ numbers | select('odd') }}"),
    ("selectattr", "Items whose attribute is truthy.", "${{ users | selectattr('admin') }}"),
    ("slice", "Splits an array into n slices.", "${{ items | slice(3) }}"),
    ("sort", "Sorts an array (reverse, case-sensitive and attribute optional).", "${{ names | sort }}"),
    ("string", "Converts the value to a string.", "${{ 8080 | string }} → \"8080\""),
    ("striptags", "Removes HTML tags and collapses whitespace.", "${{ '<p>a  b</p>' | striptags }} → a b"),
    ("sum", "Sum of an array's items (or of an attribute), plus a start value.", "${{ [1, 2] | sum }} → 3"),
    ("title", "Capitalizes every space-separated word.", "${{ 'hello world' | title }} → Hello World"),
    ("trim", "Removes leading and trailing whitespace.", "${{ ' x ' | trim }} → x"),
    (
        "truncate",
        "Cuts a string to a length (default 255) at a word boundary and appends '...'.",
        "${{ text | truncate(20) }}",
    ),
    ("upper", "Upper-cases a string.", "${{ 'abc' | upper }} → ABC"),
    (
        "urlencode",
        "Percent-encodes a string, or an object/array of pairs as a query string.",
        "${{ {'a': 'b c'} | urlencode }} → a=b%20c",
    ),
    ("wordcount", "Number of words in a string.", "${{ 'one two' | wordcount }} → 2"),
];

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("abs", |v: Value| js::from_number(js::to_number(&v).abs()));
    env.add_filter("capitalize", |v: Value| charged(Value::from(capitalize(&text_of(&v)))));
    env.add_filter("center", |v: Value, width: Option<usize>| {
        let text = text_of(&v);
        let width = width.unwrap_or(80);
        let len = js::utf16_len(&text);
        if len >= width {
            return Ok(Value::from(text));
        }
        let left = (width - len) / 2;
        let right = width - len - left;
        budget::charge(left + right + text.len())?;
        Ok::<_, Error>(Value::from(format!("{}{text}{}", " ".repeat(left), " ".repeat(right))))
    });
    env.add_filter("default", default);
    env.add_filter("d", default);
    env.add_filter("dictsort", dictsort);
    env.add_filter("dump", |v: Value, indent: Option<Value>| {
        let indent =
            indent.map(|i| js::to_number(&i)).filter(|n| n.is_finite() && *n > 0.0).map_or(0, |n| n.min(10.0) as usize);
        charged(js::stringify(&v, indent).map(Value::from).unwrap_or(Value::UNDEFINED))
    });
    env.add_filter("escape", |v: Value| charged(Value::from(html_escape(&text_of(&v)))));
    env.add_filter("e", |v: Value| charged(Value::from(html_escape(&text_of(&v)))));
    env.add_filter("forceescape", |v: Value| charged(Value::from(html_escape(&text_of(&v)))));
    env.add_filter("first", |v: Value| first_or_last(&v, true));
    env.add_filter("last", |v: Value| first_or_last(&v, false));
    env.add_filter("float", |v: Value, default: Option<Value>| {
        let parsed = parse_float(&js::display(&v));
        if parsed.is_nan() { default.unwrap_or(Value::UNDEFINED) } else { js::from_number(parsed) }
    });
    env.add_filter("int", |v: Value, args: Rest<Value>| {
        let default = arg(&args, 0).cloned().unwrap_or(Value::UNDEFINED);
        let base = arg(&args, 1).map(js::to_number).unwrap_or(10.0) as u32;
        match parse_int(&js::display(&v), base) {
            Some(n) => Value::from(n),
            None => default,
        }
    });
    env.add_filter("groupby", groupby);
    env.add_filter("indent", |v: Value, args: Rest<Value>| {
        let text = text_of(&v);
        if text.is_empty() {
            return Ok(Value::from(""));
        }
        let width = arg(&args, 0).map(js::to_number).filter(|n| *n > 0.0).unwrap_or(4.0) as usize;
        let first = arg(&args, 1).is_some_and(js::truthy);
        let pad = " ".repeat(width.min(1000));
        budget::charge(text.len() + (text.matches('\n').count() + 1) * pad.len())?;
        let lines: Vec<String> = text
            .split('\n')
            .enumerate()
            .map(|(i, line)| if i == 0 && !first { line.to_owned() } else { format!("{pad}{line}") })
            .collect();
        Ok::<_, Error>(Value::from(lines.join("\n")))
    });
    env.add_filter("join", |v: Value, args: Rest<Value>| -> Result<Value, Error> {
        let separator = arg(&args, 0).map(js::display).unwrap_or_default();
        let attribute = arg(&args, 1).map(js::display);
        let mut out = Text::default();
        for (i, item) in items(&v)?.iter().enumerate() {
            if i > 0 {
                out.push(&separator)?;
            }
            out.push(&match &attribute {
                Some(attr) => js::display(&item.get_attr(attr).unwrap_or_default()),
                None => js::display(item),
            })?;
        }
        Ok(out.into_value())
    });
    env.add_filter("length", |v: Value| match v.kind() {
        ValueKind::String => Value::from(js::utf16_len(v.as_str().unwrap_or_default())),
        ValueKind::Seq | ValueKind::Map => Value::from(v.len().unwrap_or(0)),
        ValueKind::Undefined | ValueKind::None => Value::from(0),
        ValueKind::Bool if !v.is_true() => Value::from(0),
        _ => Value::UNDEFINED,
    });
    env.add_filter("list", |v: Value| -> Result<Value, Error> {
        match v.kind() {
            ValueKind::Map => {
                let mut out = Vec::new();
                for key in v.try_iter()? {
                    let value = v.get_item(&key)?;
                    out.push(minijinja::context! { key => key, value => value });
                }
                Ok(Value::from(out))
            }
            _ => Ok(Value::from(items(&v)?)),
        }
    });
    env.add_filter("lower", |v: Value| charged(Value::from(text_of(&v).to_lowercase())));
    env.add_filter("upper", |v: Value| charged(Value::from(text_of(&v).to_uppercase())));
    env.add_filter("nl2br", |v: Value| {
        charged(Value::from(text_of(&v).replace("\r\n", "<br />\n").replace('\n', "<br />\n")))
    });
    env.add_filter("replace", replace);
    env.add_filter("reverse", |v: Value| -> Result<Value, Error> {
        match v.kind() {
            ValueKind::String => Ok(Value::from(v.as_str().unwrap_or_default().chars().rev().collect::<String>())),
            _ => {
                let mut list = items(&v)?;
                list.reverse();
                Ok(Value::from(list))
            }
        }
    });
    env.add_filter("round", |v: Value, args: Rest<Value>| {
        let precision = arg(&args, 0).map(js::to_number).unwrap_or(0.0);
        let method = arg(&args, 1).map(js::display).unwrap_or_else(|| "common".to_owned());
        let factor = 10f64.powf(precision);
        let scaled = js::to_number(&v) * factor;
        let rounded = match method.as_str() {
            "ceil" => scaled.ceil(),
            "floor" => scaled.floor(),
            // JavaScript's Math.round: halves go up.
            _ => (scaled + 0.5).floor(),
        };
        js::from_number(rounded / factor)
    });
    env.add_filter("safe", |v: Value| v);
    env.add_filter("select", |v: Value, args: Rest<Value>| select(v, args, true));
    env.add_filter("reject", |v: Value, args: Rest<Value>| select(v, args, false));
    env.add_filter("selectattr", |v: Value, args: Rest<Value>| select_attribute(v, args, true));
    env.add_filter("rejectattr", |v: Value, args: Rest<Value>| select_attribute(v, args, false));
    env.add_filter("slice", |v: Value, slices: usize, fill: Option<Value>| -> Result<Value, Error> {
        let list = items(&v)?;
        let slices = slices.max(1);
        budget::charge_items(slices)?;
        let per = list.len() / slices;
        let extra = list.len() % slices;
        let mut out = Vec::new();
        let mut offset = 0;
        for i in 0..slices {
            let take = per + usize::from(i < extra);
            let mut part: Vec<Value> = list[offset..offset + take].to_vec();
            offset += take;
            if let Some(fill) = &fill
                && i >= extra
                && extra > 0
            {
                part.push(fill.clone());
            }
            out.push(Value::from(part));
        }
        Ok(Value::from(out))
    });
    env.add_filter("sort", sort);
    env.add_filter("string", |v: Value| -> Result<Value, Error> {
        if v.is_undefined() {
            return Err(type_error("Cannot read properties of undefined (reading 'toString')"));
        }
        charged(Value::from(match v.kind() {
            ValueKind::None => "null".to_owned(),
            _ => js::display(&v),
        }))
    });
    env.add_filter("striptags", |v: Value, preserve: Option<Value>| {
        let text = text_of(&v);
        let tags = regex::Regex::new(r"<\/?([a-z][a-z0-9]*)\b[^>]*>|<!--[\s\S]*?-->").expect("static pattern");
        let stripped = tags.replace_all(&text, "");
        let out = if preserve.as_ref().is_some_and(js::truthy) {
            let lines: Vec<String> =
                stripped.split('\n').map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
            lines.join("\n").trim().to_owned()
        } else {
            stripped.split_whitespace().collect::<Vec<_>>().join(" ")
        };
        Value::from(out)
    });
    env.add_filter("sum", |v: Value, args: Rest<Value>| -> Result<Value, Error> {
        let attribute = arg(&args, 0).map(js::display);
        let mut total = arg(&args, 1).cloned().unwrap_or(Value::from(0));
        for item in items(&v)? {
            let item = match &attribute {
                Some(attr) => item.get_attr(attr).unwrap_or_default(),
                None => item,
            };
            total = js::add(&total, &item);
        }
        Ok(total)
    });
    env.add_filter("title", |v: Value| {
        charged(Value::from(text_of(&v).split(' ').map(capitalize).collect::<Vec<_>>().join(" ")))
    });
    env.add_filter("trim", |v: Value| Value::from(text_of(&v).trim().to_owned()));
    env.add_filter("truncate", truncate);
    env.add_filter("urlencode", |v: Value| urlencode(v).and_then(charged));
    // minijinja's own filters that Nunjucks does not have and that could build without bound
    // (`chain` doubles a list per call, `format` and `tojson`/`pprint` take widths and indents).
    for name in ["chain", "format", "pprint", "tojson"] {
        env.remove_filter(name);
    }
    env.remove_global("debug");
    // Nunjucks' `batch` (minijinja's), with its filling charged first.
    env.add_filter("batch", |state: &minijinja::State, v: Value, count: usize, fill: Option<Value>| {
        budget::charge_items(count.saturating_add(v.len().unwrap_or(0)))?;
        minijinja::filters::batch(state, v, count, fill)
    });
    env.add_filter("wordcount", |v: Value| {
        let words = regex::Regex::new(r"\w+").expect("static pattern");
        let text = text_of(&v);
        match words.find_iter(&text).count() {
            0 => Value::from(()),
            n => Value::from(n),
        }
    });
}

fn default(value: Value, args: Rest<Value>) -> Value {
    let fallback = args.first().cloned().unwrap_or(Value::UNDEFINED);
    let falsy_too = arg(&args, 1).is_some_and(js::truthy);
    if value.is_undefined() || (falsy_too && !js::truthy(&value)) { fallback } else { value }
}

fn capitalize(text: &str) -> String {
    let lower = text.to_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn first_or_last(value: &Value, first: bool) -> Value {
    match value.kind() {
        ValueKind::String => {
            let text = value.as_str().unwrap_or_default();
            let c = if first { text.chars().next() } else { text.chars().last() };
            c.map(|c| Value::from(c.to_string())).unwrap_or(Value::UNDEFINED)
        }
        ValueKind::Seq => {
            let len = value.len().unwrap_or(0);
            if len == 0 {
                return Value::UNDEFINED;
            }
            value.get_item_by_index(if first { 0 } else { len - 1 }).unwrap_or(Value::UNDEFINED)
        }
        _ => Value::UNDEFINED,
    }
}

/// `parseFloat`: the longest numeric prefix.
fn parse_float(text: &str) -> f64 {
    let text = text.trim_start();
    let pattern = regex::Regex::new(r"^[+-]?(Infinity|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)")
        .expect("static pattern");
    match pattern.find(text) {
        Some(m) => match m.as_str().trim_start_matches(['+', '-']) {
            "Infinity" => {
                if m.as_str().starts_with('-') {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                }
            }
            _ => m.as_str().parse().unwrap_or(f64::NAN),
        },
        None => f64::NAN,
    }
}

/// `parseInt(text, base)`: the longest prefix of digits.
fn parse_int(text: &str, base: u32) -> Option<i64> {
    let text = text.trim_start();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (base, digits) = match (base, digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X"))) {
        (16 | 0, Some(hex)) => (16, hex),
        (0, None) => (10, digits),
        (base, _) if (2..=36).contains(&base) => (base, digits),
        _ => return None,
    };
    let prefix: String = digits.chars().take_while(|c| c.is_digit(base)).collect();
    if prefix.is_empty() {
        return None;
    }
    let value = i64::from_str_radix(&prefix, base).ok()?;
    Some(if negative { -value } else { value })
}

fn dictsort(value: Value, args: Rest<Value>) -> Result<Value, Error> {
    if value.kind() != ValueKind::Map {
        return Err(type_error("dictsort filter: val must be an object"));
    }
    let case_sensitive = arg(&args, 0).is_some_and(js::truthy);
    let by_value = arg(&args, 1).is_some_and(|b| js::display(b) == "value");
    let mut pairs = Vec::new();
    for key in value.try_iter()? {
        let item = value.get_item(&key)?;
        pairs.push((key, item));
    }
    let sort_key = |v: &Value| {
        let text = js::display(v);
        if case_sensitive { text } else { text.to_lowercase() }
    };
    pairs.sort_by(|a, b| {
        let (x, y) = if by_value { (&a.1, &b.1) } else { (&a.0, &b.0) };
        if x.kind() == ValueKind::Number && y.kind() == ValueKind::Number {
            js::to_number(x).total_cmp(&js::to_number(y))
        } else {
            sort_key(x).cmp(&sort_key(y))
        }
    });
    Ok(Value::from(pairs.into_iter().map(|(k, v)| Value::from(vec![k, v])).collect::<Vec<_>>()))
}

fn groupby(value: Value, attribute: String) -> Result<Value, Error> {
    let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
    for item in items(&value)? {
        let key = js::display(&item.get_attr(&attribute).unwrap_or_default());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(item),
            None => groups.push((key, vec![item])),
        }
    }
    let map: Vec<(String, Value)> = groups.into_iter().map(|(k, v)| (k, Value::from(v))).collect();
    Ok(Value::from_iter(map))
}

fn replace(value: Value, search: Value, replacement: Option<Value>, max: Option<Value>) -> Result<Value, Error> {
    let replacement = replacement.map(|r| js::display(&r)).unwrap_or_else(|| "undefined".to_owned());
    if let Some(regex) = search.downcast_object_ref::<JsRegex>() {
        let text = js::display(&value);
        let template = js_replacement_to_rust(&replacement);
        return regex_replace(&regex.regex, &text, &template, regex.global);
    }
    let search = match search.kind() {
        ValueKind::String => search.as_str().unwrap_or_default().to_owned(),
        ValueKind::Number => js::display(&search),
        _ => return Ok(value),
    };
    let text = match value.kind() {
        ValueKind::String => value.as_str().unwrap_or_default().to_owned(),
        ValueKind::Number => js::display(&value),
        _ => return Ok(value),
    };
    let max = max.filter(|m| !m.is_undefined()).map(|m| js::to_number(&m) as i64).unwrap_or(-1);
    if search.is_empty() {
        budget::charge(text.len() + (text.chars().count() + 1) * replacement.len())?;
        let spread: Vec<String> = text.chars().map(String::from).collect();
        return Ok(Value::from(format!("{replacement}{}{replacement}", spread.join(&replacement))));
    }
    if max == 0 {
        return Ok(Value::from(text));
    }
    let mut out = Text::default();
    let mut rest = text.as_str();
    let mut count = 0;
    while let Some(found) = rest.find(&search) {
        if max >= 0 && count >= max {
            break;
        }
        out.push(&rest[..found])?;
        out.push(&replacement)?;
        rest = &rest[found + search.len()..];
        count += 1;
    }
    out.push(rest)?;
    Ok(out.into_value())
}

/// A regular-expression replacement (`template` in the `regex` crate's syntax) of the first or
/// every match, each expansion charged before it is built (`$0$0$0...` multiplies a match).
pub(crate) fn regex_replace(regex: &regex::Regex, text: &str, template: &str, all: bool) -> Result<Value, Error> {
    let references = template.matches('$').count();
    let mut out = Text::default();
    let mut last = 0;
    for captures in regex.captures_iter(text).take(if all { usize::MAX } else { 1 }) {
        let whole = captures.get(0).expect("a match has group 0");
        out.push(&text[last..whole.start()])?;
        // No group is longer than the whole match.
        budget::charge(template.len() + references.saturating_mul(whole.len()))?;
        let mut expanded = String::new();
        captures.expand(template, &mut expanded);
        out.push_uncharged(&expanded);
        last = whole.end();
    }
    out.push(&text[last..])?;
    Ok(out.into_value())
}

/// JavaScript's replacement patterns (`$1`, `$&`, `$$`) in the regex crate's syntax.
pub(crate) fn js_replacement_to_rust(replacement: &str) -> String {
    let mut out = String::new();
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('$') => {
                chars.next();
                out.push_str("$$");
            }
            Some('&') => {
                chars.next();
                out.push_str("${0}");
            }
            Some(d) if d.is_ascii_digit() => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                out.push_str(&format!("${{{digits}}}"));
            }
            _ => out.push_str("$$"),
        }
    }
    out
}

fn select(value: Value, args: Rest<Value>, keep: bool) -> Result<Value, Error> {
    let test = arg(&args, 0).map(js::display);
    let mut out = Vec::new();
    for item in items(&value)? {
        let passed = match &test {
            None => js::truthy(&item),
            Some(name) => crate::checks::evaluate(name, &item, &args[1..])
                .ok_or_else(|| Error::new(ErrorKind::UnknownTest, format!("test not found: {name}")))?,
        };
        if passed == keep {
            out.push(item);
        }
    }
    Ok(Value::from(out))
}

fn select_attribute(value: Value, args: Rest<Value>, keep: bool) -> Result<Value, Error> {
    let attribute = arg(&args, 0).map(js::display).unwrap_or_default();
    let mut out = Vec::new();
    for item in items(&value)? {
        if js::truthy(&item.get_attr(&attribute).unwrap_or_default()) == keep {
            out.push(item);
        }
    }
    Ok(Value::from(out))
}

fn sort(value: Value, args: Rest<Value>) -> Result<Value, Error> {
    let reverse = arg(&args, 0).is_some_and(js::truthy);
    let case_sensitive = arg(&args, 1).is_some_and(js::truthy);
    let attribute = arg(&args, 2).map(js::display);
    let mut list = items(&value)?;
    let key = |v: &Value| match &attribute {
        Some(attr) => v.get_attr(attr).unwrap_or_default(),
        None => v.clone(),
    };
    list.sort_by(|a, b| {
        let (x, y) = (key(a), key(b));
        let ordering = match (x.as_str(), y.as_str()) {
            (Some(s), Some(t)) if x.kind() == ValueKind::String && y.kind() == ValueKind::String => {
                if case_sensitive {
                    s.cmp(t)
                } else {
                    s.to_lowercase().cmp(&t.to_lowercase())
                }
            }
            _ if js::relational("<", &x, &y) => std::cmp::Ordering::Less,
            _ if js::relational(">", &x, &y) => std::cmp::Ordering::Greater,
            _ => std::cmp::Ordering::Equal,
        };
        if reverse { ordering.reverse() } else { ordering }
    });
    Ok(Value::from(list))
}

fn truncate(value: Value, args: Rest<Value>) -> Value {
    let text = text_of(&value);
    let length = arg(&args, 0).map(js::to_number).filter(|n| *n > 0.0).unwrap_or(255.0) as usize;
    let kill_words = arg(&args, 1).is_some_and(js::truthy);
    let end = match args.get(2) {
        Some(end) if !end.is_undefined() && !end.is_none() => js::display(end),
        _ => "...".to_owned(),
    };
    let units: Vec<u16> = text.encode_utf16().collect();
    if units.len() <= length {
        return Value::from(text);
    }
    let cut = if kill_words {
        length
    } else {
        units[..=length.min(units.len() - 1)].iter().rposition(|u| *u == u16::from(b' ')).unwrap_or(length)
    };
    Value::from(format!("{}{end}", String::from_utf16_lossy(&units[..cut])))
}

fn encode_component(text: &str) -> String {
    let mut out = String::new();
    for byte in text.as_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')' => {
                out.push(*byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

fn urlencode(value: Value) -> Result<Value, Error> {
    match value.kind() {
        ValueKind::String => Ok(Value::from(encode_component(value.as_str().unwrap_or_default()))),
        ValueKind::Map => {
            let mut parts = Vec::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                parts.push(format!(
                    "{}={}",
                    encode_component(&js::display(&key)),
                    encode_component(&js::display(&item))
                ));
            }
            Ok(Value::from(parts.join("&")))
        }
        ValueKind::Seq => {
            let mut parts = Vec::new();
            for pair in value.try_iter()? {
                let k = pair.get_item_by_index(0).unwrap_or_default();
                let v = pair.get_item_by_index(1).unwrap_or_default();
                parts.push(format!("{}={}", encode_component(&js::display(&k)), encode_component(&js::display(&v))));
            }
            Ok(Value::from(parts.join("&")))
        }
        _ => Ok(Value::from(encode_component(&js::display(&value)))),
    }
}
