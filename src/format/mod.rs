//! Serialization formats: Kafka key/value bytes to Arrow columns and back.
//!
//! A [`Decoder`] turns the payloads of a whole batch of records into Arrow
//! arrays, one per column of the part (key or value) it decodes; an
//! [`Encoder`] turns the columns of a batch into one payload per row, written
//! into one contiguous buffer. Both work per batch: no per-record
//! `serde_json::Value`, no per-record allocation where the format allows.
//!
//! Formats are registered in [`registry`]: a new format is one new file and
//! one line there.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::SchemaRef;

use crate::error::{Error, Result};

/// A serialization format of a key or a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Schemaless JSON.
    Json,
    /// Delimiter-separated values (CSV by default).
    Delimited,
    /// Kafka's primitive serializers (single column).
    Kafka,
    /// No data: keyless streams.
    None,
    /// Avro with a Schema Registry (Confluent's wire format).
    Avro,
    /// Protobuf with a Schema Registry (Confluent's wire format).
    Protobuf,
    /// Protobuf without a registry: bare messages of a schema made from
    /// the columns.
    ProtobufNosr,
    /// JSON with a Schema Registry: Confluent's prefix, then JSON.
    JsonSr,
    /// sluice's binary row layout for its internal topics; not a format
    /// a statement can name.
    Internal,
}

impl Format {
    /// Parses a format name as written in `WITH (VALUE_FORMAT='json')`.
    pub fn parse(name: &str) -> Result<Format> {
        match name.to_ascii_uppercase().as_str() {
            "JSON" => Ok(Format::Json),
            "DELIMITED" => Ok(Format::Delimited),
            "KAFKA" => Ok(Format::Kafka),
            "NONE" => Ok(Format::None),
            "AVRO" => Ok(Format::Avro),
            "PROTOBUF" => Ok(Format::Protobuf),
            "PROTOBUF_NOSR" => Ok(Format::ProtobufNosr),
            "JSON_SR" => Ok(Format::JsonSr),
            other => Err(Error::user(format!(
                "Unknown format: '{other}'. Supported formats: JSON, DELIMITED, KAFKA, NONE, \
                 AVRO, PROTOBUF, PROTOBUF_NOSR, JSON_SR."
            ))),
        }
    }

    /// The canonical upper-case name.
    pub fn name(&self) -> &'static str {
        match self {
            Format::Json => "JSON",
            Format::Delimited => "DELIMITED",
            Format::Kafka => "KAFKA",
            Format::None => "NONE",
            Format::Avro => "AVRO",
            Format::Protobuf => "PROTOBUF",
            Format::ProtobufNosr => "PROTOBUF_NOSR",
            Format::JsonSr => "JSON_SR",
            Format::Internal => "SLUICE_INTERNAL",
        }
    }

    /// True for the formats whose schemas live in a Schema Registry.
    pub fn uses_registry(&self) -> bool {
        matches!(self, Format::Avro | Format::Protobuf | Format::JsonSr)
    }

    /// True when sluice reads and writes the format.
    pub fn implemented(&self) -> bool {
        registry::factory(*self).is_ok()
    }

    /// True for the formats that can take their columns from a schema
    /// (a registry's, for `CREATE` without columns).
    pub fn infers_schema(&self) -> bool {
        self.uses_registry()
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A format together with its options, for one part (key or value).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FormatSpec {
    /// The format.
    pub format: Format,
    /// Whether a single column is wrapped in an object/record (`true`) or
    /// written as the bare value (`false`). `None` = the format's default for
    /// this part: keys unwrapped, values wrapped.
    pub wrap_single_value: Option<bool>,
    /// The DELIMITED separator (default `,`).
    pub delimiter: Option<char>,
    /// Where a Schema Registry format keeps its schemas.
    pub sr: Option<SrSpec>,
    /// PROTOBUF: how a null is written (`*_PROTOBUF_NULLABLE_REPRESENTATION`).
    pub nullable: Option<ProtobufNullable>,
}

/// How a protobuf schema represents nullable fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtobufNullable {
    /// `optional` fields (field presence).
    Optional,
    /// `google.protobuf.*Value` wrapper messages.
    Wrapper,
}

