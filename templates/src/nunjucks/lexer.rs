//! Tokens of a Nunjucks expression (the inside of `${{ }}` or of a `{% %}` tag).

use super::SyntaxError;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Str(String),
    /// The literal as written (integers and floats).
    Num(String),
    Name(String),
    Regex {
        source: String,
        flags: String,
    },
    /// Operators and punctuation, as written.
    Op(&'static str),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    /// Byte offset in the whole template.
    pub at: usize,
}

const OPERATORS: [&str; 27] = [
    "===", "!==", "**", "//", "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "~", "|", ".", ",", ":", "(",
    ")", "[", "]", "{", "}", "=",
];

/// Splits `text` (which starts at byte `base` of the template) into tokens.
pub(crate) fn tokenize(text: &str, base: usize) -> Result<Vec<Token>, SyntaxError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let at = base + i;
        // Nunjucks' regular expression literal: r/source/flags.
        if c == b'r' && bytes.get(i + 1) == Some(&b'/') {
            let mut j = i + 2;
            let mut source = String::new();
            let mut escaped = false;
            loop {
                let Some(ch) = text[j..].chars().next() else {
                    return Err(SyntaxError::at(at, "unterminated regular expression"));
                };
                j += ch.len_utf8();
                if escaped {
                    source.push(ch);
                    escaped = false;
                } else if ch == '\\' {
                    source.push(ch);
                    escaped = true;
                } else if ch == '/' {
                    break;
                } else {
                    source.push(ch);
                }
            }
            let flags_start = j;
            while j < bytes.len() && bytes[j].is_ascii_alphabetic() {
                j += 1;
            }
            tokens.push(Token { tok: Tok::Regex { source, flags: text[flags_start..j].to_owned() }, at });
            i = j;
            continue;
        }
        if c == b'"' || c == b'\'' {
            let (value, end) = string_literal(text, i).ok_or_else(|| SyntaxError::at(at, "unterminated string"))?;
            tokens.push(Token { tok: Tok::Str(value), at });
            i = end;
            continue;
        }
        if c.is_ascii_digit() {
            let mut j = i;
            while j < bytes.len() && (bytes[j].is_ascii_digit() || bytes[j] == b'_') {
                j += 1;
            }
            if j + 1 < bytes.len() && bytes[j] == b'.' && bytes[j + 1].is_ascii_digit() {
                j += 1;
                while j < bytes.len() && bytes[j].is_ascii_digit() {
                    j += 1;
                }
            }
            if j < bytes.len() && (bytes[j] == b'e' || bytes[j] == b'E') {
                let mut k = j + 1;
                if k < bytes.len() && (bytes[k] == b'+' || bytes[k] == b'-') {
                    k += 1;
                }
                if k < bytes.len() && bytes[k].is_ascii_digit() {
                    while k < bytes.len() && bytes[k].is_ascii_digit() {
                        k += 1;
                    }
                    j = k;
                }
            }
            tokens.push(Token { tok: Tok::Num(text[i..j].replace('_', "")), at });
            i = j;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' || c == b'$' {
            let mut j = i;
            while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_' || bytes[j] == b'$') {
                j += 1;
            }
            tokens.push(Token { tok: Tok::Name(text[i..j].to_owned()), at });
            i = j;
            continue;
        }
        match OPERATORS.iter().find(|op| text[i..].starts_with(**op)) {
            Some(op) => {
                tokens.push(Token { tok: Tok::Op(op), at });
                i += op.len();
            }
            None => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err(SyntaxError::at(at, format!("unexpected character '{ch}'")));
            }
        }
    }
    Ok(tokens)
}

/// A quoted string starting at byte `start` of `text`: its value and the byte after it.
pub(crate) fn string_literal(text: &str, start: usize) -> Option<(String, usize)> {
    let quote = text[start..].chars().next()?;
    let mut value = String::new();
    let mut chars = text[start + 1..].char_indices();
    while let Some((offset, ch)) = chars.next() {
        match ch {
            '\\' => {
                let (_, escaped) = chars.next()?;
                match escaped {
                    'n' => value.push('\n'),
                    't' => value.push('\t'),
                    'r' => value.push('\r'),
                    'b' => value.push('\u{8}'),
                    'f' => value.push('\u{c}'),
                    'v' => value.push('\u{b}'),
                    '0' => value.push('\0'),
                    'u' => {
                        let hex: String = (0..4).filter_map(|_| chars.next().map(|(_, c)| c)).collect();
                        value.push(u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32).unwrap_or('\u{fffd}'));
                    }
                    other => value.push(other),
                }
            }
            c if c == quote => return Some((value, start + 1 + offset + c.len_utf8())),
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Tok> {
        tokenize(text, 0).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn tokens() {
        assert_eq!(
            kinds("a.b === 'x\\'y' !== 3.5e2"),
            vec![
                Tok::Name("a".into()),
                Tok::Op("."),
                Tok::Name("b".into()),
                Tok::Op("==="),
                Tok::Str("x'y".into()),
                Tok::Op("!=="),
                Tok::Num("3.5e2".into())
            ]
        );
        assert_eq!(kinds("x | replace(r/a+b/gi, '')")[4], Tok::Regex { source: "a+b".into(), flags: "gi".into() });
        assert_eq!(kinds("a // 2 ** 3")[1], Tok::Op("//"));
        assert!(tokenize("'open", 0).is_err());
        assert!(tokenize("a ? b", 0).is_err());
    }
}
