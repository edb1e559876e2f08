//! ksqlDB's numeric functions: ABS, CEIL, FLOOR, ROUND, TRUNC, SIGN, the
//! exponential, logarithmic and trigonometric functions, RANDOM, PI,
//! GREATEST, LEAST and GEO_DISTANCE.
//!
//! Result types follow ksqlDB: ABS, CEIL and FLOOR keep their argument's
//! type; ROUND and TRUNC of a DOUBLE are BIGINT (DOUBLE with a scale
//! argument); SIGN is INT; the rest are DOUBLE. Rounding is ksqlDB's "half
//! up towards positive infinity" (ROUND(-1.5) is -1), applied to the
//! shortest decimal form of a DOUBLE as Java's `BigDecimal.valueOf` does.

use std::sync::Arc;

use arrow::array::BooleanArray;
use arrow::array::{
    Array, ArrayRef, Decimal128Array, Float64Array, Int32Array, Int64Array, PrimitiveArray,
    StringArray,
};
use arrow::compute::kernels::{cmp, zip::zip};
use arrow::compute::{and, is_not_null, is_null, or};
use arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int32Type, Int64Type};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::ScalarUDF;

use super::udf::{
    arg, bad_args, common_type, double_rows, get, normalize, overloads, returns, same_as_first,
    KsqlUdf, P,
};

/// A function of one DOUBLE returning DOUBLE (INT and BIGINT widen).
macro_rules! double_fn {
    ($name:literal, $f:expr) => {{
        fn eval(a: &[ArrayRef], _: &DataType, _: usize) -> Result<ArrayRef> {
            let x = arg::<Float64Array>(a, 0)?;
            let f: fn(f64) -> f64 = $f;
            Ok(Arc::new(x.unary::<_, Float64Type>(f)))
        }
        KsqlUdf::new(
            $name,
            overloads!([P::Double]),
            returns!(DataType::Float64),
            eval,
        )
        .udf()
    }};
}

/// The numeric functions.
pub fn udfs() -> Vec<Arc<ScalarUDF>> {
    let num = overloads!([P::Int], [P::Bigint], [P::Double], [P::Decimal]);
    vec![
        KsqlUdf::new("abs", num, same_as_first, abs).udf(),
        KsqlUdf::new("ceil", num, same_as_first, ceil)
            .aliases(&["ceiling"])
            .udf(),
        KsqlUdf::new("floor", num, same_as_first, floor).udf(),
        KsqlUdf::new(
            "round",
            overloads!(
                [P::Bigint],
                [P::Double],
                [P::Decimal],
                [P::Double, P::Int],
                [P::Decimal, P::Int]
            ),
            round_type,
            round,
        )
        .udf(),
        KsqlUdf::new(
            "trunc",
            overloads!(
                [P::Bigint],
                [P::Double],
                [P::Decimal],
                [P::Double, P::Int],
                [P::Decimal, P::Int]
            ),
            round_type,
            trunc,
        )
        .udf(),
        KsqlUdf::new(
            "sign",
            overloads!([P::Int], [P::Bigint], [P::Double], [P::Decimal]),
            returns!(DataType::Int32),
            sign,
        )
        .udf(),
        double_fn!("sqrt", f64::sqrt),
        double_fn!("cbrt", f64::cbrt),
        double_fn!("exp", f64::exp),
        double_fn!("ln", f64::ln),
        double_fn!("acos", f64::acos),
        double_fn!("asin", f64::asin),
        double_fn!("atan", f64::atan),
        double_fn!("cos", f64::cos),
        double_fn!("cosh", f64::cosh),
        double_fn!("cot", |x| 1.0 / x.tan()),
        double_fn!("sin", f64::sin),
        double_fn!("sinh", f64::sinh),
        double_fn!("tan", f64::tan),
        double_fn!("tanh", f64::tanh),
        double_fn!("degrees", f64::to_degrees),
        double_fn!("radians", f64::to_radians),
        KsqlUdf::new(
            "atan2",
            overloads!([P::Double, P::Double]),
            returns!(DataType::Float64),
            atan2,
        )
        .udf(),
        KsqlUdf::new(
            "power",
            overloads!([P::Double, P::Double]),
            returns!(DataType::Float64),
            power,
        )
        .aliases(&["pow"])
        .udf(),
        KsqlUdf::new(
            "log",
            overloads!([P::Double], [P::Double, P::Double]),
            returns!(DataType::Float64),
            log,
        )
        .udf(),
        KsqlUdf::new("pi", overloads!([]), returns!(DataType::Float64), pi).udf(),
        KsqlUdf::new(
            "random",
            overloads!([]),
            returns!(DataType::Float64),
            random,
        )
        .volatile()
        .udf(),
        KsqlUdf::new("greatest", extreme_coerce, same_as_first, greatest).udf(),
        KsqlUdf::new("least", extreme_coerce, same_as_first, least).udf(),
        KsqlUdf::new(
            "geo_distance",
            overloads!(
                [P::Double, P::Double, P::Double, P::Double],
                [P::Double, P::Double, P::Double, P::Double, P::Str]
            ),
            returns!(DataType::Float64),
            geo_distance,
        )
        .udf(),
    ]
}

