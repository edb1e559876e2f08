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
use crate::format::windowed::{self, WindowedKey};
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
    /// For a join: its inputs after the first (`RawBatch::input` 1, 2, …),
    /// each feeding the right side of one join operator.
    pub sides: Vec<SideInput>,
    /// Runs as one task for all input partitions (a foreign-key join, whose
    /// inputs are not co-partitioned), not one task per partition.
    pub single_task: bool,
    /// The inputs must be partitioned by murmur2 of their key bytes (a
    /// co-partitioned join): records that are not are reported.
    pub check_partitioning: bool,
    /// The topic of the batch being processed, for the processing log.
    pub topic: Option<Arc<str>>,
}

/// An input of a join other than the first: its decoding and the operators
/// preparing its rows, whose output goes to the right side of the join
/// operator at `join_at` in the pipeline's operators.
pub struct SideInput {
    /// Raw records to the source's rows.
    pub decode: DecodeStage,
    /// Operators before the join.
    pub operators: Vec<Box<dyn Operator>>,
    /// The position of the join operator among the pipeline's operators.
    pub join_at: usize,
}

impl SideInput {
    fn fork(&self) -> Result<SideInput> {
        Ok(SideInput {
            decode: self.decode.clone(),
            operators: self
                .operators
                .iter()
                .map(|op| op.fork())
                .collect::<Result<_>>()?,
            join_at: self.join_at,
        })
    }
}

impl Pipeline {
    /// A new instance with the same plan and empty state (every operator
    /// forked), for another input partition.
    pub fn fork(&self) -> Result<Pipeline> {
        Ok(Pipeline {
            query_id: self.query_id.clone(),
            decode: self.decode.clone(),
            operators: self
                .operators
                .iter()
                .map(|op| op.fork())
                .collect::<Result<_>>()?,
            output_schema: Arc::clone(&self.output_schema),
            sides: self
                .sides
                .iter()
                .map(SideInput::fork)
                .collect::<Result<_>>()?,
            single_task: self.single_task,
            check_partitioning: self.check_partitioning,
            topic: None,
        })
    }

    /// A pipeline over one input.
    pub fn new(
        query_id: &str,
        decode: DecodeStage,
        operators: Vec<Box<dyn Operator>>,
        output_schema: SchemaRef,
    ) -> Pipeline {
        Pipeline {
            query_id: query_id.to_string(),
            decode,
            operators,
            output_schema,
            sides: Vec::new(),
            single_task: false,
            check_partitioning: false,
            topic: None,
        }
    }

    /// Runs one raw batch through the pipeline. Stateful operators hold
    /// their updates back until [`Pipeline::flush`].
    pub fn process(&mut self, raw: &RawBatch, log: &ProcessingLog) -> Result<Vec<RecordBatch>> {
        self.topic = Some(Arc::clone(&raw.topic));
        if raw.input > 0 {
            return self.process_side(raw, log);
        }
        let batch = self.decode.decode(raw, log)?;
        self.process_decoded(batch, log)
    }

    /// Runs a batch already decoded (of the decode stage's schema) through
    /// the operators, as [`Pipeline::process`] does.
    pub fn process_decoded(
        &mut self,
        batch: RecordBatch,
        log: &ProcessingLog,
    ) -> Result<Vec<RecordBatch>> {
        if batch.num_rows() == 0 {
            return Ok(Vec::new());
        }
        self.run_from(0, vec![batch], log)
    }

    /// Runs a batch of a join's other input through its side's operators
    /// into the right side of its join, then on.
    fn process_side(&mut self, raw: &RawBatch, log: &ProcessingLog) -> Result<Vec<RecordBatch>> {
        let side = self
            .sides
            .get_mut(raw.input - 1)
            .ok_or_else(|| Error::internal(format!("the pipeline has no input {}", raw.input)))?;
        let batch = side.decode.decode(raw, log)?;
        if batch.num_rows() == 0 {
            return Ok(Vec::new());
        }
        let ctx = OperatorContext {
            query_id: &self.query_id,
            log,
            topic: self.topic.as_deref(),
        };
        let mut current = vec![batch];
        for op in side.operators.iter_mut() {
            let mut next = Vec::with_capacity(current.len());
            for b in current {
                op.process(b, &ctx, &mut next)?;
            }
            current = next;
        }
        let join_at = side.join_at;
        let join = self
            .operators
            .get_mut(join_at)
            .ok_or_else(|| Error::internal("a join input has no join operator"))?;
        let mut out = Vec::new();
        for b in current {
            join.process_right(b, &ctx, &mut out)?;
        }
        if out.is_empty() {
            return Ok(out);
        }
        self.run_from(join_at + 1, out, log)
    }

