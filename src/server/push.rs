//! Push queries and PRINT streamed to HTTP clients.
//!
//! A push query costs no thread: the engine runs it as a tokio task that
//! sends Arrow batches into a channel ([`PushStream`]); the response body
//! here is a stream over that channel, converting each batch into one
//! chunk. The body owns the [`PushStream`], so when the client goes away
//! and the server drops the body, the query is cancelled and its task ends,
//! releasing its consumer. Every running push query is registered (for
//! `/close-query` and for shutdown) for exactly as long as its body lives.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arrow::record_batch::RecordBatch;
use axum::body::{Body, Bytes};
use serde_json::{json, Value};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::entities::schema_string;
use super::error::{error_body, SHUTTING_DOWN};
use super::values::batch_rows;
use crate::engine::{PrintStream, PushStream};
use crate::error::Error;

/// The running push queries, by id, each with the token that closes it.
#[derive(Default)]
pub struct PushRegistry {
    running: Mutex<HashMap<String, CancellationToken>>,
}

impl PushRegistry {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, CancellationToken>> {
        // A panic while holding this lock cannot leave the map invalid.
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a push query until the returned guard is dropped.
    pub fn register(self: &Arc<Self>, id: &str) -> (CancellationToken, Registration) {
        let token = CancellationToken::new();
        self.lock().insert(id.to_string(), token.clone());
        let registration = Registration {
            registry: Arc::clone(self),
            id: id.to_string(),
        };
        (token, registration)
    }

    /// Closes the push query `id`; false when there is none.
    pub fn close(&self, id: &str) -> bool {
        match self.lock().get(id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// The ids of the running push queries, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lock().keys().cloned().collect();
        ids.sort();
        ids
    }
}

/// Keeps a push query registered while alive.
pub struct Registration {
    registry: Arc<PushRegistry>,
    id: String,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
        tracing::debug!(query = %self.id, "push query ended");
    }
}

/// How rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFormat {
    /// `/query`: one JSON array of `StreamedRow`s (`header`, `row`,
    /// `finalMessage`, `errorMessage`), one element per line.
    StreamedRows,
    /// `/query-stream` delimited: a metadata line, then one JSON array
    /// per row per line.
    Delimited,
    /// `/query-stream` with `application/json`: `[metadata, row, …]`.
    JsonArray,
}

/// Why a stream ended.
enum End {
    /// The LIMIT was reached.
    Limit,
    /// The query finished or was closed.
    Completed,
    /// The server is shutting down.
    ShuttingDown,
    /// The query failed.
    Failed(Error),
}

impl StreamFormat {
    fn header(self, push: &PushStream) -> String {
        match self {
            StreamFormat::StreamedRows => {
                let header = json!({"header": {
                    "queryId": push.id,
                    "schema": schema_string(&push.columns, false),
                }});
                format!("[{header},\n")
            }
            StreamFormat::Delimited | StreamFormat::JsonArray => {
                let meta = json!({
                    "queryId": push.id,
                    "columnNames": push.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
                    "columnTypes": push
                        .columns
                        .iter()
                        .map(|c| c.sql_type.to_string())
                        .collect::<Vec<_>>(),
                });
                if self == StreamFormat::Delimited {
                    format!("{meta}\n")
                } else {
                    format!("[{meta}")
                }
            }
        }
    }

    fn rows(self, rows: Vec<Vec<Value>>, out: &mut String) {
        for row in rows {
            let row = Value::Array(row);
            match self {
                StreamFormat::StreamedRows => {
                    out.push_str(&json!({"row": {"columns": row}}).to_string());
                    out.push_str(",\n");
                }
                StreamFormat::Delimited => {
                    out.push_str(&row.to_string());
                    out.push('\n');
                }
                StreamFormat::JsonArray => {
                    out.push(',');
                    out.push_str(&row.to_string());
                }
            }
        }
    }

    fn end(self, end: &End) -> String {
        let error = match end {
            End::Failed(e) => Some(error_body(e)),
            End::ShuttingDown => Some(json!({
                "@type": "generic_error",
                "error_code": SHUTTING_DOWN,
                "message": "The server is shutting down",
            })),
            End::Limit | End::Completed => None,
        };
        match self {
            StreamFormat::StreamedRows => {
                let last = match (end, error) {
                    (_, Some(e)) => json!({"errorMessage": e}),
                    (End::Limit, None) => json!({"finalMessage": "Limit Reached"}),
                    _ => json!({"finalMessage": "Query Completed"}),
                };
                format!("{last}]\n")
            }
            StreamFormat::Delimited => error.map(|e| format!("{e}\n")).unwrap_or_default(),
            StreamFormat::JsonArray => match error {
                Some(e) => format!(",{e}]"),
                None => "]".to_string(),
            },
        }
    }
}

