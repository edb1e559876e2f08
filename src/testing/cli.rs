//! `sluice test PATH…`: the command line of the test runner.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::report::{case_lines, conformance_markdown, error_text_counts, to_json, Summary};
use super::Options;
use crate::error::{Error, Result};

/// Arguments of `sluice test`.
#[derive(Debug, Clone, clap::Args)]
pub struct TestArgs {
    /// Test files or directories: `.sql` files are sql-tests, `.json`
    /// files ksqlDB QTT files (e.g. `sql-tests`, `../shared/qtt`).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Run only the cases whose full name contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Write every case's result to this file as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the conformance summary (Markdown) to this file.
    #[arg(long)]
    pub conformance: Option<PathBuf>,
    /// Cases run at the same time.
    #[arg(long, default_value_t = 8)]
    pub jobs: usize,
    /// Seconds one case may take before it fails.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Negative cases pass only when sluice's message contains the
    /// expected text.
    #[arg(long)]
    pub strict_errors: bool,
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
        strict_errors: args.strict_errors,
    };
    let stdout = std::io::stdout();
    let results = super::run(loaded.cases, &options, |r| {
        let mut out = stdout.lock();
        let _ = writeln!(out, "{}", case_lines(r));
        let _ = out.flush();
    })
    .await;
    let summary = Summary::of(&results);
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
        write(path, &conformance_markdown(&results, &command))?;
    }
    let (matched, expecting) = error_text_counts(&results);
    if expecting > 0 {
        println!("error text: {matched} of {expecting} expected messages found in sluice's errors");
    }
    println!("{}", summary.line());
    Ok(summary.failed == 0)
}

fn write(path: &PathBuf, text: &str) -> Result<()> {
    std::fs::write(path, text)
        .map_err(|e| Error::user(format!("cannot write '{}': {e}", path.display())))
}
