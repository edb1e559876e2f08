//! The one `AggregateUDFImpl` every ksqlDB aggregate is built from, and the
//! helpers the families share: reading literal parameters, casting inputs to
//! the resolved argument types, building ARRAY results.
//!
//! A function is a [`Spec`]: `coerce` picks the argument types (the planner
//! casts to them; accumulators cast again if handed other types), `ret` gives
//! the result type, `state` names the intermediate state fields, `make`
//! creates an accumulator for one group, and `table` says whether it can undo
//! (aggregate a TABLE).

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, ListArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{exec_datafusion_err, internal_datafusion_err, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};
use datafusion::physical_expr::expressions::{CastExpr, Column, Literal};
use datafusion::physical_expr::PhysicalExpr;

use super::AggregateConfig;

/// Picks the argument types for a call (`name` in upper case, for errors).
pub(crate) type CoerceFn = fn(&str, &[DataType]) -> Result<Vec<DataType>>;
/// The result type for the (coerced) argument types.
pub(crate) type ReturnFn = fn(&[DataType]) -> Result<DataType>;
/// The intermediate state: (field suffix, type) for the (coerced) argument
/// types and the result type.
pub(crate) type StateFn = fn(&[DataType], &DataType) -> Result<Vec<(&'static str, DataType)>>;
/// Creates the accumulator of one group.
pub(crate) type MakeFn = fn(&Call) -> Result<Box<dyn Accumulator>>;

/// One ksqlDB aggregate function.
#[derive(Clone, Copy)]
pub(crate) struct Spec {
    /// Lower-case name.
    pub name: &'static str,
    /// Resolves the argument types.
    pub coerce: CoerceFn,
    /// The result type.
    pub ret: ReturnFn,
    /// The intermediate state fields.
    pub state: StateFn,
    /// Creates an accumulator.
    pub make: MakeFn,
    /// Can undo, i.e. aggregate a TABLE (ksqlDB's `TableUdaf`).
    pub table: bool,
    /// Never null (COUNT): DataFusion then uses 0 for an empty input.
    pub never_null: bool,
    /// ksqlDB keeps its state in a primitive type (COUNT, SUM, MIN, MAX),
    /// not a STRUCT, ARRAY or MAP that some value formats cannot hold.
    pub primitive_state: bool,
}

impl Spec {
    /// A nullable function that cannot undo.
    pub(crate) fn new(
        name: &'static str,
        coerce: CoerceFn,
        ret: ReturnFn,
        state: StateFn,
        make: MakeFn,
    ) -> Self {
        Spec {
            name,
            coerce,
            ret,
            state,
            make,
            table: false,
            never_null: false,
            primitive_state: false,
        }
    }

    /// Can undo: may aggregate a TABLE.
    pub(crate) fn table(mut self) -> Self {
        self.table = true;
        self
    }

    /// Its ksqlDB state is a primitive value.
    pub(crate) fn primitive_state(mut self) -> Self {
        self.primitive_state = true;
        self
    }

    /// Never null.
    pub(crate) fn never_null(mut self) -> Self {
        self.never_null = true;
        self
    }

    /// Wraps the function, with `config`, for registration.
    pub(crate) fn udaf(self, config: AggregateConfig) -> Arc<AggregateUDF> {
        Arc::new(AggregateUDF::new_from_impl(KsqlUdaf {
            signature: Signature::user_defined(Volatility::Immutable),
            spec: self,
            config,
        }))
    }
}

/// What an accumulator is created from.
pub(crate) struct Call<'a> {
    /// The function name in upper case, for messages.
    pub name: String,
    /// The resolved argument types.
    pub types: Vec<DataType>,
    /// The result type.
    pub ret: DataType,
    /// The settings (COLLECT limits).
    pub config: AggregateConfig,
    exprs: &'a [Arc<dyn PhysicalExpr>],
}

impl Call<'_> {
    /// Argument `i`'s resolved type.
    pub(crate) fn arg_type(&self, i: usize) -> Result<&DataType> {
        self.types
            .get(i)
            .ok_or_else(|| internal_datafusion_err!("{}: no argument {}", self.name, i + 1))
    }

    /// The value of argument `i`, which must be a literal.
    pub(crate) fn literal(&self, i: usize) -> Result<ScalarValue> {
        let expr = self
            .exprs
            .get(i)
            .ok_or_else(|| internal_datafusion_err!("{}: no argument {}", self.name, i + 1))?;
        let value = if let Some(l) = expr.downcast_ref::<Literal>() {
            Some(l.value().clone())
        } else if let Some(c) = expr.downcast_ref::<CastExpr>() {
            match c.expr().downcast_ref::<Literal>() {
                Some(l) => Some(l.value().cast_to(c.cast_type())?),
                None => None,
            }
        } else {
            None
        };
        value.ok_or_else(|| {
            let shown = match expr.downcast_ref::<Column>() {
                Some(c) => c.name().to_string(),
                None => expr.to_string(),
            };
            exec_datafusion_err!("{}", not_literal_message(i, &self.name, &shown))
        })
    }

    /// The integer literal argument `i`.
    pub(crate) fn int_literal(&self, i: usize) -> Result<i64> {
        match self.literal(i)? {
            ScalarValue::Int8(Some(v)) => Ok(v.into()),
            ScalarValue::Int16(Some(v)) => Ok(v.into()),
            ScalarValue::Int32(Some(v)) => Ok(v.into()),
            ScalarValue::Int64(Some(v)) => Ok(v),
            ScalarValue::UInt8(Some(v)) => Ok(v.into()),
            ScalarValue::UInt16(Some(v)) => Ok(v.into()),
            ScalarValue::UInt32(Some(v)) => Ok(v.into()),
            ScalarValue::UInt64(Some(v)) => i64::try_from(v)
                .map_err(|_| exec_datafusion_err!("{}: parameter {v} is too large", self.name)),
            other => Err(exec_datafusion_err!(
                "Parameter {} passed to function {} must be an INTEGER, but was: {other}",
                i + 1,
                self.name
            )),
        }
    }

    /// The BOOLEAN literal argument `i`.
    pub(crate) fn bool_literal(&self, i: usize) -> Result<bool> {
        match self.literal(i)? {
            ScalarValue::Boolean(Some(b)) => Ok(b),
            other => Err(exec_datafusion_err!(
                "Parameter {} passed to function {} must be a BOOLEAN, but was: {other}",
                i + 1,
                self.name
            )),
        }
    }
}

