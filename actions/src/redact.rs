//! Secret redaction, as Backstage 4.2 does it: every known secret value, and every rendered string
//! that changed when the secrets were taken away (which catches secrets passed through filters),
//! is replaced by `***` wherever it appears in a log line or error.

use serde_json::Value;

#[derive(Clone, Debug, Default)]
pub struct Redactor {
    /// Longest first, so that a secret containing another is masked whole.
    values: Vec<String>,
}

impl Redactor {
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut redactor = Redactor::default();
        redactor.add(values);
        redactor
    }

    /// Adds values to mask; values of one character or less (after trimming) are ignored.
    pub fn add<'a>(&mut self, values: impl IntoIterator<Item = &'a str>) {
        for value in values {
            let value = value.trim();
            if value.chars().count() > 1 && !self.values.iter().any(|v| v == value) {
                self.values.push(value.to_owned());
            }
        }
        self.values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    }

    /// Adds everything `other` masks.
    pub fn absorb(&mut self, other: &Redactor) {
        self.add(other.values.iter().map(String::as_str));
    }

    /// Adds every string that differs between a render with secrets and one without.
    pub fn add_differences(&mut self, with_secrets: &Value, without_secrets: &Value) {
        let mut found = Vec::new();
        collect_differences(with_secrets, without_secrets, &mut found);
        self.add(found.iter().map(String::as_str));
    }

    /// Adds every string inside `value` (used when a render without secrets fails).
    pub fn add_all_strings(&mut self, value: &Value) {
        let mut found = Vec::new();
        collect_strings(value, &mut found);
        self.add(found.iter().map(String::as_str));
    }

    /// Redacts every string (and key) inside a JSON value.
    pub fn redact_value(&self, value: &Value) -> Value {
        if self.values.is_empty() {
            return value.clone();
        }
        match value {
            Value::String(s) => Value::String(self.redact(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.redact_value(v)).collect()),
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (self.redact(k), self.redact_value(v))).collect())
            }
            other => other.clone(),
        }
    }

    /// Masks every occurrence; overlapping matches merge into one `***`.
    pub fn redact(&self, text: &str) -> String {
        if self.values.is_empty() {
            return text.to_owned();
        }
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for value in &self.values {
            let mut from = 0;
            while let Some(found) = text[from..].find(value.as_str()) {
                let start = from + found;
                ranges.push((start, start + value.len()));
                from = start + text[start..].chars().next().map_or(1, char::len_utf8);
            }
        }
        if ranges.is_empty() {
            return text.to_owned();
        }
        ranges.sort();
        let mut out = String::with_capacity(text.len());
        let mut cursor = 0;
        let mut iter = ranges.into_iter().peekable();
        while let Some((start, mut end)) = iter.next() {
            while let Some(&(next_start, next_end)) = iter.peek() {
                if next_start < end {
                    end = end.max(next_end);
                    iter.next();
                } else {
                    break;
                }
            }
            if start >= cursor {
                out.push_str(&text[cursor..start]);
                out.push_str("***");
                cursor = end;
            } else if end > cursor {
                cursor = end;
            }
        }
        out.push_str(&text[cursor..]);
        out
    }
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => {
            for (key, item) in map {
                out.push(key.clone());
                collect_strings(item, out);
            }
        }
        _ => {}
    }
}

/// Backstage's `collectSecretRedactions`: strings that differ, compared position by position (so
/// when the secret-free render drops a key, the following entries shift and their keys count as
/// differing too, exactly as Backstage redacts them).
fn collect_differences(with: &Value, without: &Value, out: &mut Vec<String>) {
    match with {
        Value::String(a) if without.as_str() != Some(a.as_str()) => out.push(a.clone()),
        Value::String(_) => {}
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let other = without.as_array().and_then(|o| o.get(i)).unwrap_or(&Value::Null);
                collect_differences(item, other, out);
            }
        }
        Value::Object(map) => {
            let others: Vec<(&String, &Value)> = without.as_object().map(|o| o.iter().collect()).unwrap_or_default();
            for (index, (key, item)) in map.iter().enumerate() {
                match others.get(index) {
                    None => {
                        out.push(key.clone());
                        collect_strings(item, out);
                    }
                    Some((other_key, other_value)) => {
                        if *other_key != key {
                            out.push(key.clone());
                        }
                        collect_differences(item, other_value, out);
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn masks_values_longest_first_and_merges_overlaps() {
        let r = Redactor::new(["abc", "abcdef", "x", " cdefgh "]);
        assert_eq!(r.redact("token=abcdef;"), "token=***;");
        assert_eq!(r.redact("abcdefgh"), "***");
        assert_eq!(r.redact("x marks"), "x marks", "one-character values are ignored");
        assert_eq!(r.redact("nothing here"), "nothing here");
    }

    #[test]
    fn finds_secrets_transformed_by_filters() {
        let mut r = Redactor::default();
        r.add_differences(
            &json!({"auth": "Bearer S3CRET", "upper": "S3CRET-X", "same": "plain", "list": ["a", "HIDDEN"]}),
            &json!({"auth": "Bearer ", "upper": "-X", "same": "plain", "list": ["a", ""]}),
        );
        assert_eq!(r.redact("header Bearer S3CRET and S3CRET-X, HIDDEN, plain"), "header *** and ***, ***, plain");
    }

    #[test]
    fn handles_multibyte_text() {
        let r = Redactor::new(["é secret"]);
        assert_eq!(r.redact("ünïcode é secret é"), "ünïcode *** é");
    }
}
