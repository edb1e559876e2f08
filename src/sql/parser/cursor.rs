//! A cursor over one statement's tokens: keyword matching, names, literals,
//! durations, expressions, and syntax errors with positions.
//!
//! ksqlDB's keywords (EMIT, TUMBLING, …) are mostly unknown to sqlparser,
//! so keywords are matched by text: an unquoted word, case-insensitively.

use datafusion::sql::sqlparser::ast::Expr;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Location as SpLocation, Token, TokenWithSpan};

use super::dialect::KsqlDialect;
use super::{normalize, types, LineIndex};
use crate::error::{Error, Location, Result};
use crate::types::SqlType;

static DIALECT: KsqlDialect = KsqlDialect;

/// The parsing state of one statement.
pub(super) struct Cursor<'a> {
    parser: Parser<'a>,
    index: &'a LineIndex<'a>,
    resolve: &'a dyn Fn(&str) -> Option<SqlType>,
    /// The statement being parsed, for messages (e.g. "CREATE STREAM").
    kind: Option<&'static str>,
    /// Just past the last token: where "end of input" errors point.
    end: Location,
}

impl<'a> Cursor<'a> {
    /// A cursor over `tokens`, which come from the text `index` maps.
    pub(super) fn new(
        tokens: Vec<TokenWithSpan>,
        index: &'a LineIndex<'a>,
        resolve: &'a dyn Fn(&str) -> Option<SqlType>,
    ) -> Self {
        let end = tokens
            .last()
            .map(|t| to_location(t.span.end))
            .unwrap_or(index.origin);
        Cursor {
            parser: Parser::new(&DIALECT).with_tokens_with_locations(tokens),
            index,
            resolve,
            kind: None,
            end,
        }
    }

    /// Moves where "end of input" errors point (e.g. to a trailing `;`).
    pub(super) fn set_end(&mut self, end: Location) {
        self.end = end;
    }

    /// Names the statement in later error messages.
    pub(super) fn set_kind(&mut self, kind: &'static str) {
        self.kind = Some(kind);
    }

    // ---- tokens -------------------------------------------------------

    /// The token `n` ahead (0 = next); EOF past the end.
    pub(super) fn peek_nth(&self, n: usize) -> &TokenWithSpan {
        self.parser.peek_nth_token_ref(n)
    }

    /// The next token.
    pub(super) fn peek(&self) -> &TokenWithSpan {
        self.peek_nth(0)
    }

    /// Consumes and returns the next token.
    pub(super) fn next(&mut self) -> TokenWithSpan {
        self.parser.next_token()
    }

    /// Where a token starts (end of input for EOF).
    pub(super) fn location_of(&self, token: &TokenWithSpan) -> Location {
        if token.token == Token::EOF || token.span.start.line == 0 {
            self.end
        } else {
            to_location(token.span.start)
        }
    }

    /// Where the next token starts.
    pub(super) fn location(&self) -> Location {
        self.location_of(self.peek())
    }

    /// True at the end of the statement.
    pub(super) fn at_end(&self) -> bool {
        self.peek().token == Token::EOF
    }

