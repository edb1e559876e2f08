//! Test helpers: run SQL through a DataFusion session with sluice's UDFs.

use arrow::array::Array;
use arrow::datatypes::DataType;
use arrow::util::display::array_value_to_string;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionContext;

/// A session with every sluice UDF registered (replacing built-ins).
pub(crate) fn ctx() -> SessionContext {
    let state = SessionContext::new().state();
    let planners = [vec![super::expr_planner()], state.expr_planners().to_vec()].concat();
    let state = SessionStateBuilder::new_from_existing(state)
        .with_expr_planners(planners)
        .build();
    let ctx = SessionContext::new_with_state(state);
    for udf in super::scalar_udfs() {
        ctx.register_udf(udf.as_ref().clone());
    }
    for function in super::higher_order_udfs() {
        ctx.register_higher_order_function(function);
    }
    ctx
}

/// Runs `sql` and renders every value of the first column (NULL for null),
/// with that column's type.
pub(crate) async fn column(sql: &str) -> (Vec<String>, DataType) {
    let df = match ctx().sql(sql).await {
        Ok(df) => df,
        Err(e) => panic!("planning {sql}: {e}"),
    };
    let batches = match df.collect().await {
        Ok(b) => b,
        Err(e) => panic!("running {sql}: {e}"),
    };
    let mut out = Vec::new();
    let mut dt = DataType::Null;
    for b in batches {
        let col = b.column(0);
        dt = col.data_type().clone();
        for i in 0..col.len() {
            out.push(if col.is_null(i) || dt == DataType::Null {
                "NULL".to_string()
            } else {
                array_value_to_string(col, i).unwrap_or_else(|e| format!("<{e}>"))
            });
        }
    }
    (out, dt)
}

/// Runs a one-row `sql` and returns the rendered first value and its type.
pub(crate) async fn one(sql: &str) -> (String, DataType) {
    let (vals, dt) = column(sql).await;
    assert_eq!(vals.len(), 1, "{sql} returned {vals:?}");
    (vals[0].clone(), dt)
}

/// Asserts that `expr` evaluates (in `SELECT expr`) to `expected`.
pub(crate) async fn check(expr: &str, expected: &str) {
    let (v, _) = one(&format!("SELECT {expr}")).await;
    assert_eq!(v, expected, "{expr}");
}

/// Asserts value and type of `SELECT expr`.
pub(crate) async fn check_typed(expr: &str, expected: &str, dt: DataType) {
    let (v, t) = one(&format!("SELECT {expr}")).await;
    assert_eq!((v.as_str(), t), (expected, dt), "{expr}");
}

/// Asserts that planning or running `SELECT expr` fails.
pub(crate) async fn check_err(expr: &str) {
    let sql = format!("SELECT {expr}");
    let res = match ctx().sql(&sql).await {
        Ok(df) => df.collect().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(res.is_err(), "{expr} should fail");
}
