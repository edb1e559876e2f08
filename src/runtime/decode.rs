//! The first stage of every pipeline: raw Kafka records to an Arrow batch
//! of the source's row schema (columns, then ROWTIME, ROWPARTITION,
//! ROWOFFSET). Records that cannot be decoded go to the processing log.
//!
//! The keys of a windowed source carry their window (see
//! [`crate::format::windowed`]): it is taken off each key before the key
//! decoder runs and fills the WINDOWSTART and WINDOWEND columns.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryBuilder, BooleanArray, Int32Array, Int64Array, ListBuilder,
    StringBuilder, StructBuilder,
};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Field, Fields, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::physical_expr::PhysicalExpr;

use super::io::RawBatch;
use super::processing_log::{LogEntry, ProcessingLog, RecordOrigin};
use crate::catalog::Source;
use crate::error::{Error, Result};
use crate::format::windowed::{self, WindowedKey};
use crate::format::{Decoder, RowError};

/// Where a column of the row schema comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnSource {
    /// The i-th column decoded from the key.
    Key(usize),
    /// The i-th column decoded from the value.
    Value(usize),
    /// All headers, as `ARRAY<STRUCT<KEY STRING, VALUE BYTES>>`.
    Headers,
    /// The last header with this key, as BYTES.
    Header(String),
    /// The record timestamp, or the event time the timestamp expression
    /// gives.
    RowTime,
    /// The partition.
    RowPartition,
    /// The offset.
    RowOffset,
    /// The record's event time, also for null rows (hidden).
    RecordTime,
    /// True when the record's value is null (hidden).
    NullRow,
    /// A value column no operator reads: not decoded, all null.
    Unread,
    /// The record's headers, to copy to derived records (hidden).
    RecordHeaders,
}

/// The window on the keys of a windowed source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyWindow {
    /// How the window follows the key bytes.
    pub layout: WindowedKey,
    /// The window size of a time window: its end is start + size.
    pub size_ms: Option<u64>,
    /// The index of WINDOWSTART in the row schema; WINDOWEND follows it.
    /// The stage's `layout` lists every other column.
    pub start_column: usize,
}

impl KeyWindow {
    /// The key window of `source`, when its keys are windowed.
    pub fn of(source: &Source) -> Option<KeyWindow> {
        let window = source.window?;
        Some(KeyWindow {
            layout: window.key_layout(),
            size_ms: window.size_ms,
            start_column: source.window_columns_at()?,
        })
    }
}

#[derive(Clone)]
/// Decodes raw records into batches of a source's row schema.
pub struct DecodeStage {
    /// The query, for processing-log entries.
    pub query_id: String,
    /// The key decoder.
    pub key: Arc<dyn Decoder>,
    /// The value decoder.
    pub value: Arc<dyn Decoder>,
    /// Where each column of `schema` comes from (but WINDOWSTART and
    /// WINDOWEND, which `window` places).
    pub layout: Vec<ColumnSource>,
    /// The row schema produced.
    pub schema: SchemaRef,
    /// Evaluated on the decoded batch (with the record timestamp as
    /// ROWTIME) to give event time as epoch ms (Int64), when the source has
    /// a TIMESTAMP column.
    pub timestamp: Option<Arc<dyn PhysicalExpr>>,
    /// Drop records whose value is null (streams ignore tombstones).
    pub drop_null_values: bool,
    /// The window of the keys, for a windowed source.
    pub window: Option<KeyWindow>,
}

