//! SELECT planning: a ksqlDB query over one stream becomes a DataFusion
//! logical plan (scan → filter → projection), optimized by DataFusion, then
//! lowered to streaming operators evaluated per batch.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{
    col, lit, not, when, Expr as DfExpr, ExprSchemable, LogicalPlanBuilder, TableSource,
};

use super::expr::to_datafusion;
use super::lower::lower_stateless;
use super::projection::{expand_select, key_positions, repartitions, SelectedItem};
use super::table_functions;
use crate::catalog::{
    Catalog, ColumnNamespace, Source, TimestampColumn, NULL_ROW, RECORD_HEADERS, RECORD_TIME,
    WINDOW_END, WINDOW_START,
};
use crate::error::{Error, Result};
use crate::format::{registry, Part};
use crate::runtime::decode::{ColumnSource, DecodeStage};
use crate::runtime::operators::explode::Explode;
use crate::runtime::operators::stateless::FilterProject;
use crate::runtime::operators::table_filter::TableFilter;
use crate::runtime::operators::Operator;
use crate::sql::ast::{Query, SourceKind};
use crate::types::SqlType;

/// Name of the internal column carrying the output record timestamp.
pub const ROWTIME_OUT: &str = "$ROWTIME";
/// The internal output column with a windowed result's window start.
pub const WINDOW_START_OUT: &str = "$WINDOWSTART";
/// The internal output column with a windowed result's window end.
pub const WINDOW_END_OUT: &str = "$WINDOWEND";
const KEEP: &str = "$KEEP";

/// The window of a windowed aggregation's output.
#[derive(Debug, Clone, Copy)]
pub struct PlannedWindow {
    /// The window, as the sink's keys carry it.
    pub window: crate::catalog::SourceWindow,
    /// The output column with the window start (BIGINT).
    pub start_column: usize,
    /// The output column with the window end (BIGINT).
    pub end_column: usize,
    /// How long the window's state is kept (ms of stream time): its
    /// `RETENTION`, else its size (or session gap) plus its grace period;
    /// `None` for a window inherited from a windowed source.
    pub retention_ms: Option<u64>,
}

/// What the SELECT is for.
#[derive(Debug, Clone)]
pub enum Purpose {
    /// A persistent query writing `sink`; `timestamp` names the output
    /// column whose value becomes the record timestamp.
    Persistent {
        /// The sink name, for messages.
        sink: String,
        /// The sink's TIMESTAMP column (and format for a STRING one), if any.
        timestamp: Option<TimestampColumn>,
        /// `ksql.new.query.planner.enabled`: the key columns of a stream
        /// keep their order in the projection, and may be left out.
        new_planner: bool,
    },
    /// A push query streamed to the caller.
    Push,
}

/// A column of a query's output.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputColumn {
    /// Its name.
    pub name: String,
    /// Its type.
    pub sql_type: SqlType,
    /// True for key columns.
    pub is_key: bool,
}

/// A planned SELECT, ready to become a pipeline.
pub struct PlannedSelect {
    /// The source read.
    pub source: Arc<Source>,
    /// Decoding of the source's records.
    pub decode: DecodeStage,
    /// The operators after decoding.
    pub operators: Vec<Box<dyn Operator>>,
    /// Output columns: for persistent queries keys first, then values; for
    /// push queries in the order of the SELECT.
    pub columns: Vec<OutputColumn>,
    /// The schema of output batches: `columns`, then (persistent queries)
    /// the record timestamp as [`ROWTIME_OUT`] and the null-row flag as
    /// [`NULL_ROW`].
    pub output_schema: SchemaRef,
    /// `PARTITION BY` was given (the key changes).
    pub repartitioned: bool,
    /// `LIMIT n`.
    pub limit: Option<u64>,
    /// The optimized DataFusion plan, for EXPLAIN.
    pub logical_plan: String,
    /// For a windowed aggregation: its window and where its bounds are.
    pub window: Option<PlannedWindow>,
    /// When the query re-keys through an internal topic (GROUP BY other
    /// than the key): the first stage, writing that topic. `decode` and
    /// `operators` are then the second stage, reading it.
    pub repartition: Option<RepartitionStage>,
    /// For a windowed aggregation: the count of records dropped as late.
    pub late_records: Option<Arc<std::sync::atomic::AtomicU64>>,
    /// For a join: its other inputs. `source` and `decode` are then its
    /// first input's, in the stage that reads the sources (the repartition
    /// stage when there is one).
    pub join: Option<super::join::JoinInputs>,
}

