//! Streaming operators: each turns input batches into output batches.
//! One file per operator.

pub mod aggregate;
pub mod dedup;
pub mod explode;
pub mod join;
pub mod stateless;
pub mod table_filter;

use arrow::record_batch::RecordBatch;

use super::processing_log::ProcessingLog;
use super::state::StateWriter;
use crate::error::Result;

/// What an operator may use while processing a batch.
pub struct OperatorContext<'a> {
    /// The query id.
    pub query_id: &'a str,
    /// Where failures go.
    pub log: &'a ProcessingLog,
    /// The topic the rows came from, when known (the processing log
    /// names it with the partition and offset of a failing row).
    pub topic: Option<&'a str>,
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

    /// Processes one batch of the right input of a two-input operator (a
    /// join); single-input operators have none.
    fn process_right(
        &mut self,
        _batch: RecordBatch,
        _ctx: &OperatorContext<'_>,
        _out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        Err(crate::error::Error::internal(format!(
            "operator {} has no second input",
            self.name()
        )))
    }

    /// One line describing this operator, for EXPLAIN.
    fn describe(&self) -> String;

    /// Emits what the operator held back: a stateful operator coalesces
    /// its updates (one per key and window) until the task flushes, before
    /// each commit, or after every record when record caching is off.
    fn flush(&mut self, _ctx: &OperatorContext<'_>, _out: &mut Vec<RecordBatch>) -> Result<()> {
        Ok(())
    }

    /// A new instance with the same plan and empty state: a query with
    /// state runs one instance per input partition.
    fn fork(&self) -> Result<Box<dyn Operator>>;

    /// The columns of its input it reads, when it reads only some (a
    /// projected scan): the decoder need not decode the others.
    fn reads(&self) -> Option<Vec<usize>> {
        None
    }

    /// For an operator with state, what that state looks like (its keys,
    /// windows, aggregate state types): part of the changelog's
    /// fingerprint. `None` for a stateless operator.
    fn state_layout(&self) -> Option<String> {
        None
    }

    /// The name of the query's changelog topic after the query's prefix
    /// (`…-<name>-changelog`) when this operator's state is the main one.
    fn changelog_name(&self) -> Option<&'static str> {
        None
    }

    /// Starts collecting the changes to its state for the changelog.
    fn enable_changelog(&mut self) {}

    /// Writes the changes to its state since the last call as changelog
    /// records (see `runtime::state`).
    fn checkpoint(&mut self, _out: &mut StateWriter) -> Result<()> {
        Ok(())
    }

    /// Rebuilds the state of input partition `partition` from the latest
    /// record of each key its checkpoints wrote.
    fn restore(&mut self, _partition: i32, _records: &[(&[u8], &[u8])]) -> Result<()> {
        Ok(())
    }
}
