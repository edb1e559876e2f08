//! JSON payloads to Arrow columns, walking each payload once with the
//! [`Reader`] and appending straight into [`ColumnBuilder`]s.
//!
//! ksqlDB's rules: object members match columns and STRUCT fields by exact
//! name, else by upper-cased name (an exact match wins); missing members are
//! null, extra members ignored; scalars are coerced as ksqlDB's
//! `KsqlJsonDeserializer` does (numeric strings to numbers, any scalar,
//! object or array to STRING, ...).

use arrow::datatypes::{DataType, Fields, SchemaRef};

use super::reader::{write_compact, DecodeError, Kind, Reader, MAX_DEPTH};
use crate::error::Result;
use crate::format::builder::{ColumnBuilder, Int32Kind, Values};
use crate::format::columns::sql_type_name;
use crate::format::text::{
    decode_base64_into, json_number_to_i64, parse_decimal, parse_java_double, parse_java_integer,
    MILLIS_PER_DAY,
};
use crate::format::{Decoded, Decoder, RowError};

type Outcome<T> = std::result::Result<T, DecodeError>;

/// How a member name matched a field.
const UNSEEN: u8 = 0;
const BY_UPPER_CASE: u8 = 1;
const EXACT: u8 = 2;

/// Decodes JSON payloads of one part.
pub(crate) struct JsonDecoder {
    /// A STRUCT of the part's columns: the row.
    row_type: DataType,
    /// True when a payload is an object with one member per column; false
    /// for one bare value (a single unwrapped column).
    wrapped: bool,
    columns: usize,
}

/// Working space reused across the records of a batch.
#[derive(Default)]
struct Scratch {
    /// Unescaped strings (owned by the [`Reader`] while it runs).
    strings: Vec<u8>,
    /// Per open object, how each field was matched; a stack.
    seen: Vec<u8>,
}

impl JsonDecoder {
    /// A decoder for `schema`'s columns.
    pub(crate) fn new(schema: SchemaRef, wrapped: bool) -> Self {
        JsonDecoder {
            row_type: DataType::Struct(schema.fields().clone()),
            wrapped,
            columns: schema.fields().len(),
        }
    }

    /// Decodes one payload into `row` (a row builder of this decoder's
    /// type); on an error the caller rolls `row` back.
    pub(crate) fn decode_one(
        &self,
        bytes: &[u8],
        row: &mut ColumnBuilder,
    ) -> std::result::Result<(), String> {
        self.decode_row(bytes, row, &mut Scratch::default())
            .map_err(|e| e.reason())
    }

    fn decode_row(
        &self,
        bytes: &[u8],
        row: &mut ColumnBuilder,
        scratch: &mut Scratch,
    ) -> Outcome<()> {
        scratch.seen.clear();
        let mut r = Reader::new(bytes, std::mem::take(&mut scratch.strings));
        let result = self.read_row(&mut r, row, scratch);
        scratch.strings = r.into_scratch();
        result
    }

    fn read_row(
        &self,
        r: &mut Reader<'_>,
        row: &mut ColumnBuilder,
        s: &mut Scratch,
    ) -> Outcome<()> {
        let kind = r.peek()?;
        if kind == Kind::Null {
            r.null()?;
            row.append_null();
        } else if self.wrapped {
            if kind != Kind::Object {
                let hint = if self.columns == 1 {
                    " (the single value column is wrapped in an object; \
                     set WRAP_SINGLE_VALUE=false for a bare value)"
                } else {
                    ""
                };
                return Err(DecodeError::new(format!(
                    "Can't convert JSON {kind} to a row: expected a JSON object{hint}"
                )));
            }
            decode_value(r, row, s, 0)?;
        } else {
            let Values::Struct(children) = &mut row.values else {
                return Err(DecodeError::new("internal error: the row is not a STRUCT"));
            };
            let Some(column) = children.first_mut() else {
                return Err(DecodeError::new("internal error: no column to decode into"));
            };
            decode_value(r, column, s, 0)?;
            row.nulls.append_non_null();
        }
        r.finish()
    }
}

