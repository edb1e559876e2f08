//! State changelogs: what a stateful operator changed in a batch, written
//! to a compacted topic named as ksqlDB names it
//! (`_confluent-ksql-<service>query_<id>-<operator>-changelog`), so that the
//! state can be rebuilt from it after a restart or on another instance.
//!
//! Record layout, version 1 (the `$VERSION` member): the key is a JSON
//! object of the group's key columns (and `WINDOWSTART`/`WINDOWEND` for a
//! window); the value is a JSON object with `$VERSION`, `$TIME` (the
//! group's record time) and one member per intermediate state field of
//! each aggregate (`$S<aggregate>_<field>`, as DataFusion's accumulators
//! define their state). A group that no longer exists (a closed window, a
//! merged session) is a tombstone. Both sides are written per batch with
//! arrow's JSON writer: one pass over the columns, no per-record values.

use arrow::array::{Array, BooleanArray};
use arrow::json::LineDelimitedWriter;
use arrow::record_batch::RecordBatch;

use super::io::{OutBatch, TopicWriter};
use crate::error::{Error, Result};
use crate::format::Encoded;

/// Where one operator's changelog goes.
pub struct ChangelogSink {
    /// The operator's index in the pipeline.
    pub operator: usize,
    /// The topic writer.
    pub writer: Box<dyn TopicWriter>,
}

impl ChangelogSink {
    /// Writes one changelog batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<u64> {
        let out = encode(batch)?;
        self.writer.write(&out)?;
        Ok(out.len() as u64)
    }
}

/// Encodes a changelog batch (key columns first, then `$TIME`,
/// `$VERSION`, `$DELETED` and the states) as records.
pub fn encode(batch: &RecordBatch) -> Result<OutBatch> {
    let schema = batch.schema();
    let deleted_at = schema.index_of("$DELETED")?;
    let time_at = schema.index_of("$TIME")?;
    let key_columns = time_at;
    let keys: Vec<usize> = (0..key_columns).collect();
    let values: Vec<usize> = (key_columns..batch.num_columns())
        .filter(|&i| i != deleted_at)
        .collect();
    let deleted = batch
        .column(deleted_at)
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| Error::internal("changelog $DELETED is not BOOLEAN"))?;
    let times = batch
        .column(time_at)
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .ok_or_else(|| Error::internal("changelog $TIME is not BIGINT"))?;
    let n = batch.num_rows();
    let mut keys = json_lines(&batch.project(&keys)?)?;
    let mut values = json_lines(&batch.project(&values)?)?;
    keys.nulls.iter_mut().for_each(|null| *null = false);
    for (i, null) in values.nulls.iter_mut().enumerate() {
        *null = deleted.value(i);
    }
    let timestamps = (0..n)
        .map(|i| if times.is_null(i) { 0 } else { times.value(i) })
        .collect();
    // A tombstone's value range is left as written but flagged null.
    values = clear_nulls(values);
    keys = clear_nulls(keys);
    Ok(OutBatch {
        keys,
        values,
        timestamps,
        headers: None,
    })
}

/// One JSON object per row, back to back.
fn json_lines(batch: &RecordBatch) -> Result<Encoded> {
    let mut buf = Vec::with_capacity(batch.num_rows() * 64);
    {
        let mut writer = LineDelimitedWriter::new(&mut buf);
        writer.write(batch)?;
        writer.finish()?;
    }
    let mut offsets = Vec::with_capacity(batch.num_rows() + 1);
    let mut data = Vec::with_capacity(buf.len());
    offsets.push(0);
    for line in buf.split(|&b| b == b'\n') {
        if offsets.len() > batch.num_rows() {
            break;
        }
        data.extend_from_slice(line);
        offsets.push(data.len());
    }
    if offsets.len() != batch.num_rows() + 1 {
        return Err(Error::internal(
            "the changelog JSON writer wrote fewer lines than rows",
        ));
    }
    Ok(Encoded {
        data,
        offsets,
        nulls: vec![false; batch.num_rows()],
    })
}

/// Null payloads get empty ranges, as [`Encoded`] requires.
fn clear_nulls(e: Encoded) -> Encoded {
    if !e.nulls.iter().any(|&n| n) {
        return e;
    }
    let mut data = Vec::with_capacity(e.data.len());
    let mut offsets = Vec::with_capacity(e.offsets.len());
    offsets.push(0);
    for (i, &null) in e.nulls.iter().enumerate() {
        if !null {
            data.extend_from_slice(&e.data[e.offsets[i]..e.offsets[i + 1]]);
        }
        offsets.push(data.len());
    }
    Encoded {
        data,
        offsets,
        nulls: e.nulls,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn groups_become_json_records_and_deleted_groups_tombstones() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("$K0", DataType::Utf8, true),
            Field::new("$TIME", DataType::Int64, true),
            Field::new("$VERSION", DataType::Int64, true),
            Field::new("$DELETED", DataType::Boolean, false),
            Field::new("$S0_0", DataType::Int64, true),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["a", "b"])),
            Arc::new(Int64Array::from(vec![Some(7), None])),
            Arc::new(Int64Array::from(vec![1, 1])),
            Arc::new(BooleanArray::from(vec![false, true])),
            Arc::new(Int64Array::from(vec![Some(3), None])),
        ];
        let batch = RecordBatch::try_new(schema, columns).unwrap();
        let out = encode(&batch).unwrap();
        let key = |i: usize| &out.keys.data[out.keys.offsets[i]..out.keys.offsets[i + 1]];
        let value = |i: usize| &out.values.data[out.values.offsets[i]..out.values.offsets[i + 1]];
        assert_eq!(key(0), br#"{"$K0":"a"}"#);
        assert_eq!(key(1), br#"{"$K0":"b"}"#);
        assert_eq!(value(0), br#"{"$TIME":7,"$VERSION":1,"$S0_0":3}"#);
        assert_eq!(out.values.nulls, vec![false, true]);
        assert!(value(1).is_empty());
        assert_eq!(out.timestamps, vec![7, 0]);
    }
}
