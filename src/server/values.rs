//! Arrow columns to JSON values, as ksqlDB's REST API renders them
//! (`ApiJsonMapper`): numbers as JSON numbers (DECIMAL with its exact
//! digits, never an exponent), TIMESTAMP as `yyyy-MM-ddTHH:mm:ss.SSS` in
//! UTC, DATE as `yyyy-MM-dd`, TIME as Java's `LocalTime` prints it, BYTES
//! as base64, STRUCT and MAP as objects, ARRAY as arrays.
//!
//! Conversion works column by column over a whole batch (one downcast per
//! column), then the columns are transposed into rows.

use std::str::FromStr;

use arrow::array::{
    Array, AsArray, GenericBinaryArray, GenericListArray, GenericStringArray, OffsetSizeTrait,
    PrimitiveArray, RecordBatch,
};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Date64Type, Decimal128Type, Decimal256Type,
    Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
    Time32MillisecondType, Time32SecondType, Time64MicrosecondType, Time64NanosecondType, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use base64::Engine as _;
use serde_json::{Map, Number, Value};

use crate::error::{Error, Result};

/// The first `columns` columns of `batch` as rows of JSON values.
pub fn batch_rows(batch: &RecordBatch, columns: usize) -> Result<Vec<Vec<Value>>> {
    let converted: Vec<Vec<Value>> = batch
        .columns()
        .iter()
        .take(columns)
        .map(|c| column_values(c.as_ref()))
        .collect::<Result<_>>()?;
    let mut rows: Vec<Vec<Value>> = (0..batch.num_rows())
        .map(|_| Vec::with_capacity(converted.len()))
        .collect();
    for column in converted {
        for (row, value) in rows.iter_mut().zip(column) {
            row.push(value);
        }
    }
    Ok(rows)
}

