//! SUM, SUM_LIST and AVG: running totals in the input's type.
//!
//! As in ksqlDB (Java), the total keeps the input's type: INT and BIGINT
//! sums wrap on overflow, DOUBLE values are added one by one in arrival
//! order, and a DECIMAL(p, s) sum fails with "Numeric field overflow" once
//! its absolute value reaches 10^(p-s). Nulls are skipped; the total starts
//! at 0, so the SUM of only nulls is 0 and the AVG of only nulls is 0.0.
//! AVG also accepts DECIMAL (ksqlDB does not), averaging as DOUBLE. All three
//! can undo.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int32Type, Int64Type};
use datafusion::common::{exec_datafusion_err, internal_datafusion_err, Result, ScalarValue};
use datafusion::logical_expr::Accumulator;

use super::udaf::{element_type, input, list_type, state_column, Call, Spec};
use crate::functions::udf::{bad_args, normalize, resolve, P};

pub(super) fn specs() -> Vec<Spec> {
    vec![
        Spec::new("sum", coerce_number, same_type, sum_state, Sum::make)
            .table()
            .primitive_state(),
        Spec::new("sum_list", coerce_list, element, sum_state, Sum::make_list)
            .table()
            .primitive_state(),
        Spec::new("avg", coerce_number, double, avg_state, Avg::make).table(),
    ]
}

fn coerce_number(name: &str, args: &[DataType]) -> Result<Vec<DataType>> {
    resolve(
        name,
        args,
        &[&[P::Int], &[P::Bigint], &[P::Double], &[P::Decimal]],
        &[],
    )
}

fn coerce_list(name: &str, args: &[DataType]) -> Result<Vec<DataType>> {
    let [t] = args else {
        return Err(bad_args(name, args));
    };
    let item = match t {
        DataType::List(f) | DataType::LargeList(f) => normalize(f.data_type()),
        _ => return Err(bad_args(name, args)),
    };
    match item {
        DataType::Int32 | DataType::Int64 | DataType::Float64 => Ok(vec![list_type(&item)]),
        _ => Err(bad_args(name, args)),
    }
}

fn same_type(args: &[DataType]) -> Result<DataType> {
    args.first()
        .cloned()
        .ok_or_else(|| internal_datafusion_err!("SUM without an argument"))
}

fn element(args: &[DataType]) -> Result<DataType> {
    Ok(element_type(&same_type(args)?)?.clone())
}

fn double(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Float64)
}

fn sum_state(_: &[DataType], ret: &DataType) -> Result<Vec<(&'static str, DataType)>> {
    Ok(vec![("sum", ret.clone())])
}

fn avg_state(args: &[DataType], _: &DataType) -> Result<Vec<(&'static str, DataType)>> {
    let sum = match same_type(args)? {
        // The total of an AVG of DECIMAL is only bounded by Arrow's 38 digits.
        DataType::Decimal128(_, s) => DataType::Decimal128(38, s),
        t => t,
    };
    Ok(vec![("sum", sum), ("count", DataType::Int64)])
}

/// A running total in the input's type.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Total {
    Int(i32),
    Bigint(i64),
    Double(f64),
    /// Unscaled value; sums past `precision` digits fail when checked.
    Decimal {
        value: i128,
        precision: u8,
        scale: i8,
    },
}

impl Total {
    fn zero(t: &DataType) -> Result<Total> {
        Ok(match t {
            DataType::Int32 => Total::Int(0),
            DataType::Int64 => Total::Bigint(0),
            DataType::Float64 => Total::Double(0.0),
            DataType::Decimal128(precision, scale) => Total::Decimal {
                value: 0,
                precision: *precision,
                scale: *scale,
            },
            other => return Err(internal_datafusion_err!("no running total of {other}")),
        })
    }

    fn data_type(&self) -> DataType {
        match self {
            Total::Int(_) => DataType::Int32,
            Total::Bigint(_) => DataType::Int64,
            Total::Double(_) => DataType::Float64,
            Total::Decimal {
                precision, scale, ..
            } => DataType::Decimal128(*precision, *scale),
        }
    }

    fn scalar(&self) -> ScalarValue {
        match *self {
            Total::Int(v) => ScalarValue::Int32(Some(v)),
            Total::Bigint(v) => ScalarValue::Int64(Some(v)),
            Total::Double(v) => ScalarValue::Float64(Some(v)),
            Total::Decimal {
                value,
                precision,
                scale,
            } => ScalarValue::Decimal128(Some(value), precision, scale),
        }
    }

