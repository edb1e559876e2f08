//! Checking what sluice wrote against DataFusion's result for the same
//! query over the same bids, so that a broken query cannot produce a fast
//! figure.
//!
//! A stateless query is checked by its row count (the bench compares
//! `records_out` with DataFusion's rows). An aggregation (`CREATE TABLE …
//! AS … GROUP BY`, `EMIT CHANGES`) writes an update per group per batch, so
//! its output topic is read back and decoded with the table's own decoder,
//! the latest row of each group kept (per partition, in offset order: a
//! group's updates share a key and so a partition), and those rows are
//! compared with DataFusion's, which are one per group: the same groups,
//! and in each the same values, column by column.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, Rows, SortField};
use arrow::util::display::array_value_to_string;

use crate::catalog::NULL_ROW;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::runtime::io::{Broker, ReaderSpec};
use crate::runtime::processing_log::ProcessingLog;

/// What the check of an aggregation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCheck {
    /// Records (updates) read back from sluice's output topic.
    pub records: u64,
    /// Groups in sluice's output (latest row per key).
    pub sluice_groups: u64,
    /// Rows (groups) DataFusion returned.
    pub datafusion_groups: u64,
    /// The first difference, if any.
    pub mismatch: Option<String>,
}

/// Reads back the `records` records sluice wrote to `topic` for the table
/// `table` (which must still be registered: its decoder reads them) and
/// returns them decoded, in the order of each partition.
pub async fn read_table(
    engine: &Engine,
    broker: &dyn Broker,
    table: &str,
    topic: &str,
    records: u64,
    deadline: Duration,
) -> Result<Vec<RecordBatch>> {
    let source = engine
        .state
        .lock()
        .await
        .catalog
        .source(table)
        .cloned()
        .ok_or_else(|| Error::internal(format!("the table {table} is not registered")))?;
    let decode =
        crate::plan::select::decode_stage(&engine.session_state, &source, "nexmark-check")?;
    let mut reader = broker.reader(&ReaderSpec::from_start(topic))?;
    let log = ProcessingLog::default();
    let mut batches = Vec::new();
    let mut read = 0u64;
    let start = Instant::now();
    while read < records {
        if start.elapsed() > deadline {
            return Err(Error::external(format!(
                "read back only {read} of the {records} records sluice wrote to topic '{topic}' \
                 within {deadline:?}"
            )));
        }
        let raw = reader.poll(4096, Duration::from_millis(50)).await?;
        if raw.is_empty() {
            continue;
        }
        read += raw.len() as u64;
        batches.push(decode.decode(&raw, &log)?);
    }
    if log.error_count() > 0 {
        return Err(Error::internal(format!(
            "{} of the records sluice wrote to topic '{topic}' do not decode as table {table}",
            log.error_count()
        )));
    }
    Ok(batches)
}