/// The first stage of a query that re-keys its rows through an internal
/// (repartition) topic.
pub struct RepartitionStage {
    /// Decoding of the source's records.
    pub decode: DecodeStage,
    /// The operators up to the re-keying.
    pub operators: Vec<Box<dyn Operator>>,
    /// The schema of the rows written to the topic.
    pub output_schema: SchemaRef,
    /// The topic's columns and formats (its topic name set by the engine).
    pub topic_source: Source,
    /// Output columns forming the new key.
    pub key_columns: Vec<usize>,
    /// Output columns forming the value.
    pub value_columns: Vec<usize>,
    /// The output column with the event time, written as record time.
    pub time_column: usize,
}

/// Plans a SELECT over one stream.
pub fn plan_select(
    state: &SessionState,
    catalog: &Catalog,
    query: &Query,
    purpose: &Purpose,
    query_id: &str,
) -> Result<PlannedSelect> {
    if !query.joins.is_empty() {
        return super::join::plan_join(state, catalog, query, purpose, query_id);
    }
    let source = Arc::clone(
        catalog
            .require_source(&query.from.name)
            .map_err(|e| match e {
                Error::User { message, .. } => Error::user_at(message, query.from.location),
                other => other,
            })?,
    );
    let qualifier = query
        .from
        .alias
        .clone()
        .unwrap_or_else(|| source.name.clone());
    plan_over(state, source, qualifier, query, purpose, query_id)
}

