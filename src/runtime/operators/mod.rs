//! Streaming operators: each turns input batches into output batches.
//! One file per operator.

pub mod aggregate;
pub mod explode;
pub mod stateless;
pub mod table_filter;

use arrow::record_batch::RecordBatch;

use super::processing_log::ProcessingLog;
use crate::error::Result;

/// What an operator may use while processing a batch.
pub struct OperatorContext<'a> {
    /// The query id.
    pub query_id: &'a str,
    /// Where failures go.
    pub log: &'a ProcessingLog,
}

/// A streaming operator.
pub trait Operator: Send {
    /// A short name for EXPLAIN and metrics.
    fn name(&self) -> &'static str;

    /// Processes one batch, appending results to `out`.
    fn process(
        &mut self,
        batch: RecordBatch,
        ctx: &OperatorContext<'_>,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()>;

    /// One line describing this operator, for EXPLAIN.
    fn describe(&self) -> String;
}
