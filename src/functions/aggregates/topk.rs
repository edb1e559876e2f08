//! TOPK and TOPKDISTINCT: the k largest values, largest first.
//!
//! - `TOPK(col, k)`: ARRAY of the k largest non-null values (repeats kept;
//!   among equal values the earlier comes first).
//! - `TOPK(col, other1, …, k)`: ARRAY<STRUCT<sort_col, col0, col1, …>>, the
//!   rows with the k largest `col`, carrying the other columns along.
//! - `TOPKDISTINCT(col, k)`: ARRAY of the k largest distinct values.
//!
//! `k` is a literal of at least 1. `col` may be INT, BIGINT, DOUBLE, STRING
//! (ksqlDB's TOPK), and also DECIMAL, BYTES, DATE, TIME, TIMESTAMP (ksqlDB's
//! TOPKDISTINCT). Each batch is sorted once (largest first, ties by arrival)
//! and merged into the kept list. Neither can undo.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::{make_comparator, Array, ArrayRef, AsArray, StructArray, UInt32Array};
use arrow::compute::{lexsort_to_indices, take, SortColumn, SortOptions};
use arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{exec_datafusion_err, internal_datafusion_err, Result, ScalarValue};
use datafusion::logical_expr::Accumulator;

use super::key;
use super::udaf::{
    element_type, input, list_of_scalars, list_type, owned_scalar, scalars_size, state_column,
    Call, Spec,
};
use crate::functions::udf::{bad_args, normalize};

pub(super) fn specs() -> Vec<Spec> {
    vec![
        Spec::new("topk", coerce_topk, ret, state, TopK::make),
        Spec::new(
            "topkdistinct",
            coerce_distinct,
            ret,
            state,
            TopK::make_distinct,
        ),
    ]
}

fn sortable(t: &DataType) -> Option<DataType> {
    let t = normalize(t);
    matches!(
        t,
        DataType::Int32
            | DataType::Int64
            | DataType::Float64
            | DataType::Utf8
            | DataType::Decimal128(..)
            | DataType::Binary
            | DataType::Date32
            | DataType::Time32(_)
            | DataType::Timestamp(..)
    )
    .then_some(t)
}

fn coerce_topk(name: &str, args: &[DataType]) -> Result<Vec<DataType>> {
    let (Some(first), Some(k)) = (args.first(), args.last()) else {
        return Err(bad_args(name, args));
    };
    let Some(sort) = sortable(first) else {
        return Err(bad_args(name, args));
    };
    if args.len() < 2 || !k.is_integer() {
        return Err(bad_args(name, args));
    }
    let mut out = vec![sort];
    out.extend(args[1..args.len() - 1].iter().map(normalize));
    out.push(k.clone());
    Ok(out)
}

fn coerce_distinct(name: &str, args: &[DataType]) -> Result<Vec<DataType>> {
    if args.len() != 2 {
        return Err(bad_args(name, args));
    }
    coerce_topk(name, args)
}

/// The element type: the sorted column's, or the STRUCT with the others.
fn element(args: &[DataType]) -> Result<DataType> {
    let Some((sort, rest)) = args.split_first() else {
        return Err(internal_datafusion_err!("TOPK without arguments"));
    };
    let others = &rest[..rest.len().saturating_sub(1)];
    if others.is_empty() {
        return Ok(sort.clone());
    }
    let mut fields = vec![Field::new("sort_col", sort.clone(), true)];
    fields.extend(
        others
            .iter()
            .enumerate()
            .map(|(i, t)| Field::new(format!("col{i}"), t.clone(), true)),
    );
    Ok(DataType::Struct(Fields::from(fields)))
}

fn ret(args: &[DataType]) -> Result<DataType> {
    Ok(list_type(&element(args)?))
}

fn state(_: &[DataType], ret: &DataType) -> Result<Vec<(&'static str, DataType)>> {
    Ok(vec![("values", ret.clone())])
}

/// One kept value: the sort value and the element returned.
type Entry = (ScalarValue, ScalarValue);

#[derive(Debug)]
struct TopK {
    k: usize,
    distinct: bool,
    /// The resolved types of the sorted column and the other columns.
    types: Vec<DataType>,
    element: DataType,
    /// Largest first; equal values in arrival order.
    entries: Vec<Entry>,
}

impl TopK {
    fn make(call: &Call) -> Result<Box<dyn Accumulator>> {
        Self::create(call, false)
    }

