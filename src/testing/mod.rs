//! The test runner: declarative cases in, `PASS`/`FAIL`/`N/A` out.
//!
//! ```text
//!  sql-tests/*.sql ─sqltest─┐                    ┌─ fresh MemoryBroker + Engine per case
//!                           ├─▶ model::TestCase ─▶ runner ─▶ statements, inputs, wait idle,
//!  ../shared/qtt/*.json ─qtt┘          │         └─ outputs and post conditions compared
//!                                      │ RQTT (../shared/qtt/rest/*.json)   │
//!                                      └─▶ rest ─▶ the REST API's router: │
//!                                          /ksql, /query, responses compared
//!                                                         │
//!                                              report: one line per case, diffs, summary,
//!                                              --json, CONFORMANCE.md
//! ```
//!
//! Both readers produce the one [`model`]. Each case runs in isolation on
//! the in-memory log ([`crate::runtime::memory`]) through the same
//! [`crate::engine::Engine`] the shell and the server use, with batches of
//! one record (ksqlDB's "record caching off": every update is emitted) and
//! stream time driven only by record timestamps. Cases run concurrently,
//! each with a deadline.
//!
//! * [`model`]: the test case.
//! * [`qtt`]: ksqlDB's QTT JSON files; [`sqltest`]: our `.sql` files.
//! * [`runner`]: executes one case; [`payload`] converts records between
//!   JSON and payload bytes; [`compare`] holds ksqlDB's comparison rules;
//!   [`post`] checks post conditions.
//! * [`rest`]: executes one REST-level case (ksqlDB's RQTT files, read
//!   by [`qtt`]) through the REST API's router instead of the engine;
//!   `rest_http` talks to the router, `rest_match` compares responses.
//! * [`report`]: per-case lines, the summary, JSON results and the
//!   conformance summary; [`cli`]: `sluice test`.

mod assert;
pub mod cli;
pub mod compare;
pub mod model;
pub mod payload;
mod post;
pub mod qtt;
pub mod report;
pub mod rest;
mod rest_http;
mod rest_match;
pub mod runner;
pub mod sqltest;

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use futures::StreamExt;
use regex::Regex;

pub use model::TestCase;
pub use report::{CaseResult, Status, Summary};

use crate::error::{Error, Result};

/// The cases of one file.
#[derive(Debug, Default)]
pub struct CaseFile {
    /// Runnable cases, in file order.
    pub cases: Vec<TestCase>,
    /// Full names of cases the file disables (`"enabled": false`).
    pub disabled: Vec<String>,
}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only cases whose full name contains this text.
    pub filter: Option<String>,
    /// Cases run at the same time.
    pub jobs: usize,
    /// The deadline of one case.
    pub timeout: Duration,
    /// Negative cases pass only when the message contains the expected
    /// text (the default); when false, the right statement failing is
    /// enough, and text matches are only counted.
    pub strict_errors: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            filter: None,
            jobs: 8,
            timeout: Duration::from_secs(10),
            strict_errors: true,
        }
    }
}

/// Reads every test file under `paths`: `.json` files are QTT, `.sql`
/// files sql-tests; a directory contributes its own files (not those of
/// subdirectories), in name order.
pub fn load(paths: &[PathBuf]) -> Result<CaseFile> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path)
                .map_err(|e| Error::user(format!("cannot read '{}': {e}", path.display())))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && test_kind(p).is_some())
                .collect();
            found.sort();
            files.extend(found);
        } else if path.is_file() {
            if test_kind(path).is_none() {
                return Err(Error::user(format!(
                    "'{}' is not a test file: expected a .json (QTT) or .sql (sql-tests) file",
                    path.display()
                )));
            }
            files.push(path.clone());
        } else {
            return Err(Error::user(format!("'{}' does not exist", path.display())));
        }
    }
    let mut all = CaseFile::default();
    for f in files {
        let file = match test_kind(&f) {
            Some(Kind::Qtt) => qtt::read_file(&f)?,
            Some(Kind::Sql) => sqltest::read_file(&f)?,
            None => continue,
        };
        all.cases.extend(file.cases);
        all.disabled.extend(file.disabled);
    }
    Ok(all)
}

enum Kind {
    Qtt,
    Sql,
}

fn test_kind(path: &Path) -> Option<Kind> {
    match path.extension()?.to_str()? {
        "json" => Some(Kind::Qtt),
        "sql" => Some(Kind::Sql),
        _ => None,
    }
}

