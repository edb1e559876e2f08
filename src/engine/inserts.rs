//! Inserts of rows given as JSON objects (the REST API's `/inserts-stream`):
//! each row is decoded by the JSON format's decoder against the target's
//! columns, then encoded in the target's own key and value formats, exactly
//! as `INSERT INTO … VALUES` writes.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array};
use arrow::datatypes::{DataType, Field, Schema};

use super::Engine;
use crate::catalog::{ColumnNamespace, Source};
use crate::error::{Error, Result};
use crate::format::{registry, Decoder, Encoded, Encoder, Format, FormatSpec, Part};
use crate::runtime::io::{OutBatch, TopicWriter};
use crate::sql::ast::SourceKind;

/// The member of a JSON row that sets the record timestamp (epoch ms).
const ROWTIME: &str = "ROWTIME";

/// Writes JSON rows into one stream. Rows are queued by [`write`] and
/// acknowledged by Kafka on [`flush`].
///
/// [`write`]: JsonInserter::write
/// [`flush`]: JsonInserter::flush
pub struct JsonInserter {
    source: Arc<Source>,
    /// Decodes a row: the writable columns, then ROWTIME.
    decoder: Arc<dyn Decoder>,
    /// Per writable column, whether it belongs to the key.
    is_key: Vec<bool>,
    key: Option<Arc<dyn Encoder>>,
    value: Arc<dyn Encoder>,
    writer: Box<dyn TopicWriter>,
}

impl Engine {
    /// An inserter of JSON rows into the stream `target` (matched as
    /// written, then upper-cased).
    pub async fn json_inserter(&self, target: &str) -> Result<JsonInserter> {
        let source = {
            let state = self.state.lock().await;
            let found = state
                .catalog
                .source(target)
                .or_else(|| state.catalog.source(&target.to_uppercase()));
            match found {
                Some(s) => Arc::clone(s),
                None => Arc::clone(state.catalog.require_source(&target.to_uppercase())?),
            }
        };
        if source.kind != SourceKind::Stream {
            return Err(Error::user(format!(
                "Cannot insert into {}: inserts are only supported into streams, and it is a table.",
                source.name
            )));
        }
        if source.is_source {
            return Err(Error::user(format!(
                "Cannot insert values into read-only stream: {}",
                source.name
            )));
        }
        let writable: Vec<_> = source
            .columns
            .iter()
            .filter(|c| !matches!(c.namespace, ColumnNamespace::Header(_)))
            .collect();
        let mut fields: Vec<Field> = writable.iter().map(|c| c.field()).collect();
        if !writable.iter().any(|c| c.name == ROWTIME) {
            fields.push(Field::new(ROWTIME, DataType::Int64, true));
        }
        let row_spec = FormatSpec {
            wrap_single_value: Some(true),
            ..FormatSpec::new(Format::Json)
        };
        let decoder = registry::decoder(&row_spec, Part::Value, Arc::new(Schema::new(fields)))?;
        let has_key = writable.iter().any(|c| c.is_key());
        let key = if has_key {
            Some(registry::encoder(
                &source.key_format,
                Part::Key,
                source.key_schema(),
            )?)
        } else {
            None
        };
        let value = registry::encoder(&source.value_format, Part::Value, source.value_schema())?;
        let writer = self.broker.writer(&source.topic)?;
        Ok(JsonInserter {
            is_key: writable.iter().map(|c| c.is_key()).collect(),
            source,
            decoder,
            key,
            value,
            writer,
        })
    }
}

impl JsonInserter {
    /// The stream written, as the catalog names it.
    pub fn target(&self) -> &str {
        &self.source.name
    }

    /// Queues one row, a JSON object whose members name columns (exact
    /// name first, then upper-cased; missing columns are null, a `ROWTIME`
    /// member sets the record timestamp). A row that does not match the
    /// stream's columns is a user error naming the member and the problem.
    pub async fn write(&mut self, row: &[u8]) -> Result<()> {
        let decoded = self.decoder.decode(&[Some(row)])?;
        if let Some(e) = decoded.errors.first() {
            return Err(Error::user(format!(
                "Cannot insert into {}: {}",
                self.source.name, e.reason
            )));
        }
        let mut keys: Vec<ArrayRef> = Vec::new();
        let mut values: Vec<ArrayRef> = Vec::new();
        for (column, is_key) in decoded.columns.iter().zip(&self.is_key) {
            if *is_key {
                keys.push(Arc::clone(column));
            } else {
                values.push(Arc::clone(column));
            }
        }
        let rowtime = decoded
            .columns
            .get(self.is_key.len())
            .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
            .filter(|c| !c.is_empty() && c.is_valid(0))
            .map(|c| c.value(0));
        let key_payload = match &self.key {
            Some(encoder) => encoder.encode(&keys)?,
            None => Encoded {
                data: Vec::new(),
                offsets: vec![0, 0],
                nulls: vec![true],
            },
        };
        let value_payload = self.value.encode(&values)?;
        self.writer
            .write(&OutBatch {
                keys: key_payload,
                values: value_payload,
                timestamps: vec![rowtime.unwrap_or_else(|| chrono::Utc::now().timestamp_millis())],
                headers: None,
                partition: None,
            })
            .await
    }

    /// Waits until every queued row is acknowledged by the broker.
    pub async fn flush(&mut self) -> Result<()> {
        self.writer.flush().await
    }
}
