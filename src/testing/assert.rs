//! `ASSERT VALUES sink (cols) VALUES (…)` to an expected record.
//!
//! The values are evaluated as `INSERT INTO … VALUES` evaluates them, cast
//! to the sink's column types, encoded with the sink's formats and decoded
//! back to JSON, so that they compare with what the query wrote exactly as
//! a QTT record does. Columns not listed are expected to be NULL;
//! `ROWTIME` gives the timestamp and `WINDOWSTART`/`WINDOWEND` the window.

use arrow::array::{new_null_array, Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Int64Type};

use super::model::{Record, Window, WindowKind};
use super::payload::{first_payload, payload_to_json, PartFormat};
use crate::catalog::{Catalog, Column, ColumnNamespace};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::format::{registry, Part};
use crate::sql::ast::Statement;

/// The record an `ASSERT VALUES` statement expects.
pub fn expected_record(engine: &Engine, catalog: &Catalog, sql: &str) -> Result<Record> {
    let parsed = crate::sql::parse(sql)?;
    let (assert, tombstone) = match parsed.as_slice() {
        [p] => match &p.statement {
            Statement::AssertValues(v) => (v, false),
            Statement::AssertTombstone(v) => (v, true),
            _ => return Err(Error::user("not an ASSERT VALUES statement")),
        },
        _ => return Err(Error::user("expected one ASSERT VALUES statement")),
    };
    let source = catalog.require_source(&assert.target)?;
    let columns: Vec<&Column> = source
        .columns
        .iter()
        .filter(|c| !matches!(c.namespace, ColumnNamespace::Header(_)))
        .collect();
    let names: Vec<String> = match &assert.columns {
        Some(names) => names.clone(),
        None => columns.iter().map(|c| c.name.clone()).collect(),
    };
    if names.len() != assert.values.len() {
        return Err(Error::user(format!(
            "{} columns named but {} values given",
            names.len(),
            assert.values.len()
        )));
    }
    let mut values: Vec<Option<ArrayRef>> = vec![None; columns.len()];
    let mut timestamp = None;
    let (mut start, mut end) = (None, None);
    for (name, expr) in names.iter().zip(&assert.values) {
        let value = engine.evaluate_constant(expr)?;
        match name.as_str() {
            "ROWTIME" => timestamp = Some(as_millis(&value, name)?),
            "WINDOWSTART" => start = Some(as_millis(&value, name)?),
            "WINDOWEND" => end = Some(as_millis(&value, name)?),
            _ => {
                let i = columns
                    .iter()
                    .position(|c| &c.name == name)
                    .ok_or_else(|| {
                        Error::user(format!(
                            "Column {name} does not exist in {}. Its columns: {}",
                            source.name,
                            columns
                                .iter()
                                .map(|c| c.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })?;
                let target = columns[i].sql_type.to_arrow();
                let cast = arrow::compute::cast(&value, &target).map_err(|e| {
                    Error::user(format!(
                        "the value for {name} is not a {}: {e}",
                        columns[i].sql_type
                    ))
                })?;
                values[i] = Some(cast);
            }
        }
    }
    let mut keys = Vec::new();
    let mut vals = Vec::new();
    for (c, v) in columns.iter().zip(values) {
        let array = v.unwrap_or_else(|| new_null_array(&c.sql_type.to_arrow(), 1));
        if c.is_key() {
            keys.push(array);
        } else {
            vals.push(array);
        }
    }
    let key_payload = if keys.is_empty() {
        None
    } else {
        first_payload(
            &registry::encoder(&source.key_format, Part::Key, source.key_schema())?
                .encode(&keys)?,
        )
    };
    let value_payload = if tombstone {
        None
    } else {
        first_payload(
            &registry::encoder(&source.value_format, Part::Value, source.value_schema())?
                .encode(&vals)?,
        )
    };
    let window = match (start, end) {
        (None, None) => None,
        (start, end) => Some(Window {
            start: start.unwrap_or(0),
            end: end.unwrap_or(0),
            kind: match source.window.map(|w| w.kind) {
                Some(crate::sql::properties::WindowType::Session) => WindowKind::Session,
                _ => WindowKind::Time,
            },
        }),
    };
    Ok(Record {
        topic: source.topic.clone(),
        key: payload_to_json(
            Some(&PartFormat::of(source, Part::Key)),
            key_payload.as_deref(),
        ),
        value: payload_to_json(
            Some(&PartFormat::of(source, Part::Value)),
            value_payload.as_deref(),
        ),
        timestamp,
        window,
        headers: None,
    })
}

fn as_millis(value: &ArrayRef, name: &str) -> Result<i64> {
    let v = arrow::compute::cast(value, &DataType::Int64)
        .map_err(|e| Error::user(format!("{name} must be a number of milliseconds: {e}")))?;
    let v = v.as_primitive::<Int64Type>();
    if v.is_empty() || v.is_null(0) {
        return Err(Error::user(format!("{name} must not be NULL")));
    }
    Ok(v.value(0))
}
