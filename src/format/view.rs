//! Typed read access to the columns an encoder is given: each array is
//! downcast once per batch into a [`View`], and rows are then read without
//! further dispatch on Arrow's dynamic types.

use arrow::array::{Array, AsArray, BinaryArray, StringArray};
use arrow::buffer::{BooleanBuffer, NullBuffer, OffsetBuffer};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float64Type, Int32Type, Int64Type, Time32MillisecondType,
    TimeUnit, TimestampMillisecondType,
};

use super::text::{write_base64, write_decimal, write_java_double};
use crate::error::{Error, Result};

/// One column (or nested child) of a batch, ready to be read row by row.
pub(crate) struct View<'a> {
    nulls: Option<&'a NullBuffer>,
    /// The values, by type.
    pub(crate) kind: ViewKind<'a>,
}

/// The values of a [`View`].
pub(crate) enum ViewKind<'a> {
    /// BOOLEAN.
    Boolean(&'a BooleanBuffer),
    /// INT, DATE (days), TIME (ms of the day).
    Int32(&'a [i32]),
    /// BIGINT, TIMESTAMP (epoch ms).
    Int64(&'a [i64]),
    /// DOUBLE.
    Float64(&'a [f64]),
    /// DECIMAL: unscaled values and the scale.
    Decimal(&'a [i128], i8),
    /// STRING.
    Utf8(&'a StringArray),
    /// BYTES.
    Binary(&'a BinaryArray),
    /// ARRAY: element offsets and the elements.
    List(&'a OffsetBuffer<i32>, Box<View<'a>>),
    /// MAP: entry offsets, keys and values.
    Map(&'a OffsetBuffer<i32>, Box<View<'a>>, Box<View<'a>>),
    /// STRUCT: field names and fields.
    Struct(Vec<(&'a str, View<'a>)>),
}

impl<'a> View<'a> {
    /// A view of `array`, which must have one of sluice's SQL types (see
    /// [`super::columns::is_supported`]).
    pub(crate) fn new(array: &'a dyn Array) -> Result<Self> {
        let kind = match array.data_type() {
            DataType::Boolean => ViewKind::Boolean(array.as_boolean().values()),
            DataType::Int32 => ViewKind::Int32(array.as_primitive::<Int32Type>().values()),
            DataType::Date32 => ViewKind::Int32(array.as_primitive::<Date32Type>().values()),
            DataType::Time32(TimeUnit::Millisecond) => {
                ViewKind::Int32(array.as_primitive::<Time32MillisecondType>().values())
            }
            DataType::Int64 => ViewKind::Int64(array.as_primitive::<Int64Type>().values()),
            DataType::Timestamp(TimeUnit::Millisecond, None) => {
                ViewKind::Int64(array.as_primitive::<TimestampMillisecondType>().values())
            }
            DataType::Float64 => ViewKind::Float64(array.as_primitive::<Float64Type>().values()),
            DataType::Decimal128(_, scale) => {
                ViewKind::Decimal(array.as_primitive::<Decimal128Type>().values(), *scale)
            }
            DataType::Utf8 => ViewKind::Utf8(array.as_string::<i32>()),
            DataType::Binary => ViewKind::Binary(array.as_binary::<i32>()),
            DataType::List(_) => {
                let list = array.as_list::<i32>();
                ViewKind::List(list.offsets(), Box::new(View::new(list.values().as_ref())?))
            }
            DataType::Map(..) => {
                let map = array.as_map();
                ViewKind::Map(
                    map.offsets(),
                    Box::new(View::new(map.keys().as_ref())?),
                    Box::new(View::new(map.values().as_ref())?),
                )
            }
            DataType::Struct(_) => {
                let st = array.as_struct();
                ViewKind::Struct(
                    st.fields()
                        .iter()
                        .zip(st.columns())
                        .map(|(f, c)| Ok((f.name().as_str(), View::new(c.as_ref())?)))
                        .collect::<Result<_>>()?,
                )
            }
            other => {
                return Err(Error::internal(format!(
                    "no encoder for Arrow type {other}"
                )))
            }
        };
        Ok(View {
            // sluice's types carry their nulls physically (no dictionaries,
            // run-ends or null-typed arrays reach a View).
            nulls: array.nulls(),
            kind,
        })
    }

    /// True when row `i` is null.
    pub(crate) fn is_null(&self, i: usize) -> bool {
        self.nulls.is_some_and(|n| n.is_null(i))
    }

    /// Appends the plain text of scalar row `i` (not null) as the text
    /// formats write it: `true`, `12`, `1.0E10`, `1.50`, the string itself,
    /// base64 bytes. False, writing nothing, for ARRAY, MAP and STRUCT.
    pub(crate) fn write_text(&self, i: usize, out: &mut Vec<u8>, scratch: &mut Vec<u8>) -> bool {
        match &self.kind {
            ViewKind::Boolean(v) => {
                out.extend_from_slice(if v.value(i) { b"true" } else { b"false" })
            }
            ViewKind::Int32(v) => {
                let mut buf = itoa::Buffer::new();
                out.extend_from_slice(buf.format(v.get(i).copied().unwrap_or_default()).as_bytes());
            }
            ViewKind::Int64(v) => {
                let mut buf = itoa::Buffer::new();
                out.extend_from_slice(buf.format(v.get(i).copied().unwrap_or_default()).as_bytes());
            }
            ViewKind::Float64(v) => {
                write_java_double(out, v.get(i).copied().unwrap_or_default(), scratch)
            }
            ViewKind::Decimal(v, scale) => {
                write_decimal(out, v.get(i).copied().unwrap_or_default(), *scale)
            }
            ViewKind::Utf8(a) => out.extend_from_slice(a.value(i).as_bytes()),
            ViewKind::Binary(a) => write_base64(out, a.value(i)),
            ViewKind::List(..) | ViewKind::Map(..) | ViewKind::Struct(_) => return false,
        }
        true
    }
}

/// The element range of row `i` of a list or map.
pub(crate) fn range(offsets: &OffsetBuffer<i32>, i: usize) -> std::ops::Range<usize> {
    let at = |k: usize| {
        offsets
            .get(k)
            .and_then(|&o| usize::try_from(o).ok())
            .unwrap_or(0)
    };
    at(i)..at(i + 1).max(at(i))
}
