//! The JSON_SR format: JSON in Confluent's wire format (a zero byte and
//! the 4-byte id of a JSON Schema in the registry, then the JSON text).
//!
//! As ksqlDB, sluice reads the JSON after the prefix with its JSON rules
//! and does not validate it against the schema; the schema serves to infer
//! a source's columns and is what a sink registers: the JSON Schema Kafka
//! Connect writes for the columns (`connect.index`, `connect.type`, titles
//! for logical types, `oneOf` with `null` for optional fields).

use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::SchemaRef;
use serde_json::{json, Map, Value};

use super::avro::{binding, prefix, split_prefix};
use super::json::{is_wrapped, JSON};
use super::{
    Decoded, Decoder, Encoded, Encoder, Format, FormatFactory, FormatSpec, Part, RowError,
};
use crate::error::Result;
use crate::sr::SchemaType;
use crate::types::SqlType;

/// The JSON_SR format's factory.
pub struct JsonSrFormat;

/// The one instance, for the registry.
pub static JSON_SR: JsonSrFormat = JsonSrFormat;

fn plain_json(spec: &FormatSpec) -> FormatSpec {
    FormatSpec {
        format: Format::Json,
        sr: None,
        nullable: None,
        ..spec.clone()
    }
}

impl FormatFactory for JsonSrFormat {
    fn format(&self) -> Format {
        Format::JsonSr
    }

    fn validate(&self, spec: &FormatSpec, part: Part, schema: &SchemaRef) -> Result<()> {
        super::columns::check_options("JSON_SR", spec, part, schema)?;
        JSON.validate(&plain_json(spec), part, schema)
    }

    fn decoder(
        &self,
        spec: &FormatSpec,
        part: Part,
        schema: SchemaRef,
    ) -> Result<Arc<dyn Decoder>> {
        Ok(Arc::new(JsonSrDecoder {
            json: JSON.decoder(&plain_json(spec), part, schema)?,
        }))
    }

    fn encoder(
        &self,
        spec: &FormatSpec,
        part: Part,
        schema: SchemaRef,
    ) -> Result<Arc<dyn Encoder>> {
        let sr = binding(spec)?;
        let (id, _) = super::avro::writer_schema(sr, SchemaType::Json, || {
            generated_schema(spec, part, &schema)
        })?;
        Ok(Arc::new(JsonSrEncoder {
            json: JSON.encoder(&plain_json(spec), part, schema)?,
            prefix: prefix(id),
        }))
    }
}

/// The JSON Schema of `schema`'s columns for `part`, as Kafka Connect
/// writes it.
pub(crate) fn generated_schema(
    spec: &FormatSpec,
    part: Part,
    schema: &SchemaRef,
) -> Result<String> {
    let columns = super::columns::sql_columns(schema)?;
    let json = if is_wrapped(spec, part, columns.len()) {
        object_schema(&columns)
    } else {
        optional(type_schema(&columns[0].1))
    };
    Ok(json.to_string())
}

fn optional(t: Value) -> Value {
    json!({"oneOf": [{"type": "null"}, t]})
}

fn object_schema(columns: &[(String, SqlType)]) -> Value {
    let mut properties = Map::new();
    for (i, (name, t)) in columns.iter().enumerate() {
        let mut field = Map::new();
        field.insert("connect.index".into(), json!(i));
        field.insert("oneOf".into(), json!([{"type": "null"}, type_schema(t)]));
        properties.insert(name.clone(), Value::Object(field));
    }
    json!({"type": "object", "properties": properties})
}

fn logical(type_name: &str, title: &str, connect_type: &str) -> Value {
    json!({
        "type": type_name,
        "title": title,
        "connect.version": 1,
        "connect.type": connect_type,
    })
}

