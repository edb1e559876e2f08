//! Session variable substitution: `${name}` in statement text.
//!
//! Follows ksqlDB (KLIP-38): variables are defined with
//! `DEFINE name = 'value';`, names are case-insensitive, and a reference is
//! replaced by the value's text wherever it appears — as an identifier, as a
//! literal (`replicas=${replicas}`) or inside a string literal
//! (`kafka_topic='${topic}'`). References may nest:
//! `'${topic_${env}}'`. Inside a string literal a `'` in the value is
//! doubled so it cannot end the literal early; inside a quoted identifier
//! the quote character is doubled likewise. Comments are left alone.
//!
//! Unlike ksqlDB, which leaves an undefined reference in place (where it
//! then fails to parse, or silently stays inside a string), an undefined
//! variable is an error naming it.

use std::collections::HashMap;

use crate::error::{Error, Location, Result};

/// Replaces every `${name}` in `sql` with the variable's value.
pub fn substitute(sql: &str, vars: &HashMap<String, String>) -> Result<String> {
    substitute_from(sql, vars, Location { line: 1, column: 1 })
}

/// True when `name` is a valid variable name: a letter or `_`, then
/// letters, digits or `_`.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Looks a variable up by name, ignoring case.
pub fn lookup<'a>(vars: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    vars.get(name)
        .or_else(|| {
            vars.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .map(String::as_str)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    /// Inside a quoted string or identifier closed by this character.
    Quoted(char),
    LineComment,
    BlockComment,
}

/// [`substitute`] for text that starts at `origin` in a larger input, so
/// that errors point into the larger input.
pub(crate) fn substitute_from(
    sql: &str,
    vars: &HashMap<String, String>,
    origin: Location,
) -> Result<String> {
    if !sql.contains("${") {
        return Ok(sql.to_string());
    }
    let mut out = String::with_capacity(sql.len());
    let mut state = State::Code;
    let mut i = 0;
    while let Some(c) = sql.get(i..).and_then(|rest| rest.chars().next()) {
        let rest = sql.get(i..).unwrap_or_default();
        let next = rest.chars().nth(1);
        match state {
            State::LineComment | State::BlockComment => {
                if state == State::LineComment && c == '\n' {
                    state = State::Code;
                } else if state == State::BlockComment && c == '*' && next == Some('/') {
                    out.push_str("*/");
                    i += 2;
                    state = State::Code;
                    continue;
                }
            }
            State::Code if c == '-' && next == Some('-') => state = State::LineComment,
            State::Code if c == '/' && next == Some('*') => {
                out.push_str("/*");
                i += 2;
                state = State::BlockComment;
                continue;
            }
            State::Code if c == '\'' || c == '"' || c == '`' => state = State::Quoted(c),
            State::Quoted(q) if c == q => {
                if next == Some(q) {
                    // A doubled quote stays inside.
                    out.push(c);
                    out.push(c);
                    i += 2;
                    continue;
                }
                state = State::Code;
            }
            State::Code | State::Quoted(_) if rest.starts_with("${") => {
                if let Some(end) = reference_end(rest) {
                    let inner = rest.get(2..end).unwrap_or_default();
                    let at = location_at(sql, i, origin);
                    let value = resolve(inner, vars, at)?;
                    match state {
                        State::Quoted(q) => {
                            let quote = q.to_string();
                            out.push_str(&value.replace(q, &quote.repeat(2)));
                        }
                        _ => out.push_str(&value),
                    }
                    i += end + 1;
                    continue;
                }
            }
            _ => {}
        }
        out.push(c);
        i += c.len_utf8();
    }
    Ok(out)
}

/// The byte index of the `}` closing the reference at the start of `text`
/// (which starts with `${`), counting nested references.
fn reference_end(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'$') if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 2;
                continue;
            }
            Some(b'}') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i);
                }
            }
            Some(b'\n') => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The value of the reference `${inner}`, substituting nested references in