/// Plans a SELECT over one source (or the rows of a join, as one source).
pub(super) fn plan_over(
    state: &SessionState,
    source: Arc<Source>,
    qualifier: String,
    query: &Query,
    purpose: &Purpose,
    query_id: &str,
) -> Result<PlannedSelect> {
    if query.window.is_some() && query.group_by.is_empty() {
        return Err(Error::user("WINDOW clause requires a GROUP BY clause."));
    }
    if query.having.is_some() && query.group_by.is_empty() {
        return Err(Error::user("HAVING requires a GROUP BY clause."));
    }
    if query.emit == Some(crate::sql::ast::Emit::Final) && query.window.is_none() {
        return Err(Error::user(
            "EMIT FINAL is only supported for windowed aggregations.",
        ));
    }
    let row_schema = source.row_schema();
    let df_schema = DFSchema::try_from_qualified_schema(table_ref(&qualifier), &row_schema)?;
    let persistent = matches!(purpose, Purpose::Persistent { .. });
    let (sink, new_planner) = match purpose {
        Purpose::Persistent {
            sink, new_planner, ..
        } => (Some(sink.as_str()), *new_planner),
        Purpose::Push => (None, false),
    };

    // 1. The projection: expand wildcards, name every item, find the key.
    if let Some(selection) = &query.selection {
        super::semantics::check_comparisons(state, "WHERE", selection, &df_schema)?;
    }
    if let Some(having) = &query.having {
        super::semantics::check_comparisons(state, "HAVING", having, &df_schema)?;
    }
    let mut items = expand_select(state, &source, &qualifier, &df_schema, query, persistent)?;
    if !query.group_by.is_empty() {
        return super::aggregate::plan_aggregate(super::aggregate::AggregateInput {
            state,
            source,
            qualifier,
            row_schema,
            df_schema,
            query,
            purpose,
            query_id,
            items,
        });
    }
    for item in &items {
        // Table functions are planned later; other errors are reported
        // where the item is planned.
        let Ok(e) = to_datafusion(state, &item.expr, &df_schema) else {
            continue;
        };
        if super::aggregate::first_aggregate(&e).is_some() {
            return Err(Error::user(format!(
                "{} statement does not support aggregate function [{}] without a GROUP BY \
                 clause.",
                if persistent {
                    "CREATE TABLE AS SELECT"
                } else {
                    "SELECT"
                },
                item.expr.to_string().to_uppercase()
            )));
        }
    }
    let over_table = source.kind == SourceKind::Table;
    // A query over a windowed source writes windowed keys too.
    let inherited_window = source.window.filter(|_| persistent && !repartitions(query));
    let key_positions = key_positions(&source, &items, query, sink, new_planner)?;
    table_functions::reject_nested(&items)?;
    let calls = table_functions::extract(&mut items)?;
    for (clause, e) in query
        .selection
        .iter()
        .map(|e| ("WHERE", e))
        .chain(query.partition_by.iter().map(|e| ("PARTITION BY", e)))
    {
        if let Some(f) = table_functions::find(e) {
            return Err(Error::user(format!(
                "Table function {f} can only be used in the SELECT list, not in {clause}: {e}"
            )));
        }
    }

    // 2. Scan and filter.
    let table = Arc::new(StreamTable(Arc::clone(&row_schema)));
    let mut builder = LogicalPlanBuilder::scan(table_ref(&qualifier), table, None)?;
    if over_table {
        builder = builder.filter(table_key_present(&source, &qualifier))?;
    }
    // Over a table, a row failing WHERE leaves the filtered table: it is
    // kept as `$KEEP = false` for the table filter after the projection.
    let mut keep: Option<DfExpr> = None;
    if let (Some(selection), true) = (&query.selection, over_table && persistent) {
        let predicate = to_datafusion(state, selection, &df_schema)?;
        keep = Some(datafusion::functions::core::expr_fn::coalesce(vec![
            predicate,
            lit(false),
        ]));
    } else if let Some(selection) = &query.selection {
        let predicate = to_datafusion(state, selection, &df_schema)?;
        let t = predicate.get_type(&df_schema)?;
        if t != DataType::Boolean && t != DataType::Null {
            return Err(Error::user(format!(
                "Type error in WHERE expression: Should evaluate to boolean but is {selection} \
                 ({}) instead.",
                SqlType::from_arrow(&t)
                    .map(|t| t.to_string())
                    .unwrap_or(t.to_string())
            )));
        }
        // A null row (null value) never passes a WHERE clause.
        builder = builder.filter(predicate.and(not(hidden(&qualifier, NULL_ROW))))?;
    } else if !persistent {
        // Push queries show no null rows; persistent ones pass them on.
        builder = builder.filter(not(hidden(&qualifier, NULL_ROW)))?;
    }

    // 3. Table functions: project the row and the lists, explode them, and
    // plan the projection over the exploded row.
    let mut operators: Vec<Box<dyn Operator>> = Vec::new();
    let mut logical_plan = String::new();
    let mut df_schema = df_schema;
    if !calls.is_empty() {
        let mut exprs: Vec<DfExpr> = row_schema
            .fields()
            .iter()
            .map(|f| hidden(&qualifier, f.name()))
            .collect();
        let mut fields: Vec<Field> = row_schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut lists = Vec::with_capacity(calls.len());
        for call in &calls {
            let planned = table_functions::plan_call(state, call, &df_schema)?;
            lists.push(exprs.len());
            exprs.push(planned.list.alias(call.column.clone()));
            fields.push(Field::new(&call.column, planned.element, true));
        }
        let plan = builder.project(exprs)?.build()?;
        let optimized = state.optimize(&plan)?;
        logical_plan = optimized.display_indent().to_string();
        operators.extend(boxed(lower_stateless(state, &optimized)?));
        let exploded = Arc::new(Schema::new(fields));
        operators.push(Box::new(Explode {
            lists,
            schema: Arc::clone(&exploded),
        }));
        df_schema = DFSchema::try_from_qualified_schema(table_ref(&qualifier), &exploded)?;
        builder =
            LogicalPlanBuilder::scan(table_ref(&qualifier), Arc::new(StreamTable(exploded)), None)?;
    }

    // 4. The projection: for a sink, keys first in key order, then values
    // (a source's schema); a push query keeps the order of its SELECT.
    let mut ordered: Vec<(usize, &SelectedItem)> = items.iter().enumerate().collect();
    if persistent {
        ordered.sort_by_key(|(i, _)| key_positions[*i].unwrap_or(usize::MAX));
    }
    let mut exprs: Vec<DfExpr> = Vec::with_capacity(items.len() + 2);
    let mut columns = Vec::with_capacity(items.len());
    for (i, item) in &ordered {
        let e = to_datafusion(state, &item.expr, &df_schema)?;
        let t = e.get_type(&df_schema)?;
        if t == DataType::Null {
            return Err(Error::user(
                "Can't infer a type of null. Please explicitly cast it to a required type, \
                 e.g. CAST(null AS VARCHAR).",
            ));
        }
        let sql_type = SqlType::from_arrow(&t)
            .map_err(|e| e.context(format!("Column {} has an unsupported type", item.name)))?;
        // ksqlDB cannot read the value columns of a null row: a new key
        // computed from them is null.
        let e = if key_positions[*i].is_some() && repartitions(query) {
            null_on_null_row(e, &source, &qualifier, &df_schema)?
        } else {
            e
        };
        exprs.push(e.alias(item.name.clone()));
        columns.push(OutputColumn {
            name: item.name.clone(),
            sql_type,
            is_key: key_positions[*i].is_some(),
        });
    }
    if persistent && !columns.iter().any(|c| !c.is_key) {
        return Err(Error::user("The projection contains no value columns."));
    }
    let mut plan = builder;
    if let Purpose::Persistent { timestamp, .. } = purpose {
        let record_time = hidden(&qualifier, RECORD_TIME);
        let null_row = hidden(&qualifier, NULL_ROW);
        let rowtime = match timestamp {
            None => record_time,
            Some(ts) => {
                let e = sink_timestamp(state, ts, &exprs, &columns, &df_schema)?;
                // Null rows keep their record time.
                when(null_row.clone(), record_time).otherwise(e)?
            }
        };
        exprs.push(rowtime.alias(ROWTIME_OUT));
        exprs.push(null_row.alias(NULL_ROW));
        exprs.push(hidden(&qualifier, RECORD_HEADERS).alias(RECORD_HEADERS));
        if inherited_window.is_some() {
            exprs.push(hidden(&qualifier, WINDOW_START).alias(WINDOW_START_OUT));
            exprs.push(hidden(&qualifier, WINDOW_END).alias(WINDOW_END_OUT));
        }
        if let Some(k) = &keep {
            exprs.push(k.clone().alias(KEEP));
        }
        plan = plan.project(exprs)?;
        if timestamp.is_some() {
            // A record whose timestamp is null, negative or unparseable is
            // dropped, as ksqlDB's timestamp extractor does.
            let ts = col(ROWTIME_OUT);
            plan = plan.filter(ts.clone().is_not_null().and(ts.gt_eq(lit(0i64))))?;
        }
    } else {
        plan = plan.project(exprs)?;
    }
    let plan = plan.build()?;
    let optimized = state.optimize(&plan)?;
    if !logical_plan.is_empty() {
        logical_plan.push('\n');
    }
    logical_plan.push_str(&optimized.display_indent().to_string());

    // 5. Lower to operators.
    operators.extend(boxed(lower_stateless(state, &optimized)?));
    if keep.is_some() {
        let n = columns.len();
        let schema: SchemaRef = Arc::new(optimized.schema().as_arrow().clone());
        let key_columns: Vec<usize> = (0..n).filter(|&i| columns[i].is_key).collect();
        let keep_column = if inherited_window.is_some() {
            n + 5
        } else {
            n + 3
        };
        let mut key_columns = key_columns;
        if inherited_window.is_some() {
            key_columns.extend([n + 3, n + 4]);
        }
        operators.push(Box::new(TableFilter::new(
            &schema,
            key_columns,
            keep_column,
            n + 1,
        )?));
    }

    let fields = output_fields(&columns, persistent, inherited_window.is_some());
    let output_schema = Arc::new(Schema::new(fields));
    let mut decode = decode_stage(state, &source, query_id)?;
    if persistent {
        // A push query's decoding is shared with other push queries
        // (`runtime::feed`): it decodes every column.
        decode_only_what_is_read(&mut decode, &operators, &source)?;
    }
    let columns_len = columns.len();
    Ok(PlannedSelect {
        source,
        decode,
        operators,
        columns,
        output_schema,
        repartitioned: !query.partition_by.is_empty(),
        limit: query.limit,
        logical_plan,
        window: inherited_window.map(|window| PlannedWindow {
            window,
            start_column: columns_len + 3,
            end_column: columns_len + 4,
            retention_ms: None,
        }),
        repartition: None,
        late_records: None,
        join: None,
    })
}

