//! `sluice test PATH…`: the command line of the test runner.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::report::{
    case_lines, conformance_markdown, error_text_counts, rest_markdown, to_json, CaseResult,
    Summary, REST_HEADING,
};
use super::Options;
use crate::error::{Error, Result};

/// Arguments of `sluice test`.
#[derive(Debug, Clone, clap::Args)]
pub struct TestArgs {
    /// Test files or directories: `.sql` files are sql-tests, `.json`
    /// files ksqlDB QTT files (e.g. `sql-tests`, `../shared/qtt`) or
    /// REST-level RQTT files, run through the REST API
    /// (`../shared/qtt/rest`).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Run only the cases whose full name contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Write every case's result to this file as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the conformance summary (Markdown) to this file. REST-level
    /// cases get their own section at the end; a run without QTT cases
    /// (or without REST-level ones) keeps that part of the existing file.
    #[arg(long)]
    pub conformance: Option<PathBuf>,
    /// Cases run at the same time.
    #[arg(long, default_value_t = 8)]
    pub jobs: usize,
    /// Seconds one case may take before it fails.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Negative cases pass when the right statement fails, whatever its
    /// message (for exploring; by default, and in every conformance figure,
    /// a negative case passes only when sluice's message contains the text
    /// ksqlDB's test expects).
    #[arg(long)]
    pub lenient_errors: bool,
}

/// Runs the tests, printing one line per case and the summary last;
/// `Ok(true)` when no case failed.
pub async fn run(args: &TestArgs) -> Result<bool> {
    let loaded = super::load(&args.paths)?;
    for name in &loaded.disabled {
        eprintln!("note: not run, disabled in its file: {name}");
    }
    let options = Options {
        filter: args.filter.clone(),
        jobs: args.jobs,
        timeout: Duration::from_secs(args.timeout.max(1)),
        strict_errors: !args.lenient_errors,
    };
    let rest_names: HashSet<String> = loaded
        .cases
        .iter()
        .filter(|c| c.rest.is_some())
        .map(|c| c.name.clone())
        .collect();
    let with_join: HashSet<String> = loaded
        .cases
        .iter()
        .filter(|c| c.rest.is_some() && super::rest::needs_join(c))
        .map(|c| c.name.clone())
        .collect();
    let stdout = std::io::stdout();
    let results = super::run(loaded.cases, &options, |r| {
        let mut out = stdout.lock();
        let _ = writeln!(out, "{}", case_lines(r));
        let _ = out.flush();
    })
    .await;
    let summary = Summary::of(&results);
    let (rest, qtt): (Vec<CaseResult>, Vec<CaseResult>) = results
        .iter()
        .cloned()
        .partition(|r| rest_names.contains(&r.name));
    if let Some(path) = &args.json {
        write(path, &to_json(&results))?;
    }
    if let Some(path) = &args.conformance {
        let mut command = format!(
            "cargo run -- test {}",
            args.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        );
        command.push_str(&format!(" --conformance {}", path.display()));
        if let Some(f) = &args.filter {
            command.push_str(&format!(" --filter '{f}'"));
        }
        let rest_part = (!rest.is_empty()).then(|| rest_markdown(&rest, &with_join, &command));
        write(path, &conformance_file(path, &qtt, rest_part, &command))?;
    }
    let (matched, expecting) = error_text_counts(&results);
    if expecting > 0 {
        println!("error text: {matched} of {expecting} expected messages found in sluice's errors");
    }
    if !rest.is_empty() && !qtt.is_empty() {
        println!("QTT cases: {}", Summary::of(&qtt).line());
        println!("REST-level cases: {}", Summary::of(&rest).line());
    }
    println!("{}", summary.line());
    Ok(summary.failed == 0)
}

/// The conformance summary: the QTT part from this run's `qtt` results
/// and `rest_part` when given, else each kept from the file at `path`.
fn conformance_file(
    path: &PathBuf,
    qtt: &[CaseResult],
    rest_part: Option<String>,
    command: &str,
) -> String {
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let (old_qtt, old_rest) = split_conformance(&existing);
    let qtt_part = if qtt.is_empty() {
        old_qtt.to_string()
    } else {
        conformance_markdown(qtt, command)
    };
    let rest_part = rest_part.unwrap_or_else(|| old_rest.to_string());
    match (qtt_part.trim_end(), rest_part.trim_end()) {
        (q, "") => format!("{q}\n"),
        ("", r) => format!("{r}\n"),
        (q, r) => format!("{q}\n\n{r}\n"),
    }
}

/// A conformance summary split into its QTT part and its REST-level
/// section (from [`REST_HEADING`] to the end).
fn split_conformance(text: &str) -> (&str, &str) {
    let at = if text.starts_with(REST_HEADING) {
        Some(0)
    } else {
        text.find(&format!("\n{REST_HEADING}")).map(|i| i + 1)
    };
    match at {
        Some(i) => (&text[..i], &text[i..]),
        None => (text, ""),
    }
}

fn write(path: &PathBuf, text: &str) -> Result<()> {
    std::fs::write(path, text)
        .map_err(|e| Error::user(format!("cannot write '{}': {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformance_sections_split_at_the_rest_heading() {
        let text = format!("# QTT\n\nscore\n\n{REST_HEADING} (x)\n\nrest score\n");
        let (qtt, rest) = split_conformance(&text);
        assert_eq!(qtt, "# QTT\n\nscore\n\n");
        assert!(rest.starts_with(REST_HEADING));
        assert_eq!(split_conformance("# QTT\n"), ("# QTT\n", ""));
        let only_rest = format!("{REST_HEADING}\n");
        assert_eq!(split_conformance(&only_rest), ("", only_rest.as_str()));
    }
}
