//! The registry of formats: one line per format.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;

use super::{avro, delimited, internal, json, json_sr, kafka, none, protobuf};
use super::{Decoder, Encoder, Format, FormatFactory, FormatSpec, Part};
use crate::error::{Error, Result};

/// The factory of a format.
pub fn factory(format: Format) -> Result<&'static dyn FormatFactory> {
    FACTORIES
        .iter()
        .copied()
        .find(|f| f.format() == format)
        .ok_or_else(|| Error::user(format!("The '{format}' format is not supported")))
}

static FACTORIES: &[&dyn FormatFactory] = &[
    &json::JSON,
    &delimited::DELIMITED,
    &kafka::KAFKA,
    &none::NONE,
    &avro::AVRO,
    &json_sr::JSON_SR,
    &protobuf::PROTOBUF,
    &protobuf::PROTOBUF_NOSR,
    &internal::INTERNAL,
];

/// Checks that `spec` can carry `schema` as `part`.
pub fn validate(spec: &FormatSpec, part: Part, schema: &SchemaRef) -> Result<()> {
    factory(spec.format)?.validate(spec, part, schema)
}

/// A decoder for `schema` in `spec`.
pub fn decoder(spec: &FormatSpec, part: Part, schema: SchemaRef) -> Result<Arc<dyn Decoder>> {
    factory(spec.format)?.decoder(spec, part, schema)
}

/// An encoder for `schema` in `spec`.
pub fn encoder(spec: &FormatSpec, part: Part, schema: SchemaRef) -> Result<Arc<dyn Encoder>> {
    factory(spec.format)?.encoder(spec, part, schema)
}
