//! The templating environment: minijinja configured with Backstage's `${{ }}` syntax and
//! JavaScript's way of printing values, bounded so that a template cannot run away.
//!
//! Two ways to render, as in Backstage:
//! - [`Renderer::render_value`] renders every string inside a JSON value (step inputs, `if`,
//!   `each`, `spec.output`). A string that is exactly one `${{ expr }}` keeps the expression's
//!   native type; an undefined result removes the key; a render error keeps the raw string.
//! - [`Renderer::render_text`] renders a whole text (skeleton files), and errors are errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use minijinja::value::{Object, ValueKind};
use minijinja::{Environment, State, UndefinedBehavior, Value as JinjaValue};
use serde_json::{Map, Value};
use thiserror::Error;

/// Instruction budget for one render: generous for real templates, fatal for runaway loops.
const FUEL: u64 = 2_000_000;
const RECURSION_LIMIT: usize = 100;

#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{message}")]
pub struct RenderError {
    pub message: String,
    /// 1-based line of the failing expression, when known.
    pub line: Option<usize>,
}

impl From<minijinja::Error> for RenderError {
    fn from(error: minijinja::Error) -> Self {
        let line = error.line();
        let detail = error.detail().map(str::to_owned).unwrap_or_else(|| error.kind().to_string());
        let message = match line {
            Some(line) => format!("Template error at line {line}: {detail}"),
            None => format!("Template error: {detail}"),
        };
        RenderError { message, line }
    }
}

/// The variables a template sees (`parameters`, `steps`, `secrets`, `user`, `context`, ...).
#[derive(Clone, Debug, Default)]
pub struct RenderContext {
    root: Map<String, Value>,
    status_checks: Option<StatusChecks>,
}

/// The `always()` and `failure()` globals of step rendering, and whether a render called them.
#[derive(Clone, Debug)]
struct StatusChecks {
    failed: bool,
    invoked: Arc<AtomicBool>,
}

#[derive(Debug)]
struct StatusCheck {
    result: bool,
    invoked: Arc<AtomicBool>,
}

impl Object for StatusCheck {
    fn call(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        _args: &[JinjaValue],
    ) -> Result<JinjaValue, minijinja::Error> {
        self.invoked.store(true, Ordering::Relaxed);
        Ok(JinjaValue::from(self.result))
    }
}

impl RenderContext {
    pub fn new() -> Self {
        RenderContext::default()
    }

    pub fn with(mut self, name: &str, value: Value) -> Self {
        self.root.insert(name.to_owned(), value);
        self
    }

    pub fn set(&mut self, name: &str, value: Value) {
        self.root.insert(name.to_owned(), value);
    }

    pub fn remove(&mut self, name: &str) -> Option<Value> {
        self.root.remove(name)
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.root.get(name)
    }

    /// Makes `always()` and `failure()` available (step rendering); `failed` is what
    /// `failure()` returns.
    pub fn with_status_checks(mut self, failed: bool) -> Self {
        self.status_checks = Some(StatusChecks { failed, invoked: Arc::new(AtomicBool::new(false)) });
        self
    }

    /// Whether a render since the last call invoked `always()` or `failure()`.
    pub fn take_status_check_invoked(&self) -> bool {
        self.status_checks.as_ref().is_some_and(|checks| checks.invoked.swap(false, Ordering::Relaxed))
    }

    fn to_jinja(&self) -> JinjaValue {
        let root = JinjaValue::from(minijinja::value::Serde(&self.root));
        match &self.status_checks {
            None => root,
            Some(checks) => {
                let globals = minijinja::context! {
                    always => JinjaValue::from_object(StatusCheck { result: true, invoked: checks.invoked.clone() }),
                    failure => JinjaValue::from_object(StatusCheck { result: checks.failed, invoked: checks.invoked.clone() }),
                };
                minijinja::value::merge_maps([root, globals])
            }
        }
    }
}

/// A configured environment. Build once and share: rendering only borrows it.
pub struct Renderer {
    env: Environment<'static>,
}

impl Default for Renderer {
    fn default() -> Self {
        Renderer::new()
    }
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer").finish_non_exhaustive()
    }
}

