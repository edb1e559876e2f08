//! The NONE format: no data at all, the key format of keyless streams.
//! Payloads are ignored when read and written as null; a schema with any
//! column is rejected.

use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::SchemaRef;

use super::columns::{column_list, row_count};
use super::{Decoded, Decoder, Encoded, Encoder, Format, FormatFactory, FormatSpec, Part};
use crate::error::{Error, Result};

/// The NONE format's factory.
pub struct NoneFormat;

/// The one instance, for the registry.
pub static NONE: NoneFormat = NoneFormat;

fn check_empty(part: Part, schema: &SchemaRef) -> Result<()> {
    if schema.fields().is_empty() {
        Ok(())
    } else {
        Err(Error::user(format!(
            "The 'NONE' format can only be used when no columns are defined. Got: {}",
            column_list(schema, part)
        )))
    }
}

impl FormatFactory for NoneFormat {
    fn format(&self) -> Format {
        Format::None
    }

    fn validate(&self, _spec: &FormatSpec, part: Part, schema: &SchemaRef) -> Result<()> {
        check_empty(part, schema)
    }

    fn decoder(
        &self,
        _spec: &FormatSpec,
        part: Part,
        schema: SchemaRef,
    ) -> Result<Arc<dyn Decoder>> {
        check_empty(part, &schema)?;
        Ok(Arc::new(NoneCodec))
    }

    fn encoder(
        &self,
        _spec: &FormatSpec,
        part: Part,
        schema: SchemaRef,
    ) -> Result<Arc<dyn Encoder>> {
        check_empty(part, &schema)?;
        Ok(Arc::new(NoneCodec))
    }
}

/// Reads nothing, writes null.
struct NoneCodec;

impl Decoder for NoneCodec {
    fn decode(&self, _payloads: &[Option<&[u8]>]) -> Result<Decoded> {
        Ok(Decoded {
            columns: Vec::new(),
            errors: Vec::new(),
        })
    }
}

impl Encoder for NoneCodec {
    /// One null payload per row. With no columns the row count is unknown,
    /// so zero rows come back; callers encoding a keyless key use
    /// null payloads directly.
    fn encode(&self, columns: &[ArrayRef]) -> Result<Encoded> {
        let rows = row_count(columns)?;
        Ok(Encoded {
            data: Vec::new(),
            offsets: vec![0; rows + 1],
            nulls: vec![true; rows],
        })
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::Int32Array;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::format::registry;

    #[test]
    fn reads_nothing_and_writes_nulls() {
        let spec = FormatSpec::new(Format::None);
        let empty = Arc::new(Schema::empty());
        registry::validate(&spec, Part::Key, &empty).unwrap();
        let dec = registry::decoder(&spec, Part::Key, Arc::clone(&empty)).unwrap();
        let out = dec.decode(&[Some(b"ignored"), None]).unwrap();
        assert!(out.columns.is_empty() && out.errors.is_empty());
        let enc = registry::encoder(&spec, Part::Key, empty).unwrap();
        assert!(enc.encode(&[]).unwrap().is_empty());
        // Given columns anyway (e.g. a projection kept for row count), every
        // row is null.
        let out = NoneCodec
            .encode(&[Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef])
            .unwrap();
        assert_eq!((out.len(), out.get(0), out.get(1)), (2, None, None));
    }

    #[test]
    fn rejects_columns() {
        let spec = FormatSpec::new(Format::None);
        let schema = Arc::new(Schema::new(vec![Field::new("K", DataType::Utf8, true)]));
        let err = registry::validate(&spec, Part::Key, &schema).unwrap_err();
        assert_eq!(
            err.to_string(),
            "The 'NONE' format can only be used when no columns are defined. Got: [`K` STRING KEY]"
        );
        let value = Arc::new(Schema::new(vec![Field::new("FOO", DataType::Int32, true)]));
        let err = registry::validate(&spec, Part::Value, &value).unwrap_err();
        assert!(err.to_string().ends_with("Got: [`FOO` INTEGER]"));
        assert!(registry::decoder(&spec, Part::Value, value).is_err());
    }
}
