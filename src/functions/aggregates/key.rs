//! Value identity and order for the aggregates that compare values
//! (COLLECT_SET, COLLECT_LIST's undo, ATTR, COUNT_DISTINCT, TOPK).
//!
//! [`encode`] writes canonical bytes for a value of any sluice type such that
//! two values are equal, as ksqlDB's Java `equals` sees them, exactly when
//! their bytes are: a MAP's entries are sorted first (key order does not
//! matter), a DOUBLE compares by bits with every NaN alike (so NaN equals NaN
//! and -0.0 differs from 0.0). [`cmp`] orders two non-null scalars of one
//! type as Java's `compareTo` does.

use std::cmp::Ordering;

use arrow::array::{Array, AsArray};
use arrow::datatypes::*;
use datafusion::common::{Result, ScalarValue};

/// The canonical bytes of `array[row]`, appended to `out`.
pub(crate) fn encode(array: &dyn Array, row: usize, out: &mut Vec<u8>) -> Result<()> {
    if array.is_null(row) {
        out.push(0);
        return Ok(());
    }
    out.push(1);
    macro_rules! prim {
        ($t:ty) => {
            out.extend_from_slice(&array.as_primitive::<$t>().value(row).to_le_bytes())
        };
    }
    match array.data_type() {
        DataType::Null => {}
        DataType::Boolean => out.push(u8::from(array.as_boolean().value(row))),
        DataType::Int8 => prim!(Int8Type),
        DataType::Int16 => prim!(Int16Type),
        DataType::Int32 => prim!(Int32Type),
        DataType::Int64 => prim!(Int64Type),
        DataType::UInt8 => prim!(UInt8Type),
        DataType::UInt16 => prim!(UInt16Type),
        DataType::UInt32 => prim!(UInt32Type),
        DataType::UInt64 => prim!(UInt64Type),
        DataType::Float32 => {
            let v = f64::from(array.as_primitive::<Float32Type>().value(row));
            out.extend_from_slice(&float_bits(v).to_le_bytes());
        }
        DataType::Float64 => {
            let v = array.as_primitive::<Float64Type>().value(row);
            out.extend_from_slice(&float_bits(v).to_le_bytes());
        }
        DataType::Decimal128(..) => prim!(Decimal128Type),
        DataType::Date32 => prim!(Date32Type),
        DataType::Date64 => prim!(Date64Type),
        DataType::Time32(TimeUnit::Second) => prim!(Time32SecondType),
        DataType::Time32(_) => prim!(Time32MillisecondType),
        DataType::Time64(TimeUnit::Microsecond) => prim!(Time64MicrosecondType),
        DataType::Time64(_) => prim!(Time64NanosecondType),
        DataType::Timestamp(TimeUnit::Second, _) => prim!(TimestampSecondType),
        DataType::Timestamp(TimeUnit::Millisecond, _) => prim!(TimestampMillisecondType),
        DataType::Timestamp(TimeUnit::Microsecond, _) => prim!(TimestampMicrosecondType),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => prim!(TimestampNanosecondType),
        DataType::Utf8 => bytes(out, array.as_string::<i32>().value(row).as_bytes()),
        DataType::LargeUtf8 => bytes(out, array.as_string::<i64>().value(row).as_bytes()),
        DataType::Utf8View => bytes(out, array.as_string_view().value(row).as_bytes()),
        DataType::Binary => bytes(out, array.as_binary::<i32>().value(row)),
        DataType::LargeBinary => bytes(out, array.as_binary::<i64>().value(row)),
        DataType::BinaryView => bytes(out, array.as_binary_view().value(row)),
        DataType::List(_) => {
            let items = array.as_list::<i32>().value(row);
            length(out, items.len());
            for i in 0..items.len() {
                encode(items.as_ref(), i, out)?;
            }
        }
        DataType::LargeList(_) => {
            let items = array.as_list::<i64>().value(row);
            length(out, items.len());
            for i in 0..items.len() {
                encode(items.as_ref(), i, out)?;
            }
        }
        DataType::Struct(_) => {
            for column in array.as_struct().columns() {
                encode(column.as_ref(), row, out)?;
            }
        }
        DataType::Map(..) => {
            let entries = array.as_map().value(row);
            let mut encoded: Vec<Vec<u8>> = Vec::with_capacity(entries.len());
            for i in 0..entries.len() {
                let mut entry = Vec::new();
                for column in entries.columns() {
                    encode(column.as_ref(), i, &mut entry)?;
                }
                encoded.push(entry);
            }
            encoded.sort_unstable();
            length(out, encoded.len());
            for entry in encoded {
                bytes(out, &entry);
            }
        }
        _ => {
            let shown = arrow::util::display::array_value_to_string(array, row)?;
            bytes(out, shown.as_bytes());
        }
    }
    Ok(())
}

