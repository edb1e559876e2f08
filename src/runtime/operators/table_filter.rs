//! A filter over a table's changelog (HAVING, or WHERE over a table).
//!
//! A row that passes is an upsert. A row that fails — or is itself a
//! delete — removes its key from the filtered table: a tombstone is emitted
//! when the key was present downstream, and nothing otherwise, as ksqlDB's
//! materialized table filter does. State: the set of keys present, in the
//! changelog as one record per present key (key `K` + the key's row format,
//! an empty value), a tombstone when it leaves.

use std::collections::HashSet;
use std::sync::Arc;

use ahash::RandomState;
use arrow::array::{Array, ArrayRef, BooleanArray, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};

use super::{Operator, OperatorContext};
use crate::error::{Error, Result};
use crate::runtime::state::StateWriter;

/// Keeps the rows whose `keep` column is true; turns the others into
/// tombstones for the keys it had passed.
pub struct TableFilter {
    input: SchemaRef,
    key_columns: Vec<usize>,
    keep_column: usize,
    null_row_column: usize,
    /// Input columns passed on, in output order (all but `keep`).
    output_columns: Vec<usize>,
    schema: SchemaRef,
    converter: RowConverter,
    present: HashSet<Box<[u8]>, RandomState>,
    /// Keys that entered or left since the last checkpoint, when the
    /// changelog is on.
    changed: Option<HashSet<Box<[u8]>, RandomState>>,
}

impl TableFilter {
    /// A filter over batches of `input` schema: `key_columns` identify a
    /// row, `keep_column` says whether it passes, `null_row_column` flags
    /// deletes. The output drops `keep_column`.
    pub fn new(
        input: &SchemaRef,
        key_columns: Vec<usize>,
        keep_column: usize,
        null_row_column: usize,
    ) -> Result<Self> {
        let converter = RowConverter::new(
            key_columns
                .iter()
                .map(|&i| SortField::new(input.field(i).data_type().clone()))
                .collect(),
        )?;
        let output_columns: Vec<usize> = (0..input.fields().len())
            .filter(|&i| i != keep_column)
            .collect();
        let schema = Arc::new(input.project(&output_columns)?);
        Ok(Self {
            input: Arc::clone(input),
            key_columns,
            keep_column,
            null_row_column,
            output_columns,
            schema,
            converter,
            present: HashSet::default(),
            changed: None,
        })
    }

    /// The schema of the batches it emits.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

impl Operator for TableFilter {
    fn name(&self) -> &'static str {
        "TableFilter"
    }

    fn process(
        &mut self,
        batch: RecordBatch,
        _ctx: &OperatorContext<'_>,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        let flag = |i: usize| -> Result<&BooleanArray> {
            batch
                .column(i)
                .as_any()
                .downcast_ref::<BooleanArray>()
                .ok_or_else(|| Error::internal("table filter flag column is not BOOLEAN"))
        };
        let keep = flag(self.keep_column)?;
        let deleted = flag(self.null_row_column)?;
        let keys: Vec<ArrayRef> = self
            .key_columns
            .iter()
            .map(|&i| Arc::clone(batch.column(i)))
            .collect();
        let rows = self.converter.convert_columns(&keys)?;
        let mut indices = Vec::new();
        let mut tombstones = Vec::new();
        for row in 0..batch.num_rows() {
            let passes = keep.is_valid(row)
                && keep.value(row)
                && !(deleted.is_valid(row) && deleted.value(row));
            let key = rows.row(row);
            if passes {
                if !self.present.contains(key.as_ref()) {
                    self.present.insert(key.as_ref().into());
                    if let Some(changed) = &mut self.changed {
                        changed.insert(key.as_ref().into());
                    }
                }
                indices.push(row as u32);
                tombstones.push(false);
            } else if self.present.remove(key.as_ref()) {
                if let Some(changed) = &mut self.changed {
                    changed.insert(key.as_ref().into());
                }
                indices.push(row as u32);
                tombstones.push(true);
            }
        }
        if indices.is_empty() {
            return Ok(());
        }
        let indices = UInt32Array::from(indices);
        let mut columns = Vec::with_capacity(self.output_columns.len());
        for &i in &self.output_columns {
            if i == self.null_row_column {
                columns.push(Arc::new(BooleanArray::from(tombstones.clone())) as ArrayRef);
            } else {
                columns.push(take(batch.column(i).as_ref(), &indices, None)?);
            }
        }
        out.push(RecordBatch::try_new(Arc::clone(&self.schema), columns)?);
        Ok(())
    }

    fn fork(&self) -> Result<Box<dyn Operator>> {
        Ok(Box::new(TableFilter::new(
            &self.input,
            self.key_columns.clone(),
            self.keep_column,
            self.null_row_column,
        )?))
    }

    fn state_layout(&self) -> Option<String> {
        let keys: Vec<String> = self
            .key_columns
            .iter()
            .map(|&i| self.input.field(i).data_type().to_string())
            .collect();
        Some(format!("table-filter/1 keys [{}]", keys.join(", ")))
    }

    fn changelog_name(&self) -> Option<&'static str> {
        Some("Filter-Materialize")
    }

    fn enable_changelog(&mut self) {
        self.changed.get_or_insert_with(HashSet::default);
    }

    fn checkpoint(&mut self, out: &mut StateWriter) -> Result<()> {
        let Some(changed) = &mut self.changed else {
            return Ok(());
        };
        for key in changed.drain() {
            if self.present.contains(&key) {
                out.put(&[b"K", &key], &[]);
            } else {
                out.delete(&[b"K", &key]);
            }
        }
        Ok(())
    }

    fn restore(&mut self, _partition: i32, records: &[(&[u8], &[u8])]) -> Result<()> {
        for (key, _) in records {
            match key.split_first() {
                Some((b'K', key)) => {
                    self.present.insert((*key).into());
                }
                _ => {
                    return Err(Error::external(
                        "the table filter's changelog has a record of unknown kind",
                    ))
                }
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "keep rows passing the filter, tombstones for keys that stop passing; {} keys \
             present",
            self.present.len()
        )
    }
}
