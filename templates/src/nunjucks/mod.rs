//! Nunjucks templates, translated to minijinja.
//!
//! Backstage renders templates with a Nunjucks dialect whose expressions mean what they mean in
//! JavaScript (`===`, loose `==`, `+` that concatenates, `.length`, bare keys in `{ a: 1 }`, regular
//! expression literals, `a if b` giving `""`). minijinja parses Jinja, so every tag is re-written
//! here before minijinja sees it: expressions are parsed with Nunjucks' grammar (`lexer`, `expr`)
//! and emitted in minijinja syntax that calls JavaScript-semantics helpers (`runtime`). Statements
//! get the same treatment (`if`/`elseif` conditions use JavaScript truthiness, `for k, v in obj`
//! iterates entries, `switch` becomes an `if` chain, `verbatim` is `raw`).
//!
//! Line numbers survive the translation (every tag keeps its line breaks), so minijinja's errors
//! still point at the author's line.

mod expr;
mod lexer;

use expr::{Expr, Parser};
use lexer::{Tok, tokenize};

/// A template that cannot be parsed: the byte offset in the source and what is wrong there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub offset: usize,
    pub message: String,
}

impl SyntaxError {
    pub(crate) fn at(offset: usize, message: impl Into<String>) -> Self {
        SyntaxError { offset, message: message.into() }
    }

