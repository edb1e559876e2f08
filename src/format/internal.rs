//! The binary row format of sluice's internal topics.
//!
//! A repartition topic is written by one stage of a query and read by the
//! next, both planned from the same columns, so its values need neither
//! names nor text: a payload is the marker byte [`MARKER`], then each
//! column in order as a presence byte (0 null, 1 present) and, when
//! present, its value:
//!
//! * BOOLEAN one byte; INT, DATE, TIME four bytes; BIGINT, TIMESTAMP,
//!   DOUBLE eight; DECIMAL sixteen (the unscaled value), all little-endian;
//! * STRING and BYTES a `u32` length and the bytes;
//! * ARRAY a `u32` count and the elements, MAP a count and the key/value
//!   pairs, STRUCT its fields, each element, key, value and field itself a
//!   presence byte and a value.
//!
//! Decoding copies fixed-width values straight into the column builders:
//! no text conversion, no name matching. Every read is bounds-checked and
//! every string UTF-8-checked, so a payload that is not in this layout is a
//! [`RowError`] like any other bad record.
//!
//! A payload that does not start with the marker is read as JSON: topics
//! written by sluice versions before this format carried JSON values, and a
//! JSON text never starts with the marker byte.

use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, SchemaRef};

use super::builder::{ColumnBuilder, Values};
use super::view::{range, View, ViewKind};
use super::{
    Decoded, Decoder, Encoded, Encoder, Format, FormatFactory, FormatSpec, Part, RowError,
};
use crate::error::{Error, Result};

/// The first byte of every payload in this format (not a byte a JSON text
/// can start with).
pub const MARKER: u8 = 0xB5;

const NULL: u8 = 0;
const PRESENT: u8 = 1;

/// The internal format's factory.
pub struct InternalFormat;

/// The one instance, for the registry.
pub static INTERNAL: InternalFormat = InternalFormat;

impl FormatFactory for InternalFormat {
    fn format(&self) -> Format {
        Format::Internal
    }

    fn validate(&self, _spec: &FormatSpec, _part: Part, schema: &SchemaRef) -> Result<()> {
        super::columns::check_supported("SLUICE_INTERNAL", schema)
    }

    fn decoder(
        &self,
        _spec: &FormatSpec,
        part: Part,
        schema: SchemaRef,
    ) -> Result<Arc<dyn Decoder>> {
        super::columns::check_supported("SLUICE_INTERNAL", &schema)?;
        let wrapped =
            super::json::is_wrapped(&FormatSpec::new(Format::Json), part, schema.fields().len());
        Ok(Arc::new(InternalDecoder {
            row_type: DataType::Struct(schema.fields().clone()),
            legacy: super::json::decode::JsonDecoder::new(schema, wrapped),
        }))
    }

    fn encoder(
        &self,
        _spec: &FormatSpec,
        _part: Part,
        schema: SchemaRef,
    ) -> Result<Arc<dyn Encoder>> {
        super::columns::check_supported("SLUICE_INTERNAL", &schema)?;
        Ok(Arc::new(InternalEncoder {
            columns: schema.fields().len(),
        }))
    }
}

/// Writes rows in the internal layout.
struct InternalEncoder {
    columns: usize,
}