/// The canonical bytes of `array[row]`.
pub(crate) fn key(array: &dyn Array, row: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encode(array, row, &mut out)?;
    Ok(out)
}

fn float_bits(v: f64) -> u64 {
    if v.is_nan() {
        f64::NAN.to_bits()
    } else {
        v.to_bits()
    }
}

fn length(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u64).to_le_bytes());
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    length(out, b.len());
    out.extend_from_slice(b);
}

/// A 64-bit hash of `bytes` that does not change between runs or builds
/// (FNV-1a, then MurmurHash3's finalizer to spread the bits).
pub(crate) fn hash64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Orders two non-null scalars of one type as Java's `compareTo`: numbers
/// by value (DOUBLE totally: -0.0 before 0.0, NaN last), strings and bytes
/// lexicographically, dates and times by instant.
pub(crate) fn cmp(a: &ScalarValue, b: &ScalarValue) -> Ordering {
    match (a, b) {
        (ScalarValue::Float64(Some(x)), ScalarValue::Float64(Some(y))) => x.total_cmp(y),
        (ScalarValue::Float32(Some(x)), ScalarValue::Float32(Some(y))) => x.total_cmp(y),
        _ => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Float64Array, Int32Array, MapArray, StringArray, StructArray};
    use arrow::buffer::OffsetBuffer;
    use std::sync::Arc;

    #[test]
    fn map_key_order_does_not_matter() {
        let keys: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "b", "a"]));
        let values: ArrayRef = Arc::new(Int32Array::from(vec![1, 2, 2, 1]));
        let fields = Fields::from(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Int32, true),
        ]);
        let entries = StructArray::new(fields.clone(), vec![keys, values], None);
        let map = MapArray::new(
            Arc::new(Field::new("entries", DataType::Struct(fields), false)),
            OffsetBuffer::from_lengths([2, 2]),
            entries,
            None,
            false,
        );
        assert_eq!(key(&map, 0).unwrap(), key(&map, 1).unwrap());
    }

    #[test]
    fn doubles_compare_as_java() {
        let a = Float64Array::from(vec![Some(f64::NAN), Some(-f64::NAN), Some(0.0), Some(-0.0)]);
        assert_eq!(key(&a, 0).unwrap(), key(&a, 1).unwrap());
        assert_ne!(key(&a, 2).unwrap(), key(&a, 3).unwrap());
        let neg = ScalarValue::Float64(Some(-0.0));
        let pos = ScalarValue::Float64(Some(0.0));
        assert_eq!(cmp(&neg, &pos), Ordering::Less);
        let nan = ScalarValue::Float64(Some(f64::NAN));
        assert_eq!(
            cmp(&nan, &ScalarValue::Float64(Some(1e300))),
            Ordering::Greater
        );
    }

    #[test]
    fn null_differs_from_values() {
        let a = Int32Array::from(vec![None, Some(0)]);
        assert_ne!(key(&a, 0).unwrap(), key(&a, 1).unwrap());
        assert_ne!(hash64(b"a"), hash64(b"b"));
    }
}