impl DecodeStage {
    /// Decodes one raw batch. Bad records are reported and left out.
    pub fn decode(&self, raw: &RawBatch, log: &ProcessingLog) -> Result<RecordBatch> {
        let n = raw.len();
        let raw_keys: Vec<Option<&[u8]>> = (0..n).map(|i| raw.keys.get(i)).collect();
        let values: Vec<Option<&[u8]>> = (0..n).map(|i| raw.values.get(i)).collect();
        let split = self.window.map(|w| split_keys(&raw_keys, w));
        let keys = split.as_ref().map_or(&raw_keys, |s| &s.keys);
        let key_cols = self.key.decode(keys)?;
        let value_cols = self.value.decode(&values)?;

        let mut keep = vec![true; n];
        let window_errors = split.as_ref().map_or(&[][..], |s| &s.errors[..]);
        for (target, errors) in [
            ("key", window_errors),
            ("key", &key_cols.errors[..]),
            ("value", &value_cols.errors[..]),
        ] {
            for e in errors {
                if let Some(k) = keep.get_mut(e.row) {
                    *k = false;
                }
                log.record(LogEntry {
                    query_id: self.query_id.clone(),
                    kind: "deserialization",
                    origin: Some(origin(raw, e.row)),
                    target: Some(target),
                    message: format!("Failed to deserialize {target}: {}", e.reason),
                    record: if target == "key" {
                        raw_keys[e.row]
                    } else {
                        values[e.row]
                    }
                    .map(<[u8]>::to_vec),
                });
            }
        }
        if self.drop_null_values {
            for (i, v) in values.iter().enumerate() {
                if v.is_none() {
                    keep[i] = false;
                }
            }
        }

        // A record with a null value is a "null row": its key columns are
        // kept, its value and pseudo columns are null.
        let null_row: Vec<bool> = values.iter().map(Option::is_none).collect();
        let any_null_row = null_row.iter().any(|b| *b);
        let null_mask =
            || arrow::buffer::NullBuffer::from(null_row.iter().map(|b| !b).collect::<Vec<_>>());
        let record_times = Int64Array::from(raw.timestamps.clone());

        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.layout.len());
        for src in &self.layout {
            let array: ArrayRef = match src {
                ColumnSource::Key(k) => Arc::clone(key_cols.columns.get(*k).ok_or_else(|| {
                    Error::internal(format!("key decoder returned no column {k}"))
                })?),
                ColumnSource::Value(v) => {
                    Arc::clone(value_cols.columns.get(*v).ok_or_else(|| {
                        Error::internal(format!("value decoder returned no column {v}"))
                    })?)
                }
                ColumnSource::Headers | ColumnSource::RecordHeaders => headers_array(raw, n),
                ColumnSource::Header(key) => header_array(raw, n, key),
                ColumnSource::RowTime | ColumnSource::RecordTime => Arc::new(record_times.clone()),
                ColumnSource::RowPartition => Arc::new(Int32Array::new(
                    raw.partitions.clone().into(),
                    any_null_row.then(null_mask),
                )),
                ColumnSource::RowOffset => Arc::new(Int64Array::new(
                    raw.offsets.clone().into(),
                    any_null_row.then(null_mask),
                )),
                ColumnSource::NullRow => Arc::new(BooleanArray::from(null_row.clone())),
                ColumnSource::Unread => {
                    let field = self.schema.field(columns.len());
                    arrow::array::new_null_array(field.data_type(), n)
                }
            };
            columns.push(array);
        }
        if let (Some(window), Some(split)) = (&self.window, split) {
            let at = window.start_column;
            if at > columns.len() {
                return Err(Error::internal(format!(
                    "the window columns of the row schema are at {at}, past its {} other columns",
                    columns.len()
                )));
            }
            let bounds: [ArrayRef; 2] = [Arc::new(split.starts), Arc::new(split.ends)];
            columns.splice(at..at, bounds);
        }

        // Event time: the TIMESTAMP column when there is one (a null row
        // keeps its record timestamp), else the record timestamp.
        let event_times = match &self.timestamp {
            None => record_times,
            Some(expr) => {
                let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns.clone())
                    .map_err(|e| {
                        Error::internal(format!("decoded batch does not fit its schema: {e}"))
                    })?;
                let times = expr
                    .evaluate(&batch)
                    .and_then(|v| v.into_array(batch.num_rows()))
                    .map_err(Error::from)?;
                let times = times
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .ok_or_else(|| Error::internal("timestamp expression is not BIGINT"))?;
                let mut out = Vec::with_capacity(n);
                for i in 0..n {
                    if null_row[i] {
                        out.push(raw.timestamps[i]);
                    } else if times.is_null(i) || times.value(i) < 0 {
                        out.push(0);
                        if keep[i] {
                            keep[i] = false;
                            log.record(LogEntry {
                                query_id: self.query_id.clone(),
                                kind: "timestamp",
                                origin: Some(origin(raw, i)),
                                target: None,
                                message: "The TIMESTAMP column is null, negative or could not \
                                          be parsed; the record was skipped"
                                    .into(),
                                record: values[i].map(<[u8]>::to_vec),
                            });
                        }
                    } else {
                        out.push(times.value(i));
                    }
                }
                Int64Array::from(out)
            }
        };
        // The window columns, when spliced in, shift the columns after them.
        let window_at = self.window.map_or(usize::MAX, |w| w.start_column);
        for (i, src) in self.layout.iter().enumerate() {
            let at = if i >= window_at { i + 2 } else { i };
            let Some(column) = columns.get_mut(at) else {
                continue;
            };
            match src {
                ColumnSource::RowTime => {
                    *column = Arc::new(Int64Array::new(
                        event_times.values().clone(),
                        any_null_row.then(null_mask),
                    ))
                }
                ColumnSource::RecordTime => *column = Arc::new(event_times.clone()),
                _ => {}
            }
        }
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)
            .map_err(|e| Error::internal(format!("decoded batch does not fit its schema: {e}")))?;

        if keep.iter().all(|k| *k) {
            Ok(batch)
        } else {
            Ok(filter_record_batch(&batch, &BooleanArray::from(keep))?)
        }
    }
}

