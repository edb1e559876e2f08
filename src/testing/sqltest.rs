//! Reads sluice's own test files (`sql-tests/*.sql`) into the test model.
//!
//! A file is plain SQL with directives in comments, so that a case reads
//! as a story: declare sources, start queries, write records, say what
//! comes out.
//!
//! ```sql
//! --@test: big orders are kept, small ones dropped
//! CREATE STREAM orders (id INT KEY, qty INT)
//!   WITH (kafka_topic='orders', value_format='JSON', partitions=1);
//! CREATE STREAM big AS SELECT id, qty FROM orders WHERE qty > 10;
//! INSERT INTO orders (id, qty, ROWTIME) VALUES (1, 5, 1000);
//! INSERT INTO orders (id, qty, ROWTIME) VALUES (2, 50, 2000);
//! ASSERT VALUES big (id, qty, ROWTIME) VALUES (2, 50, 2000);
//! ```
//!
//! * `--@test: name` starts a case; everything up to the next one belongs
//!   to it. Other `--` comments are free text.
//! * Statements run in order; `INSERT INTO … VALUES` writes the inputs.
//! * `ASSERT VALUES sink (cols) VALUES (…)` is an expected record of the
//!   sink, in order; together they must be all the records of the sink.
//!   Columns not listed are expected to be NULL; `ROWTIME` is checked
//!   when listed, `WINDOWSTART`/`WINDOWEND` give the window.
//! * `--@expected.error: user` before a statement says that statement is
//!   rejected; `--@expected.error: runtime` anywhere in a case says a
//!   persistent query stops while processing. `--@expected.message: text`
//!   adds text the error message must contain.

use std::path::Path;

use super::model::{ErrorKind, ExpectedError, ExpectedOutput, Statement, TestCase};
use super::{classify, CaseFile};
use crate::error::{Error, Result};
use crate::sql::ast::Statement as Ast;

/// Reads one `.sql` test file.
pub fn read_file(path: &Path) -> Result<CaseFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::user(format!("cannot read '{}': {e}", path.display())))?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    parse_file(&stem, &text).map_err(|e| e.context(format!("in '{}'", path.display())))
}

/// A case as its lines are read.
struct Draft {
    name: String,
    /// Line of `--@test:` (1-based).
    line: usize,
    body: String,
    /// (line, kind) of `--@expected.error:`.
    error: Option<(usize, ErrorKind)>,
    message: Option<String>,
}

/// Parses the text of a test file whose stem is `stem`.
pub fn parse_file(stem: &str, text: &str) -> Result<CaseFile> {
    let mut drafts: Vec<Draft> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        let Some(directive) = line.trim_start().strip_prefix("--@") else {
            match drafts.last_mut() {
                Some(d) => {
                    d.body.push_str(line);
                    d.body.push('\n');
                }
                None if is_blank_or_comment(line) => {}
                None => {
                    return Err(Error::user(format!(
                        "line {number}: a statement before the first '--@test:' line"
                    )))
                }
            }
            continue;
        };
        let (key, value) = directive.split_once(':').ok_or_else(|| {
            Error::user(format!(
                "line {number}: a directive is written '--@name: value'"
            ))
        })?;
        let value = value.trim();
        match key.trim() {
            "test" => {
                if value.is_empty() {
                    return Err(Error::user(format!("line {number}: the test has no name")));
                }
                drafts.push(Draft {
                    name: value.to_string(),
                    line: number,
                    body: String::new(),
                    error: None,
                    message: None,
                });
            }
            other => {
                let draft = drafts.last_mut().ok_or_else(|| {
                    Error::user(format!(
                        "line {number}: '--@{other}' before the first '--@test:' line"
                    ))
                })?;
                match other {
                    "expected.error" => {
                        let kind = match value.to_ascii_lowercase().as_str() {
                            "user" => ErrorKind::Statement,
                            "runtime" => ErrorKind::Runtime,
                            _ => {
                                return Err(Error::user(format!(
                                    "line {number}: unknown error kind '{value}': use 'user' \
                                     (a statement is rejected) or 'runtime' (a query stops)"
                                )))
                            }
                        };
                        draft.error = Some((number, kind));
                    }
                    "expected.message" => draft.message = Some(value.to_string()),
                    _ => {
                        return Err(Error::user(format!(
                            "line {number}: unknown directive '--@{other}'. Directives: test, \
                             expected.error, expected.message"
                        )))
                    }
                }
                // Keep line numbers aligned with the file.
                draft.body.push('\n');
            }
        }
    }
    let mut file = CaseFile::default();
    let mut seen = std::collections::HashSet::new();
    for d in drafts {
        if !seen.insert(d.name.clone()) {
            return Err(Error::user(format!(
                "line {}: a second test named '{}'",
                d.line, d.name
            )));
        }
        file.cases.push(build_case(stem, d)?);
    }
    Ok(file)
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with("--")
}

