//! GROUP BY planning: a ksqlDB aggregation becomes three stages.
//!
//! 1. A stateless pre-aggregation projection over the source row: the
//!    grouping expressions, every aggregate's arguments, the event time and
//!    the null-row flag (over a table, also the table's key; a WHERE over a
//!    table turns failing rows into deletes instead of dropping them).
//! 2. The streaming [`Aggregate`] operator, whose per-group states are the
//!    accumulators of DataFusion aggregate UDFs (ksqlDB's functions,
//!    registered in the session, so DataFusion's planner resolves them).
//! 3. A stateless post-aggregation projection over keys, window bounds and
//!    aggregate results: the SELECT items, with HAVING as a
//!    [`TableFilter`] (tombstones for groups that stop passing).
//!
//! SELECT items and HAVING are planned by DataFusion against the source
//! row, then rewritten: a grouping expression becomes its key column, an
//! aggregate call its result column; any column left over is an error, as
//! in ksqlDB ("Non-aggregate SELECT expression(s) not part of GROUP BY").

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::execution::SessionState;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{lit, not, Expr as DfExpr, ExprSchemable, LogicalPlanBuilder};
use datafusion::physical_expr::PhysicalExpr;

use super::expr::to_datafusion;
use super::lower::lower_stateless;
use super::projection::SelectedItem;
use super::select::{
    decode_stage, hidden, sink_timestamp, table_ref, OutputColumn, PlannedSelect, PlannedWindow,
    Purpose, RepartitionStage, StreamTable, ROWTIME_OUT, WINDOW_END_OUT, WINDOW_START_OUT,
};
use crate::catalog::{Source, NULL_ROW, RECORD_HEADERS, RECORD_TIME, WINDOW_END, WINDOW_START};
use crate::error::{Error, Result};
use crate::runtime::operators::aggregate::{
    Aggregate, AggregateCall, AggregateSpec, Columnar, WindowConfig, Windowing,
};
use crate::runtime::operators::table_filter::TableFilter;
use crate::runtime::operators::Operator;
use crate::sql::ast::{Emit, Query, SourceKind, WindowKind};
use crate::sql::properties::WindowType;
use crate::types::SqlType;

/// ksqlDB's default grace period: 24 hours.
pub const DEFAULT_GRACE_MS: u64 = 24 * 60 * 60 * 1000;

const KEEP: &str = "$KEEP";
const PARTITION: &str = "$PARTITION";
/// The pre-aggregation column with the input record's offset (streams).
const OFFSET: &str = "$OFFSET";
/// The repartition topic's value columns with the partition and offset of
/// the input record each re-keyed row came from.
const SOURCE_PARTITION: &str = "$SRCPARTITION";
const SOURCE_OFFSET: &str = "$SRCOFFSET";

fn key_col(i: usize) -> String {
    format!("$K{i}")
}

fn agg_col(i: usize) -> String {
    format!("$AGG{i}")
}

/// Everything plan_select resolved before seeing the GROUP BY.
pub(super) struct AggregateInput<'a> {
    pub state: &'a SessionState,
    pub source: Arc<Source>,
    pub qualifier: String,
    pub row_schema: SchemaRef,
    pub df_schema: DFSchema,
    pub query: &'a Query,
    pub purpose: &'a Purpose,
    pub query_id: &'a str,
    pub items: Vec<SelectedItem>,
}

