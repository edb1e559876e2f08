//! The one `ScalarUDFImpl` every ksqlDB scalar function is built from, and the
//! helpers the families share: overload resolution with ksqlDB's implicit
//! widening (INT → BIGINT → DECIMAL → DOUBLE), argument access and result
//! building.
//!
//! A function is three plain functions: `coerce` picks the argument types
//! (DataFusion casts the arguments to them), `ret` gives the result type for
//! those argument types, and `eval` computes a result array from argument
//! arrays of equal length. Scalar arguments are expanded to arrays; when every
//! argument is a scalar the result is a scalar again, so constant folding
//! works.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::DataType;
use datafusion::common::{plan_datafusion_err, DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::types::SqlType;

/// Picks the argument types for a call, given the actual ones.
pub(crate) type CoerceFn = fn(&str, &[DataType]) -> Result<Vec<DataType>>;
/// The result type for (coerced) argument types.
pub(crate) type ReturnFn = fn(&[DataType]) -> Result<DataType>;
/// Computes the result from argument arrays of `rows` rows each.
pub(crate) type EvalFn = fn(&[ArrayRef], &DataType, usize) -> Result<ArrayRef>;

/// A ksqlDB scalar function: name, aliases, and its three parts.
#[derive(Debug)]
pub struct KsqlUdf {
    name: &'static str,
    aliases: Vec<String>,
    signature: Signature,
    coerce: CoerceFn,
    ret: ReturnFn,
    eval: EvalFn,
}

impl PartialEq for KsqlUdf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.aliases == other.aliases
    }
}

impl Eq for KsqlUdf {}

impl Hash for KsqlUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.aliases.hash(state);
    }
}

impl KsqlUdf {
    /// A deterministic function.
    pub(crate) fn new(name: &'static str, coerce: CoerceFn, ret: ReturnFn, eval: EvalFn) -> Self {
        KsqlUdf {
            name,
            aliases: Vec::new(),
            signature: Signature::user_defined(Volatility::Immutable),
            coerce,
            ret,
            eval,
        }
    }

    /// Also callable under these (lower-case) names.
    pub(crate) fn aliases(mut self, aliases: &[&str]) -> Self {
        self.aliases = aliases.iter().map(|a| a.to_string()).collect();
        self
    }

    /// The result may differ between calls with the same arguments
    /// (RANDOM, UUID, UNIX_TIMESTAMP()).
    pub(crate) fn volatile(mut self) -> Self {
        self.signature = Signature::user_defined(Volatility::Volatile);
        self
    }

    /// Wraps the function for registration.
    pub(crate) fn udf(self) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::new_from_impl(self))
    }
}

impl ScalarUDFImpl for KsqlUdf {
    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        (self.ret)(arg_types)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        (self.coerce)(self.name, arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar && !args.args.is_empty() {
            1
        } else {
            args.number_rows
        };
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<Vec<_>>>()?;
        let out = (self.eval)(&arrays, args.return_field.data_type(), rows)?;
        if out.len() != rows {
            return Err(DataFusionError::Internal(format!(
                "function '{}' returned {} rows for {rows}",
                self.name,
                out.len()
            )));
        }
        if all_scalar && !args.args.is_empty() {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}

/// A parameter kind in an overload, with ksqlDB's implicit casts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum P {
    /// STRING
    Str,
    /// INT (accepts nothing wider)
    Int,
    /// BIGINT (accepts INT)
    Bigint,
    /// DOUBLE (accepts INT, BIGINT, DECIMAL)
    Double,
    /// DECIMAL (accepts INT as DECIMAL(10, 0), BIGINT as DECIMAL(19, 0))
    Decimal,
    /// BOOLEAN
    Bool,
    /// BYTES
    Bytes,
    /// DATE
    Date,
    /// TIME
    Time,
    /// TIMESTAMP
    Timestamp,
    /// any ARRAY, as it is
    Array,
    /// any MAP, as it is
    Map,
    /// any type, as it is
    Any,
}

/// The broad kind of an Arrow type, as ksqlDB sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Int,
    Bigint,
    Double,
    Decimal,
    Str,
    Bool,
    Bytes,
    Date,
    Time,
    Timestamp,
    Array,
    Map,
    Other,
}

fn kind(t: &DataType) -> Kind {
    use DataType::*;
    match t {
        Null => Kind::Null,
        Int8 | Int16 | Int32 | UInt8 | UInt16 => Kind::Int,
        Int64 | UInt32 | UInt64 => Kind::Bigint,
        Float16 | Float32 | Float64 => Kind::Double,
        Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) => Kind::Decimal,
        Utf8 | LargeUtf8 | Utf8View => Kind::Str,
        Boolean => Kind::Bool,
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => Kind::Bytes,
        Date32 | Date64 => Kind::Date,
        Time32(_) | Time64(_) => Kind::Time,
        Timestamp(..) => Kind::Timestamp,
        List(_) | LargeList(_) | FixedSizeList(..) | ListView(_) => Kind::Array,
        Map(..) => Kind::Map,
        _ => Kind::Other,
    }
}

