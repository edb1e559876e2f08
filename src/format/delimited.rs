//! The DELIMITED format: one CSV line per key or value, columns by
//! position, as ksqlDB reads and writes it.
//!
//! * The separator is the spec's delimiter (default `,`); quoting follows
//!   Apache Commons CSV (RFC 4180; see the `csv` submodule).
//! * Only scalar types: BOOLEAN (`true`/`false`), INT, BIGINT, DOUBLE
//!   (written as Java prints it), DECIMAL (plain text with the column's
//!   scale), STRING, BYTES (base64), DATE (days), TIME (ms of the day),
//!   TIMESTAMP (epoch ms). ARRAY, MAP and STRUCT are rejected by
//!   [`FormatFactory::validate`].
//! * An empty field is null. A record with the wrong number of fields, or a
//!   field that does not parse, is a [`RowError`].
//! * A null payload is a row of nulls, and so is an empty payload for a
//!   single column (what a single null column is written as).

mod csv;

use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, SchemaRef};

use self::csv::{field_text, split_record, write_field, FieldSpan};
use super::builder::{ColumnBuilder, Int32Kind, Values};
use super::columns::{
    base_type_name, check_supported, encodable_type, prepare_encode, sql_type_name,
};
use super::text::{
    decode_base64_into, parse_decimal, parse_java_double, parse_java_integer, MILLIS_PER_DAY,
};
use super::view::View;
use super::{
    Decoded, Decoder, Encoded, Encoder, Format, FormatFactory, FormatSpec, Part, RowError,
};
use crate::error::{Error, Result};

/// The DELIMITED format's factory.
pub struct DelimitedFormat;

/// The one instance, for the registry.
pub static DELIMITED: DelimitedFormat = DelimitedFormat;

/// The delimiter of `spec` as UTF-8 bytes.
fn delimiter(spec: &FormatSpec) -> Vec<u8> {
    let mut buf = [0u8; 4];
    spec.delimiter
        .unwrap_or(',')
        .encode_utf8(&mut buf)
        .as_bytes()
        .to_vec()
}

/// Rejects the types DELIMITED cannot carry, naming the column.
fn check_types(schema: &SchemaRef) -> Result<()> {
    for f in schema.fields() {
        if matches!(
            f.data_type(),
            DataType::List(_) | DataType::Map(..) | DataType::Struct(_)
        ) {
            return Err(Error::user(format!(
                "The 'DELIMITED' format does not support type '{}', column: `{}`",
                base_type_name(f.data_type()),
                f.name()
            )));
        }
    }
    check_supported("DELIMITED", schema)
}

impl FormatFactory for DelimitedFormat {
    fn format(&self) -> Format {
        Format::Delimited
    }

    fn validate(&self, spec: &FormatSpec, _part: Part, schema: &SchemaRef) -> Result<()> {
        if spec.wrap_single_value == Some(true) {
            return Err(Error::user(
                "Format 'DELIMITED' does not support 'WRAP_SINGLE_VALUE' set to 'true'.",
            ));
        }
        if let Some(d) = spec.delimiter {
            if matches!(d, '"' | '\n' | '\r') {
                return Err(Error::user(format!(
                    "Invalid delimiter value: {d:?}. A DELIMITED delimiter cannot be a quote \
                     or a line break."
                )));
            }
        }
        check_types(schema)
    }

    fn decoder(
        &self,
        spec: &FormatSpec,
        _part: Part,
        schema: SchemaRef,
    ) -> Result<Arc<dyn Decoder>> {
        check_types(&schema)?;
        Ok(Arc::new(DelimitedDecoder {
            schema,
            delimiter: delimiter(spec),
        }))
    }

    fn encoder(
        &self,
        spec: &FormatSpec,
        part: Part,
        schema: SchemaRef,
    ) -> Result<Arc<dyn Encoder>> {
        let columns = schema
            .fields()
            .iter()
            .map(|f| Ok((f.name().clone(), encodable_type(f.data_type())?)))
            .collect::<Result<Vec<_>>>()?;
        if let Some((name, t)) = columns.iter().find(|(_, t)| {
            matches!(
                t,
                DataType::List(_) | DataType::Map(..) | DataType::Struct(_)
            )
        }) {
            return Err(Error::user(format!(
                "The 'DELIMITED' format does not support type '{}', column: `{name}`",
                base_type_name(t)
            )));
        }
        Ok(Arc::new(DelimitedEncoder {
            columns,
            delimiter: delimiter(spec),
            part,
        }))
    }
}

/// Decodes DELIMITED payloads.
struct DelimitedDecoder {
    schema: SchemaRef,
    delimiter: Vec<u8>,
}

