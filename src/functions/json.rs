//! ksqlDB's functions on JSON text: EXTRACTJSONFIELD, IS_JSON_STRING,
//! JSON_ARRAY_CONTAINS, JSON_ARRAY_LENGTH, JSON_CONCAT, JSON_KEYS,
//! JSON_RECORDS, JSON_ITEMS, and TO_JSON_STRING (any value to JSON text).
//!
//! Text that is not valid JSON gives null (false for the predicates).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array,
    Int64Array, ListArray, MapArray, StringArray, StructArray, Time32MillisecondArray,
    TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field};
use base64::Engine;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::ScalarUDF;
use serde_json::Value;

use super::udf::{
    arg, bad_args, bool_rows, get, int_rows, overloads, returns, string_list_rows, string_map_rows,
    utf8_rows, variadic, KsqlUdf, P,
};
use crate::types::map_type;

fn string_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

/// The JSON functions.
pub fn udfs() -> Vec<Arc<ScalarUDF>> {
    vec![
        KsqlUdf::new(
            "extractjsonfield",
            overloads!([P::Str, P::Str]),
            returns!(DataType::Utf8),
            extract_json_field,
        )
        .udf(),
        KsqlUdf::new(
            "is_json_string",
            overloads!([P::Str]),
            returns!(DataType::Boolean),
            is_json_string,
        )
        .udf(),
        KsqlUdf::new(
            "json_array_length",
            overloads!([P::Str]),
            returns!(DataType::Int32),
            json_array_length,
        )
        .udf(),
        KsqlUdf::new(
            "json_array_contains",
            contains_coerce,
            returns!(DataType::Boolean),
            json_array_contains,
        )
        .udf(),
        KsqlUdf::new(
            "json_concat",
            variadic!([P::Str, P::Str]),
            returns!(DataType::Utf8),
            json_concat,
        )
        .udf(),
        KsqlUdf::new(
            "json_keys",
            overloads!([P::Str]),
            returns!(string_list()),
            json_keys,
        )
        .udf(),
        KsqlUdf::new(
            "json_records",
            overloads!([P::Str]),
            returns!(map_type(DataType::Utf8, DataType::Utf8)),
            json_records,
        )
        .udf(),
        KsqlUdf::new(
            "json_items",
            overloads!([P::Str]),
            returns!(string_list()),
            json_items,
        )
        .udf(),
        KsqlUdf::new(
            "to_json_string",
            overloads!([P::Any]),
            returns!(DataType::Utf8),
            to_json_string,
        )
        .udf(),
    ]
}

fn parse(s: &str) -> Option<Value> {
    serde_json::from_str(s).ok()
}

/// The first JSON value of `s`, ignoring what follows it, as Jackson's
/// `readTree` (behind EXTRACTJSONFIELD) does.
fn parse_first(s: &str) -> Option<Value> {
    serde_json::Deserializer::from_str(s)
        .into_iter::<Value>()
        .next()?
        .ok()
}

/// One step of a JSON path.
enum Step {
    Key(String),
    Index(usize),
}

/// Parses `$.a.b[0]`, `$['a']["b"]`; `None` if malformed.
fn parse_path(path: &str) -> Option<Vec<Step>> {
    let cs: Vec<char> = path.trim().chars().collect();
    if cs.first() != Some(&'$') {
        return None;
    }
    let mut steps = Vec::new();
    let mut i = 1;
    while i < cs.len() {
        match cs[i] {
            '.' => {
                let start = i + 1;
                let mut end = start;
                while end < cs.len() && cs[end] != '.' && cs[end] != '[' {
                    end += 1;
                }
                if end == start {
                    return None;
                }
                steps.push(Step::Key(cs[start..end].iter().collect()));
                i = end;
            }
            '[' => {
                let close = (i + 1..cs.len()).find(|&k| cs[k] == ']')?;
                let inner: String = cs[i + 1..close].iter().collect();
                let inner = inner.trim();
                let quoted = (inner.starts_with('\'') && inner.ends_with('\''))
                    || (inner.starts_with('"') && inner.ends_with('"'));
                if quoted && inner.len() >= 2 {
                    steps.push(Step::Key(inner[1..inner.len() - 1].to_string()));
                } else {
                    steps.push(Step::Index(inner.parse().ok()?));
                }
                i = close + 1;
            }
            _ => return None,
        }
    }
    Some(steps)
}