/// Plans an aggregation.
pub(super) fn plan_aggregate(input: AggregateInput<'_>) -> Result<PlannedSelect> {
    let AggregateInput {
        state,
        source,
        qualifier,
        row_schema,
        df_schema,
        query,
        purpose,
        query_id,
        items,
    } = input;
    let persistent = matches!(purpose, Purpose::Persistent { .. });
    let over_table = source.kind == SourceKind::Table;
    if query.window.is_some() && over_table {
        return Err(Error::user(
            "KSQL does not support persistent queries on windowed tables.",
        ));
    }
    if source.value_format.format == crate::format::Format::Kafka {
        return Err(Error::user(format!(
            "Source(s) {} are using the 'KAFKA' value format. This format does not yet support \
             GROUP BY.",
            source.name
        )));
    }
    if query.emit == Some(Emit::Final) && query.window.is_none() {
        return Err(Error::user(
            "EMIT FINAL is only supported for windowed aggregations.",
        ));
    }

    // The schema SELECT and HAVING see: the row, plus the window bounds.
    let windowed = query.window.is_some();
    let mut select_fields: Vec<Field> = row_schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    if windowed {
        for name in [WINDOW_START, WINDOW_END] {
            if row_schema.index_of(name).is_err() {
                select_fields.push(Field::new(name, DataType::Int64, true));
            }
        }
    }
    let select_schema =
        DFSchema::try_from_qualified_schema(table_ref(&qualifier), &Schema::new(select_fields))?;

    // 1. Grouping expressions.
    let mut groups: Vec<DfExpr> = Vec::with_capacity(query.group_by.len());
    for g in &query.group_by {
        let e = to_datafusion(state, g, &df_schema)?;
        if let Some(name) = first_aggregate(&e) {
            return Err(Error::user(format!(
                "GROUP BY does not support aggregate functions: {} is an aggregate function.",
                name.to_uppercase()
            )));
        }
        if groups.contains(&e) {
            return Err(Error::user(format!("Duplicate GROUP BY expression: {g}")));
        }
        groups.push(e);
    }

    // 2. SELECT items and HAVING, rewritten over keys and aggregates.
    let mut calls: Vec<AggregateFunction> = Vec::new();
    let mut key_names: Vec<Option<String>> = vec![None; groups.len()];
    let mut selected: Vec<(String, Option<usize>, DfExpr)> = Vec::with_capacity(items.len());
    let mut missing: Vec<String> = Vec::new();
    for item in &items {
        let e = to_datafusion(state, &item.expr, &select_schema)?;
        let key = groups.iter().position(|g| g == &e);
        if let Some(k) = key {
            if let Some(first) = &key_names[k] {
                if persistent {
                    return Err(Error::user(format!(
                        "The projection contains a key column more than once: `{first}` and \
                         `{}`.",
                        item.name
                    )));
                }
            } else {
                key_names[k] = Some(item.name.clone());
                selected.push((item.name.clone(), Some(k), col(key_col(k))));
                continue;
            }
        }
        let (rewritten, stray) = rewrite(e, &groups, &mut calls)?;
        if stray {
            missing.push(item.expr.to_string());
        }
        selected.push((item.name.clone(), None, rewritten));
    }
    if !missing.is_empty() {
        return Err(Error::user(format!(
            "Non-aggregate SELECT expression(s) not part of GROUP BY: {}\nEither add the \
             column(s) to the GROUP BY or remove them from the SELECT.",
            missing.join(", ")
        )));
    }
    let having = match &query.having {
        None => None,
        Some(h) => {
            let e = to_datafusion(state, h, &select_schema)?;
            let (rewritten, stray) = rewrite(e, &groups, &mut calls)?;
            if stray {
                return Err(Error::user(format!(
                    "Non-aggregate HAVING expression not part of GROUP BY: {h}"
                )));
            }
            Some(rewritten)
        }
    };
    if calls.is_empty() {
        return Err(Error::user(
            "GROUP BY requires aggregate functions in either the SELECT or HAVING clause.",
        ));
    }
    if persistent {
        let absent: Vec<String> = query
            .group_by
            .iter()
            .zip(&key_names)
            .filter(|(_, n)| n.is_none())
            .map(|(g, _)| g.to_string())
            .collect();
        if !absent.is_empty() {
            let sink = match purpose {
                Purpose::Persistent { sink, .. } => sink.as_str(),
                Purpose::Push => "",
            };
            let (noun, list) = if absent.len() == 1 {
                ("expression", absent[0].clone())
            } else {
                let (last, rest) = absent.split_last().unwrap_or((&absent[0], &[]));
                ("expressions", format!("{} and {last}", rest.join(", ")))
            };
            return Err(Error::user(format!(
                "The query used to build `{sink}` must include the grouping {noun} {list} in \
                 its projection (eg, SELECT {}...).",
                absent.join(", ")
            )));
        }
    }
    // 3. The pre-aggregation projection.
    let table = Arc::new(StreamTable(Arc::clone(&row_schema)));
    let mut builder = LogicalPlanBuilder::scan(table_ref(&qualifier), table, None)?;
    if over_table {
        builder = builder.filter(super::select::table_key_present(&source, &qualifier))?;
    }
    let null_row = hidden(&qualifier, NULL_ROW);
    let mut deleted = null_row.clone();
    if let Some(selection) = &query.selection {
        let predicate = to_datafusion(state, selection, &df_schema)?;
        if over_table {
            // A row that stops passing the filter leaves the filtered table.
            deleted = null_row
                .clone()
                .or(not(datafusion::functions::core::expr_fn::coalesce(vec![
                    predicate,
                    lit(false),
                ])));
        } else {
            builder = builder.filter(predicate.and(not(null_row.clone())))?;
        }
    } else if !over_table {
        builder = builder.filter(not(null_row.clone()))?;
    }
    let mut pre: Vec<DfExpr> = Vec::new();
    let mut pre_fields: Vec<Field> = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let t = g.get_type(&df_schema)?;
        pre.push(g.clone().alias(key_col(i)));
        pre_fields.push(Field::new(key_col(i), t, true));
    }
    let mut agg_calls = Vec::with_capacity(calls.len());
    let mut not_retractable = Vec::new();
    use crate::functions::aggregates as udafs;
    for call in &calls {
        let name = call.func.name();
        udafs::check_literal_arguments(name, &call.params.args)?;
        // Intermediate states such as AVG's (sum, count) need a structured
        // value format.
        if source.value_format.format == crate::format::Format::Delimited
            && udafs::needs_structured_state(name)
        {
            return Err(Error::user(udafs::STRUCTURED_STATE_ERROR));
        }
    }
    for (j, call) in calls.iter().enumerate() {
        let mut args = Vec::with_capacity(call.params.args.len());
        for (k, a) in call.params.args.iter().enumerate() {
            if first_aggregate(a).is_some() {
                return Err(Error::user(format!(
                    "Aggregate functions can not be nested: {}",
                    DfExpr::AggregateFunction(call.clone())
                )));
            }
            let name = format!("$A{j}_{k}");
            args.push(pre.len());
            pre_fields.push(Field::new(&name, a.get_type(&df_schema)?, true));
            pre.push(a.clone().alias(name));
        }
        let (factory, data_type) = accumulator_factory(state, call, &row_schema, &df_schema)?;
        if over_table && !factory()?.supports_retract_batch() {
            not_retractable.push(call.func.name().to_uppercase());
        }
        // ksqlDB's COUNT and SUM keep one number per group: columnar.
        let columnar = match call.func.name() {
            "count" => Some(Columnar::Count),
            "sum" => Some(Columnar::Sum),
            _ => None,
        };
        agg_calls.push(AggregateCall {
            name: call.func.name().to_uppercase(),
            args,
            data_type,
            factory,
            columnar,
        });
    }
    if !not_retractable.is_empty() {
        not_retractable.dedup();
        let list = match not_retractable.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => not_retractable.join(""),
        };
        return Err(Error::user(format!(
            "The aggregation function{} {list} cannot be applied to a table source, only to a \
             stream source.",
            if not_retractable.len() > 1 { "s" } else { "" }
        )));
    }
    let time_column = pre.len();
    pre.push(hidden(&qualifier, RECORD_TIME).alias(RECORD_TIME));
    pre_fields.push(Field::new(RECORD_TIME, DataType::Int64, true));
    let null_row_column = pre.len();
    pre.push(deleted.alias(NULL_ROW));
    pre_fields.push(Field::new(NULL_ROW, DataType::Boolean, true));
    // Each input partition keeps its own stream time.
    let partition_column = pre.len();
    pre.push(hidden(&qualifier, "ROWPARTITION").alias(PARTITION));
    pre_fields.push(Field::new(PARTITION, DataType::Int32, true));
    // A re-keyed row carries its input record's position, so that rows
    // written twice to the repartition topic are counted once.
    let offset_column = (!over_table).then(|| {
        pre.push(hidden(&qualifier, "ROWOFFSET").alias(OFFSET));
        pre_fields.push(Field::new(OFFSET, DataType::Int64, true));
        pre.len() - 1
    });
    let table_key = if over_table {
        let mut cols = Vec::new();
        for (i, c) in source.key_columns().enumerate() {
            cols.push(pre.len());
            let name = format!("$SK{i}");
            pre_fields.push(Field::new(&name, c.sql_type.to_arrow(), true));
            pre.push(hidden(&qualifier, &c.name).alias(name));
        }
        Some(cols)
    } else {
        None
    };
    let pre_plan = builder.project(pre)?.build()?;
    let pre_optimized = state.optimize(&pre_plan)?;
    let mut logical_plan = pre_optimized.display_indent().to_string();
    let mut operators: Vec<Box<dyn Operator>> = lower_stateless(state, &pre_optimized)?
        .into_iter()
        .map(|s| Box::new(s) as Box<dyn Operator>)
        .collect();

    // Grouping a stream by anything but its key re-keys the rows through an
    // internal topic, partitioned by the new key, as ksqlDB does: the
    // aggregation then runs per partition of that topic.
    let source_keys: Vec<&str> = source.key_columns().map(|c| c.name.as_str()).collect();
    let keyed_by_source = groups.len() == source_keys.len()
        && groups
            .iter()
            .zip(&source_keys)
            .all(|(g, k)| matches!(g, DfExpr::Column(c) if c.name == *k));
    let mut decode = decode_stage(state, &source, query_id)?;
    // A push query aggregates in its own task: it has no other instance to
    // share the work with.
    let repartition = if over_table || keyed_by_source || !persistent {
        None
    } else {
        let offset_column = offset_column
            .ok_or_else(|| Error::internal("a re-keyed stream lacks its offset column"))?;
        let mut topic_fields = pre_fields[..time_column].to_vec();
        topic_fields.push(Field::new(SOURCE_PARTITION, DataType::Int32, true));
        topic_fields.push(Field::new(SOURCE_OFFSET, DataType::Int64, true));
        let topic_source = repartition_source(&source, &topic_fields, groups.len())?;
        let stage_decode = decode_stage(state, &topic_source, query_id)?;
        let rows = topic_source.row_schema();
        let mut keep: Vec<usize> = (0..time_column).collect();
        keep.push(rows.index_of(RECORD_TIME)?);
        keep.push(rows.index_of(NULL_ROW)?);
        // After re-keying, the partitions of the repartition topic.
        keep.push(rows.index_of("ROWPARTITION")?);
        keep.push(rows.index_of(SOURCE_PARTITION)?);
        keep.push(rows.index_of(SOURCE_OFFSET)?);
        let stage_ops = std::mem::replace(
            &mut operators,
            vec![
                Box::new(crate::runtime::operators::stateless::FilterProject {
                    input_columns: Some(keep.clone()),
                    predicate: None,
                    projection: None,
                    schema: Arc::new(rows.project(&keep)?),
                }) as Box<dyn Operator>,
                Box::new(crate::runtime::operators::dedup::Dedup::new(
                    keep.len() - 2,
                    keep.len() - 1,
                )),
            ],
        );
        let mut source_decode = std::mem::replace(&mut decode, stage_decode);
        super::select::decode_only_what_is_read(&mut source_decode, &stage_ops, &source)?;
        Some(RepartitionStage {
            decode: source_decode,
            operators: stage_ops,
            output_schema: Arc::new(Schema::new(pre_fields.clone())),
            topic_source,
            key_columns: (0..groups.len()).collect(),
            value_columns: (groups.len()..time_column)
                .chain([partition_column, offset_column])
                .collect(),
            time_column,
        })
    };

    // 4. The aggregate operator.
    let mut agg_fields: Vec<Field> = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        agg_fields.push(Field::new(key_col(i), g.get_type(&df_schema)?, true));
    }
    if windowed {
        agg_fields.push(Field::new(WINDOW_START, DataType::Int64, true));
        agg_fields.push(Field::new(WINDOW_END, DataType::Int64, true));
    }
    for (j, c) in agg_calls.iter().enumerate() {
        agg_fields.push(Field::new(agg_col(j), c.data_type.clone(), true));
    }
    agg_fields.push(Field::new(RECORD_TIME, DataType::Int64, true));
    agg_fields.push(Field::new(NULL_ROW, DataType::Boolean, true));
    let agg_schema = Arc::new(Schema::new(agg_fields));
    let window = query.window.map(|w| {
        let windowing = match w.kind {
            WindowKind::Tumbling { size_ms } => Windowing::Tumbling { size: ms(size_ms) },
            WindowKind::Hopping {
                size_ms,
                advance_ms,
            } => Windowing::Hopping {
                size: ms(size_ms),
                advance: ms(advance_ms),
            },
            WindowKind::Session { gap_ms } => Windowing::Session { gap: ms(gap_ms) },
        };
        WindowConfig {
            windowing,
            // EMIT FINAL without a grace period closes windows at their
            // end, as ksqlDB's suppression does; EMIT CHANGES keeps the
            // historical 24-hour default.
            grace: ms(w.grace_ms.unwrap_or(if query.emit == Some(Emit::Final) {
                0
            } else {
                DEFAULT_GRACE_MS
            })),
            emit_final: query.emit == Some(Emit::Final),
        }
    });
    match window.map(|w| w.windowing) {
        Some(Windowing::Tumbling { size } | Windowing::Hopping { size, .. }) if size <= 0 => {
            return Err(Error::user(format!(
                "Window size must be larger than zero: SIZE {size} ms"
            )));
        }
        Some(Windowing::Session { gap }) if gap <= 0 => {
            return Err(Error::user(format!(
                "Session window inactivity gap must be larger than zero: {gap} ms"
            )));
        }
        _ => {}
    }
    if let Some(w) = window {
        if w.grace < 0 {
            return Err(Error::user(format!(
                "Window grace period must not be negative: GRACE PERIOD {} ms",
                w.grace
            )));
        }
    }
    if let Some(WindowConfig {
        windowing: Windowing::Hopping { size, advance },
        ..
    }) = window
    {
        if advance <= 0 || advance > size {
            return Err(Error::user(format!(
                "Window advance must be positive and no larger than the window size: ADVANCE BY \
                 {advance} ms, SIZE {size} ms"
            )));
        }
    }
    let n_keys = groups.len();
    let late_records = Arc::new(AtomicU64::new(0));
    operators.push(Box::new(Aggregate::new(
        AggregateSpec {
            key_columns: n_keys,
            calls: agg_calls,
            time_column,
            null_row_column,
            table_key,
            partition_column: Some(partition_column),
            window,
            output_schema: Arc::clone(&agg_schema),
        },
        Arc::clone(&late_records),
    )?));

    // 5. The post-aggregation projection: keys first (persistent), the
    // SELECT items, the record time, flags and window bounds.
    let agg_df = DFSchema::try_from(agg_schema.as_ref().clone())?;
    let mut ordered: Vec<&(String, Option<usize>, DfExpr)> = selected.iter().collect();
    if persistent {
        ordered.sort_by_key(|(_, k, _)| k.unwrap_or(usize::MAX));
    }
    let mut post: Vec<DfExpr> = Vec::new();
    let mut columns: Vec<OutputColumn> = Vec::new();
    for (name, key, e) in &ordered {
        let t = e.get_type(&agg_df)?;
        if t == DataType::Null {
            return Err(Error::user(
                "Can't infer a type of null. Please explicitly cast it to a required type, \
                 e.g. CAST(null AS VARCHAR).",
            ));
        }
        let sql_type = SqlType::from_arrow(&t)
            .map_err(|e| e.context(format!("Column {name} has an unsupported type")))?;
        post.push(e.clone().alias(name.clone()));
        columns.push(OutputColumn {
            name: name.clone(),
            sql_type,
            is_key: key.is_some() && persistent,
        });
    }
    if persistent && !columns.iter().any(|c| !c.is_key) {
        return Err(Error::user("The projection contains no value columns."));
    }
    let record_time = col(RECORD_TIME);
    let rowtime = match purpose {
        Purpose::Persistent {
            timestamp: Some(ts),
            ..
        } => sink_timestamp(state, ts, &post, &columns, &agg_df)?,
        _ => record_time,
    };
    post.push(rowtime.alias(ROWTIME_OUT));
    post.push(col(NULL_ROW).alias(NULL_ROW));
    let headers_type = crate::catalog::source_headers_type().to_arrow();
    post.push(lit(ScalarValue::try_from(&headers_type)?).alias(RECORD_HEADERS));
    if windowed {
        post.push(col(WINDOW_START).alias(WINDOW_START_OUT));
        post.push(col(WINDOW_END).alias(WINDOW_END_OUT));
    }
    let keep_column = post.len();
    if let Some(h) = &having {
        post.push(
            datafusion::functions::core::expr_fn::coalesce(vec![h.clone(), lit(false)]).alias(KEEP),
        );
    }
    let agg_table = Arc::new(StreamTable(Arc::clone(&agg_schema)));
    let post_plan = LogicalPlanBuilder::scan(table_ref("$AGGREGATE"), agg_table, None)?
        .project(post)?
        .build()?;
    let post_optimized = state.optimize(&post_plan)?;
    logical_plan.push('\n');
    logical_plan.push_str(&post_optimized.display_indent().to_string());
    let post_stages = lower_stateless(state, &post_optimized)?;
    let post_schema: SchemaRef = Arc::new(post_optimized.schema().as_arrow().clone());
    operators.extend(
        post_stages
            .into_iter()
            .map(|s| Box::new(s) as Box<dyn Operator>),
    );
    let n = columns.len();
    if having.is_some() {
        let mut key_columns: Vec<usize> = (0..n).filter(|&i| columns[i].is_key).collect();
        if !persistent {
            key_columns = (0..n)
                .filter(|&i| ordered[i].1.is_some())
                .collect::<Vec<_>>();
            if key_columns.is_empty() {
                key_columns = (0..n).collect();
            }
        }
        if windowed {
            key_columns.extend([n + 3, n + 4]);
        }
        operators.push(Box::new(TableFilter::new(
            &post_schema,
            key_columns,
            keep_column,
            n + 1,
        )?));
    }

    // Push queries show the SELECT's columns, without deletes.
    let fields = super::select::output_fields(&columns, persistent, windowed);
    if !persistent {
        let kept: Vec<Field> = (0..n + 3).map(|i| post_schema.field(i).clone()).collect();
        let kept_schema = Arc::new(Schema::new(kept));
        let push = LogicalPlanBuilder::scan(
            table_ref("$AGGREGATE"),
            Arc::new(StreamTable(Arc::clone(&kept_schema))),
            None,
        )?
        .filter(not(col(NULL_ROW)))?
        .project(columns.iter().map(|c| col(c.name.as_str())))?
        .build()?;
        let optimized = state.optimize(&push)?;
        operators.extend(
            lower_stateless(state, &optimized)?
                .into_iter()
                .map(|s| Box::new(s) as Box<dyn Operator>),
        );
    }
    let output_schema = Arc::new(Schema::new(fields));
    let planned_window = query.window.map(|w| PlannedWindow {
        window: crate::catalog::SourceWindow {
            kind: match w.kind {
                WindowKind::Tumbling { .. } => WindowType::Tumbling,
                WindowKind::Hopping { .. } => WindowType::Hopping,
                WindowKind::Session { .. } => WindowType::Session,
            },
            size_ms: match w.kind {
                WindowKind::Tumbling { size_ms } | WindowKind::Hopping { size_ms, .. } => {
                    Some(size_ms)
                }
                WindowKind::Session { .. } => None,
            },
        },
        start_column: n + 3,
        end_column: n + 4,
        retention_ms: Some(w.retention_ms.unwrap_or_else(|| {
            let extent = match w.kind {
                WindowKind::Tumbling { size_ms } | WindowKind::Hopping { size_ms, .. } => size_ms,
                WindowKind::Session { gap_ms } => gap_ms,
            };
            extent.saturating_add(w.grace_ms.unwrap_or(DEFAULT_GRACE_MS))
        })),
    });
    Ok(PlannedSelect {
        source,
        decode,
        operators,
        columns,
        output_schema,
        repartitioned: true,
        limit: query.limit,
        logical_plan,
        window: planned_window,
        repartition,
        late_records: windowed.then_some(late_records),
        join: None,
    })
}

