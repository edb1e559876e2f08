//! STDDEV_SAMP, STDDEV_SAMPLE and CORRELATION, all DOUBLE and able to undo.
//!
//! Both deviations use the Youngs-Cramer update as ksqlDB does, with the
//! running sum kept in the input's type (INT and BIGINT wrap like Java), so
//! results match ksqlDB's to the last bit:
//! - `STDDEV_SAMPLE(x)` is the sample standard deviation;
//! - `STDDEV_SAMP(x)` is, as in ksqlDB, the sample *variance* (no square
//!   root), with ksqlDB's 32-bit count arithmetic for INT input.
//!
//! Both are 0.0 for fewer than two values. `CORRELATION(x, y)` is Pearson's
//! coefficient over the rows where neither is null, from the single-pass
//! sums; NaN when undefined (fewer than two rows, or a constant column).

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type};
use datafusion::common::{internal_datafusion_err, Result, ScalarValue};
use datafusion::logical_expr::Accumulator;

use super::udaf::{input, state_column, Call, Spec};
use crate::functions::udf::{resolve, P};

pub(super) fn specs() -> Vec<Spec> {
    vec![
        Spec::new(
            "stddev_samp",
            coerce_one,
            double,
            stddev_state,
            StdDev::make_samp,
        )
        .table(),
        Spec::new(
            "stddev_sample",
            coerce_one,
            double,
            stddev_state,
            StdDev::make_sample,
        )
        .table(),
        Spec::new(
            "correlation",
            coerce_two,
            double,
            correlation_state,
            Correlation::make,
        )
        .table(),
    ]
}

fn coerce_one(name: &str, args: &[DataType]) -> Result<Vec<DataType>> {
    resolve(name, args, &[&[P::Int], &[P::Bigint], &[P::Double]], &[])
}

fn coerce_two(name: &str, args: &[DataType]) -> Result<Vec<DataType>> {
    resolve(name, args, &[&[P::Double, P::Double]], &[])
}

fn double(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Float64)
}

fn stddev_state(args: &[DataType], _: &DataType) -> Result<Vec<(&'static str, DataType)>> {
    let sum = args
        .first()
        .cloned()
        .ok_or_else(|| internal_datafusion_err!("STDDEV without an argument"))?;
    Ok(vec![
        ("sum", sum),
        ("count", DataType::Int64),
        ("m2", DataType::Float64),
    ])
}

fn correlation_state(_: &[DataType], _: &DataType) -> Result<Vec<(&'static str, DataType)>> {
    Ok(vec![
        ("x_sum", DataType::Float64),
        ("y_sum", DataType::Float64),
        ("x_squared_sum", DataType::Float64),
        ("y_squared_sum", DataType::Float64),
        ("xy_sum", DataType::Float64),
        ("count", DataType::Int64),
    ])
}

/// Which of ksqlDB's two deviations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// STDDEV_SAMP: the variance, 32-bit counts for INT.
    Samp,
    /// STDDEV_SAMPLE: the deviation.
    Sample,
}

/// A running sum in the input's type.
#[derive(Debug, Clone, Copy)]
enum Sum {
    Int(i32),
    Bigint(i64),
    Double(f64),
}

impl Sum {
    fn scalar(&self) -> ScalarValue {
        match *self {
            Sum::Int(v) => ScalarValue::Int32(Some(v)),
            Sum::Bigint(v) => ScalarValue::Int64(Some(v)),
            Sum::Double(v) => ScalarValue::Float64(Some(v)),
        }
    }
}

/// A value of the input's type.
#[derive(Debug, Clone, Copy)]
enum Value {
    Int(i32),
    Bigint(i64),
    Double(f64),
}

#[derive(Debug)]
struct StdDev {
    flavor: Flavor,
    input: DataType,
    sum: Sum,
    count: i64,
    m2: f64,
}

impl StdDev {
    fn make_samp(call: &Call) -> Result<Box<dyn Accumulator>> {
        Self::make(call, Flavor::Samp)
    }

    fn make_sample(call: &Call) -> Result<Box<dyn Accumulator>> {
        Self::make(call, Flavor::Sample)
    }

    fn make(call: &Call, flavor: Flavor) -> Result<Box<dyn Accumulator>> {
        let input = call.arg_type(0)?.clone();
        let sum = match &input {
            DataType::Int32 => Sum::Int(0),
            DataType::Int64 => Sum::Bigint(0),
            _ => Sum::Double(0.0),
        };
        Ok(Box::new(StdDev {
            flavor,
            input,
            sum,
            count: 0,
            m2: 0.0,
        }))
    }

