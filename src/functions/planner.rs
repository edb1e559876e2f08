//! An `ExprPlanner` for the SQL syntax sqlparser parses into special
//! expressions rather than function calls, so that it reaches sluice's UDFs:
//! `SUBSTRING(s FROM p FOR l)` and the plain `SUBSTRING(s, p, l)` both become
//! sqlparser's `Expr::Substring`, which DataFusion otherwise plans with its
//! own `substr` (different negative-position semantics).

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult};
use datafusion::logical_expr::{Expr, ScalarUDF};

/// Plans `SUBSTRING` with ksqlDB's semantics. Must come before DataFusion's
/// default planners in the session state, e.g.
/// `SessionStateBuilder::new_from_existing(state).with_expr_planners(
/// [vec![functions::expr_planner()], state.expr_planners().to_vec()].concat())`.
#[derive(Debug)]
pub struct KsqlExprPlanner {
    substring: Arc<ScalarUDF>,
}

/// The planner for sluice's session state.
pub fn expr_planner() -> Arc<dyn ExprPlanner> {
    Arc::new(KsqlExprPlanner {
        substring: super::string::substring_udf(),
    })
}

impl ExprPlanner for KsqlExprPlanner {
    fn plan_substring(&self, args: Vec<Expr>) -> Result<PlannerResult<Vec<Expr>>> {
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(Arc::clone(&self.substring), args),
        )))
    }
}
