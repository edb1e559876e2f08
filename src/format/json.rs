//! The JSON format: schemaless JSON keys and values, as ksqlDB reads and
//! writes them.
//!
//! * A value is an object with one member per column, matched by name
//!   case-insensitively (exact name first, then the upper-cased member
//!   name); missing members are null, extra members ignored. A single
//!   value column can be unwrapped (`WRAP_SINGLE_VALUE=false`): the payload
//!   is then the bare value. A single key column is unwrapped unless
//!   `WRAP_SINGLE_VALUE=true`; keys with several columns are objects.
//! * A null payload, or the JSON `null`, is a row of nulls.
//! * Types: DECIMAL from numbers (their exact text, never through `f64`) or
//!   numeric strings; TIMESTAMP epoch ms, DATE days, TIME ms of the day, as
//!   numbers or numeric strings; BYTES base64; MAP keys are strings; STRING
//!   takes any JSON value (objects as compact JSON text). A record that does
//!   not parse or convert is a [`RowError`](super::RowError) naming the path
//!   (`$.ADDRESS.ZIP`) and the problem.
//!
//! # How decoding avoids per-record allocation
//!
//! serde_json is built with `arbitrary_precision` here, which makes its
//! deserializer allocate a `String` for every number, and a
//! `serde_json::Value` per record would allocate every string, array and
//! map. Instead `reader::Reader` is a small pull reader over the payload
//! bytes: the decoder asks for the token it expects, gets numbers as their
//! text and strings as slices of the payload (only strings with escapes are
//! copied, into one scratch buffer reused by the batch), and appends the
//! converted value directly into a `ColumnBuilder` tree
//! sized for the batch. Matching members to columns uses a per-batch stack
//! of "seen" flags, and a record that fails half-way is rolled back by
//! truncating the builders. So the heap work per batch is the builders'
//! buffers growing (amortized) plus one `String` per *bad* record for its
//! error message; a good record allocates nothing.
//!
//! Encoding likewise downcasts each column once per batch
//! (`view::View`) and writes every payload into the one
//! buffer of [`Encoded`](super::Encoded).

pub(crate) mod decode;
mod encode;
mod reader;

use std::sync::Arc;

use arrow::datatypes::SchemaRef;

use super::columns::{check_supported, sql_type_name};
use super::{Decoder, Encoder, Format, FormatFactory, FormatSpec, Part};
use crate::error::{Error, Result};

/// The JSON format's factory.
pub struct JsonFormat;

/// The one instance, for the registry.
pub static JSON: JsonFormat = JsonFormat;

/// Whether payloads of `part` are objects (true) or a bare value: only a
/// single column can be unwrapped; keys are unwrapped and values wrapped
/// unless `WRAP_SINGLE_VALUE` says otherwise.
pub(crate) fn is_wrapped(spec: &FormatSpec, part: Part, columns: usize) -> bool {
    if columns != 1 {
        return true;
    }
    match part {
        Part::Key => spec.wrap_single_value == Some(true),
        Part::Value => spec.wrap_single_value != Some(false),
    }
}

impl FormatFactory for JsonFormat {
    fn format(&self) -> Format {
        Format::Json
    }

    fn validate(&self, spec: &FormatSpec, part: Part, schema: &SchemaRef) -> Result<()> {
        super::columns::check_options("JSON", spec, part, schema)?;
        for f in schema.fields() {
            if super::columns::non_string_map_key(f.data_type()) {
                return Err(Error::user(format!(
                    "JSON only supports MAP types with STRING keys. Column `{}` has type {}",
                    f.name(),
                    sql_type_name(f.data_type())
                )));
            }
        }
        check_supported("JSON", schema)
    }

    fn decoder(
        &self,
        spec: &FormatSpec,
        part: Part,
        schema: SchemaRef,
    ) -> Result<Arc<dyn Decoder>> {
        check_supported("JSON", &schema)?;
        let wrapped = is_wrapped(spec, part, schema.fields().len());
        Ok(Arc::new(decode::JsonDecoder::new(schema, wrapped)))
    }

    fn encoder(
        &self,
        spec: &FormatSpec,
        part: Part,
        schema: SchemaRef,
    ) -> Result<Arc<dyn Encoder>> {
        let wrapped = is_wrapped(spec, part, schema.fields().len());
        Ok(Arc::new(encode::JsonEncoder::new(schema, part, wrapped)?))
    }
}

#[cfg(test)]
mod tests;
