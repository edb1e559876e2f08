//! ksqlDB's lambda functions as DataFusion higher-order functions:
//!
//! - `TRANSFORM(array, x => …)` maps every element;
//!   `TRANSFORM(map, (k, v) => new_key, (k, v) => new_value)` every entry.
//! - `FILTER(array, x => …)` and `FILTER(map, (k, v) => …)` keep the
//!   elements (entries) the lambda holds for.
//! - `REDUCE(array, s, (s, x) => …)` and `REDUCE(map, s, (s, k, v) => …)`
//!   fold the elements into the state, starting from `s`; a null
//!   collection gives `s`, a null `s` gives null.
//!
//! Lambda bodies are compiled physical expressions evaluated over whole
//! columns: TRANSFORM and FILTER evaluate the body once over the flattened
//! elements of the batch; REDUCE once per element position, over the rows
//! that have an element there. Columns of the row that a body refers to
//! are repeated to line up with the elements.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, ListArray, MapArray, StructArray, UInt32Array,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::compute::{cast, filter, interleave, take};
use arrow::datatypes::{DataType, Field, FieldRef};
use arrow::row::{RowConverter, SortField};
use datafusion::common::{exec_err, plan_err, DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, HigherOrderFunctionArgs, HigherOrderReturnFieldArgs, HigherOrderSignature,
    HigherOrderUDF, HigherOrderUDFImpl, LambdaArgument, LambdaParametersProgress, ValueOrLambda,
    Volatility,
};

use crate::types::map_type;

/// TRANSFORM, FILTER and REDUCE.
pub fn higher_order_udfs() -> Vec<Arc<HigherOrderUDF>> {
    [Kind::Transform, Kind::Filter, Kind::Reduce]
        .into_iter()
        .map(|kind| Arc::new(HigherOrderUDF::new_from_impl(LambdaFunction::new(kind))))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Transform,
    Filter,
    Reduce,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct LambdaFunction {
    kind: Kind,
    signature: HigherOrderSignature,
}

impl LambdaFunction {
    fn new(kind: Kind) -> Self {
        LambdaFunction {
            kind,
            signature: HigherOrderSignature::user_defined(Volatility::Immutable),
        }
    }
}

/// The collection argument, as the function sees it.
enum Collection<'a> {
    List(&'a FieldRef),
    Map(&'a FieldRef, &'a FieldRef),
}

fn collection<'a>(name: &str, t: &'a DataType) -> Result<Collection<'a>> {
    match t {
        DataType::List(item) => Ok(Collection::List(item)),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => Ok(Collection::Map(&kv[0], &kv[1])),
            _ => plan_err!("{name}: unexpected map layout {t}"),
        },
        other => plan_err!(
            "Function '{name}' does not accept a {other} as its first argument: it needs an \
             ARRAY or a MAP"
        ),
    }
}

/// The lambdas a call has, and the parameters each takes.
fn parameters(
    kind: Kind,
    name: &str,
    coll: &DataType,
    state: Option<&FieldRef>,
) -> Result<Vec<Vec<FieldRef>>> {
    // The state is null whenever the body gives null.
    let state = || {
        state
            .map(|s| Arc::new(s.as_ref().clone().with_nullable(true)))
            .ok_or_else(|| {
                DataFusionError::Plan(format!("Function '{name}' needs an initial state"))
            })
    };
    Ok(match (kind, collection(name, coll)?) {
        (Kind::Transform, Collection::List(item)) | (Kind::Filter, Collection::List(item)) => {
            vec![vec![Arc::clone(item)]]
        }
        (Kind::Transform, Collection::Map(k, v)) => {
            vec![vec![Arc::clone(k), Arc::clone(v)]; 2]
        }
        (Kind::Filter, Collection::Map(k, v)) => vec![vec![Arc::clone(k), Arc::clone(v)]],
        (Kind::Reduce, Collection::List(item)) => vec![vec![state()?, Arc::clone(item)]],
        (Kind::Reduce, Collection::Map(k, v)) => {
            vec![vec![state()?, Arc::clone(k), Arc::clone(v)]]
        }
    })
}

