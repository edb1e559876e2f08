//! Test records' JSON to payload bytes and back, through the formats'
//! own decoders and encoders.
//!
//! Test files write keys and values as JSON whatever the topic's format:
//! an object for JSON, a string for DELIMITED, a scalar for KAFKA. An input
//! is converted by decoding that JSON with the source's columns (the JSON
//! decoder) and encoding the columns with the source's format; an output is
//! converted back by decoding it with the sink's format and encoding it as
//! JSON. JSON payloads are taken as they are, DELIMITED ones as text, so
//! that what is compared is what was written.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use serde_json::Value;

use super::model::{Window, WindowKind};
use crate::catalog::Source;
use crate::error::{Error, Result};
use crate::format::{registry, Encoded, Format, FormatSpec, Part};

/// The format and columns of one part (key or value) of a source.
#[derive(Clone)]
pub struct PartFormat {
    /// The format with its options.
    pub spec: FormatSpec,
    /// Key or value.
    pub part: Part,
    /// The part's columns.
    pub schema: SchemaRef,
}

impl PartFormat {
    /// The key or value part of `source`.
    pub fn of(source: &Source, part: Part) -> Self {
        match part {
            Part::Key => PartFormat {
                spec: source.key_format.clone(),
                part,
                schema: source.key_schema(),
            },
            Part::Value => PartFormat {
                spec: source.value_format.clone(),
                part,
                schema: source.value_schema(),
            },
        }
    }
}

/// The payload of `json` in `format`; `None` for JSON `null` (a null key or
/// a tombstone). Text that the columns cannot carry is written as it is
/// (a string's UTF-8, other JSON as its text), as a producer would send it.
pub fn json_to_payload(format: Option<&PartFormat>, json: &Value) -> Result<Option<Vec<u8>>> {
    if json.is_null() {
        return Ok(None);
    }
    let raw = || match json {
        Value::String(s) => s.clone().into_bytes(),
        other => other.to_string().into_bytes(),
    };
    let Some(format) = format else {
        return Ok(Some(raw()));
    };
    match format.spec.format {
        Format::Json => Ok(Some(json.to_string().into_bytes())),
        Format::Delimited if !json.is_object() => Ok(Some(raw())),
        Format::None => Ok(Some(raw())),
        _ => Ok(Some(
            transcode_from_json(format, json).unwrap_or_else(|_| raw()),
        )),
    }
}

/// For a Schema Registry format whose subject holds a schema (the topic's
/// own, registered by the case or an earlier encoder), the part as that
/// schema's writer sees it: its own columns, written with its id — as a
/// producer with that schema would write `json`.
fn writer_part(format: &PartFormat) -> Option<PartFormat> {
    let sr = format.spec.sr.as_ref()?;
    let registry = sr.registry.get();
    let (id, schema) = match sr.schema_id {
        Some(id) => (id, registry.by_id(id).ok()?),
        None => {
            let latest = registry.latest(&sr.subject).ok()??;
            (latest.id, latest.schema)
        }
    };
    let mut part = part_of_schema(format, &schema)?;
    if let Some(sr) = part.spec.sr.as_mut() {
        sr.schema_id = Some(id);
    }
    Some(part)
}

/// The part with the columns a registry schema infers (its fields' own
/// names), in the part's format.
fn part_of_schema(format: &PartFormat, schema: &crate::sr::Schema) -> Option<PartFormat> {
    let sr = format.spec.sr.as_ref()?;
    let wrapped =
        crate::format::is_wrapped(&format.spec, format.part, format.schema.fields().len());
    let columns = crate::format::infer_columns(
        format.spec.format,
        Some(sr.registry.get()),
        schema,
        wrapped,
        false,
        sr.full_name.as_deref(),
    )
    .ok()?;
    let fields: Vec<arrow::datatypes::Field> = columns
        .iter()
        .map(|(n, t)| arrow::datatypes::Field::new(n, t.to_arrow(), true))
        .collect();
    Some(PartFormat {
        spec: format.spec.clone(),
        part: format.part,
        schema: Arc::new(arrow::datatypes::Schema::new(fields)),
    })
}

