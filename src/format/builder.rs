//! Column builders the decoders append to: one tree per column, shaped like
//! its Arrow type.
//!
//! Unlike Arrow's builders they are driven without downcasts (decoders
//! `match` on [`Values`]) and can be truncated, which is how a record that
//! fails half-way through is rolled back, and how a JSON field that occurs
//! twice replaces its first value. Buffers grow per batch, never per record.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array,
    Int64Array, ListArray, MapArray, StringArray, StructArray, Time32MillisecondArray,
    TimestampMillisecondArray,
};
use arrow::array::{BooleanBufferBuilder, NullBufferBuilder};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, FieldRef, Fields, TimeUnit};

use crate::error::{Error, Result};

/// What an `i32` column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Int32Kind {
    /// INT.
    Int,
    /// DATE: days since the epoch.
    Date,
    /// TIME: milliseconds of the day.
    Time,
}

/// What an `i64` column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Int64Kind {
    /// BIGINT.
    Bigint,
    /// TIMESTAMP: epoch milliseconds.
    Timestamp,
}

/// The value buffers of a column, by type.
#[derive(Debug)]
pub(crate) enum Values {
    /// BOOLEAN.
    Boolean(BooleanBufferBuilder),
    /// INT, DATE, TIME.
    Int32(Vec<i32>, Int32Kind),
    /// BIGINT, TIMESTAMP.
    Int64(Vec<i64>, Int64Kind),
    /// DOUBLE.
    Float64(Vec<f64>),
    /// DECIMAL(precision, scale), unscaled.
    Decimal(Vec<i128>, u8, i8),
    /// STRING (valid UTF-8 by construction).
    Utf8(Bytes),
    /// BYTES.
    Binary(Bytes),
    /// ARRAY: offsets into the element builder.
    List(Vec<i32>, Box<ColumnBuilder>),
    /// MAP: offsets into the key and value builders.
    Map(Vec<i32>, Box<ColumnBuilder>, Box<ColumnBuilder>),
    /// STRUCT: one builder per field.
    Struct(Vec<ColumnBuilder>),
}

/// Variable-length values: offsets into one data buffer.
#[derive(Debug, Default)]
pub(crate) struct Bytes {
    /// `offsets[i]..offsets[i + 1]` is value i; starts with 0.
    pub(crate) offsets: Vec<i32>,
    /// All values back to back.
    pub(crate) data: Vec<u8>,
}

impl Bytes {
    fn with_capacity(rows: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Bytes {
            offsets,
            data: Vec::new(),
        }
    }

    /// Closes the value whose bytes were appended to `data` since the last
    /// one; fails when the batch outgrows 32-bit offsets.
    pub(crate) fn close_value(&mut self) -> Result<(), String> {
        let end = i32::try_from(self.data.len())
            .map_err(|_| "the batch holds more than 2 GiB of text or bytes".to_string())?;
        self.offsets.push(end);
        Ok(())
    }

    fn last_offset(&self) -> i32 {
        self.offsets.last().copied().unwrap_or(0)
    }

    fn truncate(&mut self, len: usize) {
        self.offsets.truncate(len + 1);
        let end = usize::try_from(self.last_offset()).unwrap_or(0);
        self.data.truncate(end);
    }
}

/// Builds one Arrow array of a given type, value by value.
#[derive(Debug)]
pub(crate) struct ColumnBuilder {
    /// The Arrow type built.
    pub(crate) data_type: DataType,
    /// Validity, one entry per value.
    pub(crate) nulls: NullBufferBuilder,
    /// The values.
    pub(crate) values: Values,
}

impl ColumnBuilder {
    /// A builder for `data_type` with room for `rows` values.
    pub(crate) fn new(data_type: &DataType, rows: usize) -> Result<Self> {
        let values = match data_type {
            DataType::Boolean => Values::Boolean(BooleanBufferBuilder::new(rows)),
            DataType::Int32 => Values::Int32(Vec::with_capacity(rows), Int32Kind::Int),
            DataType::Date32 => Values::Int32(Vec::with_capacity(rows), Int32Kind::Date),
            DataType::Time32(TimeUnit::Millisecond) => {
                Values::Int32(Vec::with_capacity(rows), Int32Kind::Time)
            }
            DataType::Int64 => Values::Int64(Vec::with_capacity(rows), Int64Kind::Bigint),
            DataType::Timestamp(TimeUnit::Millisecond, None) => {
                Values::Int64(Vec::with_capacity(rows), Int64Kind::Timestamp)
            }
            DataType::Float64 => Values::Float64(Vec::with_capacity(rows)),
            DataType::Decimal128(p, s) => Values::Decimal(Vec::with_capacity(rows), *p, *s),
            DataType::Utf8 => Values::Utf8(Bytes::with_capacity(rows)),
            DataType::Binary => Values::Binary(Bytes::with_capacity(rows)),
            DataType::List(item) => Values::List(
                offsets(rows),
                Box::new(ColumnBuilder::new(item.data_type(), rows)?),
            ),
            DataType::Map(entries, _) => {
                let (k, v) = map_fields(entries)?;
                Values::Map(
                    offsets(rows),
                    Box::new(ColumnBuilder::new(k.data_type(), rows)?),
                    Box::new(ColumnBuilder::new(v.data_type(), rows)?),
                )
            }
            DataType::Struct(fields) => Values::Struct(
                fields
                    .iter()
                    .map(|f| ColumnBuilder::new(f.data_type(), rows))
                    .collect::<Result<_>>()?,
            ),
            other => {
                return Err(Error::internal(format!(
                    "no column builder for Arrow type {other}"
                )))
            }
        };
        Ok(ColumnBuilder {
            data_type: data_type.clone(),
            nulls: NullBufferBuilder::new(rows),
            values,
        })
    }

