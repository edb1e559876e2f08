//! MIN and MAX: the least and greatest non-null value, of the input's type
//! (numbers, strings, bytes, dates, times, timestamps); null when there is
//! none. They cannot undo.
//!
//! The accumulators are DataFusion's own (`min`/`max` already order and skip
//! nulls as ksqlDB does, DOUBLE totally with NaN greatest); what differs is
//! the accepted types and the error for others.

use arrow::datatypes::DataType;
use datafusion::common::{internal_datafusion_err, Result};
use datafusion::functions_aggregate::min_max::{max_udaf, min_udaf};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::Accumulator;

use super::udaf::{Call, Spec};
use crate::functions::udf::{bad_args, normalize};

pub(super) fn specs() -> Vec<Spec> {
    vec![
        Spec::new("min", coerce, same_type, state, make_min).primitive_state(),
        Spec::new("max", coerce, same_type, state, make_max).primitive_state(),
    ]
}

fn coerce(name: &str, args: &[DataType]) -> Result<Vec<DataType>> {
    let [t] = args else {
        return Err(bad_args(name, args));
    };
    let t = normalize(t);
    match t {
        DataType::Int32
        | DataType::Int64
        | DataType::Float64
        | DataType::Decimal128(..)
        | DataType::Utf8
        | DataType::Binary
        | DataType::Date32
        | DataType::Time32(_)
        | DataType::Timestamp(..) => Ok(vec![t]),
        _ => Err(bad_args(name, args)),
    }
}

fn same_type(args: &[DataType]) -> Result<DataType> {
    args.first()
        .cloned()
        .ok_or_else(|| internal_datafusion_err!("MIN/MAX without an argument"))
}

fn state(_: &[DataType], ret: &DataType) -> Result<Vec<(&'static str, DataType)>> {
    Ok(vec![("value", ret.clone())])
}

fn make_min(call: &Call) -> Result<Box<dyn Accumulator>> {
    delegate(call, true)
}

fn make_max(call: &Call) -> Result<Box<dyn Accumulator>> {
    delegate(call, false)
}

/// DataFusion's accumulator, fed input cast to the resolved type.
fn delegate(call: &Call, min: bool) -> Result<Box<dyn Accumulator>> {
    let field = std::sync::Arc::new(arrow::datatypes::Field::new(
        call.name.as_str(),
        call.ret.clone(),
        true,
    ));
    let schema = arrow::datatypes::Schema::empty();
    let args = AccumulatorArgs {
        return_field: field,
        schema: &schema,
        ignore_nulls: false,
        order_bys: &[],
        is_reversed: false,
        name: &call.name,
        is_distinct: false,
        exprs: &[],
        expr_fields: &[],
    };
    let inner = if min {
        min_udaf().accumulator(args)?
    } else {
        max_udaf().accumulator(args)?
    };
    Ok(Box::new(Cast {
        inner,
        input: call.ret.clone(),
    }))
}

/// Casts the input to `input` before handing it on.
#[derive(Debug)]
struct Cast {
    inner: Box<dyn Accumulator>,
    input: DataType,
}

impl Accumulator for Cast {
    fn update_batch(&mut self, values: &[arrow::array::ArrayRef]) -> Result<()> {
        let array = super::udaf::input(values, 0, &self.input)?;
        self.inner.update_batch(&[array])
    }

    fn merge_batch(&mut self, states: &[arrow::array::ArrayRef]) -> Result<()> {
        let array = super::udaf::input(states, 0, &self.input)?;
        self.inner.merge_batch(&[array])
    }

    fn state(&mut self) -> Result<Vec<datafusion::common::ScalarValue>> {
        self.inner.state()
    }

    fn evaluate(&mut self) -> Result<datafusion::common::ScalarValue> {
        self.inner.evaluate()
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.inner.size()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use datafusion::common::ScalarValue;

    #[test]
    fn min_and_max_skip_nulls() {
        let mut max = accumulator("max", &[int32s(&[])]);
        max.update_batch(&[int32s(&[None])]).unwrap();
        assert_eq!(eval(&mut max), ScalarValue::Int32(None));
        max.update_batch(&[int32s(&[Some(-5), Some(5), None])])
            .unwrap();
        assert_eq!(eval(&mut max), ScalarValue::Int32(Some(5)));
        assert!(!max.supports_retract_batch());
        let mut other = accumulator("max", &[int32s(&[])]);
        other.update_batch(&[int32s(&[Some(7)])]).unwrap();
        assert_eq!(merged(&mut max, &mut other), ScalarValue::Int32(Some(7)));

        let mut min = accumulator("min", &[strings(&[])]);
        min.update_batch(&[strings(&[Some("B"), None, Some("A")])])
            .unwrap();
        assert_eq!(eval(&mut min), ScalarValue::Utf8(Some("A".into())));

        let mut dec = accumulator("min", &[decimals(&[], 4, 2)]);
        dec.update_batch(&[decimals(&[Some(2179), Some(110)], 4, 2)])
            .unwrap();
        assert_eq!(eval(&mut dec), ScalarValue::Decimal128(Some(110), 4, 2));
    }

    #[test]
    fn booleans_are_rejected() {
        let max = super::super::aggregate_udfs_with(&Default::default())
            .into_iter()
            .find(|u| u.name() == "max")
            .unwrap();
        let err = max
            .return_type(&[arrow::datatypes::DataType::Boolean])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Function 'MAX' does not accept parameters (BOOLEAN)."),
            "{err}"
        );
    }
}
