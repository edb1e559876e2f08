//! The combinations behind `CUBE_EXPLODE(list)`: every list that keeps some
//! elements of the input and sets the others to null. The planner explodes
//! the result, so CUBE_EXPLODE is `EXPLODE(cube(list))`; this function is
//! not registered under a name of its own.
//!
//! The order is ksqlDB's: counting in binary over the positions, the first
//! element being the most significant, a set bit keeping the element. A
//! combination keeping a null element equals the one that drops it, so it
//! is left out.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, ListArray, UInt32Array};
use arrow::buffer::OffsetBuffer;
use arrow::compute::take;
use arrow::datatypes::{DataType, Field};
use datafusion::common::{exec_err, plan_err, Result};
use datafusion::logical_expr::ScalarUDF;

use super::udf::{arg, overloads, KsqlUdf, P};

/// The most elements a list may have: 2^20 combinations.
const MAX_ELEMENTS: usize = 20;

/// `cube(ARRAY<T>) → ARRAY<ARRAY<T>>`.
pub fn cube_combinations() -> Arc<ScalarUDF> {
    KsqlUdf::new("cube_explode", overloads!([P::Array]), ret, eval).udf()
}

fn ret(args: &[DataType]) -> Result<DataType> {
    match args.first() {
        Some(t @ DataType::List(_)) => Ok(DataType::List(Arc::new(Field::new_list_field(
            t.clone(),
            true,
        )))),
        other => plan_err!("CUBE_EXPLODE needs an ARRAY, not {other:?}"),
    }
}

fn eval(args: &[ArrayRef], ret: &DataType, rows: usize) -> Result<ArrayRef> {
    let list = arg::<ListArray>(args, 0)?;
    let (DataType::List(outer_field), DataType::List(inner_field)) = (ret, list.data_type()) else {
        return exec_err!(
            "CUBE_EXPLODE: unexpected types {ret} and {}",
            list.data_type()
        );
    };
    let values = list.values();
    let offsets = list.value_offsets();
    let mut indices: Vec<Option<u32>> = Vec::new();
    let mut inner_offsets: Vec<i32> = vec![0];
    let mut outer_offsets: Vec<i32> = vec![0];
    for (row, &offset) in offsets.iter().enumerate().take(rows) {
        if list.is_valid(row) {
            let start = offset as usize;
            let n = list.value_length(row) as usize;
            if n > MAX_ELEMENTS {
                return exec_err!(
                    "CUBE_EXPLODE takes at most {MAX_ELEMENTS} elements, got {n} \
                     (2^{n} combinations)"
                );
            }
            let nulls: Vec<bool> = (0..n).map(|i| values.is_null(start + i)).collect();
            for mask in 0u32..(1 << n) {
                let keeps = |i: usize| mask & (1 << (n - 1 - i)) != 0;
                if (0..n).any(|i| keeps(i) && nulls[i]) {
                    continue;
                }
                indices.extend((0..n).map(|i| keeps(i).then_some((start + i) as u32)));
                inner_offsets.push(indices.len() as i32);
            }
        }
        outer_offsets.push(inner_offsets.len() as i32 - 1);
    }
    let items = take(values.as_ref(), &UInt32Array::from(indices), None)?;
    let inner = ListArray::try_new(
        Arc::clone(inner_field),
        OffsetBuffer::new(inner_offsets.into()),
        items,
        None,
    )?;
    Ok(Arc::new(ListArray::try_new(
        Arc::clone(outer_field),
        OffsetBuffer::new(outer_offsets.into()),
        Arc::new(inner),
        list.nulls().cloned(),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int32Array;
    use arrow::datatypes::Int32Type;

    fn render(a: &ArrayRef) -> Vec<Vec<Vec<Option<i32>>>> {
        let outer = a.as_any().downcast_ref::<ListArray>().unwrap();
        (0..outer.len())
            .map(|r| {
                let inner = outer.value(r);
                let inner = inner.as_any().downcast_ref::<ListArray>().unwrap();
                (0..inner.len())
                    .map(|i| {
                        let v = inner.value(i);
                        let v = v.as_any().downcast_ref::<Int32Array>().unwrap();
                        v.iter().collect()
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn combinations_in_binary_order_without_duplicates_from_nulls() {
        let input: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            Some(vec![Some(1), None]),
        ]));
        let ret = ret(&[input.data_type().clone()]).unwrap();
        let out = eval(&[input], &ret, 2).unwrap();
        assert_eq!(
            render(&out),
            vec![
                vec![
                    vec![None, None],
                    vec![None, Some(2)],
                    vec![Some(1), None],
                    vec![Some(1), Some(2)]
                ],
                vec![vec![None, None], vec![Some(1), None]],
            ]
        );
    }
}