    /// 1-based line and column of the error in `source`.
    pub(crate) fn position(&self, source: &str) -> (usize, usize) {
        let offset = self.offset.min(source.len());
        let before = &source[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }
}

/// Translates a whole template whose variables open with `variable_start` (`${{`, or `{{` in
/// cookiecutter mode) and close with `}}`.
pub(crate) fn translate(source: &str, variable_start: &str) -> Result<String, SyntaxError> {
    let mut out = String::with_capacity(source.len() + source.len() / 4);
    let mut switches: Vec<Switch> = Vec::new();
    // Open blocks, so that an unclosed one is reported where it opens, as Nunjucks does.
    let mut open: Vec<(&str, usize)> = Vec::new();
    let mut i = 0;
    // Where each opening delimiter next occurs (at or after the last search): searching the rest
    // of the source for all three at every tag made long templates quadratic.
    let mut upcoming: [Option<Option<usize>>; 3] = [None; 3];
    while i < source.len() {
        let next = [(variable_start, Kind::Variable), ("{%", Kind::Block), ("{#", Kind::Comment)]
            .into_iter()
            .zip(upcoming.iter_mut())
            .filter_map(|((start, kind), upcoming)| {
                let at = match *upcoming {
                    Some(Some(at)) if at >= i => Some(at),
                    Some(None) => None,
                    _ => source[i..].find(start).map(|at| i + at),
                };
                *upcoming = Some(at);
                at.map(|at| (at, start, kind))
            })
            .min_by_key(|(at, _, _)| *at);
        let Some((at, start, kind)) = next else {
            push_text(&mut out, &source[i..], &switches);
            break;
        };
        push_text(&mut out, &source[i..at], &switches);
        match kind {
            Kind::Comment => {
                let end = source[at..]
                    .find("#}")
                    .map(|e| at + e + 2)
                    .ok_or_else(|| SyntaxError::at(at, "unclosed comment"))?;
                out.push_str(&source[at..end]);
                i = end;
            }
            Kind::Variable => {
                let tag = Tag::read(source, at, start, "}}")?;
                let expr = parse_expression(source, tag.inner_start, tag.inner_end)?;
                tag.write(&mut out, start, "}}", &expr::emit(&expr));
                i = tag.end;
            }
            Kind::Block => {
                let tag = Tag::read(source, at, "{%", "%}")?;
                i = tag.end;
                let inner = &source[tag.inner_start..tag.inner_end];
                let trimmed = inner.trim_start();
                let leading = inner.len() - trimmed.len();
                let name_len =
                    trimmed.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(trimmed.len());
                let name = &trimmed[..name_len];
                let rest_start = tag.inner_start + leading + name.len();
                track_blocks(&mut open, name, &source[rest_start..tag.inner_end], tag.start)?;
                match name {
                    "if" | "elif" | "elseif" => {
                        let cond = parse_expression(source, rest_start, tag.inner_end)?;
                        let keyword = if name == "if" { "if" } else { "elif" };
                        tag.write(&mut out, "{%", "%}", &format!("{keyword} __nj_truthy({})", expr::emit(&cond)));
                    }
                    "for" => {
                        let content = for_loop(source, rest_start, tag.inner_end)?;
                        tag.write(&mut out, "{%", "%}", &content);
                    }
                    "set" => match set_statement(source, rest_start, tag.inner_end)? {
                        Some(content) => tag.write(&mut out, "{%", "%}", &content),
                        None => out.push_str(&source[tag.start..tag.end]),
                    },
                    "raw" | "verbatim" => {
                        let (body_end, close_end, close) =
                            find_raw_end(source, tag.end, if name == "raw" { "endraw" } else { "endverbatim" })
                                .ok_or_else(|| {
                                    SyntaxError::at(
                                        tag.start,
                                        format!("Missing end{} tag", if name == "raw" { "raw" } else { "verbatim" }),
                                    )
                                })?;
                        tag.write(&mut out, "{%", "%}", "raw");
                        out.push_str(&source[tag.end..body_end]);
                        close.write(&mut out, "{%", "%}", "endraw");
                        i = close_end;
                    }
                    "include" | "import" | "extends" | "from" | "block" | "endblock" => {
                        return Err(SyntaxError::at(tag.start, format!("Unsupported template-loading tag '{name}'")));
                    }
                    "switch" => {
                        let subject = parse_expression(source, rest_start, tag.inner_end)?;
                        let id = switches.len();
                        switches.push(Switch { cases: 0, before_first_case: true });
                        tag.write(&mut out, "{%", "%}", &format!("set __nj_switch_{id} = {}", expr::emit(&subject)));
                    }
                    "case" => {
                        let value = parse_expression(source, rest_start, tag.inner_end)?;
                        let id = switches
                            .len()
                            .checked_sub(1)
                            .ok_or_else(|| SyntaxError::at(tag.start, "'case' outside a switch"))?;
                        let switch = &mut switches[id];
                        let keyword = if switch.cases == 0 { "if" } else { "elif" };
                        switch.cases += 1;
                        switch.before_first_case = false;
                        tag.write(
                            &mut out,
                            "{%",
                            "%}",
                            &format!("{keyword} __nj_strict_eq(__nj_switch_{id}, {})", expr::emit(&value)),
                        );
                    }
                    "default" if !switches.is_empty() => {
                        let switch = switches.last_mut().expect("checked");
                        switch.before_first_case = false;
                        let content = if switch.cases == 0 { "if true" } else { "else" };
                        switch.cases += 1;
                        tag.write(&mut out, "{%", "%}", content);
                    }
                    "endswitch" => {
                        let switch =
                            switches.pop().ok_or_else(|| SyntaxError::at(tag.start, "'endswitch' without a switch"))?;
                        if switch.cases > 0 {
                            tag.write(&mut out, "{%", "%}", "endif");
                        }
                    }
                    _ => out.push_str(&source[tag.start..tag.end]),
                }
            }
        }
    }
    if let Some((name, at)) = open.last() {
        return Err(SyntaxError::at(*at, format!("Missing end{name} tag")));
    }
    Ok(out)
}

/// Keeps the stack of open blocks; a closing tag must close the innermost block.
fn track_blocks<'s>(open: &mut Vec<(&'s str, usize)>, name: &'s str, rest: &str, at: usize) -> Result<(), SyntaxError> {
    match name {
        "if" | "for" | "macro" | "call" | "filter" | "switch" => open.push((name, at)),
        // `set x = ...` is a statement; `set x` opens a block.
        "set" if !rest.contains('=') => open.push((name, at)),
        _ => {
            if let Some(opened) = name.strip_prefix("end") {
                match open.pop() {
                    Some((top, _)) if top == opened => {}
                    Some((top, _)) => {
                        return Err(SyntaxError::at(
                            at,
                            format!("unexpected end{opened}: the open block is {top} (expected end{top})"),
                        ));
                    }
                    None => {
                        return Err(SyntaxError::at(at, format!("unexpected end{opened}: no {opened} block is open")));
                    }
                }
            }
        }
    }
    Ok(())
}

enum Kind {
    Variable,
    Block,
    Comment,
}

struct Switch {
    cases: usize,
    before_first_case: bool,
}

/// Text between `{% switch %}` and its first `case` is dropped, as JavaScript's `switch` would.
fn push_text(out: &mut String, text: &str, switches: &[Switch]) {
    if switches.last().is_none_or(|s| !s.before_first_case) {
        out.push_str(text);
    }
}

/// One tag's extent: `start..end` in the source, the inside (without delimiters and
/// whitespace-control marks), and those marks.
struct Tag {
    start: usize,
    end: usize,
    inner_start: usize,
    inner_end: usize,
    left_mark: &'static str,
    right_mark: &'static str,
    newlines: usize,
}