/// Decodes `json` with the part's columns, then encodes it in its format.
fn transcode_from_json(format: &PartFormat, json: &Value) -> Result<Vec<u8>> {
    if let Some(writer) = writer_part(format) {
        if let Ok(bytes) = transcode_with(&writer, json) {
            return Ok(bytes);
        }
    }
    transcode_with(format, json)
}

fn transcode_with(format: &PartFormat, json: &Value) -> Result<Vec<u8>> {
    let json_spec = json_spec(format);
    let text = json.to_string();
    let decoded = registry::decoder(&json_spec, Part::Value, Arc::clone(&format.schema))?
        .decode(&[Some(text.as_bytes())])?;
    if let Some(e) = decoded.errors.first() {
        return Err(Error::user(e.reason.clone()));
    }
    let encoded = registry::encoder(&format.spec, format.part, Arc::clone(&format.schema))?
        .encode(&decoded.columns)?;
    Ok(first_payload(&encoded).unwrap_or_default())
}

/// The first payload of `encoded`; `None` when it is null or there is no
/// row.
pub fn first_payload(encoded: &Encoded) -> Option<Vec<u8>> {
    if encoded.is_empty() {
        return None;
    }
    encoded.get(0).map(<[u8]>::to_vec)
}

/// JSON as the test files write it for a part with `columns` columns: one
/// column bare, several as an object.
fn json_spec(format: &PartFormat) -> FormatSpec {
    let columns = format.schema.fields().len();
    let wrapped =
        if format.spec.format.uses_registry() || format.spec.format == Format::ProtobufNosr {
            crate::format::is_wrapped(&format.spec, format.part, columns)
        } else {
            columns != 1
        };
    FormatSpec {
        wrap_single_value: Some(wrapped),
        ..FormatSpec::new(Format::Json)
    }
}

/// The JSON a test file would write for `payload` in `format`: JSON
/// payloads parsed as they are, DELIMITED as a string, others decoded with
/// their format and encoded as JSON. Without a format, text that parses as
/// JSON is that JSON, other bytes a string. A payload the format cannot
/// decode becomes a string saying why, so that it shows in the diff.
pub fn payload_to_json(format: Option<&PartFormat>, payload: Option<&[u8]>) -> Value {
    let Some(bytes) = payload else {
        return Value::Null;
    };
    let text = || String::from_utf8_lossy(bytes).into_owned();
    let Some(format) = format else {
        return serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(text()));
    };
    match format.spec.format {
        Format::Json => serde_json::from_slice(bytes)
            .unwrap_or_else(|e| Value::String(format!("<not JSON: {e}: {}>", text()))),
        Format::Delimited => Value::String(text()),
        Format::None => Value::Null,
        _ => transcode_to_json(format, bytes)
            .unwrap_or_else(|e| Value::String(format!("<cannot decode: {e}>"))),
    }
}

/// For a Schema Registry payload, the part as its writer schema (named by
/// the payload's id) describes it: an output is read with the schema it
/// was written with, as ksqlDB's test driver reads it.
fn payload_writer_part(format: &PartFormat, bytes: &[u8]) -> Option<PartFormat> {
    let sr = format.spec.sr.as_ref()?;
    if format.spec.format == Format::ProtobufNosr {
        return None;
    }
    let id = crate::format::avro::split_prefix(bytes).ok()?.0;
    let schema = sr.registry.get().by_id(id).ok()?;
    part_of_schema(format, &schema)
}

fn transcode_to_json(format: &PartFormat, bytes: &[u8]) -> Result<Value> {
    if let Some(writer) = payload_writer_part(format, bytes) {
        if let Ok(v) = transcode_payload(&writer, bytes) {
            return Ok(v);
        }
    }
    transcode_payload(format, bytes)
}

