//! Reading back what a scenario's queries wrote, and printing it so that
//! the same data always prints the same lines: a stream's records by record
//! time, a table's latest row per key (and window), by key.
//!
//! A table written with `EMIT CHANGES` holds one update per batch of input
//! the query processed, which depends on how records were batched; its
//! latest row per key does not.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::{Output, OutputKind};
use crate::error::{Error, Result};
use crate::runtime::io::{Broker, ReaderSpec};

/// One record read from a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Value bytes; `None` is a tombstone.
    pub value: Option<Vec<u8>>,
    /// Record time, epoch ms.
    pub time: i64,
}

/// Reads `topic` from its beginning to its end.
pub async fn read_topic(
    broker: &dyn Broker,
    topic: &str,
    deadline: Duration,
) -> Result<Vec<Record>> {
    let mut reader = broker.reader(&ReaderSpec::from_start(topic))?;
    let begin = Instant::now();
    let mut records = Vec::new();
    loop {
        let batch = reader.poll(10_000, Duration::from_millis(100)).await?;
        for i in 0..batch.len() {
            records.push(Record {
                key: batch.keys.get(i).map(<[u8]>::to_vec),
                value: batch.values.get(i).map(<[u8]>::to_vec),
                time: batch.timestamps[i],
            });
        }
        if batch.is_empty() && reader.caught_up() {
            return Ok(records);
        }
        if begin.elapsed() > deadline {
            return Err(Error::external(format!(
                "could not read topic '{topic}' to its end within {} s ({} records read)",
                deadline.as_secs(),
                records.len()
            )));
        }
    }
}

/// A row to print: its key, window, record time and value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    key: String,
    window: Option<(i64, i64)>,
    time: i64,
    value: String,
}

/// The lines that show `records` of `output`: a heading, then one line
/// per record (streams) or per key and window (tables).
pub fn render(output: &Output, records: &[Record]) -> Vec<String> {
    let rows = rows(output, records);
    let (noun, what) = match output.kind {
        OutputKind::Stream => ("record", "a stream; by record time".to_string()),
        OutputKind::Table => ("row", "a table; the latest row per key".to_string()),
        OutputKind::TimeWindowed => (
            "row",
            format!(
                "a table of {} windows; the latest row per key and window",
                duration(output.window_ms)
            ),
        ),
        OutputKind::SessionWindowed => (
            "row",
            "a table of sessions; the latest row per key and session".to_string(),
        ),
    };
    let plural = if rows.len() == 1 { "" } else { "s" };
    let mut lines = vec![format!(
        "{}: {} {noun}{plural} ({what})",
        output.topic,
        rows.len()
    )];
    let width = rows
        .iter()
        .map(|r| r.key.chars().count())
        .max()
        .unwrap_or(0);
    for r in &rows {
        let mut line = String::from("  ");
        if output.kind == OutputKind::Stream {
            line.push_str(&clock(r.time));
            line.push_str("  ");
        }
        line.push_str(&format!("{:<width$}", r.key));
        match (output.kind, r.window) {
            (OutputKind::TimeWindowed, Some((start, end))) => {
                line.push_str(&format!("  [{}, {})", clock(start), clock(end)));
            }
            (OutputKind::SessionWindowed, Some((start, end))) => {
                line.push_str(&format!("  [{}, {}]", clock(start), clock(end)));
            }
            _ => {}
        }
        line.push_str("  ");
        line.push_str(&r.value);
        lines.push(line);
    }
    lines
}

/// The rows of a stream (every record) or of a table (the latest value
/// per key, tombstones deleting), sorted.
fn rows(output: &Output, records: &[Record]) -> Vec<Row> {
    let decode = |r: &Record| -> (String, Option<(i64, i64)>) {
        let key = r.key.as_deref().unwrap_or_default();
        split_key(output, key)
    };
    let mut rows: Vec<Row> = match output.kind {
        OutputKind::Stream => records
            .iter()
            .map(|r| {
                let (key, window) = decode(r);
                Row {
                    key,
                    window,
                    time: r.time,
                    value: text(r.value.as_deref()),
                }
            })
            .collect(),
        _ => {
            let mut latest: HashMap<&[u8], &Record> = HashMap::new();
            for r in records {
                let key = r.key.as_deref().unwrap_or_default();
                if r.value.is_some() {
                    latest.insert(key, r);
                } else {
                    latest.remove(key);
                }
            }
            latest
                .into_values()
                .map(|r| {
                    let (key, window) = decode(r);
                    Row {
                        key,
                        window,
                        time: r.time,
                        value: text(r.value.as_deref()),
                    }
                })
                .collect()
        }
    };
    if output.kind == OutputKind::Stream {
        rows.sort_by(|a, b| (a.time, &a.key, &a.value).cmp(&(b.time, &b.key, &b.value)));
    } else {
        rows.sort();
    }
    rows
}

