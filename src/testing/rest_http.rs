//! The HTTP side of the REST-level runner ([`super::rest`]): requests to
//! the router in process, `/query` responses read element by element, and
//! an in-memory log that tells when every consumer has polled.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, BodyDataStream};
use axum::http::{header, Request, StatusCode};
use axum::Router;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::runtime::io::{Broker, RawBatch, ReaderSpec, TopicAdmin, TopicReader, TopicWriter};
use crate::runtime::memory::MemoryBroker;

/// How long a query response may stay without a new element before the
/// reader stops waiting for the rest.
pub(super) const QUIET: Duration = Duration::from_secs(2);

/// The largest `/ksql` response read.
const MAX_BODY: usize = 16 << 20;

/// A request the server refused.
pub(super) struct Failure {
    /// The HTTP status.
    pub(super) status: StatusCode,
    /// The body: ksqlDB's error JSON, or `{"message": text}`.
    pub(super) body: Value,
}

impl Failure {
    /// The error's message.
    pub(super) fn message(&self) -> String {
        match self.body.get("message").and_then(Value::as_str) {
            Some(m) => m.to_string(),
            None => self.body.to_string(),
        }
    }
}

/// Sends requests to the router, with the case's properties.
pub(super) struct Client {
    /// The server's routes.
    pub(super) app: Router,
    /// `streamsProperties` of every request.
    pub(super) properties: Value,
}

impl Client {
    async fn send(&self, path: &str, sql: &str) -> Result<axum::response::Response, Failure> {
        let body = json!({"ksql": sql, "streamsProperties": self.properties});
        let request = Request::post(path)
            .header(header::CONTENT_TYPE, "application/vnd.ksql.v1+json")
            .body(Body::from(body.to_string()))
            .map_err(|e| Failure {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                body: json!({"message": format!("cannot build the request: {e}")}),
            })?;
        let response = match self.app.clone().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        if response.status() == StatusCode::OK {
            return Ok(response);
        }
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), MAX_BODY)
            .await
            .unwrap_or_default();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!({"message": String::from_utf8_lossy(&bytes)}));
        Err(Failure { status, body })
    }

    /// `POST /ksql`: the entities of the response.
    pub(super) async fn ksql(&self, sql: &str) -> Result<Vec<Value>, Failure> {
        let response = self.send("/ksql", sql).await?;
        let bytes = axum::body::to_bytes(response.into_body(), MAX_BODY)
            .await
            .map_err(|e| Failure {
                status: StatusCode::OK,
                body: json!({"message": format!("the response body failed: {e}")}),
            })?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Array(entities)) => Ok(entities),
            Ok(other) => Ok(vec![other]),
            Err(e) => Err(Failure {
                status: StatusCode::OK,
                body: json!({"message": format!(
                    "the response is not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                )}),
            }),
        }
    }

    /// `POST /query`: the streamed response.
    pub(super) async fn query(&self, sql: &str) -> Result<QueryStream, Failure> {
        let response = self.send("/query", sql).await?;
        Ok(QueryStream {
            body: response.into_body().into_data_stream(),
            buffer: Vec::new(),
            elements: Vec::new(),
            ended: false,
            stalled: false,
        })
    }
}

/// The elements of a `/query` response as they arrive: the body is one
/// JSON array written one element per line.
pub(super) struct QueryStream {
    body: BodyDataStream,
    buffer: Vec<u8>,
    /// The elements read so far.
    pub(super) elements: Vec<Value>,
    ended: bool,
    /// True when reading stopped because nothing arrived for [`QUIET`].
    pub(super) stalled: bool,
}

impl QueryStream {
    /// Reads until the body ends, `want` elements arrived, nothing arrived
    /// for [`QUIET`], or `deadline`.
    pub(super) async fn read(&mut self, want: Option<usize>, deadline: Instant) {
        let mut last_element = Instant::now();
        while !self.ended && want.is_none_or(|n| self.elements.len() < n) {
            let until = deadline.min(last_element + QUIET);
            let Some(wait) = until.checked_duration_since(Instant::now()) else {
                self.stalled = true;
                return;
            };
            match tokio::time::timeout(wait, self.body.next()).await {
                Ok(Some(Ok(bytes))) => {
                    self.buffer.extend_from_slice(&bytes);
                    let before = self.elements.len();
                    self.take_lines(false);
                    if self.elements.len() > before {
                        last_element = Instant::now();
                    }
                }
                Ok(Some(Err(e))) => {
                    self.elements
                        .push(Value::String(format!("<the response body failed: {e}>")));
                    self.ended = true;
                }
                Ok(None) => {
                    self.take_lines(true);
                    self.ended = true;
                }
                Err(_) => {
                    self.stalled = true;
                    return;
                }
            }
        }
    }