/// The Schema Registry binding of a key or value part.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SrSpec {
    /// The registry.
    pub registry: crate::sr::RegistryRef,
    /// The subject (`<topic>-key` or `<topic>-value`).
    pub subject: String,
    /// A pinned schema (`KEY_SCHEMA_ID`/`VALUE_SCHEMA_ID`): read and
    /// written with this one, never registered.
    pub schema_id: Option<i32>,
    /// `*_SCHEMA_FULL_NAME`: the record (Avro) or message (Protobuf) name.
    pub full_name: Option<String>,
    /// The name a generated schema takes when `full_name` is unset.
    pub default_name: String,
}

impl SrSpec {
    /// The full name of the generated record or message.
    pub fn record_name(&self) -> String {
        self.full_name
            .clone()
            .unwrap_or_else(|| self.default_name.clone())
    }
}

impl FormatSpec {
    /// A spec with default options.
    pub fn new(format: Format) -> Self {
        FormatSpec {
            format,
            wrap_single_value: None,
            delimiter: None,
            sr: None,
            nullable: None,
        }
    }
}

/// Which part of a Kafka record is decoded or encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The record key.
    Key,
    /// The record value.
    Value,
}

/// A record of a batch that could not be decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    /// Index of the record in the batch given to [`Decoder::decode`].
    pub row: usize,
    /// Why, naming the field or column when known.
    pub reason: String,
}

/// The columns decoded from a batch of payloads.
#[derive(Debug)]
pub struct Decoded {
    /// One array per column of the schema, each as long as the input batch.
    /// Rows listed in `errors` hold nulls.
    pub columns: Vec<ArrayRef>,
    /// Rows that could not be decoded; the caller drops them and reports
    /// them to the processing log.
    pub errors: Vec<RowError>,
}

/// Decodes payloads of one part of records into Arrow arrays.
pub trait Decoder: Send + Sync {
    /// Decodes one batch. A `None` payload (a null key, a tombstone) decodes
    /// to a row of nulls without error. Only a failure of the whole batch is
    /// an `Err`; a bad record is a [`RowError`].
    fn decode(&self, payloads: &[Option<&[u8]>]) -> Result<Decoded>;
}

/// Payloads encoded from a batch, in one buffer.
#[derive(Debug, Default, Clone)]
pub struct Encoded {
    /// All payloads, back to back.
    pub data: Vec<u8>,
    /// `offsets[i]..offsets[i + 1]` is row i in `data`; `len = rows + 1`.
    pub offsets: Vec<usize>,
    /// `true` where the payload is null (then its range is empty).
    pub nulls: Vec<bool>,
}

impl Encoded {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.nulls.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.nulls.is_empty()
    }

    /// The payload of row `i`, `None` for null.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if self.nulls[i] {
            None
        } else {
            Some(&self.data[self.offsets[i]..self.offsets[i + 1]])
        }
    }
}

/// Encodes the columns of a batch into one payload per row.
pub trait Encoder: Send + Sync {
    /// Encodes `columns` (matching the schema the encoder was made for),
    /// all of the same length.
    fn encode(&self, columns: &[ArrayRef]) -> Result<Encoded>;
}

/// A key encoder that writes a null key for a row whose key columns are
/// all null. A query that passes the source's key through uses it: a
/// record read with a null key (which decodes to null columns) keeps a null
/// key, as in ksqlDB, while a key computed by `PARTITION BY` is always
/// written whole.
pub struct NullWhenAllNull(pub Arc<dyn Encoder>);

