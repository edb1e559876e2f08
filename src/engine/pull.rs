//! Pull queries: `SELECT … FROM source [WHERE …] [LIMIT n]` without
//! `EMIT`, answered once from what exists now.
//!
//! * On a TABLE, the answer comes from the table's materialized state
//!   ([`Materialized`]), kept by the persistent query that writes it (a
//!   `CREATE TABLE … AS SELECT`) or by the internal query a
//!   `CREATE SOURCE TABLE` starts. A table declared with plain
//!   `CREATE TABLE` has none and is not queryable, as in ksqlDB. The WHERE
//!   clause picks how the state is read — some keys, a range of the first
//!   key column, or a scan ([`constraints`]) — then the query's filter and
//!   projection, planned as for a push query, run over the rows read.
//! * On a STREAM, the topic is read from the beginning until the reader
//!   has caught up with its end, through the push query's pipeline.
//!
//! The result is an [`Outcome::Pull`]: ksqlDB's header (key columns marked
//! `KEY` for tables), the rows, and for streams a final message.

mod constraints;

use std::ops::{Bound, ControlFlow};
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, BooleanArray, Int64Array};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::sql::sqlparser::ast::{self as sql, Expr, Ident};
use tokio_util::sync::CancellationToken;

use self::constraints::{Access, ScanOptions};
use super::outcome::{Outcome, PullResult};
use super::{Engine, RunningQuery};
use crate::catalog::{
    Catalog, ColumnNamespace, Source, NULL_ROW, RECORD_TIME, WINDOW_END, WINDOW_START,
};
use crate::config::Session;
use crate::error::{Error, Location, Result};
use crate::plan::select::{plan_select, OutputColumn, PlannedSelect, Purpose};
use crate::runtime::io::{ReaderSpec, StartFrom};
use crate::runtime::materialized::{
    KeyRange, Materialized, Selection, StoreLayout, StoreWindow, ROWTIME_COLUMN, WINDOW_END_COLUMN,
    WINDOW_START_COLUMN,
};
use crate::runtime::operators::OperatorContext;
use crate::runtime::pipeline::Pipeline;
use crate::runtime::processing_log::ProcessingLog;
use crate::runtime::task::{QuerySink, QueryStatus, QueryTask};
use crate::sql::ast::{Emit, Query, Relation, SelectItem, SourceKind};
use crate::sql::properties::WindowType;

/// What ksqlDB appends to the rejection of a clause pull queries lack.
const PUSH_HINT: &str =
    " See https://cnfl.io/queries for more info.\nAdd EMIT CHANGES if you intended to issue a \
     push query.";

/// The id of the internal query that materializes the source table
/// `table`.
pub(super) fn source_table_query_id(table: &str) -> String {
    format!("CST_{table}")
}

/// A store for the TABLE `table`, fed the output batches of `planned` (a
/// persistent query's: its columns, `$ROWTIME`, `$NULLROW`, `$HEADERS`,
/// and the window bounds of a windowed table).
pub(super) fn store_for(table: &str, planned: &PlannedSelect) -> Result<Arc<Materialized>> {
    let n = planned.columns.len();
    let layout = StoreLayout {
        key_columns: (0..n).filter(|&i| planned.columns[i].is_key).collect(),
        value_columns: (0..n).filter(|&i| !planned.columns[i].is_key).collect(),
        rowtime_column: n,
        null_row_column: n + 1,
        window: planned.window.map(|w| StoreWindow {
            start_column: w.start_column,
            end_column: w.end_column,
            session: w.window.kind == WindowType::Session,
            retention_ms: w.retention_ms.unwrap_or_else(|| {
                w.window
                    .size_ms
                    .unwrap_or(0)
                    .saturating_add(crate::plan::aggregate::DEFAULT_GRACE_MS)
            }),
        }),
    };
    Materialized::new(table, &planned.output_schema, layout)
}