/// The fields of a query's output batches: its columns, then for a
/// persistent query the record time, the null-row flag, the headers and, for
/// a windowed result, the window bounds (the layout [`PlannedSelect`]
/// documents).
pub(super) fn output_fields(
    columns: &[OutputColumn],
    persistent: bool,
    windowed: bool,
) -> Vec<Field> {
    let mut fields: Vec<Field> = columns
        .iter()
        .map(|c| Field::new(&c.name, c.sql_type.to_arrow(), true))
        .collect();
    if persistent {
        fields.push(Field::new(ROWTIME_OUT, DataType::Int64, true));
        fields.push(Field::new(NULL_ROW, DataType::Boolean, true));
        fields.push(Field::new(
            RECORD_HEADERS,
            crate::catalog::source_headers_type().to_arrow(),
            true,
        ));
        if windowed {
            fields.push(Field::new(WINDOW_START_OUT, DataType::Int64, true));
            fields.push(Field::new(WINDOW_END_OUT, DataType::Int64, true));
        }
    }
    fields
}

/// True for rows of a table whose key is set: ksqlDB ignores table records
/// with a null key.
pub(super) fn table_key_present(source: &Source, qualifier: &str) -> DfExpr {
    source
        .key_columns()
        .map(|c| hidden(qualifier, &c.name).is_not_null())
        .reduce(DfExpr::and)
        .unwrap_or(lit(true))
}