/// Runs `cases` (those matching the filter), `options.jobs` at a time,
/// calling `on_result` with each result in case order; returns them all.
pub async fn run(
    cases: Vec<TestCase>,
    options: &Options,
    mut on_result: impl FnMut(&CaseResult),
) -> Vec<CaseResult> {
    let selected: Vec<TestCase> = cases
        .into_iter()
        .filter(|c| {
            options
                .filter
                .as_ref()
                .is_none_or(|f| c.name.contains(f.as_str()))
        })
        .collect();
    let mut results = Vec::with_capacity(selected.len());
    let mut stream = futures::stream::iter(selected)
        .map(|case| {
            let options = options.clone();
            async move {
                if case.rest.is_some() {
                    rest::run_case(case, options).await
                } else {
                    runner::run_case(case, options).await
                }
            }
        })
        .buffered(options.jobs.max(1));
    while let Some(result) = stream.next().await {
        on_result(&result);
        results.push(result);
    }
    results
}

static TEST_ONLY: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)\b({})\s*\(",
        qtt::TEST_ONLY_FUNCTIONS.join("|")
    ))
    .ok()
});

static SCHEMA_REGISTRY_FORMAT: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?i)'(AVRO|PROTOBUF_NOSR|PROTOBUF|JSON_SR)'").ok());

static STATEFUL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\bGROUP\s+BY\b|\bWINDOW\b|\bJOIN\b|\bCREATE\s+(OR\s+REPLACE\s+)?(SOURCE\s+)?TABLE\b",
    )
    .ok()
});

/// Marks a case not applicable (Java test-only functions), unsupported
/// (Schema Registry formats) and stateless or not.
pub(crate) fn classify(case: &mut TestCase) {
    let statements: Vec<&str> = case.statements.iter().map(|s| s.sql.as_str()).collect();
    if let Some(re) = TEST_ONLY.as_ref() {
        if let Some(name) = statements
            .iter()
            .find_map(|s| qtt::test_only_function(s, re))
        {
            case.not_applicable = Some(format!(
                "uses {name}, a function ksqlDB registers only for its own tests (Java)"
            ));
        }
    }
    let format_in_properties = case.properties.iter().find_map(|(k, v)| {
        let upper = v.to_ascii_uppercase();
        (k.contains("format")
            && matches!(
                upper.as_str(),
                "AVRO" | "PROTOBUF" | "PROTOBUF_NOSR" | "JSON_SR"
            ))
        .then_some(upper)
    });
    let format_in_statements = SCHEMA_REGISTRY_FORMAT.as_ref().and_then(|re| {
        statements
            .iter()
            .find_map(|s| re.captures(s).and_then(|c| c.get(1)))
            .map(|m| m.as_str().to_ascii_uppercase())
    });
    if let Some(format) = format_in_statements.or(format_in_properties) {
        case.registry_format = Some(format.clone());
        if !crate::format::Format::parse(&format).is_ok_and(|f| f.implemented()) {
            case.unsupported = Some(format!("format {format} is not supported"));
        }
        case.stateless = false;
    }
    if let Some(re) = STATEFUL.as_ref() {
        if statements.iter().any(|s| re.is_match(s)) {
            case.stateless = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::model::Statement;
    use super::*;

    fn case(statements: &[&str]) -> TestCase {
        let mut c = TestCase::new("f", "f - c".into());
        c.statements = statements
            .iter()
            .map(|s| Statement {
                sql: s.to_string(),
                line: 0,
                inserts_into: None,
            })
            .collect();
        classify(&mut c);
        c
    }

    #[test]
    fn classifies_cases() {
        let c = case(&["CREATE STREAM O AS SELECT test_udf(x) FROM S;"]);
        assert!(c.not_applicable.unwrap().contains("TEST_UDF"));
        let c = case(&["CREATE STREAM S (A INT) WITH (kafka_topic='t', value_format='AvRo');"]);
        assert!(c.unsupported.is_none());
        assert!(!c.stateless);
        let c = case(&["CREATE TABLE T AS SELECT A, COUNT(*) FROM S GROUP BY A;"]);
        assert!(!c.stateless);
        let c = case(&["CREATE STREAM O AS SELECT A FROM S WHERE A > 1;"]);
        assert!(c.stateless && c.unsupported.is_none() && c.not_applicable.is_none());
    }
}
