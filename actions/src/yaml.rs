//! YAML output as the `yaml` npm package (v2) writes it with its default options, which is what
//! Backstage's `catalog:write` produces: block style, two-space indentation with indented
//! sequences, plain scalars unless YAML 1.2 would read them as something else (then double
//! quotes, or single quotes for text containing `"`), literal `|`/`|-` blocks for multi-line
//! text, and lines folded at 80 columns.

use serde_json::Value;

const LINE_WIDTH: usize = 80;
const MIN_CONTENT_WIDTH: usize = 20;

/// The document for `value`, ending with a newline.
pub fn stringify(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(map, "", &mut out),
        Value::Array(items) if !items.is_empty() => write_seq(items, "", &mut out),
        scalar => {
            out.push_str(&scalar_text(scalar, "", 0, false));
            out.push('\n');
        }
    }
    out
}

fn units(text: &str) -> usize {
    text.encode_utf16().count()
}

fn write_map(map: &serde_json::Map<String, Value>, indent: &str, out: &mut String) {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 {
            out.push_str(indent);
        }
        let key_text = key_text(key);
        out.push_str(&key_text);
        out.push(':');
        let child = format!("{indent}  ");
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                out.push_str(&child);
                write_map(inner, &child, out);
            }
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                out.push_str(&child);
                write_seq(items, &child, out);
            }
            scalar => {
                out.push(' ');
                let at_start = indent.len() + units(&key_text) + 2;
                out.push_str(&scalar_text(scalar, &child, at_start, false));
                out.push('\n');
            }
        }
    }
}

fn write_seq(items: &[Value], indent: &str, out: &mut String) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(indent);
        }
        out.push_str("- ");
        let child = format!("{indent}  ");
        match item {
            Value::Object(inner) if !inner.is_empty() => write_map(inner, &child, out),
            Value::Array(inner) if !inner.is_empty() => write_seq(inner, &child, out),
            scalar => {
                out.push_str(&scalar_text(scalar, &child, indent.len() + 2, false));
                out.push('\n');
            }
        }
    }
}

/// A scalar (or an empty collection) in value position; `indent` is where continuation lines and
/// block contents start, `at_start` the column the value begins at.
fn scalar_text(value: &Value, indent: &str, at_start: usize, implicit_key: bool) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => templates::js::number(f),
            _ => n.to_string(),
        },
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
        Value::String(s) => string_text(s, indent, at_start, implicit_key),
    }
}

fn key_text(key: &str) -> String {
    string_text(key, "", 0, true)
}

