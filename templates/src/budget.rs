//! How much one render may build. Fuel counts instructions, not bytes: one `replace`, `~`, `join`
//! or `center` can multiply a string, so a handful of instructions could otherwise ask for
//! gigabytes and take the process down. Every operation that builds text or a list charges what
//! it builds against an allowance held for the current render on this thread; operations whose
//! result can be far larger than their inputs charge it *before* building it.
//!
//! A render is synchronous and stays on one thread, so the allowance is thread-local; nested
//! renders (every string of a step's input, every iteration of `each`) share the outermost one.

use std::cell::Cell;

use minijinja::value::ValueKind;
use minijinja::{Error, ErrorKind, Value};

/// What the error says; [`crate::RenderError`] marks it as a limit.
pub(crate) const EXCEEDED: &str =
    "the template builds more text than the limit (a runaway replace, join, concatenation or padding?)";

/// What one item of a built list is counted as (a value and its share of the list).
pub(crate) const ITEM: usize = 32;

thread_local! {
    static REMAINING: Cell<Option<usize>> = const { Cell::new(None) };
}

/// An allowance for renders on this thread while it is alive; inside another one it changes
/// nothing (the outer allowance keeps counting).
#[must_use = "the allowance ends when this is dropped"]
pub struct RenderBudget {
    outermost: bool,
}

impl RenderBudget {
    pub fn enter(bytes: usize) -> RenderBudget {
        REMAINING.with(|remaining| {
            if remaining.get().is_some() {
                RenderBudget { outermost: false }
            } else {
                remaining.set(Some(bytes));
                RenderBudget { outermost: true }
            }
        })
    }
}

impl Drop for RenderBudget {
    fn drop(&mut self) {
        if self.outermost {
            REMAINING.with(|remaining| remaining.set(None));
        }
    }
}

/// Charges `bytes` about to be built.
pub(crate) fn charge(bytes: usize) -> Result<(), Error> {
    REMAINING.with(|remaining| match remaining.get() {
        None => Ok(()),
        Some(left) if bytes <= left => {
            remaining.set(Some(left - bytes));
            Ok(())
        }
        Some(_) => {
            remaining.set(Some(0));
            Err(Error::new(ErrorKind::InvalidOperation, EXCEEDED))
        }
    })
}

/// Refuses, without charging, building `bytes` that could not fit in what is left.
pub(crate) fn check(bytes: usize) -> Result<(), Error> {
    REMAINING.with(|remaining| match remaining.get() {
        Some(left) if bytes > left => Err(Error::new(ErrorKind::InvalidOperation, EXCEEDED)),
        _ => Ok(()),
    })
}

/// Charges `count` items of a list about to be built.
pub(crate) fn charge_items(count: usize) -> Result<(), Error> {
    charge(count.saturating_mul(ITEM))
}

/// Charges a value just built: a string's bytes, a list's items.
pub(crate) fn charged(value: Value) -> Result<Value, Error> {
    match value.kind() {
        ValueKind::String => charge(value.as_str().map_or(0, str::len))?,
        ValueKind::Seq => charge_items(value.len().unwrap_or(0))?,
        _ => {}
    }
    Ok(value)
}

/// Charges a JSON value a render hands back (its strings and its nodes).
pub(crate) fn charge_json(value: &serde_json::Value) -> Result<(), Error> {
    fn size(value: &serde_json::Value) -> usize {
        ITEM + match value {
            serde_json::Value::String(s) => s.len(),
            serde_json::Value::Array(items) => items.iter().map(size).sum(),
            serde_json::Value::Object(map) => map.iter().map(|(k, v)| k.len() + size(v)).sum(),
            _ => 0,
        }
    }
    charge(size(value))
}

/// A string built piece by piece, each piece charged before it is added.
#[derive(Default)]
pub(crate) struct Text(String);

impl Text {
    pub(crate) fn push(&mut self, piece: &str) -> Result<(), Error> {
        charge(piece.len())?;
        self.0.push_str(piece);
        Ok(())
    }

    /// Adds a piece its builder has already charged.
    pub(crate) fn push_uncharged(&mut self, piece: &str) {
        self.0.push_str(piece);
    }

    pub(crate) fn into_value(self) -> Value {
        Value::from(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outermost_allowance_counts_for_nested_renders() {
        assert!(charge(usize::MAX).is_ok(), "no allowance: nothing is counted");
        let outer = RenderBudget::enter(10);
        charge(4).unwrap();
        {
            let _inner = RenderBudget::enter(1000);
            charge(4).unwrap();
            assert_eq!(charge(4).unwrap_err().detail(), Some(EXCEEDED));
        }
        assert!(charge(1).is_err(), "spent, and it stays spent");
        drop(outer);
        assert!(charge(1 << 40).is_ok());
    }

    #[test]
    fn text_that_would_outgrow_the_budget_is_refused_before_it_is_built() {
        let renderer =
            crate::Renderer::with_options(&crate::RenderOptions { max_output: 1 << 20, ..Default::default() });
        let context = crate::RenderContext::new();
        let mega = "'x'.repeat(1000).repeat(1000)";
        let bombs = [
            format!("${{{{ {mega}.replaceAll('x', 'xx') }}}}"),
            format!("${{{{ {mega} | replace('x', 'xx') }}}}"),
            format!("${{{{ {mega}.replace(r/x/g, '$&$&') }}}}"),
            format!("${{{{ {mega} ~ {mega} }}}}"),
            format!("${{{{ {mega} + {mega} }}}}"),
            format!("${{{{ {mega}.concat({mega}) }}}}"),
            format!("${{{{ [{mega}, {mega}] | join }}}}"),
            format!("${{{{ range(3) | join({mega}) }}}}"),
            format!("{{% set s %}}${{{{ {mega} }}}}${{{{ {mega} }}}}{{% endset %}}${{{{ s | length }}}}"),
            "${{ 'x' | center(100000000) }}".to_owned(),
            "${{ [1] | slice(100000000) | length }}".to_owned(),
            "${{ [1] | batch(100000000, 0) | length }}".to_owned(),
            format!("${{{{ {mega}.split('') | length }}}}"),
            format!("${{{{ {mega} | list | length }}}}"),
        ];
        for bomb in bombs {
            let error = renderer.render_text(&bomb, &context).unwrap_err();
            assert!(error.limit && error.message.contains(EXCEEDED), "{bomb}: {error:?}");
            let error = renderer.render_string(&bomb, &context).unwrap_err();
            assert!(error.limit && error.message.contains(EXCEEDED), "{bomb}: {error:?}");
        }
        // What fits is built as before.
        assert_eq!(
            renderer.render_text("${{ 'ab'.repeat(3) ~ 'c' | upper }}", &context).unwrap(),
            "ababab".to_owned() + "C"
        );
        for removed in ["${{ [1] | chain([2]) }}", "${{ '%s' | format(1) }}", "${{ 1 | tojson }}", "${{ debug() }}"] {
            assert!(renderer.render_text(removed, &context).is_err(), "{removed}");
        }
    }
}