/// The key and, for windowed keys, the window (start, end) of a key as
/// Kafka Streams writes it: the key, then the window start (tumbling and
/// hopping), or the session end and then its start (sessions).
fn split_key(output: &Output, key: &[u8]) -> (String, Option<(i64, i64)>) {
    let be = |b: &[u8]| -> i64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        i64::from_be_bytes(a)
    };
    match output.kind {
        OutputKind::TimeWindowed if key.len() >= 8 => {
            let (k, w) = key.split_at(key.len() - 8);
            let start = be(w);
            (utf8(k), Some((start, start + output.window_ms)))
        }
        OutputKind::SessionWindowed if key.len() >= 16 => {
            let (k, w) = key.split_at(key.len() - 16);
            (utf8(k), Some((be(&w[8..]), be(&w[..8]))))
        }
        _ => (utf8(key), None),
    }
}

fn utf8(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn text(value: Option<&[u8]>) -> String {
    value.map_or_else(|| "<tombstone>".to_string(), utf8)
}

/// A time of day in UTC: `09:04:00`, or `09:04:00.250` with milliseconds.
pub fn clock(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) if ms.rem_euclid(1000) == 0 => t.format("%H:%M:%S").to_string(),
        Some(t) => t.format("%H:%M:%S%.3f").to_string(),
        None => ms.to_string(),
    }
}

/// A date and time in UTC: `2024-05-01 09:00:00`.
pub fn date_time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

/// `1-minute`, `20-second`, or milliseconds.
fn duration(ms: i64) -> String {
    if ms > 0 && ms % 60_000 == 0 {
        format!("{}-minute", ms / 60_000)
    } else if ms > 0 && ms % 1000 == 0 {
        format!("{}-second", ms / 1000)
    } else {
        format!("{ms}-ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &[u8], value: Option<&str>, time: i64) -> Record {
        Record {
            key: Some(key.to_vec()),
            value: value.map(|v| v.as_bytes().to_vec()),
            time,
        }
    }

    fn windowed(key: &str, words: &[i64]) -> Vec<u8> {
        let mut k = key.as_bytes().to_vec();
        for w in words {
            k.extend_from_slice(&w.to_be_bytes());
        }
        k
    }

    #[test]
    fn a_stream_is_shown_by_record_time() {
        let out = Output {
            topic: "ALERTS",
            kind: OutputKind::Stream,
            window_ms: 0,
        };
        let lines = render(
            &out,
            &[
                record(b"b", Some("{\"X\":2}"), 1_714_554_060_000),
                record(b"card", Some("{\"X\":1}"), 1_714_554_000_500),
            ],
        );
        assert_eq!(
            lines,
            [
                "ALERTS: 2 records (a stream; by record time)",
                "  09:00:00.500  card  {\"X\":1}",
                "  09:01:00  b     {\"X\":2}",
            ]
        );
    }

    #[test]
    fn a_windowed_table_keeps_the_latest_row_per_key_and_window() {
        let out = Output {
            topic: "AVG",
            kind: OutputKind::TimeWindowed,
            window_ms: 60_000,
        };
        let w0 = windowed("s", &[0]);
        let w1 = windowed("s", &[60_000]);
        let lines = render(
            &out,
            &[
                record(&w1, Some("{\"N\":1}"), 61_000),
                record(&w0, Some("{\"N\":1}"), 1_000),
                record(&w0, Some("{\"N\":2}"), 2_000),
            ],
        );
        assert_eq!(
            lines,
            [
                "AVG: 2 rows (a table of 1-minute windows; the latest row per key and window)",
                "  s  [00:00:00, 00:01:00)  {\"N\":2}",
                "  s  [00:01:00, 00:02:00)  {\"N\":1}",
            ]
        );
    }

    #[test]
    fn merged_sessions_are_deleted_by_their_tombstones() {
        let out = Output {
            topic: "SESSIONS",
            kind: OutputKind::SessionWindowed,
            window_ms: 0,
        };
        // Keys: user, session end, session start.
        let a = windowed("u", &[0, 0]);
        let b = windowed("u", &[50_000, 50_000]);
        let merged = windowed("u", &[50_000, 0]);
        let lines = render(
            &out,
            &[
                record(&a, Some("{\"N\":1}"), 0),
                record(&b, Some("{\"N\":1}"), 50_000),
                record(&a, None, 25_000),
                record(&b, None, 25_000),
                record(&merged, Some("{\"N\":3}"), 50_000),
            ],
        );
        assert_eq!(
            lines,
            [
                "SESSIONS: 1 row (a table of sessions; the latest row per key and session)",
                "  u  [00:00:00, 00:00:50]  {\"N\":3}",
            ]
        );
    }
}