    /// Parses the complete lines of the buffer (all of it at the end).
    fn take_lines(&mut self, at_end: bool) {
        while let Some(pos) = self.buffer.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=pos).collect();
            self.push_line(&String::from_utf8_lossy(&line));
        }
        if at_end && !self.buffer.is_empty() {
            let rest = std::mem::take(&mut self.buffer);
            self.push_line(&String::from_utf8_lossy(&rest));
        }
    }

    fn push_line(&mut self, line: &str) {
        if let Some(v) = parse_element(line) {
            self.elements.push(v);
        }
    }
}

/// One line of a `/query` body as an element: the array's brackets and
/// the separating comma taken off; a line that is not JSON becomes a
/// string saying so.
fn parse_element(line: &str) -> Option<Value> {
    let mut s = line.trim();
    if let Some(rest) = s.strip_prefix('[') {
        s = rest.trim_start();
    }
    if s.is_empty() || s == "]" {
        return None;
    }
    let mut candidates = vec![s];
    if let Some(t) = s.strip_suffix(',') {
        candidates.push(t.trim_end());
    }
    if let Some(t) = s.strip_suffix(']') {
        let t = t.trim_end();
        candidates.push(t.strip_suffix(',').unwrap_or(t));
    }
    for c in candidates {
        if let Ok(v) = serde_json::from_str::<Value>(c) {
            return Some(v);
        }
    }
    Some(Value::String(format!("<not JSON: {line}>")))
}

/// The in-memory log, counting the readers that have not polled yet.
pub(super) struct WatchedBroker {
    /// The log.
    pub(super) log: Arc<MemoryBroker>,
    /// Readers created but not yet polled once.
    pub(super) unpolled: Arc<AtomicUsize>,
}

impl Broker for WatchedBroker {
    fn reader(&self, spec: &ReaderSpec) -> crate::error::Result<Box<dyn TopicReader>> {
        let inner = self.log.reader(spec)?;
        self.unpolled.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(WatchedReader {
            inner,
            unpolled: Some(Arc::clone(&self.unpolled)),
        }))
    }
    fn writer(&self, topic: &str) -> crate::error::Result<Box<dyn TopicWriter>> {
        self.log.writer(topic)
    }
    fn read_partitions(
        &self,
        topic: &str,
        partitions: &[i32],
    ) -> crate::error::Result<Box<dyn crate::runtime::io::PartitionReader>> {
        self.log.read_partitions(topic, partitions)
    }
    fn admin(&self) -> &dyn TopicAdmin {
        self.log.admin()
    }
    fn address(&self) -> String {
        self.log.address()
    }
}

struct WatchedReader {
    inner: Box<dyn TopicReader>,
    /// Set until the first poll returned.
    unpolled: Option<Arc<AtomicUsize>>,
}

impl WatchedReader {
    fn polled(&mut self) {
        if let Some(counter) = self.unpolled.take() {
            counter.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for WatchedReader {
    fn drop(&mut self) {
        self.polled();
    }
}

impl TopicReader for WatchedReader {
    fn poll(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> BoxFuture<'_, crate::error::Result<RawBatch>> {
        async move {
            let batch = self.inner.poll(max, wait).await;
            self.polled();
            batch
        }
        .boxed()
    }
    fn commit<'a>(
        &'a mut self,
        offsets: &'a [crate::runtime::io::CommitPosition],
    ) -> BoxFuture<'a, crate::error::Result<()>> {
        self.inner.commit(offsets)
    }
    fn caught_up(&self) -> bool {
        self.inner.caught_up()
    }
    fn input_caught_up(&self, input: usize) -> bool {
        self.inner.input_caught_up(input)
    }
    fn partition_caught_up(&self, input: usize, partition: i32) -> bool {
        self.inner.partition_caught_up(input, partition)
    }
    fn assignment(&mut self) -> Option<Vec<i32>> {
        self.inner.assignment()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_lines_become_elements() {
        assert_eq!(
            parse_element("[{\"header\":{\"schema\":\"`A` INT\"}},\n"),
            Some(json!({"header": {"schema": "`A` INT"}}))
        );
        assert_eq!(
            parse_element("{\"row\":{\"columns\":[1,[2]]}},"),
            Some(json!({"row": {"columns": [1, [2]]}}))
        );
        assert_eq!(
            parse_element("{\"finalMessage\":\"Limit Reached\"}]\n"),
            Some(json!({"finalMessage": "Limit Reached"}))
        );
        assert_eq!(parse_element("\n"), None);
        assert_eq!(parse_element("]"), None);
        assert!(parse_element("{oops").is_some_and(|v| v.is_string()));
    }
}