impl HigherOrderUDFImpl for LambdaFunction {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Transform => "transform",
            Kind::Filter => "filter",
            Kind::Reduce => "reduce",
        }
    }

    fn signature(&self) -> &HigherOrderSignature {
        &self.signature
    }

    fn coerce_value_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name();
        let expected = if self.kind == Kind::Reduce { 2 } else { 1 };
        if arg_types.len() != expected {
            return plan_err!(
                "Function '{name}' takes {expected} value argument(s) before its lambda(s), got {}",
                arg_types.len()
            );
        }
        let coll = match &arg_types[0] {
            DataType::LargeList(f) | DataType::FixedSizeList(f, _) | DataType::ListView(f) => {
                DataType::List(Arc::clone(f))
            }
            other => other.clone(),
        };
        collection(name, &coll)?;
        let mut out = vec![coll];
        if let Some(init) = arg_types.get(1) {
            // Integer states are BIGINT: the body's type must not depend on
            // the width a literal initial state was read with.
            out.push(match init {
                DataType::Int8 | DataType::Int16 | DataType::Int32 => DataType::Int64,
                other => other.clone(),
            });
        }
        Ok(out)
    }

    fn lambda_parameters(
        &self,
        _step: usize,
        fields: &[ValueOrLambda<FieldRef, Option<FieldRef>>],
    ) -> Result<LambdaParametersProgress> {
        let values: Vec<&FieldRef> = fields
            .iter()
            .filter_map(|f| match f {
                ValueOrLambda::Value(v) => Some(v),
                ValueOrLambda::Lambda(_) => None,
            })
            .collect();
        let lambdas = fields.len() - values.len();
        let Some(coll) = values.first() else {
            return plan_err!("Function '{}' needs an ARRAY or a MAP", self.name());
        };
        let params = parameters(
            self.kind,
            self.name(),
            coll.data_type(),
            values.get(1).copied(),
        )?;
        if params.len() != lambdas {
            return plan_err!(
                "Function '{}' over {} takes {} lambda(s), got {lambdas}",
                self.name(),
                coll.data_type(),
                params.len()
            );
        }
        Ok(LambdaParametersProgress::Complete(params))
    }

    fn return_field_from_args(&self, args: HigherOrderReturnFieldArgs) -> Result<FieldRef> {
        let mut values = Vec::new();
        let mut lambdas = Vec::new();
        for a in args.arg_fields {
            match a {
                ValueOrLambda::Value(v) => values.push(v),
                ValueOrLambda::Lambda(l) => lambdas.push(l),
            }
        }
        let Some(coll) = values.first() else {
            return plan_err!("Function '{}' needs an ARRAY or a MAP", self.name());
        };
        let t = match (self.kind, collection(self.name(), coll.data_type())?) {
            (Kind::Transform, Collection::List(_)) => match lambdas.first() {
                Some(l) => {
                    DataType::List(Arc::new(Field::new_list_field(l.data_type().clone(), true)))
                }
                None => return plan_err!("TRANSFORM needs a lambda"),
            },
            (Kind::Transform, Collection::Map(..)) => match lambdas.as_slice() {
                [k, v] => map_type(k.data_type().clone(), v.data_type().clone()),
                _ => return plan_err!("TRANSFORM over a MAP needs two lambdas"),
            },
            (Kind::Filter, _) => coll.data_type().clone(),
            (Kind::Reduce, _) => match values.get(1) {
                Some(init) => init.data_type().clone(),
                None => return plan_err!("REDUCE needs an initial state"),
            },
        };
        Ok(Arc::new(Field::new(self.name(), t, true)))
    }

    fn invoke_with_args(&self, args: HigherOrderFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let ret = args.return_type().clone();
        let mut values = Vec::new();
        let mut lambdas = Vec::new();
        for a in &args.args {
            match a {
                ValueOrLambda::Value(v) => values.push(v.to_array(rows)?),
                ValueOrLambda::Lambda(l) => lambdas.push(l),
            }
        }
        let (Some(coll), Some(first)) = (values.first(), lambdas.first()) else {
            return exec_err!("{}: missing arguments", self.name());
        };
        let out = match (self.kind, coll.data_type()) {
            (Kind::Transform, DataType::List(_)) => transform_list(coll.as_list(), first, &ret)?,
            (Kind::Transform, DataType::Map(..)) => match lambdas.get(1) {
                Some(second) => transform_map(coll.as_map(), first, second, &ret)?,
                None => return exec_err!("TRANSFORM over a MAP needs two lambdas"),
            },
            (Kind::Filter, DataType::List(_)) => filter_list(coll.as_list(), first)?,
            (Kind::Filter, DataType::Map(..)) => filter_map(coll.as_map(), first)?,
            (Kind::Reduce, _) => match values.get(1) {
                Some(init) => reduce(coll, init, first)?,
                None => return exec_err!("REDUCE needs an initial state"),
            },
            (_, other) => return exec_err!("{}: unexpected argument type {other}", self.name()),
        };
        Ok(ColumnarValue::Array(out))
    }
}