/// Would YAML 1.2's core schema read this plain text as something other than a string?
fn resolves_to_non_string(text: &str) -> bool {
    let re = |pattern: &str| regex::Regex::new(pattern).expect("static pattern").is_match(text);
    re(r"^(?:~|[Nn]ull|NULL)?$")
        || re(r"^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$")
        || re(r"^[-+]?[0-9]+$")
        || re(r"^0o[0-7]+$")
        || re(r"^0x[0-9a-fA-F]+$")
        || re(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
        || re(r"^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$")
}

fn string_text(value: &str, indent: &str, at_start: usize, implicit_key: bool) -> String {
    let control = regex::Regex::new(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]").expect("static pattern");
    if control.is_match(value) {
        return double_quoted(value);
    }
    if implicit_key && value.contains('\n') {
        return quoted(value);
    }
    let not_plain =
        regex::Regex::new(r#"^[\n\t ,\[\]{}#&*!|>'"%@`]|^[?-]$|^[?-][ \t]|[\n:][ \t]|[ \t]\n|[\n\t ]#|[\n\t :]$"#)
            .expect("static pattern");
    if not_plain.is_match(value) {
        return if implicit_key || !value.contains('\n') { quoted(value) } else { block(value, indent) };
    }
    if !implicit_key && value.contains('\n') {
        return block(value, indent);
    }
    if contains_document_marker(value) && implicit_key {
        return quoted(value);
    }
    if resolves_to_non_string(value) {
        return quoted(value);
    }
    if implicit_key { value.to_owned() } else { fold(value, indent, Some(at_start), false) }
}

fn contains_document_marker(text: &str) -> bool {
    regex::Regex::new(r"(?m)^(?:---|\.\.\.)").expect("static pattern").is_match(text)
}

fn quoted(value: &str) -> String {
    if value.contains('"') && !value.contains('\'') { single_quoted(value) } else { double_quoted(value) }
}

fn single_quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''").replace('\n', "\n\n"))
}

fn double_quoted(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            c if (c as u32) < 0x20 || (0x7f..=0x9f).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A `|` (literal) or `>` (folded, when a line is too long) block scalar.
fn block(value: &str, indent: &str) -> String {
    if regex::Regex::new(r"\n[\t ]+$").expect("static pattern").is_match(value) || value.trim().is_empty() {
        return quoted(value);
    }
    let indent = if indent.is_empty() { "  ".to_owned() } else { indent.to_owned() };
    let literal = !line_length_over_limit(value, LINE_WIDTH, indent.len());
    // Chomping from the whitespace at the end.
    let trailing_start = value.trim_end_matches(['\n', '\t', ' ']).len();
    let mut end = value[trailing_start..].to_owned();
    let chomp = match end.find('\n') {
        None => "-",
        Some(pos) if value == end || pos != end.len() - 1 => "+",
        Some(_) => "",
    };
    let mut body = value[..trailing_start].to_owned();
    if !end.is_empty() {
        if end.ends_with('\n') {
            end.pop();
        }
        end = end.replace('\n', &format!("\n{indent}"));
    }
    // An indentation indicator when the text starts with a space.
    let starts_with_space = body.starts_with(' ') || body.trim_start_matches('\n').starts_with(' ');
    let leading_newlines = body.len() - body.trim_start_matches('\n').len();
    let start = body[..leading_newlines].replace('\n', &format!("\n{indent}"));
    body = body[leading_newlines..].to_owned();
    let header = format!("{}{}{chomp}", if literal { '|' } else { '>' }, if starts_with_space { "2" } else { "" });
    let content = if literal {
        newline_indent(&body, &indent)
    } else {
        let folded = fold_block(&body, &indent);
        newline_indent(&folded, &indent)
    };
    format!("{header}\n{indent}{start}{content}{end}")
}

/// Every run of newlines followed by the indent.
fn newline_indent(text: &str, indent: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '\n' && chars.peek() != Some(&'\n') {
            out.push_str(indent);
        }
    }
    out
}

fn line_length_over_limit(text: &str, width: usize, indent: usize) -> bool {
    let limit = width.saturating_sub(indent);
    let utf16: Vec<u16> = text.encode_utf16().collect();
    if utf16.len() <= limit {
        return false;
    }
    let mut start = 0;
    for (i, unit) in utf16.iter().enumerate() {
        if *unit == u16::from(b'\n') {
            if i - start > limit {
                return true;
            }
            start = i + 1;
            if utf16.len() - start <= limit {
                return false;
            }
        }
    }
    true
}

/// Folds a folded block's lines: each paragraph line longer than the width breaks at spaces, and
/// single line breaks become blank lines (how `>` keeps them).
fn fold_block(text: &str, indent: &str) -> String {
    let doubled = regex::Regex::new(r"(?m)^([^ \n].*)\n([^ \n])").expect("static pattern");
    // In a folded block a single newline between two non-indented lines reads as a space, so
    // it is written as an empty line.
    let mut current = text.to_owned();
    loop {
        let next = doubled.replace_all(&current, "$1\n\n$2").into_owned();
        if next == current {
            break;
        }
        current = next;
    }
    fold(&current, indent, Some(indent.len()), true)
}

/// The `yaml` package's `foldFlowLines`: break at a space between non-spaces once a line passes
/// the width.
fn fold(text: &str, indent: &str, at_start: Option<usize>, block: bool) -> String {
    let chars: Vec<char> = text.chars().collect();
    let indent_len = indent.len();
    let end_step = (1 + MIN_CONTENT_WIDTH).max(1 + LINE_WIDTH.saturating_sub(indent_len));
    if units(text) <= end_step {
        return text.to_owned();
    }
    let mut folds: Vec<usize> = Vec::new();
    let mut end = LINE_WIDTH.saturating_sub(indent_len);
    if let Some(at_start) = at_start
        && !block
    {
        if at_start > LINE_WIDTH - 2usize.max(MIN_CONTENT_WIDTH) {
            folds.push(0);
        } else {
            end = LINE_WIDTH - at_start;
        }
    }
    let mut split: Option<usize> = None;
    let mut prev: Option<char> = None;
    let mut position = 0usize;
    for (i, &ch) in chars.iter().enumerate() {
        if ch == '\n' {
            end = position + indent_len + end_step;
            split = None;
        } else {
            if ch == ' ' && prev.is_some_and(|p| p != ' ' && p != '\n' && p != '\t') {
                let next = chars.get(i + 1);
                if next.is_some_and(|n| *n != ' ' && *n != '\n' && *n != '\t') {
                    split = Some(i);
                }
            }
            if position >= end
                && let Some(at) = split.take()
            {
                folds.push(at);
                end = utf16_position(&chars, at) + end_step;
            }
        }
        prev = Some(ch);
        position += ch.len_utf16();
    }
    if folds.is_empty() {
        return text.to_owned();
    }
    let mut out: String = chars[..folds[0]].iter().collect();
    for (n, &at) in folds.iter().enumerate() {
        let until = folds.get(n + 1).copied().unwrap_or(chars.len());
        if at == 0 {
            out = format!("\n{indent}{}", chars[..until].iter().collect::<String>());
        } else {
            out.push('\n');
            out.push_str(indent);
            out.extend(&chars[at + 1..until]);
        }
    }
    out
}

fn utf16_position(chars: &[char], index: usize) -> usize {
    chars[..index].iter().map(|c| c.len_utf16()).sum()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn writes_what_backstage_writes() {
        let entity = json!({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {
                "name": "search",
                "description": "Full-text search.\nSecond line: with a colon",
                "tags": ["java", "lucene", "123"],
                "annotations": {
                    "acme.io/tier": "true",
                    "acme.io/replicas": 3,
                    "acme.io/on-call": "yes",
                    "acme.io/glob": "*.internal",
                    "acme.io/empty": "",
                },
                "links": [{"url": "https://search.acme.example", "title": "Home: search"}],
            },
            "spec": {"providesApis": ["search-api"], "dependsOn": [], "definition": "openapi: 3.0.0\ninfo:\n  title: search\n"},
        });
        assert_eq!(
            stringify(&entity),
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: search\n  description: |-\n    Full-text search.\n    Second line: with a colon\n  tags:\n    - java\n    - lucene\n    - \"123\"\n  annotations:\n    acme.io/tier: \"true\"\n    acme.io/replicas: 3\n    acme.io/on-call: yes\n    acme.io/glob: \"*.internal\"\n    acme.io/empty: \"\"\n  links:\n    - url: https://search.acme.example\n      title: \"Home: search\"\nspec:\n  providesApis:\n    - search-api\n  dependsOn: []\n  definition: |\n    openapi: 3.0.0\n    info:\n      title: search\n"
        );
    }

    #[test]
    fn quoting_and_folding() {
        assert_eq!(stringify(&json!({"a": "say \"hi\""})), "a: say \"hi\"\n");
        assert_eq!(stringify(&json!({"a": "\"hi\" there"})), "a: '\"hi\" there'\n");
        assert_eq!(stringify(&json!({"a": "- x"})), "a: \"- x\"\n");
        assert_eq!(stringify(&json!({"a": null, "b": 1.5, "c": false, "d": {}})), "a: null\nb: 1.5\nc: false\nd: {}\n");
        assert_eq!(stringify(&json!({"123": "x"})), "\"123\": x\n");
        let long = "word ".repeat(30).trim_end().to_owned();
        let folded = stringify(&json!({"description": long}));
        assert!(folded.lines().all(|l| l.len() <= 80), "{folded}");
        assert!(folded.lines().count() > 1);
        assert_eq!(stringify(&json!([[1, 2], {"k": "v"}])), "- - 1\n  - 2\n- k: v\n");
    }
}