fn internal(what: &str) -> DataFusionError {
    DataFusionError::Internal(format!("unexpected argument type for {what}"))
}

fn abs(a: &[ArrayRef], _: &DataType, _: usize) -> Result<ArrayRef> {
    Ok(match a[0].data_type() {
        DataType::Int32 => {
            Arc::new(arg::<Int32Array>(a, 0)?.unary::<_, Int32Type>(i32::wrapping_abs))
        }
        DataType::Int64 => {
            Arc::new(arg::<Int64Array>(a, 0)?.unary::<_, Int64Type>(i64::wrapping_abs))
        }
        DataType::Float64 => Arc::new(arg::<Float64Array>(a, 0)?.unary::<_, Float64Type>(f64::abs)),
        DataType::Decimal128(p, s) => Arc::new(
            arg::<Decimal128Array>(a, 0)?
                .unary::<_, Decimal128Type>(i128::wrapping_abs)
                .with_precision_and_scale(*p, *s)?,
        ),
        _ => return Err(internal("abs")),
    })
}

/// How to drop digits when rescaling a decimal.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Floor,
    Ceiling,
    /// towards zero
    Down,
    /// half towards positive infinity (ksqlDB's ROUND)
    HalfUpPositive,
}

/// `v` (at `scale`) rounded to `places` decimal places and expressed at
/// `out_scale`; `None` on overflow.
fn rescale(v: i128, scale: i8, places: i32, out_scale: i8, mode: Mode) -> Option<i128> {
    let scale = scale as i32;
    let (value, at) = if places >= scale {
        (v, scale)
    } else {
        let k = (scale - places) as u32;
        let q = match 10i128.checked_pow(k) {
            None => 0,
            Some(p) => {
                let (q, r) = (v / p, v % p);
                let up = match mode {
                    Mode::Down => false,
                    Mode::Floor => r < 0,
                    Mode::Ceiling => r > 0,
                    Mode::HalfUpPositive if r >= 0 => r.checked_mul(2).is_none_or(|r2| r2 >= p),
                    Mode::HalfUpPositive => r.checked_mul(-2).is_none_or(|r2| r2 > p),
                };
                match (up, r.signum()) {
                    (false, _) => q,
                    (true, -1) => q - 1,
                    (true, _) => q + 1,
                }
            }
        };
        (q, places)
    };
    let shift = out_scale as i32 - at;
    if shift >= 0 {
        value.checked_mul(10i128.checked_pow(shift as u32)?)
    } else {
        Some(value / 10i128.checked_pow((-shift) as u32)?)
    }
}

/// Rounds a DOUBLE's shortest decimal form to `places` decimal places.
fn round_double(d: f64, places: i32, mode: Mode) -> f64 {
    if !d.is_finite() || d == 0.0 {
        return d;
    }
    let neg = d < 0.0;
    let text = format!("{:e}", d.abs());
    let Some((mant, exp)) = text.split_once('e') else {
        return d;
    };
    let Ok(exp) = exp.parse::<i32>() else {
        return d;
    };
    let digits: Vec<u8> = mant
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    // Digit k has weight 10^(exp - k); keep those down to 10^-places.
    let keep = exp as i64 + places as i64 + 1;
    if keep >= digits.len() as i64 {
        return d;
    }
    let (kept, rest): (&[u8], &[u8]) = if keep <= 0 {
        (&[], if keep == 0 { &digits[..] } else { &[] })
    } else {
        digits.split_at(keep as usize)
    };
    let first = rest.first().copied().unwrap_or(0);
    let beyond = rest.iter().skip(1).any(|&x| x != 0);
    let up = match mode {
        Mode::Down => false,
        Mode::HalfUpPositive if !neg => first >= 5,
        Mode::HalfUpPositive => first > 5 || (first == 5 && beyond),
        Mode::Floor => neg,
        Mode::Ceiling => !neg,
    };
    let mut int: u128 = kept.iter().fold(0, |acc, &x| acc * 10 + x as u128);
    if up {
        int += 1;
    }
    let magnitude: f64 = format!("{int}e{}", -(places as i64))
        .parse()
        .unwrap_or(f64::NAN);
    if neg {
        -magnitude
    } else {
        magnitude
    }
}