/// Every value of one column, nulls as JSON `null`.
pub fn column_values(array: &dyn Array) -> Result<Vec<Value>> {
    let n = array.len();
    let mut out: Vec<Value> = match array.data_type() {
        DataType::Null => vec![Value::Null; n],
        DataType::Boolean => {
            let a = array.as_boolean();
            (0..n).map(|i| Value::Bool(a.value(i))).collect()
        }
        DataType::Int8 => integers::<Int8Type>(array),
        DataType::Int16 => integers::<Int16Type>(array),
        DataType::Int32 => integers::<Int32Type>(array),
        DataType::Int64 => integers::<Int64Type>(array),
        DataType::UInt8 => integers::<UInt8Type>(array),
        DataType::UInt16 => integers::<UInt16Type>(array),
        DataType::UInt32 => integers::<UInt32Type>(array),
        DataType::UInt64 => integers::<UInt64Type>(array),
        DataType::Float16 => primitive::<Float16Type>(array, |v| double(f64::from(v))),
        DataType::Float32 => primitive::<Float32Type>(array, |v| double(f64::from(v))),
        DataType::Float64 => primitive::<Float64Type>(array, double),
        DataType::Decimal128(..) => {
            let a = array.as_primitive::<Decimal128Type>();
            (0..n).map(|i| decimal(a.value_as_string(i))).collect()
        }
        DataType::Decimal256(..) => {
            let a = array.as_primitive::<Decimal256Type>();
            (0..n).map(|i| decimal(a.value_as_string(i))).collect()
        }
        DataType::Utf8 => strings(array.as_string::<i32>()),
        DataType::LargeUtf8 => strings(array.as_string::<i64>()),
        DataType::Utf8View => {
            let a = array.as_string_view();
            (0..n)
                .map(|i| Value::String(a.value(i).to_string()))
                .collect()
        }
        DataType::Binary => binaries(array.as_binary::<i32>()),
        DataType::LargeBinary => binaries(array.as_binary::<i64>()),
        DataType::BinaryView => {
            let a = array.as_binary_view();
            (0..n).map(|i| base64_value(a.value(i))).collect()
        }
        DataType::FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary();
            (0..n).map(|i| base64_value(a.value(i))).collect()
        }
        DataType::Date32 => primitive::<Date32Type>(array, |d| date(i64::from(d) * MILLIS_PER_DAY)),
        DataType::Date64 => primitive::<Date64Type>(array, date),
        DataType::Time32(TimeUnit::Second) => {
            primitive::<Time32SecondType>(array, |s| time(i64::from(s) * 1_000_000_000))
        }
        DataType::Time32(_) => {
            primitive::<Time32MillisecondType>(array, |ms| time(i64::from(ms) * 1_000_000))
        }
        DataType::Time64(TimeUnit::Microsecond) => {
            primitive::<Time64MicrosecondType>(array, |us| time(us * 1_000))
        }
        DataType::Time64(_) => primitive::<Time64NanosecondType>(array, time),
        DataType::Timestamp(TimeUnit::Second, _) => {
            primitive::<TimestampSecondType>(array, |s| timestamp(s.saturating_mul(1_000)))
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            primitive::<TimestampMillisecondType>(array, timestamp)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            primitive::<TimestampMicrosecondType>(array, |us| timestamp(us.div_euclid(1_000)))
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            primitive::<TimestampNanosecondType>(array, |ns| timestamp(ns.div_euclid(1_000_000)))
        }
        DataType::List(_) => lists(array.as_list::<i32>())?,
        DataType::LargeList(_) => lists(array.as_list::<i64>())?,
        DataType::Struct(fields) => {
            let a = array.as_struct();
            let children: Vec<Vec<Value>> = a
                .columns()
                .iter()
                .map(|c| column_values(c.as_ref()))
                .collect::<Result<_>>()?;
            let mut rows: Vec<Map<String, Value>> = (0..n).map(|_| Map::new()).collect();
            for (field, child) in fields.iter().zip(children) {
                for (row, value) in rows.iter_mut().zip(child) {
                    row.insert(field.name().clone(), value);
                }
            }
            rows.into_iter().map(Value::Object).collect()
        }
        DataType::Map(..) => {
            let a = array.as_map();
            let keys = column_values(a.keys().as_ref())?;
            let mut values = column_values(a.values().as_ref())?;
            let offsets = a.value_offsets();
            (0..n)
                .map(|i| {
                    let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                    let mut object = Map::new();
                    for j in start..end.min(values.len()).min(keys.len()) {
                        let key = match &keys[j] {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        object.insert(key, std::mem::take(&mut values[j]));
                    }
                    Value::Object(object)
                })
                .collect()
        }
        _ => formatted(array)?,
    };
    if array.null_count() > 0 {
        for (i, value) in out.iter_mut().enumerate() {
            if array.is_null(i) {
                *value = Value::Null;
            }
        }
    }
    Ok(out)
}

const MILLIS_PER_DAY: i64 = 86_400_000;

fn primitive<T: ArrowPrimitiveType>(
    array: &dyn Array,
    f: impl Fn(T::Native) -> Value,
) -> Vec<Value> {
    let a: &PrimitiveArray<T> = array.as_primitive::<T>();
    a.values().iter().map(|v| f(*v)).collect()
}

fn integers<T: ArrowPrimitiveType>(array: &dyn Array) -> Vec<Value>
where
    T::Native: Into<Number>,
{
    primitive::<T>(array, |v| Value::Number(v.into()))
}

/// A double as Jackson writes it: a number, or `"NaN"`/`"Infinity"`.
fn double(v: f64) -> Value {
    match Number::from_f64(v) {
        Some(n) => Value::Number(n),
        None if v.is_nan() => Value::String("NaN".into()),
        None if v > 0.0 => Value::String("Infinity".into()),
        None => Value::String("-Infinity".into()),
    }
}

fn decimal(text: String) -> Value {
    match Number::from_str(&text) {
        Ok(n) => Value::Number(n),
        Err(_) => Value::String(text),
    }
}

fn strings<O: OffsetSizeTrait>(a: &GenericStringArray<O>) -> Vec<Value> {
    (0..a.len())
        .map(|i| Value::String(a.value(i).to_string()))
        .collect()
}

fn binaries<O: OffsetSizeTrait>(a: &GenericBinaryArray<O>) -> Vec<Value> {
    (0..a.len()).map(|i| base64_value(a.value(i))).collect()
}

