//! COUNT and COUNT_DISTINCT.
//!
//! `COUNT(col)` counts the rows where `col` is not null; `COUNT(*)` and
//! `COUNT()` reach us as `COUNT(1)` (DataFusion's SQL planner rewrites them),
//! so they count every row. COUNT can undo.
//!
//! `COUNT_DISTINCT(col)` counts distinct non-null values. ksqlDB estimates
//! with a HyperLogLog (error under 1%); here the count is exact up to
//! [`EXACT_LIMIT`] distinct values (64-bit hashes are kept), after which the
//! hashes fold into a HyperLogLog of 2^14 one-byte registers (16 KiB), so a
//! group's state stays bounded. It cannot undo.

use std::collections::HashSet;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{exec_datafusion_err, Result, ScalarValue};
use datafusion::logical_expr::Accumulator;

use super::key;
use super::udaf::{state_column, Call, Spec};
use crate::functions::udf::bad_args;

pub(super) fn specs() -> Vec<Spec> {
    vec![
        Spec::new("count", one_arg, bigint, count_state, Count::make)
            .table()
            .never_null()
            .primitive_state(),
        Spec::new(
            "count_distinct",
            one_arg,
            bigint,
            distinct_state,
            CountDistinct::make,
        )
        .never_null(),
    ]
}

fn one_arg(name: &str, args: &[DataType]) -> Result<Vec<DataType>> {
    match args {
        [t] => Ok(vec![t.clone()]),
        _ => Err(bad_args(name, args)),
    }
}

fn bigint(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Int64)
}

fn count_state(_: &[DataType], _: &DataType) -> Result<Vec<(&'static str, DataType)>> {
    Ok(vec![("count", DataType::Int64)])
}

fn distinct_state(_: &[DataType], _: &DataType) -> Result<Vec<(&'static str, DataType)>> {
    Ok(vec![("sketch", DataType::Binary)])
}

/// Rows whose first argument is not null.
fn non_null(values: &[ArrayRef]) -> Result<i64> {
    let array = values
        .first()
        .ok_or_else(|| exec_datafusion_err!("COUNT called without an argument"))?;
    Ok((array.len() - array.logical_null_count()) as i64)
}

#[derive(Debug, Default)]
struct Count {
    count: i64,
}

impl Count {
    fn make(_: &Call) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Count::default()))
    }
}

impl Accumulator for Count {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.count += non_null(values)?;
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.count -= non_null(values)?;
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let counts = state_column(states, 0)?.as_primitive::<Int64Type>();
        self.count += arrow::compute::sum(counts).unwrap_or(0);
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Int64(Some(self.count))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(self.count)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

/// Distinct values are counted exactly up to this many.
const EXACT_LIMIT: usize = 1024;
/// log2 of the number of HyperLogLog registers.
const P: u32 = 14;
const REGISTERS: usize = 1 << P;

/// The distinct values seen: their hashes, or a HyperLogLog sketch.
#[derive(Debug)]
enum Sketch {
    Exact(HashSet<u64>),
    Registers(Vec<u8>),
}

impl Sketch {
    fn add(&mut self, hash: u64) {
        match self {
            Sketch::Exact(set) => {
                set.insert(hash);
                if set.len() > EXACT_LIMIT {
                    let mut registers = vec![0u8; REGISTERS];
                    for h in set.iter() {
                        observe(&mut registers, *h);
                    }
                    *self = Sketch::Registers(registers);
                }
            }
            Sketch::Registers(registers) => observe(registers, hash),
        }
    }

    fn count(&self) -> i64 {
        match self {
            Sketch::Exact(set) => set.len() as i64,
            Sketch::Registers(registers) => estimate(registers),
        }
    }

    /// Tag 0 and the sorted hashes, or tag 1 and the registers.
    fn encode(&self) -> Vec<u8> {
        match self {
            Sketch::Exact(set) => {
                let mut hashes: Vec<u64> = set.iter().copied().collect();
                hashes.sort_unstable();
                let mut out = Vec::with_capacity(1 + 8 * hashes.len());
                out.push(0);
                for h in hashes {
                    out.extend_from_slice(&h.to_le_bytes());
                }
                out
            }
            Sketch::Registers(registers) => {
                let mut out = Vec::with_capacity(1 + registers.len());
                out.push(1);
                out.extend_from_slice(registers);
                out
            }
        }
    }

    fn merge_encoded(&mut self, bytes: &[u8]) -> Result<()> {
        match bytes.split_first() {
            Some((0, hashes)) if hashes.len() % 8 == 0 => {
                for chunk in hashes.chunks_exact(8) {
                    let mut h = [0u8; 8];
                    h.copy_from_slice(chunk);
                    self.add(u64::from_le_bytes(h));
                }
                Ok(())
            }
            Some((1, other)) if other.len() == REGISTERS => {
                if let Sketch::Exact(set) = self {
                    let mut registers = vec![0u8; REGISTERS];
                    for h in set.iter() {
                        observe(&mut registers, *h);
                    }
                    *self = Sketch::Registers(registers);
                }
                if let Sketch::Registers(registers) = self {
                    for (r, o) in registers.iter_mut().zip(other) {
                        *r = (*r).max(*o);
                    }
                }
                Ok(())
            }
            _ => Err(exec_datafusion_err!(
                "COUNT_DISTINCT: malformed state of {} bytes",
                bytes.len()
            )),
        }
    }