/// Text of a JSON value as EXTRACTJSONFIELD returns it: strings bare,
/// everything else as compact JSON; null for JSON null.
fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn extract_json_field(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let s = arg::<StringArray>(a, 0)?;
    let p = arg::<StringArray>(a, 1)?;
    Ok(utf8_rows(rows, |i| {
        let steps = parse_path(get(p, i)?)?;
        let mut v = &parse_first(get(s, i)?)?;
        for step in &steps {
            v = match step {
                Step::Key(k) => v.as_object()?.get(k)?,
                Step::Index(n) => v.as_array()?.get(*n)?,
            };
        }
        value_text(v)
    }))
}

fn is_json_string(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let s = arg::<StringArray>(a, 0)?;
    Ok(bool_rows(rows, |i| {
        Some(get(s, i).and_then(parse).is_some())
    }))
}

fn json_array_length(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let s = arg::<StringArray>(a, 0)?;
    Ok(int_rows(rows, |i| {
        Some(parse(get(s, i)?)?.as_array()?.len() as i32)
    }))
}

fn contains_coerce(name: &str, args: &[DataType]) -> Result<Vec<DataType>> {
    match args {
        [DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null, v] => {
            let v = match v {
                DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::UInt8
                | DataType::UInt16 => DataType::Int32,
                DataType::Int64 | DataType::UInt32 | DataType::UInt64 => DataType::Int64,
                DataType::Float32 | DataType::Float64 | DataType::Decimal128(..) => {
                    DataType::Float64
                }
                DataType::Boolean => DataType::Boolean,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {
                    DataType::Utf8
                }
                _ => return Err(bad_args(name, args)),
            };
            Ok(vec![DataType::Utf8, v])
        }
        _ => Err(bad_args(name, args)),
    }
}

/// True if the JSON array in the first argument has an element equal to
/// the second (same JSON kind: numbers, strings, booleans, or null).
fn json_array_contains(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let s = arg::<StringArray>(a, 0)?;
    let needle = |i: usize| -> Option<Value> {
        let v = &a[1];
        if v.is_null(i) {
            return Some(Value::Null);
        }
        Some(match v.data_type() {
            DataType::Int32 => Value::from(v.as_any().downcast_ref::<Int32Array>()?.value(i)),
            DataType::Int64 => Value::from(v.as_any().downcast_ref::<Int64Array>()?.value(i)),
            DataType::Float64 => Value::from(v.as_any().downcast_ref::<Float64Array>()?.value(i)),
            DataType::Boolean => Value::from(v.as_any().downcast_ref::<BooleanArray>()?.value(i)),
            _ => Value::from(v.as_any().downcast_ref::<StringArray>()?.value(i)),
        })
    };
    Ok(bool_rows(rows, |i| {
        let Some(Value::Array(items)) = get(s, i).and_then(parse) else {
            return Some(false);
        };
        let n = needle(i)?;
        Some(items.iter().any(|item| match (item, &n) {
            (Value::Number(x), Value::Number(y)) => {
                if x.is_f64() || y.is_f64() {
                    x.as_f64() == y.as_f64()
                } else {
                    x.as_i64() == y.as_i64() && x.as_u64() == y.as_u64()
                }
            }
            (x, y) => x == y,
        }))
    }))
}

/// JSON_CONCAT: objects merge (later keys win); otherwise every value is
/// taken as an array (non-arrays as one element) and the arrays join.
fn json_concat(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let ss = (0..a.len())
        .map(|k| arg::<StringArray>(a, k))
        .collect::<Result<Vec<_>>>()?;
    Ok(utf8_rows(rows, |i| {
        let values = ss
            .iter()
            .map(|s| get(*s, i).and_then(parse))
            .collect::<Option<Vec<_>>>()?;
        let out = if values.iter().all(Value::is_object) {
            let mut merged = serde_json::Map::new();
            for v in values {
                if let Value::Object(o) = v {
                    merged.extend(o);
                }
            }
            Value::Object(merged)
        } else {
            let mut items = Vec::new();
            for v in values {
                match v {
                    Value::Array(xs) => items.extend(xs),
                    other => items.push(other),
                }
            }
            Value::Array(items)
        };
        Some(out.to_string())
    }))
}

