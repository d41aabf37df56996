//! Step inputs (`Renderer::render_value`): a JSON value whose strings may hold `${{ }}`
//! expressions and Nunjucks blocks, rendered against parameters that are fuzzed too.
//!
//! Invariants: no panic; `render_value` and `render_value_checked` agree; a value with nothing to
//! render comes back unchanged; a failing string is kept as written and reported.

#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use templates::{RenderContext, Renderer};

/// As deep as JSON parsed by serde_json (and YAML by serde_norway) can be.
const MAX_DEPTH: usize = 128;

/// A JSON value, with strings that are often templated.
#[derive(Arbitrary, Debug)]
enum Tree {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// `${{ … }}`: one expression, which keeps its native type.
    Expression(String),
    /// Text around an expression, or a block: always rendered as text.
    Mixed(String, String, String),
    Block(String, String),
    Array(Vec<Tree>),
    Object(Vec<(String, Tree)>),
}

impl Tree {
    fn to_json(&self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        Some(match self {
            Tree::Null => Value::Null,
            Tree::Bool(b) => Value::Bool(*b),
            Tree::Int(i) => json!(i),
            Tree::Float(f) => json!(f),
            Tree::Text(text) => Value::String(text.clone()),
            Tree::Expression(expression) => Value::String(format!("${{{{ {expression} }}}}")),
            Tree::Mixed(before, expression, after) => Value::String(format!("{before}${{{{ {expression} }}}}{after}")),
            Tree::Block(tag, body) => Value::String(format!("{{% {tag} %}}{body}")),
            Tree::Array(items) => {
                Value::Array(items.iter().map(|item| item.to_json(depth + 1)).collect::<Option<Vec<_>>>()?)
            }
            Tree::Object(entries) => {
                let mut map = Map::new();
                for (key, item) in entries {
                    map.insert(key.clone(), item.to_json(depth + 1)?);
                }
                Value::Object(map)
            }
        })
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    value: Tree,
    parameters: Tree,
    /// `always()`/`failure()` available, and what `failure()` says.
    status_checks: Option<bool>,
}

fn renderer() -> &'static Renderer {
    static RENDERER: OnceLock<Renderer> = OnceLock::new();
    RENDERER.get_or_init(Renderer::new)
}

/// Whether any string in `value` has something to render (keys are never rendered).
fn has_template(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains("${{") || text.contains("{%") || text.contains("{#"),
        Value::Array(items) => items.iter().any(has_template),
        Value::Object(map) => map.values().any(has_template),
        _ => false,
    }
}

fuzz_target!(|input: Input| {
    let (Some(value), Some(parameters)) = (input.value.to_json(0), input.parameters.to_json(0)) else { return };
    let mut context = RenderContext::new()
        .with("parameters", parameters)
        .with("secrets", json!({"token": "s3cr3t"}))
        .with("steps", json!({"one": {"output": {"n": 1, "list": [1, 2]}}}));
    if let Some(failed) = input.status_checks {
        context = context.with_status_checks(failed);
    }
    let renderer = renderer();
    let plain = renderer.render_value(&value, &context);
    let (checked, problems) = renderer.render_value_checked(&value, &context, "input");
    assert_eq!(plain, checked, "render_value and render_value_checked disagree");
    if !has_template(&value) {
        assert_eq!(plain.as_ref(), Some(&value), "a value with nothing to render changed");
        assert!(problems.is_empty(), "problems reported for plain values: {problems:?}");
    }
    for problem in &problems {
        assert!(problem.path.starts_with("input"), "{problem:?}");
        assert!(!problem.message.is_empty(), "{problem:?}");
    }
});
