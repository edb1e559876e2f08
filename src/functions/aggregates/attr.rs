//! ATTR(col): the value when every row holds the same one, else null.
//!
//! Null counts as a value (a null and a "1" make two values, so the result
//! is null). As in ksqlDB, each distinct value is counted, so ATTR can undo:
//! over a table, once the rows holding the odd value are gone the remaining
//! value is the result again. Values compare by [`key::encode`]'s canonical
//! bytes (any type, MAPs whatever their key order).

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{internal_datafusion_err, Result, ScalarValue};
use datafusion::logical_expr::Accumulator;

use super::key;
use super::udaf::{
    input, list_of_scalars, list_type, owned_scalar, scalars_size, state_column, Call, Spec,
};
use crate::functions::udf::{bad_args, normalize};

pub(super) fn specs() -> Vec<Spec> {
    vec![Spec::new("attr", coerce, same_type, state, Attr::make).table()]
}

fn coerce(name: &str, args: &[DataType]) -> Result<Vec<DataType>> {
    match args {
        [t] => Ok(vec![normalize(t)]),
        _ => Err(bad_args(name, args)),
    }
}

fn same_type(args: &[DataType]) -> Result<DataType> {
    args.first()
        .cloned()
        .ok_or_else(|| internal_datafusion_err!("ATTR without an argument"))
}

fn state(args: &[DataType], _: &DataType) -> Result<Vec<(&'static str, DataType)>> {
    Ok(vec![
        ("values", list_type(&same_type(args)?)),
        ("counts", list_type(&DataType::Int64)),
    ])
}

/// A distinct value, its canonical bytes and how many rows hold it (0 once
/// all were undone).
#[derive(Debug)]
struct Seen {
    key: Vec<u8>,
    value: ScalarValue,
    count: i64,
}

#[derive(Debug)]
struct Attr {
    element: DataType,
    seen: Vec<Seen>,
}

impl Attr {
    fn make(call: &Call) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Attr {
            element: call.arg_type(0)?.clone(),
            seen: Vec::new(),
        }))
    }

    /// Adds `n` (negative to undo) rows holding `array[row]`; counts stay at
    /// least 0 and an undone value never seen is ignored.
    fn count(&mut self, array: &dyn Array, row: usize, n: i64) -> Result<()> {
        let k = key::key(array, row)?;
        if let Some(s) = self.seen.iter_mut().find(|s| s.key == k) {
            s.count = (s.count + n).max(0);
        } else if n > 0 {
            self.seen.push(Seen {
                key: k,
                value: owned_scalar(array, row)?,
                count: n,
            });
        }
        Ok(())
    }
}

impl Accumulator for Attr {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let array = input(values, 0, &self.element)?;
        for row in 0..array.len() {
            self.count(array.as_ref(), row, 1)?;
        }
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let array = input(values, 0, &self.element)?;
        for row in 0..array.len() {
            self.count(array.as_ref(), row, -1)?;
        }
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let values = state_column(states, 0)?.as_list::<i32>();
        let counts = state_column(states, 1)?.as_list::<i32>();
        for row in 0..values.len().min(counts.len()) {
            if values.is_null(row) || counts.is_null(row) {
                continue;
            }
            let v = input(&[values.value(row)], 0, &self.element)?;
            let c = counts.value(row);
            let c = c.as_primitive::<Int64Type>();
            for i in 0..v.len().min(c.len()) {
                if c.is_valid(i) {
                    self.count(v.as_ref(), i, c.value(i))?;
                }
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let values: Vec<ScalarValue> = self.seen.iter().map(|s| s.value.clone()).collect();
        let counts: Vec<ScalarValue> = self
            .seen
            .iter()
            .map(|s| ScalarValue::Int64(Some(s.count)))
            .collect();
        Ok(vec![
            list_of_scalars(&values, &self.element)?,
            list_of_scalars(&counts, &DataType::Int64)?,
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let mut held = self.seen.iter().filter(|s| s.count > 0);
        match (held.next(), held.next()) {
            (Some(only), None) => Ok(only.value.clone()),
            _ => ScalarValue::try_from(&self.element),
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.seen.capacity() * std::mem::size_of::<Seen>()
            + self.seen.iter().map(|s| s.key.capacity()).sum::<usize>()
            + scalars_size(self.seen.iter().map(|s| &s.value))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;

    fn run(batches: &[(&[Option<&str>], bool)]) -> Vec<String> {
        let mut acc = accumulator("attr", &[strings(&[])]);
        batches
            .iter()
            .map(|(rows, undo)| {
                if *undo {
                    acc.retract_batch(&[strings(rows)]).unwrap();
                } else {
                    acc.update_batch(&[strings(rows)]).unwrap();
                }
                show(&eval(&mut acc))
            })
            .collect()
    }

    #[test]
    fn one_value_or_null() {
        assert_eq!(
            run(&[(&[Some("s")], false), (&[Some("s")], false)]),
            ["s", "s"]
        );
        assert_eq!(run(&[(&[None], false), (&[None], false)]), ["NULL", "NULL"]);
        assert_eq!(
            run(&[
                (&[Some("1")], false),
                (&[Some("2")], false),
                (&[Some("3")], false)
            ]),
            ["1", "NULL", "NULL"]
        );
        assert_eq!(
            run(&[
                (&[Some("1")], false),
                (&[None], false),
                (&[Some("1")], false)
            ]),
            ["1", "NULL", "NULL"]
        );
    }

    #[test]
    fn undo_over_a_table() {
        // k1=1, k2=1, k1 deleted, k2 deleted, k1=2, k2=3, k2 deleted.
        let out = run(&[
            (&[Some("1")], false),
            (&[Some("1")], false),
            (&[Some("1")], true),
            (&[Some("1")], true),
            (&[Some("2")], false),
            (&[Some("3")], false),
            (&[Some("3")], true),
        ]);
        assert_eq!(out, ["1", "1", "1", "NULL", "2", "NULL", "2"]);
    }

    #[test]
    fn merges() {
        let mut a = accumulator("attr", &[int32s(&[])]);
        a.update_batch(&[int32s(&[Some(1), Some(1)])]).unwrap();
        let mut b = accumulator("attr", &[int32s(&[])]);
        b.update_batch(&[int32s(&[Some(1)])]).unwrap();
        assert_eq!(show(&merged(&mut a, &mut b)), "1");
        a.retract_batch(&[int32s(&[Some(1), Some(1)])]).unwrap();
        assert_eq!(show(&eval(&mut a)), "1");
        let mut c = accumulator("attr", &[int32s(&[])]);
        c.update_batch(&[int32s(&[Some(2)])]).unwrap();
        assert_eq!(show(&merged(&mut a, &mut c)), "NULL");
    }
}