fn json_keys(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let s = arg::<StringArray>(a, 0)?;
    Ok(string_list_rows(rows, |i| {
        let v = parse(get(s, i)?)?;
        Some(v.as_object()?.keys().map(|k| Some(k.clone())).collect())
    }))
}

fn json_records(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let s = arg::<StringArray>(a, 0)?;
    string_map_rows(rows, |i| {
        let v = parse(get(s, i)?)?;
        Some(
            v.as_object()?
                .iter()
                .map(|(k, v)| (k.clone(), value_text(v)))
                .collect(),
        )
    })
}

fn json_items(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let s = arg::<StringArray>(a, 0)?;
    Ok(string_list_rows(rows, |i| {
        let v = parse(get(s, i)?)?;
        Some(v.as_array()?.iter().map(|x| Some(x.to_string())).collect())
    }))
}

/// A value of any sluice type as JSON, as ksqlDB's JSON format writes it
/// (DATE as days, TIME as ms of day, TIMESTAMP as epoch ms, BYTES base64).
pub(crate) fn to_json(a: &dyn Array, i: usize) -> Result<Value> {
    if a.data_type() == &DataType::Null || a.is_null(i) {
        return Ok(Value::Null);
    }
    let any = a.as_any();
    macro_rules! prim {
        ($t:ty) => {
            any.downcast_ref::<$t>()
                .map(|x| Value::from(x.value(i)))
                .ok_or_else(|| DataFusionError::Internal("array type mismatch".into()))
        };
    }
    match a.data_type() {
        DataType::Boolean => prim!(BooleanArray),
        DataType::Int32 => prim!(Int32Array),
        DataType::Int64 => prim!(Int64Array),
        DataType::Float64 => prim!(Float64Array),
        DataType::Utf8 => prim!(StringArray),
        // Temporal values as ISO-8601 text, as ksqlDB writes them here.
        DataType::Date32 => {
            let days = prim!(Date32Array)?.as_i64().unwrap_or_default();
            let date = chrono::DateTime::from_timestamp(days * 86_400, 0)
                .map(|d| d.format("%Y-%m-%d").to_string());
            Ok(date.map(Value::String).unwrap_or(Value::Null))
        }
        DataType::Time32(_) => {
            let ms = prim!(Time32MillisecondArray)?.as_i64().unwrap_or_default();
            let time = chrono::NaiveTime::from_num_seconds_from_midnight_opt(
                (ms / 1000) as u32,
                ((ms % 1000) * 1_000_000) as u32,
            );
            Ok(time
                .map(|t| Value::String(java_local_time(&t)))
                .unwrap_or(Value::Null))
        }
        DataType::Timestamp(..) => {
            let ms = prim!(TimestampMillisecondArray)?
                .as_i64()
                .unwrap_or_default();
            let ts = chrono::DateTime::from_timestamp_millis(ms)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string());
            Ok(ts.map(Value::String).unwrap_or(Value::Null))
        }
        DataType::Decimal128(..) => {
            let d = any
                .downcast_ref::<Decimal128Array>()
                .ok_or_else(|| DataFusionError::Internal("array type mismatch".into()))?;
            let text = d.value_as_string(i);
            Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
        }
        DataType::Binary => {
            let b = any
                .downcast_ref::<arrow::array::BinaryArray>()
                .ok_or_else(|| DataFusionError::Internal("array type mismatch".into()))?;
            Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(b.value(i)),
            ))
        }
        DataType::List(_) => {
            let l = any
                .downcast_ref::<ListArray>()
                .ok_or_else(|| DataFusionError::Internal("array type mismatch".into()))?;
            let vals = l.value(i);
            (0..vals.len())
                .map(|k| to_json(vals.as_ref(), k))
                .collect::<Result<Vec<_>>>()
                .map(Value::Array)
        }
        DataType::Map(..) => {
            let m = any
                .downcast_ref::<MapArray>()
                .ok_or_else(|| DataFusionError::Internal("array type mismatch".into()))?;
            let entries = m.value(i);
            let mut obj = serde_json::Map::new();
            for k in 0..entries.len() {
                let key = match to_json(entries.column(0).as_ref(), k)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                obj.insert(key, to_json(entries.column(1).as_ref(), k)?);
            }
            Ok(Value::Object(obj))
        }
        DataType::Struct(fields) => {
            let s = any
                .downcast_ref::<StructArray>()
                .ok_or_else(|| DataFusionError::Internal("array type mismatch".into()))?;
            let mut obj = serde_json::Map::new();
            for (f, col) in fields.iter().zip(s.columns()) {
                obj.insert(f.name().clone(), to_json(col.as_ref(), i)?);
            }
            Ok(Value::Object(obj))
        }
        other => {
            let text = arrow::util::display::array_value_to_string(a, i)
                .map_err(|e| DataFusionError::Internal(format!("{other}: {e}")))?;
            Ok(Value::String(text))
        }
    }
}