    fn size(&self) -> usize {
        match self {
            Sketch::Exact(set) => set.capacity() * (std::mem::size_of::<u64>() + 1),
            Sketch::Registers(registers) => registers.capacity(),
        }
    }
}

/// Records a hash in the registers: the low `P` bits pick a register, which
/// keeps the largest position of the first set bit in the rest.
fn observe(registers: &mut [u8], hash: u64) {
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rank = ((hash >> P) | (1 << (64 - P))).trailing_zeros() + 1;
    if let Some(r) = registers.get_mut(index) {
        *r = (*r).max(rank as u8);
    }
}

/// The HyperLogLog estimate, with linear counting for small cardinalities.
fn estimate(registers: &[u8]) -> i64 {
    let m = registers.len() as f64;
    let alpha = 0.7213 / (1.0 + 1.079 / m);
    let sum: f64 = registers.iter().map(|&r| (-f64::from(r)).exp2()).sum();
    let raw = alpha * m * m / sum;
    let zeros = registers.iter().filter(|&&r| r == 0).count();
    let estimate = if raw <= 2.5 * m && zeros > 0 {
        m * (m / zeros as f64).ln()
    } else {
        raw
    };
    estimate.round() as i64
}

#[derive(Debug)]
struct CountDistinct {
    sketch: Sketch,
    scratch: Vec<u8>,
}

impl CountDistinct {
    fn make(_: &Call) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(CountDistinct {
            sketch: Sketch::Exact(HashSet::new()),
            scratch: Vec::new(),
        }))
    }
}

impl Accumulator for CountDistinct {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let array = values
            .first()
            .ok_or_else(|| exec_datafusion_err!("COUNT_DISTINCT called without an argument"))?;
        for row in 0..array.len() {
            if array.is_null(row) {
                continue;
            }
            self.scratch.clear();
            key::encode(array.as_ref(), row, &mut self.scratch)?;
            self.sketch.add(key::hash64(&self.scratch));
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let sketches = state_column(states, 0)?.as_binary::<i32>();
        for bytes in sketches.iter().flatten() {
            self.sketch.merge_encoded(bytes)?;
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(Some(self.sketch.encode()))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(self.sketch.count())))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.sketch.size() + self.scratch.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{accumulator, eval, int32s, merged, strings};
    use datafusion::common::ScalarValue;

    #[test]
    fn count_skips_nulls_and_undoes() {
        let mut acc = accumulator("count", &[int32s(&[])]);
        acc.update_batch(&[int32s(&[Some(1), None, Some(3)])])
            .unwrap();
        assert_eq!(eval(&mut acc), ScalarValue::Int64(Some(2)));
        acc.update_batch(&[int32s(&[Some(1)])]).unwrap();
        assert_eq!(eval(&mut acc), ScalarValue::Int64(Some(3)));
        assert!(acc.supports_retract_batch());
        acc.retract_batch(&[int32s(&[Some(1), Some(2), Some(3)])])
            .unwrap();
        assert_eq!(eval(&mut acc), ScalarValue::Int64(Some(0)));
        acc.update_batch(&[int32s(&[Some(1)])]).unwrap();
        let mut other = accumulator("count", &[int32s(&[])]);
        other.update_batch(&[int32s(&[Some(5), Some(6)])]).unwrap();
        assert_eq!(merged(&mut acc, &mut other), ScalarValue::Int64(Some(3)));
    }

    #[test]
    fn count_distinct_exact_then_sketch() {
        let mut acc = accumulator("count_distinct", &[strings(&[])]);
        acc.update_batch(&[strings(&[Some("one"), Some("two"), Some("one"), None])])
            .unwrap();
        assert_eq!(eval(&mut acc), ScalarValue::Int64(Some(2)));
        assert!(!acc.supports_retract_batch());
        let mut other = accumulator("count_distinct", &[strings(&[])]);
        other
            .update_batch(&[strings(&[Some("two"), Some("three")])])
            .unwrap();
        assert_eq!(merged(&mut acc, &mut other), ScalarValue::Int64(Some(3)));

        let mut big = accumulator("count_distinct", &[int32s(&[])]);
        let values: Vec<Option<i32>> = (0..20_000).map(Some).collect();
        big.update_batch(&[int32s(&values)]).unwrap();
        big.update_batch(&[int32s(&values)]).unwrap();
        let ScalarValue::Int64(Some(n)) = eval(&mut big) else {
            panic!("not a count")
        };
        assert!((n - 20_000).abs() < 400, "estimate {n}");
        let mut small = accumulator("count_distinct", &[int32s(&[])]);
        small
            .update_batch(&[int32s(&[Some(-1), Some(-2)])])
            .unwrap();
        let ScalarValue::Int64(Some(n)) = merged(&mut small, &mut big) else {
            panic!("not a count")
        };
        assert!((n - 20_002).abs() < 400, "estimate {n}");
    }
}