fn build_case(stem: &str, draft: Draft) -> Result<TestCase> {
    let mut case = TestCase::new(stem, format!("{stem} - {}", draft.name));
    // The body starts on the line after `--@test:`.
    let first_line = draft.line + 1;
    let pieces: Vec<(String, usize)> = match crate::sql::parser::split(&draft.body) {
        Ok(parts) => parts
            .iter()
            .map(|p| {
                (
                    p.text.to_string(),
                    first_line + p.location.line as usize - 1,
                )
            })
            .collect(),
        // Let the engine report text that does not even tokenize.
        Err(_) => vec![(draft.body.trim().to_string(), first_line)],
    };
    for (sql, line) in pieces {
        let parsed = crate::sql::parse(&sql).ok();
        let statement = match parsed.as_deref() {
            Some([p]) => Some(&p.statement),
            _ => None,
        };
        match statement {
            Some(Ast::AssertValues(_) | Ast::AssertTombstone(_)) => {
                case.outputs.push(ExpectedOutput::Assert { sql, line })
            }
            Some(Ast::InsertValues(v)) => case.statements.push(Statement {
                sql,
                line,
                inserts_into: Some(v.target.clone()),
            }),
            _ => case.statements.push(Statement {
                sql,
                line,
                inserts_into: None,
            }),
        }
    }
    if let Some((line, kind)) = draft.error {
        let statement = match kind {
            ErrorKind::Runtime => None,
            ErrorKind::Statement => Some(
                case.statements
                    .iter()
                    .position(|s| s.line > line)
                    .ok_or_else(|| {
                        Error::user(format!(
                            "line {line}: '--@expected.error: user' is not followed by a \
                             statement"
                        ))
                    })?,
            ),
        };
        case.expected_error = Some(ExpectedError {
            kind,
            type_name: None,
            message: draft.message,
            statement,
            message_required: true,
        });
    } else if draft.message.is_some() {
        return Err(Error::user(format!(
            "test '{}': '--@expected.message' needs '--@expected.error'",
            draft.name
        )));
    }
    if case.statements.is_empty() {
        return Err(Error::user(format!(
            "test '{}' (line {}) has no statements",
            draft.name, draft.line
        )));
    }
    classify(&mut case);
    Ok(case)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_story() {
        let text = "-- A file comment.\n\
            --@test: first\n\
            CREATE STREAM s (id INT KEY, v INT)\n  WITH (kafka_topic='s', value_format='JSON', partitions=1);\n\
            CREATE STREAM o AS SELECT * FROM s;\n\
            INSERT INTO s (id, v) VALUES (1, 2);\n\
            ASSERT VALUES o (id, v) VALUES (1, 2);\n\
            \n\
            --@test: second\n\
            CREATE STREAM s (id INT KEY) WITH (kafka_topic='s', value_format='JSON', partitions=1);\n\
            --@expected.error: user\n\
            --@expected.message: does not exist\n\
            CREATE STREAM o AS SELECT nope FROM s;\n";
        let file = parse_file("story", text).unwrap();
        assert_eq!(file.cases.len(), 2);
        let first = &file.cases[0];
        assert_eq!(first.name, "story - first");
        assert_eq!(first.statements.len(), 3);
        assert_eq!(first.statements[0].line, 3);
        assert_eq!(first.statements[1].line, 5);
        assert_eq!(first.statements[2].inserts_into.as_deref(), Some("S"));
        assert!(matches!(
            &first.outputs[..],
            [ExpectedOutput::Assert { line: 7, .. }]
        ));
        let second = &file.cases[1];
        let e = second.expected_error.as_ref().unwrap();
        assert_eq!(e.kind, ErrorKind::Statement);
        assert_eq!(e.statement, Some(1));
        assert_eq!(e.message.as_deref(), Some("does not exist"));
    }

    #[test]
    fn rejects_unknown_directives_and_stray_statements() {
        let err = parse_file("x", "--@test: a\n--@nope: 1\nSELECT 1;").unwrap_err();
        assert!(err.to_string().contains("unknown directive"), "{err}");
        let err = parse_file("x", "SELECT 1;\n--@test: a\n").unwrap_err();
        assert!(err.to_string().contains("before the first"), "{err}");
    }
}