/// The elements under a list or map array, and the offsets of each row
/// into them (the array may be a slice of a larger one).
fn flat_offsets(offsets: &[i32]) -> (usize, usize, Vec<i32>) {
    let start = offsets.first().copied().unwrap_or(0);
    let end = offsets.last().copied().unwrap_or(0);
    let relative = offsets.iter().map(|o| o - start).collect();
    (start as usize, (end - start) as usize, relative)
}

/// For each element, the row it belongs to.
fn element_rows(offsets: &[i32]) -> UInt32Array {
    let mut rows = Vec::with_capacity(offsets.last().copied().unwrap_or(0) as usize);
    for (row, w) in offsets.windows(2).enumerate() {
        rows.extend(std::iter::repeat_n(row as u32, (w[1] - w[0]) as usize));
    }
    UInt32Array::from(rows)
}

fn spread(indices: &UInt32Array) -> impl FnOnce(&[ArrayRef]) -> Result<Vec<ArrayRef>> + '_ {
    move |columns| {
        columns
            .iter()
            .map(|c| Ok(take(c.as_ref(), indices, None)?))
            .collect()
    }
}

fn cast_to(a: ArrayRef, t: &DataType) -> Result<ArrayRef> {
    if a.data_type() == t {
        Ok(a)
    } else {
        Ok(cast(&a, t)?)
    }
}

/// Evaluates `lambda` over `params` (element columns), `len` rows long.
fn call(
    lambda: &LambdaArgument,
    params: &[ArrayRef],
    rows: &UInt32Array,
    len: usize,
) -> Result<ArrayRef> {
    let closures: Vec<Box<dyn Fn() -> Result<ArrayRef> + '_>> = params
        .iter()
        .map(|p| Box::new(move || Ok(Arc::clone(p))) as Box<dyn Fn() -> Result<ArrayRef>>)
        .collect();
    let refs: Vec<&dyn Fn() -> Result<ArrayRef>> = closures.iter().map(|c| c.as_ref()).collect();
    lambda.evaluate(&refs, spread(rows))?.into_array(len)
}

/// A lambda's result as a keep-mask: null counts as false.
fn mask(result: &ArrayRef) -> Result<BooleanArray> {
    let Some(b) = result.as_any().downcast_ref::<BooleanArray>() else {
        return exec_err!(
            "FILTER's lambda must give a BOOLEAN, not {}",
            result.data_type()
        );
    };
    Ok(match b.nulls() {
        None => b.clone(),
        Some(n) => BooleanArray::new(b.values() & n.inner(), None),
    })
}