impl Decoder for JsonDecoder {
    fn decode(&self, payloads: &[Option<&[u8]>]) -> Result<Decoded> {
        if self.columns == 0 {
            return Ok(Decoded {
                columns: Vec::new(),
                errors: Vec::new(),
            });
        }
        let mut row = ColumnBuilder::new(&self.row_type, payloads.len())?;
        let mut scratch = Scratch::default();
        let mut errors = Vec::new();
        for (i, payload) in payloads.iter().enumerate() {
            let Some(bytes) = payload else {
                row.append_null();
                continue;
            };
            if let Err(e) = self.decode_row(bytes, &mut row, &mut scratch) {
                row.truncate(i);
                row.append_null();
                errors.push(RowError {
                    row: i,
                    reason: e.reason(),
                });
            }
        }
        let columns = crate::format::builder::finish_columns(&mut row)?;
        Ok(Decoded { columns, errors })
    }
}

/// What remains to close a value after its contents were appended.
enum Close {
    Scalar,
    Nested,
}

/// Reads one value into `b`.
fn decode_value(
    r: &mut Reader<'_>,
    b: &mut ColumnBuilder,
    s: &mut Scratch,
    depth: usize,
) -> Outcome<()> {
    let kind = r.peek()?;
    if kind == Kind::Null {
        r.null()?;
        b.append_null();
        return Ok(());
    }
    let ColumnBuilder {
        data_type,
        nulls: _,
        values,
    } = b;
    let close = match values {
        Values::Boolean(v) => {
            if kind != Kind::Bool {
                return Err(mismatch(kind, data_type));
            }
            v.append(r.boolean()?);
            Close::Scalar
        }
        Values::Int32(v, k) => {
            v.push(int32(r, kind, *k, data_type)?);
            Close::Scalar
        }
        Values::Int64(v, _) => {
            v.push(integer(r, kind, data_type)?);
            Close::Scalar
        }
        Values::Float64(v) => {
            v.push(double(r, kind, data_type)?);
            Close::Scalar
        }
        Values::Decimal(v, precision, scale) => {
            let text = match kind {
                Kind::Number => r.number()?,
                Kind::String => r.string()?,
                other => return Err(mismatch(other, data_type)),
            };
            v.push(parse_decimal(text.as_bytes(), *precision, *scale).map_err(DecodeError::new)?);
            Close::Scalar
        }
        Values::Utf8(bytes) => {
            text(r, kind, &mut bytes.data, 0)?;
            bytes.close_value().map_err(DecodeError::new)?;
            Close::Scalar
        }
        Values::Binary(bytes) => {
            if kind != Kind::String {
                return Err(mismatch(kind, data_type));
            }
            let encoded = r.string()?;
            decode_base64_into(encoded.as_bytes(), &mut bytes.data).map_err(DecodeError::new)?;
            bytes.close_value().map_err(DecodeError::new)?;
            Close::Scalar
        }
        Values::List(_, child) => {
            if kind != Kind::Array {
                return Err(mismatch(kind, data_type));
            }
            r.begin_array()?;
            let mut first = true;
            let mut index = 0usize;
            while r.next_element(&mut first)? {
                decode_value(r, child, s, depth + 1)
                    .map_err(|e| e.within(format_args!("[{index}]")))?;
                index += 1;
            }
            Close::Nested
        }
        Values::Map(_, keys, map_values) => {
            if kind != Kind::Object {
                return Err(mismatch(kind, data_type));
            }
            let Values::Utf8(key_bytes) = &mut keys.values else {
                return Err(DecodeError::new(
                    "JSON only supports MAP types with STRING keys",
                ));
            };
            r.begin_object()?;
            let mut first = true;
            while let Some(key) = r.next_key(&mut first)? {
                key_bytes.data.extend_from_slice(key.as_bytes());
                key_bytes.close_value().map_err(DecodeError::new)?;
                keys.nulls.append_non_null();
                decode_value(r, map_values, s, depth + 1).map_err(|e| {
                    let key = last_string(&key_bytes.offsets, &key_bytes.data);
                    e.within(format_args!("['{key}']"))
                })?;
            }
            Close::Nested
        }
        Values::Struct(children) => {
            if kind != Kind::Object {
                return Err(mismatch(kind, data_type));
            }
            let DataType::Struct(fields) = &*data_type else {
                return Err(DecodeError::new(
                    "internal error: STRUCT builder of another type",
                ));
            };
            decode_fields(r, fields, children, s, depth)?;
            Close::Scalar
        }
    };
    match close {
        Close::Scalar => b.nulls.append_non_null(),
        Close::Nested => b.close_nested().map_err(DecodeError::new)?,
    }
    Ok(())
}

