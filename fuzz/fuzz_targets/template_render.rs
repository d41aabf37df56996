//! Nunjucks text and `${{ }}` expressions, rendered as skeleton files and step values are, with a
//! fixed context. Any source must render or fail with an error: no panic, no hang (fuel), no
//! unbounded memory (output and size limits). The first byte picks the renderer and the mode.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use templates::{DEFAULT_MAX_OUTPUT, RenderContext, RenderOptions, Renderer};

/// `${{ }}` and cookiecutter's `{{ }}`, each with and without trimBlocks/lstripBlocks.
fn renderers() -> &'static [Renderer; 4] {
    static RENDERERS: OnceLock<[Renderer; 4]> = OnceLock::new();
    RENDERERS.get_or_init(|| {
        let with = |cookiecutter: bool, trim: bool| {
            Renderer::with_options(&RenderOptions {
                cookiecutter,
                trim_blocks: trim,
                lstrip_blocks: trim,
                ..RenderOptions::default()
            })
        };
        [with(false, false), with(false, true), with(true, false), with(true, true)]
    })
}

/// What a step sees: parameters of every type, earlier steps' outputs, secrets, the user.
fn context() -> &'static RenderContext {
    static CONTEXT: OnceLock<RenderContext> = OnceLock::new();
    CONTEXT.get_or_init(|| {
        RenderContext::new()
            .with(
                "parameters",
                json!({
                    "name": "alpha", "count": 3, "ok": true, "tags": ["a", "b"], "obj": {"k": "v", "n": 2},
                    "nothing": null, "empty": "", "zero": 0, "list": [], "url": "github.com?owner=acme&repo=app",
                    "ratio": 0.25, "big": 9_007_199_254_740_993_i64, "min": i64::MIN, "max": i64::MAX,
                    "text": "Hello World", "unicode": "héllo😀", "csv": "a,b,c", "mixed": [3, 1, 2],
                    "items": [{"n": "x", "on": true}, {"n": "y", "on": false}], "a-b": "dash",
                    "deep": {"a": {"b": {"c": {"d": [1, [2, [3]]]}}}},
                }),
            )
            .with("steps", json!({"fetch": {"output": {"remoteUrl": "https://github.com/acme/app", "files": 3}}}))
            .with("secrets", json!({"token": "s3cr3t"}))
            .with("user", json!({"entity": {"metadata": {"name": "alice"}}, "ref": "user:default/alice"}))
            .with("context", json!({"task": {"id": "00000000-0000-0000-0000-000000000000"}}))
            .with("values", json!({"name": "alpha", "component_id": "app", "owner": "group:default/team"}))
    })
}

fn is_plain(source: &str, start: &str) -> bool {
    !source.contains(start) && !source.contains("{%") && !source.contains("{#")
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let Ok(source) = std::str::from_utf8(rest) else { return };
    let index = usize::from(flags & 0b11);
    let renderer = &renderers()[index];
    let start = if index >= 2 { "{{" } else { "${{" };
    let checks = flags & 0b100 != 0;
    let base = context();
    let context = if checks { base.clone().with_status_checks(flags & 0b1000 != 0) } else { base.clone() };

    if flags & 0b1_0000 == 0 {
        // A skeleton file.
        let first = renderer.render_text(source, &context);
        if let Ok(text) = &first {
            assert!(text.len() <= DEFAULT_MAX_OUTPUT, "output past the limit: {} bytes", text.len());
        }
        // The second render comes from the translation cache and must agree with the first.
        let second = renderer.render_text(source, &context);
        assert_eq!(first, second, "rendering is deterministic");
    } else {
        // A step value: a lone expression keeps its type.
        let first = renderer.render_string(source, &context);
        if is_plain(source, start) {
            assert_eq!(first, Ok(Some(Value::String(source.to_owned()))), "plain text is kept as written");
        }
        if let Ok(Some(Value::String(text))) = &first {
            assert!(text.len() <= DEFAULT_MAX_OUTPUT, "output past the limit: {} bytes", text.len());
        }
        let second = renderer.render_string(source, &context);
        assert_eq!(first, second, "rendering is deterministic");
    }
});
