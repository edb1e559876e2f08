//! Table functions (`EXPLODE`, `CUBE_EXPLODE`): each input row becomes one
//! output row per element of its list columns.
//!
//! Several list columns are zipped, as ksqlDB does: row `i` yields as many
//! rows as its longest list, the shorter lists padded with null. A null or
//! empty list yields nothing. The other columns repeat. The whole batch is
//! done with two `take` kernels per column, never row by row.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, ListArray, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use super::{Operator, OperatorContext};
use crate::error::{Error, Result};

/// Replaces list columns by their elements, one output row per element.
#[derive(Clone)]
pub struct Explode {
    /// The input columns holding the lists; each becomes its element column
    /// at the same position.
    pub lists: Vec<usize>,
    /// The output schema: the input's, with element types at `lists`.
    pub schema: SchemaRef,
}

impl Explode {
    fn explode(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let lists = self
            .lists
            .iter()
            .map(|&i| {
                batch
                    .columns()
                    .get(i)
                    .and_then(|c| c.as_any().downcast_ref::<ListArray>())
                    .ok_or_else(|| Error::internal(format!("table function input {i} is no list")))
            })
            .collect::<Result<Vec<_>>>()?;
        let length = |l: &ListArray, row: usize| {
            if l.is_valid(row) {
                l.value_length(row) as usize
            } else {
                0
            }
        };
        // The row each output row repeats, and its element position.
        let mut rows: Vec<u32> = Vec::new();
        let mut positions: Vec<usize> = Vec::new();
        for row in 0..batch.num_rows() {
            let n = lists.iter().map(|l| length(l, row)).max().unwrap_or(0);
            for k in 0..n {
                rows.push(row as u32);
                positions.push(k);
            }
        }
        let repeat = UInt32Array::from(rows);
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
        for (i, column) in batch.columns().iter().enumerate() {
            match self.lists.iter().position(|&l| l == i) {
                Some(li) => {
                    let list = lists[li];
                    let offsets = list.value_offsets();
                    let indices: UInt32Array = repeat
                        .values()
                        .iter()
                        .zip(&positions)
                        .map(|(&row, &k)| {
                            let row = row as usize;
                            (k < length(list, row)).then(|| offsets[row] as u32 + k as u32)
                        })
                        .collect();
                    columns.push(take(list.values().as_ref(), &indices, None)?);
                }
                None => columns.push(take(column.as_ref(), &repeat, None)?),
            }
        }
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(repeat.len())),
        )?)
    }
}

impl Operator for Explode {
    fn name(&self) -> &'static str {
        "Explode"
    }

    fn fork(&self) -> Result<Box<dyn Operator>> {
        Ok(Box::new(self.clone()))
    }

    fn process(
        &mut self,
        batch: RecordBatch,
        _ctx: &OperatorContext<'_>,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        let exploded = self.explode(&batch)?;
        if exploded.num_rows() > 0 {
            out.push(exploded);
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let names: Vec<&str> = self
            .lists
            .iter()
            .filter_map(|&i| self.schema.fields().get(i).map(|f| f.name().as_str()))
            .collect();
        format!("explode: {}", names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};

    #[test]
    fn zips_lists_and_pads_the_shorter_with_null() {
        let a = ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            None,
            Some(vec![Some(5)]),
        ]);
        let b = ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
            Some(vec![Some(10), Some(11), Some(12)]),
            Some(vec![]),
            None,
        ]);
        let id = Int32Array::from(vec![7, 8, 9]);
        let input = Schema::new(vec![
            Field::new("ID", DataType::Int32, true),
            Field::new("A", a.data_type().clone(), true),
            Field::new("B", b.data_type().clone(), true),
        ]);
        let output = Arc::new(Schema::new(vec![
            Field::new("ID", DataType::Int32, true),
            Field::new("A", DataType::Int64, true),
            Field::new("B", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::new(input),
            vec![Arc::new(id), Arc::new(a), Arc::new(b)],
        )
        .unwrap();
        let op = Explode {
            lists: vec![1, 2],
            schema: output,
        };
        let out = op.explode(&batch).unwrap();
        let ids = out.column(0).as_any().downcast_ref::<Int32Array>().unwrap();
        let a = out.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        let b = out.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(
            ids.iter().collect::<Vec<_>>(),
            [Some(7), Some(7), Some(7), Some(9)]
        );
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            [Some(1), Some(2), None, Some(5)]
        );
        assert_eq!(
            b.iter().collect::<Vec<_>>(),
            [Some(10), Some(11), Some(12), None]
        );
    }

    #[test]
    fn a_batch_of_empty_lists_gives_no_rows() {
        let a =
            ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
                Some(Vec::<Option<i64>>::new()),
            ]);
        let s = StringArray::from(vec!["x"]);
        let input = Schema::new(vec![
            Field::new("S", DataType::Utf8, true),
            Field::new("A", a.data_type().clone(), true),
        ]);
        let batch = RecordBatch::try_new(Arc::new(input), vec![Arc::new(s), Arc::new(a)]).unwrap();
        let op = Explode {
            lists: vec![1],
            schema: Arc::new(Schema::new(vec![
                Field::new("S", DataType::Utf8, true),
                Field::new("A", DataType::Int64, true),
            ])),
        };
        assert_eq!(op.explode(&batch).unwrap().num_rows(), 0);
    }
}
