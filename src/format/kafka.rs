//! The KAFKA format: Kafka's primitive serializers, one column per key or
//! value (ksqlDB's default key format).
//!
//! INT is 4 bytes big-endian, BIGINT 8 bytes big-endian, DOUBLE 8 bytes
//! big-endian IEEE 754, STRING UTF-8 (malformed bytes become U+FFFD, as
//! Java decodes them), BYTES raw. Other types are rejected by
//! [`FormatFactory::validate`], as is more than one column. With no column
//! at all (a keyless stream's key) payloads are ignored and written as
//! null. A payload of the wrong size is a [`RowError`].

use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, SchemaRef};

use super::builder::{ColumnBuilder, Values};
use super::columns::{
    base_type_name, cast_to, check_column_count, column_list, encodable_type, row_count,
};
use super::view::{View, ViewKind};
use super::{
    Decoded, Decoder, Encoded, Encoder, Format, FormatFactory, FormatSpec, Part, RowError,
};
use crate::error::{Error, Result};

/// The KAFKA format's factory.
pub struct KafkaFormat;

/// The one instance, for the registry.
pub static KAFKA: KafkaFormat = KafkaFormat;

/// The single column's type, after checking the schema can be carried.
fn single_column(part: Part, schema: &SchemaRef) -> Result<Option<DataType>> {
    let fields = schema.fields();
    if fields.len() > 1 {
        return Err(Error::user(format!(
            "The 'KAFKA' format only supports a single field. Got: {}",
            column_list(schema, part)
        )));
    }
    let Some(field) = fields.first() else {
        return Ok(None);
    };
    let t = encodable_type(field.data_type())?;
    match t {
        DataType::Int32
        | DataType::Int64
        | DataType::Float64
        | DataType::Utf8
        | DataType::Binary => Ok(Some(t)),
        other => Err(Error::user(format!(
            "The 'KAFKA' format does not support type '{}', column: `{}`",
            base_type_name(&other),
            field.name()
        ))),
    }
}

impl FormatFactory for KafkaFormat {
    fn format(&self) -> Format {
        Format::Kafka
    }

    fn validate(&self, spec: &FormatSpec, part: Part, schema: &SchemaRef) -> Result<()> {
        if spec.wrap_single_value == Some(true) {
            return Err(Error::user(
                "Format 'KAFKA' does not support 'WRAP_SINGLE_VALUE' set to 'true'.",
            ));
        }
        if spec.delimiter.is_some() {
            return Err(Error::user(
                "KAFKA does not support the following configs: [delimiter]",
            ));
        }
        single_column(part, schema).map(|_| ())
    }

    fn decoder(
        &self,
        _spec: &FormatSpec,
        part: Part,
        schema: SchemaRef,
    ) -> Result<Arc<dyn Decoder>> {
        let column = single_column(part, &schema)?;
        // Decoders build the schema's own type.
        if let Some(f) = schema.fields().first() {
            if Some(f.data_type()) != column.as_ref() {
                return Err(Error::internal(format!(
                    "the 'KAFKA' format was given column `{}` of Arrow type {}",
                    f.name(),
                    f.data_type()
                )));
            }
        }
        Ok(Arc::new(KafkaDecoder { column }))
    }

    fn encoder(
        &self,
        _spec: &FormatSpec,
        part: Part,
        schema: SchemaRef,
    ) -> Result<Arc<dyn Encoder>> {
        let column = single_column(part, &schema)?;
        let name = schema
            .fields()
            .first()
            .map(|f| f.name().clone())
            .unwrap_or_default();
        Ok(Arc::new(KafkaEncoder { column, name }))
    }
}

/// Decodes KAFKA payloads.
struct KafkaDecoder {
    /// The column's type; `None` without a column.
    column: Option<DataType>,
}

impl Decoder for KafkaDecoder {
    fn decode(&self, payloads: &[Option<&[u8]>]) -> Result<Decoded> {
        let Some(data_type) = &self.column else {
            return Ok(Decoded {
                columns: Vec::new(),
                errors: Vec::new(),
            });
        };
        let mut b = ColumnBuilder::new(data_type, payloads.len())?;
        let mut errors = Vec::new();
        for (row, payload) in payloads.iter().enumerate() {
            let Some(bytes) = payload else {
                b.append_null();
                continue;
            };
            if let Err(reason) = append(&mut b, bytes) {
                b.truncate(row);
                b.append_null();
                errors.push(RowError { row, reason });
            }
        }
        Ok(Decoded {
            columns: vec![b.finish()?],
            errors,
        })
    }
}

fn fixed<const N: usize>(bytes: &[u8], type_name: &str) -> Result<[u8; N], String> {
    bytes.try_into().map_err(|_| {
        format!(
            "Size of data received by the {type_name} deserializer is not {N} bytes: got {}",
            bytes.len()
        )
    })
}