    /// `v * (count + 1) - (sum + v)` in ksqlDB's arithmetic.
    fn delta(&self, v: Value) -> f64 {
        let n = self.count.wrapping_add(1);
        match (self.sum, v) {
            (Sum::Int(s), Value::Int(v)) if self.flavor == Flavor::Samp => {
                f64::from(v.wrapping_mul(n as i32).wrapping_sub(s.wrapping_add(v)))
            }
            (Sum::Int(s), Value::Int(v)) => i64::from(v)
                .wrapping_mul(n)
                .wrapping_sub(i64::from(s.wrapping_add(v)))
                as f64,
            (Sum::Bigint(s), Value::Bigint(v)) => {
                v.wrapping_mul(n).wrapping_sub(s.wrapping_add(v)) as f64
            }
            (Sum::Double(s), Value::Double(v)) => v * n as f64 - (s + v),
            _ => f64::NAN,
        }
    }

    /// `a * b` as ksqlDB multiplies counts.
    fn count_product(&self, a: i64, b: i64) -> f64 {
        if self.flavor == Flavor::Samp {
            (a as i32).wrapping_mul(b as i32) as f64
        } else {
            a.wrapping_mul(b) as f64
        }
    }

    fn add_sum(&mut self, v: Value, negate: bool) {
        self.sum = match (self.sum, v) {
            (Sum::Int(s), Value::Int(v)) if negate => Sum::Int(s.wrapping_sub(v)),
            (Sum::Int(s), Value::Int(v)) => Sum::Int(s.wrapping_add(v)),
            (Sum::Bigint(s), Value::Bigint(v)) if negate => Sum::Bigint(s.wrapping_sub(v)),
            (Sum::Bigint(s), Value::Bigint(v)) => Sum::Bigint(s.wrapping_add(v)),
            (Sum::Double(s), Value::Double(v)) if negate => Sum::Double(s - v),
            (Sum::Double(s), Value::Double(v)) => Sum::Double(s + v),
            (s, _) => s,
        };
    }

    fn add(&mut self, v: Value) {
        let n = self.count + 1;
        if self.count > 0 {
            let delta = self.delta(v);
            self.m2 += delta * delta / self.count_product(n, n - 1);
        }
        self.add_sum(v, false);
        self.count = n;
    }

    fn remove(&mut self, v: Value) {
        let n = self.count - 1;
        if n > 0 {
            let delta = self.delta(v);
            self.m2 -= delta * delta / self.count_product(n, n + 1);
        }
        self.add_sum(v, true);
        self.count = n;
    }

    /// The values of a batch, nulls skipped.
    fn values(&self, values: &[ArrayRef]) -> Result<Vec<Value>> {
        let array = input(values, 0, &self.input)?;
        Ok(match self.sum {
            Sum::Int(_) => array
                .as_primitive::<Int32Type>()
                .iter()
                .flatten()
                .map(Value::Int)
                .collect(),
            Sum::Bigint(_) => array
                .as_primitive::<Int64Type>()
                .iter()
                .flatten()
                .map(Value::Bigint)
                .collect(),
            Sum::Double(_) => array
                .as_primitive::<Float64Type>()
                .iter()
                .flatten()
                .map(Value::Double)
                .collect(),
        })
    }

    /// The mean difference ksqlDB's merge uses (integer division for
    /// STDDEV_SAMP over INT and BIGINT).
    fn mean_difference(&self, other: &StdDev) -> f64 {
        let (c1, c2) = (self.count, other.count);
        match (self.sum, other.sum, self.flavor) {
            (Sum::Int(a), Sum::Int(b), Flavor::Samp) => {
                f64::from((a / c1 as i32).wrapping_sub(b / c2 as i32))
            }
            (Sum::Bigint(a), Sum::Bigint(b), Flavor::Samp) => (a / c1).wrapping_sub(b / c2) as f64,
            (Sum::Int(a), Sum::Int(b), Flavor::Sample) => {
                f64::from(a) / c1 as f64 - f64::from(b) / c2 as f64
            }
            (Sum::Bigint(a), Sum::Bigint(b), Flavor::Sample) => {
                a as f64 / c1 as f64 - b as f64 / c2 as f64
            }
            (Sum::Double(a), Sum::Double(b), _) => a / c1 as f64 - b / c2 as f64,
            _ => f64::NAN,
        }
    }

    fn merge(&mut self, other: &StdDev) {
        let n = self.count + other.count;
        if self.count == 0 || other.count == 0 {
            self.m2 += other.m2;
        } else {
            let inner = self.mean_difference(other);
            self.m2 = self.m2
                + other.m2
                + self.count_product(self.count, other.count) * inner * inner / n as f64;
        }
        match other.sum {
            Sum::Int(v) => self.add_sum(Value::Int(v), false),
            Sum::Bigint(v) => self.add_sum(Value::Bigint(v), false),
            Sum::Double(v) => self.add_sum(Value::Double(v), false),
        }
        self.count = n;
    }
}