/// ksqlDB's message for a non-literal where a literal parameter belongs;
/// `index` counts from 0.
pub(crate) fn not_literal_message(index: usize, function: &str, shown: &str) -> String {
    format!(
        "Parameter {} passed to function {function} must be a literal constant, but was \
         expression: '{shown}'",
        index + 1
    )
}

/// A ksqlDB aggregate as a DataFusion aggregate UDF.
#[derive(Debug)]
struct KsqlUdaf {
    spec: Spec,
    signature: Signature,
    config: AggregateConfig,
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spec").field("name", &self.name).finish()
    }
}

impl PartialEq for KsqlUdaf {
    fn eq(&self, other: &Self) -> bool {
        self.spec.name == other.spec.name && self.config == other.config
    }
}

impl Eq for KsqlUdaf {}

impl Hash for KsqlUdaf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.spec.name.hash(state);
        self.config.hash(state);
    }
}

impl KsqlUdaf {
    fn upper_name(&self) -> String {
        self.spec.name.to_ascii_uppercase()
    }

    fn coerce(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        (self.spec.coerce)(&self.upper_name(), arg_types)
    }
}

impl AggregateUDFImpl for KsqlUdaf {
    fn name(&self) -> &str {
        self.spec.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        // Usually called with coerced types already; coercing is idempotent.
        (self.spec.ret)(&self.coerce(arg_types)?)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.coerce(arg_types)
    }

    fn is_nullable(&self) -> bool {
        !self.spec.never_null
    }

    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        if self.spec.never_null {
            Ok(ScalarValue::Int64(Some(0)))
        } else {
            ScalarValue::try_from(data_type)
        }
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let raw: Vec<DataType> = args
            .expr_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let call = Call {
            name: self.upper_name(),
            types: self.coerce(&raw)?,
            ret: args.return_type().clone(),
            config: self.config,
            exprs: args.exprs,
        };
        (self.spec.make)(&call)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let raw: Vec<DataType> = args
            .input_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let types = self.coerce(&raw)?;
        Ok((self.spec.state)(&types, args.return_type())?
            .into_iter()
            .map(|(suffix, t)| Arc::new(Field::new(format_state_name(args.name, suffix), t, true)))
            .collect())
    }
}

/// Argument `i` of a batch as type `t` (cast when the planner did not).
pub(crate) fn input(values: &[ArrayRef], i: usize, t: &DataType) -> Result<ArrayRef> {
    let array = values
        .get(i)
        .ok_or_else(|| internal_datafusion_err!("aggregate called without argument {}", i + 1))?;
    if array.data_type() == t {
        Ok(Arc::clone(array))
    } else if array.data_type() == &DataType::Null {
        Ok(new_null_array(t, array.len()))
    } else {
        Ok(arrow::compute::cast(array, t)?)
    }
}

/// State column `i` of a merge.
pub(crate) fn state_column(states: &[ArrayRef], i: usize) -> Result<&ArrayRef> {
    states
        .get(i)
        .ok_or_else(|| internal_datafusion_err!("aggregate state without column {}", i + 1))
}

/// The ARRAY type sluice uses for elements of type `t`.
pub(crate) fn list_type(t: &DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", t.clone(), true)))
}

/// The element type of an ARRAY type.
pub(crate) fn element_type(t: &DataType) -> Result<&DataType> {
    match t {
        DataType::List(f) | DataType::LargeList(f) => Ok(f.data_type()),
        other => Err(internal_datafusion_err!(
            "expected an ARRAY type, got {other}"
        )),
    }
}

/// One ARRAY value holding all of `values`.
pub(crate) fn list_scalar(values: ArrayRef) -> ScalarValue {
    let field = Arc::new(Field::new("item", values.data_type().clone(), true));
    let offsets = OffsetBuffer::from_lengths([values.len()]);
    ScalarValue::List(Arc::new(ListArray::new(field, offsets, values, None)))
}

/// One ARRAY value of `element` values (an empty one when there are none).
pub(crate) fn list_of_scalars(values: &[ScalarValue], element: &DataType) -> Result<ScalarValue> {
    let array = if values.is_empty() {
        arrow::array::new_empty_array(element)
    } else {
        ScalarValue::iter_to_array(values.iter().cloned())?
    };
    let array = if array.data_type() == element {
        array
    } else {
        arrow::compute::cast(&array, element)?
    };
    Ok(list_scalar(array))
}

/// `array[row]` as a scalar that owns its data (a nested value is copied
/// out of the batch rather than keeping the whole batch alive).
pub(crate) fn owned_scalar(array: &dyn Array, row: usize) -> Result<ScalarValue> {
    Ok(ScalarValue::try_from_array(array, row)?.compacted())
}

/// Memory held by scalars, beyond the slots themselves.
pub(crate) fn scalars_size<'a>(values: impl IntoIterator<Item = &'a ScalarValue>) -> usize {
    values
        .into_iter()
        .map(|v| v.size() - std::mem::size_of_val(v))
        .sum()
}
