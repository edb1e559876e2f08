//! ksqlDB's scalar functions as DataFusion UDFs, by family.
//!
//! Every function is registered under its lower-case ksqlDB name (the
//! planner lower-cases function names), replacing any DataFusion built-in of
//! the same name: ksqlDB's argument and result types and its null handling
//! differ from DataFusion's in most of them (e.g. `round(DOUBLE)` is BIGINT,
//! `ceil(INT)` is INT, `substring` counts negative positions from the end,
//! `concat` skips nulls).
//!
//! Served by DataFusion's built-ins, because they already behave as ksqlDB's:
//! - `coalesce(a, b, …)`: the first non-null argument, all arguments
//!   coerced to one type.
//! - `ifnull(a, b)` (DataFusion's `nvl` alias): `b` when `a` is null.
//! - `nullif(a, b)`: null when `a = b`, else `a`.

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;

mod datetime;
mod java_time;
mod mask;
mod math;
mod planner;
mod regex;
mod string;
mod udf;

#[cfg(test)]
mod test_util;

pub use planner::{expr_planner, KsqlExprPlanner};

/// Every ksqlDB scalar function sluice provides, named in lower case (the
/// planner lower-cases function names), replacing DataFusion built-ins of the
/// same name where ksqlDB's semantics differ.
pub fn scalar_udfs() -> Vec<Arc<ScalarUDF>> {
    [
        string::udfs(),
        mask::udfs(),
        regex::udfs(),
        math::udfs(),
        datetime::udfs(),
    ]
    .concat()
}
