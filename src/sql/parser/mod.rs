//! The ksqlDB-dialect statement parser: SQL text to [`ParsedStatement`]s.
//!
//! Text goes through three steps:
//!
//! 1. [`split`] tokenizes the whole input with sqlparser's tokenizer (so
//!    that `;` inside strings, quoted identifiers and comments is not a
//!    separator) and cuts it into statements, each with its exact text and
//!    start position.
//! 2. [`parse_with`] substitutes `${variables}` in each statement (when the
//!    caller passes session variables) and parses it: ksqlDB's statements
//!    are parsed here (`statements`, `query`); expressions are parsed by
//!    sqlparser with [`KsqlDialect`].
//! 3. Every name is normalized on the way: unquoted identifiers upper-cased,
//!    quoted ones kept as written, inside expressions too
//!    (see `normalize`).
//!
//! Positions in errors are `line L:C` in the whole input.

mod cursor;
mod dialect;
mod normalize;
mod query;
mod statements;
pub mod types;

use std::borrow::Cow;
use std::collections::HashMap;

use datafusion::sql::sqlparser::ast::Expr;
use datafusion::sql::sqlparser::tokenizer::{
    Location as SpLocation, Span, Token, TokenWithSpan, Tokenizer,
};

pub use dialect::KsqlDialect;

use super::ast::{ParsedStatement, Statement};
use crate::error::{Error, Location, Result};
use crate::types::SqlType;
use cursor::Cursor;

/// Looks up named types declared with `CREATE TYPE` (the catalog implements
/// it). Names are given upper-cased unless they were quoted.
pub trait TypeResolver: Sync {
    /// The type registered under `name`, if any.
    fn resolve_type(&self, name: &str) -> Option<SqlType>;
}

/// What [`parse_with`] may consult and update besides the text.
#[derive(Default)]
pub struct ParseContext<'a> {
    /// Session variables. When given, `${name}` references are substituted
    /// in every statement before it is parsed (an undefined one is an
    /// error), and `DEFINE`/`UNDEFINE` statements update the map as they
    /// are parsed, so later statements of the same input see them. When
    /// `None`, no substitution happens.
    pub variables: Option<&'a mut HashMap<String, String>>,
    /// Named types. `CREATE TYPE`/`DROP TYPE` earlier in the same input are
    /// taken into account before this resolver is asked.
    pub types: Option<&'a dyn TypeResolver>,
}

/// One statement's text, as cut by [`split`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementText<'a> {
    /// From the statement's first token to its `;` (inclusive, when present).
    pub text: &'a str,
    /// Where the statement starts in the whole input.
    pub location: Location,
}

const ORIGIN: Location = Location { line: 1, column: 1 };

/// Parses a request or script into statements, without variable
/// substitution and without custom types.
pub fn parse(sql: &str) -> Result<Vec<ParsedStatement>> {
    parse_with(sql, &mut ParseContext::default())
}

/// Parses a request or script into statements, substituting variables and
/// resolving custom types as `context` says.
pub fn parse_with(sql: &str, context: &mut ParseContext<'_>) -> Result<Vec<ParsedStatement>> {
    on_parser_stack(sql, || parse_statements(sql, context))
}

fn parse_statements(sql: &str, context: &mut ParseContext<'_>) -> Result<Vec<ParsedStatement>> {
    // Types created (Some) or dropped (None) earlier in this input.
    let mut local_types: HashMap<String, Option<SqlType>> = HashMap::new();
    let mut parsed = Vec::new();
    for raw in split(sql)? {
        let text: Cow<'_, str> = match context.variables.as_deref() {
            Some(vars) => Cow::Owned(super::variables::substitute_from(
                raw.text,
                vars,
                raw.location,
            )?),
            None => Cow::Borrowed(raw.text),
        };
        let external = context.types;
        let resolve = |name: &str| match local_types.get(name) {
            Some(local) => local.clone(),
            None => external.and_then(|t| t.resolve_type(name)),
        };
        let statement = parse_one(&text, raw.location, &resolve)?;
        match &statement {
            Statement::Define { name, value } => {
                if let Some(vars) = context.variables.as_deref_mut() {
                    vars.retain(|k, _| !k.eq_ignore_ascii_case(name));
                    vars.insert(name.clone(), value.clone());
                }
            }
            Statement::Undefine { name } => {
                if let Some(vars) = context.variables.as_deref_mut() {
                    vars.retain(|k, _| !k.eq_ignore_ascii_case(name));
                }
            }
            Statement::CreateType {
                name, data_type, ..
            } => {
                local_types
                    .entry(name.clone())
                    .or_insert_with(|| Some(data_type.clone()));
            }
            Statement::DropType { name, .. } => {
                local_types.insert(name.clone(), None);
            }
            _ => {}
        }
        parsed.push(ParsedStatement {
            text: text.into_owned(),
            location: raw.location,
            statement,
        });
    }
    Ok(parsed)
}