/// Java's `LocalTime.toString`: seconds and fractions only when non-zero.
fn java_local_time(t: &chrono::NaiveTime) -> String {
    use chrono::Timelike;
    if t.nanosecond() != 0 {
        t.format("%H:%M:%S%.3f").to_string()
    } else if t.second() != 0 {
        t.format("%H:%M:%S").to_string()
    } else {
        t.format("%H:%M").to_string()
    }
}

/// TO_JSON_STRING: null becomes the text `null`.
fn to_json_string(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let v = &a[0];
    let texts = (0..rows)
        .map(|i| to_json(v.as_ref(), i).map(|j| Some(j.to_string())))
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(StringArray::from(texts)))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{check, check_typed};
    use super::*;

    const DOC: &str = r#"'{"name": "ada", "tags": ["x", {"deep": 7}], "n": null, "ok": true}'"#;

    #[tokio::test]
    async fn extracts_fields() {
        check_typed(
            &format!("extractjsonfield({DOC}, '$.name')"),
            "ada",
            DataType::Utf8,
        )
        .await;
        check(&format!("extractjsonfield({DOC}, '$.tags[1].deep')"), "7").await;
        check(
            &format!("extractjsonfield({DOC}, '$.tags')"),
            r#"["x",{"deep":7}]"#,
        )
        .await;
        check(&format!("extractjsonfield({DOC}, '$[''ok'']')"), "true").await;
        check(&format!("extractjsonfield({DOC}, '$.n')"), "NULL").await;
        check(&format!("extractjsonfield({DOC}, '$.missing.x')"), "NULL").await;
        check("extractjsonfield('{not json', '$.a')", "NULL").await;
    }

    #[tokio::test]
    async fn inspects_json() {
        check("is_json_string('[1, 2]')", "true").await;
        check("is_json_string('nope')", "false").await;
        check("is_json_string(NULL)", "false").await;
        check_typed("json_array_length('[1, [2], {}]')", "3", DataType::Int32).await;
        check("json_array_length('{}')", "NULL").await;
        check("json_array_contains('[1, 2, 3]', 2)", "true").await;
        check("json_array_contains('[1.5, \"a\"]', 'a')", "true").await;
        check("json_array_contains('[1, 2]', '2')", "false").await;
        check("json_array_contains('oops', 1)", "false").await;
        check("json_keys('{\"b\": 1, \"a\": 2}')", "[b, a]").await;
        check("json_items('[1, {\"a\": 2}]')", r#"[1, {"a":2}]"#).await;
        // String values are bare, as EXTRACTJSONFIELD gives them.
        check(
            "json_records('{\"a\": [1], \"b\": \"s\"}')",
            r#"{a: [1], b: s}"#,
        )
        .await;
    }

    #[tokio::test]
    async fn builds_json() {
        check(
            "json_concat('{\"a\": 1}', '{\"b\": 2, \"a\": 3}')",
            r#"{"a":3,"b":2}"#,
        )
        .await;
        check("json_concat('[1]', '2', '[3]')", "[1,2,3]").await;
        check("json_concat('[1]', NULL)", "NULL").await;
        check("to_json_string(CAST(5 AS INT))", "5").await;
        check("to_json_string('hi')", r#""hi""#).await;
        check("to_json_string(NULL)", "null").await;
        check("to_json_string(make_array(1, 2))", "[1,2]").await;
        check(
            "to_json_string(named_struct('a', 1, 'b', 'x'))",
            r#"{"a":1,"b":"x"}"#,
        )
        .await;
    }
}
