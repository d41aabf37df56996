//! Reading keys out of the merged tree, leniently as Backstage does (numbers and booleans may be
//! strings, since `${VAR}` always yields one), and with errors that name the key.

use std::time::Duration;

use serde_json::{Map, Value};

use templates::duration;

use super::ConfigError;

pub struct Reader<'a> {
    root: &'a Value,
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl<'a> Reader<'a> {
    pub fn new(root: &'a Value) -> Self {
        Reader { root }
    }

    /// The value at a dotted key, if present.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        let mut node = self.root;
        for part in key.split('.') {
            node = node.as_object()?.get(part)?;
        }
        (!node.is_null()).then_some(node)
    }

    fn wrong(key: &str, value: &Value, wanted: &'static str) -> ConfigError {
        ConfigError::WrongType { key: key.to_owned(), found: type_name(value), wanted }
    }

    pub fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
            Some(other) => Err(Self::wrong(key, other, "string")),
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" => Ok(Some(true)),
            Some(Value::String(s)) if s == "false" => Ok(Some(false)),
            Some(other) => Err(Self::wrong(key, other, "boolean")),
        }
    }

    pub fn number(&self, key: &str) -> Result<Option<f64>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(v @ Value::String(s)) => s.trim().parse::<f64>().map(Some).map_err(|_| Self::wrong(key, v, "number")),
            Some(other) => Err(Self::wrong(key, other, "number")),
        }
    }

    /// A whole number within `min..=max`.
    pub fn integer(&self, key: &str, min: i64, max: i64) -> Result<Option<i64>, ConfigError> {
        let Some(number) = self.number(key)? else { return Ok(None) };
        if number.fract() != 0.0 || number < min as f64 || number > max as f64 {
            return Err(ConfigError::Invalid {
                key: key.to_owned(),
                message: format!("{number} must be a whole number from {min} to {max}"),
            });
        }
        Ok(Some(number as i64))
    }

    pub fn duration(&self, key: &str) -> Result<Option<Duration>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => duration::parse(value)
                .map(Some)
                .map_err(|message| ConfigError::Invalid { key: key.to_owned(), message }),
        }
    }

    pub fn object(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(other) => Err(Self::wrong(key, other, "object")),
        }
    }

    pub fn array(&self, key: &str) -> Result<Option<&'a Vec<Value>>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(Self::wrong(key, other, "array")),
        }
    }

    /// A reader rooted at an item of an array (for `catalog.locations[2].target`-style keys).
    pub fn item(value: &'a Value) -> Reader<'a> {
        Reader { root: value }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn lenient_types_and_named_errors() {
        let tree = json!({"a": {"port": "7008", "flag": "true", "n": 3, "list": [1], "bad": {"x": 1}, "frac": 2.5}});
        let r = Reader::new(&tree);
        assert_eq!(r.number("a.port").unwrap(), Some(7008.0));
        assert_eq!(r.bool("a.flag").unwrap(), Some(true));
        assert_eq!(r.string("a.n").unwrap(), Some("3".to_owned()));
        assert_eq!(r.string("a.missing").unwrap(), None);
        let error = r.number("a.bad").unwrap_err().to_string();
        assert_eq!(error, "Invalid type in config for key 'a.bad', got object, wanted number");
        assert!(r.integer("a.frac", 0, 10).unwrap_err().to_string().contains("a.frac"));
        assert!(r.bool("a.list").is_err());
    }
}