/// The Arrow type a parameter kind takes an argument of type `t` to, if it
/// accepts it, with the cost of the cast (0 when none is needed).
fn accept_cost(p: P, t: &DataType) -> Option<(DataType, u32)> {
    let k = kind(t);
    let cost = match (p, k) {
        (_, Kind::Null) => 0,
        (P::Int, Kind::Bigint) => 1,
        (P::Bigint, Kind::Int) => 1,
        (P::Decimal, Kind::Int | Kind::Bigint) => 2,
        (P::Double, Kind::Int | Kind::Bigint) => 3,
        (P::Double, Kind::Decimal) => 4,
        _ => 0,
    };
    accept(p, t, false).map(|t| (t, cost))
}

/// The Arrow type a parameter kind takes an argument of type `t` to, if it
/// accepts it. `exact` refuses widening casts.
fn accept(p: P, t: &DataType, exact: bool) -> Option<DataType> {
    use arrow::datatypes::TimeUnit::Millisecond;
    let k = kind(t);
    let widen = !exact || k == Kind::Null;
    let ok = |ks: &[Kind]| k == Kind::Null || ks.contains(&k);
    Some(match p {
        P::Str if ok(&[Kind::Str]) => DataType::Utf8,
        // SQL integer literals are BIGINT in DataFusion but INT in ksqlDB.
        P::Int if ok(&[Kind::Int]) || (widen && k == Kind::Bigint) => DataType::Int32,
        P::Bigint if ok(&[Kind::Bigint]) || (widen && k == Kind::Int) => DataType::Int64,
        P::Double if ok(&[Kind::Double]) => DataType::Float64,
        P::Double if widen && matches!(k, Kind::Int | Kind::Bigint | Kind::Decimal) => {
            DataType::Float64
        }
        P::Decimal => match t {
            DataType::Decimal128(..) => t.clone(),
            DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal256(p, s) => {
                DataType::Decimal128((*p).min(38), *s)
            }
            _ if k == Kind::Null => DataType::Decimal128(1, 0),
            _ if widen && k == Kind::Int => DataType::Decimal128(10, 0),
            _ if widen && k == Kind::Bigint => DataType::Decimal128(19, 0),
            _ => return None,
        },
        P::Bool if ok(&[Kind::Bool]) => DataType::Boolean,
        P::Bytes if ok(&[Kind::Bytes]) => DataType::Binary,
        P::Date if ok(&[Kind::Date]) => DataType::Date32,
        P::Time if ok(&[Kind::Time]) => DataType::Time32(Millisecond),
        P::Timestamp if ok(&[Kind::Timestamp]) => DataType::Timestamp(Millisecond, None),
        P::Array if k == Kind::Array => match t {
            DataType::LargeList(f) | DataType::FixedSizeList(f, _) | DataType::ListView(f) => {
                DataType::List(f.clone())
            }
            _ => t.clone(),
        },
        P::Map if k == Kind::Map => t.clone(),
        P::Any => t.clone(),
        _ => return None,
    })
}

fn match_overload(over: &[P], variadic: bool, args: &[DataType]) -> Option<(Vec<DataType>, u32)> {
    let fixed = if variadic { over.len() - 1 } else { over.len() };
    if args.len() < fixed || (!variadic && args.len() != fixed) {
        return None;
    }
    let mut cost = 0;
    let mut types = Vec::with_capacity(args.len());
    for (i, t) in args.iter().enumerate() {
        let (t, c) = accept_cost(over[i.min(over.len() - 1)], t)?;
        cost += c;
        types.push(t);
    }
    Some((types, cost))
}

/// Resolves a call against fixed overloads and variadic ones (whose last
/// parameter repeats zero or more times): the overload needing the cheapest
/// implicit casts wins, the first listed among equals.
pub(crate) fn resolve(
    name: &str,
    args: &[DataType],
    overloads: &[&[P]],
    variadic_overloads: &[&[P]],
) -> Result<Vec<DataType>> {
    let fixed = overloads.iter().map(|o| (*o, false));
    let var = variadic_overloads.iter().map(|o| (*o, true));
    let mut best: Option<(Vec<DataType>, u32)> = None;
    for (over, variadic) in fixed.chain(var) {
        if let Some((types, cost)) = match_overload(over, variadic, args) {
            if best.as_ref().is_none_or(|(_, c)| cost < *c) {
                best = Some((types, cost));
            }
        }
    }
    best.map(|(t, _)| t).ok_or_else(|| bad_args(name, args))
}

