//! A query's compute, without I/O: decode, operators, encode.
//!
//! The same [`Pipeline`] runs in production (fed by Kafka through
//! [`super::task`]) and in tests (fed by the in-memory log, one record per
//! batch, as ksqlDB's test driver does).

use std::sync::Arc;

use arrow::array::{Array, Int64Array};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::decode::DecodeStage;
use super::io::{OutBatch, RawBatch};
use super::operators::{Operator, OperatorContext};
use super::processing_log::ProcessingLog;
use crate::error::{Error, Result};
use crate::format::{Encoded, Encoder};

/// Decode, then each operator in turn.
pub struct Pipeline {
    /// The query id.
    pub query_id: String,
    /// Raw records to the source's rows.
    pub decode: DecodeStage,
    /// Operators, in order.
    pub operators: Vec<Box<dyn Operator>>,
    /// The schema of the batches the last operator emits.
    pub output_schema: SchemaRef,
}

impl Pipeline {
    /// Runs one raw batch through the pipeline.
    pub fn process(&mut self, raw: &RawBatch, log: &ProcessingLog) -> Result<Vec<RecordBatch>> {
        let batch = self.decode.decode(raw, log)?;
        if batch.num_rows() == 0 {
            return Ok(Vec::new());
        }
        let ctx = OperatorContext {
            query_id: &self.query_id,
            log,
        };
        let mut current = vec![batch];
        for op in &mut self.operators {
            let mut next = Vec::with_capacity(current.len());
            for b in current {
                op.process(b, &ctx, &mut next)?;
            }
            current = next;
            if current.is_empty() {
                break;
            }
        }
        Ok(current)
    }

    /// One line per stage, for EXPLAIN.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "Source: {} columns {}",
            self.decode.schema.fields().len(),
            self.decode
                .schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )];
        for op in &self.operators {
            lines.push(format!("{}: {}", op.name(), op.describe()));
        }
        lines
    }
}

/// The last stage of a query writing a topic: output rows to key and value
/// payloads.
pub struct EncodeStage {
    /// Output columns that form the key, in key order.
    pub key_columns: Vec<usize>,
    /// Output columns that form the value, in value order.
    pub value_columns: Vec<usize>,
    /// The output column holding ROWTIME (the record timestamp).
    pub rowtime_column: usize,
    /// The output column flagging null rows, written with a null value.
    pub null_row_column: Option<usize>,
    /// The output column with the source records' headers, copied to the
    /// records written.
    pub headers_column: Option<usize>,
    /// The key encoder (over `key_columns`).
    pub key: Arc<dyn Encoder>,
    /// The value encoder (over `value_columns`).
    pub value: Arc<dyn Encoder>,
}

impl EncodeStage {
    /// Encodes an output batch.
    pub fn encode(&self, batch: &RecordBatch) -> Result<OutBatch> {
        let pick = |cols: &[usize]| -> Result<Vec<_>> {
            cols.iter()
                .map(|&i| {
                    if i < batch.num_columns() {
                        Ok(Arc::clone(batch.column(i)))
                    } else {
                        Err(Error::internal(format!("output has no column {i}")))
                    }
                })
                .collect()
        };
        let n = batch.num_rows();
        let keys = if self.key_columns.is_empty() {
            null_payloads(n)
        } else {
            self.key.encode(&pick(&self.key_columns)?)?
        };
        let mut values = self.value.encode(&pick(&self.value_columns)?)?;
        if let Some(flags) = self
            .null_row_column
            .and_then(|i| batch.columns().get(i))
            .and_then(|c| c.as_any().downcast_ref::<arrow::array::BooleanArray>())
        {
            for (i, null) in values.nulls.iter_mut().enumerate() {
                if flags.is_valid(i) && flags.value(i) {
                    *null = true;
                }
            }
        }
        let rowtime = batch
            .columns()
            .get(self.rowtime_column)
            .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
            .ok_or_else(|| Error::internal("output ROWTIME column is not BIGINT"))?;
        let timestamps = (0..n)
            .map(|i| {
                if rowtime.is_null(i) {
                    0
                } else {
                    rowtime.value(i)
                }
            })
            .collect();
        let headers = self
            .headers_column
            .and_then(|i| batch.columns().get(i))
            .and_then(|c| c.as_any().downcast_ref::<arrow::array::ListArray>())
            .and_then(headers_of);
        Ok(OutBatch {
            keys,
            values,
            timestamps,
            headers,
        })
    }
}

/// The headers of each row, or `None` when no row has any (the common case,
/// which costs no allocation per record).
fn headers_of(list: &arrow::array::ListArray) -> Option<Vec<Vec<super::io::Header>>> {
    use arrow::array::{BinaryArray, StringArray, StructArray};
    if list.values().is_empty() {
        return None;
    }
    let entries = list.values().as_any().downcast_ref::<StructArray>()?;
    let keys = entries.column(0).as_any().downcast_ref::<StringArray>()?;
    let values = entries.column(1).as_any().downcast_ref::<BinaryArray>()?;
    let offsets = list.value_offsets();
    Some(
        (0..list.len())
            .map(|row| {
                let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
                (start..end)
                    .filter(|&i| keys.is_valid(i))
                    .map(|i| {
                        let value = values.is_valid(i).then(|| values.value(i).to_vec());
                        (keys.value(i).to_string(), value)
                    })
                    .collect()
            })
            .collect(),
    )
}

fn null_payloads(n: usize) -> Encoded {
    Encoded {
        data: Vec::new(),
        offsets: vec![0; n + 1],
        nulls: vec![true; n],
    }
}