/// The raw keys of a batch without their windows, and the windows.
struct SplitKeys<'a> {
    /// The keys for the key decoder; `None` for a null key or a key too
    /// short for its window.
    keys: Vec<Option<&'a [u8]>>,
    /// WINDOWSTART, null for a null key.
    starts: Int64Array,
    /// WINDOWEND, null for a null key.
    ends: Int64Array,
    /// Keys too short for their window.
    errors: Vec<RowError>,
}

fn split_keys<'a>(raw: &[Option<&'a [u8]>], window: KeyWindow) -> SplitKeys<'a> {
    let n = raw.len();
    let mut keys = Vec::with_capacity(n);
    let mut starts = Vec::with_capacity(n);
    let mut ends = Vec::with_capacity(n);
    let mut errors = Vec::new();
    for (row, key) in raw.iter().enumerate() {
        let split = key.map(|k| windowed::split(k, window.layout, window.size_ms));
        match split {
            Some(Ok(s)) => {
                keys.push(Some(s.key));
                starts.push(Some(s.start));
                ends.push(Some(s.end));
            }
            Some(Err(e)) => {
                errors.push(RowError {
                    row,
                    reason: e.to_string(),
                });
                keys.push(None);
                starts.push(None);
                ends.push(None);
            }
            None => {
                keys.push(None);
                starts.push(None);
                ends.push(None);
            }
        }
    }
    SplitKeys {
        keys,
        starts: Int64Array::from(starts),
        ends: Int64Array::from(ends),
        errors,
    }
}

fn origin(raw: &RawBatch, row: usize) -> RecordOrigin {
    RecordOrigin {
        topic: raw.topic.to_string(),
        partition: raw.partitions.get(row).copied().unwrap_or(-1),
        offset: raw.offsets.get(row).copied().unwrap_or(-1),
    }
}

fn header_fields() -> Fields {
    Fields::from(vec![
        Field::new("KEY", DataType::Utf8, true),
        Field::new("VALUE", DataType::Binary, true),
    ])
}

fn headers_array(raw: &RawBatch, n: usize) -> ArrayRef {
    let fields = header_fields();
    let mut builder = ListBuilder::new(StructBuilder::from_fields(fields, 0));
    for i in 0..n {
        let entries = builder.values();
        if let Some(headers) = raw.headers.get(i) {
            for (k, v) in headers {
                if let Some(b) = entries.field_builder::<StringBuilder>(0) {
                    b.append_value(k);
                }
                if let Some(b) = entries.field_builder::<BinaryBuilder>(1) {
                    b.append_option(v.as_deref());
                }
                entries.append(true);
            }
        }
        builder.append(true);
    }
    Arc::new(builder.finish())
}

