//! Nunjucks expressions: a parser with Nunjucks' precedence, and an emitter that writes the same
//! expression in minijinja's syntax, routing every operator whose JavaScript meaning differs from
//! Jinja's through a runtime helper (`__nj_*`, see `runtime`).

use super::SyntaxError;
use super::lexer::{Tok, Token};

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    Str(String),
    Num(String),
    Bool(bool),
    Null,
    Name(String),
    Regex { source: String, flags: String },
    Array(Vec<Expr>),
    Dict(Vec<(Expr, Expr)>),
    Group(Box<Expr>),
    Attr { object: Box<Expr>, name: String },
    Index { object: Box<Expr>, index: Box<Expr> },
    Slice { object: Box<Expr>, start: Option<Box<Expr>>, stop: Option<Box<Expr>>, step: Option<Box<Expr>> },
    Call { callee: Box<Expr>, args: Vec<Arg> },
    Filter { value: Box<Expr>, name: String, args: Vec<Arg> },
    Test { value: Box<Expr>, name: String, args: Vec<Arg>, negated: bool },
    Unary { op: &'static str, expr: Box<Expr> },
    Binary { op: &'static str, left: Box<Expr>, right: Box<Expr> },
    InlineIf { body: Box<Expr>, cond: Box<Expr>, otherwise: Option<Box<Expr>> },
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Arg {
    Pos(Expr),
    Named(String, Expr),
}

/// How deep expressions may nest before parsing refuses (a guard against hostile input).
const MAX_DEPTH: usize = 100;

pub(crate) struct Parser<'t> {
    tokens: &'t [Token],
    pos: usize,
    end: usize,
    depth: usize,
}

impl<'t> Parser<'t> {
    /// `end` is the byte offset errors at the end of input point to.
    pub fn new(tokens: &'t [Token], end: usize) -> Self {
        Parser { tokens, pos: 0, end, depth: 0 }
    }

    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    fn peek_at(&self, ahead: usize) -> Option<&Tok> {
        self.tokens.get(self.pos + ahead).map(|t| &t.tok)
    }

    fn here(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |t| t.at)
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(o)) if *o == op)
    }

    fn is_name(&self, name: &str) -> bool {
        matches!(self.peek(), Some(Tok::Name(n)) if n == name)
    }

    fn skip_op(&mut self, op: &str) -> bool {
        let found = self.is_op(op);
        if found {
            self.pos += 1;
        }
        found
    }

    fn skip_name(&mut self, name: &str) -> bool {
        let found = self.is_name(name);
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect_op(&mut self, op: &str) -> Result<(), SyntaxError> {
        if self.skip_op(op) { Ok(()) } else { Err(self.unexpected(&format!("'{op}'"))) }
    }

    fn unexpected(&self, wanted: &str) -> SyntaxError {
        match self.peek() {
            None => SyntaxError::at(self.end, format!("expected {wanted}, found the end of the expression")),
            Some(tok) => SyntaxError::at(self.here(), format!("expected {wanted}, found {}", describe(tok))),
        }
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    /// Parses one full expression and requires nothing to follow it.
    pub fn parse_all(&mut self) -> Result<Expr, SyntaxError> {
        let expr = self.expression()?;
        if !self.at_end() {
            return Err(self.unexpected("the end of the expression"));
        }
        Ok(expr)
    }

    /// One more link of a chain that leans left as it grows (`a + b + c`, `x | f | g`, `a.b.c`,
    /// `not not x`, `a if b else c if d else e`): it nests as deep as it is long, so each link
    /// counts against the same limit as a parenthesis (deep trees overflow the stack when they
    /// are written out or dropped). The caller gives the links back when the chain ends.
    fn link(&mut self, links: &mut usize) -> Result<(), SyntaxError> {
        *links += 1;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SyntaxError::at(self.here(), "expression nests too deeply"));
        }
        Ok(())
    }

    pub fn expression(&mut self) -> Result<Expr, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SyntaxError::at(self.here(), "expression nests too deeply"));
        }
        let result = self.inline_if();
        self.depth -= 1;
        result
    }

    fn inline_if(&mut self) -> Result<Expr, SyntaxError> {
        let body = self.or()?;
        if self.skip_name("if") {
            let cond = self.or()?;
            // Nunjucks takes `or` here; taking a whole expression also accepts chained inline ifs.
            let otherwise = if self.skip_name("else") {
                self.link(&mut 0)?;
                let otherwise = self.inline_if()?;
                self.depth -= 1;
                Some(Box::new(otherwise))
            } else {
                None
            };
            return Ok(Expr::InlineIf { body: Box::new(body), cond: Box::new(cond), otherwise });
        }
        Ok(body)
    }

    fn or(&mut self) -> Result<Expr, SyntaxError> {
        let mut left = self.and()?;
        let mut links = 0;
        while self.skip_name("or") {
            self.link(&mut links)?;
            left = binary("or", left, self.and()?);
        }
        self.depth -= links;
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, SyntaxError> {
        let mut left = self.not()?;
        let mut links = 0;
        while self.skip_name("and") {
            self.link(&mut links)?;
            left = binary("and", left, self.not()?);
        }
        self.depth -= links;
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, SyntaxError> {
        if self.is_name("not") && !matches!(self.peek_at(1), Some(Tok::Name(n)) if n == "in") {
            self.pos += 1;
            self.link(&mut 0)?;
            let negated = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Unary { op: "not", expr: Box::new(negated) });
        }
        self.in_()
    }

    fn in_(&mut self) -> Result<Expr, SyntaxError> {
        let mut left = self.is()?;
        let mut links = 0;
        loop {
            if self.is_name("not") && matches!(self.peek_at(1), Some(Tok::Name(n)) if n == "in") {
                self.pos += 2;
                self.link(&mut links)?;
                left = binary("not in", left, self.is()?);
            } else if self.skip_name("in") {
                self.link(&mut links)?;
                left = binary("in", left, self.is()?);
            } else {
                self.depth -= links;
                return Ok(left);
            }
        }
    }

    fn is(&mut self) -> Result<Expr, SyntaxError> {
        let value = self.compare()?;
        if !self.skip_name("is") {
            return Ok(value);
        }
        let negated = self.skip_name("not");
        let name = match self.peek() {
            Some(Tok::Name(name)) => name.clone(),
            // `is null`, `is none`, `is true` are names too; anything else is an error.
            _ => return Err(self.unexpected("a test name")),
        };
        self.pos += 1;
        let args = if self.is_op("(") {
            self.arguments()?
        } else if starts_operand(self.peek())
            && !matches!(self.peek(), Some(Tok::Name(n)) if ["and", "or", "else", "if", "is", "in", "not"].contains(&n.as_str()))
        {
            // `is divisibleby 3`, `is equalto 'x'`: one argument without parentheses.
            vec![Arg::Pos(self.unary()?)]
        } else {
            Vec::new()
        };
        Ok(Expr::Test { value: Box::new(value), name, args, negated })
    }

    fn compare(&mut self) -> Result<Expr, SyntaxError> {
        let mut left = self.concat()?;
        let mut links = 0;
        loop {
            let op = match self.peek() {
                Some(Tok::Op(op @ ("===" | "!==" | "==" | "!=" | "<" | ">" | "<=" | ">="))) => *op,
                _ => {
                    self.depth -= links;
                    return Ok(left);
                }
            };
            self.pos += 1;
            self.link(&mut links)?;
            left = binary(op, left, self.concat()?);
        }
    }

    fn concat(&mut self) -> Result<Expr, SyntaxError> {
        let mut left = self.add()?;
        let mut links = 0;
        while self.skip_op("~") {
            self.link(&mut links)?;
            left = binary("~", left, self.add()?);
        }
        self.depth -= links;
        Ok(left)
    }

    fn add(&mut self) -> Result<Expr, SyntaxError> {
        let mut left = self.sub()?;
        let mut links = 0;
        while self.skip_op("+") {
            self.link(&mut links)?;
            left = binary("+", left, self.sub()?);
        }
        self.depth -= links;
        Ok(left)
    }

    fn sub(&mut self) -> Result<Expr, SyntaxError> {
        let mut left = self.mul()?;
        let mut links = 0;
        while self.skip_op("-") {
            self.link(&mut links)?;
            left = binary("-", left, self.mul()?);
        }
        self.depth -= links;
        Ok(left)
    }

    fn mul(&mut self) -> Result<Expr, SyntaxError> {
        let mut left = self.div()?;
        let mut links = 0;
        while self.skip_op("*") {
            self.link(&mut links)?;
            left = binary("*", left, self.div()?);
        }
        self.depth -= links;
        Ok(left)
    }

    fn div(&mut self) -> Result<Expr, SyntaxError> {
        let mut left = self.floor_div()?;
        let mut links = 0;
        while self.skip_op("/") {
            self.link(&mut links)?;
            left = binary("/", left, self.floor_div()?);
        }
        self.depth -= links;
        Ok(left)
    }

    fn floor_div(&mut self) -> Result<Expr, SyntaxError> {
        let mut left = self.modulo()?;
        let mut links = 0;
        while self.skip_op("//") {
            self.link(&mut links)?;
            left = binary("//", left, self.modulo()?);
        }
        self.depth -= links;
        Ok(left)
    }

    fn modulo(&mut self) -> Result<Expr, SyntaxError> {
        let mut left = self.pow()?;
        let mut links = 0;
        while self.skip_op("%") {
            self.link(&mut links)?;
            left = binary("%", left, self.pow()?);
        }
        self.depth -= links;
        Ok(left)
    }

    fn pow(&mut self) -> Result<Expr, SyntaxError> {
        let mut left = self.unary()?;
        let mut links = 0;
        while self.skip_op("**") {
            self.link(&mut links)?;
            left = binary("**", left, self.unary()?);
        }
        self.depth -= links;
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        self.unary_with(true)
    }

    /// Like Nunjucks: in `-x | f` the filter applies to `-x`, not to `x`.
    fn unary_with(&mut self, filters: bool) -> Result<Expr, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SyntaxError::at(self.here(), "expression nests too deeply"));
        }
        let result = if self.skip_op("-") {
            self.unary_with(false).map(|e| Expr::Unary { op: "-", expr: Box::new(e) })
        } else if self.skip_op("+") {
            self.unary_with(false).map(|e| Expr::Unary { op: "+", expr: Box::new(e) })
        } else {
            self.primary().and_then(|p| self.postfix(p))
        };
        self.depth -= 1;
        match result {
            Ok(expr) if filters => self.filters(expr),
            other => other,
        }
    }

    fn filters(&mut self, mut value: Expr) -> Result<Expr, SyntaxError> {
        let mut links = 0;
        while self.skip_op("|") {
            self.link(&mut links)?;
            let mut name = match self.peek() {
                Some(Tok::Name(name)) => name.clone(),
                _ => return Err(self.unexpected("a filter name")),
            };
            self.pos += 1;
            // Dotted filter names (`a.b`) exist in Nunjucks for namespaced filters.
            while self.is_op(".") && matches!(self.peek_at(1), Some(Tok::Name(_))) {
                if let Some(Tok::Name(part)) = self.peek_at(1) {
                    name = format!("{name}.{part}");
                }
                self.pos += 2;
            }
            let args = if self.is_op("(") { self.arguments()? } else { Vec::new() };
            value = Expr::Filter { value: Box::new(value), name, args };
        }
        self.depth -= links;
        Ok(value)
    }

    fn postfix(&mut self, mut expr: Expr) -> Result<Expr, SyntaxError> {
        let mut links = 0;
        loop {
            if self.is_op(".") || self.is_op("[") || self.is_op("(") {
                self.link(&mut links)?;
            }
            if self.skip_op(".") {
                match self.peek().cloned() {
                    Some(Tok::Name(name)) => {
                        self.pos += 1;
                        expr = Expr::Attr { object: Box::new(expr), name };
                    }
                    Some(Tok::Num(index)) if index.chars().all(|c| c.is_ascii_digit()) => {
                        self.pos += 1;
                        expr = Expr::Index { object: Box::new(expr), index: Box::new(Expr::Num(index)) };
                    }
                    _ => return Err(self.unexpected("an attribute name")),
                }
            } else if self.is_op("[") {
                self.pos += 1;
                expr = self.subscript(expr)?;
            } else if self.is_op("(") {
                let args = self.arguments()?;
                expr = Expr::Call { callee: Box::new(expr), args };
            } else {
                self.depth -= links;
                return Ok(expr);
            }
        }
    }

    fn subscript(&mut self, object: Expr) -> Result<Expr, SyntaxError> {
        let mut parts: Vec<Option<Expr>> = vec![None];
        let mut colons = 0;
        loop {
            if self.skip_op("]") {
                break;
            }
            if self.skip_op(":") {
                colons += 1;
                parts.push(None);
                if colons > 2 {
                    return Err(SyntaxError::at(self.here(), "a slice has at most two ':'"));
                }
                continue;
            }
            let last = parts.last_mut().expect("at least one part");
            if last.is_some() {
                return Err(self.unexpected("']'"));
            }
            *last = Some(self.expression()?);
        }
        if colons == 0 {
            let index = parts.pop().flatten().ok_or_else(|| SyntaxError::at(self.here(), "empty subscript []"))?;
            return Ok(Expr::Index { object: Box::new(object), index: Box::new(index) });
        }
        let mut parts = parts.into_iter();
        Ok(Expr::Slice {
            object: Box::new(object),
            start: parts.next().flatten().map(Box::new),
            stop: parts.next().flatten().map(Box::new),
            step: parts.next().flatten().map(Box::new),
        })
    }

    fn arguments(&mut self) -> Result<Vec<Arg>, SyntaxError> {
        self.expect_op("(")?;
        let mut args = Vec::new();
        loop {
            if self.skip_op(")") {
                return Ok(args);
            }
            if !args.is_empty() {
                self.expect_op(",")?;
                if self.skip_op(")") {
                    return Ok(args);
                }
            }
            if let (Some(Tok::Name(name)), Some(Tok::Op("="))) = (self.peek().cloned(), self.peek_at(1)) {
                self.pos += 2;
                args.push(Arg::Named(name, self.expression()?));
            } else {
                args.push(Arg::Pos(self.expression()?));
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, SyntaxError> {
        let Some(token) = self.tokens.get(self.pos).cloned() else {
            return Err(self.unexpected("an expression"));
        };
        self.pos += 1;
        Ok(match token.tok {
            Tok::Str(s) => Expr::Str(s),
            Tok::Num(n) => Expr::Num(n),
            Tok::Regex { source, flags } => Expr::Regex { source, flags },
            Tok::Name(name) => match name.as_str() {
                "true" | "True" => Expr::Bool(true),
                "false" | "False" => Expr::Bool(false),
                "null" | "none" | "None" => Expr::Null,
                _ => Expr::Name(name),
            },
            Tok::Op("(") => {
                let inner = self.expression()?;
                if self.is_op(",") {
                    // A parenthesised list: Nunjucks makes it an array.
                    let mut items = vec![inner];
                    while self.skip_op(",") {
                        if self.is_op(")") {
                            break;
                        }
                        items.push(self.expression()?);
                    }
                    self.expect_op(")")?;
                    Expr::Array(items)
                } else {
                    self.expect_op(")")?;
                    Expr::Group(Box::new(inner))
                }
            }
            Tok::Op("[") => {
                let mut items = Vec::new();
                loop {
                    if self.skip_op("]") {
                        break;
                    }
                    if !items.is_empty() {
                        self.expect_op(",")?;
                        if self.skip_op("]") {
                            break;
                        }
                    }
                    items.push(self.expression()?);
                }
                Expr::Array(items)
            }
            Tok::Op("{") => {
                let mut pairs = Vec::new();
                loop {
                    if self.skip_op("}") {
                        break;
                    }
                    if !pairs.is_empty() {
                        self.expect_op(",")?;
                        if self.skip_op("}") {
                            break;
                        }
                    }
                    // Keys: a string, a number, or a bare name (which means its own text).
                    let key = match self.tokens.get(self.pos).map(|t| t.tok.clone()) {
                        Some(Tok::Name(name)) if matches!(self.peek_at(1), Some(Tok::Op(":"))) => {
                            self.pos += 1;
                            Expr::Str(name)
                        }
                        _ => self.primary()?,
                    };
                    self.expect_op(":")?;
                    pairs.push((key, self.expression()?));
                }
                Expr::Dict(pairs)
            }
            other => {
                self.pos -= 1;
                return Err(SyntaxError::at(token.at, format!("unexpected {}", describe(&other))));
            }
        })
    }
}

fn binary(op: &'static str, left: Expr, right: Expr) -> Expr {
    Expr::Binary { op, left: Box::new(left), right: Box::new(right) }
}

fn starts_operand(tok: Option<&Tok>) -> bool {
    matches!(tok, Some(Tok::Name(_) | Tok::Str(_) | Tok::Num(_) | Tok::Op("[" | "{" | "-" | "+")))
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Str(s) => format!("string \"{s}\""),
        Tok::Num(n) => format!("number {n}"),
        Tok::Name(n) => format!("'{n}'"),
        Tok::Regex { .. } => "a regular expression".to_owned(),
        Tok::Op(op) => format!("'{op}'"),
    }
}

/// Writes `expr` in minijinja's syntax.
pub(crate) fn emit(expr: &Expr) -> String {
    let mut out = String::new();
    write(expr, &mut out);
    out
}

fn quote(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether the emitted text can take a postfix (`.x`, `[i]`, `(...)`, `| f`) without parentheses.
fn is_atomic(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::Str(_)
            | Expr::Bool(_)
            | Expr::Null
            | Expr::Name(_)
            | Expr::Regex { .. }
            | Expr::Array(_)
            | Expr::Dict(_)
            | Expr::Group(_)
            | Expr::Attr { .. }
            | Expr::Index { .. }
            | Expr::Slice { .. }
            | Expr::Call { .. }
            | Expr::Binary { .. }
    ) || matches!(expr, Expr::Num(n) if !n.starts_with('-'))
}

fn write_operand(expr: &Expr, out: &mut String) {
    // Binary operators all become helper calls except the ones minijinja shares with
    // Nunjucks; those keep parentheses to preserve Nunjucks' grouping.
    let wrap = !is_atomic(expr) || matches!(expr, Expr::Binary { op: "and" | "or" | "in" | "not in", .. });
    if wrap {
        out.push('(');
    }
    write(expr, out);
    if wrap {
        out.push(')');
    }
}

fn write_args(args: &[Arg], out: &mut String) {
    out.push('(');
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match arg {
            Arg::Pos(expr) => write(expr, out),
            Arg::Named(name, expr) => {
                out.push_str(name);
                out.push('=');
                write(expr, out);
            }
        }
    }
    out.push(')');
}

