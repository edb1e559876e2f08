//! Rows between the servers of one service: Arrow IPC stream bytes,
//! base64 in a JSON field (`/internal/pull`).

use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use base64::Engine as _;

use crate::error::{Error, Result};

/// The batches (all of one schema) as base64 Arrow IPC.
pub fn encode(batches: &[RecordBatch]) -> Result<String> {
    let Some(first) = batches.first() else {
        return Ok(String::new());
    };
    let mut out = Vec::new();
    {
        let mut writer = StreamWriter::try_new(&mut out, &first.schema())?;
        for b in batches {
            writer.write(b)?;
        }
        writer.finish()?;
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}

/// The batches [`encode`] wrote.
pub fn decode(text: &str) -> Result<Vec<RecordBatch>> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| Error::external(format!("rows from another server are not base64: {e}")))?;
    let reader = StreamReader::try_new(std::io::Cursor::new(bytes), None)?;
    reader
        .map(|b| b.map_err(Error::from))
        .collect::<Result<Vec<_>>>()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn rows_round_trip() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("G", DataType::Utf8, true),
            Field::new("N", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![Some("a"), None])),
                Arc::new(Int64Array::from(vec![1, 2])),
            ],
        )
        .unwrap();
        let back = decode(&encode(&[batch.clone(), batch.clone()]).unwrap()).unwrap();
        assert_eq!(back, vec![batch.clone(), batch]);
        assert!(decode(&encode(&[]).unwrap()).unwrap().is_empty());
    }
}