/// Compares the latest row per group of `actual` (sluice's decoded output,
/// in write order) with `expected` (one row per group).
pub fn compare(
    actual: &[RecordBatch],
    expected: &[RecordBatch],
    groups: &[&str],
) -> Result<GroupCheck> {
    let records = actual.iter().map(RecordBatch::num_rows).sum::<usize>() as u64;
    let Some(first) = expected.first() else {
        return Ok(GroupCheck {
            records,
            sluice_groups: records,
            datafusion_groups: 0,
            mismatch: (records > 0)
                .then(|| "DataFusion returned no rows but sluice wrote some".into()),
        });
    };
    let schema = first.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let (key_idx, value_idx): (Vec<usize>, Vec<usize>) =
        (0..names.len()).partition(|&i| groups.contains(&names[i]));
    if key_idx.len() != groups.len() {
        return Err(Error::internal(format!(
            "DataFusion's result has columns {names:?}, not all of the grouping columns {groups:?}"
        )));
    }
    let named = |idx: &[usize]| -> Vec<(&str, DataType)> {
        idx.iter()
            .map(|&i| (names[i], schema.field(i).data_type().clone()))
            .collect()
    };
    let (key_columns, value_columns) = (named(&key_idx), named(&value_idx));
    let found = latest(actual, &key_columns, &value_columns)?;
    let keys = RowConverter::new(sort_fields(&key_columns))?;
    let values = RowConverter::new(sort_fields(&value_columns))?;
    let mut datafusion_groups = 0u64;
    let mut mismatch = None;
    for batch in expected {
        let key_rows = convert(&keys, batch, &key_idx)?;
        let value_rows = convert(&values, batch, &value_idx)?;
        for row in 0..batch.num_rows() {
            datafusion_groups += 1;
            if mismatch.is_some() {
                continue;
            }
            let got = found.get(key_rows.row(row).as_ref());
            if got.map(|v| v.as_ref()) != Some(value_rows.row(row).as_ref()) {
                let describe = |idx: &[usize]| -> String {
                    idx.iter()
                        .map(|&i| {
                            let value = array_value_to_string(batch.column(i), row)
                                .unwrap_or_else(|_| "?".to_string());
                            format!("{}={value}", names[i])
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                mismatch = Some(match got {
                    None => format!(
                        "sluice wrote no row for the group {} (DataFusion: {})",
                        describe(&key_idx),
                        describe(&value_idx)
                    ),
                    Some(_) => format!(
                        "sluice's latest row for the group {} differs from DataFusion's ({})",
                        describe(&key_idx),
                        describe(&value_idx)
                    ),
                });
            }
        }
    }
    let sluice_groups = found.len() as u64;
    if mismatch.is_none() && sluice_groups != datafusion_groups {
        mismatch = Some(format!(
            "sluice's output holds {sluice_groups} groups, DataFusion returned {datafusion_groups}"
        ));
    }
    Ok(GroupCheck {
        records,
        sluice_groups,
        datafusion_groups,
        mismatch,
    })
}

/// Group key bytes → the bytes of its latest values, in row format.
type Latest = HashMap<Box<[u8]>, Box<[u8]>>;

fn sort_fields(columns: &[(&str, DataType)]) -> Vec<SortField> {
    columns
        .iter()
        .map(|(_, t)| SortField::new(t.clone()))
        .collect()
}

/// The latest row of each group of `actual`: key bytes → value bytes, in
/// the row formats of the named columns (cast to DataFusion's types).
/// Null rows (deletes) remove their group.
fn latest(
    actual: &[RecordBatch],
    key_columns: &[(&str, DataType)],
    value_columns: &[(&str, DataType)],
) -> Result<Latest> {
    let keys = RowConverter::new(sort_fields(key_columns))?;
    let values = RowConverter::new(sort_fields(value_columns))?;
    let mut out = Latest::new();
    for batch in actual {
        let schema = batch.schema();
        let mut picked: Vec<ArrayRef> = Vec::with_capacity(key_columns.len() + value_columns.len());
        for (name, data_type) in key_columns.iter().chain(value_columns) {
            let i = schema.index_of(name).map_err(|_| {
                Error::internal(format!(
                    "sluice's output has no column {name} to compare with DataFusion's"
                ))
            })?;
            let column = batch.column(i);
            picked.push(if column.data_type() == data_type {
                Arc::clone(column)
            } else {
                cast(column.as_ref(), data_type)?
            });
        }
        let (key_part, value_part) = picked.split_at(key_columns.len());
        let key_rows = keys.convert_columns(key_part)?;
        let value_rows = values.convert_columns(value_part)?;
        let deleted = schema
            .index_of(NULL_ROW)
            .ok()
            .map(|i| batch.column(i).as_boolean().clone());
        for row in 0..batch.num_rows() {
            let key: Box<[u8]> = key_rows.row(row).as_ref().into();
            if deleted
                .as_ref()
                .is_some_and(|d| d.is_valid(row) && d.value(row))
            {
                out.remove(&key);
            } else {
                out.insert(key, value_rows.row(row).as_ref().into());
            }
        }
    }
    Ok(out)
}

fn convert(converter: &RowConverter, batch: &RecordBatch, idx: &[usize]) -> Result<Rows> {
    let columns: Vec<ArrayRef> = idx.iter().map(|&i| Arc::clone(batch.column(i))).collect();
    Ok(converter.convert_columns(&columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BooleanArray, Int64Array};
    use arrow::datatypes::{Field, Schema};

    fn datafusion(auctions: &[i64], counts: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("AUCTION", DataType::Int64, true),
            Field::new("BIDS", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(auctions.to_vec())),
                Arc::new(Int64Array::from(counts.to_vec())),
            ],
        )
        .unwrap()
    }

    /// sluice's decoded output: a nullable INT count beside the null-row
    /// flag, so the check must cast and honour deletes.
    fn sluice(auctions: &[i64], counts: &[i32], deleted: &[bool]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("BIDS", DataType::Int32, true),
            Field::new("AUCTION", DataType::Int64, true),
            Field::new(NULL_ROW, DataType::Boolean, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(arrow::array::Int32Array::from(counts.to_vec())),
                Arc::new(Int64Array::from(auctions.to_vec())),
                Arc::new(BooleanArray::from(deleted.to_vec())),
            ],
        )
        .unwrap()
    }

    #[test]
    fn the_latest_update_of_each_group_must_match() {
        let expected = [datafusion(&[1, 2], &[3, 1])];
        let updates = [
            sluice(&[1, 2], &[1, 1], &[false, false]),
            sluice(&[1], &[3], &[false]),
        ];
        let check = compare(&updates, &expected, &["AUCTION"]).unwrap();
        assert_eq!(check.mismatch, None);
        assert_eq!((check.sluice_groups, check.datafusion_groups), (2, 2));
    }

    #[test]
    fn a_stale_or_missing_group_is_a_mismatch() {
        let expected = [datafusion(&[1, 2], &[3, 1])];
        let stale = [sluice(&[1, 2], &[2, 1], &[false, false])];
        let check = compare(&stale, &expected, &["AUCTION"]).unwrap();
        assert!(check.mismatch.unwrap().contains("AUCTION=1"));
        let deleted = [
            sluice(&[1, 2], &[3, 1], &[false, false]),
            sluice(&[2], &[0], &[true]),
        ];
        let check = compare(&deleted, &expected, &["AUCTION"]).unwrap();
        assert!(check
            .mismatch
            .unwrap()
            .contains("no row for the group AUCTION=2"));
    }

    #[test]
    fn extra_groups_in_sluice_are_a_mismatch() {
        let expected = [datafusion(&[1], &[3])];
        let extra = [sluice(&[1, 9], &[3, 1], &[false, false])];
        let check = compare(&extra, &expected, &["AUCTION"]).unwrap();
        assert!(check.mismatch.unwrap().contains("2 groups"));
    }
}