/// Cuts input into statements at `;` (outside strings, quoted identifiers
/// and comments), without parsing them. Empty statements are skipped.
pub fn split(sql: &str) -> Result<Vec<StatementText<'_>>> {
    let tokens = tokenize(sql, ORIGIN)?;
    let index = LineIndex::new(sql, ORIGIN);
    let mut statements = Vec::new();
    let mut start: Option<SpLocation> = None;
    let mut last_end = SpLocation { line: 1, column: 1 };
    let mut push = |start: SpLocation, end: SpLocation| -> Result<()> {
        let (from, to) = match (index.offset(start), index.offset(end)) {
            (Some(from), Some(to)) if from <= to => (from, to),
            _ => return Err(Error::internal("statement bounds outside the input")),
        };
        let text = sql
            .get(from..to)
            .ok_or_else(|| Error::internal("statement bounds inside a character"))?;
        statements.push(StatementText {
            text,
            location: to_location(start),
        });
        Ok(())
    };
    for token in tokens {
        if token.token == Token::SemiColon {
            if let Some(s) = start.take() {
                push(s, token.span.end)?;
            }
        } else {
            start.get_or_insert(token.span.start);
            last_end = token.span.end;
        }
    }
    if let Some(s) = start {
        push(s, last_end)?;
    }
    Ok(statements)
}

/// Parses a single expression, e.g. `UCASE(name) || '!'`, with names
/// normalized as in statements.
pub fn parse_expression(sql: &str) -> Result<Expr> {
    on_parser_stack(sql, || parse_expression_here(sql))
}

fn parse_expression_here(sql: &str) -> Result<Expr> {
    let resolve = |_: &str| None;
    let index = LineIndex::new(sql, ORIGIN);
    let mut cursor = Cursor::new(tokenize(sql, ORIGIN)?, &index, &resolve);
    let expr = cursor.expr()?;
    cursor.expect_end()?;
    Ok(expr)
}

/// Parses a type, e.g. `STRUCT<A INT, B ARRAY<STRING>>` (no custom types).
pub fn parse_data_type(sql: &str) -> Result<SqlType> {
    on_parser_stack(sql, || parse_data_type_here(sql))
}

fn parse_data_type_here(sql: &str) -> Result<SqlType> {
    let resolve = |_: &str| None;
    let index = LineIndex::new(sql, ORIGIN);
    let mut cursor = Cursor::new(tokenize(sql, ORIGIN)?, &index, &resolve);
    let data_type = cursor.data_type()?;
    cursor.expect_end()?;
    Ok(data_type)
}

/// The stack of the parsing thread. sqlparser recurses for every nesting
/// level of an expression (up to its limit of 50) and, in debug builds, a
/// level can take over 100 KiB of stack: the deepest expressions need about
/// 6 MiB, more than a tokio worker thread has. Only touched pages are
/// committed, so a generous size costs nothing.
const PARSER_STACK_BYTES: usize = 32 << 20;

/// Runs `parse` of `text` on a thread with [`PARSER_STACK_BYTES`] of
/// stack, so that no input can overflow the caller's stack; a shallow text
/// ([`is_shallow`]), the common case (a key lookup, an INSERT), is parsed
/// on the caller's thread instead: starting a thread costs more than
/// parsing it.
fn on_parser_stack<T: Send>(text: &str, parse: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    if is_shallow(text) {
        return parse();
    }
    std::thread::scope(|scope| {
        let parser = std::thread::Builder::new()
            .name("sluice-sql-parser".into())
            .stack_size(PARSER_STACK_BYTES)
            .spawn_scoped(scope, parse)
            .map_err(|e| Error::external(format!("cannot start the SQL parser thread: {e}")))?;
        parser
            .join()
            .unwrap_or_else(|_| Err(Error::internal("the SQL parser panicked")))
    })
}

/// The most bytes, and the most nesting signs (brackets, `CASE`, `NOT`,
/// unary minus), of a text parsed on the caller's stack: sqlparser's
/// recursion stays a few levels deep, well within a 2 MiB thread stack
/// even in a debug build.
const SHALLOW_BYTES: usize = 1024;
const SHALLOW_NESTING: usize = 4;

