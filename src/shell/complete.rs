//! The shell's line-editor helper: completion of keywords, stream/table
//! and column names and functions, and multi-line input until `;`.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use super::statement_complete;

/// Keywords of the dialect, offered for completion.
const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "EMIT",
    "CHANGES",
    "FINAL",
    "LIMIT",
    "CREATE",
    "STREAM",
    "STREAMS",
    "TABLE",
    "TABLES",
    "AS",
    "WITH",
    "INSERT",
    "INTO",
    "VALUES",
    "SHOW",
    "LIST",
    "DESCRIBE",
    "EXTENDED",
    "EXPLAIN",
    "TERMINATE",
    "DROP",
    "DELETE",
    "TOPIC",
    "TOPICS",
    "QUERIES",
    "PROPERTIES",
    "VARIABLES",
    "FUNCTIONS",
    "PRINT",
    "BEGINNING",
    "INTERVAL",
    "SET",
    "UNSET",
    "DEFINE",
    "UNDEFINE",
    "PARTITION",
    "BY",
    "GROUP",
    "HAVING",
    "WINDOW",
    "TUMBLING",
    "HOPPING",
    "SESSION",
    "KEY",
    "PRIMARY",
    "HEADERS",
    "HEADER",
    "REPLACE",
    "OR",
    "AND",
    "NOT",
    "NULL",
    "IS",
    "IN",
    "LIKE",
    "BETWEEN",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "CAST",
    "KAFKA_TOPIC",
    "VALUE_FORMAT",
    "KEY_FORMAT",
    "FORMAT",
    "PARTITIONS",
    "REPLICAS",
    "TIMESTAMP",
    "TIMESTAMP_FORMAT",
    "WRAP_SINGLE_VALUE",
    "VALUE_DELIMITER",
    "KEY_DELIMITER",
    "BOOLEAN",
    "INT",
    "INTEGER",
    "BIGINT",
    "DOUBLE",
    "DECIMAL",
    "STRING",
    "VARCHAR",
    "BYTES",
    "DATE",
    "TIME",
    "ARRAY",
    "MAP",
    "STRUCT",
    "ROWTIME",
    "ROWPARTITION",
    "ROWOFFSET",
    "RUN",
    "SCRIPT",
    "EXIT",
    "HELP",
    "OUTPUT",
    "TABULAR",
    "JSON",
];

/// Completion and validation for the shell; `words` is refreshed from the
/// engine after every statement.
pub struct ShellHelper {
    /// Catalog names and functions.
    pub words: Arc<Mutex<Vec<String>>>,
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let prefix_start = line[..pos]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map(|i| i + 1)
            .unwrap_or(0);
        let prefix = &line[prefix_start..pos];
        if prefix.is_empty() {
            return Ok((pos, Vec::new()));
        }
        let upper = prefix.to_uppercase();
        let lower_case = prefix.chars().all(|c| !c.is_uppercase());
        let words = self.words.lock().map(|w| w.clone()).unwrap_or_default();
        let mut out: Vec<Pair> = KEYWORDS
            .iter()
            .map(|k| k.to_string())
            .chain(words)
            .filter(|w| w.to_uppercase().starts_with(&upper))
            .map(|w| {
                let replacement = if lower_case {
                    w.to_lowercase()
                } else {
                    w.clone()
                };
                Pair {
                    display: w,
                    replacement,
                }
            })
            .collect();
        out.sort_by(|a, b| a.display.cmp(&b.display));
        out.dedup_by(|a, b| a.display == b.display);
        Ok((prefix_start, out))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }
}

impl Validator for ShellHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        let input = ctx.input();
        let trimmed = input.trim();
        if trimmed.is_empty() || is_local_command(trimmed) || statement_complete(input) {
            Ok(ValidationResult::Valid(None))
        } else {
            Ok(ValidationResult::Incomplete)
        }
    }
}

impl Helper for ShellHelper {}

/// Shell commands that need no `;`.
pub fn is_local_command(line: &str) -> bool {
    let lower = line.trim_end_matches(';').trim().to_lowercase();
    lower == "exit"
        || lower == "quit"
        || lower == "help"
        || lower == "clear"
        || lower.starts_with("output")
        || lower.starts_with("run script")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_commands_need_no_semicolon() {
        assert!(is_local_command("exit"));
        assert!(is_local_command("output JSON"));
        assert!(is_local_command("RUN SCRIPT 'x.sql'"));
        assert!(!is_local_command("SHOW STREAMS"));
    }
}
