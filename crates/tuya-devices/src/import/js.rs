//! A tolerant reader of JavaScript literals as Node's `console.log` (util.inspect) prints them:
//! unquoted or quoted property names, strings in `'…'`, `"…"` or `` `…` `` with backslash
//! escapes, trailing commas, comments, and Node's `... N more items` marker. Plain JSON is a
//! subset. Bounded in size (checked by the caller) and depth, so no input can exhaust the stack;
//! every failure is an error with a line and column, never a panic.
//!
//! Error messages describe what was found by its kind ("text", "the end of the input") or by
//! a structural character only, so no part of a key can leak into them.

use serde_json::{Map, Number, Value};

use super::ImportError;

/// Deepest nesting of lists and objects accepted. Key files are a few levels deep (list →
/// device → mapping → DP → values); anything deeper is not a key file, and the bound keeps
/// the recursive reader far from the end of the stack.
pub const MAX_DEPTH: usize = 32;

/// What was read: the value, and how many items Node left out of cut lists.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub value: Value,
    pub cut: u64,
}

/// Reads one value starting at byte `start` of `text` (which must be a char boundary);
/// only whitespace and comments may follow it.
pub(crate) fn parse(text: &str, start: usize) -> Result<Parsed, ImportError> {
    let mut p = Parser {
        text,
        pos: start.min(text.len()),
        depth: 0,
        cut: 0,
    };
    p.ws()?;
    let value = p.value()?;
    p.ws()?;
    if p.pos < text.len() {
        return Err(p.err(format!(
            "expected the end of the input after the value, found {}",
            p.found()
        )));
    }
    Ok(Parsed { value, cut: p.cut })
}

/// Line and column (both from 1, columns in characters) of byte `pos` of `text`.
pub(crate) fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let before = text.get(..pos).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

struct Parser<'a> {
    text: &'a str,
    /// Byte offset, always on a char boundary (it only moves by whole chars).
    pos: usize,
    depth: usize,
    cut: u64,
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c == '$' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    is_ident_start(c) || c.is_alphanumeric()
}

