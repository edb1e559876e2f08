//! The SQL type system of sluice (ksqlDB's types) and its mapping to Arrow.
//!
//! | SQL            | Arrow                                   |
//! |----------------|-----------------------------------------|
//! | BOOLEAN        | Boolean                                 |
//! | INT            | Int32                                   |
//! | BIGINT         | Int64                                   |
//! | DOUBLE         | Float64                                 |
//! | DECIMAL(p, s)  | Decimal128(p, s)                        |
//! | STRING         | Utf8                                    |
//! | BYTES          | Binary                                  |
//! | DATE           | Date32 (days since the epoch)           |
//! | TIME           | Time32(Millisecond) (ms of the day)     |
//! | TIMESTAMP      | Timestamp(Millisecond, no time zone)    |
//! | ARRAY<T>       | List(item: T)                           |
//! | MAP<K, V>      | Map(entries: Struct{key: K, value: V})  |
//! | STRUCT<f T, …> | Struct(f: T, …)                         |

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, TimeUnit};

use crate::error::{Error, Result};

/// A ksqlDB SQL type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SqlType {
    /// BOOLEAN
    Boolean,
    /// INT / INTEGER (32-bit)
    Int,
    /// BIGINT (64-bit)
    Bigint,
    /// DOUBLE
    Double,
    /// DECIMAL(precision, scale)
    Decimal(u8, i8),
    /// STRING / VARCHAR
    String,
    /// BYTES
    Bytes,
    /// DATE
    Date,
    /// TIME
    Time,
    /// TIMESTAMP
    Timestamp,
    /// ARRAY<T>
    Array(Box<SqlType>),
    /// MAP<K, V>
    Map(Box<SqlType>, Box<SqlType>),
    /// STRUCT<name type, ...>
    Struct(Vec<(String, SqlType)>),
}

impl SqlType {
    /// The Arrow type that carries values of this SQL type.
    pub fn to_arrow(&self) -> DataType {
        match self {
            SqlType::Boolean => DataType::Boolean,
            SqlType::Int => DataType::Int32,
            SqlType::Bigint => DataType::Int64,
            SqlType::Double => DataType::Float64,
            SqlType::Decimal(p, s) => DataType::Decimal128(*p, *s),
            SqlType::String => DataType::Utf8,
            SqlType::Bytes => DataType::Binary,
            SqlType::Date => DataType::Date32,
            SqlType::Time => DataType::Time32(TimeUnit::Millisecond),
            SqlType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, None),
            SqlType::Array(item) => {
                DataType::List(Arc::new(Field::new("item", item.to_arrow(), true)))
            }
            SqlType::Map(k, v) => map_type(k.to_arrow(), v.to_arrow()),
            SqlType::Struct(fields) => DataType::Struct(
                fields
                    .iter()
                    .map(|(n, t)| Field::new(n, t.to_arrow(), true))
                    .collect::<Fields>(),
            ),
        }
    }

    /// The SQL type of an Arrow type, widening types SQL does not have
    /// (e.g. Int8 becomes INT, Float32 DOUBLE, LargeUtf8 STRING).
    pub fn from_arrow(data_type: &DataType) -> Result<SqlType> {
        Ok(match data_type {
            DataType::Boolean => SqlType::Boolean,
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::UInt8
            | DataType::UInt16 => SqlType::Int,
            DataType::Int64 | DataType::UInt32 | DataType::UInt64 => SqlType::Bigint,
            DataType::Float16 | DataType::Float32 | DataType::Float64 => SqlType::Double,
            DataType::Decimal32(p, s)
            | DataType::Decimal64(p, s)
            | DataType::Decimal128(p, s)
            | DataType::Decimal256(p, s) => SqlType::Decimal(*p, *s),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => SqlType::String,
            DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_) => SqlType::Bytes,
            DataType::Date32 | DataType::Date64 => SqlType::Date,
            DataType::Time32(_) | DataType::Time64(_) => SqlType::Time,
            DataType::Timestamp(_, _) => SqlType::Timestamp,
            DataType::List(f)
            | DataType::LargeList(f)
            | DataType::ListView(f)
            | DataType::FixedSizeList(f, _) => {
                SqlType::Array(Box::new(SqlType::from_arrow(f.data_type())?))
            }
            DataType::Map(entries, _) => match entries.data_type() {
                DataType::Struct(kv) if kv.len() == 2 => SqlType::Map(
                    Box::new(SqlType::from_arrow(kv[0].data_type())?),
                    Box::new(SqlType::from_arrow(kv[1].data_type())?),
                ),
                other => return Err(Error::internal(format!("malformed Arrow map type {other}"))),
            },
            DataType::Struct(fields) => SqlType::Struct(
                fields
                    .iter()
                    .map(|f| Ok((f.name().clone(), SqlType::from_arrow(f.data_type())?)))
                    .collect::<Result<_>>()?,
            ),
            DataType::Null => SqlType::String,
            other => {
                return Err(Error::user(format!(
                    "Arrow type {other} has no SQL equivalent in sluice"
                )))
            }
        })
    }

    /// True for INT, BIGINT, DECIMAL and DOUBLE.
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            SqlType::Int | SqlType::Bigint | SqlType::Double | SqlType::Decimal(..)
        )
    }
}

/// The Arrow map type with the entry names sluice uses everywhere.
pub fn map_type(key: DataType, value: DataType) -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("key", key, false),
                Field::new("value", value, true),
            ])),
            false,
        )),
        false,
    )
}

impl fmt::Display for SqlType {
    /// ksqlDB's spelling, e.g. `DECIMAL(4, 2)`, `ARRAY<STRING>`,
    /// ``STRUCT<`A` INTEGER>``.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlType::Boolean => f.write_str("BOOLEAN"),
            SqlType::Int => f.write_str("INTEGER"),
            SqlType::Bigint => f.write_str("BIGINT"),
            SqlType::Double => f.write_str("DOUBLE"),
            SqlType::Decimal(p, s) => write!(f, "DECIMAL({p}, {s})"),
            SqlType::String => f.write_str("STRING"),
            SqlType::Bytes => f.write_str("BYTES"),
            SqlType::Date => f.write_str("DATE"),
            SqlType::Time => f.write_str("TIME"),
            SqlType::Timestamp => f.write_str("TIMESTAMP"),
            SqlType::Array(t) => write!(f, "ARRAY<{t}>"),
            SqlType::Map(k, v) => write!(f, "MAP<{k}, {v}>"),
            SqlType::Struct(fields) => {
                f.write_str("STRUCT<")?;
                for (i, (n, t)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "`{n}` {t}")?;
                }
                f.write_str(">")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_arrow() {
        let t = SqlType::Struct(vec![
            ("A".into(), SqlType::Array(Box::new(SqlType::Decimal(4, 2)))),
            (
                "B".into(),
                SqlType::Map(Box::new(SqlType::String), Box::new(SqlType::Timestamp)),
            ),
        ]);
        assert_eq!(SqlType::from_arrow(&t.to_arrow()).unwrap(), t);
        assert_eq!(
            t.to_string(),
            "STRUCT<`A` ARRAY<DECIMAL(4, 2)>, `B` MAP<STRING, TIMESTAMP>>"
        );
    }
}