fn type_schema(t: &SqlType) -> Value {
    match t {
        SqlType::Boolean => json!({"type": "boolean"}),
        SqlType::Int => json!({"type": "integer", "connect.type": "int32"}),
        SqlType::Bigint => json!({"type": "integer", "connect.type": "int64"}),
        SqlType::Double => json!({"type": "number", "connect.type": "float64"}),
        SqlType::String => json!({"type": "string"}),
        SqlType::Bytes => json!({"type": "string", "connect.type": "bytes"}),
        SqlType::Decimal(p, s) => json!({
            "type": "number",
            "title": "org.apache.kafka.connect.data.Decimal",
            "connect.version": 1,
            "connect.type": "bytes",
            "connect.parameters": {"scale": s.to_string(), "connect.decimal.precision": p.to_string()},
        }),
        SqlType::Date => logical("integer", "org.apache.kafka.connect.data.Date", "int32"),
        SqlType::Time => logical("integer", "org.apache.kafka.connect.data.Time", "int32"),
        SqlType::Timestamp => logical(
            "integer",
            "org.apache.kafka.connect.data.Timestamp",
            "int64",
        ),
        SqlType::Array(item) => json!({"type": "array", "items": optional(type_schema(item))}),
        SqlType::Map(_, v) => json!({
            "type": "object",
            "additionalProperties": optional(type_schema(v)),
            "connect.type": "map",
        }),
        SqlType::Struct(fields) => object_schema(fields),
    }
}

/// The SQL type of a JSON Schema (Kafka Connect's conventions).
pub(crate) fn to_sql(schema: &Value, upper: bool) -> std::result::Result<SqlType, String> {
    // Types visited, `$ref`s expanded: a schema reusing a definition twice,
    // level after level, doubles each time.
    let mut budget = 100_000u32;
    to_sql_in(schema, schema, upper, 0, &mut budget)
}

fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let path = reference.strip_prefix('#')?;
    root.pointer(path)
}

fn to_sql_in(
    root: &Value,
    schema: &Value,
    upper: bool,
    depth: usize,
    budget: &mut u32,
) -> std::result::Result<SqlType, String> {
    *budget = budget
        .checked_sub(1)
        .ok_or("the schema expands to more than 100000 types")?;
    if depth > 64 {
        return Err("the schema is nested too deeply (is it recursive?)".into());
    }
    let Some(obj) = schema.as_object() else {
        return match schema {
            Value::Bool(true) => Err("the schema accepts any value: it has no SQL type".into()),
            _ => Err(format!("not a JSON Schema: {schema}")),
        };
    };
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        let target = resolve(root, r).ok_or_else(|| format!("cannot resolve $ref '{r}'"))?;
        return to_sql_in(root, target, upper, depth + 1, budget);
    }
    for combinator in ["oneOf", "anyOf"] {
        if let Some(branches) = obj.get(combinator).and_then(Value::as_array) {
            let non_null: Vec<&Value> = branches
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                .collect();
            let result = match non_null.as_slice() {
                [one] => to_sql_in(root, one, upper, depth + 1, budget),
                _ => Err(format!(
                    "a {combinator} of several non-null types is not supported"
                )),
            };
            return result;
        }
    }
    let type_name = match obj.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => {
            let non_null: Vec<&str> = ts
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect();
            match non_null.as_slice() {
                [one] => *one,
                _ => return Err("a type list of several non-null types is not supported".into()),
            }
        }
        _ if obj.contains_key("properties") => "object",
        _ => return Err(format!("the schema has no type: {schema}")),
    };
    let title = obj.get("title").and_then(Value::as_str).unwrap_or_default();
    let connect_type = obj
        .get("connect.type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Ok(match type_name {
        "boolean" => SqlType::Boolean,
        "integer" => match (title, connect_type) {
            ("org.apache.kafka.connect.data.Timestamp", _) => SqlType::Timestamp,
            ("org.apache.kafka.connect.data.Date", _) => SqlType::Date,
            ("org.apache.kafka.connect.data.Time", _) => SqlType::Time,
            (_, "int8" | "int16" | "int32") => SqlType::Int,
            _ => SqlType::Bigint,
        },
        "number" => {
            if title == "org.apache.kafka.connect.data.Decimal" {
                let params = obj.get("connect.parameters");
                let param = |n: &str| {
                    params.and_then(|p| p.get(n)).and_then(|v| {
                        v.as_str()
                            .and_then(|s| s.parse::<i64>().ok())
                            .or(v.as_i64())
                    })
                };
                let p = param("connect.decimal.precision").unwrap_or(38);
                let s = param("scale").unwrap_or(0);
                if !(1..=38).contains(&p) || !(0..=p).contains(&s) {
                    return Err(format!(
                        "DECIMAL({p}, {s}) is not a valid decimal: precision 1 to 38, scale 0 \
                         to the precision"
                    ));
                }
                SqlType::Decimal(
                    u8::try_from(p).map_err(|_| "a decimal precision is out of range")?,
                    i8::try_from(s).map_err(|_| "a decimal scale is out of range")?,
                )
            } else {
                SqlType::Double
            }
        }
        "string" => match connect_type {
            "bytes" => SqlType::Bytes,
            _ => SqlType::String,
        },
        "array" => {
            let items = obj.get("items").ok_or("an array schema has no \"items\"")?;
            SqlType::Array(Box::new(to_sql_in(root, items, upper, depth + 1, budget)?))
        }
        "object" => match obj.get("properties").and_then(Value::as_object) {
            Some(props) if connect_type != "map" => {
                let mut fields: Vec<(i64, String, SqlType)> = Vec::new();
                for (i, (name, field)) in props.iter().enumerate() {
                    let index = field
                        .get("connect.index")
                        .and_then(Value::as_i64)
                        .unwrap_or(i as i64);
                    let n = if upper {
                        name.to_uppercase()
                    } else {
                        name.clone()
                    };
                    let t = to_sql_in(root, field, upper, depth + 1, budget)
                        .map_err(|e| format!("property '{name}': {e}"))?;
                    fields.push((index, n, t));
                }
                fields.sort_by_key(|(i, ..)| *i);
                SqlType::Struct(fields.into_iter().map(|(_, n, t)| (n, t)).collect())
            }
            _ => match obj.get("additionalProperties") {
                Some(v) if v.is_object() => SqlType::Map(
                    Box::new(SqlType::String),
                    Box::new(to_sql_in(root, v, upper, depth + 1, budget)?),
                ),
                _ => {
                    return Err("an object schema has neither properties nor a value schema".into())
                }
            },
        },
        "null" => return Err("the type null has no SQL type".into()),
        other => return Err(format!("unknown JSON Schema type '{other}'")),
    })
}

