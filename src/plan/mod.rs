//! Planning: statements to catalog entries, SELECTs to DataFusion plans cut
//! into streaming pipelines.

pub mod aggregate;
mod coerce;
pub mod ddl;
pub mod expr;
pub mod join;
pub mod lower;
mod projection;
pub mod select;
mod semantics;
mod table_functions;
mod time_literals;

use std::sync::Arc;

use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::SessionState;
use datafusion::logical_expr::registry::FunctionRegistry;
use datafusion::prelude::SessionConfig;

use crate::error::Result;

/// The DataFusion session every query is planned in: DataFusion's
/// functions, then ksqlDB's (which replace same-named built-ins), with
/// case-sensitive identifiers (the ksqlDB parser already normalized them)
/// and decimal literals read as DECIMAL.
pub fn session_state() -> Result<Arc<SessionState>> {
    let mut config = SessionConfig::new()
        .with_target_partitions(1)
        .with_information_schema(false);
    let options = config.options_mut();
    options.sql_parser.enable_ident_normalization = false;
    options.sql_parser.parse_float_as_decimal = true;
    let defaults = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .build();
    // ksqlDB's SUBSTRING must win over DataFusion's `substr` planning.
    let planners = [
        vec![crate::functions::expr_planner()],
        defaults.expr_planners().to_vec(),
    ]
    .concat();
    let mut state = SessionStateBuilder::new_from_existing(defaults)
        .with_expr_planners(planners)
        .build();
    for udf in crate::functions::scalar_udfs() {
        state.register_udf(udf)?;
    }
    for udaf in crate::functions::aggregate_udfs() {
        state.register_udaf(udaf)?;
    }
    for function in crate::functions::higher_order_udfs() {
        state.register_higher_order_function(function)?;
    }
    Ok(Arc::new(state))
}