impl Tag {
    fn read(source: &str, start: usize, open: &str, close: &str) -> Result<Tag, SyntaxError> {
        let mut inner_start = start + open.len();
        let left_mark = match source.as_bytes().get(inner_start) {
            Some(b'-') => "-",
            Some(b'+') => "+",
            _ => "",
        };
        inner_start += left_mark.len();
        let close_at = find_close(source, inner_start, close)
            .ok_or_else(|| SyntaxError::at(start, format!("unclosed tag: expected '{close}'")))?;
        let (inner_end, right_mark) = match source.as_bytes().get(close_at.wrapping_sub(1)) {
            Some(b'-') if close_at > inner_start => (close_at - 1, "-"),
            Some(b'+') if close_at > inner_start => (close_at - 1, "+"),
            _ => (close_at, ""),
        };
        let newlines = source[start..close_at].matches('\n').count();
        Ok(Tag { start, end: close_at + close.len(), inner_start, inner_end, left_mark, right_mark, newlines })
    }

    /// Writes the tag back with new content, keeping its marks and its line breaks.
    fn write(&self, out: &mut String, open: &str, close: &str, content: &str) {
        out.push_str(open);
        out.push_str(self.left_mark);
        out.push(' ');
        out.push_str(content);
        out.push(' ');
        for _ in 0..self.newlines {
            out.push('\n');
        }
        out.push_str(self.right_mark);
        out.push_str(close);
    }
}