fn is_quote(c: char) -> bool {
    matches!(c, '\'' | '"' | '`')
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn err_at(&self, pos: usize, what: impl Into<String>) -> ImportError {
        let (line, column) = line_col(self.text, pos);
        ImportError::Syntax {
            line,
            column,
            what: what.into(),
        }
    }

    fn err(&self, what: impl Into<String>) -> ImportError {
        self.err_at(self.pos, what)
    }

    /// The next character, described without echoing anything that could be part of a key.
    fn found(&self) -> String {
        match self.peek() {
            None => "the end of the input".into(),
            Some(c @ ('{' | '}' | '[' | ']' | ':' | ',' | '\'' | '"' | '`')) => format!("`{c}`"),
            Some(c) if c.is_alphanumeric() => "text".into(),
            Some(c) if c.is_control() => "a control character".into(),
            Some(_) => "an unexpected character".into(),
        }
    }

    /// Skips whitespace (a byte-order mark included) and `//` or `/* */` comments.
    fn ws(&mut self) -> Result<(), ImportError> {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() || c == '\u{feff}' => {
                    self.bump();
                }
                Some('/') if self.rest().starts_with("//") => {
                    let n = self.rest().find('\n').unwrap_or(self.rest().len());
                    self.pos += n;
                }
                Some('/') if self.rest().starts_with("/*") => {
                    let start = self.pos;
                    match self.rest()[2..].find("*/") {
                        Some(n) => self.pos += n + 4,
                        None => return Err(self.err_at(start, "this comment is not closed")),
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn enter(&mut self) -> Result<(), ImportError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let (line, column) = line_col(self.text, self.pos);
            return Err(ImportError::TooDeep {
                line,
                column,
                limit: MAX_DEPTH,
            });
        }
        Ok(())
    }

    fn value(&mut self) -> Result<Value, ImportError> {
        match self.peek() {
            Some('{') => self.object(),
            Some('[') => self.array(),
            Some(c) if is_quote(c) => self.string_concat().map(Value::String),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
            Some(c) if is_ident_start(c) => {
                let start = self.pos;
                match self.ident() {
                    "true" => Ok(Value::Bool(true)),
                    "false" => Ok(Value::Bool(false)),
                    "null" | "undefined" => Ok(Value::Null),
                    _ => Err(self.err_at(
                        start,
                        "expected a value, found unquoted text (strings must be quoted)",
                    )),
                }
            }
            _ => Err(self.err(format!("expected a value, found {}", self.found()))),
        }
    }

    fn ident(&mut self) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(is_ident_char) {
            self.bump();
        }
        &self.text[start..self.pos]
    }

    fn object(&mut self) -> Result<Value, ImportError> {
        self.enter()?;
        self.bump();
        let mut m = Map::new();
        loop {
            self.ws()?;
            if self.peek() == Some('}') {
                self.bump();
                break;
            }
            let k = self.key()?;
            self.ws()?;
            if self.peek() != Some(':') {
                return Err(self.err(format!(
                    "expected `:` after a property name, found {}",
                    self.found()
                )));
            }
            self.bump();
            self.ws()?;
            let v = self.value()?;
            m.insert(k, v);
            self.ws()?;
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some('}') => {
                    self.bump();
                    break;
                }
                _ => {
                    return Err(self.err(format!(
                        "expected `,` or `}}` after a property, found {}",
                        self.found()
                    )))
                }
            }
        }
        self.depth -= 1;
        Ok(Value::Object(m))
    }

    /// A property name: quoted, a bare identifier, or bare digits.
    fn key(&mut self) -> Result<String, ImportError> {
        match self.peek() {
            Some(c) if is_quote(c) => self.string(),
            Some(c) if is_ident_char(c) => Ok(self.ident().to_string()),
            _ => Err(self.err(format!(
                "expected a property name or `}}`, found {}",
                self.found()
            ))),
        }
    }

    fn array(&mut self) -> Result<Value, ImportError> {
        self.enter()?;
        self.bump();
        let mut items = Vec::new();
        loop {
            self.ws()?;
            if self.peek() == Some(']') {
                self.bump();
                break;
            }
            if self.rest().starts_with("...") {
                let n = self.more_items()?;
                self.cut = self.cut.saturating_add(n);
            } else {
                items.push(self.value()?);
            }
            self.ws()?;
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(']') => {
                    self.bump();
                    break;
                }
                _ => {
                    return Err(self.err(format!(
                        "expected `,` or `]` after an item, found {}",
                        self.found()
                    )))
                }
            }
        }
        self.depth -= 1;
        Ok(Value::Array(items))
    }

    /// Node's `... 5 more items` (util.inspect prints at most 100 items of a list).
    fn more_items(&mut self) -> Result<u64, ImportError> {
        let start = self.pos;
        let bad = |p: &Self| {
            p.err_at(
                start,
                "expected a value, found `...` (not `... N more items`)",
            )
        };
        self.pos += 3;
        self.skip_spaces();
        let digits = self.rest().len()
            - self
                .rest()
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .len();
        if digits == 0 {
            return Err(bad(self));
        }
        let n = self.rest()[..digits].parse::<u64>().unwrap_or(u64::MAX);
        self.pos += digits;
        self.skip_spaces();
        if self.ident() != "more" {
            return Err(bad(self));
        }
        self.skip_spaces();
        if !matches!(self.ident(), "item" | "items") {
            return Err(bad(self));
        }
        Ok(n)
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(' ') {
            self.bump();
        }
    }

    /// A string, and the ones joined to it by `+` (Node before v12 split long strings so).
    fn string_concat(&mut self) -> Result<String, ImportError> {
        let mut s = self.string()?;
        loop {
            let save = self.pos;
            self.ws()?;
            if self.peek() != Some('+') {
                self.pos = save;
                return Ok(s);
            }
            self.bump();
            self.ws()?;
            if !self.peek().is_some_and(is_quote) {
                return Err(self.err(format!(
                    "expected a string after `+`, found {}",
                    self.found()
                )));
            }
            s.push_str(&self.string()?);
        }
    }

    fn string(&mut self) -> Result<String, ImportError> {
        let open = self.pos;
        let q = self.bump().unwrap_or('"');
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(self.err_at(open, "this string is not closed")),
                Some(c) if c == q => return Ok(out),
                Some('\\') => self.escape(&mut out, open)?,
                // Only template literals may span lines; elsewhere a line break means the
                // closing quote is missing, and saying so here beats "end of input" later.
                Some('\n' | '\r') if q != '`' => {
                    return Err(
                        self.err_at(open, "this string is not closed before the end of its line")
                    )
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn escape(&mut self, out: &mut String, open: usize) -> Result<(), ImportError> {
        let at = self.pos - 1;
        let Some(c) = self.bump() else {
            return Err(self.err_at(open, "this string is not closed"));
        };
        match c {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            '0' if !self.peek().is_some_and(|d| d.is_ascii_digit()) => out.push('\0'),
            'x' => {
                let v = self.hex(2, at)?;
                out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
            }
            'u' => {
                let v = self.unicode(at)?;
                out.push(v);
            }
            // A line continuation: the backslash and the line break stand for nothing.
            '\r' => {
                if self.peek() == Some('\n') {
                    self.bump();
                }
            }
            '\n' | '\u{2028}' | '\u{2029}' => {}
            // `\'`, `\"`, `` \` ``, `\\`, `\/` and any other character stand for themselves,
            // as in JavaScript.
            other => out.push(other),
        }
        Ok(())
    }

    fn hex(&mut self, n: usize, at: usize) -> Result<u32, ImportError> {
        let mut v = 0u32;
        for _ in 0..n {
            let d = self
                .peek()
                .and_then(|c| c.to_digit(16))
                .ok_or_else(|| self.err_at(at, "a malformed \\x or \\u escape in a string"))?;
            self.bump();
            v = v * 16 + d;
        }
        Ok(v)
    }

    /// `\uNNNN` (a surrogate pair joined; a lone surrogate becomes U+FFFD) or `\u{N…}`.
    fn unicode(&mut self, at: usize) -> Result<char, ImportError> {
        let bad = |p: &Self| p.err_at(at, "a malformed \\u escape in a string");
        if self.peek() == Some('{') {
            self.bump();
            let mut v = 0u32;
            let mut digits = 0;
            while let Some(d) = self.peek().and_then(|c| c.to_digit(16)) {
                self.bump();
                digits += 1;
                if digits > 6 {
                    return Err(bad(self));
                }
                v = v * 16 + d;
            }
            if digits == 0 || self.bump() != Some('}') {
                return Err(bad(self));
            }
            return char::from_u32(v).ok_or_else(|| bad(self));
        }
        let hi = self.hex(4, at)?;
        if !(0xD800..0xDC00).contains(&hi) {
            return Ok(char::from_u32(hi).unwrap_or('\u{fffd}'));
        }
        if self.rest().starts_with("\\u") {
            let save = self.pos;
            self.pos += 2;
            if let Ok(lo) = self.hex(4, at) {
                if (0xDC00..0xE000).contains(&lo) {
                    let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    return Ok(char::from_u32(c).unwrap_or('\u{fffd}'));
                }
            }
            self.pos = save;
        }
        Ok('\u{fffd}')
    }

    fn number(&mut self) -> Result<Value, ImportError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.'))
        {
            self.bump();
        }
        // serde_json's own number grammar decides, so what we accept is exactly JSON's.
        serde_json::from_str::<Number>(&self.text[start..self.pos])
            .map(Value::Number)
            .map_err(|_| self.err_at(start, "expected a value, found a malformed number"))
    }
}

#[cfg(test)]
mod tests;
