//! The templating environment: Nunjucks templates (translated to minijinja, see `nunjucks`) with
//! Backstage's filters and JavaScript's way of printing values, bounded so that a template cannot
//! run away.
//!
//! Two ways to render, as in Backstage:
//! - [`Renderer::render_value`] renders every string inside a JSON value (step inputs, `if`,
//!   `each`, `spec.output`). A string that is exactly one `${{ expr }}` keeps the expression's
//!   native type; an undefined result removes the key; a render error keeps the raw string.
//! - [`Renderer::render_text`] renders a whole text (skeleton files), and errors are errors.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use minijinja::value::Object;
use minijinja::{Environment, State, UndefinedBehavior, Value as JinjaValue};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::backstage::{self, Integration};
use crate::budget::{self, RenderBudget};
use crate::{checks, filters, js, methods, nunjucks, runtime};

/// Instruction budget for one render: generous for real templates, fatal for runaway loops.
const FUEL: u64 = 5_000_000;
const RECURSION_LIMIT: usize = 100;
/// Longest output one render may produce.
pub const DEFAULT_MAX_OUTPUT: usize = 16 * 1024 * 1024;
/// Translated sources kept for reuse (step inputs repeat across tasks).
const CACHE_ENTRIES: usize = 4096;

#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{message}")]
pub struct RenderError {
    pub message: String,
    /// 1-based line of the failure, when known.
    pub line: Option<usize>,
    /// True when a limit (time, output, nesting) was hit rather than a mistake in the template.
    pub limit: bool,
}

impl RenderError {
    fn syntax(source: &str, error: &nunjucks::SyntaxError) -> Self {
        let (line, column) = error.position(source);
        RenderError {
            message: format!("Template error at line {line}, column {column}: {}", error.message),
            line: Some(line),
            limit: false,
        }
    }

    fn from_jinja(error: &minijinja::Error, translated: &str) -> Self {
        let limit = matches!(error.kind(), minijinja::ErrorKind::OutOfFuel) || error.detail() == Some(budget::EXCEEDED);
        let mut detail = match error.detail() {
            Some(detail) => detail.to_owned(),
            None => error.kind().to_string(),
        };
        if error.kind() == minijinja::ErrorKind::OutOfFuel {
            detail = "the template took too many steps to render (is there an unbounded loop?)".to_owned();
        }
        if error.kind() == minijinja::ErrorKind::WriteFailure {
            detail = "the rendered output is larger than the limit".to_owned();
        }
        let detail = missing_end_tag(&detail).unwrap_or(detail);
        match error.line() {
            Some(line) => {
                let column = error
                    .range()
                    .map(|range| {
                        translated[..range.start.min(translated.len())]
                            .rsplit('\n')
                            .next()
                            .map_or(0, |l| l.chars().count())
                            + 1
                    })
                    .unwrap_or(1);
                RenderError {
                    message: format!("Template error at line {line}, column {column}: {detail}"),
                    line: Some(line),
                    limit,
                }
            }
            None => RenderError { message: format!("Template error: {detail}"), line: None, limit },
        }
    }
}

/// Nunjucks' wording for an unclosed block ("Missing endfor tag").
fn missing_end_tag(detail: &str) -> Option<String> {
    let rest = detail.strip_prefix("unexpected end of input, expected ")?;
    let tag = ["endfor", "endif", "endmacro", "endset", "endfilter", "endcall", "endraw", "endwith"]
        .into_iter()
        .find(|t| rest.contains(t))?;
    Some(format!("Missing {tag} tag"))
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

/// How a renderer is set up.
#[derive(Clone, Debug)]
pub struct RenderOptions {
    /// Hosts `parseRepoUrl` and `projectSlug` accept.
    pub integrations: Vec<Integration>,
    /// `{{ }}` instead of `${{ }}` (fetch:template's cookiecutterCompat).
    pub cookiecutter: bool,
    pub trim_blocks: bool,
    pub lstrip_blocks: bool,
    /// Longest output of one render.
    pub max_output: usize,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            integrations: Integration::defaults(),
            cookiecutter: false,
            trim_blocks: false,
            lstrip_blocks: false,
            max_output: DEFAULT_MAX_OUTPUT,
        }
    }
}

/// A configured environment. Build once and share: rendering only borrows it.
pub struct Renderer {
    env: Environment<'static>,
    variable_start: &'static str,
    max_output: usize,
    cache: Mutex<HashMap<String, Result<Arc<str>, RenderError>>>,
}