    /// Fails unless the statement ends here.
    pub(super) fn expect_end(&mut self) -> Result<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err(self.expected("end of input"))
        }
    }

    /// True when the token `n` ahead is the keyword `kw` (an unquoted word).
    pub(super) fn is_kw(&self, n: usize, kw: &str) -> bool {
        is_keyword(&self.peek_nth(n).token, kw)
    }

    /// Consumes the keyword `kw` if it is next.
    pub(super) fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(0, kw) {
            self.next();
            true
        } else {
            false
        }
    }

    /// Consumes the keywords `kws` if they are all next, else nothing.
    pub(super) fn eat_kws(&mut self, kws: &[&str]) -> bool {
        if kws.iter().enumerate().all(|(i, kw)| self.is_kw(i, kw)) {
            for _ in kws {
                self.next();
            }
            true
        } else {
            false
        }
    }

    /// Consumes the keyword `kw` or fails; returns where it was.
    pub(super) fn expect_kw(&mut self, kw: &str) -> Result<Location> {
        let at = self.location();
        if self.eat_kw(kw) {
            Ok(at)
        } else {
            Err(self.expected(kw))
        }
    }

    /// Consumes `token` if it is next.
    pub(super) fn eat(&mut self, token: &Token) -> bool {
        self.parser.consume_token(token)
    }

    /// Consumes `token` or fails.
    pub(super) fn expect(&mut self, token: &Token) -> Result<()> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(self.expected(&format!("'{token}'")))
        }
    }

    // ---- names and literals -------------------------------------------

    /// A name: unquoted upper-cased, quoted kept as written.
    pub(super) fn ident(&mut self, what: &str) -> Result<(String, Location)> {
        let at = self.location();
        match &self.peek().token {
            Token::Word(w) => {
                let name = types::normalize(&w.value, w.quote_style);
                self.next();
                Ok((name, at))
            }
            _ => Err(self.expected(what)),
        }
    }

    /// A name exactly as written (quotes removed, case kept).
    pub(super) fn raw_ident(&mut self, what: &str) -> Result<String> {
        match &self.peek().token {
            Token::Word(w) => {
                let name = w.value.clone();
                self.next();
                Ok(name)
            }
            _ => Err(self.expected(what)),
        }
    }

    /// A `'string'` literal.
    pub(super) fn string(&mut self, what: &str) -> Result<String> {
        match &self.peek().token {
            Token::SingleQuotedString(s) => {
                let s = s.clone();
                self.next();
                Ok(s)
            }
            _ => Err(self.expected(what)),
        }
    }

    /// A non-negative integer literal.
    pub(super) fn integer(&mut self, what: &str) -> Result<u64> {
        let value = match &self.peek().token {
            Token::Number(n, _) => n.parse::<u64>().ok(),
            _ => None,
        };
        match value {
            Some(v) => {
                self.next();
                Ok(v)
            }
            None => Err(self.expected(what)),
        }
    }

    /// `n unit` with unit MILLISECOND(S) … DAY(S), in milliseconds.
    pub(super) fn duration(&mut self) -> Result<u64> {
        let at = self.location();
        let n = self.integer("a duration, e.g. 5 MINUTES")?;
        let unit = match &self.peek().token {
            Token::Word(w) if w.quote_style.is_none() => time_unit_ms(&w.value),
            _ => None,
        };
        let Some(unit) = unit else {
            return Err(self.expected("a time unit: MILLISECONDS, SECONDS, MINUTES, HOURS or DAYS"));
        };
        self.next();
        n.checked_mul(unit).ok_or_else(|| {
            Error::user_at(
                format!("line {}:{}: Duration is too large", at.line, at.column),
                at,
            )
        })
    }

    // ---- expressions and types ----------------------------------------

    /// An expression, with names normalized.
    pub(super) fn expr(&mut self) -> Result<Expr> {
        let mut expr = self.parser.parse_expr().map_err(|e| self.parser_error(e))?;
        normalize::normalize_expr(&mut expr, self.resolve)?;
        Ok(expr)
    }

    /// A comma-separated list of expressions (at least one).
    pub(super) fn expr_list(&mut self) -> Result<Vec<Expr>> {
        let mut exprs = vec![self.expr()?];
        while self.eat(&Token::Comma) {
            exprs.push(self.expr()?);
        }
        Ok(exprs)
    }

    /// A ksqlDB type, with custom names resolved.
    pub(super) fn data_type(&mut self) -> Result<SqlType> {
        let data_type = types::parse_type(&mut self.parser).map_err(|e| self.parser_error(e))?;
        types::to_sql_type(&data_type, self.resolve)
    }

    /// The text of the statement from `from` (a token start) to its end.
    pub(super) fn text_from(&self, from: Location) -> Result<&'a str> {
        let start = SpLocation {
            line: from.line,
            column: from.column,
        };
        self.index
            .offset(start)
            .and_then(|i| self.index.text.get(i..))
            .ok_or_else(|| Error::internal("token position outside the statement text"))
    }

    // ---- errors ---------------------------------------------------------

    /// A syntax error at the next token, saying what was expected.
    pub(super) fn expected(&self, expected: &str) -> Error {
        let token = self.peek();
        let near = match &token.token {
            Token::EOF => None,
            Token::SingleQuotedString(_) => Some(token.token.to_string()),
            other => Some(format!("'{other}'")),
        };
        self.syntax_error(self.location_of(token), near, expected)
    }

    /// A user error at a position that is not a syntax error.
    pub(super) fn error_at(&self, at: Location, message: impl std::fmt::Display) -> Error {
        Error::user_at(format!("line {}:{}: {message}", at.line, at.column), at)
    }

    fn syntax_error(&self, at: Location, near: Option<String>, expected: &str) -> Error {
        let kind = self
            .kind
            .map(|k| format!(" in {k} statement"))
            .unwrap_or_default();
        let near = match near {
            Some(n) => format!(" at or near {n}"),
            None => " at end of input".to_string(),
        };
        Error::user_at(
            format!(
                "line {}:{}: Syntax error{kind}{near}: expected {expected}",
                at.line, at.column
            ),
            at,
        )
    }

    /// Translates sqlparser's `Expected: X, found: Y at Line: l, Column: c`.
    fn parser_error(&self, error: ParserError) -> Error {
        let message = match error {
            ParserError::ParserError(m) | ParserError::TokenizerError(m) => m,
            ParserError::RecursionLimitExceeded => {
                return self.error_at(self.location(), "Expression is nested too deeply");
            }
        };
        let (message, at) = split_location(&message);
        let at = at.unwrap_or(self.end);
        if let Some(rest) = message.strip_prefix("Expected: ") {
            if let Some((expected, found)) = rest.rsplit_once(", found: ") {
                let near = match found {
                    "EOF" => None,
                    f if f.starts_with('\'') => Some(f.to_string()),
                    f => Some(format!("'{f}'")),
                };
                // sqlparser names punctuation bare: `Expected: ), found: …`.
                if !expected.is_empty() && !expected.chars().any(char::is_alphanumeric) {
                    return self.syntax_error(at, near, &format!("'{expected}'"));
                }
                return self.syntax_error(at, near, expected);
            }
        }
        self.error_at(at, message)
    }
}

/// True when `token` is the unquoted word `kw`, in any case.
pub(super) fn is_keyword(token: &Token, kw: &str) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw))
}

/// Milliseconds per unit, singular or plural.
fn time_unit_ms(unit: &str) -> Option<u64> {
    let unit = unit.to_ascii_uppercase();
    let unit = unit.strip_suffix('S').unwrap_or(&unit);
    match unit {
        "MILLISECOND" => Some(1),
        "SECOND" => Some(1_000),
        "MINUTE" => Some(60_000),
        "HOUR" => Some(3_600_000),
        "DAY" => Some(86_400_000),
        _ => None,
    }
}

/// Splits sqlparser's ` at Line: l, Column: c` suffix off a message.
fn split_location(message: &str) -> (&str, Option<Location>) {
    if let Some((text, position)) = message.rsplit_once(" at Line: ") {
        if let Some((line, column)) = position.split_once(", Column: ") {
            if let (Ok(line), Ok(column)) = (line.parse(), column.parse()) {
                return (text, Some(Location { line, column }));
            }
        }
    }
    (message, None)
}

fn to_location(at: SpLocation) -> Location {
    Location {
        line: at.line,
        column: at.column,
    }
}
