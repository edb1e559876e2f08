//! Reporting results: one line per case (with the reason and a diff for
//! failures), the summary line, per-case JSON, and the conformance summary
//! `sql-tests/CONFORMANCE.md`.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;
use serde_json::Value;

/// How a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    /// Everything expected happened.
    #[serde(rename = "PASS")]
    Pass,
    /// Something else happened; see the reason.
    #[serde(rename = "FAIL")]
    Fail,
    /// The case needs Java test-only functions; not run.
    #[serde(rename = "N/A")]
    NotApplicable,
}

impl Status {
    /// `PASS`, `FAIL` or `N/A`.
    pub fn label(&self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::NotApplicable => "N/A",
        }
    }
}

/// The result of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// The full case name.
    pub name: String,
    /// The file stem the case came from.
    pub file: String,
    /// Pass, fail or not applicable.
    pub status: Status,
    /// Why it failed or does not apply.
    pub reason: Option<String>,
    /// The reason with names and numbers taken out, for counting.
    pub category: Option<String>,
    /// More lines: diffs, the expected and actual message, query errors.
    pub details: Vec<String>,
    /// True for negative cases (an error is expected).
    pub negative: bool,
    /// The text the expected error message contains, when given.
    pub expected_message: Option<String>,
    /// Whether sluice's error message contained the expected text, when an
    /// error happened and a text was expected.
    pub error_text_matched: Option<bool>,
    /// True for cases of the stateless subset.
    pub stateless: bool,
    /// The Schema Registry format its statements use, if any.
    #[serde(default)]
    pub registry_format: Option<String>,
    /// Wall time of the case.
    pub millis: u64,
}

/// Counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed.
    pub failed: usize,
    /// Cases not applicable.
    pub skipped: usize,
}

impl Summary {
    /// Counts `results`.
    pub fn of(results: &[CaseResult]) -> Self {
        let count = |s: Status| results.iter().filter(|r| r.status == s).count();
        Summary {
            passed: count(Status::Pass),
            failed: count(Status::Fail),
            skipped: count(Status::NotApplicable),
        }
    }

