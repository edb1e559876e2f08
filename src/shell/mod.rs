//! The interactive shell and the script runner: read statements, execute
//! them on the engine, print the outcomes.

pub mod render;

use std::sync::Arc;
use std::time::Duration;

use crate::config::Session;
use crate::engine::{Engine, Outcome};
use crate::error::Result;

/// Prints an outcome; for push queries and PRINT, streams rows until the
/// LIMIT, the end of the query, or Ctrl-C.
pub async fn print_outcome(outcome: Outcome) -> Result<()> {
    match outcome {
        Outcome::Push(mut push) => {
            let header: Vec<String> = push.columns.iter().map(|c| c.name.clone()).collect();
            println!("|{}|", header.join("|"));
            let mut count = 0u64;
            loop {
                tokio::select! {
                    batch = push.rows.recv() => match batch {
                        Some(b) => {
                            for r in render::rows(&b) {
                                println!("|{}|", r.join("|"));
                                count += 1;
                            }
                        }
                        None => break,
                    },
                    _ = tokio::signal::ctrl_c() => {
                        println!("Query terminated");
                        return Ok(());
                    }
                }
            }
            if push.limit.is_some_and(|l| count >= l) {
                println!("Limit Reached");
            }
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
            let text = render::render(&other);
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
    let outcomes = engine.execute(&mut session, sql).await?;
    for o in outcomes {
        print_outcome(o).await?;
    }
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

/// The interactive shell on a local engine.
pub async fn interactive(engine: Arc<Engine>) -> Result<()> {
    use rustyline::error::ReadlineError;
    let mut editor = rustyline::DefaultEditor::new()
        .map_err(|e| crate::error::Error::external(format!("terminal: {e}")))?;
    let history =
        std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".sluice_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    let mut session = Session::default();
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "sluice> "
        } else {
            "      > "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                let trimmed = line.trim();
                if buffer.is_empty()
                    && (trimmed.eq_ignore_ascii_case("exit")
                        || trimmed.eq_ignore_ascii_case("quit"))
                {
                    break;
                }
                buffer.push_str(&line);
                buffer.push('\n');
                if !statement_complete(&buffer) {
                    continue;
                }
                let _ = editor.add_history_entry(buffer.trim());
                let sql = std::mem::take(&mut buffer);
                match engine.execute(&mut session, &sql).await {
                    Ok(outcomes) => {
                        for o in outcomes {
                            if let Err(e) = print_outcome(o).await {
                                eprintln!("{}", error_line(&e));
                            }
                        }
                    }
                    Err(e) => eprintln!("{}", error_line(&e)),
                }
            }
            Err(ReadlineError::Interrupted) => buffer.clear(),
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

/// One readable line (or a few) for an error, with its position.
pub fn error_line(e: &crate::error::Error) -> String {
    match e.location() {
        Some(l) => format!("Error at {l}: {e}"),
        None => format!("Error: {e}"),
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