fn flag(engine: &Engine, session: &Session, name: &str, default: bool) -> bool {
    session
        .property(&engine.config, name)
        .map_or(default, |v| v.trim().eq_ignore_ascii_case("true"))
}

impl Engine {
    /// Starts the internal query that materializes the source table `name`
    /// (already in `catalog`): it reads the table's topic from the
    /// beginning, writes no topic, and is stopped when the table is
    /// dropped. Returns its id and the running query.
    pub(super) fn materialize_source_table(
        &self,
        catalog: &Catalog,
        name: &str,
    ) -> Result<(String, RunningQuery)> {
        let id = source_table_query_id(name);
        let query = select_all(name);
        let purpose = Purpose::Persistent {
            sink: name.to_string(),
            timestamp: None,
            new_planner: false,
        };
        let planned = plan_select(&self.session_state, catalog, &query, &purpose, &id)?;
        let store = store_for(name, &planned)?;
        let reader = self.broker.reader(&ReaderSpec {
            topic: planned.source.topic.clone(),
            group_id: None,
            start: StartFrom::Earliest,
            with_headers: has_headers(&planned.source),
            also: Vec::new(),
        })?;
        let pipeline = Pipeline::new(
            &id.clone(),
            planned.decode,
            planned.operators,
            planned.output_schema,
        );
        let mut plan = pipeline.describe();
        plan.push(format!("Materialize: the state of table {name}"));
        let status = Arc::new(QueryStatus::default());
        let task = QueryTask {
            txn: None,
            reader,
            pipeline,
            sink: QuerySink::Materialize {
                store: Arc::clone(&store),
                then: None,
            },
            // Records it cannot read are reported by the queries that read
            // the table, not twice.
            log: ProcessingLog::new(None),
            settings: self.config.task,
            status: Arc::clone(&status),
            state: None,
        };
        let cancel = CancellationToken::new();
        let handle = tokio::spawn(task.run(cancel.clone()));
        Ok((
            id,
            RunningQuery {
                cancel,
                handle: Some(handle),
                status,
                upstream: Vec::new(),
                late_records: None,
                plan,
                materialized: Some(store),
                pin: None,
                key_route: None,
            },
        ))
    }

    /// Runs a pull query (a SELECT without EMIT).
    pub(super) async fn pull_query(
        &self,
        session: &Session,
        query: &Query,
        text: &str,
    ) -> Result<Outcome> {
        reject_clauses(query)?;
        if query.limit.is_some()
            && !flag(self, session, "ksql.query.pull.limit.clause.enabled", true)
        {
            return Err(Error::user(format!(
                "LIMIT clause in pull queries is currently disabled. You can enable them by \
                 setting ksql.query.pull.limit.clause.enabled=true.{PUSH_HINT}"
            )));
        }
        let mut state = self.state.lock().await;
        let source = Arc::clone(state.catalog.require_source(&query.from.name).map_err(
            |e| match e {
                Error::User { message, .. } => Error::user_at(message, query.from.location),
                other => other,
            },
        )?);
        reject_pseudo_columns(query)?;
        if let Some(selection) = &query.selection {
            constraints::check_types(selection, &source)?;
        }
        state.transient += 1;
        let id = format!("transient_{}_{}", source.name, state.transient);
        if source.kind == SourceKind::Stream {
            let planned = plan_select(
                &self.session_state,
                &state.catalog,
                query,
                &Purpose::Push,
                &id,
            )?;
            drop(state);
            return self.pull_stream(id, planned, query.limit).await;
        }
        let owner_entry = state.queries.iter().find(|(_, q)| {
            q.materialized
                .as_ref()
                .is_some_and(|m| m.table() == source.name)
        });
        let owner = owner_entry.map(|(_, q)| q);
        let owner_status = owner_entry.map(|(id, q)| (Arc::clone(&q.status), id.clone()));
        if let Some(q) = owner {
            if !q.status.ready.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(Error::user(format!(
                    "The `{}` table is not ready for pull queries yet: its state is being \
                     restored from its changelog{}. Try again shortly.",
                    source.name,
                    q.status
                        .error()
                        .map(|e| format!(" (the query reports: {e})"))
                        .unwrap_or_default()
                )));
            }
        }
        let store = owner.and_then(|q| q.materialized.clone()).ok_or_else(|| {
            let name = &source.name;
            Error::user(format!(
                "The `{name}` table isn't queryable. To derive a queryable table, you can \
                     do 'CREATE TABLE QUERYABLE_{name} AS SELECT * FROM {name}'. See \
                     https://cnfl.io/queries for more info."
            ))
        })?;
        let options = ScanOptions {
            table_scan: flag(self, session, "ksql.query.pull.table.scan.enabled", true),
            range_scan: flag(self, session, "ksql.query.pull.range.scan.enabled", true),
        };
        let access = constraints::access(query.selection.as_ref(), &source, options)?;
        // A lookup whose WHERE names exactly the keys needs no filter after
        // the store read: its plan (the projection) is the same for every
        // key and is planned once per statement shape.
        let selection = self.selection(&access, &source, &store)?;
        let exact = source.window.is_none()
            && matches!(selection, Selection::Keys(_))
            && query
                .selection
                .as_ref()
                .is_some_and(|w| exact_key_lookup(w, &source));
        let planned = if exact {
            self.lookup_plan(&state.catalog, query, &source, &id)?
        } else {
            let rewritten = with_window_columns(query, &source);
            let planned = plan_select(
                &self.session_state,
                &state.catalog,
                &rewritten,
                &Purpose::Push,
                &id,
            )?;
            LookupPlan {
                operators: planned.operators,
                columns: planned.columns,
                row_schema: planned.decode.schema,
            }
        };
        drop(state);