/// The internal topic re-keyed rows travel through: the grouping key as its
/// key, in JSON (the bytes a pull query's key routing hashes), the
/// aggregates' arguments as its value, in sluice's binary row layout (see
/// `format::internal`); the record time carries the event time. Its topic name is
/// set by the engine, which knows the service id.
fn repartition_source(source: &Source, fields: &[Field], n_keys: usize) -> Result<Source> {
    let mut columns = Vec::with_capacity(fields.len());
    for (i, f) in fields.iter().enumerate() {
        columns.push(crate::catalog::Column {
            name: f.name().clone(),
            sql_type: SqlType::from_arrow(f.data_type()).map_err(|e| {
                e.context(format!("the re-keyed column {} has no SQL type", f.name()))
            })?,
            namespace: if i < n_keys {
                crate::catalog::ColumnNamespace::Key
            } else {
                crate::catalog::ColumnNamespace::Value
            },
        });
    }
    Ok(Source {
        name: format!("{}$REPARTITION", source.name),
        kind: SourceKind::Stream,
        columns,
        topic: String::new(),
        key_format: crate::format::FormatSpec::new(crate::format::Format::Json),
        value_format: crate::format::FormatSpec::new(crate::format::Format::Internal),
        timestamp: None,
        is_source: false,
        sql: String::new(),
        created_by: None,
        window: None,
    })
}