fn transcode_payload(format: &PartFormat, bytes: &[u8]) -> Result<Value> {
    let columns = format.schema.fields().len();
    if columns == 0 {
        return Ok(Value::Null);
    }
    let decoded = registry::decoder(&format.spec, format.part, Arc::clone(&format.schema))?
        .decode(&[Some(bytes)])?;
    if let Some(e) = decoded.errors.first() {
        return Err(Error::user(e.reason.clone()));
    }
    let encoded = registry::encoder(&json_spec(format), Part::Value, Arc::clone(&format.schema))?
        .encode(&decoded.columns)?;
    match first_payload(&encoded) {
        None => Ok(Value::Null),
        Some(json) => serde_json::from_slice(&json)
            .map_err(|e| Error::internal(format!("the JSON encoder wrote invalid JSON: {e}"))),
    }
}

/// A windowed key as Kafka Streams writes it: the key, then for a time
/// window its start, for a session window its end and its start (8 bytes
/// big-endian each).
pub fn windowed_key(key: Option<Vec<u8>>, window: &Window) -> Vec<u8> {
    let mut out = key.unwrap_or_default();
    if window.kind == WindowKind::Session {
        out.extend_from_slice(&window.end.to_be_bytes());
    }
    out.extend_from_slice(&window.start.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema};

    fn part(format: Format, part: Part, columns: &[(&str, DataType)]) -> PartFormat {
        PartFormat {
            spec: FormatSpec::new(format),
            part,
            schema: Arc::new(Schema::new(
                columns
                    .iter()
                    .map(|(n, t)| Field::new(*n, t.clone(), true))
                    .collect::<Vec<_>>(),
            )),
        }
    }

    #[test]
    fn kafka_scalars_round_trip_by_column_type() {
        let int_key = part(Format::Kafka, Part::Key, &[("K", DataType::Int32)]);
        let bytes = json_to_payload(Some(&int_key), &serde_json::json!(7)).unwrap();
        assert_eq!(bytes, Some(vec![0, 0, 0, 7]));
        assert_eq!(
            payload_to_json(Some(&int_key), bytes.as_deref()),
            serde_json::json!(7)
        );
        let double = part(Format::Kafka, Part::Value, &[("V", DataType::Float64)]);
        let bytes = json_to_payload(Some(&double), &serde_json::json!(1.5)).unwrap();
        assert_eq!(bytes, Some(1.5f64.to_be_bytes().to_vec()));
        assert_eq!(
            payload_to_json(Some(&double), bytes.as_deref()),
            serde_json::json!(1.5)
        );
    }

    #[test]
    fn delimited_and_json_are_taken_as_written() {
        let csv = part(
            Format::Delimited,
            Part::Value,
            &[("A", DataType::Int32), ("B", DataType::Utf8)],
        );
        let bytes = json_to_payload(Some(&csv), &serde_json::json!("1,x")).unwrap();
        assert_eq!(bytes.as_deref(), Some(&b"1,x"[..]));
        assert_eq!(
            payload_to_json(Some(&csv), bytes.as_deref()),
            serde_json::json!("1,x")
        );
        let json = part(Format::Json, Part::Value, &[("A", DataType::Int32)]);
        let v = serde_json::json!({"a": 1});
        let bytes = json_to_payload(Some(&json), &v).unwrap();
        assert_eq!(payload_to_json(Some(&json), bytes.as_deref()), v);
        assert_eq!(json_to_payload(Some(&json), &Value::Null).unwrap(), None);
    }

    #[test]
    fn undecodable_payloads_show_why() {
        let int_key = part(Format::Kafka, Part::Key, &[("K", DataType::Int32)]);
        let v = payload_to_json(Some(&int_key), Some(b"abc"));
        assert!(v.as_str().unwrap().starts_with("<cannot decode"), "{v}");
        // A value the column cannot carry is sent as written.
        let bytes = json_to_payload(Some(&int_key), &serde_json::json!("abc")).unwrap();
        assert_eq!(bytes.as_deref(), Some(&b"abc"[..]));
    }

    #[test]
    fn windowed_keys_append_the_bounds() {
        let w = Window {
            start: 1,
            end: 2,
            kind: WindowKind::Session,
        };
        let k = windowed_key(Some(vec![9]), &w);
        assert_eq!(k, [9, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1]);
    }
}
