//! The interactive shell and the script runner: read statements, execute
//! them on the engine, print the outcomes.

pub mod complete;
pub mod render;

use std::sync::Arc;
use std::time::Duration;

use crate::config::Session;
use crate::engine::{Engine, Outcome};
use crate::error::Result;

/// How results are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned tables.
    Tabular,
    /// One JSON document per result (one per row for queries).
    Json,
}

/// Prints an outcome as tables; for push queries and PRINT, streams rows
/// until the LIMIT, the end of the query, or Ctrl-C.
pub async fn print_outcome(outcome: Outcome) -> Result<()> {
    print_outcome_as(outcome, OutputFormat::Tabular).await
}

/// Prints an outcome in the given format.
pub async fn print_outcome_as(outcome: Outcome, format: OutputFormat) -> Result<()> {
    match outcome {
        Outcome::Push(mut push) => {
            let names: Vec<String> = push.columns.iter().map(|c| c.name.clone()).collect();
            let widths: Vec<usize> = names.iter().map(|n| n.len().max(12)).collect();
            if format == OutputFormat::Tabular {
                println!("{}", render::rule(&widths));
                println!("{}", render::row_line(&names, &widths));
                println!("{}", render::rule(&widths));
            }
            let mut count = 0u64;
            let mut interrupted = false;
            loop {
                tokio::select! {
                    batch = push.rows.recv() => match batch {
                        Some(b) => {
                            match format {
                                OutputFormat::Tabular => {
                                    for r in render::rows(&b) {
                                        println!("{}", render::row_line(&r, &widths));
                                    }
                                }
                                OutputFormat::Json => print!("{}", render::batch_json(&b)),
                            }
                            count += b.num_rows() as u64;
                        }
                        None => break,
                    },
                    _ = tokio::signal::ctrl_c() => {
                        interrupted = true;
                        break;
                    }
                }
            }
            if format == OutputFormat::Tabular {
                println!("{}", render::rule(&widths));
            }
            if !interrupted && push.limit.is_some_and(|l| count >= l) {
                println!("Limit Reached");
            }
            push.cancel.cancel();
            println!("Query terminated");
            Ok(())
        }
        Outcome::Print(mut p) => {
            loop {
                tokio::select! {
                    line = p.lines.recv() => match line {
                        Some(l) => println!("{l}"),
                        None => break,
                    },
                    _ = tokio::signal::ctrl_c() => break,
                }
            }
            Ok(())
        }
        other => {
            let text = match format {
                OutputFormat::Tabular => render::render(&other),
                OutputFormat::Json => render::json(&other),
            };
            if !text.is_empty() {
                println!("{text}");
            }
            Ok(())
        }
    }
}

/// Runs a script: executes every statement, printing outcomes. With
/// `until_idle`, returns once every persistent query has processed all of
/// its input; otherwise waits for Ctrl-C.
pub async fn run_script(engine: Arc<Engine>, sql: &str, until_idle: bool) -> Result<()> {
    let mut session = Session::default();
    run_statements(&engine, &mut session, sql, OutputFormat::Tabular).await?;
    if until_idle {
        engine.wait_idle(Duration::from_secs(3600)).await;
    } else {
        eprintln!("Persistent queries are running; press Ctrl-C to stop.");
        let _ = tokio::signal::ctrl_c().await;
    }
    for (id, e) in engine.failed_queries().await {
        eprintln!("Query {id} failed: {e}");
    }
    engine.shutdown().await;
    Ok(())
}

const HELP: &str = "\
Statements end with ';' and may span lines. Examples:
  CREATE STREAM s (id INT KEY, v STRING) WITH (kafka_topic='s', value_format='json', partitions=1);
  INSERT INTO s (id, v) VALUES (1, 'a');
  SELECT * FROM s EMIT CHANGES LIMIT 5;      -- Ctrl-C stops a running query
  SHOW STREAMS; SHOW QUERIES; DESCRIBE s EXTENDED; PRINT 's' FROM BEGINNING;
  SET 'auto.offset.reset' = 'earliest';
Shell commands (no ';' needed):
  help                  this text
  output TABULAR|JSON   how results are shown
  RUN SCRIPT 'file'     run the statements of a file
  exit                  leave (Ctrl-D too)
Tab completes keywords, stream/table/column names and functions; Ctrl-R searches history.";

/// A shell session over a local engine: the session state, the output
/// format, and the words offered for completion.
pub struct Shell {
    engine: Arc<Engine>,
    session: Session,
    format: OutputFormat,
    words: Arc<std::sync::Mutex<Vec<String>>>,
}

/// What the shell should do after a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Read more input.
    Continue,
    /// Leave the shell.
    Exit,
}

impl Shell {
    /// A shell over `engine`.
    pub fn new(engine: Arc<Engine>) -> Self {
        Shell {
            engine,
            session: Session::default(),
            format: OutputFormat::Tabular,
            words: Arc::new(std::sync::Mutex::new(Vec::new())),
        }
    }