    fn make_distinct(call: &Call) -> Result<Box<dyn Accumulator>> {
        Self::create(call, true)
    }

    fn create(call: &Call, distinct: bool) -> Result<Box<dyn Accumulator>> {
        let last = call.types.len().saturating_sub(1);
        let k = call.int_literal(last)?;
        if k < 1 {
            return Err(exec_datafusion_err!(
                "Parameter {} passed to function {} must be 1 or greater, but was: {k}",
                last + 1,
                call.name
            ));
        }
        Ok(Box::new(TopK {
            k: usize::try_from(k).unwrap_or(usize::MAX),
            distinct,
            types: call.types[..last].to_vec(),
            element: element_type(&call.ret)?.clone(),
            entries: Vec::new(),
        }))
    }

    /// Merges `incoming` (largest first) into the kept entries, which win
    /// ties, keeping k (distinct) entries.
    fn merge_in(&mut self, incoming: Vec<Entry>) {
        let kept = std::mem::take(&mut self.entries);
        let mut out: Vec<Entry> = Vec::with_capacity(self.k.min(kept.len() + incoming.len()));
        let mut a = kept.into_iter().peekable();
        let mut b = incoming.into_iter().peekable();
        while out.len() < self.k {
            let take_a = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => key::cmp(&x.0, &y.0) != Ordering::Less,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let next = if take_a { a.next() } else { b.next() };
            let Some(next) = next else { break };
            let repeat = self.distinct
                && out
                    .last()
                    .is_some_and(|last| key::cmp(&last.0, &next.0) == Ordering::Equal);
            if !repeat {
                out.push(next);
            }
        }
        self.entries = out;
    }

    /// The rows of a batch that may enter: non-null sort values, largest
    /// first, ties by row; at most k (distinct) of them.
    fn candidates(&self, sort: &ArrayRef) -> Result<Vec<usize>> {
        let rows = UInt32Array::from_iter_values(0..sort.len() as u32);
        let columns = [
            SortColumn {
                values: Arc::clone(sort),
                options: Some(SortOptions {
                    descending: true,
                    nulls_first: false,
                }),
            },
            SortColumn {
                values: Arc::new(rows),
                options: None,
            },
        ];
        let limit = (!self.distinct).then_some(self.k);
        let sorted = lexsort_to_indices(&columns, limit)?;
        let compare = make_comparator(sort.as_ref(), sort.as_ref(), SortOptions::default())?;
        let mut out: Vec<usize> = Vec::new();
        for i in sorted.values().iter().map(|&i| i as usize) {
            if sort.is_null(i) || out.len() == self.k {
                break;
            }
            if self.distinct
                && out
                    .last()
                    .is_some_and(|&p| compare(p, i) == Ordering::Equal)
            {
                continue;
            }
            out.push(i);
        }
        Ok(out)
    }
}