/// Decodes JSON_SR payloads: the prefix is checked and dropped, the JSON
/// read as the JSON format reads it.
struct JsonSrDecoder {
    json: Arc<dyn Decoder>,
}

impl Decoder for JsonSrDecoder {
    fn decode(&self, payloads: &[Option<&[u8]>]) -> Result<Decoded> {
        let mut errors = Vec::new();
        let bodies: Vec<Option<&[u8]>> = payloads
            .iter()
            .enumerate()
            .map(|(row, p)| match p {
                None => None,
                Some(bytes) => match split_prefix(bytes) {
                    Ok((_, body)) => Some(body),
                    Err(reason) => {
                        errors.push(RowError { row, reason });
                        None
                    }
                },
            })
            .collect();
        let mut decoded = self.json.decode(&bodies)?;
        if !errors.is_empty() {
            decoded.errors.extend(errors);
            decoded.errors.sort_by_key(|e| e.row);
        }
        Ok(decoded)
    }
}

/// Encodes JSON_SR payloads: JSON after the schema's prefix.
struct JsonSrEncoder {
    json: Arc<dyn Encoder>,
    prefix: [u8; 5],
}

impl Encoder for JsonSrEncoder {
    fn encode(&self, columns: &[ArrayRef]) -> Result<Encoded> {
        let json = self.json.encode(columns)?;
        let mut out = Encoded {
            data: Vec::with_capacity(json.data.len() + json.len() * 5),
            offsets: Vec::with_capacity(json.offsets.len()),
            nulls: json.nulls.clone(),
        };
        out.offsets.push(0);
        for i in 0..json.len() {
            if let Some(payload) = json.get(i) {
                out.data.extend_from_slice(&self.prefix);
                out.data.extend_from_slice(payload);
            }
            out.offsets.push(out.data.len());
        }
        Ok(out)
    }
}