/// ksqlDB's message for a call no overload accepts.
pub(crate) fn bad_args(name: &str, args: &[DataType]) -> DataFusionError {
    let shown = args
        .iter()
        .map(|t| match t {
            DataType::Null => "NULL".to_string(),
            t => SqlType::from_arrow(t)
                .map(|s| s.to_string())
                .unwrap_or_else(|_| t.to_string()),
        })
        .collect::<Vec<_>>()
        .join(", ");
    plan_datafusion_err!("Function '{name}' does not accept parameters ({shown}).")
}

/// Coercion for functions with a fixed list of overloads; use as
/// `coerce: overloads!([P::Str], [P::Str, P::Int])`.
macro_rules! overloads {
    ($([$($p:expr),*]),+ $(,)?) => {{
        fn coerce(
            name: &str,
            args: &[arrow::datatypes::DataType],
        ) -> datafusion::common::Result<Vec<arrow::datatypes::DataType>> {
            $crate::functions::udf::resolve(name, args, &[$(&[$($p),*]),+], &[])
        }
        coerce
    }};
}
pub(crate) use overloads;

/// Coercion for variadic functions: the last parameter repeats (zero or more
/// times); e.g. `variadic!([P::Str, P::Str])` is `(STRING, STRING...)`.
macro_rules! variadic {
    ($([$($p:expr),*]),+ $(,)?) => {{
        fn coerce(
            name: &str,
            args: &[arrow::datatypes::DataType],
        ) -> datafusion::common::Result<Vec<arrow::datatypes::DataType>> {
            $crate::functions::udf::resolve(name, args, &[], &[$(&[$($p),*]),+])
        }
        coerce
    }};
}
pub(crate) use variadic;

/// Result type: always `$t`.
macro_rules! returns {
    ($t:expr) => {{
        fn ret(
            _: &[arrow::datatypes::DataType],
        ) -> datafusion::common::Result<arrow::datatypes::DataType> {
            Ok($t)
        }
        ret
    }};
}
pub(crate) use returns;

/// Result type: that of the first argument.
pub(crate) fn same_as_first(args: &[DataType]) -> Result<DataType> {
    args.first()
        .cloned()
        .ok_or_else(|| DataFusionError::Internal("function called without arguments".into()))
}

/// The common type of several arguments under ksqlDB's widening (used by
/// GREATEST, LEAST and the array functions); `None` if they do not mix.
pub(crate) fn common_type(types: &[DataType]) -> Option<DataType> {
    let mut acc: Option<DataType> = None;
    for t in types {
        if kind(t) == Kind::Null {
            continue;
        }
        acc = Some(match acc {
            None => normalize(t),
            Some(a) => widen_pair(&a, &normalize(t))?,
        });
    }
    Some(acc.unwrap_or(DataType::Null))
}

/// The sluice Arrow type for an Arrow type (e.g. Int8 → Int32, LargeUtf8 →
/// Utf8), keeping nested types as they are.
pub(crate) fn normalize(t: &DataType) -> DataType {
    use arrow::datatypes::TimeUnit::Millisecond;
    match kind(t) {
        Kind::Int => DataType::Int32,
        Kind::Bigint => DataType::Int64,
        Kind::Double => DataType::Float64,
        Kind::Str => DataType::Utf8,
        Kind::Bytes => DataType::Binary,
        Kind::Date => DataType::Date32,
        Kind::Time => DataType::Time32(Millisecond),
        Kind::Timestamp => DataType::Timestamp(Millisecond, None),
        Kind::Decimal => accept(P::Decimal, t, true).unwrap_or_else(|| t.clone()),
        _ => t.clone(),
    }
}

fn widen_pair(a: &DataType, b: &DataType) -> Option<DataType> {
    if a == b {
        return Some(a.clone());
    }
    let rank = |t: &DataType| match kind(t) {
        Kind::Int => Some(0),
        Kind::Bigint => Some(1),
        Kind::Decimal => Some(2),
        Kind::Double => Some(3),
        _ => None,
    };
    let (ra, rb) = (rank(a)?, rank(b)?);
    if ra == 2 || rb == 2 {
        if ra == 3 || rb == 3 {
            return Some(DataType::Float64);
        }
        let da = accept(P::Decimal, a, false)?;
        let db = accept(P::Decimal, b, false)?;
        if let (DataType::Decimal128(p1, s1), DataType::Decimal128(p2, s2)) = (da, db) {
            let s = s1.max(s2);
            let int = (p1 as i16 - s1 as i16).max(p2 as i16 - s2 as i16);
            let p = (int + s as i16).clamp(1, 38) as u8;
            return Some(DataType::Decimal128(p, s));
        }
        return None;
    }
    Some(if ra > rb { a.clone() } else { b.clone() })
}

