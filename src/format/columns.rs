//! What the formats say about columns and types: ksqlDB's spelling of a
//! column list and of type names in messages, and the check that a schema
//! holds only the Arrow types sluice's SQL types map to.

use std::fmt::Write;

use arrow::array::ArrayRef;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Schema, SchemaRef, TimeUnit};

use super::{FormatSpec, Part};
use crate::error::{Error, Result};
use crate::types::SqlType;

/// The SQL spelling of an Arrow type, e.g. `DECIMAL(4, 2)`,
/// ``STRUCT<`A` INTEGER>``.
pub(crate) fn sql_type_name(data_type: &DataType) -> String {
    SqlType::from_arrow(data_type)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| data_type.to_string())
}

/// ksqlDB's base type name (`SqlBaseType`) of an Arrow type, e.g. `ARRAY`.
pub(crate) fn base_type_name(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Boolean => "BOOLEAN",
        DataType::Int8 | DataType::Int16 | DataType::Int32 => "INTEGER",
        DataType::Int64 => "BIGINT",
        DataType::Float16 | DataType::Float32 | DataType::Float64 => "DOUBLE",
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => "DECIMAL",
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "STRING",
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "BYTES",
        DataType::Date32 | DataType::Date64 => "DATE",
        DataType::Time32(_) | DataType::Time64(_) => "TIME",
        DataType::Timestamp(..) => "TIMESTAMP",
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => "ARRAY",
        DataType::Map(..) => "MAP",
        DataType::Struct(_) => "STRUCT",
        _ => "UNKNOWN",
    }
}

/// ksqlDB's column list, e.g. ``[`K` STRING KEY, `V` INTEGER]``.
pub(crate) fn column_list(schema: &Schema, part: Part) -> String {
    let mut out = String::from("[");
    for (i, f) in schema.fields().iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "`{}` {}", f.name(), sql_type_name(f.data_type()));
        if part == Part::Key {
            out.push_str(" KEY");
        }
    }
    out.push(']');
    out
}

/// The SQL name and type of each column of `schema`.
pub(crate) fn sql_columns(schema: &SchemaRef) -> Result<Vec<(String, SqlType)>> {
    schema
        .fields()
        .iter()
        .map(|f| Ok((f.name().clone(), SqlType::from_arrow(f.data_type())?)))
        .collect()
}

/// The checks every wrapping format makes of its options: no delimiter,
/// and `WRAP_SINGLE_VALUE` only on a value of one column.
pub(crate) fn check_options(
    format: &str,
    spec: &FormatSpec,
    part: Part,
    schema: &SchemaRef,
) -> Result<()> {
    if spec.delimiter.is_some() {
        return Err(Error::user(format!(
            "{format} does not support the following configs: [delimiter]"
        )));
    }
    if part == Part::Value && spec.wrap_single_value.is_some() && schema.fields().len() != 1 {
        return Err(Error::user(
            "'WRAP_SINGLE_VALUE' is only valid for single-field value schemas",
        ));
    }
    Ok(())
}

/// True when `data_type` is or holds a MAP whose keys are not STRING
/// (which JSON, Avro and protobuf cannot carry).
pub(crate) fn non_string_map_key(data_type: &DataType) -> bool {
    match data_type {
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                kv[0].data_type() != &DataType::Utf8 || non_string_map_key(kv[1].data_type())
            }
            _ => true,
        },
        DataType::List(item) => non_string_map_key(item.data_type()),
        DataType::Struct(fields) => fields.iter().any(|f| non_string_map_key(f.data_type())),
        _ => false,
    }
}

/// True for the Arrow types sluice's SQL types map to (see
/// [`crate::types`]), at every level of nesting.
pub(crate) fn is_supported(data_type: &DataType) -> bool {
    match data_type {
        DataType::Boolean
        | DataType::Int32
        | DataType::Int64
        | DataType::Float64
        | DataType::Decimal128(..)
        | DataType::Utf8
        | DataType::Binary
        | DataType::Date32
        | DataType::Time32(TimeUnit::Millisecond)
        | DataType::Timestamp(TimeUnit::Millisecond, None) => true,
        DataType::List(item) => is_supported(item.data_type()),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                is_supported(kv[0].data_type()) && is_supported(kv[1].data_type())
            }
            _ => false,
        },
        DataType::Struct(fields) => fields.iter().all(|f| is_supported(f.data_type())),
        _ => false,
    }
}

