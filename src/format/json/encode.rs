//! Arrow columns to JSON payloads, written straight into one buffer.
//!
//! As ksqlDB writes them: an object with one member per column in schema
//! order (or the bare value of a single unwrapped column), DECIMAL as a
//! number with its scale, DOUBLE as Java prints it (non-finite values as the
//! strings `"NaN"`, `"Infinity"`), TIMESTAMP/DATE/TIME as numbers, BYTES as
//! base64, MAP and STRUCT as objects.

use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, SchemaRef};

use crate::error::Result;
use crate::format::columns::{encodable_type, prepare_encode};
use crate::format::text::write_base64;
use crate::format::view::{range, View, ViewKind};
use crate::format::{Encoded, Encoder, Part};

/// Encodes columns of one part as JSON.
pub(crate) struct JsonEncoder {
    /// Each column's name and the type it is written as.
    columns: Vec<(String, DataType)>,
    /// Object with one member per column, or one bare value.
    wrapped: bool,
    part: Part,
}

impl JsonEncoder {
    /// An encoder for `schema`'s columns.
    pub(crate) fn new(schema: SchemaRef, part: Part, wrapped: bool) -> Result<Self> {
        let columns = schema
            .fields()
            .iter()
            .map(|f| Ok((f.name().clone(), encodable_type(f.data_type())?)))
            .collect::<Result<_>>()?;
        Ok(JsonEncoder {
            columns,
            wrapped,
            part,
        })
    }
}

impl Encoder for JsonEncoder {
    fn encode(&self, columns: &[ArrayRef]) -> Result<Encoded> {
        let (rows, arrays) = prepare_encode("JSON", &self.columns, columns)?;
        let views = arrays
            .iter()
            .map(|a| View::new(a.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        let mut out = Encoded {
            data: Vec::with_capacity(rows * 16 * views.len().max(1)),
            offsets: Vec::with_capacity(rows + 1),
            nulls: Vec::with_capacity(rows),
        };
        out.offsets.push(0);
        let mut scratch = Vec::new();
        for row in 0..rows {
            // A bare null, or a one-column key without a value, is a null
            // payload; a key of several columns is always an object.
            let null = if self.wrapped {
                self.part == Part::Key && views.len() == 1 && views.iter().all(|v| v.is_null(row))
            } else {
                views.first().is_none_or(|v| v.is_null(row))
            };
            out.nulls.push(null);
            if !null {
                if self.wrapped {
                    out.data.push(b'{');
                    for (i, (view, (name, _))) in views.iter().zip(&self.columns).enumerate() {
                        if i > 0 {
                            out.data.push(b',');
                        }
                        write_string(&mut out.data, name.as_bytes());
                        out.data.push(b':');
                        write_value(view, row, &mut out.data, &mut scratch);
                    }
                    out.data.push(b'}');
                } else if let Some(view) = views.first() {
                    write_value(view, row, &mut out.data, &mut scratch);
                }
            }
            out.offsets.push(out.data.len());
        }
        Ok(out)
    }
}

/// Appends the JSON of row `i` of `view`.
pub(crate) fn write_value(view: &View<'_>, i: usize, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
    if view.is_null(i) {
        out.extend_from_slice(b"null");
        return;
    }
    match &view.kind {
        ViewKind::Utf8(a) => write_string(out, a.value(i).as_bytes()),
        ViewKind::Binary(a) => {
            out.push(b'"');
            write_base64(out, a.value(i));
            out.push(b'"');
        }
        ViewKind::Float64(v) if !v.get(i).is_some_and(|x| x.is_finite()) => {
            // Jackson quotes non-finite doubles.
            out.push(b'"');
            view.write_text(i, out, scratch);
            out.push(b'"');
        }
        ViewKind::List(offsets, items) => {
            out.push(b'[');
            for (n, k) in range(offsets, i).enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_value(items, k, out, scratch);
            }
            out.push(b']');
        }
        ViewKind::Map(offsets, keys, values) => {
            out.push(b'{');
            for (n, k) in range(offsets, i).enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                if let ViewKind::Utf8(a) = &keys.kind {
                    write_string(out, a.value(k).as_bytes());
                } else {
                    // JSON keys are strings: quote the key's text (numbers
                    // and booleans need no escaping).
                    out.push(b'"');
                    keys.write_text(k, out, scratch);
                    out.push(b'"');
                }
                out.push(b':');
                write_value(values, k, out, scratch);
            }
            out.push(b'}');
        }
        ViewKind::Struct(fields) => {
            out.push(b'{');
            for (n, (name, field)) in fields.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_string(out, name.as_bytes());
                out.push(b':');
                write_value(field, i, out, scratch);
            }
            out.push(b'}');
        }
        ViewKind::Boolean(_)
        | ViewKind::Int32(_)
        | ViewKind::Int64(_)
        | ViewKind::Float64(_)
        | ViewKind::Decimal(..) => {
            view.write_text(i, out, scratch);
        }
    }
}

/// Appends `s` (UTF-8) as a JSON string, escaping quotes, backslashes and
/// control characters.
pub(crate) fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut run = 0;
    for (i, &c) in s.iter().enumerate() {
        let escape: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s[run..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        run = i + 1;
    }
    out.extend_from_slice(&s[run..]);
    out.push(b'"');
}
