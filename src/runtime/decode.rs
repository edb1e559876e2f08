//! The first stage of every pipeline: raw Kafka records to an Arrow batch
//! of the source's row schema (columns, then ROWTIME, ROWPARTITION,
//! ROWOFFSET). Records that cannot be decoded go to the processing log.

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
use crate::error::{Error, Result};
use crate::format::Decoder;

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
    /// The record's headers, to copy to derived records (hidden).
    RecordHeaders,
}

/// Decodes raw records into batches of a source's row schema.
pub struct DecodeStage {
    /// The query, for processing-log entries.
    pub query_id: String,
    /// The key decoder.
    pub key: Arc<dyn Decoder>,
    /// The value decoder.
    pub value: Arc<dyn Decoder>,
    /// Where each column of `schema` comes from.
    pub layout: Vec<ColumnSource>,
    /// The row schema produced.
    pub schema: SchemaRef,
    /// Evaluated on the decoded batch (with the record timestamp as
    /// ROWTIME) to give event time as epoch ms (Int64), when the source has
    /// a TIMESTAMP column.
    pub timestamp: Option<Arc<dyn PhysicalExpr>>,
    /// Drop records whose value is null (streams ignore tombstones).
    pub drop_null_values: bool,
}

impl DecodeStage {
    /// Decodes one raw batch. Bad records are reported and left out.
    pub fn decode(&self, raw: &RawBatch, log: &ProcessingLog) -> Result<RecordBatch> {
        let n = raw.len();
        let keys: Vec<Option<&[u8]>> = (0..n).map(|i| raw.keys.get(i)).collect();
        let values: Vec<Option<&[u8]>> = (0..n).map(|i| raw.values.get(i)).collect();
        let key_cols = self.key.decode(&keys)?;
        let value_cols = self.value.decode(&values)?;

        let mut keep = vec![true; n];
        for (target, errors) in [("key", &key_cols.errors), ("value", &value_cols.errors)] {
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
                        keys[e.row]
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
            };
            columns.push(array);
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
        for (src, column) in self.layout.iter().zip(columns.iter_mut()) {
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