        // Which partitions this server answers for, and who answers for
        // the others (servers of one service split a table's partitions).
        let (local, remote) = match (&session.partitions, &owner_status) {
            (Some(asked), Some((status, _))) => {
                let mine = status.assigned();
                if let Some(p) = asked
                    .iter()
                    .find(|p| mine.as_ref().is_some_and(|m| !m.contains(p)))
                {
                    return Err(Error::user(format!(
                        "This server no longer reads partition {p} of the `{}` table (the \
                         servers are handing partitions over). Try again shortly.",
                        source.name
                    )));
                }
                (Some(asked.clone()), Vec::new())
            }
            (None, Some((status, query_id))) => {
                let keys = match &selection {
                    Selection::Keys(columns) => Some(columns.as_slice()),
                    _ => None,
                };
                self.pull_owners(&source.name, query_id, status, keys)
                    .await?
            }
            _ => (None, Vec::new()),
        };
        let forwarded = super::cluster::forward_pull(
            text,
            &session.properties,
            session.authorization.as_deref(),
            remote,
        );

        // Without WHERE every row read is a row of the answer (rows with a
        // null key aside, which the store does not keep).
        let read_limit = query
            .limit
            .filter(|_| query.selection.is_none())
            .map(|l| usize::try_from(l).unwrap_or(usize::MAX));
        let stored = store.read_in(&selection, read_limit, local.as_deref())?;
        let input = row_batch(&planned.row_schema, &stored)?;
        let log = ProcessingLog::new(None);
        let ctx = OperatorContext {
            query_id: &id,
            log: &log,
            topic: None,
        };
        let mut rows = vec![input];
        let mut operators = planned.operators;
        for op in operators.iter_mut() {
            let mut next = Vec::with_capacity(rows.len());
            for b in rows {
                op.process(b, &ctx, &mut next)?;
            }
            rows = next;
        }
        rows.extend(forwarded.await?);
        let rows = limited(rows, query.limit);
        let windowed = source.window.is_some();
        let columns = planned
            .columns
            .into_iter()
            .map(|c| OutputColumn {
                is_key: c.is_key || (windowed && (c.name == WINDOW_START || c.name == WINDOW_END)),
                ..c
            })
            .collect();
        Ok(Outcome::Pull(PullResult {
            id,
            columns,
            rows,
            final_message: None,
        }))
    }

    /// The plan of a key lookup on `source` (its WHERE left out: the store
    /// read does its work), from the cache when this statement shape was
    /// planned before against the same declaration of the source.
    fn lookup_plan(
        &self,
        catalog: &Catalog,
        query: &Query,
        source: &Arc<Source>,
        id: &str,
    ) -> Result<LookupPlan> {
        let shape = format!(
            "{}\u{0}{:?}\u{0}{:?}",
            source.name, query.select, query.from.alias
        );
        let mut cache = self
            .lookup_plans
            .lock()
            .map_err(|_| Error::internal("the lookup plan cache is poisoned"))?;
        if let Some(cached) = cache.get(&shape).filter(|c| Arc::ptr_eq(&c.source, source)) {
            return Ok(LookupPlan {
                operators: cached
                    .plan
                    .operators
                    .iter()
                    .map(|op| op.fork())
                    .collect::<Result<_>>()?,
                columns: cached.plan.columns.clone(),
                row_schema: Arc::clone(&cached.plan.row_schema),
            });
        }
        let mut unfiltered = query.clone();
        unfiltered.selection = None;
        let planned = plan_select(
            &self.session_state,
            catalog,
            &unfiltered,
            &Purpose::Push,
            id,
        )?;
        let plan = LookupPlan {
            operators: planned.operators,
            columns: planned.columns,
            row_schema: planned.decode.schema,
        };
        if cache.len() >= LOOKUP_PLANS {
            cache.clear();
        }
        let fresh = LookupPlan {
            operators: plan
                .operators
                .iter()
                .map(|op| op.fork())
                .collect::<Result<_>>()?,
            columns: plan.columns.clone(),
            row_schema: Arc::clone(&plan.row_schema),
        };
        cache.insert(
            shape,
            CachedLookup {
                source: Arc::clone(source),
                plan,
            },
        );
        Ok(fresh)
    }

    /// A pull query on a stream: its topic from the beginning to where the
    /// reader caught up with the end.
    async fn pull_stream(
        &self,
        id: String,
        planned: PlannedSelect,
        limit: Option<u64>,
    ) -> Result<Outcome> {
        let mut reader = self.broker.reader(&ReaderSpec {
            topic: planned.source.topic.clone(),
            group_id: None,
            start: StartFrom::Earliest,
            with_headers: has_headers(&planned.source),
            also: Vec::new(),
        })?;
        let columns: Vec<OutputColumn> = planned
            .columns
            .iter()
            .map(|c| OutputColumn {
                is_key: false,
                ..c.clone()
            })
            .collect();
        let mut pipeline = Pipeline::new(
            &id.clone(),
            planned.decode,
            planned.operators,
            planned.output_schema,
        );
        let log = ProcessingLog::new(None);
        let mut rows = Vec::new();
        let mut count = 0u64;
        let mut done = limit == Some(0);
        while !done {
            let raw = reader
                .poll(self.config.task.max_batch, self.config.task.poll_wait)
                .await?;
            if raw.is_empty() {
                if reader.caught_up() {
                    break;
                }
                continue;
            }
            for mut b in pipeline.process(&raw, &log)? {
                if let Some(l) = limit {
                    let room = usize::try_from(l.saturating_sub(count)).unwrap_or(usize::MAX);
                    if b.num_rows() >= room {
                        b = b.slice(0, room);
                        done = true;
                    }
                }
                count += b.num_rows() as u64;
                if b.num_rows() > 0 {
                    rows.push(b);
                }
                if done {
                    break;
                }
            }
        }
        let final_message = if limit.is_some_and(|l| count >= l) {
            "Limit Reached"
        } else {
            "Query Completed"
        };
        Ok(Outcome::Pull(PullResult {
            id,
            columns,
            rows,
            final_message: Some(final_message),
        }))
    }

    /// The store read for `access`: its constant expressions evaluated and
    /// cast to the key columns' types. A key that cannot be cast falls
    /// back to a scan (the WHERE clause still decides).
    fn selection(
        &self,
        access: &Access<'_>,
        source: &Source,
        store: &Materialized,
    ) -> Result<Selection> {
        let types = store.key_types();
        let evaluate = |e: &Expr, t: &DataType| -> Result<Option<ArrayRef>> {
            let value = match plain_literal(e) {
                Some(v) => v,
                None => self.evaluate_constant(e)?,
            };
            // A value the cast turns into null did not convert.
            Ok(arrow::compute::cast(&value, t)
                .ok()
                .filter(|v| v.len() == 1 && v.logical_null_count() == value.logical_null_count()))
        };
        match access {
            Access::Scan => Ok(Selection::All),
            Access::Keys(tuples) => {
                let mut columns: Vec<Vec<ArrayRef>> = vec![Vec::new(); types.len()];
                let names: Vec<&str> = source.key_columns().map(|c| c.name.as_str()).collect();
                for tuple in tuples {
                    for (j, (e, t)) in tuple.iter().zip(types).enumerate() {
                        let Some(value) = evaluate(e, t)? else {
                            return Ok(Selection::All);
                        };
                        if value.is_null(0) {
                            return Err(Error::user(format!(
                                "Primary key columns can not be NULL: ({} = null)",
                                names.get(j).copied().unwrap_or_default()
                            )));
                        }
                        columns[j].push(value);
                    }
                }
                let columns = columns
                    .iter()
                    .map(|parts| {
                        let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
                        arrow::compute::concat(&refs)
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                Ok(Selection::Keys(columns))
            }
            Access::Range { lower, upper } => {
                let Some(t) = types.first() else {
                    return Ok(Selection::All);
                };
                let bound = |b: &Bound<&Expr>| -> Result<Option<Bound<ArrayRef>>> {
                    Ok(match b {
                        Bound::Unbounded => Some(Bound::Unbounded),
                        Bound::Included(e) => evaluate(e, t)?.map(Bound::Included),
                        Bound::Excluded(e) => evaluate(e, t)?.map(Bound::Excluded),
                    })
                };
                match (bound(lower)?, bound(upper)?) {
                    (Some(lower), Some(upper)) => Ok(Selection::Range(KeyRange { lower, upper })),
                    _ => Ok(Selection::All),
                }
            }
        }
    }
}

/// ksqlDB's rejections of clauses pull queries do not have.
fn reject_clauses(query: &Query) -> Result<()> {
    let clause = if !query.joins.is_empty() {
        "JOIN"
    } else if query.window.is_some() {
        "WINDOW"
    } else if !query.group_by.is_empty() {
        "GROUP BY"
    } else if query.having.is_some() {
        "HAVING"
    } else if !query.partition_by.is_empty() {
        "PARTITION BY"
    } else {
        return Ok(());
    };
    Err(Error::user(format!(
        "Pull queries don't support {clause} clauses.{PUSH_HINT}"
    )))
}

/// ROWPARTITION and ROWOFFSET have no meaning for a pull query.
fn reject_pseudo_columns(query: &Query) -> Result<()> {
    let select: Vec<&Expr> = query
        .select
        .iter()
        .filter_map(|item| match item {
            SelectItem::Expr { expr, .. } | SelectItem::StructWildcard(expr) => Some(expr),
            SelectItem::Wildcard | SelectItem::QualifiedWildcard(_) => None,
        })
        .collect();
    let clauses: [(&str, Vec<&Expr>); 2] = [
        ("SELECT", select),
        ("WHERE", query.selection.iter().collect()),
    ];
    for (clause, exprs) in clauses {
        let mut found: Vec<String> = Vec::new();
        for e in exprs {
            let _ = sql::visit_expressions(e, |x| {
                let name = match x {
                    Expr::Identifier(id) => Some(id.value.as_str()),
                    Expr::CompoundIdentifier(ids) => ids.last().map(|i| i.value.as_str()),
                    _ => None,
                };
                if let Some(n) = name.filter(|n| *n == "ROWPARTITION" || *n == "ROWOFFSET") {
                    if !found.iter().any(|f| f == n) {
                        found.push(n.to_string());
                    }
                }
                ControlFlow::<()>::Continue(())
            });
        }
        if !found.is_empty() {
            return Err(Error::user(format!(
                "Pull queries don't support the following columns in {clause} clauses: {}",
                found
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(())
}

/// `SELECT * FROM name EMIT CHANGES`.
fn select_all(name: &str) -> Query {
    Query {
        select: vec![SelectItem::Wildcard],
        from: Relation {
            name: name.to_string(),
            alias: None,
            location: Location::default(),
        },
        joins: Vec::new(),
        window: None,
        selection: None,
        group_by: Vec::new(),
        partition_by: Vec::new(),
        having: None,
        emit: Some(Emit::Changes),
        limit: None,
        location: Location::default(),
    }
}

/// For a windowed table, `*` stands for the key columns, `WINDOWSTART`,
/// `WINDOWEND`, then the other columns, as ksqlDB's pull queries show
/// them.
fn with_window_columns(query: &Query, source: &Source) -> Query {
    let mut rewritten = query.clone();
    if source.window.is_none() {
        return rewritten;
    }
    let qualifier = query.from.alias.as_deref().unwrap_or(&source.name);
    let column = |name: &str| SelectItem::Expr {
        expr: Expr::Identifier(Ident::with_quote('`', name)),
        alias: None,
        location: Location::default(),
    };
    let all = || -> Vec<SelectItem> {
        let keys = source.key_columns().map(|c| column(&c.name));
        let window = [column(WINDOW_START), column(WINDOW_END)];
        let rest = source
            .columns
            .iter()
            .filter(|c| !c.is_key())
            .map(|c| column(&c.name));
        keys.chain(window).chain(rest).collect()
    };
    rewritten.select = query
        .select
        .iter()
        .flat_map(|item| match item {
            SelectItem::Wildcard => all(),
            SelectItem::QualifiedWildcard(q) if q == qualifier || *q == source.name => all(),
            other => vec![other.clone()],
        })
        .collect();
    rewritten
}

fn has_headers(source: &Source) -> bool {
    source
        .columns
        .iter()
        .any(|c| matches!(c.namespace, ColumnNamespace::Header(_)))
}

/// The rows read from a store as the rows a query over the table scans
/// (`schema`, the source's row schema): columns by name, the record time
/// as ROWTIME, no null rows, other pseudo columns null.
fn row_batch(schema: &SchemaRef, stored: &RecordBatch) -> Result<RecordBatch> {
    let n = stored.num_rows();
    let columns = schema
        .fields()
        .iter()
        .map(|f| -> Result<ArrayRef> {
            let found = match f.name().as_str() {
                WINDOW_START => stored.column_by_name(WINDOW_START_COLUMN),
                WINDOW_END => stored.column_by_name(WINDOW_END_COLUMN),
                "ROWTIME" | RECORD_TIME => stored.column_by_name(ROWTIME_COLUMN),
                NULL_ROW => return Ok(Arc::new(BooleanArray::from(vec![false; n]))),
                name => stored.column_by_name(name),
            };
            let mut array = match found {
                Some(a) => Arc::clone(a),
                None => new_null_array(f.data_type(), n),
            };
            if array.data_type() != f.data_type() {
                array = arrow::compute::cast(&array, f.data_type())?;
            }
            if !f.is_nullable() && array.null_count() > 0 {
                if let Some(times) = array.as_any().downcast_ref::<Int64Array>() {
                    array = Arc::new(
                        times
                            .iter()
                            .map(|t| Some(t.unwrap_or(0)))
                            .collect::<Int64Array>(),
                    );
                }
            }
            Ok(array)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// At most `limit` rows of `batches`.
fn limited(batches: Vec<RecordBatch>, limit: Option<u64>) -> Vec<RecordBatch> {
    let Some(limit) = limit else {
        return batches.into_iter().filter(|b| b.num_rows() > 0).collect();
    };
    let mut room = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut out = Vec::new();
    for b in batches {
        if room == 0 {
            break;
        }
        let b = if b.num_rows() > room {
            b.slice(0, room)
        } else {
            b
        };
        room -= b.num_rows();
        if b.num_rows() > 0 {
            out.push(b);
        }
    }
    out
}

/// The most statement shapes whose lookup plans are kept.
const LOOKUP_PLANS: usize = 1024;

/// What a pull query on a table runs over the rows it reads.
pub(super) struct LookupPlan {
    operators: Vec<Box<dyn crate::runtime::operators::Operator>>,
    columns: Vec<OutputColumn>,
    /// The row schema the operators read.
    row_schema: SchemaRef,
}

/// A lookup plan kept for its statement shape, with the declaration of
/// the source it was planned against.
pub(super) struct CachedLookup {
    source: Arc<Source>,
    plan: LookupPlan,
}

/// The planned lookups by statement shape.
pub(super) type LookupPlans = std::sync::Mutex<std::collections::HashMap<String, CachedLookup>>;

/// True when `selection` is `KEY = literal` for each key column of
/// `source` once, joined by AND (either side of `=`), or `KEY IN
/// (literals…)` for a one-column key: the store read returns exactly the
/// rows it selects.
fn exact_key_lookup(selection: &Expr, source: &Source) -> bool {
    let keys: Vec<&str> = source.key_columns().map(|c| c.name.as_str()).collect();
    let mut seen = vec![false; keys.len()];
    let key_of = |e: &Expr| -> Option<usize> {
        let name = match e {
            Expr::Identifier(id) => &id.value,
            Expr::CompoundIdentifier(ids) if ids.len() == 2 => &ids[1].value,
            _ => return None,
        };
        keys.iter().position(|k| k == name)
    };
    let literal = |e: &Expr| plain_literal(e).is_some();
    fn conjuncts<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
        match e {
            Expr::BinaryOp {
                left,
                op: sql::BinaryOperator::And,
                right,
            } => {
                conjuncts(left, out);
                conjuncts(right, out);
            }
            Expr::Nested(inner) => conjuncts(inner, out),
            other => out.push(other),
        }
    }
    let mut parts = Vec::new();
    conjuncts(selection, &mut parts);
    for part in parts {
        let key = match part {
            Expr::BinaryOp {
                left,
                op: sql::BinaryOperator::Eq,
                right,
            } => match (key_of(left), key_of(right)) {
                (Some(k), None) if literal(right) => k,
                (None, Some(k)) if literal(left) => k,
                _ => return false,
            },
            Expr::InList {
                expr,
                list,
                negated: false,
            } if keys.len() == 1 && list.iter().all(literal) => match key_of(expr) {
                Some(k) => k,
                None => return false,
            },
            _ => return false,
        };
        if std::mem::replace(&mut seen[key], true) {
            return false;
        }
    }
    seen.iter().all(|s| *s)
}

/// A string or integer literal as a one-value array, without planning an
/// expression.
fn plain_literal(e: &Expr) -> Option<ArrayRef> {
    let Expr::Value(v) = e else {
        return None;
    };
    match &v.value {
        sql::Value::SingleQuotedString(s) => {
            Some(Arc::new(arrow::array::StringArray::from(vec![s.as_str()])))
        }
        sql::Value::Number(n, false) => {
            let n: &str = n.as_ref();
            n.parse::<i64>()
                .ok()
                .map(|i| Arc::new(Int64Array::from(vec![i])) as ArrayRef)
        }
        _ => None,
    }
}
