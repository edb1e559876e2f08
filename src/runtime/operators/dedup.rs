//! Drops the rows of a repartition topic that were written twice.
//!
//! The task that re-keys rows through a repartition topic is at-least-once:
//! after a crash or a retry it reads its input again from its last commit
//! and writes those rows again. Counted twice downstream, they would make
//! an aggregate wrong. So each re-keyed row carries the partition and
//! offset of the input record it came from, and the aggregating task keeps,
//! per input partition, the highest offset it has taken: a row at or below
//! it was taken already. (Rows of one input partition reach each
//! repartition partition in offset order: one producer, idempotent.) That
//! high-water mark per input partition is state like any other: in the
//! changelog (`D` + the partition → the offset), sealed by the same commit
//! markers as the aggregate it protects.

use std::collections::{HashMap, HashSet};

use arrow::array::{Array, BooleanArray, Int32Array, Int64Array};
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;

use super::{Operator, OperatorContext};
use crate::error::{Error, Result};
use crate::runtime::state::{take_i64, StateWriter};

/// Keeps the rows whose source offset is above the highest seen for their
/// source partition.
#[derive(Debug, Clone)]
pub struct Dedup {
    /// The column with the source partition (INT).
    pub partition_column: usize,
    /// The column with the source offset (BIGINT).
    pub offset_column: usize,
    taken: HashMap<i32, i64>,
    changed: Option<HashSet<i32>>,
    dropped: u64,
}

impl Dedup {
    /// A filter over the given columns, with no offsets seen.
    pub fn new(partition_column: usize, offset_column: usize) -> Self {
        Dedup {
            partition_column,
            offset_column,
            taken: HashMap::new(),
            changed: None,
            dropped: 0,
        }
    }
}

impl Operator for Dedup {
    fn name(&self) -> &'static str {
        "Dedup"
    }

    fn process(
        &mut self,
        batch: RecordBatch,
        _ctx: &OperatorContext<'_>,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        let column = |i: usize| batch.columns().get(i);
        let (Some(partitions), Some(offsets)) = (
            column(self.partition_column).and_then(|c| c.as_any().downcast_ref::<Int32Array>()),
            column(self.offset_column).and_then(|c| c.as_any().downcast_ref::<Int64Array>()),
        ) else {
            return Err(Error::internal(
                "the repartitioned rows carry no source partition and offset",
            ));
        };
        let mut keep = Vec::with_capacity(batch.num_rows());
        let mut current: Option<(i32, i64)> = None;
        for row in 0..batch.num_rows() {
            if partitions.is_null(row) || offsets.is_null(row) {
                keep.push(true);
                continue;
            }
            let (p, o) = (partitions.value(row), offsets.value(row));
            // Rows come in runs of one source partition: look it up once
            // per run.
            let taken = match current {
                Some((cp, t)) if cp == p => t,
                _ => {
                    if let Some((cp, t)) = current {
                        self.taken.insert(cp, t);
                    }
                    self.taken.get(&p).copied().unwrap_or(i64::MIN)
                }
            };
            let fresh = o > taken;
            keep.push(fresh);
            current = Some((p, if fresh { o } else { taken }));
            if fresh {
                if let Some(changed) = &mut self.changed {
                    changed.insert(p);
                }
            } else {
                self.dropped += 1;
            }
        }
        if let Some((p, t)) = current {
            self.taken.insert(p, t);
        }
        if keep.iter().all(|&k| k) {
            out.push(batch);
        } else {
            let filtered = filter_record_batch(&batch, &BooleanArray::from(keep))?;
            if filtered.num_rows() > 0 {
                out.push(filtered);
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "drop re-keyed rows written twice (source offset at or below the highest taken); \
             {} dropped",
            self.dropped
        )
    }

    fn fork(&self) -> Result<Box<dyn Operator>> {
        Ok(Box::new(Dedup::new(
            self.partition_column,
            self.offset_column,
        )))
    }

    fn state_layout(&self) -> Option<String> {
        Some("dedup/1".to_string())
    }

    fn enable_changelog(&mut self) {
        self.changed.get_or_insert_with(HashSet::new);
    }

    fn checkpoint(&mut self, out: &mut StateWriter) -> Result<()> {
        let Some(changed) = &mut self.changed else {
            return Ok(());
        };
        for p in changed.drain() {
            if let Some(o) = self.taken.get(&p) {
                out.put(&[b"D", &p.to_be_bytes()], &[&o.to_be_bytes()]);
            }
        }
        Ok(())
    }

    fn restore(&mut self, _partition: i32, records: &[(&[u8], &[u8])]) -> Result<()> {
        for &(key, value) in records {
            match key {
                [b'D', p @ ..] if p.len() == 4 => {
                    let p = i32::from_be_bytes([p[0], p[1], p[2], p[3]]);
                    let (o, _) = take_i64(value)?;
                    self.taken.insert(p, o);
                }
                _ => {
                    return Err(Error::external(
                        "the repartition dedup's changelog has a record of unknown kind",
                    ))
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::ArrayRef;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::runtime::processing_log::ProcessingLog;

    fn batch(rows: &[(i32, i64)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("P", DataType::Int32, true),
            Field::new("O", DataType::Int64, true),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
        ];
        RecordBatch::try_new(schema, columns).unwrap()
    }

    fn run(d: &mut Dedup, rows: &[(i32, i64)]) -> Vec<i64> {
        let log = ProcessingLog::new(None);
        let ctx = OperatorContext {
            query_id: "q",
            log: &log,
            topic: None,
        };
        let mut out = Vec::new();
        d.process(batch(rows), &ctx, &mut out).unwrap();
        out.iter()
            .flat_map(|b| {
                let o = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
                o.values().to_vec()
            })
            .collect()
    }

    #[test]
    fn rows_written_again_are_dropped_and_the_marks_survive_a_restore() {
        let mut d = Dedup::new(0, 1);
        d.enable_changelog();
        assert_eq!(
            run(&mut d, &[(0, 1), (0, 2), (1, 7), (0, 3)]),
            vec![1, 2, 7, 3]
        );
        // The re-keying task restarted from offset 2 of partition 0.
        assert_eq!(run(&mut d, &[(0, 2), (0, 3), (0, 4), (1, 8)]), vec![4, 8]);
        let mut w = StateWriter::new();
        d.checkpoint(w.component(0)).unwrap();
        let b = w.take_batch(0, 0);
        let records: Vec<(&[u8], &[u8])> = (0..b.keys.len())
            .map(|i| (&b.keys.get(i).unwrap()[1..], &b.values.get(i).unwrap()[1..]))
            .collect();
        let mut restored = Dedup::new(0, 1);
        restored.restore(0, &records).unwrap();
        assert_eq!(
            run(&mut restored, &[(0, 4), (0, 5), (1, 8), (1, 9)]),
            vec![5, 9]
        );
    }
}