fn base64_value(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn lists<O: OffsetSizeTrait>(a: &GenericListArray<O>) -> Result<Vec<Value>> {
    let mut items = column_values(a.values().as_ref())?;
    let offsets = a.value_offsets();
    Ok((0..a.len())
        .map(|i| {
            let start = offsets[i].as_usize().min(items.len());
            let end = offsets[i + 1].as_usize().min(items.len()).max(start);
            Value::Array(items[start..end].iter_mut().map(std::mem::take).collect())
        })
        .collect())
}

/// `yyyy-MM-ddTHH:mm:ss.SSS`, UTC, no zone suffix.
fn timestamp(ms: i64) -> Value {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => Value::String(t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()),
        None => Value::Number(ms.into()),
    }
}

fn date(ms: i64) -> Value {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => Value::String(t.format("%Y-%m-%d").to_string()),
        None => Value::Number((ms / MILLIS_PER_DAY).into()),
    }
}

/// Java's `LocalTime.toString()`: `HH:mm`, `HH:mm:ss`, or with the
/// fraction in groups of three digits.
fn time(nanos_of_day: i64) -> Value {
    let nanos = nanos_of_day.rem_euclid(MILLIS_PER_DAY * 1_000_000);
    let seconds = nanos / 1_000_000_000;
    let fraction = nanos % 1_000_000_000;
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let text = if s == 0 && fraction == 0 {
        format!("{h:02}:{m:02}")
    } else if fraction == 0 {
        format!("{h:02}:{m:02}:{s:02}")
    } else if fraction % 1_000_000 == 0 {
        format!("{h:02}:{m:02}:{s:02}.{:03}", fraction / 1_000_000)
    } else if fraction % 1_000 == 0 {
        format!("{h:02}:{m:02}:{s:02}.{:06}", fraction / 1_000)
    } else {
        format!("{h:02}:{m:02}:{s:02}.{fraction:09}")
    };
    Value::String(text)
}

/// Types SQL does not have: Arrow's own display text.
fn formatted(array: &dyn Array) -> Result<Vec<Value>> {
    let options = FormatOptions::default();
    let formatter = ArrayFormatter::try_new(array, &options)
        .map_err(|e| Error::internal(format!("cannot render {}: {e}", array.data_type())))?;
    Ok((0..array.len())
        .map(|i| Value::String(formatter.value(i).to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, Date32Array, Decimal128Array, Float64Array, Int32Array, StringArray,
        Time32MillisecondArray, TimestampMillisecondArray,
    };

    use super::*;

    fn array_values(array: &ArrayRef) -> Result<Vec<Value>> {
        column_values(array.as_ref())
    }

    #[test]
    fn renders_scalars_as_ksqldb_does() {
        let dec: ArrayRef = Arc::new(
            Decimal128Array::from(vec![Some(1230), None])
                .with_precision_and_scale(6, 2)
                .unwrap(),
        );
        assert_eq!(
            serde_json::to_string(&array_values(&dec).unwrap()).unwrap(),
            "[12.30,null]"
        );
        let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![1_577_853_634_789]));
        assert_eq!(
            array_values(&ts).unwrap(),
            vec![Value::from("2020-01-01T04:40:34.789")]
        );
        let d: ArrayRef = Arc::new(Date32Array::from(vec![18_628]));
        assert_eq!(array_values(&d).unwrap(), vec![Value::from("2021-01-01")]);
        let t: ArrayRef = Arc::new(Time32MillisecondArray::from(vec![1_000, 36_900_000, 1_001]));
        assert_eq!(
            array_values(&t).unwrap(),
            vec![
                Value::from("00:00:01"),
                Value::from("10:15"),
                Value::from("00:00:01.001")
            ]
        );
        let f: ArrayRef = Arc::new(Float64Array::from(vec![1.5, f64::NAN]));
        assert_eq!(
            serde_json::to_string(&array_values(&f).unwrap()).unwrap(),
            r#"[1.5,"NaN"]"#
        );
    }

    #[test]
    fn transposes_batches_into_rows() {
        let batch = RecordBatch::try_from_iter(vec![
            ("K", Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef),
            (
                "V",
                Arc::new(Int32Array::from(vec![Some(1), None])) as ArrayRef,
            ),
        ])
        .unwrap();
        assert_eq!(
            serde_json::to_string(&batch_rows(&batch, 2).unwrap()).unwrap(),
            r#"[["a",1],["b",null]]"#
        );
    }
}