/// Offsets after keeping the elements `keep` holds for.
fn kept_offsets(offsets: &[i32], keep: &BooleanArray) -> OffsetBuffer<i32> {
    let mut out = Vec::with_capacity(offsets.len());
    out.push(0);
    let mut total = 0i32;
    for w in offsets.windows(2) {
        for i in w[0]..w[1] {
            if keep.value(i as usize) {
                total += 1;
            }
        }
        out.push(total);
    }
    OffsetBuffer::new(out.into())
}

fn transform_list(list: &ListArray, lambda: &LambdaArgument, ret: &DataType) -> Result<ArrayRef> {
    let DataType::List(item) = ret else {
        return exec_err!("TRANSFORM over an ARRAY returns an ARRAY, not {ret}");
    };
    let (start, len, offsets) = flat_offsets(list.value_offsets());
    let values = list.values().slice(start, len);
    let rows = element_rows(&offsets);
    let out = cast_to(call(lambda, &[values], &rows, len)?, item.data_type())?;
    Ok(Arc::new(ListArray::try_new(
        Arc::clone(item),
        OffsetBuffer::new(offsets.into()),
        out,
        list.nulls().cloned(),
    )?))
}

fn filter_list(list: &ListArray, lambda: &LambdaArgument) -> Result<ArrayRef> {
    let (start, len, offsets) = flat_offsets(list.value_offsets());
    let values = list.values().slice(start, len);
    let rows = element_rows(&offsets);
    let keep = mask(&call(lambda, &[Arc::clone(&values)], &rows, len)?)?;
    let DataType::List(item) = list.data_type() else {
        return exec_err!("FILTER over a non-list {}", list.data_type());
    };
    Ok(Arc::new(ListArray::try_new(
        Arc::clone(item),
        kept_offsets(&offsets, &keep),
        filter(values.as_ref(), &keep)?,
        list.nulls().cloned(),
    )?))
}

/// The keys and values under a map array, with each row's offsets.
fn map_parts(map: &MapArray) -> (ArrayRef, ArrayRef, Vec<i32>) {
    let (start, len, offsets) = flat_offsets(map.value_offsets());
    (
        map.keys().slice(start, len),
        map.values().slice(start, len),
        offsets,
    )
}

fn build_map(
    ret: &DataType,
    offsets: OffsetBuffer<i32>,
    keys: ArrayRef,
    values: ArrayRef,
    nulls: Option<NullBuffer>,
) -> Result<ArrayRef> {
    let DataType::Map(entries, sorted) = ret else {
        return exec_err!("expected a MAP result, not {ret}");
    };
    let DataType::Struct(kv) = entries.data_type() else {
        return exec_err!("map entries are not a struct: {ret}");
    };
    let keys = cast_to(keys, kv[0].data_type())?;
    let values = cast_to(values, kv[1].data_type())?;
    let entries_array = StructArray::try_new(kv.clone(), vec![keys, values], None)?;
    Ok(Arc::new(MapArray::try_new(
        Arc::clone(entries),
        offsets,
        entries_array,
        nulls,
        *sorted,
    )?))
}