impl Accumulator for TopK {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let columns: Vec<ArrayRef> = self
            .types
            .iter()
            .enumerate()
            .map(|(i, t)| input(values, i, t))
            .collect::<Result<_>>()?;
        let Some(sort) = columns.first() else {
            return Err(internal_datafusion_err!("TOPK without a column"));
        };
        let rows = self.candidates(sort)?;
        if rows.is_empty() {
            return Ok(());
        }
        let indices = UInt32Array::from_iter_values(rows.iter().map(|&r| r as u32));
        let sorted = take(sort.as_ref(), &indices, None)?;
        let elements: ArrayRef = match &self.element {
            DataType::Struct(fields) => {
                let taken: Vec<ArrayRef> = columns
                    .iter()
                    .map(|c| take(c.as_ref(), &indices, None))
                    .collect::<std::result::Result<_, _>>()?;
                Arc::new(StructArray::try_new(fields.clone(), taken, None)?)
            }
            _ => Arc::clone(&sorted),
        };
        let mut incoming = Vec::with_capacity(rows.len());
        for i in 0..rows.len() {
            incoming.push((
                owned_scalar(sorted.as_ref(), i)?,
                owned_scalar(elements.as_ref(), i)?,
            ));
        }
        self.merge_in(incoming);
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists = state_column(states, 0)?.as_list::<i32>();
        for row in 0..lists.len() {
            if lists.is_null(row) {
                continue;
            }
            let elements = input(&[lists.value(row)], 0, &self.element)?;
            let sorts = match elements.as_struct_opt() {
                Some(s) => Arc::clone(s.column(0)),
                None => Arc::clone(&elements),
            };
            let mut incoming = Vec::with_capacity(elements.len());
            for i in 0..elements.len() {
                if sorts.is_valid(i) {
                    incoming.push((
                        owned_scalar(sorts.as_ref(), i)?,
                        owned_scalar(elements.as_ref(), i)?,
                    ));
                }
            }
            self.merge_in(incoming);
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let elements: Vec<ScalarValue> = self.entries.iter().map(|(_, e)| e.clone()).collect();
        list_of_scalars(&elements, &self.element)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.entries.capacity() * std::mem::size_of::<Entry>()
            + scalars_size(self.entries.iter().flat_map(|(s, e)| [s, e]))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use datafusion::common::ScalarValue;

    fn k(v: i64) -> ScalarValue {
        ScalarValue::Int64(Some(v))
    }

    #[test]
    fn topk_keeps_repeats() {
        let mut acc = accumulator_lit("topk", &[int32s(&[])], &[k(3)]);
        let mut out = Vec::new();
        for v in [0, 100, 99, 7, 100] {
            acc.update_batch(&[int32s(&[Some(v)])]).unwrap();
            out.push(show(&eval(&mut acc)));
        }
        assert_eq!(
            out,
            [
                "[0]",
                "[100, 0]",
                "[100, 99, 0]",
                "[100, 99, 7]",
                "[100, 100, 99]"
            ]
        );
        let mut batch = accumulator_lit("topk", &[strings(&[])], &[k(3)]);
        batch
            .update_batch(&[strings(&[
                Some("a"),
                Some("b"),
                None,
                Some("c"),
                Some("b"),
                Some("d"),
            ])])
            .unwrap();
        assert_eq!(show(&eval(&mut batch)), "[d, c, b]");
        assert!(!batch.supports_retract_batch());
        let mut other = accumulator_lit("topk", &[strings(&[])], &[k(3)]);
        other
            .update_batch(&[strings(&[Some("cc"), Some("a")])])
            .unwrap();
        assert_eq!(show(&merged(&mut batch, &mut other)), "[d, cc, c]");
    }

    #[test]
    fn topk_with_other_columns() {
        let mut acc = accumulator_lit("topk", &[int32s(&[]), strings(&[])], &[k(3)]);
        let rows = [
            (Some(0), Some("zero")),
            (Some(100), Some("one")),
            (Some(99), Some("two")),
            (None, Some("three")),
            (Some(100), None),
        ];
        let mut out = Vec::new();
        for (v, name) in rows {
            acc.update_batch(&[int32s(&[v]), strings(&[name])]).unwrap();
            out.push(show(&eval(&mut acc)));
        }
        assert_eq!(
            out.last().unwrap(),
            "[{sort_col: 100, col0: one}, {sort_col: 100, col0: }, {sort_col: 99, col0: two}]"
        );
        assert_eq!(out[3], out[2]);
    }

    #[test]
    fn topkdistinct() {
        let mut acc = accumulator_lit("topkdistinct", &[int32s(&[])], &[k(3)]);
        acc.update_batch(&[int32s(&[Some(9), Some(9), Some(9), Some(8), None, Some(8)])])
            .unwrap();
        assert_eq!(show(&eval(&mut acc)), "[9, 8]");
        acc.update_batch(&[int32s(&[Some(7), Some(9), Some(10)])])
            .unwrap();
        assert_eq!(show(&eval(&mut acc)), "[10, 9, 8]");
        let mut other = accumulator_lit("topkdistinct", &[int32s(&[])], &[k(3)]);
        other
            .update_batch(&[int32s(&[Some(10), Some(8), Some(11)])])
            .unwrap();
        assert_eq!(show(&merged(&mut acc, &mut other)), "[11, 10, 9]");

        let mut dec = accumulator_lit("topkdistinct", &[decimals(&[], 2, 1)], &[k(3)]);
        dec.update_batch(&[decimals(
            &[Some(98), Some(89), None, Some(78), Some(65), Some(99)],
            2,
            1,
        )])
        .unwrap();
        assert_eq!(show(&eval(&mut dec)), "[9.9, 9.8, 8.9]");
    }

    #[test]
    fn k_must_be_positive() {
        use arrow::datatypes::DataType;
        let topk = super::super::aggregate_udfs_with(&Default::default())
            .into_iter()
            .find(|u| u.name() == "topk")
            .unwrap();
        assert!(topk.return_type(&[DataType::Int32]).is_err());
        assert!(topk
            .return_type(&[DataType::Boolean, DataType::Int32])
            .is_err());
    }
}