/// The offset of `close` ending a tag that starts at `from`, skipping strings and (for `}}`)
/// braces of object literals.
fn find_close(source: &str, from: usize, close: &str) -> Option<usize> {
    let bytes = source.as_bytes();
    let mut depth = 0usize;
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' => i = lexer::string_literal(source, i)?.1,
            b'{' if close == "}}" => {
                depth += 1;
                i += 1;
            }
            b'}' if close == "}}" && depth > 0 => {
                depth -= 1;
                i += 1;
            }
            // Bytes, not `source[i..]`: `i` may be inside a multi-byte character.
            _ if bytes[i..].starts_with(close.as_bytes()) => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// The end of a raw block: (where its body ends, where the closing tag ends, the closing tag).
fn find_raw_end(source: &str, from: usize, end_name: &str) -> Option<(usize, usize, Tag)> {
    let mut search = from;
    while let Some(found) = source[search..].find("{%") {
        let at = search + found;
        if let Ok(tag) = Tag::read(source, at, "{%", "%}")
            && source[tag.inner_start..tag.inner_end].trim() == end_name
        {
            return Some((at, tag.end, tag));
        }
        search = at + 2;
    }
    None
}

fn parse_expression(source: &str, start: usize, end: usize) -> Result<Expr, SyntaxError> {
    let tokens = tokenize(&source[start..end], start)?;
    if tokens.is_empty() {
        return Err(SyntaxError::at(start, "expected an expression"));
    }
    Parser::new(&tokens, end).parse_all()
}

/// `for a[, b] in EXPR`; two names over an object iterate its entries.
fn for_loop(source: &str, start: usize, end: usize) -> Result<String, SyntaxError> {
    let tokens = tokenize(&source[start..end], start)?;
    let mut names = Vec::new();
    let mut pos = 0;
    let parenthesised = matches!(tokens.first().map(|t| &t.tok), Some(Tok::Op("(")));
    if parenthesised {
        pos += 1;
    }
    loop {
        match tokens.get(pos).map(|t| &t.tok) {
            Some(Tok::Name(name)) if name != "in" => names.push(name.clone()),
            _ => return Err(SyntaxError::at(tokens.get(pos).map_or(end, |t| t.at), "expected a loop variable")),
        }
        pos += 1;
        match tokens.get(pos).map(|t| &t.tok) {
            Some(Tok::Op(",")) => pos += 1,
            _ => break,
        }
    }
    if parenthesised {
        match tokens.get(pos).map(|t| &t.tok) {
            Some(Tok::Op(")")) => pos += 1,
            _ => return Err(SyntaxError::at(tokens.get(pos).map_or(end, |t| t.at), "expected ')'")),
        }
    }
    match tokens.get(pos).map(|t| &t.tok) {
        Some(Tok::Name(word)) if word == "in" => pos += 1,
        _ => return Err(SyntaxError::at(tokens.get(pos).map_or(end, |t| t.at), "expected 'in'")),
    }
    // Like Nunjucks, the sequence is a whole expression: `for x in y if c` is an inline if, not a
    // loop filter.
    let iterable = Parser::new(&tokens[pos..], end).parse_all()?;
    let content = if names.len() == 2 {
        format!("for {}, {} in __nj_pairs({})", names[0], names[1], expr::emit(&iterable))
    } else {
        format!("for {} in __nj_iterable({})", names.join(", "), expr::emit(&iterable))
    };
    Ok(content)
}

/// `set a[, b] = EXPR`; `None` for a block `set` (no `=`), which passes through.
fn set_statement(source: &str, start: usize, end: usize) -> Result<Option<String>, SyntaxError> {
    let tokens = tokenize(&source[start..end], start)?;
    let Some(equals) = tokens.iter().position(|t| t.tok == Tok::Op("=")) else { return Ok(None) };
    let targets: Vec<String> = tokens[..equals]
        .iter()
        .filter_map(|t| match &t.tok {
            Tok::Name(name) => Some(name.clone()),
            _ => None,
        })
        .collect();
    if targets.is_empty() {
        return Err(SyntaxError::at(start, "expected a variable name before '='"));
    }
    let value = Parser::new(&tokens[equals + 1..], end).parse_all()?;
    Ok(Some(format!("set {} = {}", targets.join(", "), expr::emit(&value))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_tags_and_keeps_lines() {
        let cases = [
            ("a ${{ x === 1 }} b", "a ${{ __nj_strict_eq(x, 1) }} b"),
            ("${{- x -}}", "${{- x -}}"),
            (
                "{% if a and b %}y{% elseif c %}z{% endif %}",
                "{% if __nj_truthy(a and b) %}y{% elif __nj_truthy(c) %}z{% endif %}",
            ),
            ("{%- for k, v in obj %}${{ k }}{% endfor %}", "{%- for k, v in __nj_pairs(obj) %}${{ k }}{% endfor %}"),
            (
                "{% for p in ports %}{% else %}none{% endfor %}",
                "{% for p in __nj_iterable(ports) %}{% else %}none{% endfor %}",
            ),
            ("{% set x = 'a' + b %}", r#"{% set x = __nj_add("a", b) %}"#),
            ("{% set block %}x{% endset %}", "{% set block %}x{% endset %}"),
            ("{% raw %}${{ not parsed }}{% endraw %}", "{% raw %}${{ not parsed }}{% endraw %}"),
            ("{% verbatim %}{{ x }}{% endverbatim %}", "{% raw %}{{ x }}{% endraw %}"),
            ("{# ${{ ignored }} #}", "{# ${{ ignored }} #}"),
            ("{{ plain }}", "{{ plain }}"),
            ("${{ {'a': {'b': 1}} }}", r#"${{ {"a": {"b": 1}} }}"#),
            (
                "{% switch x %}\n{% case 1 %}one{% case 2 %}two{% default %}many{% endswitch %}",
                "{% set __nj_switch_0 = x %}{% if __nj_strict_eq(__nj_switch_0, 1) %}one{% elif __nj_strict_eq(__nj_switch_0, 2) %}two{% else %}many{% endif %}",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(translate(input, "${{").unwrap(), expected, "{input}");
        }
        let multi = "${{ a +\n b }}\nline3";
        let out = translate(multi, "${{").unwrap();
        assert_eq!(out.matches('\n').count(), 2, "{out}");
        assert_eq!(translate("{{ x == 1 }}", "{{").unwrap(), "{{ __nj_eq(x, 1) }}");
    }

    #[test]
    fn errors_point_at_the_source() {
        let source = "line one\n  ${{ a + }}";
        let error = translate(source, "${{").unwrap_err();
        assert_eq!(error.position(source).0, 2);
        assert!(
            translate("{% include 'x' %}", "${{").unwrap_err().message.contains("Unsupported template-loading tag")
        );
        assert!(translate("${{ x", "${{").is_err());
        assert!(translate("{% raw %}never closed", "${{").unwrap_err().message.contains("Missing endraw"));
    }

    /// Found by fuzzing (fuzz/, value_render): looking for the closing `}}` sliced the source
    /// inside a multi-byte character and panicked.
    #[test]
    fn characters_beyond_ascii_inside_tags_do_not_panic() {
        for source in ["${{ \u{593} }}", "${{ é }}", "{% if 😀 %}x{% endif %}", "${{ a }}é${{ b ü }}", "{{ ü }}"]
        {
            let _ = translate(source, "${{");
            let _ = translate(source, "{{");
        }
        assert_eq!(translate("${{ 'é' }}ü", "${{").unwrap(), r#"${{ "é" }}ü"#);
    }
}
