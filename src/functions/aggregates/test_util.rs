//! Test helpers: accumulators of the ksqlDB aggregates built as the engine
//! builds them, input arrays, and SQL through a DataFusion session.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Decimal128Array, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, FieldRef, Schema};
use arrow::util::display::array_value_to_string;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{Accumulator, AggregateUDF};
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;

use super::{aggregate_udfs_with, AggregateConfig};

fn udaf(name: &str, config: &AggregateConfig) -> Arc<AggregateUDF> {
    aggregate_udfs_with(config)
        .into_iter()
        .find(|u| u.name() == name || u.aliases().iter().any(|a| a == name))
        .unwrap_or_else(|| panic!("no aggregate {name}"))
}

/// An accumulator of `name` over columns typed as `columns`.
pub(crate) fn accumulator(name: &str, columns: &[ArrayRef]) -> Box<dyn Accumulator> {
    accumulator_with(name, columns, &[], &AggregateConfig::default())
}

/// An accumulator of `name` over columns typed as `columns`, then the
/// literal arguments `literals`.
pub(crate) fn accumulator_lit(
    name: &str,
    columns: &[ArrayRef],
    literals: &[ScalarValue],
) -> Box<dyn Accumulator> {
    accumulator_with(name, columns, literals, &AggregateConfig::default())
}

/// [`accumulator_lit`] with settings.
pub(crate) fn accumulator_with(
    name: &str,
    columns: &[ArrayRef],
    literals: &[ScalarValue],
    config: &AggregateConfig,
) -> Box<dyn Accumulator> {
    let udaf = udaf(name, config);
    let fields: Vec<Field> = columns
        .iter()
        .enumerate()
        .map(|(i, a)| Field::new(format!("c{i}"), a.data_type().clone(), true))
        .collect();
    let schema = Schema::new(fields.clone());
    let mut exprs: Vec<Arc<dyn PhysicalExpr>> = Vec::new();
    let mut expr_fields: Vec<FieldRef> = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        exprs.push(Arc::new(Column::new(f.name(), i)));
        expr_fields.push(Arc::new(f.clone()));
    }
    for l in literals {
        exprs.push(Arc::new(Literal::new(l.clone())));
        expr_fields.push(Arc::new(Field::new("lit", l.data_type(), true)));
    }
    let types: Vec<DataType> = expr_fields.iter().map(|f| f.data_type().clone()).collect();
    let coerced = udaf.coerce_types(&types).unwrap();
    let ret = udaf.return_type(&coerced).unwrap();
    let return_field = Arc::new(Field::new(name, ret, true));
    udaf.accumulator(AccumulatorArgs {
        return_field,
        schema: &schema,
        ignore_nulls: false,
        order_bys: &[],
        is_reversed: false,
        name,
        is_distinct: false,
        exprs: &exprs,
        expr_fields: &expr_fields,
    })
    .unwrap()
}

/// Evaluates, twice, checking evaluation does not change the state.
pub(crate) fn eval(acc: &mut Box<dyn Accumulator>) -> ScalarValue {
    let first = acc.evaluate().unwrap();
    let second = acc.evaluate().unwrap();
    assert_eq!(first, second, "evaluate changed the state");
    first
}

/// Merges `from`'s state into `into` and evaluates `into`.
pub(crate) fn merged(
    into: &mut Box<dyn Accumulator>,
    from: &mut Box<dyn Accumulator>,
) -> ScalarValue {
    let before = from.evaluate().unwrap();
    let states: Vec<ArrayRef> = from
        .state()
        .unwrap()
        .into_iter()
        .map(|s| s.to_array().unwrap())
        .collect();
    assert_eq!(
        from.evaluate().unwrap(),
        before,
        "state() changed the state"
    );
    into.merge_batch(&states).unwrap();
    eval(into)
}

pub(crate) fn int32s(v: &[Option<i32>]) -> ArrayRef {
    Arc::new(Int32Array::from(v.to_vec()))
}

pub(crate) fn int64s(v: &[Option<i64>]) -> ArrayRef {
    Arc::new(Int64Array::from(v.to_vec()))
}

pub(crate) fn doubles(v: &[Option<f64>]) -> ArrayRef {
    Arc::new(Float64Array::from(v.to_vec()))
}

pub(crate) fn bools(v: &[Option<bool>]) -> ArrayRef {
    Arc::new(BooleanArray::from(v.to_vec()))
}

pub(crate) fn strings(v: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

pub(crate) fn decimals(v: &[Option<i128>], p: u8, s: i8) -> ArrayRef {
    Arc::new(
        Decimal128Array::from(v.to_vec())
            .with_precision_and_scale(p, s)
            .unwrap(),
    )
}

/// The value as ksqlDB-like text (`[1, 2]`, `{a: 1}`, `NULL`).
pub(crate) fn show(v: &ScalarValue) -> String {
    let array = v.to_array().unwrap();
    if array.is_null(0) {
        "NULL".to_string()
    } else {
        array_value_to_string(&array, 0).unwrap()
    }
}

/// Runs `sql` over table `t` with one partition per batch of `parts`, as
/// many partitions in parallel, and renders every row as [`sql_rows`].
pub(crate) async fn sql_rows_partitioned(sql: &str, parts: Vec<RecordBatch>) -> Vec<String> {
    let config = datafusion::prelude::SessionConfig::new().with_target_partitions(parts.len());
    let ctx = SessionContext::new_with_config(config);
    for u in aggregate_udfs_with(&AggregateConfig::default()) {
        ctx.register_udaf(u.as_ref().clone());
    }
    let schema = parts[0].schema();
    let table = datafusion::datasource::MemTable::try_new(
        schema,
        parts.into_iter().map(|b| vec![b]).collect(),
    )
    .unwrap();
    ctx.register_table("t", Arc::new(table)).unwrap();
    render(&ctx, sql).await
}

/// Runs `sql` over table `t` holding `batch`, with the ksqlDB aggregates
/// registered, and renders every row (values joined by `|`).
pub(crate) async fn sql_rows(sql: &str, batch: RecordBatch) -> Vec<String> {
    // One partition: rows reach the accumulators in table order.
    let config = datafusion::prelude::SessionConfig::new().with_target_partitions(1);
    let ctx = SessionContext::new_with_config(config);
    for u in aggregate_udfs_with(&AggregateConfig::default()) {
        ctx.register_udaf(u.as_ref().clone());
    }
    ctx.register_batch("t", batch).unwrap();
    render(&ctx, sql).await
}

async fn render(ctx: &SessionContext, sql: &str) -> Vec<String> {
    let df = ctx
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("planning {sql}: {e}"));
    let batches = df
        .collect()
        .await
        .unwrap_or_else(|e| panic!("running {sql}: {e}"));
    let mut rows = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let cells: Vec<String> = b
                .columns()
                .iter()
                .map(|c| {
                    if c.is_null(r) {
                        "NULL".to_string()
                    } else {
                        array_value_to_string(c, r).unwrap()
                    }
                })
                .collect();
            rows.push(cells.join("|"));
        }
    }
    rows
}