    /// Number of values appended.
    pub(crate) fn len(&self) -> usize {
        self.nulls.len()
    }

    /// Appends a null (children of a null struct get nulls too).
    pub(crate) fn append_null(&mut self) {
        self.nulls.append_null();
        match &mut self.values {
            Values::Boolean(v) => v.append(false),
            Values::Int32(v, _) => v.push(0),
            Values::Int64(v, _) => v.push(0),
            Values::Float64(v) => v.push(0.0),
            Values::Decimal(v, ..) => v.push(0),
            Values::Utf8(b) | Values::Binary(b) => {
                let last = b.last_offset();
                b.offsets.push(last);
            }
            Values::List(o, _) | Values::Map(o, ..) => {
                let last = o.last().copied().unwrap_or(0);
                o.push(last);
            }
            Values::Struct(children) => children.iter_mut().for_each(ColumnBuilder::append_null),
        }
    }

    /// Drops every value from index `len` on, including the parts of a
    /// value being built (elements, struct fields) not yet closed.
    pub(crate) fn truncate(&mut self, len: usize) {
        self.nulls.truncate(len);
        match &mut self.values {
            Values::Boolean(v) => v.truncate(len),
            Values::Int32(v, _) => v.truncate(len),
            Values::Int64(v, _) => v.truncate(len),
            Values::Float64(v) => v.truncate(len),
            Values::Decimal(v, ..) => v.truncate(len),
            Values::Utf8(b) | Values::Binary(b) => b.truncate(len),
            Values::List(o, child) => {
                o.truncate(len + 1);
                child.truncate(child_len(o));
            }
            Values::Map(o, keys, values) => {
                o.truncate(len + 1);
                let n = child_len(o);
                keys.truncate(n);
                values.truncate(n);
            }
            Values::Struct(children) => children.iter_mut().for_each(|c| c.truncate(len)),
        }
    }

    /// Closes an ARRAY or MAP value whose elements were appended to the
    /// children since the previous one.
    pub(crate) fn close_nested(&mut self) -> Result<(), String> {
        let (o, n) = match &mut self.values {
            Values::List(o, child) => (o, child.len()),
            Values::Map(o, keys, _) => (o, keys.len()),
            _ => return Err("not an ARRAY or MAP column".into()),
        };
        let end = i32::try_from(n).map_err(|_| "the batch holds too many elements".to_string())?;
        o.push(end);
        self.nulls.append_non_null();
        Ok(())
    }

    /// The finished array; the builder is left empty.
    pub(crate) fn finish(&mut self) -> Result<ArrayRef> {
        let len = self.nulls.len();
        let nulls = self.nulls.finish();
        let internal = |e: arrow::error::ArrowError| {
            Error::internal(format!("building a {} column: {e}", self.data_type))
        };
        let array: ArrayRef = match (&mut self.values, &self.data_type) {
            (Values::Boolean(v), _) => Arc::new(BooleanArray::new(v.finish(), nulls)),
            (Values::Int32(v, kind), _) => {
                let values = ScalarBuffer::from(std::mem::take(v));
                match kind {
                    Int32Kind::Int => Arc::new(Int32Array::new(values, nulls)),
                    Int32Kind::Date => Arc::new(Date32Array::new(values, nulls)),
                    Int32Kind::Time => Arc::new(Time32MillisecondArray::new(values, nulls)),
                }
            }
            (Values::Int64(v, kind), _) => {
                let values = ScalarBuffer::from(std::mem::take(v));
                match kind {
                    Int64Kind::Bigint => Arc::new(Int64Array::new(values, nulls)),
                    Int64Kind::Timestamp => Arc::new(TimestampMillisecondArray::new(values, nulls)),
                }
            }
            (Values::Float64(v), _) => Arc::new(Float64Array::new(std::mem::take(v).into(), nulls)),
            (Values::Decimal(v, p, s), _) => Arc::new(
                Decimal128Array::new(std::mem::take(v).into(), nulls)
                    .with_precision_and_scale(*p, *s)
                    .map_err(internal)?,
            ),
            (Values::Utf8(b), _) => {
                let (offsets, data) = take_bytes(b);
                Arc::new(StringArray::try_new(offsets, data.into(), nulls).map_err(internal)?)
            }
            (Values::Binary(b), _) => {
                let (offsets, data) = take_bytes(b);
                Arc::new(BinaryArray::try_new(offsets, data.into(), nulls).map_err(internal)?)
            }
            (Values::List(o, child), DataType::List(item)) => {
                let offsets = take_offsets(o);
                let values = child.finish()?;
                Arc::new(
                    ListArray::try_new(Arc::clone(item), offsets, values, nulls)
                        .map_err(internal)?,
                )
            }
            (Values::Map(o, keys, values), DataType::Map(entries, ordered)) => {
                let offsets = take_offsets(o);
                let (k, v) = map_fields(entries)?;
                let fields = Fields::from(vec![Arc::clone(k), Arc::clone(v)]);
                let entry_struct =
                    StructArray::try_new(fields, vec![keys.finish()?, values.finish()?], None)
                        .map_err(internal)?;
                Arc::new(
                    MapArray::try_new(Arc::clone(entries), offsets, entry_struct, nulls, *ordered)
                        .map_err(internal)?,
                )
            }
            (Values::Struct(children), DataType::Struct(fields)) => {
                let arrays = children
                    .iter_mut()
                    .map(ColumnBuilder::finish)
                    .collect::<Result<Vec<_>>>()?;
                if fields.is_empty() {
                    Arc::new(StructArray::new_empty_fields(len, nulls))
                } else {
                    Arc::new(StructArray::try_new(fields.clone(), arrays, nulls).map_err(internal)?)
                }
            }
            (_, other) => {
                return Err(Error::internal(format!(
                    "column builder does not match its type {other}"
                )))
            }
        };
        Ok(array)
    }
}