    fn as_f64(&self) -> f64 {
        match *self {
            Total::Int(v) => f64::from(v),
            Total::Bigint(v) => v as f64,
            Total::Double(v) => v,
            Total::Decimal { value, scale, .. } => value as f64 / 10f64.powi(i32::from(scale)),
        }
    }

    /// Adds (or, with `negate`, subtracts) the non-null values of `array`, of
    /// this total's type, in order. With `check`, a DECIMAL total that
    /// outgrows its precision while adding is an error.
    fn accumulate(&mut self, array: &dyn Array, negate: bool, check: bool) -> Result<()> {
        match self {
            Total::Int(v) => {
                let s = arrow::compute::sum(array.as_primitive::<Int32Type>()).unwrap_or(0);
                *v = if negate {
                    v.wrapping_sub(s)
                } else {
                    v.wrapping_add(s)
                };
            }
            Total::Bigint(v) => {
                let s = arrow::compute::sum(array.as_primitive::<Int64Type>()).unwrap_or(0);
                *v = if negate {
                    v.wrapping_sub(s)
                } else {
                    v.wrapping_add(s)
                };
            }
            Total::Double(v) => {
                for x in array.as_primitive::<Float64Type>().iter().flatten() {
                    if negate {
                        *v -= x;
                    } else {
                        *v += x;
                    }
                }
            }
            Total::Decimal {
                value,
                precision,
                scale,
            } => {
                let mut total = *value;
                for x in array.as_primitive::<Decimal128Type>().iter().flatten() {
                    let next = if negate {
                        total.checked_sub(x)
                    } else {
                        total.checked_add(x)
                    };
                    total = match next {
                        Some(t) if !(check && !negate && overflows(t, *precision)) => t,
                        Some(t) => return Err(overflow(*precision, *scale, &plain(t, *scale))),
                        None => return Err(overflow(*precision, *scale, "more")),
                    };
                }
                *value = total;
            }
        }
        Ok(())
    }
}

fn overflows(unscaled: i128, precision: u8) -> bool {
    10i128
        .checked_pow(u32::from(precision))
        .is_some_and(|limit| unscaled.unsigned_abs() >= limit.unsigned_abs())
}

fn overflow(precision: u8, scale: i8, got: &str) -> datafusion::error::DataFusionError {
    exec_datafusion_err!(
        "Numeric field overflow: A field with precision {precision} and scale {scale} must \
         round to an absolute value less than 10^{}. Got {got}",
        i32::from(precision) - i32::from(scale)
    )
}

/// A decimal's plain text, as Java's `toPlainString`.
fn plain(unscaled: i128, scale: i8) -> String {
    let sign = if unscaled < 0 { "-" } else { "" };
    let digits = unscaled.unsigned_abs().to_string();
    if scale <= 0 {
        return format!("{sign}{digits}{}", "0".repeat(scale.unsigned_abs().into()));
    }
    let scale = usize::from(scale.unsigned_abs());
    let digits = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = digits.split_at(digits.len() - scale);
    format!("{sign}{int}.{frac}")
}

/// SUM and SUM_LIST.
#[derive(Debug)]
struct Sum {
    total: Total,
    /// The argument type the input is cast to.
    input: DataType,
    /// SUM_LIST: each input value is an ARRAY to add up.
    list: bool,
}

impl Sum {
    fn make(call: &Call) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Sum {
            total: Total::zero(&call.ret)?,
            input: call.arg_type(0)?.clone(),
            list: false,
        }))
    }

    fn make_list(call: &Call) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Sum {
            total: Total::zero(&call.ret)?,
            input: call.arg_type(0)?.clone(),
            list: true,
        }))
    }

    fn apply(&mut self, values: &[ArrayRef], negate: bool) -> Result<()> {
        let array = input(values, 0, &self.input)?;
        if !self.list {
            let mut total = self.total;
            total.accumulate(array.as_ref(), negate, true)?;
            self.total = total;
            return Ok(());
        }
        // ksqlDB sums each list, then adds that to the total.
        let lists = array.as_list::<i32>();
        for row in 0..lists.len() {
            if lists.is_null(row) {
                continue;
            }
            let mut part = Total::zero(&self.total.data_type())?;
            part.accumulate(lists.value(row).as_ref(), false, false)?;
            self.total = match (self.total, part) {
                (Total::Int(t), Total::Int(p)) if negate => Total::Int(t.wrapping_sub(p)),
                (Total::Int(t), Total::Int(p)) => Total::Int(t.wrapping_add(p)),
                (Total::Bigint(t), Total::Bigint(p)) if negate => Total::Bigint(t.wrapping_sub(p)),
                (Total::Bigint(t), Total::Bigint(p)) => Total::Bigint(t.wrapping_add(p)),
                (Total::Double(t), Total::Double(p)) if negate => Total::Double(t - p),
                (Total::Double(t), Total::Double(p)) => Total::Double(t + p),
                (t, _) => return Err(internal_datafusion_err!("SUM_LIST over {}", t.data_type())),
            };
        }
        Ok(())
    }
}