impl Encoder for NullWhenAllNull {
    fn encode(&self, columns: &[ArrayRef]) -> Result<Encoded> {
        let encoded = self.0.encode(columns)?;
        let all_null = |i: usize| !columns.is_empty() && columns.iter().all(|c| c.is_null(i));
        if (0..encoded.len()).all(|i| encoded.nulls[i] || !all_null(i)) {
            return Ok(encoded);
        }
        let mut out = Encoded {
            data: Vec::with_capacity(encoded.data.len()),
            offsets: Vec::with_capacity(encoded.offsets.len()),
            nulls: Vec::with_capacity(encoded.len()),
        };
        out.offsets.push(0);
        for i in 0..encoded.len() {
            match encoded.get(i) {
                Some(payload) if !all_null(i) => {
                    out.data.extend_from_slice(payload);
                    out.nulls.push(false);
                }
                _ => out.nulls.push(true),
            }
            out.offsets.push(out.data.len());
        }
        Ok(out)
    }
}

/// Makes decoders and encoders for a format.
pub trait FormatFactory: Send + Sync {
    /// The format this factory serves.
    fn format(&self) -> Format;
    /// Checks that the format can carry `schema` as `part`; the error names
    /// the format, the column and the type.
    fn validate(&self, spec: &FormatSpec, part: Part, schema: &SchemaRef) -> Result<()>;
    /// A decoder for `schema`.
    fn decoder(&self, spec: &FormatSpec, part: Part, schema: SchemaRef)
        -> Result<Arc<dyn Decoder>>;
    /// An encoder for `schema`.
    fn encoder(&self, spec: &FormatSpec, part: Part, schema: SchemaRef)
        -> Result<Arc<dyn Encoder>>;
}

/// Whether a part's payloads hold one field per column (`true`) or the
/// bare value of a single column: protobuf parts are always messages.
pub fn is_wrapped(spec: &FormatSpec, part: Part, columns: usize) -> bool {
    match spec.format {
        Format::Protobuf | Format::ProtobufNosr => true,
        _ => json::is_wrapped(spec, part, columns),
    }
}

/// The columns of a registry schema, by ksqlDB's inference rules: a
/// wrapped part takes one column per record field (upper-cased names when
/// `upper`), an unwrapped one the single column `ROWKEY` (keys) or
/// `ROWVAL` (values) of the whole schema's type.
pub fn infer_columns(
    format: Format,
    registry: Option<&dyn crate::sr::SchemaRegistry>,
    schema: &crate::sr::Schema,
    wrapped: bool,
    upper: bool,
    full_name: Option<&str>,
) -> std::result::Result<Vec<(String, crate::types::SqlType)>, String> {
    let sql = match format {
        Format::Avro => {
            if schema.schema_type != crate::sr::SchemaType::Avro {
                return Err(format!(
                    "the registered schema is {}, not AVRO",
                    schema.schema_type.name()
                ));
            }
            let avro = avro::schema::parse(&schema.text)?;
            avro::schema::to_sql(avro.non_null().0, upper)?
        }
        Format::JsonSr => {
            if schema.schema_type != crate::sr::SchemaType::Json {
                return Err(format!(
                    "the registered schema is {}, not JSON",
                    schema.schema_type.name()
                ));
            }
            let json: serde_json::Value = serde_json::from_str(&schema.text)
                .map_err(|e| format!("the JSON schema is not valid JSON: {e}"))?;
            json_sr::to_sql(&json, upper)?
        }
        Format::Protobuf => {
            if schema.schema_type != crate::sr::SchemaType::Protobuf {
                return Err(format!(
                    "the registered schema is {}, not PROTOBUF",
                    schema.schema_type.name()
                ));
            }
            protobuf::infer(registry, schema, upper, full_name)?
        }
        other => return Err(format!("the {other} format cannot infer columns")),
    };
    if !wrapped {
        return Ok(vec![("ROWVAL".to_string(), sql)]);
    }
    match sql {
        crate::types::SqlType::Struct(fields) => Ok(fields),
        other => Err(format!(
            "the schema is a {other}, not a record of columns (for a single value column, \
             set WRAP_SINGLE_VALUE=false)"
        )),
    }
}

pub mod avro;
mod builder;
mod columns;
mod decimal;
pub mod delimited;
pub mod internal;
pub mod json;
pub mod json_sr;
pub mod kafka;
pub mod none;
pub mod protobuf;
pub mod registry;
mod text;
mod view;
pub mod windowed;
