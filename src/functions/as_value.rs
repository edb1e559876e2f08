//! `AS_VALUE(expr)`: its argument, unchanged. It exists for the planner: a
//! key column wrapped in AS_VALUE is no longer a reference to the key, so
//! it is written to the value (`SELECT ID, AS_VALUE(ID) AS ID_COPY`), and
//! `PARTITION BY AS_VALUE(ID)` keys by a copy, keeping `ID` in the value.

use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::DataType;
use datafusion::common::{plan_err, Result};
use datafusion::logical_expr::ScalarUDF;

use super::udf::{same_as_first, KsqlUdf};

/// The AS_VALUE function.
pub fn udfs() -> Vec<Arc<ScalarUDF>> {
    vec![KsqlUdf::new("as_value", one_argument, same_as_first, identity).udf()]
}

fn one_argument(_: &str, args: &[DataType]) -> Result<Vec<DataType>> {
    match args {
        [t] => Ok(vec![t.clone()]),
        _ => plan_err!("AS_VALUE takes exactly one argument, got {}", args.len()),
    }
}

fn identity(args: &[ArrayRef], _: &DataType, _: usize) -> Result<ArrayRef> {
    match args.first() {
        Some(a) => Ok(Arc::clone(a)),
        None => plan_err!("AS_VALUE takes exactly one argument"),
    }
}

#[cfg(test)]
mod tests {
    use crate::functions::test_util::{check, check_typed};
    use arrow::datatypes::DataType;

    #[tokio::test]
    async fn returns_its_argument() {
        check_typed("as_value(CAST(3 AS INT))", "3", DataType::Int32).await;
        check("as_value('k')", "k").await;
        check("as_value(NULL)", "NULL").await;
    }
}