    /// Runs one raw batch record by record, flushing after each: every
    /// update of a stateful operator is emitted (record caching off).
    pub fn process_each(
        &mut self,
        raw: &RawBatch,
        log: &ProcessingLog,
    ) -> Result<Vec<RecordBatch>> {
        if raw.input > 0 {
            let mut out = Vec::new();
            for row in 0..raw.len() {
                let one = raw.slice(row);
                out.extend(self.process_side(&one, log)?);
                out.extend(self.flush(log)?);
            }
            return Ok(out);
        }
        let batch = self.decode.decode(raw, log)?;
        self.process_each_decoded(batch, log)
    }

    /// Runs a decoded batch row by row, as [`Pipeline::process_each`] does.
    pub fn process_each_decoded(
        &mut self,
        batch: RecordBatch,
        log: &ProcessingLog,
    ) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        for row in 0..batch.num_rows() {
            out.extend(self.run_from(0, vec![batch.slice(row, 1)], log)?);
            out.extend(self.flush(log)?);
        }
        Ok(out)
    }

    /// Emits what the stateful operators held back, through the operators
    /// after each.
    pub fn flush(&mut self, log: &ProcessingLog) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        for i in 0..self.operators.len() {
            let mut held = Vec::new();
            {
                let ctx = OperatorContext {
                    query_id: &self.query_id,
                    log,
                    topic: self.topic.as_deref(),
                };
                self.operators[i].flush(&ctx, &mut held)?;
            }
            if !held.is_empty() {
                out.extend(self.run_from(i + 1, held, log)?);
            }
        }
        Ok(out)
    }

    /// Runs batches through the operators from the `first`.
    fn run_from(
        &mut self,
        first: usize,
        batches: Vec<RecordBatch>,
        log: &ProcessingLog,
    ) -> Result<Vec<RecordBatch>> {
        let ctx = OperatorContext {
            query_id: &self.query_id,
            log,
            topic: self.topic.as_deref(),
        };
        let mut current = batches;
        for op in self.operators.iter_mut().skip(first) {
            if current.is_empty() {
                break;
            }
            let mut next = Vec::with_capacity(current.len());
            for b in current {
                op.process(b, &ctx, &mut next)?;
            }
            current = next;
        }
        Ok(current)
    }

    /// Every operator with the changelog component its state is written
    /// under: its position for the main chain, `128 + 16 × side + position`
    /// for the operators of a join's other inputs.
    pub fn components(&mut self) -> Result<Vec<(u8, &mut Box<dyn Operator>)>> {
        let mut out = Vec::new();
        for (i, op) in self.operators.iter_mut().enumerate() {
            let c = u8::try_from(i)
                .ok()
                .filter(|c| *c < 128)
                .ok_or_else(|| Error::internal("a pipeline has over 127 operators"))?;
            out.push((c, op));
        }
        for (s, side) in self.sides.iter_mut().enumerate() {
            for (k, op) in side.operators.iter_mut().enumerate() {
                let c = u8::try_from(128 + 16 * s + k)
                    .ok()
                    .filter(|_| k < 16 && s < 7)
                    .ok_or_else(|| Error::internal("a join has too many inputs or operators"))?;
                out.push((c, op));
            }
        }
        Ok(out)
    }

    /// The fingerprint of the state layout of every operator (the other
    /// inputs' too) and of the materialized table, if any.
    pub fn fingerprint(&self, store_layout: Option<String>) -> Option<u64> {
        let mut parts: Vec<String> = self
            .operators
            .iter()
            .enumerate()
            .filter_map(|(i, op)| op.state_layout().map(|l| format!("{i}: {l}")))
            .collect();
        for (s, side) in self.sides.iter().enumerate() {
            parts.extend(side.operators.iter().enumerate().filter_map(|(k, op)| {
                op.state_layout()
                    .map(|l| format!("input {} {k}: {l}", s + 1))
            }));
        }
        parts.extend(store_layout);
        (!parts.is_empty()).then(|| super::state::fingerprint(&parts.join("; ")))
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
        for (i, side) in self.sides.iter().enumerate() {
            lines.push(format!(
                "Input {}: {} columns, into operator {}",
                i + 1,
                side.decode.schema.fields().len(),
                side.join_at
            ));
            for op in &side.operators {
                lines.push(format!("  {}: {}", op.name(), op.describe()));
            }
        }
        for op in &self.operators {
            lines.push(format!("{}: {}", op.name(), op.describe()));
        }
        lines
    }
}

