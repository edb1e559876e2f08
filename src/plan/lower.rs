//! Lowering: an optimized DataFusion logical plan of a stateless segment
//! (scan, filter, projection) to [`FilterProject`] operators evaluated per
//! batch.

use std::sync::Arc;

use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr as DfExpr, LogicalPlan};
use datafusion::physical_expr::PhysicalExpr;

use crate::error::{Error, Result};
use crate::runtime::operators::stateless::FilterProject;

/// Lowers `plan` to filter/projection stages, fused where possible.
pub fn lower_stateless(state: &SessionState, plan: &LogicalPlan) -> Result<Vec<FilterProject>> {
    let mut stages = Vec::new();
    lower(state, plan, &mut stages)?;
    Ok(fuse(stages))
}

fn physical(
    state: &SessionState,
    e: &DfExpr,
    input: &LogicalPlan,
) -> Result<Arc<dyn PhysicalExpr>> {
    Ok(state.create_physical_expr(e.clone(), input.schema())?)
}

fn lower(state: &SessionState, plan: &LogicalPlan, out: &mut Vec<FilterProject>) -> Result<()> {
    match plan {
        LogicalPlan::TableScan(scan) => {
            if !scan.filters.is_empty() {
                return Err(Error::internal("unexpected pushed-down filters in a scan"));
            }
            if let Some(p) = &scan.projection {
                out.push(FilterProject {
                    input_columns: Some(p.clone()),
                    predicate: None,
                    projection: None,
                    schema: Arc::new(plan.schema().as_arrow().clone()),
                });
            }
            Ok(())
        }
        LogicalPlan::Filter(f) => {
            lower(state, &f.input, out)?;
            out.push(FilterProject {
                input_columns: None,
                predicate: Some(physical(state, &f.predicate, &f.input)?),
                projection: None,
                schema: Arc::new(f.input.schema().as_arrow().clone()),
            });
            Ok(())
        }
        LogicalPlan::Projection(p) => {
            lower(state, &p.input, out)?;
            let exprs = p
                .expr
                .iter()
                .map(|e| physical(state, e, &p.input))
                .collect::<Result<Vec<_>>>()?;
            out.push(FilterProject {
                input_columns: None,
                predicate: None,
                projection: Some(exprs),
                schema: Arc::new(plan.schema().as_arrow().clone()),
            });
            Ok(())
        }
        LogicalPlan::SubqueryAlias(a) => lower(state, &a.input, out),
        LogicalPlan::EmptyRelation(_) => {
            out.push(FilterProject {
                input_columns: None,
                predicate: Some(datafusion::physical_expr::expressions::lit(false)),
                projection: None,
                schema: Arc::new(plan.schema().as_arrow().clone()),
            });
            Ok(())
        }
        other => Err(Error::user(format!(
            "sluice cannot run this query yet: it needs the streaming operator for '{}'",
            other.display()
        ))),
    }
}

/// Merges scan-projection, filter and projection stages into one.
fn fuse(stages: Vec<FilterProject>) -> Vec<FilterProject> {
    let mut out: Vec<FilterProject> = Vec::with_capacity(stages.len());
    for s in stages {
        if let Some(last) = out.last_mut() {
            if last.projection.is_none()
                && s.input_columns.is_none()
                && (last.predicate.is_none() || s.predicate.is_none())
            {
                if s.predicate.is_some() {
                    last.predicate = s.predicate;
                }
                last.projection = s.projection;
                last.schema = s.schema;
                continue;
            }
        }
        out.push(s);
    }
    out
}