fn write_call(function: &str, args: &[&Expr], out: &mut String) {
    out.push_str(function);
    out.push('(');
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write(arg, out);
    }
    out.push(')');
}

fn write(expr: &Expr, out: &mut String) {
    match expr {
        Expr::Str(s) => quote(s, out),
        Expr::Num(n) => out.push_str(n),
        Expr::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Expr::Null => out.push_str("none"),
        Expr::Name(name) => out.push_str(name),
        Expr::Regex { source, flags } => {
            out.push_str("__nj_regex(");
            quote(source, out);
            out.push_str(", ");
            quote(flags, out);
            out.push(')');
        }
        Expr::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(item, out);
            }
            out.push(']');
        }
        Expr::Dict(pairs) => {
            out.push('{');
            for (i, (key, value)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(key, out);
                out.push_str(": ");
                write(value, out);
            }
            out.push('}');
        }
        Expr::Group(inner) => {
            out.push('(');
            write(inner, out);
            out.push(')');
        }
        // JavaScript's `.length` works on strings (UTF-16 units) and arrays.
        Expr::Attr { object, name } if name == "length" => write_call("__nj_length", &[object], out),
        Expr::Attr { object, name } => {
            write_operand(object, out);
            out.push('.');
            out.push_str(name);
        }
        Expr::Index { object, index } => {
            write_operand(object, out);
            out.push('[');
            write(index, out);
            out.push(']');
        }
        Expr::Slice { object, start, stop, step } => {
            write_operand(object, out);
            out.push('[');
            if let Some(start) = start {
                write(start, out);
            }
            out.push(':');
            if let Some(stop) = stop {
                write(stop, out);
            }
            if let Some(step) = step {
                out.push(':');
                write(step, out);
            }
            out.push(']');
        }
        Expr::Call { callee, args } => {
            write_operand(callee, out);
            write_args(args, out);
        }
        Expr::Filter { value, name, args } => {
            write_operand(value, out);
            out.push('|');
            out.push_str(name);
            if !args.is_empty() {
                write_args(args, out);
            }
        }
        Expr::Test { value, name, args, negated } => {
            out.push('(');
            write_operand(value, out);
            out.push_str(if *negated { " is not " } else { " is " });
            out.push_str(name);
            if !args.is_empty() {
                write_args(args, out);
            }
            out.push(')');
        }
        Expr::Unary { op, expr } => match *op {
            "not" => write_call("not __nj_truthy", &[expr], out),
            "-" => write_call("__nj_neg", &[expr], out),
            _ => write_call("__nj_number", &[expr], out),
        },
        Expr::Binary { op, left, right } => match *op {
            "and" | "or" | "in" | "not in" => {
                write_operand(left, out);
                out.push(' ');
                out.push_str(op);
                out.push(' ');
                write_operand(right, out);
            }
            op => {
                let function = match op {
                    "===" => "__nj_strict_eq",
                    "!==" => "__nj_strict_ne",
                    "==" => "__nj_eq",
                    "!=" => "__nj_ne",
                    "<" => "__nj_lt",
                    ">" => "__nj_gt",
                    "<=" => "__nj_le",
                    ">=" => "__nj_ge",
                    "+" => "__nj_add",
                    // Charged against the render's budget (minijinja's own `~` is not).
                    "~" => "__nj_concat",
                    "-" => "__nj_sub",
                    "*" => "__nj_mul",
                    "/" => "__nj_div",
                    "//" => "__nj_floordiv",
                    "%" => "__nj_mod",
                    _ => "__nj_pow",
                };
                write_call(function, &[left, right], out);
            }
        },
        Expr::InlineIf { body, cond, otherwise } => {
            // Since Backstage 4.1 a false `a if b` without `else` is "", not undefined.
            out.push('(');
            write_operand(body, out);
            out.push_str(" if __nj_truthy(");
            write(cond, out);
            out.push_str(") else ");
            match otherwise {
                Some(otherwise) => write_operand(otherwise, out),
                None => out.push_str("\"\""),
            }
            out.push(')');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::lexer::tokenize;
    use super::*;

    fn translate(text: &str) -> String {
        let tokens = tokenize(text, 0).unwrap();
        emit(&Parser::new(&tokens, text.len()).parse_all().unwrap())
    }

    #[test]
    fn emits_minijinja_with_javascript_operators() {
        let cases = [
            ("parameters.name", "parameters.name"),
            ("a === 'x'", r#"__nj_strict_eq(a, "x")"#),
            ("a == 3 and not b", "__nj_eq(a, 3) and (not __nj_truthy(b))"),
            ("'a' + b | upper", r#"__nj_add("a", b|upper)"#),
            ("('a' + b) | upper", r#"(__nj_add("a", b))|upper"#),
            ("'docs' if x", r#"("docs" if __nj_truthy(x) else "")"#),
            ("a if b else c if d else e", "(a if __nj_truthy(b) else ((c if __nj_truthy(d) else e)))"),
            ("x.length > 3", "__nj_gt(__nj_length(x), 3)"),
            ("p['a-b'][0]", r#"p["a-b"][0]"#),
            ("{ kind: 'group', 'ns': x }", r#"{"kind": "group", "ns": x}"#),
            ("x is divisibleby(10)", "(x is divisibleby(10))"),
            ("x is not string", "(x is not string)"),
            ("x is divisibleby 3", "(x is divisibleby(3))"),
            ("a not in ['dev']", r#"a not in ["dev"]"#),
            ("null", "none"),
            ("s.split(',')[1]", r#"s.split(",")[1]"#),
            ("l[1:3]", "l[1:3]"),
            ("f(a, b=2)", "f(a, b=2)"),
            ("-x + 1", "__nj_add(__nj_neg(x), 1)"),
            ("x | replace(r/a\\d/g, 'b')", r#"x|replace(__nj_regex("a\\d", "g"), "b")"#),
            ("a - b + c", "__nj_add(__nj_sub(a, b), c)"),
        ];
        for (input, expected) in cases {
            assert_eq!(translate(input), expected, "{input}");
        }
    }

    #[test]
    fn syntax_errors_say_where() {
        for bad in ["a +", "(a", "a b", "[1, 2", "x |", "x is", "{a 1}", "a[]", "f(,)"] {
            let tokens = tokenize(bad, 10).unwrap();
            let error = Parser::new(&tokens, 10 + bad.len()).parse_all().unwrap_err();
            assert!(error.offset >= 10, "{bad}: {error:?}");
        }
        let deep = format!("{}1{}", "(".repeat(300), ")".repeat(300));
        let tokens = tokenize(&deep, 0).unwrap();
        assert!(Parser::new(&tokens, deep.len()).parse_all().unwrap_err().message.contains("too deeply"));
    }
}