fn header_array(raw: &RawBatch, n: usize, key: &str) -> ArrayRef {
    let mut builder = BinaryBuilder::new();
    for i in 0..n {
        let value = raw
            .headers
            .get(i)
            .and_then(|h| h.iter().rev().find(|(k, _)| k == key))
            .and_then(|(_, v)| v.as_deref());
        builder.append_option(value);
    }
    Arc::new(builder.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Column, ColumnNamespace, SourceWindow};
    use crate::format::{registry, Encoded, Format, FormatSpec, Part};
    use crate::sql::ast::SourceKind;
    use crate::sql::properties::WindowType;
    use crate::types::SqlType;

    fn source(window: WindowType, size_ms: Option<u64>) -> Source {
        let column = |name: &str, namespace| Column {
            name: name.into(),
            sql_type: SqlType::Int,
            namespace,
        };
        Source {
            name: "S".into(),
            kind: SourceKind::Stream,
            columns: vec![
                column("K", ColumnNamespace::Key),
                column("V", ColumnNamespace::Value),
            ],
            topic: "t".into(),
            key_format: FormatSpec::new(Format::Kafka),
            value_format: FormatSpec::new(Format::Json),
            timestamp: None,
            is_source: false,
            sql: String::new(),
            created_by: None,
            window: Some(SourceWindow {
                kind: window,
                size_ms,
            }),
        }
    }

    fn stage(source: &Source) -> DecodeStage {
        DecodeStage {
            query_id: "q".into(),
            key: registry::decoder(&source.key_format, Part::Key, source.key_schema()).unwrap(),
            value: registry::decoder(&source.value_format, Part::Value, source.value_schema())
                .unwrap(),
            layout: vec![
                ColumnSource::Key(0),
                ColumnSource::Value(0),
                ColumnSource::RowTime,
                ColumnSource::RowPartition,
                ColumnSource::RowOffset,
                ColumnSource::RecordTime,
                ColumnSource::NullRow,
                ColumnSource::RecordHeaders,
            ],
            schema: source.row_schema(),
            timestamp: None,
            drop_null_values: false,
            window: KeyWindow::of(source),
        }
    }

    fn payloads(rows: &[Option<Vec<u8>>]) -> Encoded {
        let mut e = Encoded {
            offsets: vec![0],
            ..Encoded::default()
        };
        for r in rows {
            if let Some(b) = r {
                e.data.extend_from_slice(b);
            }
            e.nulls.push(r.is_none());
            e.offsets.push(e.data.len());
        }
        e
    }

    fn raw(keys: &[Option<Vec<u8>>]) -> RawBatch {
        let n = keys.len();
        RawBatch {
            topic: "t".into(),
            input: 0,
            keys: payloads(keys),
            values: payloads(&vec![Some(br#"{"V": 7}"#.to_vec()); n]),
            timestamps: vec![5; n],
            partitions: vec![0; n],
            offsets: (0..n as i64).collect(),
            headers: vec![Vec::new(); n],
            gaps: Vec::new(),
        }
    }

    fn int64(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
        let column = batch.column_by_name(name).unwrap();
        let array = column.as_any().downcast_ref::<Int64Array>().unwrap();
        array.iter().collect()
    }

    fn key(k: i32, bounds: &[i64]) -> Option<Vec<u8>> {
        let mut out = k.to_be_bytes().to_vec();
        for b in bounds {
            out.extend_from_slice(&b.to_be_bytes());
        }
        Some(out)
    }

    #[test]
    fn time_windows_fill_start_and_end_after_the_key() {
        let source = source(WindowType::Hopping, Some(1000));
        let names: Vec<String> = source
            .row_schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names[..4], ["K", "WINDOWSTART", "WINDOWEND", "V"]);
        let batch = stage(&source)
            .decode(&raw(&[key(3, &[2000])]), &ProcessingLog::default())
            .unwrap();
        assert_eq!(int64(&batch, "WINDOWSTART"), vec![Some(2000)]);
        assert_eq!(int64(&batch, "WINDOWEND"), vec![Some(3000)]);
        let k = batch.column_by_name("K").unwrap();
        let k = k.as_any().downcast_ref::<Int32Array>().unwrap();
        assert_eq!(k.value(0), 3);
    }

    #[test]
    fn session_windows_read_end_then_start() {
        let source = source(WindowType::Session, None);
        let batch = stage(&source)
            .decode(&raw(&[key(1, &[900, 100])]), &ProcessingLog::default())
            .unwrap();
        assert_eq!(int64(&batch, "WINDOWSTART"), vec![Some(100)]);
        assert_eq!(int64(&batch, "WINDOWEND"), vec![Some(900)]);
    }

    #[test]
    fn keys_too_short_for_their_window_are_bad_records() {
        let source = source(WindowType::Tumbling, Some(10));
        let log = ProcessingLog::default();
        let batch = stage(&source)
            .decode(&raw(&[Some(vec![1, 2, 3]), key(4, &[20]), None]), &log)
            .unwrap();
        assert_eq!(log.error_count(), 1);
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(int64(&batch, "WINDOWSTART"), vec![Some(20), None]);
        assert_eq!(int64(&batch, "WINDOWEND"), vec![Some(30), None]);
    }
}