impl Accumulator for Sum {
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
        let totals = input(states, 0, &self.total.data_type())?;
        let mut total = self.total;
        total.accumulate(totals.as_ref(), false, false)?;
        self.total = total;
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.total.scalar()])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.total.scalar())
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

/// AVG: a total in the input's type and a count.
#[derive(Debug)]
struct Avg {
    total: Total,
    count: i64,
    input: DataType,
}

impl Avg {
    fn make(call: &Call) -> Result<Box<dyn Accumulator>> {
        let input = call.arg_type(0)?.clone();
        // As in `avg_state`.
        let total = match Total::zero(&input)? {
            Total::Decimal { scale, .. } => Total::Decimal {
                value: 0,
                precision: 38,
                scale,
            },
            t => t,
        };
        Ok(Box::new(Avg {
            total,
            count: 0,
            input,
        }))
    }

    fn apply(&mut self, values: &[ArrayRef], negate: bool) -> Result<()> {
        let array = input(values, 0, &self.input)?;
        let mut total = self.total;
        total.accumulate(array.as_ref(), negate, false)?;
        self.total = total;
        let n = (array.len() - array.null_count()) as i64;
        self.count += if negate { -n } else { n };
        Ok(())
    }
}

impl Accumulator for Avg {
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
        let totals = input(states, 0, &self.total.data_type())?;
        let mut total = self.total;
        total.accumulate(totals.as_ref(), false, false)?;
        self.total = total;
        let counts = state_column(states, 1)?.as_primitive::<Int64Type>();
        self.count += arrow::compute::sum(counts).unwrap_or(0);
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            self.total.scalar(),
            ScalarValue::Int64(Some(self.count)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.count == 0 {
            return Ok(ScalarValue::Float64(Some(0.0)));
        }
        Ok(ScalarValue::Float64(Some(
            self.total.as_f64() / self.count as f64,
        )))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::plain;
    use arrow::array::{ArrayRef, ListArray};
    use arrow::datatypes::{DataType, Int32Type};
    use datafusion::common::ScalarValue;
    use std::sync::Arc;

    #[test]
    fn sum_keeps_the_input_type() {
        let mut acc = accumulator("sum", &[int32s(&[])]);
        assert_eq!(eval(&mut acc), ScalarValue::Int32(Some(0)));
        acc.update_batch(&[int32s(&[None])]).unwrap();
        assert_eq!(eval(&mut acc), ScalarValue::Int32(Some(0)));
        acc.update_batch(&[int32s(&[Some(100), Some(500)])])
            .unwrap();
        assert_eq!(eval(&mut acc), ScalarValue::Int32(Some(600)));
        acc.update_batch(&[int32s(&[Some(i32::MAX)])]).unwrap();
        assert_eq!(eval(&mut acc), ScalarValue::Int32(Some(i32::MIN + 599)));
        acc.retract_batch(&[int32s(&[Some(i32::MAX), Some(100)])])
            .unwrap();
        assert_eq!(eval(&mut acc), ScalarValue::Int32(Some(500)));

        let mut other = accumulator("sum", &[int32s(&[])]);
        other.update_batch(&[int32s(&[Some(7)])]).unwrap();
        assert_eq!(merged(&mut acc, &mut other), ScalarValue::Int32(Some(507)));

        let mut big = accumulator("sum", &[int64s(&[])]);
        big.update_batch(&[int64s(&[Some(2_147_483_648), Some(100)])])
            .unwrap();
        assert_eq!(eval(&mut big), ScalarValue::Int64(Some(2_147_483_748)));
    }

    #[test]
    fn sum_doubles_in_arrival_order() {
        let mut acc = accumulator("sum", &[doubles(&[])]);
        acc.update_batch(&[doubles(&[Some(5.4), Some(100.1)])])
            .unwrap();
        assert_eq!(eval(&mut acc), ScalarValue::Float64(Some(5.4 + 100.1)));
    }

    #[test]
    fn sum_decimal_overflows_like_ksqldb() {
        let mut acc = accumulator("sum", &[decimals(&[], 4, 1)]);
        acc.update_batch(&[decimals(&[Some(5009), Some(3008)], 4, 1)])
            .unwrap();
        assert_eq!(eval(&mut acc), ScalarValue::Decimal128(Some(8017), 4, 1));
        let err = acc
            .update_batch(&[decimals(&[Some(4008)], 4, 1)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "Numeric field overflow: A field with precision 4 and scale 1 must round to an \
                 absolute value less than 10^3. Got 1202.5"
            ),
            "{err}"
        );
        // The failed batch left the total as it was.
        assert_eq!(eval(&mut acc), ScalarValue::Decimal128(Some(8017), 4, 1));
        assert_eq!(plain(-5, 2), "-0.05");
        assert_eq!(plain(12, -1), "120");
    }

    #[test]
    fn sum_list_adds_each_list() {
        let lists: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(1)]),
            None,
            Some(vec![Some(100), None, Some(100)]),
        ]));
        let mut acc = accumulator("sum_list", &[Arc::clone(&lists)]);
        acc.update_batch(&[Arc::clone(&lists)]).unwrap();
        assert_eq!(eval(&mut acc), ScalarValue::Int32(Some(202)));
        acc.retract_batch(&[lists.slice(0, 1)]).unwrap();
        assert_eq!(eval(&mut acc), ScalarValue::Int32(Some(200)));
    }

    #[test]
    fn avg_is_double_and_zero_when_empty() {
        let mut acc = accumulator("avg", &[int32s(&[])]);
        assert_eq!(eval(&mut acc), ScalarValue::Float64(Some(0.0)));
        acc.update_batch(&[int32s(&[Some(1), Some(2), None])])
            .unwrap();
        assert_eq!(eval(&mut acc), ScalarValue::Float64(Some(1.5)));
        acc.update_batch(&[int32s(&[Some(2)])]).unwrap();
        assert_eq!(
            eval(&mut acc),
            ScalarValue::Float64(Some(1.6666666666666667))
        );
        acc.retract_batch(&[int32s(&[Some(2), None])]).unwrap();
        assert_eq!(eval(&mut acc), ScalarValue::Float64(Some(1.5)));
        let mut other = accumulator("avg", &[int32s(&[])]);
        other.update_batch(&[int32s(&[Some(6)])]).unwrap();
        assert_eq!(
            merged(&mut acc, &mut other),
            ScalarValue::Float64(Some(3.0))
        );

        let mut dec = accumulator("avg", &[decimals(&[], 4, 1)]);
        dec.update_batch(&[decimals(&[Some(15), Some(25)], 4, 1)])
            .unwrap();
        assert_eq!(eval(&mut dec), ScalarValue::Float64(Some(2.0)));
        let mut other = accumulator("avg", &[decimals(&[], 4, 1)]);
        other.update_batch(&[decimals(&[Some(50)], 4, 1)]).unwrap();
        assert_eq!(
            merged(&mut dec, &mut other),
            ScalarValue::Float64(Some(3.0))
        );
    }

    #[tokio::test]
    async fn planned_through_sql() {
        use arrow::array::RecordBatch;
        let batch = RecordBatch::try_from_iter(vec![
            ("k", strings(&[Some("a"), Some("a"), Some("b")])),
            ("i", int32s(&[Some(1), None, Some(3)])),
            ("d", doubles(&[Some(1.5), Some(2.5), None])),
        ])
        .unwrap();
        let rows = sql_rows(
            "SELECT k, sum(i), sum(d), avg(i), count(*), count(i), count() \
             FROM t GROUP BY k ORDER BY k",
            batch,
        )
        .await;
        assert_eq!(rows, vec!["a|1|4.0|1.0|2|1|2", "b|3|0.0|3.0|1|1|1"]);
        let t = super::super::aggregate_udfs_with(&Default::default())
            .into_iter()
            .find(|u| u.name() == "sum")
            .unwrap();
        assert_eq!(t.return_type(&[DataType::Int8]).unwrap(), DataType::Int32);
        assert!(t.return_type(&[DataType::Utf8]).is_err());
    }
}