/// `e`, or null on a null row when `e` reads a value column.
fn null_on_null_row(
    e: DfExpr,
    source: &Source,
    qualifier: &str,
    schema: &DFSchema,
) -> Result<DfExpr> {
    let reads_value = e.column_refs().iter().any(|c| {
        source
            .columns
            .iter()
            .any(|s| s.name == c.name && s.namespace == ColumnNamespace::Value)
    });
    if !reads_value {
        return Ok(e);
    }
    let t = e.get_type(schema)?;
    let null = lit(datafusion::common::ScalarValue::try_from(&t)?);
    Ok(when(hidden(qualifier, NULL_ROW), null).otherwise(e)?)
}

fn boxed(stages: Vec<FilterProject>) -> Vec<Box<dyn Operator>> {
    stages
        .into_iter()
        .map(|s| Box::new(s) as Box<dyn Operator>)
        .collect()
}

/// The record timestamp a sink's TIMESTAMP column gives, as epoch ms.
pub(super) fn sink_timestamp(
    state: &SessionState,
    ts: &TimestampColumn,
    exprs: &[DfExpr],
    columns: &[OutputColumn],
    df_schema: &DFSchema,
) -> Result<DfExpr> {
    let name = &ts.column;
    let pos = columns
        .iter()
        .position(|c| &c.name == name)
        .ok_or_else(|| {
            Error::user(format!(
                "The TIMESTAMP column set in the WITH clause does not exist in the schema: \
                 '{name}'"
            ))
        })?;
    let e = exprs[pos].clone().unalias();
    Ok(match (&columns[pos].sql_type, &ts.format) {
        (SqlType::Bigint, None) => e,
        (SqlType::Timestamp, None) => e.cast_to(&DataType::Int64, df_schema)?,
        (SqlType::String, Some(format)) => {
            string_to_timestamp(state, e, format)?.cast_to(&DataType::Int64, df_schema)?
        }
        (SqlType::String, None) => {
            return Err(Error::user(format!(
                "A TIMESTAMP_FORMAT is required for the STRING TIMESTAMP column '{name}'"
            )))
        }
        (other, _) => {
            return Err(Error::user(format!(
                "Timestamp column, `{name}`, should be LONG(INT64), TIMESTAMP, or a String with \
                 a timestamp_format specified. Got {other}"
            )))
        }
    })
}

/// `STRINGTOTIMESTAMP(e, format)`.
fn string_to_timestamp(state: &SessionState, e: DfExpr, format: &str) -> Result<DfExpr> {
    let udf = state.scalar_functions().get("stringtotimestamp").ok_or_else(|| {
        Error::internal("the STRINGTOTIMESTAMP function, which STRING TIMESTAMP columns need, is not registered")
    })?;
    Ok(udf.call(vec![e, lit(format.to_string())]))
}

/// The table DataFusion sees for a source: batches arrive from outside, so
/// no filter is pushed into the scan.
pub(super) struct StreamTable(pub(super) SchemaRef);

impl TableSource for StreamTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.0)
    }
}

/// The source's name or alias as written (DataFusion would lower-case an
/// unquoted name it parsed).
pub(super) fn table_ref(qualifier: &str) -> datafusion::common::TableReference {
    datafusion::common::TableReference::bare(qualifier.to_string())
}