impl Decoder for DelimitedDecoder {
    fn decode(&self, payloads: &[Option<&[u8]>]) -> Result<Decoded> {
        let fields = self.schema.fields();
        if fields.is_empty() {
            return Ok(Decoded {
                columns: Vec::new(),
                errors: Vec::new(),
            });
        }
        let mut builders = fields
            .iter()
            .map(|f| ColumnBuilder::new(f.data_type(), payloads.len()))
            .collect::<Result<Vec<_>>>()?;
        let mut spans: Vec<FieldSpan> = Vec::with_capacity(fields.len());
        let mut scratch = Vec::new();
        let mut errors = Vec::new();
        for (row, payload) in payloads.iter().enumerate() {
            let result = match payload {
                None => Ok(false),
                Some(bytes) => split_record(bytes, &self.delimiter, &mut spans).and_then(|()| {
                    if spans.is_empty() && builders.len() == 1 {
                        return Ok(false);
                    }
                    if spans.len() != builders.len() {
                        return Err(format!(
                            "Column count mismatch on deserialization: expected {} fields, got {}",
                            builders.len(),
                            spans.len()
                        ));
                    }
                    for (i, (span, b)) in spans.iter().zip(builders.iter_mut()).enumerate() {
                        let text = field_text(bytes, *span, &mut scratch);
                        parse_field(text, b).map_err(|e| {
                            let f = &fields[i];
                            format!(
                                "Can't parse field {} as column `{}` {}: {e}",
                                i + 1,
                                f.name(),
                                sql_type_name(f.data_type())
                            )
                        })?;
                    }
                    Ok(true)
                }),
            };
            match result {
                Ok(true) => {}
                Ok(false) => builders.iter_mut().for_each(ColumnBuilder::append_null),
                Err(reason) => {
                    for b in &mut builders {
                        b.truncate(row);
                        b.append_null();
                    }
                    errors.push(RowError { row, reason });
                }
            }
        }
        let columns = builders
            .iter_mut()
            .map(ColumnBuilder::finish)
            .collect::<Result<Vec<ArrayRef>>>()?;
        Ok(Decoded { columns, errors })
    }
}

/// Appends one field's text to its column; empty text is null.
fn parse_field(text: &[u8], b: &mut ColumnBuilder) -> Result<(), String> {
    if text.is_empty() {
        b.append_null();
        return Ok(());
    }
    let utf8 = || std::str::from_utf8(text).map_err(|_| "not valid UTF-8".to_string());
    match &mut b.values {
        Values::Boolean(v) => {
            let t = utf8()?;
            if t.eq_ignore_ascii_case("true") {
                v.append(true);
            } else if t.eq_ignore_ascii_case("false") {
                v.append(false);
            } else {
                return Err("expected true or false".into());
            }
        }
        Values::Int32(v, kind) => {
            let n = parse_java_integer(utf8()?).ok_or("not an integer")?;
            if *kind == Int32Kind::Time && !(0..MILLIS_PER_DAY).contains(&n) {
                return Err(format!(
                    "TIME must be milliseconds of the day, 0 to {}",
                    MILLIS_PER_DAY - 1
                ));
            }
            v.push(i32::try_from(n).map_err(|_| "out of range")?);
        }
        Values::Int64(v, _) => v.push(parse_java_integer(utf8()?).ok_or("not an integer")?),
        Values::Float64(v) => v.push(parse_java_double(utf8()?).ok_or("not a number")?),
        Values::Decimal(v, precision, scale) => v.push(parse_decimal(text, *precision, *scale)?),
        Values::Utf8(bytes) => {
            // Java decodes malformed UTF-8 with replacement characters.
            match std::str::from_utf8(text) {
                Ok(s) => bytes.data.extend_from_slice(s.as_bytes()),
                Err(_) => bytes
                    .data
                    .extend_from_slice(String::from_utf8_lossy(text).as_bytes()),
            }
            bytes.close_value()?;
        }
        Values::Binary(bytes) => {
            decode_base64_into(text, &mut bytes.data)?;
            bytes.close_value()?;
        }
        Values::List(..) | Values::Map(..) | Values::Struct(_) => {
            return Err("the DELIMITED format has no nested types".into());
        }
    }
    b.nulls.append_non_null();
    Ok(())
}

/// Encodes columns as DELIMITED lines.
struct DelimitedEncoder {
    /// Each column's name and the type it is written as.
    columns: Vec<(String, DataType)>,
    delimiter: Vec<u8>,
    part: Part,
}

impl Encoder for DelimitedEncoder {
    fn encode(&self, columns: &[ArrayRef]) -> Result<Encoded> {
        let (rows, arrays) = prepare_encode("DELIMITED", &self.columns, columns)?;
        let views = arrays
            .iter()
            .map(|a| View::new(a.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        let mut out = Encoded {
            data: Vec::with_capacity(rows * 8 * views.len().max(1)),
            offsets: Vec::with_capacity(rows + 1),
            nulls: Vec::with_capacity(rows),
        };
        out.offsets.push(0);
        let (mut text, mut scratch) = (Vec::new(), Vec::new());
        for row in 0..rows {
            // A key whose columns are all null is a null key.
            let null = self.part == Part::Key && views.iter().all(|v| v.is_null(row));
            out.nulls.push(null);
            if !null {
                for (i, view) in views.iter().enumerate() {
                    if i > 0 {
                        out.data.extend_from_slice(&self.delimiter);
                    }
                    if view.is_null(row) {
                        continue;
                    }
                    text.clear();
                    view.write_text(row, &mut text, &mut scratch);
                    write_field(&mut out.data, &text, i == 0, &self.delimiter);
                }
            }
            out.offsets.push(out.data.len());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
