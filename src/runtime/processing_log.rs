//! The processing log: every record sluice could not process, with where it
//! came from and why. Nothing is dropped without a trace here.
//!
//! Each entry is counted, logged through `tracing`, and written as a JSON
//! record to the processing-log topic (ksqlDB's `<service id>ksql_processing_log`)
//! by a background writer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use tokio::sync::mpsc;

/// Where a failed record came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordOrigin {
    /// Source topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

/// One processing-log entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// The query that hit the error.
    pub query_id: String,
    /// What kind of failure (`deserialization`, `expression`, `timestamp`,
    /// `serialization`, `production`, `data-loss`).
    pub kind: &'static str,
    /// The record's origin, when known.
    pub origin: Option<RecordOrigin>,
    /// Which part failed (`key`, `value`), when relevant.
    pub target: Option<&'static str>,
    /// Why.
    pub message: String,
    /// The raw bytes, when available.
    pub record: Option<Vec<u8>>,
}

impl LogEntry {
    /// The JSON value written to the processing-log topic.
    pub fn to_json(&self, now_ms: i64) -> String {
        let mut msg = serde_json::Map::new();
        msg.insert("type".into(), self.kind.into());
        msg.insert("queryId".into(), self.query_id.clone().into());
        msg.insert("errorMessage".into(), self.message.clone().into());
        if let Some(t) = self.target {
            msg.insert("target".into(), t.into());
        }
        if let Some(o) = &self.origin {
            msg.insert("topic".into(), o.topic.clone().into());
            msg.insert("partition".into(), o.partition.into());
            msg.insert("offset".into(), o.offset.into());
        }
        if let Some(r) = &self.record {
            msg.insert(
                "recordB64".into(),
                base64::engine::general_purpose::STANDARD.encode(r).into(),
            );
        }
        serde_json::json!({
            "LEVEL": "ERROR",
            "LOGGER": format!("processing.{}", self.query_id),
            "TIME": now_ms,
            "MESSAGE": msg,
        })
        .to_string()
    }
}

/// A handle to the processing log, cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ProcessingLog {
    errors: Arc<AtomicU64>,
    /// Entries by query and kind (metrics).
    by_kind: Arc<std::sync::Mutex<std::collections::BTreeMap<(String, &'static str), u64>>>,
    sender: Option<mpsc::UnboundedSender<LogEntry>>,
}

impl ProcessingLog {
    /// A log that counts and traces entries and forwards them to `sender`
    /// (the topic writer).
    pub fn new(sender: Option<mpsc::UnboundedSender<LogEntry>>) -> Self {
        ProcessingLog {
            errors: Arc::new(AtomicU64::new(0)),
            by_kind: Default::default(),
            sender,
        }
    }

    /// Records one failure.
    pub fn record(&self, entry: LogEntry) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut counts) = self.by_kind.lock() {
            *counts
                .entry((entry.query_id.clone(), entry.kind))
                .or_default() += 1;
        }
        match &entry.origin {
            Some(o) => tracing::warn!(
                query = %entry.query_id, kind = entry.kind, topic = %o.topic,
                partition = o.partition, offset = o.offset, "{}", entry.message
            ),
            None => tracing::warn!(query = %entry.query_id, kind = entry.kind, "{}", entry.message),
        }
        if let Some(s) = &self.sender {
            // The writer may be gone at shutdown; the entry was still traced.
            let _ = s.send(entry);
        }
    }

    /// How many failures were recorded.
    pub fn error_count(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// How many failures were recorded, by query and kind.
    pub fn counts_by_kind(&self) -> Vec<(String, &'static str, u64)> {
        self.by_kind
            .lock()
            .map(|c| c.iter().map(|((q, k), n)| (q.clone(), *k, *n)).collect())
            .unwrap_or_default()
    }
}
