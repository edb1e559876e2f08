//! `POST /inserts-stream`: the request body is `{"target": "S"}` then one
//! JSON object per line; each row is inserted into the stream and
//! acknowledged in order, `{"status":"ok","seq":n}`, as soon as the broker
//! has it. A bad row gets an error ack and the stream goes on.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, BodyDataStream, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{json, Value};

use super::error::{status_of, ApiError, BAD_REQUEST};
use super::request::{negotiate, parse_body, required, InsertsStreamArgs, DELIMITED, JSON};
use super::ServerState;
use crate::engine::JsonInserter;

/// The longest row line accepted.
const MAX_LINE: usize = 16 * 1024 * 1024;

/// `POST /inserts-stream`.
pub async fn inserts_stream(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if state.shutdown_token().is_cancelled() {
        return Err(state.shutting_down());
    }
    let mut data = body.into_data_stream();
    let mut buffer: Vec<u8> = Vec::new();
    let mut eof = false;
    let first_end = loop {
        if let Some(pos) = buffer.iter().position(|b| *b == b'\n') {
            break pos;
        }
        match data.next().await {
            Some(Ok(chunk)) => buffer.extend_from_slice(&chunk),
            Some(Err(e)) => {
                return Err(ApiError::bad_request(format!(
                    "Cannot read the request body of /inserts-stream: {e}"
                )))
            }
            None => {
                eof = true;
                break buffer.len();
            }
        }
        if buffer.len() > MAX_LINE {
            return Err(ApiError::bad_request(
                "The first line of /inserts-stream must be the arguments object, e.g. \
                 {\"target\": \"MY_STREAM\"}",
            ));
        }
    };
    let args: InsertsStreamArgs = parse_body(&buffer[..first_end], "/inserts-stream")?;
    let target = required(args.target, "target", "/inserts-stream")?;
    let inserter = state.engine().json_inserter(&target).await?;
    buffer.drain(..(first_end + 1).min(buffer.len()));
    let json_array = negotiate(&headers, &[DELIMITED, JSON], DELIMITED) == JSON;
    let inserts = Inserts {
        data,
        buffer,
        eof,
        inserter,
        seq: 0,
        json_array,
        started: false,
        done: false,
    };
    let stream = futures::stream::unfold(inserts, |mut inserts| async move {
        let chunk = inserts.next_chunk().await?;
        Some((Ok::<_, Infallible>(Bytes::from(chunk)), inserts))
    });
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            if json_array { JSON } else { DELIMITED },
        )],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The state of one inserts stream.
struct Inserts {
    data: BodyDataStream,
    /// Bytes received but not yet processed (the start of a line).
    buffer: Vec<u8>,
    eof: bool,
    inserter: JsonInserter,
    /// The sequence number of the next row.
    seq: u64,
    json_array: bool,
    started: bool,
    done: bool,
}

impl Inserts {
    /// The acks of the next rows, once written; `None` when all are done.
    async fn next_chunk(&mut self) -> Option<String> {
        if self.done {
            return None;
        }
        loop {
            let lines = self.take_lines();
            if !lines.is_empty() {
                let acks = self.insert(lines).await;
                if !acks.is_empty() {
                    return Some(self.render(acks, false));
                }
            }
            if self.eof {
                self.done = true;
                let end = self.render(Vec::new(), true);
                return (!end.is_empty()).then_some(end);
            }
            match self.data.next().await {
                Some(Ok(chunk)) => self.buffer.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    tracing::debug!("inserts stream into {} ended: {e}", self.inserter.target());
                    self.eof = true;
                }
                None => self.eof = true,
            }
            if self.buffer.len() > MAX_LINE && !self.buffer.contains(&b'\n') {
                // A line too long to be a row: answer it as an error row.
                self.buffer.push(b'\n');
            }
        }
    }

    /// Complete lines (all of the buffer at the end of the body).
    fn take_lines(&mut self) -> Vec<Vec<u8>> {
        let end = if self.eof {
            self.buffer.len()
        } else {
            match self.buffer.iter().rposition(|b| *b == b'\n') {
                Some(p) => p + 1,
                None => return Vec::new(),
            }
        };
        let taken: Vec<u8> = self.buffer.drain(..end).collect();
        taken
            .split(|b| *b == b'\n')
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .map(<[u8]>::to_vec)
            .collect()
    }

    /// Inserts rows, then waits for the broker; one ack per row, in order.
    async fn insert(&mut self, lines: Vec<Vec<u8>>) -> Vec<Value> {
        let mut acks = Vec::with_capacity(lines.len());
        let mut written = Vec::new();
        for line in lines {
            let seq = self.seq;
            self.seq += 1;
            let result = if line.len() > MAX_LINE {
                Err(crate::error::Error::user(format!(
                    "The row is longer than {MAX_LINE} bytes"
                )))
            } else {
                self.inserter.write(&line).await
            };
            match result {
                Ok(()) => {
                    written.push(acks.len());
                    acks.push(json!({"status": "ok", "seq": seq}));
                }
                Err(e) => acks.push(error_ack(seq, &e)),
            }
        }
        if !written.is_empty() {
            if let Err(e) = self.inserter.flush().await {
                for i in written {
                    let seq = acks[i]["seq"].as_u64().unwrap_or_default();
                    acks[i] = error_ack(seq, &e);
                }
            }
        }
        acks
    }

    fn render(&mut self, acks: Vec<Value>, last: bool) -> String {
        let mut out = String::new();
        for ack in acks {
            if self.json_array {
                out.push(if self.started { ',' } else { '[' });
                out.push_str(&ack.to_string());
            } else {
                out.push_str(&ack.to_string());
                out.push('\n');
            }
            self.started = true;
        }
        if last && self.json_array {
            out.push_str(if self.started { "]" } else { "[]" });
        }
        out
    }
}

fn error_ack(seq: u64, e: &crate::error::Error) -> Value {
    let (_, code) = status_of(e, BAD_REQUEST);
    json!({"status": "error", "seq": seq, "error_code": code, "message": e.to_string()})
}