fn transform_map(
    map: &MapArray,
    key_lambda: &LambdaArgument,
    value_lambda: &LambdaArgument,
    ret: &DataType,
) -> Result<ArrayRef> {
    let (keys, values, offsets) = map_parts(map);
    let rows = element_rows(&offsets);
    let len = keys.len();
    let params = [keys, values];
    let new_keys = call(key_lambda, &params, &rows, len)?;
    let new_values = call(value_lambda, &params, &rows, len)?;
    // A row whose new keys repeat or are null has no valid map: it is null.
    let converter = RowConverter::new(vec![SortField::new(new_keys.data_type().clone())])?;
    let encoded = converter.convert_columns(&[Arc::clone(&new_keys)])?;
    let mut valid: Vec<bool> = Vec::with_capacity(map.len());
    for (row, w) in offsets.windows(2).enumerate() {
        let mut seen = HashSet::new();
        let ok = map.is_valid(row)
            && (w[0]..w[1]).all(|i| {
                let i = i as usize;
                new_keys.is_valid(i) && seen.insert(encoded.row(i))
            });
        valid.push(ok);
    }
    // Entries of null rows are dropped, so no null key remains.
    let keep = BooleanArray::from(
        rows.values()
            .iter()
            .map(|&r| valid[r as usize])
            .collect::<Vec<bool>>(),
    );
    let offsets = kept_offsets(&offsets, &keep);
    build_map(
        ret,
        offsets,
        filter(new_keys.as_ref(), &keep)?,
        filter(new_values.as_ref(), &keep)?,
        Some(NullBuffer::from(valid)),
    )
}

fn filter_map(map: &MapArray, lambda: &LambdaArgument) -> Result<ArrayRef> {
    let (keys, values, offsets) = map_parts(map);
    let rows = element_rows(&offsets);
    let len = keys.len();
    let keep = mask(&call(
        lambda,
        &[Arc::clone(&keys), Arc::clone(&values)],
        &rows,
        len,
    )?)?;
    build_map(
        map.data_type(),
        kept_offsets(&offsets, &keep),
        filter(keys.as_ref(), &keep)?,
        filter(values.as_ref(), &keep)?,
        map.nulls().cloned(),
    )
}

/// REDUCE: one evaluation of the body per element position, over the rows
/// that still have an element there.
fn reduce(coll: &ArrayRef, init: &ArrayRef, lambda: &LambdaArgument) -> Result<ArrayRef> {
    let state_type = init.data_type().clone();
    let (elements, offsets, valid): (Vec<ArrayRef>, Vec<i32>, Option<NullBuffer>) =
        match coll.data_type() {
            DataType::List(_) => {
                let list = coll.as_list::<i32>();
                let (start, len, offsets) = flat_offsets(list.value_offsets());
                (
                    vec![list.values().slice(start, len)],
                    offsets,
                    list.nulls().cloned(),
                )
            }
            DataType::Map(..) => {
                let map = coll.as_map();
                let (keys, values, offsets) = map_parts(map);
                (vec![keys, values], offsets, map.nulls().cloned())
            }
            other => return exec_err!("REDUCE over {other}"),
        };
    let length = |row: usize| -> usize {
        if valid.as_ref().is_some_and(|n| n.is_null(row)) {
            0
        } else {
            (offsets[row + 1] - offsets[row]) as usize
        }
    };
    let rows = init.len();
    let longest = (0..rows).map(length).max().unwrap_or(0);
    let mut state = Arc::clone(init);
    for k in 0..longest {
        // Rows with a k-th element and a non-null initial state (ksqlDB:
        // a null initial state gives null).
        let active: Vec<u32> = (0..rows)
            .filter(|&r| length(r) > k && init.is_valid(r))
            .map(|r| r as u32)
            .collect();
        if active.is_empty() {
            continue;
        }
        let active = UInt32Array::from(active);
        let positions = UInt32Array::from(
            active
                .values()
                .iter()
                .map(|&r| (offsets[r as usize] as usize + k) as u32)
                .collect::<Vec<u32>>(),
        );
        let mut params = vec![take(state.as_ref(), &active, None)?];
        for e in &elements {
            params.push(take(e.as_ref(), &positions, None)?);
        }
        let result = cast_to(call(lambda, &params, &active, active.len())?, &state_type)?;
        // The new state: the result for active rows, the old one elsewhere.
        let mut picks: Vec<(usize, usize)> = (0..rows).map(|r| (0, r)).collect();
        for (i, &r) in active.values().iter().enumerate() {
            picks[r as usize] = (1, i);
        }
        state = interleave(&[state.as_ref(), result.as_ref()], &picks)?;
    }
    Ok(state)
}