/// An unqualified column, its name taken as written.
fn col(name: impl Into<String>) -> DfExpr {
    DfExpr::Column(datafusion::common::Column::new_unqualified(name))
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The name of the first aggregate call in `e`, if any.
pub(super) fn first_aggregate(e: &DfExpr) -> Option<String> {
    let mut found = None;
    let _ = e.apply(|node| {
        if let DfExpr::AggregateFunction(f) = node {
            found = Some(f.func.name().to_string());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// Rewrites `e` over the aggregation's output: grouping expressions become
/// key columns, aggregate calls result columns (collected in `calls`).
/// Returns whether a source column is left outside both.
fn rewrite(
    e: DfExpr,
    groups: &[DfExpr],
    calls: &mut Vec<AggregateFunction>,
) -> Result<(DfExpr, bool)> {
    let mut stray = false;
    let rewritten = e
        .transform_down(|node| {
            if let Some(k) = groups.iter().position(|g| g == &node) {
                return Ok(Transformed::new(
                    col(key_col(k)),
                    true,
                    TreeNodeRecursion::Jump,
                ));
            }
            match node {
                DfExpr::AggregateFunction(f) => {
                    let j = match calls.iter().position(|c| c == &f) {
                        Some(j) => j,
                        None => {
                            calls.push(f);
                            calls.len() - 1
                        }
                    };
                    Ok(Transformed::new(
                        col(agg_col(j)),
                        true,
                        TreeNodeRecursion::Jump,
                    ))
                }
                DfExpr::Column(c) if c.name == WINDOW_START || c.name == WINDOW_END => {
                    Ok(Transformed::yes(col(c.name)))
                }
                DfExpr::Column(c) => {
                    stray = true;
                    Ok(Transformed::no(DfExpr::Column(c)))
                }
                other => Ok(Transformed::no(other)),
            }
        })?
        .data;
    Ok((rewritten, stray))
}

/// A factory of the call's accumulators, and its result type.
fn accumulator_factory(
    state: &SessionState,
    call: &AggregateFunction,
    row_schema: &SchemaRef,
    df_schema: &DFSchema,
) -> Result<(
    crate::runtime::operators::aggregate::AccumulatorFactory,
    DataType,
)> {
    let (_, return_field) = DfExpr::AggregateFunction(call.clone()).to_field(df_schema)?;
    let exprs: Vec<Arc<dyn PhysicalExpr>> = call
        .params
        .args
        .iter()
        .map(|a| state.create_physical_expr(a.clone(), df_schema))
        .collect::<datafusion::error::Result<_>>()?;
    let expr_fields: Vec<FieldRef> = call
        .params
        .args
        .iter()
        .map(|a| a.to_field(df_schema).map(|(_, f)| f))
        .collect::<datafusion::error::Result<_>>()?;
    let udf = Arc::clone(&call.func);
    let schema = Arc::clone(row_schema);
    let name = udf.name().to_string();
    let distinct = call.params.distinct;
    let data_type = return_field.data_type().clone();
    let factory = Arc::new(move || {
        udf.accumulator(AccumulatorArgs {
            return_field: Arc::clone(&return_field),
            schema: &schema,
            ignore_nulls: false,
            order_bys: &[],
            is_reversed: false,
            name: &name,
            is_distinct: distinct,
            exprs: &exprs,
            expr_fields: &expr_fields,
        })
    });
    Ok((factory, data_type))
}