/// What the response body of a push query holds.
struct PushBody {
    push: PushStream,
    format: StreamFormat,
    header: Option<String>,
    sent: u64,
    close: CancellationToken,
    shutdown: CancellationToken,
    /// Writes a lone newline when idle, to find closed connections
    /// (`/query` only, as ksqlDB does).
    keepalive: Option<Interval>,
    finished: bool,
    /// Rows of a batch not yet sent: the delimited format sends each row as
    /// its own chunk, as ksqlDB does (clients such as the npm
    /// `ksqldb-client` parse every chunk as one JSON document).
    queued: std::collections::VecDeque<String>,
    _registration: Registration,
}

/// The response body streaming `push` in `format`. `shutdown` ends it
/// when the server stops.
pub fn push_body(
    push: PushStream,
    format: StreamFormat,
    registry: &Arc<PushRegistry>,
    shutdown: CancellationToken,
) -> Body {
    let (close, registration) = registry.register(&push.id);
    tracing::debug!(query = %push.id, "push query started");
    let keepalive = (format == StreamFormat::StreamedRows).then(|| {
        let period = Duration::from_secs(1);
        let mut interval = tokio::time::interval_at(Instant::now() + period, period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        interval
    });
    let state = PushBody {
        header: Some(format.header(&push)),
        push,
        format,
        sent: 0,
        close,
        shutdown,
        keepalive,
        finished: false,
        queued: std::collections::VecDeque::new(),
        _registration: registration,
    };
    Body::from_stream(futures::stream::unfold(state, |mut state| async move {
        let chunk = state.next_chunk().await?;
        Some((Ok::<_, Infallible>(Bytes::from(chunk)), state))
    }))
}

impl PushBody {
    async fn next_chunk(&mut self) -> Option<String> {
        if let Some(header) = self.header.take() {
            return Some(header);
        }
        if let Some(row) = self.queued.pop_front() {
            return Some(row);
        }
        if self.finished {
            return None;
        }
        let PushBody {
            push,
            format,
            sent,
            close,
            shutdown,
            keepalive,
            queued,
            ..
        } = &mut *self;
        let end = loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break End::ShuttingDown,
                _ = close.cancelled() => break End::Completed,
                batch = push.rows.recv() => match batch {
                    Some(batch) => match rows_text(*format, &batch, push.columns.len()) {
                        Ok((chunks, n)) => {
                            *sent += n;
                            if let Some(k) = keepalive.as_mut() {
                                k.reset();
                            }
                            queued.extend(chunks.into_iter().filter(|c| !c.is_empty()));
                            if let Some(first) = queued.pop_front() {
                                return Some(first);
                            }
                        }
                        Err(e) => break End::Failed(e),
                    },
                    None => {
                        break match (&mut push.done).await {
                            Ok(Err(e)) => End::Failed(e),
                            Err(e) => End::Failed(Error::internal(format!(
                                "push query {} stopped abnormally: {e}",
                                push.id
                            ))),
                            Ok(Ok(())) if push.limit.is_some_and(|l| *sent >= l) => End::Limit,
                            Ok(Ok(())) => End::Completed,
                        };
                    }
                },
                _ = tick(keepalive) => return Some("\n".to_string()),
            }
        };
        self.finished = true;
        self.push.cancel.cancel();
        let text = self.format.end(&end);
        (!text.is_empty()).then_some(text)
    }
}

/// The rows of one batch as chunks to send (one per row in the delimited
/// format, one for the batch otherwise), and how many rows there were.
fn rows_text(
    format: StreamFormat,
    batch: &RecordBatch,
    columns: usize,
) -> Result<(Vec<String>, u64), Error> {
    let rows = batch_rows(batch, columns)?;
    let n = rows.len() as u64;
    if format == StreamFormat::Delimited {
        let chunks = rows
            .into_iter()
            .map(|row| {
                let mut text = String::new();
                format.rows(vec![row], &mut text);
                text
            })
            .collect();
        return Ok((chunks, n));
    }
    let mut text = String::new();
    format.rows(rows, &mut text);
    Ok((vec![text], n))
}

async fn tick(interval: &mut Option<Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// The response body of PRINT: one line per record, until its LIMIT, the
/// client leaving, or shutdown.
pub fn print_body(print: PrintStream, shutdown: CancellationToken) -> Body {
    Body::from_stream(futures::stream::unfold(
        (print, shutdown),
        |(mut print, shutdown)| async move {
            let line = tokio::select! {
                biased;
                _ = shutdown.cancelled() => None,
                line = print.lines.recv() => line,
            }?;
            Some((
                Ok::<_, Infallible>(Bytes::from(format!("{line}\n"))),
                (print, shutdown),
            ))
        },
    ))
}
