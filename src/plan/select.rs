//! SELECT planning: a ksqlDB query over one stream becomes a DataFusion
//! logical plan (scan → filter → projection), optimized by DataFusion, then
//! lowered to streaming operators evaluated per batch.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::execution::SessionState;
use datafusion::functions::core::expr_fn::coalesce;
use datafusion::logical_expr::{
    col, lit, not, Expr as DfExpr, ExprSchemable, LogicalPlan, LogicalPlanBuilder, TableSource,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::sql::sqlparser::ast::{Expr, Ident, Value};

use super::expr::{column_ref, implicit_name, to_datafusion};
use crate::catalog::{Catalog, ColumnNamespace, Source, NULL_ROW, RECORD_TIME};
use crate::error::{Error, Result};
use crate::format::{registry, Part};
use crate::runtime::decode::{ColumnSource, DecodeStage};
use crate::runtime::operators::stateless::FilterProject;
use crate::runtime::operators::Operator;
use crate::sql::ast::{Query, SelectItem, SourceKind};
use crate::types::SqlType;

/// Name of the internal column carrying the output record timestamp.
pub const ROWTIME_OUT: &str = "$ROWTIME";

/// What the SELECT is for.
#[derive(Debug, Clone)]
pub enum Purpose {
    /// A persistent query writing `sink`; `timestamp` names the output
    /// column whose value becomes the record timestamp.
    Persistent {
        /// The sink name, for messages.
        sink: String,
        /// The sink's TIMESTAMP column, if any.
        timestamp: Option<String>,
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
    /// Output columns: keys first, then values.
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
        return Err(Error::user_at(
            "JOIN is not supported by sluice yet",
            query.from.location,
        ));
    }
    if query.window.is_some() {
        return Err(Error::user("WINDOW is not supported by sluice yet"));
    }
    if !query.group_by.is_empty() || query.having.is_some() {
        return Err(Error::user(
            "GROUP BY and HAVING are not supported by sluice yet",
        ));
    }
    let source = Arc::clone(
        catalog
            .require_source(&query.from.name)
            .map_err(|e| match e {
                Error::User { message, .. } => Error::user_at(message, query.from.location),
                other => other,
            })?,
    );
    if source.kind == SourceKind::Table && matches!(purpose, Purpose::Persistent { .. }) {
        return Err(Error::user(
            "Queries over tables (CREATE TABLE AS SELECT / changelog processing) are not \
             supported by sluice yet",
        ));
    }
    let qualifier = query
        .from
        .alias
        .clone()
        .unwrap_or_else(|| source.name.clone());
    let row_schema = source.row_schema();
    let df_schema = DFSchema::try_from_qualified_schema(qualifier.as_str(), &row_schema)?;

    // 1. The projection: expand wildcards and name every item.
    let items = expand_select(state, &source, &qualifier, &df_schema, query)?;

    // 2. Which output columns are the key.
    let persistent = matches!(purpose, Purpose::Persistent { .. });
    let key_flags = key_columns(&source, &items, query, purpose)?;

    // 3. Build the DataFusion plan.
    let table = Arc::new(StreamTable(Arc::clone(&row_schema)));
    let mut builder = LogicalPlanBuilder::scan(qualifier.as_str(), table, None)?;
    if let Some(selection) = &query.selection {
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
    let mut ordered: Vec<(usize, &SelectedItem)> = items.iter().enumerate().collect();
    ordered.sort_by_key(|(i, _)| !key_flags[*i]);
    let mut exprs: Vec<DfExpr> = Vec::with_capacity(items.len() + 1);
    let mut columns = Vec::with_capacity(items.len());
    for (i, item) in &ordered {
        let e = to_datafusion(state, &item.expr, &df_schema)?;
        let t = e.get_type(&df_schema)?;
        let sql_type = if t == DataType::Null {
            SqlType::String
        } else {
            SqlType::from_arrow(&t)
                .map_err(|e| e.context(format!("Column {} has an unsupported type", item.name)))?
        };
        let e = if t == DataType::Null {
            e.cast_to(&DataType::Utf8, &df_schema)?
        } else {
            e
        };
        exprs.push(e.alias(item.name.clone()));
        columns.push(OutputColumn {
            name: item.name.clone(),
            sql_type,
            is_key: key_flags[*i],
        });
    }
    if persistent && !columns.iter().any(|c| !c.is_key) {
        return Err(Error::user("The projection contains no value columns."));
    }
    if let Purpose::Persistent { timestamp, .. } = purpose {
        let record_time = hidden(&qualifier, RECORD_TIME);
        let rowtime = match timestamp {
            None => record_time,
            Some(name) => {
                let pos = ordered
                    .iter()
                    .position(|(_, it)| &it.name == name)
                    .ok_or_else(|| {
                        Error::user(format!(
                            "The TIMESTAMP column set in the WITH clause does not exist in the \
                         schema: '{name}'"
                        ))
                    })?;
                let e = exprs[pos].clone().unalias();
                let e = match &columns[pos].sql_type {
                    SqlType::Bigint => e,
                    SqlType::Timestamp => e.cast_to(&DataType::Int64, &df_schema)?,
                    other => {
                        return Err(Error::user(format!(
                            "Timestamp column, `{name}`, should be LONG(INT64) or TIMESTAMP. \
                             Got {other}"
                        )))
                    }
                };
                // Null rows keep their record time.
                coalesce(vec![e, record_time])
            }
        };
        exprs.push(rowtime.alias(ROWTIME_OUT));
        exprs.push(hidden(&qualifier, NULL_ROW).alias(NULL_ROW));
    }
    let plan = builder.project(exprs)?.build()?;
    let optimized = state.optimize(&plan)?;
    let logical_plan = optimized.display_indent().to_string();

    // 4. Lower to operators.
    let mut stages = Vec::new();
    lower(state, &optimized, &mut stages)?;
    let operators = fuse(stages)
        .into_iter()
        .map(|s| Box::new(s) as Box<dyn Operator>)
        .collect();

    let mut fields: Vec<Field> = columns
        .iter()
        .map(|c| Field::new(&c.name, c.sql_type.to_arrow(), true))
        .collect();
    if persistent {
        fields.push(Field::new(ROWTIME_OUT, DataType::Int64, true));
        fields.push(Field::new(NULL_ROW, DataType::Boolean, true));
    }
    let output_schema = Arc::new(Schema::new(fields));
    let decode = decode_stage(state, &source, query_id)?;
    Ok(PlannedSelect {
        source,
        decode,
        operators,
        columns,
        output_schema,
        repartitioned: !query.partition_by.is_empty(),
        limit: query.limit,
        logical_plan,
    })
}

/// The table DataFusion sees for a source: batches arrive from outside, so
/// no filter is pushed into the scan.
struct StreamTable(SchemaRef);

impl TableSource for StreamTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.0)
    }
}