impl Renderer {
    pub fn new() -> Self {
        let mut env = Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .variable_delimiters("${{", "}}")
            .block_delimiters("{%", "%}")
            .comment_delimiters("{#", "#}")
            // Backstage keeps a file's final newline.
            .keep_trailing_newline(true)
            .build()
            .expect("valid delimiters");
        env.set_syntax(syntax);
        // JavaScript lookups: a missing key or a key of `undefined` is `undefined`, not an error.
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_formatter(|out, _state, value| {
            out.write_str(&js_display(value)).map_err(|_| minijinja::Error::from(minijinja::ErrorKind::WriteFailure))
        });
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(RECURSION_LIMIT);
        Renderer { env }
    }

    /// Renders a whole text; errors say where.
    pub fn render_text(&self, source: &str, context: &RenderContext) -> Result<String, RenderError> {
        Ok(self.env.render_str(source, context.to_jinja())?)
    }

    /// Renders one string as a step value: `Ok(None)` means "undefined" (remove the key).
    pub fn render_string(&self, source: &str, context: &RenderContext) -> Result<Option<Value>, RenderError> {
        if is_plain(source) {
            return Ok(Some(Value::String(source.to_owned())));
        }
        self.render_string_in(source, &context.to_jinja())
    }

    fn render_string_in(&self, source: &str, context: &JinjaValue) -> Result<Option<Value>, RenderError> {
        if is_plain(source) {
            return Ok(Some(Value::String(source.to_owned())));
        }
        if let Some(expression) = single_expression(source) {
            let compiled = self.env.compile_expression(expression.trim())?;
            let value = compiled.eval(context.clone())?;
            return Ok(to_json(&value));
        }
        Ok(Some(Value::String(self.env.render_str(source, context.clone())?)))
    }

    /// Renders every string leaf of `value`, as Backstage renders step inputs and outputs: a
    /// failing string keeps its raw text; keys whose value is undefined disappear.
    pub fn render_value(&self, value: &Value, context: &RenderContext) -> Option<Value> {
        let context = context.to_jinja();
        self.render_value_in(value, &context)
    }

    fn render_value_in(&self, value: &Value, context: &JinjaValue) -> Option<Value> {
        match value {
            Value::String(source) => match self.render_string_in(source, context) {
                Ok(rendered) => rendered,
                Err(_) => Some(value.clone()),
            },
            Value::Array(items) => Some(Value::Array(
                // JSON has no undefined array items: Backstage's JSON round trip makes them null.
                items.iter().map(|item| self.render_value_in(item, context).unwrap_or(Value::Null)).collect(),
            )),
            Value::Object(map) => Some(Value::Object(
                map.iter()
                    .filter_map(|(key, item)| self.render_value_in(item, context).map(|v| (key.clone(), v)))
                    .collect(),
            )),
            other => Some(other.clone()),
        }
    }
}

/// Text with nothing to render.
fn is_plain(source: &str) -> bool {
    !source.contains("${{") && !source.contains("{%") && !source.contains("{#")
}

/// If `source` is exactly one `${{ expression }}`, the expression.
fn single_expression(source: &str) -> Option<&str> {
    let inner = source.strip_prefix("${{")?;
    let end = closing_delimiter(inner)?;
    (end + 2 == inner.len()).then(|| &inner[..end])
}

/// Byte offset of the `}}` that closes an expression, skipping string literals and braces.
fn closing_delimiter(expression: &str) -> Option<usize> {
    let bytes = expression.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'"' | b'\'') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'{' => depth += 1,
            b'}' if depth > 0 => depth -= 1,
            b'}' if bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// A rendered value as JSON; `None` for undefined.
fn to_json(value: &JinjaValue) -> Option<Value> {
    if value.is_undefined() {
        return None;
    }
    serde_json::to_value(value).ok()
}

/// How JavaScript turns a value into text in a template.
fn js_display(value: &JinjaValue) -> String {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => String::new(),
        ValueKind::Number => match (value.as_i64(), f64::try_from(value.clone())) {
            (Some(i), _) => i.to_string(),
            (None, Ok(f)) => js_number(f),
            _ => value.to_string(),
        },
        ValueKind::Seq | ValueKind::Iterable => match value.try_iter() {
            Ok(items) => items.map(|item| js_display(&item)).collect::<Vec<_>>().join(","),
            Err(_) => value.to_string(),
        },
        ValueKind::Map => "[object Object]".to_owned(),
        _ => value.to_string(),
    }
}