impl Default for Renderer {
    fn default() -> Self {
        Renderer::new()
    }
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer").field("variable_start", &self.variable_start).finish_non_exhaustive()
    }
}

/// Stops a render once it has written `remaining` bytes.
struct LimitedWriter<'a> {
    out: &'a mut Vec<u8>,
    remaining: usize,
}

impl Write for LimitedWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if bytes.len() > self.remaining {
            return Err(std::io::Error::other("output limit"));
        }
        self.remaining -= bytes.len();
        self.out.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Renderer {
    pub fn new() -> Self {
        Self::with_options(&RenderOptions::default())
    }

    pub fn with_options(options: &RenderOptions) -> Self {
        let mut env = Environment::new();
        let variable_start = if options.cookiecutter { "{{" } else { "${{" };
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .variable_delimiters(variable_start, "}}")
            .block_delimiters("{%", "%}")
            .comment_delimiters("{#", "#}")
            .trim_blocks(options.trim_blocks)
            .lstrip_blocks(options.lstrip_blocks)
            // Backstage keeps a file's final newline.
            .keep_trailing_newline(true)
            .build()
            .expect("valid delimiters");
        env.set_syntax(syntax);
        // JavaScript lookups: a missing key or a key of `undefined` is `undefined`, not an error.
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_formatter(|out, _state, value| {
            let text = js::display(value);
            // Also what `{% set x %}...{% endset %}` and macros capture.
            budget::charge(text.len())?;
            out.write_str(&text).map_err(|_| minijinja::Error::from(minijinja::ErrorKind::WriteFailure))
        });
        env.set_unknown_method_callback(methods::call);
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(RECURSION_LIMIT);
        runtime::register(&mut env);
        filters::register(&mut env);
        checks::register(&mut env);
        backstage::register(&mut env, Arc::new(options.integrations.clone()));
        if options.cookiecutter {
            env.add_filter("jsonify", |v: JinjaValue, indent: Option<usize>| {
                js::stringify(&v, indent.unwrap_or(0)).map(JinjaValue::from).unwrap_or_default()
            });
        }
        Renderer { env, variable_start, max_output: options.max_output, cache: Mutex::new(HashMap::new()) }
    }

    /// The source minijinja runs for `source` (translated from Nunjucks, cached).
    fn translated(&self, source: &str) -> Result<Arc<str>, RenderError> {
        if let Some(hit) = self.cache.lock().expect("render cache").get(source) {
            return hit.clone();
        }
        let result = nunjucks::translate(source, self.variable_start)
            .map(Arc::from)
            .map_err(|e| RenderError::syntax(source, &e));
        let mut cache = self.cache.lock().expect("render cache");
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        if source.len() <= 4096 {
            cache.insert(source.to_owned(), result.clone());
        }
        result
    }

    /// Renders a whole text; errors say where.
    pub fn render_text(&self, source: &str, context: &RenderContext) -> Result<String, RenderError> {
        self.render_text_in(source, &context.to_jinja())
    }

    /// What one render (with every render nested in it) may build besides its output.
    fn budget(&self) -> RenderBudget {
        RenderBudget::enter(self.max_output.max(1 << 20))
    }

    fn render_text_in(&self, source: &str, context: &JinjaValue) -> Result<String, RenderError> {
        let _budget = self.budget();
        let translated = self.translated(source)?;
        let template = self.env.template_from_str(&translated).map_err(|e| RenderError::from_jinja(&e, &translated))?;
        let mut out = Vec::with_capacity(source.len());
        let mut writer = LimitedWriter { out: &mut out, remaining: self.max_output };
        template.render_captured_to(context, &mut writer).map_err(|e| RenderError::from_jinja(&e, &translated))?;
        String::from_utf8(out).map_err(|_| RenderError {
            message: "Template error: output is not UTF-8".to_owned(),
            line: None,
            limit: false,
        })
    }

    /// Renders one string as a step value: `Ok(None)` means "undefined" (remove the key).
    pub fn render_string(&self, source: &str, context: &RenderContext) -> Result<Option<Value>, RenderError> {
        if self.is_plain(source) {
            return Ok(Some(Value::String(source.to_owned())));
        }
        self.render_string_in(source, &context.to_jinja())
    }

    fn render_string_in(&self, source: &str, context: &JinjaValue) -> Result<Option<Value>, RenderError> {
        if self.is_plain(source) {
            return Ok(Some(Value::String(source.to_owned())));
        }
        let _budget = self.budget();
        if let Some(expression) = single_expression(source, self.variable_start) {
            // Rendered as a one-tag template that yields the value itself, so native types survive.
            let translated = self.translated(&format!("{}{expression}}}}}", self.variable_start))?;
            let inner =
                translated.strip_prefix(self.variable_start).and_then(|t| t.strip_suffix("}}")).ok_or_else(|| {
                    RenderError {
                        message: "Template error: unexpected translation".to_owned(),
                        line: None,
                        limit: false,
                    }
                })?;
            let compiled = self.env.compile_expression(inner.trim()).map_err(|e| RenderError::from_jinja(&e, inner))?;
            let value = compiled.eval(context).map_err(|e| RenderError::from_jinja(&e, inner))?;
            let value = js::to_json(&value);
            if let Some(json) = &value {
                budget::charge_json(json).map_err(|e| RenderError::from_jinja(&e, inner))?;
            }
            return Ok(value);
        }
        Ok(Some(Value::String(self.render_text_in(source, context)?)))
    }

    /// Renders every string leaf of `value`, as Backstage renders step inputs and outputs: a
    /// failing string keeps its raw text; keys whose value is undefined disappear.
    pub fn render_value(&self, value: &Value, context: &RenderContext) -> Option<Value> {
        let _budget = self.budget();
        let context = context.to_jinja();
        self.render_value_in(value, &context, &mut None)
    }

    /// [`Renderer::render_value`], also saying which strings failed to render and why (`root`
    /// names `value` in those reports, e.g. `input`), so that authors learn what Backstage would
    /// have passed on silently.
    pub fn render_value_checked(
        &self,
        value: &Value,
        context: &RenderContext,
        root: &str,
    ) -> (Option<Value>, Vec<RenderProblem>) {
        let _budget = self.budget();
        let context = context.to_jinja();
        let mut problems = Some((root.to_owned(), Vec::new()));
        let rendered = self.render_value_in(value, &context, &mut problems);
        (rendered, problems.map(|(_, found)| found).unwrap_or_default())
    }

    fn render_value_in(
        &self,
        value: &Value,
        context: &JinjaValue,
        report: &mut Option<(String, Vec<RenderProblem>)>,
    ) -> Option<Value> {
        let at = |suffix: &str, report: &mut Option<(String, Vec<RenderProblem>)>, item: &Value| match report {
            Some((path, _)) => {
                let saved = path.len();
                path.push_str(suffix);
                let rendered = self.render_value_in(item, context, report);
                if let Some((path, _)) = report {
                    path.truncate(saved);
                }
                rendered
            }
            None => self.render_value_in(item, context, report),
        };
        match value {
            Value::String(source) => match self.render_string_in(source, context) {
                Ok(rendered) => rendered,
                Err(error) => {
                    if let Some((path, found)) = report {
                        found.push(RenderProblem {
                            path: path.clone(),
                            source: source.clone(),
                            limit: error.limit,
                            message: error.message,
                        });
                    }
                    Some(value.clone())
                }
            },
            Value::Array(items) => Some(Value::Array(
                // JSON has no undefined array items: Backstage's JSON round trip makes them null.
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| at(&format!("[{i}]"), report, item).unwrap_or(Value::Null))
                    .collect(),
            )),
            Value::Object(map) => Some(Value::Object(
                map.iter()
                    .filter_map(|(key, item)| at(&format!(".{key}"), report, item).map(|v| (key.clone(), v)))
                    .collect(),
            )),
            other => Some(other.clone()),
        }
    }

    /// Text with nothing to render.
    fn is_plain(&self, source: &str) -> bool {
        !source.contains(self.variable_start) && !source.contains("{%") && !source.contains("{#")
    }
}

/// A string of a step (or of `spec.output`) that could not be rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderProblem {
    /// Where it is: `input.values.name`, `if`, `output.links[0].url`.
    pub path: String,
    /// The text as written in the template.
    pub source: String,
    pub message: String,
    /// A limit (steps, nesting, size) was hit: the template runs away rather than being wrong.
    pub limit: bool,
}

impl std::fmt::Display for RenderProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} could not be rendered and is used as written: {:?}: {}", self.path, self.source, self.message)
    }
}

/// If `source` is exactly one `${{ expression }}`, the expression.
fn single_expression<'s>(source: &'s str, start: &str) -> Option<&'s str> {
    let inner = source.strip_prefix(start)?;
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

#[cfg(test)]
mod tests;