/// Downcasts an argument array, reporting an internal error (a coercion
/// bug) if it has another type.
pub(crate) fn arg<T: 'static>(arrays: &[ArrayRef], i: usize) -> Result<&T> {
    arrays
        .get(i)
        .and_then(|a| a.as_any().downcast_ref::<T>())
        .ok_or_else(|| {
            DataFusionError::Internal(format!(
                "argument {i} has type {:?}, not the expected one",
                arrays.get(i).map(|a| a.data_type().clone())
            ))
        })
}

/// The value of row `i`, or `None` if it is null.
pub(crate) fn get<A: arrow::array::ArrayAccessor>(a: A, i: usize) -> Option<A::Item> {
    if a.is_valid(i) {
        Some(a.value(i))
    } else {
        None
    }
}

/// A STRING result from one optional value per row.
pub(crate) fn utf8_rows<S: AsRef<str>>(rows: usize, f: impl FnMut(usize) -> Option<S>) -> ArrayRef {
    Arc::new(arrow::array::StringArray::from_iter((0..rows).map(f)))
}

/// A BYTES result from one optional value per row.
pub(crate) fn binary_rows<B: AsRef<[u8]>>(
    rows: usize,
    f: impl FnMut(usize) -> Option<B>,
) -> ArrayRef {
    Arc::new(arrow::array::BinaryArray::from_iter((0..rows).map(f)))
}

/// An INT result from one optional value per row.
pub(crate) fn int_rows(rows: usize, f: impl FnMut(usize) -> Option<i32>) -> ArrayRef {
    Arc::new(arrow::array::Int32Array::from_iter((0..rows).map(f)))
}

/// A BIGINT result from one optional value per row.
pub(crate) fn bigint_rows(rows: usize, f: impl FnMut(usize) -> Option<i64>) -> ArrayRef {
    Arc::new(arrow::array::Int64Array::from_iter((0..rows).map(f)))
}

/// A DOUBLE result from one optional value per row.
pub(crate) fn double_rows(rows: usize, f: impl FnMut(usize) -> Option<f64>) -> ArrayRef {
    Arc::new(arrow::array::Float64Array::from_iter((0..rows).map(f)))
}

/// A BOOLEAN result from one optional value per row.
pub(crate) fn bool_rows(rows: usize, f: impl FnMut(usize) -> Option<bool>) -> ArrayRef {
    Arc::new(arrow::array::BooleanArray::from_iter((0..rows).map(f)))
}

/// Caches compiled forms of the (usually constant) pattern argument of a
/// function across the rows of a batch.
pub(crate) struct Cache<T> {
    last: Option<(String, Option<T>)>,
}

impl<T> Cache<T> {
    /// An empty cache.
    pub(crate) fn new() -> Self {
        Cache { last: None }
    }

    /// The compiled form of `key`, compiling it with `make` if it is not the
    /// key of the previous call; `None` if it does not compile.
    pub(crate) fn get(&mut self, key: &str, make: impl FnOnce(&str) -> Option<T>) -> Option<&T> {
        let hit = matches!(&self.last, Some((k, _)) if k == key);
        if !hit {
            self.last = Some((key.to_string(), make(key)));
        }
        self.last.as_ref().and_then(|(_, v)| v.as_ref())
    }
}

/// An ARRAY<STRING> result from one optional list per row.
pub(crate) fn string_list_rows<S: AsRef<str>>(
    rows: usize,
    mut f: impl FnMut(usize) -> Option<Vec<Option<S>>>,
) -> ArrayRef {
    let mut b = arrow::array::ListBuilder::new(arrow::array::StringBuilder::new());
    for i in 0..rows {
        match f(i) {
            Some(items) => {
                for item in items {
                    b.values().append_option(item);
                }
                b.append(true);
            }
            None => b.append(false),
        }
    }
    Arc::new(b.finish())
}

/// A MAP<STRING, STRING> result (sluice's map layout) from one optional list
/// of entries per row.
pub(crate) fn string_map_rows(
    rows: usize,
    mut f: impl FnMut(usize) -> Option<Vec<(String, Option<String>)>>,
) -> Result<ArrayRef> {
    use arrow::array::{MapBuilder, MapFieldNames, StringBuilder};
    let names = MapFieldNames {
        entry: "entries".to_string(),
        key: "key".to_string(),
        value: "value".to_string(),
    };
    let mut b = MapBuilder::new(Some(names), StringBuilder::new(), StringBuilder::new());
    for i in 0..rows {
        match f(i) {
            Some(entries) => {
                for (k, v) in entries {
                    b.keys().append_value(k);
                    b.values().append_option(v);
                }
                b.append(true)?;
            }
            None => b.append(false)?,
        }
    }
    Ok(Arc::new(b.finish()))
}