/// Reads an object's members into the fields of a STRUCT (or the columns
/// of a row), with ksqlDB's name matching.
fn decode_fields(
    r: &mut Reader<'_>,
    fields: &Fields,
    children: &mut [ColumnBuilder],
    s: &mut Scratch,
    depth: usize,
) -> Outcome<()> {
    let start = children.first().map_or(0, ColumnBuilder::len);
    let base = s.seen.len();
    s.seen.resize(base + fields.len(), UNSEEN);
    r.begin_object()?;
    let mut first = true;
    let mut hint = 0;
    // Fields whose value did not convert (allocated only on error).
    let mut failed: Vec<(usize, DecodeError)> = Vec::new();
    loop {
        let (exact, upper) = match r.next_key(&mut first)? {
            None => break,
            Some(key) => lookup(fields, key, hint),
        };
        if exact.is_none() && upper.is_none() {
            r.skip_value()?;
            continue;
        }
        // A lower-case name can feed both a quoted lower-case field and its
        // upper-case twin: read the value once per target.
        let at = r.position();
        for (target, how) in [(exact, EXACT), (upper, BY_UPPER_CASE)] {
            let Some(i) = target else { continue };
            r.seek(at);
            hint = i + 1;
            let (Some(child), Some(field)) = (children.get_mut(i), fields.get(i)) else {
                return Err(DecodeError::new("internal error: field index out of range"));
            };
            let previous = s.seen.get(base + i).copied().unwrap_or(UNSEEN);
            if how == BY_UPPER_CASE && previous == EXACT {
                r.skip_value()?;
                continue;
            }
            if previous != UNSEEN {
                // A later duplicate replaces the earlier value.
                child.truncate(start);
            }
            match decode_value(r, child, s, depth + 1) {
                Ok(()) => failed.retain(|(f, _)| *f != i),
                Err(e) => {
                    let e = e.within(format_args!(".{}", field.name()));
                    // The last duplicate wins, so a later one may still
                    // replace this value: remember the error, move on
                    // (unless the JSON itself is broken).
                    r.seek(at);
                    if r.skip_value().is_err() {
                        return Err(e);
                    }
                    child.truncate(start);
                    failed.push((i, e));
                }
            }
            if let Some(seen) = s.seen.get_mut(base + i) {
                *seen = how;
            }
        }
    }
    if let Some((_, e)) = failed.into_iter().next() {
        return Err(e);
    }
    for (i, child) in children.iter_mut().enumerate() {
        if s.seen.get(base + i) == Some(&UNSEEN) {
            child.append_null();
        }
    }
    s.seen.truncate(base);
    Ok(())
}

/// The field a member name matches exactly, and the field its upper-cased
/// form matches (when that is another field). `hint` is tried first:
/// members usually come in field order.
fn lookup(fields: &Fields, key: &str, hint: usize) -> (Option<usize>, Option<usize>) {
    let exact = match fields.get(hint) {
        Some(f) if f.name() == key => Some(hint),
        _ => fields.iter().position(|f| f.name() == key),
    };
    if !changes_when_upper_cased(key) {
        return (exact, None);
    }
    let upper = match fields.get(hint) {
        Some(f) if eq_upper_cased(key, f.name()) => Some(hint),
        _ => fields.iter().position(|f| eq_upper_cased(key, f.name())),
    };
    (exact, upper)
}

fn changes_when_upper_cased(key: &str) -> bool {
    if key.is_ascii() {
        return key.bytes().any(|c| c.is_ascii_lowercase());
    }
    key.chars().any(|c| {
        let mut upper = c.to_uppercase();
        !(upper.next() == Some(c) && upper.next().is_none())
    })
}

/// `key.to_uppercase() == name`, without allocating; byte-wise for ASCII
/// keys (the common case), where Unicode upper-casing is ASCII's.
fn eq_upper_cased(key: &str, name: &str) -> bool {
    if key.is_ascii() {
        return key.len() == name.len()
            && key
                .bytes()
                .zip(name.bytes())
                .all(|(k, n)| k.to_ascii_uppercase() == n);
    }
    let mut upper = key.chars().flat_map(char::to_uppercase);
    let mut name = name.chars();
    loop {
        match (upper.next(), name.next()) {
            (None, None) => return true,
            (a, b) if a == b => {}
            _ => return false,
        }
    }
}