fn offsets(rows: usize) -> Vec<i32> {
    let mut o = Vec::with_capacity(rows + 1);
    o.push(0);
    o
}

fn child_len(offsets: &[i32]) -> usize {
    offsets
        .last()
        .and_then(|&o| usize::try_from(o).ok())
        .unwrap_or(0)
}

fn take_offsets(o: &mut Vec<i32>) -> OffsetBuffer<i32> {
    let taken = std::mem::replace(o, vec![0]);
    OffsetBuffer::new(ScalarBuffer::from(taken))
}

fn take_bytes(b: &mut Bytes) -> (OffsetBuffer<i32>, Vec<u8>) {
    let offsets = take_offsets(&mut b.offsets);
    (offsets, std::mem::take(&mut b.data))
}

/// The finished columns of a row builder (a STRUCT of a part's columns,
/// as the decoders build rows); the builder is left empty.
pub(crate) fn finish_columns(row: &mut ColumnBuilder) -> Result<Vec<ArrayRef>> {
    let Values::Struct(children) = &mut row.values else {
        return Err(Error::internal("a row builder is not a STRUCT"));
    };
    children.iter_mut().map(ColumnBuilder::finish).collect()
}

/// The key and value fields of a map's entries field.
pub(crate) fn map_fields(entries: &FieldRef) -> Result<(&FieldRef, &FieldRef)> {
    match entries.data_type() {
        DataType::Struct(kv) if kv.len() == 2 => Ok((&kv[0], &kv[1])),
        other => Err(Error::internal(format!(
            "malformed Arrow map entries {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Field, Int32Type};

    use super::*;
    use crate::types::map_type;

    #[test]
    fn truncation_rolls_back_nested_values() {
        let dt = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
        let mut b = ColumnBuilder::new(&dt, 4).unwrap();
        let push = |b: &mut ColumnBuilder, items: &[&str]| {
            if let Values::List(_, child) = &mut b.values {
                for s in items {
                    if let Values::Utf8(bytes) = &mut child.values {
                        bytes.data.extend_from_slice(s.as_bytes());
                        bytes.close_value().unwrap();
                    }
                    child.nulls.append_non_null();
                }
            }
            b.close_nested().unwrap();
        };
        push(&mut b, &["a", "b"]);
        push(&mut b, &["c"]);
        b.truncate(1);
        b.append_null();
        push(&mut b, &["d"]);
        let a = b.finish().unwrap();
        let list = a.as_list::<i32>();
        assert_eq!(list.len(), 3);
        assert!(list.is_null(1));
        assert_eq!(list.value(2).as_string::<i32>().value(0), "d");
        assert_eq!(list.value(0).len(), 2);
    }

    #[test]
    fn null_structs_and_maps_finish() {
        let st = DataType::Struct(Fields::from(vec![Field::new(
            "M",
            map_type(DataType::Utf8, DataType::Int32),
            true,
        )]));
        let mut b = ColumnBuilder::new(&st, 2).unwrap();
        b.append_null();
        b.append_null();
        let a = b.finish().unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a.null_count(), 2);
        assert_eq!(a.data_type(), &st);
        let mut ints = ColumnBuilder::new(&DataType::Int32, 1).unwrap();
        ints.append_null();
        assert_eq!(
            ints.finish()
                .unwrap()
                .as_primitive::<Int32Type>()
                .null_count(),
            1
        );
    }
}