fn ceil_floor(a: &[ArrayRef], mode: Mode) -> Result<ArrayRef> {
    Ok(match a[0].data_type() {
        DataType::Int32 | DataType::Int64 => Arc::clone(&a[0]),
        DataType::Float64 => {
            let f = if mode == Mode::Floor {
                f64::floor
            } else {
                f64::ceil
            };
            Arc::new(arg::<Float64Array>(a, 0)?.unary::<_, Float64Type>(f))
        }
        DataType::Decimal128(p, s) => {
            let x = arg::<Decimal128Array>(a, 0)?;
            let out: Decimal128Array = x
                .iter()
                .map(|v| v.and_then(|v| rescale(v, *s, 0, *s, mode)))
                .collect();
            Arc::new(out.with_precision_and_scale(*p, *s)?)
        }
        _ => return Err(internal("ceil/floor")),
    })
}

fn ceil(a: &[ArrayRef], _: &DataType, _: usize) -> Result<ArrayRef> {
    ceil_floor(a, Mode::Ceiling)
}

fn floor(a: &[ArrayRef], _: &DataType, _: usize) -> Result<ArrayRef> {
    ceil_floor(a, Mode::Floor)
}

/// ROUND and TRUNC: BIGINT for whole numbers and a lone DOUBLE, DOUBLE with
/// places, DECIMAL(p - s, 0) for a lone DECIMAL, the same DECIMAL with places.
fn round_type(args: &[DataType]) -> Result<DataType> {
    Ok(match (args.first(), args.len()) {
        (Some(DataType::Decimal128(p, s)), 1) => {
            DataType::Decimal128((*p as i16 - *s as i16).clamp(1, 38) as u8, 0)
        }
        (Some(t @ DataType::Decimal128(..)), _) => t.clone(),
        (Some(DataType::Float64), 2) => DataType::Float64,
        _ => DataType::Int64,
    })
}

fn round_or_trunc(a: &[ArrayRef], ret: &DataType, rows: usize, mode: Mode) -> Result<ArrayRef> {
    let places = a.get(1).map(|_| arg::<Int32Array>(a, 1)).transpose()?;
    let places_at = |i: usize| match places {
        Some(p) => get(p, i),
        None => Some(0),
    };
    match (a[0].data_type(), ret) {
        (DataType::Int64, _) => Ok(Arc::clone(&a[0])),
        (DataType::Float64, DataType::Int64) => {
            let x = arg::<Float64Array>(a, 0)?;
            let f = |v: f64| match mode {
                // Java's Math.round: floor(v + 0.5); a cast saturates.
                Mode::HalfUpPositive => (v + 0.5).floor() as i64,
                _ => v.trunc() as i64,
            };
            Ok(Arc::new(x.unary::<_, Int64Type>(f)))
        }
        (DataType::Float64, _) => {
            let x = arg::<Float64Array>(a, 0)?;
            Ok(double_rows(rows, |i| {
                Some(round_double(get(x, i)?, places_at(i)?, mode))
            }))
        }
        (DataType::Decimal128(_, s), DataType::Decimal128(p_out, s_out)) => {
            let x = arg::<Decimal128Array>(a, 0)?;
            let out: PrimitiveArray<Decimal128Type> = (0..rows)
                .map(|i| rescale(get(x, i)?, *s, places_at(i)?, *s_out, mode))
                .collect();
            Ok(Arc::new(out.with_precision_and_scale(*p_out, *s_out)?))
        }
        _ => Err(internal("round/trunc")),
    }
}

fn round(a: &[ArrayRef], ret: &DataType, rows: usize) -> Result<ArrayRef> {
    round_or_trunc(a, ret, rows, Mode::HalfUpPositive)
}

fn trunc(a: &[ArrayRef], ret: &DataType, rows: usize) -> Result<ArrayRef> {
    round_or_trunc(a, ret, rows, Mode::Down)
}

