//! A filter over a table's changelog (HAVING, or WHERE over a table).
//!
//! A row that passes is an upsert. A row that fails — or is itself a
//! delete — removes its key from the filtered table: a tombstone is emitted
//! when the key was present downstream, and nothing otherwise, as ksqlDB's
//! materialized table filter does. State: the set of keys present.

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

/// Keeps the rows whose `keep` column is true; turns the others into
/// tombstones for the keys it had passed.
pub struct TableFilter {
    key_columns: Vec<usize>,
    keep_column: usize,
    null_row_column: usize,
    /// Input columns passed on, in output order (all but `keep`).
    output_columns: Vec<usize>,
    schema: SchemaRef,
    converter: RowConverter,
    present: HashSet<Box<[u8]>, RandomState>,
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
            key_columns,
            keep_column,
            null_row_column,
            output_columns,
            schema,
            converter,
            present: HashSet::default(),
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
                }
                indices.push(row as u32);
                tombstones.push(false);
            } else if self.present.remove(key.as_ref()) {
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

    fn describe(&self) -> String {
        format!(
            "keep rows passing the filter, tombstones for keys that stop passing; {} keys \
             present",
            self.present.len()
        )
    }
}