impl Accumulator for StdDev {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for v in self.values(values)? {
            self.add(v);
        }
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for v in self.values(values)? {
            self.remove(v);
        }
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let sums = input(states, 0, &self.input)?;
        let counts = state_column(states, 1)?.as_primitive::<Int64Type>();
        let m2s = state_column(states, 2)?.as_primitive::<Float64Type>();
        for row in 0..sums.len() {
            if sums.is_null(row) || counts.is_null(row) || m2s.is_null(row) {
                continue;
            }
            let sum = match self.sum {
                Sum::Int(_) => Sum::Int(sums.as_primitive::<Int32Type>().value(row)),
                Sum::Bigint(_) => Sum::Bigint(sums.as_primitive::<Int64Type>().value(row)),
                Sum::Double(_) => Sum::Double(sums.as_primitive::<Float64Type>().value(row)),
            };
            let other = StdDev {
                flavor: self.flavor,
                input: self.input.clone(),
                sum,
                count: counts.value(row),
                m2: m2s.value(row),
            };
            self.merge(&other);
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            self.sum.scalar(),
            ScalarValue::Int64(Some(self.count)),
            ScalarValue::Float64(Some(self.m2)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.count < 2 {
            return Ok(ScalarValue::Float64(Some(0.0)));
        }
        let variance = self.m2 / (self.count - 1) as f64;
        Ok(ScalarValue::Float64(Some(match self.flavor {
            Flavor::Samp => variance,
            Flavor::Sample => variance.sqrt(),
        })))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

/// The sums Pearson's coefficient is computed from.
#[derive(Debug, Default)]
struct Correlation {
    x_sum: f64,
    y_sum: f64,
    x_squared_sum: f64,
    y_squared_sum: f64,
    xy_sum: f64,
    count: i64,
}

impl Correlation {
    fn make(_: &Call) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Correlation::default()))
    }

    fn apply(&mut self, values: &[ArrayRef], negate: bool) -> Result<()> {
        let xs = input(values, 0, &DataType::Float64)?;
        let ys = input(values, 1, &DataType::Float64)?;
        let xs = xs.as_primitive::<Float64Type>();
        let ys = ys.as_primitive::<Float64Type>();
        let sign = if negate { -1.0 } else { 1.0 };
        for (x, y) in xs.iter().zip(ys.iter()) {
            let (Some(x), Some(y)) = (x, y) else {
                continue;
            };
            if negate {
                self.x_sum -= x;
                self.y_sum -= y;
                self.x_squared_sum -= x * x;
                self.y_squared_sum -= y * y;
                self.xy_sum -= x * y;
            } else {
                self.x_sum += x;
                self.y_sum += y;
                self.x_squared_sum += x * x;
                self.y_squared_sum += y * y;
                self.xy_sum += x * y;
            }
            self.count += sign as i64;
        }
        Ok(())
    }
}