fn mismatch(kind: Kind, data_type: &DataType) -> DecodeError {
    DecodeError::new(format!(
        "Can't convert JSON {kind} to {}",
        sql_type_name(data_type)
    ))
}

fn out_of_range(data_type: &DataType) -> DecodeError {
    DecodeError::new(format!(
        "JSON number out of range for {}",
        sql_type_name(data_type)
    ))
}

fn not_a_number(data_type: &DataType) -> DecodeError {
    DecodeError::new(format!(
        "Can't coerce JSON string to {}: not a number",
        sql_type_name(data_type)
    ))
}

/// An integer from a JSON number (truncated) or numeric string.
fn integer(r: &mut Reader<'_>, kind: Kind, data_type: &DataType) -> Outcome<i64> {
    match kind {
        Kind::Number => json_number_to_i64(r.number()?).ok_or_else(|| out_of_range(data_type)),
        Kind::String => parse_java_integer(r.string()?).ok_or_else(|| not_a_number(data_type)),
        other => Err(mismatch(other, data_type)),
    }
}

fn int32(r: &mut Reader<'_>, kind: Kind, k: Int32Kind, data_type: &DataType) -> Outcome<i32> {
    let v = integer(r, kind, data_type)?;
    if k == Int32Kind::Time && !(0..MILLIS_PER_DAY).contains(&v) {
        return Err(DecodeError::new(format!(
            "TIME must be milliseconds of the day, 0 to {}",
            MILLIS_PER_DAY - 1
        )));
    }
    i32::try_from(v).map_err(|_| out_of_range(data_type))
}

fn double(r: &mut Reader<'_>, kind: Kind, data_type: &DataType) -> Outcome<f64> {
    match kind {
        Kind::Number => r.number()?.parse().map_err(|_| out_of_range(data_type)),
        Kind::String => parse_java_double(r.string()?).ok_or_else(|| not_a_number(data_type)),
        other => Err(mismatch(other, data_type)),
    }
}

/// Appends the STRING form of any JSON value (ksqlDB's `processString`):
/// strings as they are, numbers as written, objects as compact JSON, arrays
/// as `[a, b]` of their elements' STRING forms.
fn text(r: &mut Reader<'_>, kind: Kind, out: &mut Vec<u8>, depth: usize) -> Outcome<()> {
    match kind {
        Kind::String => out.extend_from_slice(r.string()?.as_bytes()),
        Kind::Number => out.extend_from_slice(r.number()?.as_bytes()),
        Kind::Bool => out.extend_from_slice(if r.boolean()? { b"true" } else { b"false" }),
        Kind::Null => {
            r.null()?;
            out.extend_from_slice(b"null");
        }
        Kind::Object => {
            let (start, end) = r.value_range()?;
            write_compact(r.raw(start, end), out);
        }
        Kind::Array => {
            if depth > MAX_DEPTH {
                return Err(DecodeError::new(format!(
                    "JSON nested deeper than {MAX_DEPTH} levels"
                )));
            }
            r.begin_array()?;
            out.push(b'[');
            let mut first = true;
            let mut count = 0usize;
            while r.next_element(&mut first)? {
                if count > 0 {
                    out.extend_from_slice(b", ");
                }
                count += 1;
                let kind = r.peek()?;
                text(r, kind, out, depth + 1)?;
            }
            out.push(b']');
        }
    }
    Ok(())
}

/// The last value of a STRING builder's buffers, for error paths.
fn last_string(offsets: &[i32], data: &[u8]) -> String {
    let n = offsets.len();
    let (Some(&a), Some(&b)) = (
        offsets.get(n.wrapping_sub(2)),
        offsets.get(n.wrapping_sub(1)),
    ) else {
        return String::new();
    };
    let a = usize::try_from(a).unwrap_or(0);
    let b = usize::try_from(b).unwrap_or(0);
    String::from_utf8_lossy(data.get(a..b).unwrap_or_default()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::eq_upper_cased;

    #[test]
    fn upper_cased_comparison_matches_unicode_rules() {
        assert!(eq_upper_cased("name", "NAME"));
        assert!(eq_upper_cased("NaMe_1", "NAME_1"));
        assert!(!eq_upper_cased("name", "NAMES"));
        assert!(!eq_upper_cased("nam", "NAME"));
        assert!(eq_upper_cased("straße", "STRASSE"));
        assert!(eq_upper_cased("é", "É"));
    }
}