fn js_number(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity".to_owned() } else { "-Infinity".to_owned() }
    } else if f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{f:.0}")
    } else {
        f.to_string()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn context() -> RenderContext {
        RenderContext::new().with(
            "parameters",
            json!({"name": "alpha", "count": 3, "ok": true, "tags": ["a", "b"], "obj": {"k": "v"}, "nothing": null}),
        )
    }

    #[test]
    fn whole_expressions_keep_native_types() {
        let r = Renderer::new();
        let c = context();
        let cases = [
            ("${{ parameters.count }}", Some(json!(3))),
            ("${{ parameters.ok }}", Some(json!(true))),
            ("${{ parameters.tags }}", Some(json!(["a", "b"]))),
            ("${{ parameters.obj }}", Some(json!({"k": "v"}))),
            ("${{ parameters.nothing }}", Some(Value::Null)),
            ("${{ parameters.missing }}", None),
            ("${{parameters.name}}", Some(json!("alpha"))),
            ("${{ { 'a': 1 } }}", Some(json!({"a": 1}))),
        ];
        for (source, expected) in cases {
            assert_eq!(r.render_string(source, &c).unwrap(), expected, "{source}");
        }
    }

    #[test]
    fn mixed_text_prints_like_javascript() {
        let r = Renderer::new();
        let c = context();
        let cases = [
            ("Hello, ${{ parameters.name }}!", "Hello, alpha!"),
            ("${{ parameters.count }} items", "3 items"),
            ("[${{ parameters.tags }}]", "[a,b]"),
            ("${{ parameters.obj }}.", "[object Object]."),
            ("x${{ parameters.missing }}y", "xy"),
            ("x${{ parameters.nothing }}y", "xy"),
            ("${{ parameters.name }}-${{ parameters.count }}", "alpha-3"),
            ("no expressions", "no expressions"),
        ];
        for (source, expected) in cases {
            assert_eq!(r.render_string(source, &c).unwrap(), Some(json!(expected)), "{source}");
        }
    }

    #[test]
    fn render_value_removes_undefined_keys_and_keeps_failures_raw() {
        let r = Renderer::new();
        let input = json!({"a": "${{ parameters.name }}", "gone": "${{ parameters.missing }}", "bad": "${{ parameters.name | nosuchfilter }}", "n": 5, "list": ["${{ parameters.count }}"]});
        assert_eq!(
            r.render_value(&input, &context()).unwrap(),
            json!({"a": "alpha", "bad": "${{ parameters.name | nosuchfilter }}", "n": 5, "list": [3]})
        );
    }

    #[test]
    fn render_text_reports_errors_and_keeps_trailing_newline() {
        let r = Renderer::new();
        assert_eq!(r.render_text("name: ${{ parameters.name }}\n", &context()).unwrap(), "name: alpha\n");
        let error = r.render_text("line one\n{% for x in parameters.tags %}\n", &context()).unwrap_err();
        assert!(error.message.starts_with("Template error"), "{error:?}");
    }

    #[test]
    fn runaway_loops_run_out_of_fuel() {
        let r = Renderer::new();
        let error = r.render_text(
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            &context(),
        );
        assert!(error.is_err());
    }

    #[test]
    fn status_checks_report_whether_they_were_called() {
        let r = Renderer::new();
        let c = context().with_status_checks(true);
        assert_eq!(r.render_string("${{ failure() }}", &c).unwrap(), Some(json!(true)));
        assert!(c.take_status_check_invoked());
        assert!(!c.take_status_check_invoked());
        assert_eq!(r.render_string("${{ parameters.ok }}", &c).unwrap(), Some(json!(true)));
        assert!(!c.take_status_check_invoked());
        let ok = context().with_status_checks(false);
        assert_eq!(r.render_string("${{ always() and not failure() }}", &ok).unwrap(), Some(json!(true)));
    }

    #[test]
    fn single_expression_detection() {
        assert_eq!(single_expression("${{ a }}"), Some(" a "));
        assert_eq!(single_expression("${{ a }} and ${{ b }}"), None);
        assert_eq!(single_expression("${{ '}}' }}"), Some(" '}}' "));
        assert_eq!(single_expression("x${{ a }}"), None);
        assert_eq!(single_expression("${{ a }}x"), None);
    }
}