/// the name first.
fn resolve(inner: &str, vars: &HashMap<String, String>, at: Location) -> Result<String> {
    let name = if inner.contains("${") {
        substitute_from(inner, vars, at)?
    } else {
        inner.to_string()
    };
    if !is_valid_name(&name) {
        return Err(Error::user_at(
            format!(
                "line {}:{}: Invalid variable reference '${{{inner}}}': a variable name \
                 starts with a letter or '_' and has only letters, digits and '_'",
                at.line, at.column
            ),
            at,
        ));
    }
    match lookup(vars, &name) {
        Some(value) => Ok(value.to_string()),
        None => Err(Error::user_at(
            format!(
                "line {}:{}: Variable '{name}' is not defined; define it with \
                 DEFINE {name} = 'value';",
                at.line, at.column
            ),
            at,
        )),
    }
}

/// The position of byte `index` of `text`, which starts at `origin`.
fn location_at(text: &str, index: usize, origin: Location) -> Location {
    let before = text.get(..index).unwrap_or_default();
    let newlines = before.matches('\n').count() as u64;
    let column = before
        .rsplit('\n')
        .next()
        .map(|line| line.chars().count() as u64)
        .unwrap_or_default();
    if newlines == 0 {
        Location {
            line: origin.line,
            column: origin.column + column,
        }
    } else {
        Location {
            line: origin.line + newlines,
            column: column + 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sub(sql: &str, pairs: &[(&str, &str)]) -> String {
        match substitute(sql, &vars(pairs)) {
            Ok(s) => s,
            Err(e) => panic!("{sql}: {e}"),
        }
    }

    #[test]
    fn substitutes_identifiers_literals_and_strings() {
        let v = [
            ("stream", "Orders"),
            ("replicas", "3"),
            ("topic", "orders_v1"),
        ];
        assert_eq!(
            sub(
                "CREATE STREAM ${stream} (a INT) WITH (replicas=${replicas}, kafka_topic='${topic}');",
                &v
            ),
            "CREATE STREAM Orders (a INT) WITH (replicas=3, kafka_topic='orders_v1');"
        );
    }

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(
            sub("SELECT ${COL} FROM s;", &[("col", "x")]),
            "SELECT x FROM s;"
        );
    }

    #[test]
    fn nested_references_resolve_inside_out() {
        let v = [("env", "prod"), ("topic_prod", "t_prod")];
        assert_eq!(sub("'${topic_${env}}'", &v), "'t_prod'");
    }

    #[test]
    fn quotes_in_values_stay_inside_literals() {
        assert_eq!(sub("SELECT '${v}';", &[("v", "it's")]), "SELECT 'it''s';");
        assert_eq!(sub("SELECT `${v}`;", &[("v", "a`b")]), "SELECT `a``b`;");
    }

    #[test]
    fn comments_are_left_alone() {
        let sql = "-- uses ${x}\nSELECT 1 /* ${y} */ FROM s;";
        assert_eq!(sub(sql, &[]), sql);
    }

    #[test]
    fn text_without_references_is_unchanged() {
        let sql = "SELECT 'a$b', '{x}', '$' FROM s;";
        assert_eq!(sub(sql, &[]), sql);
        assert_eq!(
            sub("SELECT '${unclosed' FROM s;", &[]),
            "SELECT '${unclosed' FROM s;"
        );
        assert_eq!(
            sub("SELECT 'héllo ${x}';", &[("x", "ü")]),
            "SELECT 'héllo ü';"
        );
    }

    #[test]
    fn undefined_variable_is_an_error_naming_it() {
        let err = substitute("SELECT *\nFROM ${src};", &HashMap::new()).err();
        let err = err.map(|e| (e.to_string(), e.location()));
        assert_eq!(
            err,
            Some((
                "line 2:6: Variable 'src' is not defined; define it with DEFINE src = 'value';"
                    .to_string(),
                Some(Location { line: 2, column: 6 })
            ))
        );
    }

    #[test]
    fn invalid_names_are_errors() {
        let err = substitute("SELECT ${1abc};", &HashMap::new()).err();
        assert!(err.is_some_and(|e| e.to_string().contains("Invalid variable reference")));
    }

    #[test]
    fn validates_names() {
        assert!(is_valid_name("_a1"));
        assert!(is_valid_name("Topic"));
        assert!(!is_valid_name("1a"));
        assert!(!is_valid_name("a-b"));
        assert!(!is_valid_name(""));
    }
}