fn append(b: &mut ColumnBuilder, bytes: &[u8]) -> Result<(), String> {
    match &mut b.values {
        Values::Int32(v, _) => v.push(i32::from_be_bytes(fixed(bytes, "INTEGER")?)),
        Values::Int64(v, _) => v.push(i64::from_be_bytes(fixed(bytes, "BIGINT")?)),
        Values::Float64(v) => v.push(f64::from_be_bytes(fixed(bytes, "DOUBLE")?)),
        Values::Utf8(out) => {
            out.data
                .extend_from_slice(String::from_utf8_lossy(bytes).as_bytes());
            out.close_value()?;
        }
        Values::Binary(out) => {
            out.data.extend_from_slice(bytes);
            out.close_value()?;
        }
        _ => return Err("the KAFKA format cannot decode this type".into()),
    }
    b.nulls.append_non_null();
    Ok(())
}

/// Encodes one column with Kafka's serializers.
struct KafkaEncoder {
    column: Option<DataType>,
    name: String,
}

impl Encoder for KafkaEncoder {
    fn encode(&self, columns: &[ArrayRef]) -> Result<Encoded> {
        let Some(data_type) = &self.column else {
            check_column_count("KAFKA", 0, columns.len())?;
            return Ok(Encoded {
                data: Vec::new(),
                offsets: vec![0],
                nulls: Vec::new(),
            });
        };
        check_column_count("KAFKA", 1, columns.len())?;
        let rows = row_count(columns)?;
        let array = columns
            .first()
            .map(|c| cast_to(c, data_type, &self.name))
            .transpose()?
            .ok_or_else(|| Error::internal("KAFKA encoder without a column"))?;
        let view = View::new(array.as_ref())?;
        let mut out = Encoded {
            data: Vec::with_capacity(rows * 8),
            offsets: Vec::with_capacity(rows + 1),
            nulls: Vec::with_capacity(rows),
        };
        out.offsets.push(0);
        for row in 0..rows {
            let null = view.is_null(row);
            out.nulls.push(null);
            if !null {
                match &view.kind {
                    ViewKind::Int32(v) => out
                        .data
                        .extend_from_slice(&v.get(row).copied().unwrap_or_default().to_be_bytes()),
                    ViewKind::Int64(v) => out
                        .data
                        .extend_from_slice(&v.get(row).copied().unwrap_or_default().to_be_bytes()),
                    ViewKind::Float64(v) => out
                        .data
                        .extend_from_slice(&v.get(row).copied().unwrap_or_default().to_be_bytes()),
                    ViewKind::Utf8(a) => out.data.extend_from_slice(a.value(row).as_bytes()),
                    ViewKind::Binary(a) => out.data.extend_from_slice(a.value(row)),
                    _ => {
                        return Err(Error::internal(format!(
                            "the KAFKA encoder got column `{}` of type {data_type}",
                            self.name
                        )))
                    }
                }
            }
            out.offsets.push(out.data.len());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{
        Array, AsArray, BinaryArray, Float64Array, Int32Array, Int64Array, StringArray,
    };
    use arrow::datatypes::{Field, Float64Type, Int32Type, Int64Type, Schema};

    use super::*;
    use crate::format::registry;

    fn schema(columns: &[(&str, DataType)]) -> SchemaRef {
        Arc::new(Schema::new(
            columns
                .iter()
                .map(|(n, t)| Field::new(*n, t.clone(), true))
                .collect::<Vec<_>>(),
        ))
    }

    fn spec() -> FormatSpec {
        FormatSpec::new(Format::Kafka)
    }

    fn round_trip(data_type: DataType, column: ArrayRef) -> (Encoded, Decoded) {
        let s = schema(&[("V", data_type)]);
        let enc = registry::encoder(&spec(), Part::Value, Arc::clone(&s)).unwrap();
        let encoded = enc.encode(&[column]).unwrap();
        let payloads: Vec<_> = (0..encoded.len()).map(|i| encoded.get(i)).collect();
        let dec = registry::decoder(&spec(), Part::Value, s).unwrap();
        (encoded.clone(), dec.decode(&payloads).unwrap())
    }

    #[test]
    fn integers_are_big_endian() {
        let (enc, dec) = round_trip(
            DataType::Int32,
            Arc::new(Int32Array::from(vec![Some(258), None, Some(-1)])),
        );
        assert_eq!(enc.get(0), Some(&[0, 0, 1, 2][..]));
        assert_eq!(enc.get(1), None);
        assert_eq!(enc.get(2), Some(&[0xff; 4][..]));
        let col = dec.columns[0].as_primitive::<Int32Type>();
        assert_eq!(
            (col.value(0), col.is_null(1), col.value(2)),
            (258, true, -1)
        );

        let (enc, dec) = round_trip(
            DataType::Int64,
            Arc::new(Int64Array::from(vec![1i64 << 40])),
        );
        assert_eq!(enc.get(0), Some(&(1i64 << 40).to_be_bytes()[..]));
        assert_eq!(dec.columns[0].as_primitive::<Int64Type>().value(0), 1 << 40);
    }

    #[test]
    fn doubles_strings_and_bytes_round_trip() {
        let (enc, dec) = round_trip(DataType::Float64, Arc::new(Float64Array::from(vec![2.5])));
        assert_eq!(enc.get(0), Some(&2.5f64.to_be_bytes()[..]));
        assert_eq!(dec.columns[0].as_primitive::<Float64Type>().value(0), 2.5);

        let (enc, dec) = round_trip(
            DataType::Utf8,
            Arc::new(StringArray::from(vec![Some("héllo"), Some(""), None])),
        );
        assert_eq!(enc.get(0), Some("héllo".as_bytes()));
        assert_eq!(enc.get(1), Some(&b""[..]));
        let col = dec.columns[0].as_string::<i32>();
        assert_eq!(
            (col.value(0), col.value(1), col.is_null(2)),
            ("héllo", "", true)
        );

        let raw: &[u8] = &[0, 159, 146, 150];
        let (enc, dec) = round_trip(DataType::Binary, Arc::new(BinaryArray::from(vec![raw])));
        assert_eq!(enc.get(0), Some(raw));
        assert_eq!(dec.columns[0].as_binary::<i32>().value(0), raw);
    }

    #[test]
    fn wrong_sizes_are_row_errors() {
        let dec = registry::decoder(&spec(), Part::Key, schema(&[("K", DataType::Int32)])).unwrap();
        let out = dec
            .decode(&[Some(&[0, 0, 0, 7]), Some(&[1, 2, 3]), Some(b"")])
            .unwrap();
        assert_eq!(out.columns[0].as_primitive::<Int32Type>().value(0), 7);
        assert_eq!(out.errors.len(), 2);
        assert_eq!(out.errors[0].row, 1);
        assert_eq!(
            out.errors[0].reason,
            "Size of data received by the INTEGER deserializer is not 4 bytes: got 3"
        );
        assert!(out.columns[0].is_null(1) && out.columns[0].is_null(2));
    }

    #[test]
    fn malformed_strings_decode_lossily() {
        let dec = registry::decoder(&spec(), Part::Key, schema(&[("K", DataType::Utf8)])).unwrap();
        let out = dec.decode(&[Some(&[b'a', 0xff])]).unwrap();
        assert_eq!(out.columns[0].as_string::<i32>().value(0), "a\u{fffd}");
    }

    #[test]
    fn validation_names_what_is_wrong() {
        let err = |spec: &FormatSpec, part, cols: &[(&str, DataType)]| {
            registry::validate(spec, part, &schema(cols))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(&spec(), Part::Key, &[("K1", DataType::Int32), ("K2", DataType::Int32)]),
            "The 'KAFKA' format only supports a single field. Got: [`K1` INTEGER KEY, `K2` INTEGER KEY]"
        );
        assert_eq!(
            err(&spec(), Part::Value, &[("V", DataType::Boolean)]),
            "The 'KAFKA' format does not support type 'BOOLEAN', column: `V`"
        );
        assert_eq!(
            err(&spec(), Part::Value, &[("V", DataType::Decimal128(4, 2))]),
            "The 'KAFKA' format does not support type 'DECIMAL', column: `V`"
        );
        let wrapped = FormatSpec {
            wrap_single_value: Some(true),
            ..spec()
        };
        assert_eq!(
            err(&wrapped, Part::Value, &[("V", DataType::Int32)]),
            "Format 'KAFKA' does not support 'WRAP_SINGLE_VALUE' set to 'true'."
        );
        let unwrapped = FormatSpec {
            wrap_single_value: Some(false),
            ..spec()
        };
        registry::validate(&unwrapped, Part::Value, &schema(&[("V", DataType::Utf8)])).unwrap();
    }

    #[test]
    fn no_columns_ignores_payloads() {
        let s = schema(&[]);
        registry::validate(&spec(), Part::Key, &s).unwrap();
        let dec = registry::decoder(&spec(), Part::Key, Arc::clone(&s)).unwrap();
        let out = dec.decode(&[Some(b"junk"), None]).unwrap();
        assert!(out.columns.is_empty() && out.errors.is_empty());
        let enc = registry::encoder(&spec(), Part::Key, s).unwrap();
        assert!(enc.encode(&[]).unwrap().is_empty());
    }
}
