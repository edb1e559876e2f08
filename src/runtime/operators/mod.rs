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

    /// Emits what the operator held back: a stateful operator coalesces
    /// its updates (one per key and window) until the task flushes, before
    /// each commit, or after every record when record caching is off.
    fn flush(&mut self, _ctx: &OperatorContext<'_>, _out: &mut Vec<RecordBatch>) -> Result<()> {
        Ok(())
    }

    /// Asks a stateful operator to collect the changes to its state for a
    /// changelog topic; returns the topic's name after the query's prefix
    /// (`…-<name>-changelog`), or `None` for an operator without state.
    fn enable_changelog(&mut self) -> Option<&'static str> {
        None
    }

    /// The state changes of the last batch processed, once enabled.
    fn take_changelog(&mut self) -> Option<RecordBatch> {
        None
    }
}