/// A hidden column of the scanned row.
pub(super) fn hidden(qualifier: &str, name: &str) -> DfExpr {
    col(datafusion::common::Column::new(
        Some(table_ref(qualifier)),
        name,
    ))
}

/// Projection pushdown: when the first operator reads only some columns
/// of a JSON value, the value decoder is built for those (and the
/// TIMESTAMP column) alone. It still walks every payload (a payload that
/// is not JSON, or not an object, is still a deserialization error) but
/// skips the other members without converting or copying them; their
/// columns are null, and nothing reads them.
pub(super) fn decode_only_what_is_read(
    decode: &mut DecodeStage,
    operators: &[Box<dyn crate::runtime::operators::Operator>],
    source: &Source,
) -> Result<()> {
    if source.value_format.format != crate::format::Format::Json || source.window.is_some() {
        return Ok(());
    }
    let Some(read) = operators.first().and_then(|op| op.reads()) else {
        return Ok(());
    };
    let mut wanted: std::collections::HashSet<usize> = read.into_iter().collect();
    if let Some(ts) = &source.timestamp {
        if let Ok(i) = decode.schema.index_of(&ts.column) {
            wanted.insert(i);
        }
    }
    let values: Vec<(usize, usize)> = decode
        .layout
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            ColumnSource::Value(v) => Some((i, *v)),
            _ => None,
        })
        .collect();
    let kept: Vec<(usize, usize)> = values
        .iter()
        .filter(|(i, _)| wanted.contains(i))
        .copied()
        .collect();
    // Nothing read from the value: still decode it all, so that a value
    // that does not decode is reported as before.
    if kept.is_empty() || kept.len() == values.len() {
        return Ok(());
    }
    let all = source.value_schema();
    let narrowed = Schema::new(
        kept.iter()
            .map(|&(_, v)| all.field(v).clone())
            .collect::<Vec<_>>(),
    );
    // The full value has several columns: its payloads are objects.
    let spec = crate::format::FormatSpec {
        wrap_single_value: Some(true),
        ..source.value_format.clone()
    };
    decode.value = registry::decoder(&spec, Part::Value, Arc::new(narrowed))?;
    for &(i, _) in &values {
        decode.layout[i] = ColumnSource::Unread;
    }
    for (n, &(i, _)) in kept.iter().enumerate() {
        decode.layout[i] = ColumnSource::Value(n);
    }
    Ok(())
}

/// The decode stage of a source: its key and value decoders and where each
/// row column comes from.
pub fn decode_stage(state: &SessionState, source: &Source, query_id: &str) -> Result<DecodeStage> {
    let key = registry::decoder(&source.key_format, Part::Key, source.key_schema())?;
    let value = registry::decoder(&source.value_format, Part::Value, source.value_schema())?;
    let (mut k, mut v) = (0, 0);
    let mut layout: Vec<ColumnSource> = source
        .columns
        .iter()
        .map(|c| match &c.namespace {
            ColumnNamespace::Key => {
                k += 1;
                ColumnSource::Key(k - 1)
            }
            ColumnNamespace::Value => {
                v += 1;
                ColumnSource::Value(v - 1)
            }
            ColumnNamespace::Header(None) => ColumnSource::Headers,
            ColumnNamespace::Header(Some(h)) => ColumnSource::Header(h.clone()),
        })
        .collect();
    layout.extend([
        ColumnSource::RowTime,
        ColumnSource::RowPartition,
        ColumnSource::RowOffset,
        ColumnSource::RecordTime,
        ColumnSource::NullRow,
        ColumnSource::RecordHeaders,
    ]);
    let schema = source.row_schema();
    let timestamp = match &source.timestamp {
        None => None,
        Some(ts) => {
            let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
            let column = col(datafusion::common::Column::new_unqualified(&ts.column));
            let expr = match &ts.format {
                None => column.cast_to(&DataType::Int64, &df_schema)?,
                Some(fmt) => string_to_timestamp(state, column, fmt)?
                    .cast_to(&DataType::Int64, &df_schema)?,
            };
            Some(state.create_physical_expr(expr, &df_schema)?)
        }
    };
    Ok(DecodeStage {
        query_id: query_id.to_string(),
        key,
        value,
        layout,
        schema,
        timestamp,
        // Null rows flow on: a stream's keep their key, a table's are
        // deletes.
        drop_null_values: false,
        window: crate::runtime::decode::KeyWindow::of(source),
    })
}