fn sign(a: &[ArrayRef], _: &DataType, _: usize) -> Result<ArrayRef> {
    Ok(Arc::new(match a[0].data_type() {
        DataType::Int32 => arg::<Int32Array>(a, 0)?.unary::<_, Int32Type>(i32::signum),
        DataType::Int64 => arg::<Int64Array>(a, 0)?.unary::<_, Int32Type>(|v| v.signum() as i32),
        DataType::Float64 => arg::<Float64Array>(a, 0)?.unary::<_, Int32Type>(|v| {
            if v > 0.0 {
                1
            } else if v < 0.0 {
                -1
            } else {
                0
            }
        }),
        DataType::Decimal128(..) => {
            arg::<Decimal128Array>(a, 0)?.unary::<_, Int32Type>(|v| v.signum() as i32)
        }
        _ => return Err(internal("sign")),
    }))
}

fn binary_double(a: &[ArrayRef], f: fn(f64, f64) -> f64) -> Result<ArrayRef> {
    let x = arg::<Float64Array>(a, 0)?;
    let y = arg::<Float64Array>(a, 1)?;
    Ok(Arc::new(arrow::compute::binary::<_, _, _, Float64Type>(
        x, y, f,
    )?))
}

fn atan2(a: &[ArrayRef], _: &DataType, _: usize) -> Result<ArrayRef> {
    binary_double(a, f64::atan2)
}

fn power(a: &[ArrayRef], _: &DataType, _: usize) -> Result<ArrayRef> {
    binary_double(a, f64::powf)
}

/// LOG(x) is the natural logarithm (as in ksqlDB's implementation);
/// LOG(base, x) is NaN for a base that is not positive or is 1.
fn log(a: &[ArrayRef], _: &DataType, _: usize) -> Result<ArrayRef> {
    if a.len() == 1 {
        return Ok(Arc::new(
            arg::<Float64Array>(a, 0)?.unary::<_, Float64Type>(f64::ln),
        ));
    }
    binary_double(a, |base, x| {
        if base <= 0.0 || base == 1.0 {
            f64::NAN
        } else {
            x.ln() / base.ln()
        }
    })
}

fn pi(_: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    Ok(double_rows(rows, |_| Some(std::f64::consts::PI)))
}

fn random(_: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    Ok(double_rows(rows, |_| Some(rand::random::<f64>())))
}

/// GREATEST and LEAST take one or more values of one comparable type;
/// nulls are ignored. As in ksqlDB: numbers of different types resolve
/// only when one is a DOUBLE (otherwise BIGINT, DECIMAL and DOUBLE would
/// all fit, which ksqlDB calls ambiguous), and string literals among
/// DATE, TIME or TIMESTAMP values are read as such.
fn extreme_coerce(name: &str, args: &[DataType]) -> Result<Vec<DataType>> {
    let known: Vec<&DataType> = args.iter().filter(|t| **t != DataType::Null).collect();
    if known.is_empty() {
        return Err(ambiguous(name, args));
    }
    let temporal = known.iter().find(|t| t.is_temporal()).map(|t| normalize(t));
    if let Some(t) = temporal {
        if known
            .iter()
            .all(|k| normalize(k) == t || matches!(k, DataType::Utf8 | DataType::Utf8View))
        {
            return Ok(vec![t; args.len()]);
        }
        return Err(bad_args(name, args));
    }
    if known.iter().all(|t| t.is_numeric()) {
        let kind = |t: &DataType| match normalize(t) {
            DataType::Decimal128(..) => DataType::Decimal128(38, 0),
            other => other,
        };
        let first = kind(known[0]);
        let mixed = known.iter().any(|t| kind(t) != first);
        if mixed && !known.iter().any(|t| t.is_floating()) {
            return Err(ambiguous(name, args));
        }
    }
    let common = common_type(args).ok_or_else(|| bad_args(name, args))?;
    if matches!(
        common,
        DataType::List(_) | DataType::Map(..) | DataType::Struct(_)
    ) {
        return Err(bad_args(name, args));
    }
    Ok(vec![common; args.len()])
}

/// ksqlDB's message when several overloads fit equally.
fn ambiguous(name: &str, args: &[DataType]) -> datafusion::common::DataFusionError {
    let shown = args
        .iter()
        .map(|t| match t {
            DataType::Null => "null".to_string(),
            t => crate::types::SqlType::from_arrow(t)
                .map(|s| s.to_string())
                .unwrap_or_else(|_| t.to_string()),
        })
        .collect::<Vec<_>>()
        .join(", ");
    datafusion::common::plan_datafusion_err!(
        "Function '{name}' cannot be resolved due to ambiguous method parameters ({shown})."
    )
}