/// Fails, as a bug, when a column has an Arrow type outside sluice's SQL
/// types: decoders build exactly the schema's types.
pub(crate) fn check_supported(format: &str, schema: &Schema) -> Result<()> {
    for f in schema.fields() {
        if !is_supported(f.data_type()) {
            return Err(Error::internal(format!(
                "the '{format}' format was given column `{}` of Arrow type {}, \
                 which is not one of sluice's SQL types",
                f.name(),
                f.data_type()
            )));
        }
    }
    Ok(())
}

/// The type an encoder writes a column of `data_type` as: the type itself
/// when it is one of sluice's, otherwise the SQL type's Arrow type (e.g.
/// Utf8View becomes Utf8).
pub(crate) fn encodable_type(data_type: &DataType) -> Result<DataType> {
    if is_supported(data_type) {
        Ok(data_type.clone())
    } else {
        Ok(SqlType::from_arrow(data_type)?.to_arrow())
    }
}

/// `column` as `target`, casting only when its type differs.
pub(crate) fn cast_to(column: &ArrayRef, target: &DataType, name: &str) -> Result<ArrayRef> {
    if column.data_type() == target {
        return Ok(ArrayRef::clone(column));
    }
    cast(column, target).map_err(|e| {
        Error::internal(format!(
            "cannot encode column `{name}` of type {} as {target}: {e}",
            column.data_type()
        ))
    })
}

/// Checks the number of columns given to an encoder.
/// An encoder's first steps: checks the column count, and casts each column
/// to the type it is written as. Returns the row count and the columns.
pub(crate) fn prepare_encode(
    format: &str,
    specs: &[(String, DataType)],
    columns: &[ArrayRef],
) -> Result<(usize, Vec<ArrayRef>)> {
    check_column_count(format, specs.len(), columns.len())?;
    let rows = row_count(columns)?;
    let arrays = columns
        .iter()
        .zip(specs)
        .map(|(c, (name, t))| cast_to(c, t, name))
        .collect::<Result<Vec<_>>>()?;
    Ok((rows, arrays))
}

pub(crate) fn check_column_count(format: &str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::internal(format!(
            "the '{format}' encoder expects {expected} columns, got {got}"
        )))
    }
}

/// The number of rows of a batch's columns, checking they agree.
pub(crate) fn row_count(columns: &[ArrayRef]) -> Result<usize> {
    let n = columns.first().map_or(0, |c| c.len());
    if columns.iter().any(|c| c.len() != n) {
        return Err(Error::internal("columns of one batch differ in length"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{Field, Fields};

    use super::*;
    use crate::types::map_type;

    #[test]
    fn column_lists_read_like_ksqldb() {
        let schema = Schema::new(vec![
            Field::new("K", DataType::Utf8, true),
            Field::new("N", DataType::Int32, true),
        ]);
        assert_eq!(
            column_list(&schema, Part::Key),
            "[`K` STRING KEY, `N` INTEGER KEY]"
        );
        assert_eq!(
            column_list(&schema, Part::Value),
            "[`K` STRING, `N` INTEGER]"
        );
    }

    #[test]
    fn only_sluice_types_are_supported() {
        let nested = DataType::Struct(Fields::from(vec![Field::new(
            "M",
            map_type(
                DataType::Utf8,
                DataType::List(Arc::new(Field::new("x", DataType::Date32, true))),
            ),
            true,
        )]));
        assert!(is_supported(&nested));
        assert!(!is_supported(&DataType::Int8));
        assert!(!is_supported(&DataType::LargeUtf8));
        assert_eq!(encodable_type(&DataType::Utf8View).unwrap(), DataType::Utf8);
        assert_eq!(base_type_name(&nested), "STRUCT");
    }
}
