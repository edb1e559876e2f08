//! The interactive shell and the script runner: read statements, execute
//! them on the engine, print the outcomes.

pub mod complete;
pub mod remote;
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
    if let Err(e) = run_statements(&engine, &mut session, sql, OutputFormat::Tabular).await {
        // Queries already started stop cleanly before the error is reported.
        engine.shutdown().await;
        return Err(e);
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

/// Where the shell's statements run.
enum Backend {
    /// An engine in this process.
    Local(Arc<Engine>),
    /// A `sluice server` (or ksqlDB-compatible server) over REST.
    Remote(remote::RemoteServer),
}

/// A shell session: where statements run, the session state, the output
/// format, and the words offered for completion.
pub struct Shell {
    backend: Backend,
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
        Self::with_backend(Backend::Local(engine))
    }

    /// A shell over a remote server.
    pub fn remote(server: remote::RemoteServer) -> Self {
        Self::with_backend(Backend::Remote(server))
    }

    fn with_backend(backend: Backend) -> Self {
        Shell {
            backend,
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
        match &self.backend {
            Backend::Local(engine) => {
                let engine = Arc::clone(engine);
                if let Err(e) = run_statements(&engine, &mut self.session, input, self.format).await
                {
                    eprintln!("{}", error_line(&e));
                }
                let words = engine.completion_words().await;
                if let Ok(mut w) = self.words.lock() {
                    *w = words;
                }
            }
            Backend::Remote(server) => {
                let server = server.clone();
                if let Err(e) = self.run_remote(&server, input).await {
                    eprintln!("{}", error_line(&e));
                }
            }
        }
        Next::Continue
    }

    /// Runs statements on a remote server, one at a time: SET/UNSET and
    /// DEFINE/UNDEFINE stay in the shell and go with every request, queries
    /// and PRINT stream from `/query-stream` and `/query`, everything else
    /// goes to `/ksql`.
    async fn run_remote(&mut self, server: &remote::RemoteServer, input: &str) -> Result<()> {
        use crate::sql::ast::Statement;
        for piece in crate::sql::parser::split(input)? {
            let text = piece.text;
            let parsed = crate::sql::parse(text).ok().and_then(|mut v| v.pop());
            match parsed.as_ref().map(|p| &p.statement) {
                Some(Statement::SetProperty { name, value }) => {
                    self.session.properties.insert(name.clone(), value.clone());
                    println!("Successfully changed local property '{name}' to '{value}'.");
                }
                Some(Statement::UnsetProperty { name }) => {
                    self.session.properties.remove(name);
                    println!("Successfully unset local property '{name}'.");
                }
                Some(Statement::Define { name, value }) => {
                    self.session
                        .variables
                        .insert(name.to_uppercase(), value.clone());
                }
                Some(Statement::Undefine { name }) => {
                    self.session.variables.remove(&name.to_uppercase());
                }
                Some(Statement::Query(q)) => {
                    let limit = q.limit;
                    self.remote_push(server, text, limit).await?;
                }
                Some(Statement::Print(_)) => self.remote_print(server, text).await?,
                _ => {
                    let body = remote::request_body(
                        "ksql",
                        text,
                        &self.session.properties,
                        &self.session.variables,
                    );
                    let answer = server.post_json("/ksql", &body).await?;
                    for entity in answer.as_array().into_iter().flatten() {
                        print_outcome_as(remote::outcome_of(entity), self.format).await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn remote_push(
        &self,
        server: &remote::RemoteServer,
        sql: &str,
        limit: Option<u64>,
    ) -> Result<()> {
        let body = remote::request_body(
            "sql",
            sql,
            &self.session.properties,
            &self.session.variables,
        );
        let mut body = body;
        if let Some(props) = body.get("streamsProperties").cloned() {
            body["properties"] = props;
        }
        let (status, mut stream) = server
            .post(
                "/query-stream",
                &body,
                "application/vnd.ksqlapi.delimited.v1",
            )
            .await?;
        let Some(first) = stream.next_line().await? else {
            return Ok(());
        };
        let header: serde_json::Value = serde_json::from_str(&first).unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(remote::error_of(status, &header));
        }
        let names: Vec<String> = header
            .get("columnNames")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().map(remote::cell).collect())
            .unwrap_or_default();
        let widths: Vec<usize> = names.iter().map(|n| n.len().max(12)).collect();
        if self.format == OutputFormat::Tabular {
            println!("{}", render::rule(&widths));
            println!("{}", render::row_line(&names, &widths));
            println!("{}", render::rule(&widths));
        }
        let mut count = 0u64;
        let mut interrupted = false;
        loop {
            let line = tokio::select! {
                l = stream.next_line() => l?,
                _ = tokio::signal::ctrl_c() => { interrupted = true; None }
            };
            let Some(line) = line else { break };
            if line.trim().is_empty() {
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            match value.as_array() {
                Some(cells) => {
                    count += 1;
                    match self.format {
                        OutputFormat::Tabular => {
                            let cells: Vec<String> = cells.iter().map(remote::cell).collect();
                            println!("{}", render::row_line(&cells, &widths));
                        }
                        OutputFormat::Json => {
                            let obj: serde_json::Map<String, serde_json::Value> =
                                names.iter().cloned().zip(cells.iter().cloned()).collect();
                            println!("{}", serde_json::Value::Object(obj));
                        }
                    }
                }
                None => {
                    if let Some(m) = value.get("message").and_then(|m| m.as_str()) {
                        eprintln!("Error: {m}");
                    }
                }
            }
        }
        if self.format == OutputFormat::Tabular {
            println!("{}", render::rule(&widths));
        }
        if !interrupted && limit.is_some_and(|l| count >= l) {
            println!("Limit Reached");
        }
        println!("Query terminated");
        Ok(())
    }

    async fn remote_print(&self, server: &remote::RemoteServer, sql: &str) -> Result<()> {
        let body = remote::request_body(
            "ksql",
            sql,
            &self.session.properties,
            &self.session.variables,
        );
        let (status, mut stream) = server
            .post("/query", &body, "application/vnd.ksql.v1+json")
            .await?;
        if !(200..300).contains(&status) {
            let text = stream.next_line().await?.unwrap_or_default();
            let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            return Err(remote::error_of(status, &value));
        }
        loop {
            let line = tokio::select! {
                l = stream.next_line() => l?,
                _ = tokio::signal::ctrl_c() => None,
            };
            let Some(line) = line else { break };
            if !line.trim().is_empty() {
                println!("{line}");
            }
        }
        Ok(())
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
    let shell = Shell::new(Arc::clone(&engine));
    repl(shell).await?;
    engine.shutdown().await;
    Ok(())
}

/// The interactive shell on a remote server (`shell --server URL`).
pub async fn interactive_remote(server: remote::RemoteServer) -> Result<()> {
    let info = server
        .post_json("/ksql", &serde_json::json!({"ksql": "SHOW STREAMS;"}))
        .await;
    match info {
        Ok(_) => println!("Connected to {}", server.url()),
        Err(e) => eprintln!("Warning: {} did not answer: {e}", server.url()),
    }
    repl(Shell::remote(server)).await
}

/// Statements from `-e`/`-f` on a remote server.
pub async fn batch_remote(server: remote::RemoteServer, sql: &str) -> Result<()> {
    let mut shell = Shell::remote(server.clone());
    shell.run_remote(&server, sql).await
}

async fn repl(mut shell: Shell) -> Result<()> {
    use rustyline::error::ReadlineError;
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
