//! Filter and projection: a stateless segment compiled to DataFusion
//! physical expressions and evaluated once per batch.
//!
//! When evaluation fails for a batch (e.g. a cast of a bad string), the
//! batch is re-evaluated row by row so that only the failing rows are
//! dropped, each reported to the processing log; the rest go on.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::physical_expr::PhysicalExpr;

use super::{Operator, OperatorContext};
use crate::error::{Error, Result};
use crate::runtime::processing_log::{LogEntry, RecordOrigin};

/// `WHERE predicate` then `SELECT exprs`.
#[derive(Clone)]
pub struct FilterProject {
    /// Columns of the input kept before anything else (a projected scan).
    pub input_columns: Option<Vec<usize>>,
    /// The WHERE predicate, over the (projected) input.
    pub predicate: Option<Arc<dyn PhysicalExpr>>,
    /// The output expressions; `None` passes the filtered input through.
    pub projection: Option<Vec<Arc<dyn PhysicalExpr>>>,
    /// The output schema.
    pub schema: SchemaRef,
}

impl FilterProject {
    fn eval(&self, batch: &RecordBatch) -> datafusion::error::Result<RecordBatch> {
        let batch = match &self.input_columns {
            Some(cols) => batch.project(cols)?,
            None => batch.clone(),
        };
        let batch = match &self.predicate {
            Some(p) => {
                let mask = p.evaluate(&batch)?.into_array(batch.num_rows())?;
                let mask = mask
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .ok_or_else(|| {
                        datafusion::error::DataFusionError::Plan(
                            "WHERE clause is not a boolean expression".into(),
                        )
                    })?;
                filter_record_batch(&batch, mask)?
            }
            None => batch,
        };
        match &self.projection {
            Some(exprs) => {
                let n = batch.num_rows();
                let columns = exprs
                    .iter()
                    .map(|e| e.evaluate(&batch)?.into_array(n))
                    .collect::<datafusion::error::Result<Vec<ArrayRef>>>()?;
                let columns = columns
                    .into_iter()
                    .zip(self.schema.fields())
                    .map(|(c, f)| {
                        if c.data_type() == f.data_type() {
                            Ok(c)
                        } else {
                            arrow::compute::cast(&c, f.data_type())
                        }
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                Ok(RecordBatch::try_new_with_options(
                    Arc::clone(&self.schema),
                    columns,
                    &RecordBatchOptions::new().with_row_count(Some(n)),
                )?)
            }
            None => Ok(batch),
        }
    }
}

impl Operator for FilterProject {
    fn name(&self) -> &'static str {
        "FilterProject"
    }

    fn reads(&self) -> Option<Vec<usize>> {
        self.input_columns.clone()
    }

    fn fork(&self) -> Result<Box<dyn Operator>> {
        Ok(Box::new(self.clone()))
    }

    fn process(
        &mut self,
        batch: RecordBatch,
        ctx: &OperatorContext<'_>,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        match self.eval(&batch) {
            Ok(b) => {
                if b.num_rows() > 0 {
                    out.push(b);
                }
                Ok(())
            }
            Err(batch_error) => {
                if batch.num_rows() <= 1 {
                    report(ctx, &batch, &batch_error);
                    return Ok(());
                }
                // Isolate the failing rows.
                for i in 0..batch.num_rows() {
                    let row = batch.slice(i, 1);
                    match self.eval(&row) {
                        Ok(b) if b.num_rows() > 0 => out.push(b),
                        Ok(_) => {}
                        Err(e) => report(ctx, &row, &e),
                    }
                }
                Ok(())
            }
        }
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.input_columns.is_some() && self.projection.is_none() {
            let names: Vec<&str> = self
                .schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect();
            parts.push(format!("keep: {}", names.join(", ")));
        }
        if let Some(p) = &self.predicate {
            parts.push(format!("filter: {p}"));
        }
        if let Some(exprs) = &self.projection {
            let list = exprs
                .iter()
                .zip(self.schema.fields())
                .map(|(e, f)| format!("{e} AS {}", f.name()))
                .collect::<Vec<_>>()
                .join(", ");
            parts.push(format!("project: {list}"));
        }
        parts.join("; ")
    }
}

fn report(ctx: &OperatorContext<'_>, row: &RecordBatch, e: &datafusion::error::DataFusionError) {
    let e = Error::from(e.clone_for_report());
    ctx.log.record(LogEntry {
        query_id: ctx.query_id.to_string(),
        kind: "expression",
        origin: origin_of(ctx, row),
        target: None,
        message: format!("Error evaluating expression: {e}"),
        record: None,
    });
}

/// Where a failing row came from: its topic, and the partition and
/// offset its `ROWPARTITION` and `ROWOFFSET` columns hold (when the
/// operator's input still has them).
fn origin_of(ctx: &OperatorContext<'_>, row: &RecordBatch) -> Option<RecordOrigin> {
    use arrow::array::{Int32Array, Int64Array};
    let topic = ctx.topic?;
    let schema = row.schema();
    let partition = row
        .column(schema.index_of("ROWPARTITION").ok()?)
        .as_any()
        .downcast_ref::<Int32Array>()
        .filter(|a| a.len() == 1 && a.is_valid(0))?
        .value(0);
    let offset = row
        .column(schema.index_of("ROWOFFSET").ok()?)
        .as_any()
        .downcast_ref::<Int64Array>()
        .filter(|a| a.len() == 1 && a.is_valid(0))?
        .value(0);
    Some(RecordOrigin {
        topic: topic.to_string(),
        partition,
        offset,
    })
}

/// DataFusion errors are not `Clone`; keep the message for the report.
trait CloneForReport {
    fn clone_for_report(&self) -> datafusion::error::DataFusionError;
}

impl CloneForReport for datafusion::error::DataFusionError {
    fn clone_for_report(&self) -> datafusion::error::DataFusionError {
        datafusion::error::DataFusionError::Execution(self.to_string())
    }
}