/// A hidden column of the scanned row.
fn hidden(qualifier: &str, name: &str) -> DfExpr {
    col(datafusion::common::Column::new(Some(qualifier), name))
}

/// One named item of the projection.
struct SelectedItem {
    expr: Expr,
    name: String,
}

fn expand_select(
    state: &SessionState,
    source: &Source,
    qualifier: &str,
    df_schema: &DFSchema,
    query: &Query,
) -> Result<Vec<SelectedItem>> {
    let all_columns = |items: &mut Vec<(Expr, Option<String>)>| {
        for c in &source.columns {
            items.push((
                Expr::Identifier(Ident::with_quote('`', c.name.clone())),
                Some(c.name.clone()),
            ));
        }
    };
    let mut raw: Vec<(Expr, Option<String>)> = Vec::new();
    for item in &query.select {
        match item {
            SelectItem::Wildcard => all_columns(&mut raw),
            SelectItem::QualifiedWildcard(q) => {
                if q != qualifier && q != &source.name {
                    return Err(Error::user(format!(
                        "'{q}' is not a valid stream/table name or alias."
                    )));
                }
                all_columns(&mut raw)
            }
            SelectItem::StructWildcard(e) => {
                let planned = to_datafusion(state, e, df_schema)?;
                let DataType::Struct(fields) = planned.get_type(df_schema)? else {
                    return Err(Error::user(format!(
                        "'{e}' is not a STRUCT: it has no fields to select with ->*"
                    )));
                };
                for f in fields.iter() {
                    raw.push((
                        Expr::BinaryOp {
                            left: Box::new(e.clone()),
                            op: datafusion::sql::sqlparser::ast::BinaryOperator::Arrow,
                            right: Box::new(Expr::Identifier(Ident::with_quote(
                                '`',
                                f.name().clone(),
                            ))),
                        },
                        Some(f.name().clone()),
                    ));
                }
            }
            SelectItem::Expr {
                expr,
                alias,
                location,
            } => {
                if let Some(a) = alias {
                    if crate::catalog::PSEUDO_COLUMNS.iter().any(|(p, _)| p == a)
                        || a == "WINDOWSTART"
                        || a == "WINDOWEND"
                    {
                        return Err(Error::user_at(
                            format!("`{a}` is a reserved column name. You cannot use it as an alias for a column."),
                            *location,
                        ));
                    }
                }
                raw.push((expr.clone(), alias.clone().or_else(|| implicit_name(expr))));
            }
        }
    }
    // Generated names skip every name already taken.
    let mut taken: HashSet<String> = raw.iter().filter_map(|(_, n)| n.clone()).collect();
    let mut next = 0usize;
    let mut items = Vec::with_capacity(raw.len());
    let mut seen = HashSet::new();
    for (expr, name) in raw {
        let name = match name {
            Some(n) => n,
            None => loop {
                let candidate = format!("KSQL_COL_{next}");
                next += 1;
                if taken.insert(candidate.clone()) {
                    break candidate;
                }
            },
        };
        if !seen.insert(name.clone()) {
            return Err(Error::user(format!(
                "Duplicate value columns found in schema: `{name}`. \
                 Use an alias (AS) to give the columns distinct names."
            )));
        }
        items.push(SelectedItem { expr, name });
    }
    Ok(items)
}