    /// `N passed, N failed, N skipped`.
    pub fn line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// The lines printed for one case: `STATUS name`, then for failures and
/// N/A the reason and details, indented.
pub fn case_lines(r: &CaseResult) -> String {
    let mut out = format!("{} {}", r.status.label(), r.name);
    if r.status != Status::Pass {
        if let Some(reason) = &r.reason {
            for line in reason.lines() {
                let _ = write!(out, "\n    {line}");
            }
        }
        for d in &r.details {
            for line in d.lines() {
                let _ = write!(out, "\n    {line}");
            }
        }
    }
    out
}

/// Writes every result as a JSON array.
pub fn to_json(results: &[CaseResult]) -> String {
    serde_json::to_string_pretty(results).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// JSON as one compact line.
pub fn render_json(v: &Value) -> String {
    v.to_string()
}

/// A quoted name or text: the quote opens after a non-word character, so
/// that apostrophes (`Can't`) are left alone.
static QUOTED: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#"(^|[^\w])('[^']*'|`[^`]*`|"[^"]*")"#).ok());
static NUMBER: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\b\d+\b").ok());
static POSITION: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^line \d+:\d+:\s*").ok());

/// The first line of an error message with quoted names and numbers
/// replaced, so that failures with the same cause count together.
pub fn normalize_message(message: &str) -> String {
    let first = message.lines().next().unwrap_or_default().trim();
    let mut s = first.to_string();
    if let Some(re) = POSITION.as_ref() {
        s = re.replace(&s, "").into_owned();
    }
    if let Some(re) = QUOTED.as_ref() {
        let text = s.clone();
        s = re
            .replace_all(&text, |c: &regex::Captures<'_>| {
                let lead = c.get(1).map_or("", |m| m.as_str());
                let quoted = c.get(2).map_or("", |m| m.as_str());
                let start = c.get(0).map_or(0, |m| m.start());
                // Function names say what to build next: keep them.
                let before = text[..start].trim_end();
                if before.ends_with("name") || before.ends_with("Function") {
                    format!("{lead}{quoted}")
                } else {
                    format!("{lead}'…'")
                }
            })
            .into_owned();
    }
    if let Some(re) = NUMBER.as_ref() {
        s = re.replace_all(&s, "N").into_owned();
    }
    if s.chars().count() > 120 {
        s = s.chars().take(117).collect::<String>() + "...";
    }
    s
}

/// Failure categories with their counts, most frequent first.
pub fn top_reasons(results: &[CaseResult]) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in results.iter().filter(|r| r.status == Status::Fail) {
        let c = r.category.clone().unwrap_or_else(|| "unknown".to_string());
        *counts.entry(c).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// How many negative cases expect a message, and in how many sluice's
/// message contained it.
pub fn error_text_counts(results: &[CaseResult]) -> (usize, usize) {
    let expecting = results
        .iter()
        .filter(|r| r.negative && r.expected_message.is_some())
        .count();
    let matched = results
        .iter()
        .filter(|r| r.error_text_matched == Some(true))
        .count();
    (matched, expecting)
}

fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        return "-".to_string();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// The conformance summary in Markdown: totals, the stateless subset, error
/// text matches, the most frequent failure reasons and a table by file.
pub fn conformance_markdown(results: &[CaseResult], command: &str) -> String {
    let summary = Summary::of(results);
    let total = results.len();
    let stateless: Vec<&CaseResult> = results
        .iter()
        .filter(|r| r.stateless && r.status != Status::NotApplicable)
        .collect();
    let stateless_passed = stateless
        .iter()
        .filter(|r| r.status == Status::Pass)
        .count();
    let (matched, expecting) = error_text_counts(results);
    let negative = results.iter().filter(|r| r.negative).count();
    let negative_passed = results
        .iter()
        .filter(|r| r.negative && r.status == Status::Pass)
        .count();
    let other_text = results
        .iter()
        .filter(|r| {
            r.negative
                && r.status == Status::Fail
                && r.category.as_deref() == Some("error message differs")
        })
        .count();
    let mut md = String::new();
    let _ = writeln!(md, "# ksqlDB conformance\n");
    let _ = writeln!(
        md,
        "sluice run on ksqlDB's query-validation tests (`../shared/qtt`, read at test \
         time, never copied here). Generated by\n\n    {command}\n\ndo not edit by hand. \
         CI fails when the passing count drops below `conformance-baseline.txt`. The \
         REST-level cases of `../shared/qtt/rest` are scored apart, in the last section: \
         `cargo run -- test ../shared/qtt ../shared/qtt/rest --conformance \
         sql-tests/CONFORMANCE.md` regenerates both parts, either directory alone only \
         its own part.\n"
    );
    let _ = writeln!(
        md,
        "**{} of {total} cases pass** ({}); {} fail, {} are not applicable (they call \
         Java test-only functions).\n",
        summary.passed,
        percent(summary.passed, total),
        summary.failed,
        summary.skipped
    );
    let _ = writeln!(
        md,
        "- Stateless subset (statements without GROUP BY, WINDOW, JOIN, CREATE TABLE or a \
         Schema Registry format; not-applicable cases left out): **{stateless_passed} of {} \
         pass ({})**; the target is 90%.",
        stateless.len(),
        percent(stateless_passed, stateless.len())
    );
    let _ = writeln!(
        md,
        "- Negative cases: {negative_passed} of {negative} pass (the statement ksqlDB \
         rejects is rejected, with a message containing ksqlDB's text where the case gives \
         one); {other_text} more are rejected with another message, and count as failures \
         (`--lenient-errors` counts them as passes, for exploring)."
    );
    let _ = writeln!(
        md,
        "- Error text: in {matched} of {expecting} negative cases with an expected \
         message, sluice's message contains ksqlDB's text ({}).\n",
        percent(matched, expecting)
    );
    format_section(&mut md, results);
    let _ = writeln!(md, "## Most frequent failure reasons\n");
    reasons_table(&mut md, results);
    let _ = writeln!(md, "\n## By file\n");
    file_table(&mut md, results);
    md
}

/// The Schema Registry format a case runs in: its format-expanded name's
/// suffix, or its file (`avro`, `protobuf`, `json_sr`).
pub fn registry_format(r: &CaseResult) -> Option<&'static str> {
    const FORMATS: &[&str] = &["PROTOBUF_NOSR", "PROTOBUF", "JSON_SR", "AVRO"];
    if let Some(f) = &r.registry_format {
        return FORMATS.iter().find(|x| f.eq_ignore_ascii_case(x)).copied();
    }
    FORMATS
        .iter()
        .find(|f| r.name.contains(&format!(" - {f}")) || r.file.eq_ignore_ascii_case(f))
        .copied()
}

/// The cases in Schema Registry formats: the count per format, and each
/// failing one with its reason.
fn format_section(md: &mut String, results: &[CaseResult]) {
    let cases: Vec<(&CaseResult, &str)> = results
        .iter()
        .filter(|r| r.status != Status::NotApplicable)
        .filter_map(|r| registry_format(r).map(|f| (r, f)))
        .collect();
    if cases.is_empty() {
        return;
    }
    let passed = cases
        .iter()
        .filter(|(r, _)| r.status == Status::Pass)
        .count();
    let _ = writeln!(
        md,
        "## Schema Registry formats\n\nCases in AVRO, PROTOBUF, PROTOBUF_NOSR or JSON_SR (by \
         their format-expanded name or their file): **{passed} of {} pass ({})**.\n",
        cases.len(),
        percent(passed, cases.len())
    );
    let _ = writeln!(md, "| format | cases | pass |\n|---|---:|---:|");
    for f in ["AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR"] {
        let of: Vec<_> = cases.iter().filter(|(_, g)| *g == f).collect();
        let ok = of.iter().filter(|(r, _)| r.status == Status::Pass).count();
        let _ = writeln!(md, "| {f} | {} | {ok} |", of.len());
    }
    let failing: Vec<_> = cases
        .iter()
        .filter(|(r, _)| r.status == Status::Fail)
        .collect();
    if !failing.is_empty() {
        let _ = writeln!(md, "\nStill failing:\n");
        for (r, _) in failing {
            let reason = r
                .reason
                .as_deref()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(160)
                .collect::<String>();
            let _ = writeln!(md, "- {}: {reason}", r.name);
        }
    }
    md.push('\n');
}

/// The heading of the REST-level section of the conformance summary; the
/// section runs from it to the end of the file.
pub const REST_HEADING: &str = "## REST-level cases";

/// The REST-level section of the conformance summary, scored apart from
/// the QTT cases: totals, negative cases, error text, the most frequent
/// failure reasons and a table by file.
/// `with_join` names the cases whose statements join, counted apart.
pub fn rest_markdown(results: &[CaseResult], with_join: &HashSet<String>, command: &str) -> String {
    let summary = Summary::of(results);
    let no_join: Vec<&CaseResult> = results
        .iter()
        .filter(|r| !with_join.contains(&r.name))
        .collect();
    let no_join_passed = no_join.iter().filter(|r| r.status == Status::Pass).count();
    let joins = results.len() - no_join.len();
    let joins_passed = summary.passed - no_join_passed;
    let total = results.len();
    let negative = results.iter().filter(|r| r.negative).count();
    let negative_passed = results
        .iter()
        .filter(|r| r.negative && r.status == Status::Pass)
        .count();
    let (matched, expecting) = error_text_counts(results);
    let mut md = String::new();
    let _ = writeln!(md, "{REST_HEADING} (`../shared/qtt/rest`)\n");
    let _ = writeln!(
        md,
        "ksqlDB's REST-level cases (RQTT), run through sluice's REST API in process \
         (statements to `POST /ksql`, queries to `POST /query`; responses, error statuses \
         and messages, and output topics compared), scored apart from the cases above. \
         Generated by\n\n    {command}\n\nCI fails when the passing count drops below \
         `rest-baseline.txt`. A case listing several formats counts once per format.\n"
    );
    let _ = writeln!(
        md,
        "**{} of {total} cases pass** ({}); {} fail, {} are not applicable.\n",
        summary.passed,
        percent(summary.passed, total),
        summary.failed,
        summary.skipped
    );
    let _ = writeln!(
        md,
        "- Cases without a join: **{no_join_passed} of {} pass ({})**; with a join: \
         {joins_passed} of {joins} ({}).",
        no_join.len(),
        percent(no_join_passed, no_join.len()),
        percent(joins_passed, joins)
    );
    let _ = writeln!(
        md,
        "- Negative cases: {negative_passed} of {negative} pass (the request fails with \
         the expected HTTP status and a message containing ksqlDB's text)."
    );
    let _ = writeln!(
        md,
        "- Error text: in {matched} of {expecting} negative cases with an expected \
         message, sluice's message contains ksqlDB's text ({}).\n",
        percent(matched, expecting)
    );
    let _ = writeln!(md, "### Most frequent failure reasons\n");
    reasons_table(&mut md, results);
    let _ = writeln!(md, "\n### By file\n");
    file_table(&mut md, results);
    md
}

/// The 25 most frequent failure reasons as a Markdown table.
fn reasons_table(md: &mut String, results: &[CaseResult]) {
    let _ = writeln!(md, "| cases | reason |\n|---:|---|");
    for (reason, count) in top_reasons(results).into_iter().take(25) {
        let _ = writeln!(md, "| {count} | {} |", reason.replace('|', "\\|"));
    }
}

/// Counts by file, with a total row, as a Markdown table.
fn file_table(md: &mut String, results: &[CaseResult]) {
    let summary = Summary::of(results);
    let _ = writeln!(
        md,
        "| file | cases | pass | fail | n/a |\n|---|---:|---:|---:|---:|"
    );
    let mut by_file: BTreeMap<&str, Summary> = BTreeMap::new();
    for r in results {
        let s = by_file.entry(r.file.as_str()).or_default();
        match r.status {
            Status::Pass => s.passed += 1,
            Status::Fail => s.failed += 1,
            Status::NotApplicable => s.skipped += 1,
        }
    }
    for (file, s) in by_file {
        let _ = writeln!(
            md,
            "| {file} | {} | {} | {} | {} |",
            s.passed + s.failed + s.skipped,
            s.passed,
            s.failed,
            s.skipped
        );
    }
    let _ = writeln!(
        md,
        "| **total** | **{}** | **{}** | **{}** | **{}** |",
        results.len(),
        summary.passed,
        summary.failed,
        summary.skipped
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, status: Status, category: Option<&str>) -> CaseResult {
        CaseResult {
            name: name.into(),
            file: "f".into(),
            status,
            reason: category.map(str::to_string),
            category: category.map(str::to_string),
            details: vec![],
            negative: false,
            expected_message: None,
            error_text_matched: None,
            stateless: true,
            registry_format: None,
            millis: 1,
        }
    }

    #[test]
    fn summary_line_and_reasons() {
        let results = vec![
            result("a", Status::Pass, None),
            result("b", Status::Fail, Some("x")),
            result("c", Status::Fail, Some("x")),
            result("d", Status::Fail, Some("y")),
            result("e", Status::NotApplicable, Some("udf")),
        ];
        assert_eq!(
            Summary::of(&results).line(),
            "1 passed, 3 failed, 1 skipped"
        );
        assert_eq!(
            top_reasons(&results),
            vec![("x".to_string(), 2), ("y".to_string(), 1)]
        );
        let md = conformance_markdown(&results, "cmd");
        assert!(md.contains("| f | 5 | 1 | 3 | 1 |"), "{md}");
        let md = rest_markdown(&results, &HashSet::from(["b".to_string()]), "cmd");
        assert!(md.starts_with(REST_HEADING), "{md}");
        assert!(md.contains("**1 of 5 cases pass**"), "{md}");
        assert!(md.contains("without a join: **1 of 4 pass"), "{md}");
        assert!(md.contains("| f | 5 | 1 | 3 | 1 |"), "{md}");
    }

    #[test]
    fn messages_normalize_names_and_numbers() {
        assert_eq!(
            normalize_message("line 1:20: Column 'X' has 3 values\nStatement: …"),
            "Column '…' has N values"
        );
        assert_eq!(
            normalize_message("Can't plan `F`(x) for 'Y'"),
            "Can't plan '…'(x) for '…'"
        );
        assert_eq!(
            normalize_message("Can't find any functions with the name 'EXPLODE' in 'X'"),
            "Can't find any functions with the name 'EXPLODE' in '…'"
        );
    }
}