impl Encoder for InternalEncoder {
    fn encode(&self, columns: &[ArrayRef]) -> Result<Encoded> {
        super::columns::check_column_count("SLUICE_INTERNAL", self.columns, columns.len())?;
        let rows = super::columns::row_count(columns)?;
        let views = columns
            .iter()
            .map(|c| View::new(c.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        let mut out = Encoded {
            data: Vec::with_capacity(rows * (2 + 9 * views.len())),
            offsets: Vec::with_capacity(rows + 1),
            nulls: vec![false; rows],
        };
        out.offsets.push(0);
        for i in 0..rows {
            out.data.push(MARKER);
            for v in &views {
                put(v, i, &mut out.data)?;
            }
            out.offsets.push(out.data.len());
        }
        Ok(out)
    }
}

fn put_len(n: usize, out: &mut Vec<u8>) -> Result<()> {
    let n = u32::try_from(n)
        .map_err(|_| Error::internal("a value longer than 4 GiB in an internal topic"))?;
    out.extend_from_slice(&n.to_le_bytes());
    Ok(())
}

/// Appends row `i` of `v`: its presence byte and value.
fn put(v: &View<'_>, i: usize, out: &mut Vec<u8>) -> Result<()> {
    if v.is_null(i) {
        out.push(NULL);
        return Ok(());
    }
    out.push(PRESENT);
    let missing = || Error::internal("a row outside its column in an internal topic");
    match &v.kind {
        ViewKind::Boolean(b) => out.push(u8::from(b.value(i))),
        ViewKind::Int32(a) => out.extend_from_slice(&a.get(i).ok_or_else(missing)?.to_le_bytes()),
        ViewKind::Int64(a) => out.extend_from_slice(&a.get(i).ok_or_else(missing)?.to_le_bytes()),
        ViewKind::Float64(a) => out.extend_from_slice(&a.get(i).ok_or_else(missing)?.to_le_bytes()),
        ViewKind::Decimal(a, _) => {
            out.extend_from_slice(&a.get(i).ok_or_else(missing)?.to_le_bytes())
        }
        ViewKind::Utf8(a) => {
            let s = a.value(i).as_bytes();
            put_len(s.len(), out)?;
            out.extend_from_slice(s);
        }
        ViewKind::Binary(a) => {
            let s = a.value(i);
            put_len(s.len(), out)?;
            out.extend_from_slice(s);
        }
        ViewKind::List(offsets, items) => {
            let r = range(offsets, i);
            put_len(r.len(), out)?;
            for j in r {
                put(items, j, out)?;
            }
        }
        ViewKind::Map(offsets, keys, values) => {
            let r = range(offsets, i);
            put_len(r.len(), out)?;
            for j in r {
                put(keys, j, out)?;
                put(values, j, out)?;
            }
        }
        ViewKind::Struct(fields) => {
            for (_, f) in fields {
                put(f, i, out)?;
            }
        }
    }
    Ok(())
}

/// Reads rows in the internal layout (and JSON rows of older versions).
struct InternalDecoder {
    /// A STRUCT of the part's columns: the row.
    row_type: DataType,
    /// For payloads without the marker.
    legacy: super::json::decode::JsonDecoder,
}

impl Decoder for InternalDecoder {
    fn decode(&self, payloads: &[Option<&[u8]>]) -> Result<Decoded> {
        let mut row = ColumnBuilder::new(&self.row_type, payloads.len())?;
        let mut errors = Vec::new();
        for (i, payload) in payloads.iter().enumerate() {
            let result = match payload {
                None => {
                    row.append_null();
                    Ok(())
                }
                Some([MARKER, rest @ ..]) => read_row(rest, &mut row),
                Some(json) => self.legacy.decode_one(json, &mut row),
            };
            if let Err(reason) = result {
                row.truncate(i);
                row.append_null();
                errors.push(RowError { row: i, reason });
            }
        }
        let columns = super::builder::finish_columns(&mut row)?;
        Ok(Decoded { columns, errors })
    }
}

/// The unread rest of a payload.
struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        if n > self.bytes.len() {
            return Err(format!(
                "the internal record ends early: {n} more bytes expected, {} left",
                self.bytes.len()
            ));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> std::result::Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn len(&mut self) -> std::result::Result<usize, String> {
        let n = u32::from_le_bytes(self.array()?);
        usize::try_from(n).map_err(|_| "a length beyond this machine's memory".to_string())
    }

    /// A count of elements, each at least one byte long.
    fn count(&mut self) -> std::result::Result<usize, String> {
        let n = self.len()?;
        if n > self.bytes.len() {
            return Err(format!(
                "the internal record claims {n} elements in {} bytes",
                self.bytes.len()
            ));
        }
        Ok(n)
    }
}

fn read_row(bytes: &[u8], row: &mut ColumnBuilder) -> std::result::Result<(), String> {
    let mut c = Cursor { bytes };
    let Values::Struct(columns) = &mut row.values else {
        return Err("internal error: the row is not a STRUCT".into());
    };
    for column in columns.iter_mut() {
        read(&mut c, column)?;
    }
    row.nulls.append_non_null();
    if !c.bytes.is_empty() {
        return Err(format!(
            "the internal record has {} bytes after its last column",
            c.bytes.len()
        ));
    }
    Ok(())
}

/// Reads one presence byte and value into `b`.
fn read(c: &mut Cursor<'_>, b: &mut ColumnBuilder) -> std::result::Result<(), String> {
    match c.array::<1>()? {
        [NULL] => {
            b.append_null();
            return Ok(());
        }
        [PRESENT] => {}
        [other] => return Err(format!("a presence byte of {other} in an internal record")),
    }
    let nested = match &mut b.values {
        Values::Boolean(v) => {
            v.append(c.array::<1>()? != [0]);
            false
        }
        Values::Int32(v, _) => {
            v.push(i32::from_le_bytes(c.array()?));
            false
        }
        Values::Int64(v, _) => {
            v.push(i64::from_le_bytes(c.array()?));
            false
        }
        Values::Float64(v) => {
            v.push(f64::from_le_bytes(c.array()?));
            false
        }
        Values::Decimal(v, ..) => {
            v.push(i128::from_le_bytes(c.array()?));
            false
        }
        Values::Utf8(s) => {
            let n = c.len()?;
            let text = c.take(n)?;
            if std::str::from_utf8(text).is_err() {
                return Err("a STRING in an internal record is not UTF-8".into());
            }
            s.data.extend_from_slice(text);
            s.close_value()?;
            false
        }
        Values::Binary(s) => {
            let n = c.len()?;
            s.data.extend_from_slice(c.take(n)?);
            s.close_value()?;
            false
        }
        Values::List(_, items) => {
            for _ in 0..c.count()? {
                read(c, items)?;
            }
            true
        }
        Values::Map(_, keys, values) => {
            for _ in 0..c.count()? {
                read(c, keys)?;
                read(c, values)?;
            }
            true
        }
        Values::Struct(fields) => {
            for f in fields.iter_mut() {
                read(c, f)?;
            }
            false
        }
    };
    if nested {
        b.close_nested()
    } else {
        b.nulls.append_non_null();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    fn schema() -> SchemaRef {
        let ty = |t: &str| {
            crate::sql::parser::parse_data_type(t)
                .expect("type")
                .to_arrow()
        };
        Arc::new(Schema::new(vec![
            Field::new("B", ty("BOOLEAN"), true),
            Field::new("I", ty("INT"), true),
            Field::new("L", ty("BIGINT"), true),
            Field::new("D", ty("DOUBLE"), true),
            Field::new("N", ty("DECIMAL(10, 2)"), true),
            Field::new("S", ty("STRING"), true),
            Field::new("Y", ty("BYTES"), true),
            Field::new("T", ty("TIMESTAMP"), true),
            Field::new("A", ty("ARRAY<STRING>"), true),
            Field::new("M", ty("MAP<STRING, ARRAY<INT>>"), true),
            Field::new("R", ty("STRUCT<X INT, Y STRUCT<Z STRING>>"), true),
        ]))
    }

    /// Columns of every type, read from JSON (the reference decoder).
    fn columns(schema: &SchemaRef) -> (Vec<ArrayRef>, usize) {
        let rows: &[&[u8]] = &[
            br#"{"B":true,"I":-7,"L":9007199254740993,"D":1.5,"N":12.34,"S":"h\u00e9llo",
                "Y":"AAEC","T":1700000000000,"A":["a",null,""],"M":{"k":[1,null],"e":[]},
                "R":{"X":3,"Y":{"Z":"z"}}}"#,
            br#"{}"#,
            br#"{"A":[],"M":{},"R":{"X":null,"Y":null},"S":""}"#,
        ];
        let payloads: Vec<Option<&[u8]>> = rows.iter().map(|r| Some(*r)).collect();
        let json = super::super::registry::decoder(
            &FormatSpec::new(Format::Json),
            Part::Value,
            Arc::clone(schema),
        )
        .expect("decoder");
        let decoded = json.decode(&payloads).expect("decode");
        assert!(decoded.errors.is_empty(), "{:?}", decoded.errors);
        (decoded.columns, rows.len())
    }

    #[test]
    fn every_type_round_trips() {
        let schema = schema();
        let (columns, rows) = columns(&schema);
        let spec = FormatSpec::new(Format::Internal);
        let encoded = INTERNAL
            .encoder(&spec, Part::Value, Arc::clone(&schema))
            .expect("encoder")
            .encode(&columns)
            .expect("encode");
        assert_eq!(encoded.len(), rows);
        let payloads: Vec<Option<&[u8]>> = (0..rows).map(|i| encoded.get(i)).collect();
        assert!(payloads.iter().all(|p| p.is_some_and(|p| p[0] == MARKER)));
        let decoded = INTERNAL
            .decoder(&spec, Part::Value, schema)
            .expect("decoder")
            .decode(&payloads)
            .expect("decode");
        assert!(decoded.errors.is_empty(), "{:?}", decoded.errors);
        assert_eq!(decoded.columns, columns);
    }

    #[test]
    fn json_of_older_versions_and_bad_records_are_told_apart() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("L", DataType::Int64, true),
            Field::new("S", DataType::Utf8, true),
        ]));
        let spec = FormatSpec::new(Format::Internal);
        let good = INTERNAL
            .encoder(&spec, Part::Value, Arc::clone(&schema))
            .expect("encoder")
            .encode(&[
                Arc::new(Int64Array::from(vec![Some(5)])) as ArrayRef,
                Arc::new(StringArray::from(vec![Some("x")])),
            ])
            .expect("encode");
        let good = good.get(0).expect("payload").to_vec();
        let mut payloads: Vec<Option<&[u8]>> = vec![Some(&good), Some(br#"{"L":6,"S":"y"}"#)];
        // Cut short, trailing bytes, a bad presence byte, bad UTF-8, and
        // a count larger than the record.
        let short = &good[..good.len() - 1];
        let mut long = good.clone();
        long.push(0);
        let mut presence = good.clone();
        presence[1] = 7;
        let mut utf8 = good.clone();
        let last = utf8.len() - 1;
        utf8[last] = 0xFF;
        let huge = [MARKER, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF];
        for bad in [short, &long, &presence, &utf8, &huge] {
            payloads.push(Some(bad));
        }
        payloads.push(Some(&good));
        let decoded = INTERNAL
            .decoder(&spec, Part::Value, schema)
            .expect("decoder")
            .decode(&payloads)
            .expect("decode");
        let bad: Vec<usize> = decoded.errors.iter().map(|e| e.row).collect();
        assert_eq!(bad, vec![2, 3, 4, 5, 6], "{:?}", decoded.errors);
        let l = decoded.columns[0]
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("BIGINT");
        assert_eq!(l.value(0), 5);
        assert_eq!(l.value(1), 6);
        assert!((2..7).all(|i| l.is_null(i)));
        assert_eq!(l.value(7), 5);
    }
}