/// Marks which projected items become key columns of the output.
fn key_columns(
    source: &Source,
    items: &[SelectedItem],
    query: &Query,
    purpose: &Purpose,
) -> Result<Vec<bool>> {
    let mut flags = vec![false; items.len()];
    let sink = match purpose {
        Purpose::Persistent { sink, .. } => Some(sink.as_str()),
        Purpose::Push => None,
    };
    if query.partition_by.is_empty() {
        for key in source.key_columns() {
            let found = items
                .iter()
                .position(|it| column_ref(&it.expr) == Some(key.name.as_str()));
            match (found, sink) {
                (Some(i), _) => flags[i] = true,
                (None, Some(sink)) => {
                    return Err(Error::user(format!(
                        "The query used to build `{sink}` must include the key column {} in \
                         its projection (eg, SELECT {}...).",
                        key.name, key.name
                    )))
                }
                (None, None) => {}
            }
        }
        return Ok(flags);
    }
    if let [Expr::Value(v)] = query.partition_by.as_slice() {
        if matches!(v.value, Value::Null) {
            return Ok(flags);
        }
    }
    for p in &query.partition_by {
        let found = items.iter().position(|it| {
            &it.expr == p
                || matches!((column_ref(&it.expr), column_ref(p)), (Some(a), Some(b)) if a == b)
        });
        match (found, sink) {
            (Some(i), _) => flags[i] = true,
            (None, Some(sink)) => {
                return Err(Error::user(format!(
                    "The query used to build `{sink}` must include the partitioning expression \
                     {p} in its projection (eg, SELECT {p}...)."
                )))
            }
            (None, None) => {}
        }
    }
    Ok(flags)
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
    ]);
    let schema = source.row_schema();
    let timestamp = match &source.timestamp {
        None => None,
        Some(ts) => {
            let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
            let column = col(datafusion::common::Column::new_unqualified(&ts.column));
            let expr = match &ts.format {
                None => column.cast_to(&DataType::Int64, &df_schema)?,
                Some(fmt) => {
                    let udf = state.scalar_functions().get("stringtotimestamp").ok_or_else(|| {
                        Error::user("STRING TIMESTAMP columns need the STRINGTOTIMESTAMP function, which is not available")
                    })?;
                    udf.call(vec![column, lit(fmt.clone())])
                        .cast_to(&DataType::Int64, &df_schema)?
                }
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
        // Streams pass null rows on; tables treat them as deletes, which
        // their (not yet supported) operators would handle.
        drop_null_values: source.kind == SourceKind::Table,
    })
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