impl Accumulator for Correlation {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.apply(values, false)
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.apply(values, true)
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let column = |i: usize| -> Result<Vec<f64>> {
            let c = input(states, i, &DataType::Float64)?;
            Ok(c.as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.unwrap_or(0.0))
                .collect())
        };
        let (xs, ys, xxs, yys, xys) = (column(0)?, column(1)?, column(2)?, column(3)?, column(4)?);
        let counts = input(states, 5, &DataType::Int64)?;
        let counts = counts
            .as_primitive::<Int64Type>()
            .iter()
            .map(|c| c.unwrap_or(0));
        let rows = xs.iter().zip(&ys).zip(&xxs).zip(&yys).zip(&xys).zip(counts);
        for (((((x, y), xx), yy), xy), n) in rows {
            self.x_sum += x;
            self.y_sum += y;
            self.x_squared_sum += xx;
            self.y_squared_sum += yy;
            self.xy_sum += xy;
            self.count += n;
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::Float64(Some(self.x_sum)),
            ScalarValue::Float64(Some(self.y_sum)),
            ScalarValue::Float64(Some(self.x_squared_sum)),
            ScalarValue::Float64(Some(self.y_squared_sum)),
            ScalarValue::Float64(Some(self.xy_sum)),
            ScalarValue::Int64(Some(self.count)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let n = self.count as f64;
        let numerator = n * self.xy_sum - self.x_sum * self.y_sum;
        let x = n * self.x_squared_sum - self.x_sum * self.x_sum;
        let y = n * self.y_squared_sum - self.y_sum * self.y_sum;
        Ok(ScalarValue::Float64(Some(numerator / (x * y).sqrt())))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use datafusion::common::ScalarValue;

    fn f(v: ScalarValue) -> f64 {
        match v {
            ScalarValue::Float64(Some(v)) => v,
            other => panic!("not a DOUBLE: {other:?}"),
        }
    }

    #[test]
    fn stddev_sample_matches_ksqldb() {
        let mut acc = accumulator("stddev_sample", &[int32s(&[])]);
        acc.update_batch(&[int32s(&[Some(0)])]).unwrap();
        assert_eq!(f(eval(&mut acc)), 0.0);
        acc.update_batch(&[int32s(&[Some(10)])]).unwrap();
        assert_eq!(f(eval(&mut acc)), 7.0710678118654755);
        acc.update_batch(&[int32s(&[Some(7), None])]).unwrap();
        assert_eq!(f(eval(&mut acc)), 5.131601439446884);
        acc.update_batch(&[int32s(&[Some(6)])]).unwrap();
        assert_eq!(f(eval(&mut acc)), 4.193248541803041);
        acc.retract_batch(&[int32s(&[Some(6)])]).unwrap();
        assert!((f(eval(&mut acc)) - 5.131601439446884).abs() < 1e-12);

        let mut dbl = accumulator("stddev_sample", &[doubles(&[])]);
        dbl.update_batch(&[doubles(&[Some(-1.8), Some(2.3), Some(100.2)])])
            .unwrap();
        assert_eq!(f(eval(&mut dbl)), 57.74256084841869);
    }

    #[test]
    fn stddev_samp_is_the_variance() {
        let mut acc = accumulator("stddev_samp", &[int32s(&[])]);
        acc.update_batch(&[int32s(&[Some(0), Some(10), Some(7), Some(6)])])
            .unwrap();
        assert_eq!(f(eval(&mut acc)), 17.583333333333332);
        let mut long = accumulator("stddev_samp", &[int64s(&[])]);
        long.update_batch(&[int64s(&[Some(2_147_483_648), Some(100)])])
            .unwrap();
        assert_eq!(f(eval(&mut long)), 2.3058427944653343e18);
    }

    #[test]
    fn stddev_merges() {
        let all: Vec<Option<f64>> = [10.0, 12.0, 13.0, 14.0, 16.0].map(Some).to_vec();
        let mut one = accumulator("stddev_sample", &[doubles(&[])]);
        one.update_batch(&[doubles(&all)]).unwrap();
        let mut a = accumulator("stddev_sample", &[doubles(&[])]);
        a.update_batch(&[doubles(&all[..2])]).unwrap();
        let mut b = accumulator("stddev_sample", &[doubles(&[])]);
        b.update_batch(&[doubles(&all[2..])]).unwrap();
        let expected = f(eval(&mut one));
        assert!((f(merged(&mut a, &mut b)) - expected).abs() < 1e-12);
        assert_eq!(expected, 2.23606797749979);
    }

    #[test]
    fn correlation_matches_ksqldb() {
        let mut acc = accumulator("correlation", &[doubles(&[]), doubles(&[])]);
        acc.update_batch(&[doubles(&[Some(1.5)]), doubles(&[Some(8.0)])])
            .unwrap();
        assert!(f(eval(&mut acc)).is_nan());
        acc.update_batch(&[
            doubles(&[Some(-1.0), Some(-4.5), None]),
            doubles(&[Some(-2.0), Some(-1.0), Some(-6.0)]),
        ])
        .unwrap();
        assert_eq!(f(eval(&mut acc)), 0.7580764521133173);

        let mut ints = accumulator("correlation", &[int32s(&[]), int32s(&[])]);
        ints.update_batch(&[
            int32s(&[Some(1), Some(-1), Some(-4)]),
            int32s(&[Some(8), Some(-2), Some(-1)]),
        ])
        .unwrap();
        assert_eq!(f(eval(&mut ints)), 0.7455284088780169);

        let mut table = accumulator("correlation", &[doubles(&[]), doubles(&[])]);
        table
            .update_batch(&[
                doubles(&[Some(1.5), Some(-3.5)]),
                doubles(&[Some(8.0), Some(-2.0)]),
            ])
            .unwrap();
        assert_eq!(f(eval(&mut table)), 1.0);
        table
            .retract_batch(&[doubles(&[Some(1.5)]), doubles(&[Some(8.0)])])
            .unwrap();
        table
            .update_batch(&[
                doubles(&[Some(-1.0), Some(-4.5)]),
                doubles(&[Some(-2.0), Some(-1.0)]),
            ])
            .unwrap();
        assert_eq!(f(eval(&mut table)), -0.7205766921228921);
        let mut other = accumulator("correlation", &[doubles(&[]), doubles(&[])]);
        assert!((f(merged(&mut table, &mut other)) + 0.7205766921228921).abs() < 1e-12);
    }
}