/// True when `text` cannot make the parser recurse deeply.
fn is_shallow(text: &str) -> bool {
    if text.len() > SHALLOW_BYTES {
        return false;
    }
    let bytes = text.as_bytes();
    let mut nesting = 0;
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'(' | b'[' | b'{' | b'-' | b'<' => nesting += 1,
            b'c' | b'C' | b'n' | b'N' => {
                let word = bytes.get(i..i + 4).unwrap_or_default();
                if word.eq_ignore_ascii_case(b"case")
                    || word[..word.len().min(3)].eq_ignore_ascii_case(b"not")
                {
                    nesting += 1;
                }
            }
            _ => {}
        }
    }
    nesting <= SHALLOW_NESTING
}

/// Parses the text of one statement that starts at `origin`.
fn parse_one(
    text: &str,
    origin: Location,
    resolve: &dyn Fn(&str) -> Option<SqlType>,
) -> Result<Statement> {
    let mut tokens = tokenize(text, origin)?;
    let semicolon = match tokens.last() {
        Some(t) if t.token == Token::SemiColon => Some(to_location(t.span.start)),
        _ => None,
    };
    if semicolon.is_some() {
        tokens.pop();
    }
    let index = LineIndex::new(text, origin);
    let mut cursor = Cursor::new(tokens, &index, resolve);
    if let Some(at) = semicolon {
        cursor.set_end(at);
    }
    statements::parse_statement(&mut cursor)
}

/// Tokenizes `text` (which starts at `origin` in the whole input), dropping
/// whitespace and comments and splitting `>>` into two `>` (ksqlDB has no
/// shift operators; `ARRAY<ARRAY<INT>>` needs two closing brackets).
fn tokenize(text: &str, origin: Location) -> Result<Vec<TokenWithSpan>> {
    let raw = Tokenizer::new(&KsqlDialect, text)
        .tokenize_with_location()
        .map_err(|e| {
            let at = shift(e.location, origin);
            Error::user_at(
                format!(
                    "line {}:{}: Syntax error: {}",
                    at.line, at.column, e.message
                ),
                to_location(at),
            )
        })?;
    let mut tokens = Vec::with_capacity(raw.len());
    for t in raw {
        let span = Span::new(shift(t.span.start, origin), shift(t.span.end, origin));
        match t.token {
            Token::Whitespace(_) => {}
            Token::ShiftRight => {
                let middle = SpLocation {
                    line: span.start.line,
                    column: span.start.column + 1,
                };
                tokens.push(TokenWithSpan::new(Token::Gt, Span::new(span.start, middle)));
                tokens.push(TokenWithSpan::new(Token::Gt, Span::new(middle, span.end)));
            }
            token => tokens.push(TokenWithSpan::new(token, span)),
        }
    }
    Ok(tokens)
}

/// Moves a position in a text that starts at `origin` to the whole input.
fn shift(at: SpLocation, origin: Location) -> SpLocation {
    if at.line == 0 {
        at
    } else if at.line == 1 {
        SpLocation {
            line: origin.line,
            column: origin.column + at.column - 1,
        }
    } else {
        SpLocation {
            line: origin.line + at.line - 1,
            column: at.column,
        }
    }
}

fn to_location(at: SpLocation) -> Location {
    Location {
        line: at.line,
        column: at.column,
    }
}

/// Maps positions in the whole input to byte offsets in a text that starts
/// at `origin`.
struct LineIndex<'a> {
    text: &'a str,
    origin: Location,
    /// Byte offset of each line's start in `text`.
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str, origin: Location) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(
            text.char_indices()
                .filter(|(_, c)| *c == '\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex {
            text,
            origin,
            line_starts,
        }
    }

    /// The byte offset of a position (tokenizer columns count characters).
    fn offset(&self, at: SpLocation) -> Option<usize> {
        let line = usize::try_from(at.line.checked_sub(self.origin.line)?).ok()?;
        let column = if line == 0 {
            at.column.checked_sub(self.origin.column)?
        } else {
            at.column.checked_sub(1)?
        };
        let start = *self.line_starts.get(line)?;
        let rest = self.text.get(start..)?;
        let column = usize::try_from(column).ok()?;
        match rest.char_indices().nth(column) {
            Some((i, _)) => Some(start + i),
            None if rest.chars().count() == column => Some(self.text.len()),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests;