fn extreme(a: &[ArrayRef], greater: bool) -> Result<ArrayRef> {
    let mut acc = Arc::clone(&a[0]);
    for next in &a[1..] {
        let better = if greater {
            cmp::gt(next, &acc)?
        } else {
            cmp::lt(next, &acc)?
        };
        let better = nulls_false(&better);
        let fill = and(&is_null(&acc)?, &is_not_null(next)?)?;
        acc = zip(&or(&better, &fill)?, next, &acc)?;
    }
    Ok(acc)
}

/// The mask with nulls turned into false.
fn nulls_false(b: &BooleanArray) -> BooleanArray {
    match b.nulls() {
        Some(n) => BooleanArray::new(b.values() & n.inner(), None),
        None => b.clone(),
    }
}

fn greatest(a: &[ArrayRef], _: &DataType, _: usize) -> Result<ArrayRef> {
    extreme(a, true)
}

fn least(a: &[ArrayRef], _: &DataType, _: usize) -> Result<ArrayRef> {
    extreme(a, false)
}

/// Great-circle distance (haversine) in km, or miles with 'mi'/'miles';
/// null for out-of-range coordinates or unknown units.
fn geo_distance(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let c = (0..4)
        .map(|k| arg::<Float64Array>(a, k))
        .collect::<Result<Vec<_>>>()?;
    let units = a.get(4).map(|_| arg::<StringArray>(a, 4)).transpose()?;
    Ok(double_rows(rows, |i| {
        let (lat1, lon1, lat2, lon2) = (get(c[0], i)?, get(c[1], i)?, get(c[2], i)?, get(c[3], i)?);
        let unit = units
            .and_then(|u| get(u, i))
            .unwrap_or("")
            .trim()
            .to_lowercase();
        let radius = match unit.as_str() {
            "" | "km" | "kilometer" | "kilometers" | "kilometre" | "kilometres" => 6371.0,
            "mi" | "mile" | "miles" => 3959.0,
            _ => return None,
        };
        if [lat1, lat2].iter().any(|l| !(-90.0..=90.0).contains(l))
            || [lon1, lon2].iter().any(|l| !(-180.0..=180.0).contains(l))
        {
            return None;
        }
        let hav = |x: f64| (x / 2.0).sin().powi(2);
        let h = hav((lat2 - lat1).to_radians())
            + hav((lon2 - lon1).to_radians()) * lat1.to_radians().cos() * lat2.to_radians().cos();
        Some(2.0 * h.sqrt().asin() * radius)
    }))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{check, check_err, check_typed, column};
    use super::*;

    #[tokio::test]
    async fn abs_ceil_floor_keep_types() {
        check_typed("abs(CAST(-7 AS INT))", "7", DataType::Int32).await;
        check_typed("abs(-7)", "7", DataType::Int64).await;
        check_typed("abs(-2.25)", "2.25", DataType::Float64).await;
        check_typed(
            "abs(CAST(-3.10 AS DECIMAL(4, 2)))",
            "3.10",
            DataType::Decimal128(4, 2),
        )
        .await;
        check_typed("ceil(CAST(4 AS INT))", "4", DataType::Int32).await;
        check("ceil(-2.5)", "-2.0").await;
        check("floor(-2.5)", "-3.0").await;
        check("floor(CAST(-2.25 AS DECIMAL(4, 2)))", "-3.00").await;
        check("ceil(CAST(2.25 AS DECIMAL(4, 2)))", "3.00").await;
        check("abs(NULL)", "NULL").await;
    }

    #[tokio::test]
    async fn round_half_up_towards_positive() {
        check_typed("round(2.5)", "3", DataType::Int64).await;
        check("round(-2.5)", "-2").await;
        check("round(-2.51)", "-3").await;
        check_typed("round(CAST(9 AS INT))", "9", DataType::Int64).await;
        check_typed("round(3.14159, 3)", "3.142", DataType::Float64).await;
        check("round(-0.125, 2)", "-0.12").await;
        check("round(0.125, 2)", "0.13").await;
        check("round(987.6, -2)", "1000.0").await;
        check("round(40.0, -2)", "0.0").await;
        check("round(2.675, 2)", "2.68").await;
        check_typed(
            "round(CAST(12.55 AS DECIMAL(5, 2)))",
            "13",
            DataType::Decimal128(3, 0),
        )
        .await;
        check_typed(
            "round(CAST(-12.55 AS DECIMAL(5, 2)), 1)",
            "-12.50",
            DataType::Decimal128(5, 2),
        )
        .await;
        check("round(CAST(NULL AS DOUBLE), 2)", "NULL").await;
        check("round(1.5, NULL)", "NULL").await;
    }

    #[tokio::test]
    async fn trunc_towards_zero() {
        check_typed("trunc(-8.9)", "-8", DataType::Int64).await;
        check("trunc(8.987, 2)", "8.98").await;
        check("trunc(CAST(-8.97 AS DECIMAL(4, 2)), 1)", "-8.90").await;
        check_typed(
            "trunc(CAST(8.97 AS DECIMAL(4, 2)))",
            "8",
            DataType::Decimal128(2, 0),
        )
        .await;
    }

    #[tokio::test]
    async fn exponentials_and_trig() {
        check("sqrt(16)", "4.0").await;
        check("sqrt(-1)", "NaN").await;
        check("ln(0)", "-inf").await;
        check("exp(0)", "1.0").await;
        check("power(2, 10)", "1024.0").await;
        check("log(100, 10000)", "2.0").await;
        check("log(1, 5)", "NaN").await;
        check("cbrt(27)", "3.0").await;
        check("degrees(pi())", "180.0").await;
        check("round(cos(0), 5)", "1.0").await;
        check("atan2(0, 1)", "0.0").await;
        check_typed("sign(-0.5)", "-1", DataType::Int32).await;
        check("sign(CAST(0 AS BIGINT))", "0").await;
    }

    #[tokio::test]
    async fn random_is_in_unit_interval() {
        let (v, t) = column("SELECT random() FROM (VALUES (1), (2), (3)) AS t(x)").await;
        assert_eq!(t, DataType::Float64);
        for x in v {
            let x: f64 = x.parse().unwrap_or(-1.0);
            assert!((0.0..1.0).contains(&x));
        }
    }

    #[tokio::test]
    async fn greatest_least_ignore_nulls() {
        check_typed("greatest(3, 9, NULL, 4)", "9", DataType::Int64).await;
        check("least(3, 9, NULL, 4)", "3").await;
        check_typed("greatest(CAST(1 AS INT), 2.5)", "2.5", DataType::Float64).await;
        check("greatest('pear', 'apple')", "pear").await;
        check("least(CAST(NULL AS INT), CAST(4 AS INT))", "4").await;
        check(
            "greatest(CAST(1 AS INT), CAST(2.5 AS DOUBLE), CAST(2 AS BIGINT))",
            "2.5",
        )
        .await;
        check(
            "greatest(CAST('2022-01-02' AS DATE), '2022-03-04')",
            "2022-03-04",
        )
        .await;
        // ksqlDB: BIGINT, DECIMAL and DOUBLE would all fit; untyped nulls fit anything.
        check_err("greatest(CAST(1 AS INT), CAST(2 AS BIGINT))").await;
        check_err("least(NULL, NULL)").await;
        let (v, _) =
            column("SELECT greatest(a, b) FROM (VALUES (1, NULL), (NULL, 5), (7, 2)) AS t(a, b)")
                .await;
        assert_eq!(v, ["1", "5", "7"]);
    }

    #[tokio::test]
    async fn geo_distance_haversine() {
        check("round(geo_distance(0, 0, 0, 1), 2)", "111.19").await;
        check("round(geo_distance(0, 0, 0, 1, 'MI'), 2)", "69.1").await;
        check("geo_distance(95, 0, 0, 1)", "NULL").await;
        check("geo_distance(0, 0, 0, 1, 'parsecs')", "NULL").await;
    }

    #[test]
    fn rescale_modes() {
        assert_eq!(rescale(-1250, 2, 1, 2, Mode::HalfUpPositive), Some(-1250));
        assert_eq!(rescale(-1255, 2, 1, 2, Mode::HalfUpPositive), Some(-1250));
        assert_eq!(rescale(1255, 2, 1, 2, Mode::HalfUpPositive), Some(1260));
        assert_eq!(rescale(-101, 2, 0, 0, Mode::Floor), Some(-2));
        assert_eq!(rescale(101, 2, 0, 0, Mode::Ceiling), Some(2));
    }
}