/// The fingerprint of the state layout of a pipeline's stateful operators
/// and of a materialized store's `store_layout`; `None` when nothing keeps
/// state.
pub fn state_fingerprint(
    operators: &[Box<dyn Operator>],
    store_layout: Option<String>,
) -> Option<u64> {
    let mut parts: Vec<String> = operators
        .iter()
        .enumerate()
        .filter_map(|(i, op)| op.state_layout().map(|l| format!("{i}: {l}")))
        .collect();
    parts.extend(store_layout);
    (!parts.is_empty()).then(|| super::state::fingerprint(&parts.join("; ")))
}

/// The last stage of a query writing a topic: output rows to key and value
/// payloads.
#[derive(Clone)]
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
    /// For a sink with windowed keys: how the window is written, and the
    /// output columns (BIGINT epoch ms) holding the window start and end.
    /// Each key gets the window of its row appended.
    pub window: Option<(WindowedKey, usize, usize)>,
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
        let keys = match self.window {
            None => keys,
            Some((layout, start, end)) => {
                let bound = |i: usize, name: &str| {
                    batch
                        .columns()
                        .get(i)
                        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
                        .ok_or_else(|| {
                            Error::internal(format!("output window {name} column is not BIGINT"))
                        })
                };
                windowed::wrap(&keys, layout, bound(start, "start")?, bound(end, "end")?)?
            }
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
            partition: None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{registry, Format, FormatSpec, Part};
    use arrow::array::{ArrayRef, Int32Array};
    use arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn windowed_sinks_append_the_window_to_each_key() {
        let key_schema = Arc::new(Schema::new(vec![Field::new("K", DataType::Int32, true)]));
        let value_schema = Arc::new(Schema::new(vec![Field::new("V", DataType::Int32, true)]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from(vec![1, 2])),
            Arc::new(Int32Array::from(vec![10, 20])),
            Arc::new(Int64Array::from(vec![100, 200])),
            Arc::new(Int64Array::from(vec![150, 250])),
            Arc::new(Int64Array::from(vec![7, 8])),
        ];
        let schema = Arc::new(Schema::new(
            ["K", "V", "WS", "WE", "ROWTIME"]
                .iter()
                .enumerate()
                .map(|(i, n)| Field::new(*n, columns[i].data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        let batch = RecordBatch::try_new(schema, columns).unwrap();
        let stage = |window| EncodeStage {
            key_columns: vec![0],
            value_columns: vec![1],
            rowtime_column: 4,
            null_row_column: None,
            headers_column: None,
            key: registry::encoder(
                &FormatSpec::new(Format::Kafka),
                Part::Key,
                key_schema.clone(),
            )
            .unwrap(),
            value: registry::encoder(
                &FormatSpec::new(Format::Json),
                Part::Value,
                value_schema.clone(),
            )
            .unwrap(),
            window,
        };
        let plain = stage(None).encode(&batch).unwrap();
        assert_eq!(plain.keys.get(0), Some(&1i32.to_be_bytes()[..]));

        let session = stage(Some((WindowedKey::Session, 2, 3)))
            .encode(&batch)
            .unwrap();
        let mut want = 2i32.to_be_bytes().to_vec();
        want.extend_from_slice(&250i64.to_be_bytes());
        want.extend_from_slice(&200i64.to_be_bytes());
        assert_eq!(session.keys.get(1), Some(want.as_slice()));
        assert_eq!(session.timestamps, vec![7, 8]);

        let time = stage(Some((WindowedKey::Time, 2, 3)))
            .encode(&batch)
            .unwrap();
        assert_eq!(time.keys.get(0).map(<[u8]>::len), Some(12));

        assert!(stage(Some((WindowedKey::Time, 1, 3)))
            .encode(&batch)
            .is_err());
    }
}