    /// Runs one input: a shell command or statements. Errors are printed,
    /// never returned: a bad statement does not end the shell.
    pub async fn run_input(&mut self, input: &str) -> Next {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Next::Continue;
        }
        if complete::is_local_command(trimmed) {
            return self.local_command(trimmed).await;
        }
        if let Err(e) = run_statements(&self.engine, &mut self.session, input, self.format).await {
            eprintln!("{}", error_line(&e));
        }
        let words = self.engine.completion_words().await;
        if let Ok(mut w) = self.words.lock() {
            *w = words;
        }
        Next::Continue
    }

    async fn local_command(&mut self, line: &str) -> Next {
        let line = line.trim_end_matches(';').trim();
        let lower = line.to_lowercase();
        if lower == "exit" || lower == "quit" {
            return Next::Exit;
        }
        if lower == "help" {
            println!("{HELP}");
        } else if lower == "clear" {
            print!("\x1b[2J\x1b[H");
        } else if let Some(rest) = lower.strip_prefix("output") {
            match rest.trim() {
                "" => println!("Output format is {:?}", self.format),
                "tabular" => self.format = OutputFormat::Tabular,
                "json" => self.format = OutputFormat::Json,
                other => eprintln!("Error: unknown output format '{other}': use TABULAR or JSON"),
            }
        } else if lower.starts_with("run script") {
            let path = line["run script".len()..]
                .trim()
                .trim_matches('\'')
                .to_string();
            match std::fs::read_to_string(&path) {
                Ok(sql) => return Box::pin(self.run_input(&sql)).await,
                Err(e) => eprintln!("Error: cannot read script '{path}': {e}"),
            }
        }
        Next::Continue
    }
}

/// The interactive shell on a local engine: prompt `sluice> `, input until
/// `;`, history in `~/.sluice_history`, completion, Ctrl-R search.
pub async fn interactive(engine: Arc<Engine>) -> Result<()> {
    use rustyline::error::ReadlineError;
    let mut shell = Shell::new(Arc::clone(&engine));
    let helper = complete::ShellHelper {
        words: Arc::clone(&shell.words),
    };
    let config = rustyline::Config::builder()
        .auto_add_history(false)
        .completion_type(rustyline::CompletionType::List)
        .build();
    let mut editor: rustyline::Editor<complete::ShellHelper, rustyline::history::DefaultHistory> =
        rustyline::Editor::with_config(config)
            .map_err(|e| crate::error::Error::external(format!("terminal: {e}")))?;
    editor.set_helper(Some(helper));
    let history =
        std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".sluice_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!(
        "sluice {} — streaming SQL for Kafka. Type 'help' for help, 'exit' to leave.",
        env!("CARGO_PKG_VERSION")
    );
    loop {
        match editor.readline("sluice> ") {
            Ok(input) => {
                let _ = editor.add_history_entry(input.trim());
                if shell.run_input(&input).await == Next::Exit {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("terminal error: {e}");
                break;
            }
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    engine.shutdown().await;
    Ok(())
}

/// Executes the statements of `sql` one at a time, printing each result
/// before the next statement runs (a push query streams until it ends);
/// stops at the first error.
pub async fn run_statements(
    engine: &Engine,
    session: &mut Session,
    sql: &str,
    format: OutputFormat,
) -> Result<()> {
    for stmt in engine.parse(session, sql).await? {
        let outcome = engine
            .execute_statement(session, &stmt)
            .await
            .map_err(|e| crate::engine::with_statement(e, &stmt))?;
        print_outcome_as(outcome, format).await?;
    }
    Ok(())
}

/// Runs statements non-interactively (`shell -e` / `shell -f`), printing
/// each result; the first failing statement sets the exit status.
pub async fn batch(engine: Arc<Engine>, sql: &str) -> Result<()> {
    let mut session = Session::default();
    let result = run_statements(&engine, &mut session, sql, OutputFormat::Tabular).await;
    engine.shutdown().await;
    result
}

/// One readable line (or a few) for an error, with its position.
pub fn error_line(e: &crate::error::Error) -> String {
    let text = e.to_string();
    match e.location() {
        Some(l) if !text.starts_with("line ") => format!("Error at {l}: {text}"),
        _ => format!("Error: {text}"),
    }
}

/// True when `text` ends with a `;` outside quotes and comments.
pub fn statement_complete(text: &str) -> bool {
    let mut in_single = false;
    let mut in_back = false;
    let mut in_line_comment = false;
    let mut in_block = false;
    let mut last_significant = ' ';
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied().unwrap_or(' ');
        if in_line_comment {
            if c == '\n' {
                in_line_comment = false;
            }
        } else if in_block {
            if c == '*' && next == '/' {
                in_block = false;
                i += 1;
            }
        } else if in_single {
            if c == '\'' {
                in_single = false;
            }
        } else if in_back {
            if c == '`' {
                in_back = false;
            }
        } else if c == '-' && next == '-' {
            in_line_comment = true;
        } else if c == '/' && next == '*' {
            in_block = true;
            i += 1;
        } else if c == '\'' {
            in_single = true;
            last_significant = c;
        } else if c == '`' {
            in_back = true;
            last_significant = c;
        } else if !c.is_whitespace() {
            last_significant = c;
        }
        i += 1;
    }
    !in_single && !in_back && !in_block && last_significant == ';'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_only_outside_quotes_and_comments() {
        assert!(statement_complete("SHOW STREAMS;"));
        assert!(!statement_complete("SELECT ';' FROM s"));
        assert!(!statement_complete("SELECT 1 -- ;\n"));
        assert!(statement_complete("SELECT 1 /* ; */;\n"));
        assert!(!statement_complete("SELECT `a;"));
    }
}
