//! ksqlDB's scalar functions as DataFusion UDFs, by family.
//!
//! Every function is registered under its lower-case ksqlDB name (the
//! planner lower-cases function names), replacing any DataFusion built-in of
//! the same name: ksqlDB's argument and result types and its null handling
//! differ from DataFusion's in most of them (e.g. `round(DOUBLE)` is BIGINT,
//! `ceil(INT)` is INT, `substring` counts negative positions from the end,
//! `concat` skips nulls). Each family is one file built on [`udf`]'s one
//! `ScalarUDFImpl`; a new function is a function plus one line in its
//! family's `udfs()`.
//!
//! Served by DataFusion's built-ins, because they already behave as ksqlDB's
//! (checked by the tests below):
//! - `coalesce(a, b, …)`: the first non-null argument, all arguments
//!   coerced to one type.
//! - `ifnull(a, b)` (an alias of DataFusion's `nvl`): `b` when `a` is null.
//! - `nullif(a, b)`: null when `a = b`, else `a`.
//! - `md5(s)`: the lower-case hex MD5 digest of a string.
//!
//! Not here: the ARRAY[…], MAP(…) and STRUCT(…) constructors and CAST
//! (planner). The table functions EXPLODE and CUBE_EXPLODE are planned as
//! their own operator; [`cube_combinations`] gives CUBE_EXPLODE's lists.
//!
//! `SUBSTRING(…)` is special syntax in sqlparser, so DataFusion plans it
//! through an `ExprPlanner`; [`expr_planner`] routes it to ksqlDB's
//! SUBSTRING and must be placed before DataFusion's default planners.

use std::sync::Arc;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};

pub mod aggregates;
mod as_value;
mod bytes;
pub mod cast;
mod collections;
mod cube;
mod datetime;
mod java_time;
mod json;
mod lambda;
mod maps;
mod mask;
mod math;
mod planner;
mod regex;
mod string;
mod time_zone;
mod udf;
mod url;

#[cfg(test)]
mod test_util;

pub use cube::cube_combinations;
pub use lambda::higher_order_udfs;
pub use planner::{expr_planner, KsqlExprPlanner};
pub(crate) use udf::common_type as udf_common_type;

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
        json::udfs(),
        collections::udfs(),
        maps::udfs(),
        bytes::udfs(),
        url::udfs(),
        as_value::udfs(),
        vec![cast::ksql_cast_udf()],
    ]
    .concat()
}

/// Every ksqlDB aggregate function (UDAF) with default settings, named in
/// lower case, replacing DataFusion built-ins of the same name; see
/// [`aggregates`].
pub fn aggregate_udfs() -> Vec<Arc<AggregateUDF>> {
    aggregates::aggregate_udfs_with(&aggregates::AggregateConfig::default())
}

#[cfg(test)]
mod tests {
    use super::test_util::{check, check_typed};
    use arrow::datatypes::DataType;
    use std::collections::HashSet;

    #[test]
    fn names_are_lower_case_and_unique() {
        let mut seen = HashSet::new();
        for udf in super::scalar_udfs() {
            for name in std::iter::once(udf.name()).chain(udf.aliases().iter().map(|a| a.as_str()))
            {
                assert_eq!(name, name.to_lowercase());
                assert!(seen.insert(name.to_string()), "{name} registered twice");
            }
        }
    }

    #[tokio::test]
    async fn null_functions_from_datafusion() {
        check_typed("coalesce(NULL, CAST(2 AS INT), 3)", "2", DataType::Int64).await;
        check("coalesce(NULL, NULL)", "NULL").await;
        check("ifnull(NULL, 'x')", "x").await;
        check("ifnull('y', 'x')", "y").await;
        check("nullif(4, 4)", "NULL").await;
        check("nullif(4, 5)", "4").await;
        check("nullif(NULL, 5)", "NULL").await;
        check("md5('abc')", "900150983cd24fb0d6963f7d28e17f72").await;
    }
}
