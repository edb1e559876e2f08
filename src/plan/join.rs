//! JOIN planning: `FROM a JOIN b ON … JOIN c ON …` becomes a chain of
//! two-input join operators, left-deep in written order, whose final rows
//! form one *joined source*: every column of every source as `ALIAS_COL`
//! (pseudo columns too, as `ALIAS_ROWTIME` …), keyed by the result key
//! ksqlDB would choose. The rest of the query (WHERE, projection, GROUP BY,
//! windows) is then planned over that source like over any other, with
//! column references rewritten to the joined names.
//!
//! Each input is prepared by a projection that names its columns, computes
//! its join key, and passes its event time and null-row flag; between two
//! joins a projection prepares the intermediate result as the next left
//! input. A stream side whose join expression is not its key is re-keyed in
//! that projection; since its records then belong to other partitions than
//! they came from, such a join (and a foreign-key join, whose inputs are not
//! co-partitioned) runs as one task over all input partitions.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::execution::SessionState;
use datafusion::logical_expr::{cast, lit, not, Expr as DfExpr, ExprSchemable, LogicalPlanBuilder};
use datafusion::sql::sqlparser::ast::{
    visit_expressions, AccessExpr, BinaryOperator, Expr, Ident, OneOrManyWithParens, VisitMut,
    VisitorMut,
};

use super::expr::{column_ref, to_datafusion};
use super::lower::lower_stateless;
use super::select::{
    decode_stage, hidden, plan_over, table_key_present, table_ref, PlannedSelect, Purpose,
    StreamTable,
};
use crate::catalog::{
    Catalog, Column, ColumnNamespace, Source, NULL_ROW, PSEUDO_COLUMNS, RECORD_HEADERS,
    RECORD_TIME, WINDOW_END, WINDOW_START,
};
use crate::error::{Error, Result};
use crate::runtime::operators::join::{Join, JoinKind, JoinSpec, JoinType, SideLayout};
use crate::runtime::operators::Operator;
use crate::runtime::pipeline::SideInput;
use crate::sql::ast::{self, Query, SelectItem, SourceKind};
use crate::types::SqlType;

/// The inputs of a planned join after its first.
pub struct JoinInputs {
    /// The sources read by inputs 1, 2, … (input 0 is the plan's `source`).
    pub sources: Vec<Arc<Source>>,
    /// Every source the join reads after the first (in every stage).
    pub all_sources: Vec<Arc<Source>>,
    /// Inputs that read an internal topic (name after the query's prefix)
    /// instead of their source.
    pub internal_inputs: Vec<(usize, String)>,
    /// Their decoding and preparation, each into its join.
    pub sides: Vec<SideInput>,
    /// Runs as one task over all partitions (see the module documentation).
    pub single_task: bool,
    /// Each input partition runs as its own task: records must be in the
    /// partition murmur2 of their key gives.
    pub check_partitioning: bool,
    /// The names of the sources, for the co-partitioning check: per join,
    /// the alias of the leftmost source of its left side and of its right
    /// source, and the inputs on each side.
    pub co_partitioned: Vec<CoPartition>,
    /// Stages writing internal topics (re-keyed stream sides, intermediate
    /// results re-keyed for a later join), in the order they are started.
    pub repartitions: Vec<SideRepartition>,
}

/// The first stage of a re-keyed stream side: reads its source, computes
/// the join key and writes the rows to an internal topic keyed by it.
pub struct SideRepartition {
    /// The internal topic's name after the query's prefix, as ksqlDB names
    /// it (`Join-left-repartition`, …).
    pub name: String,
    /// The source read (the first, for a stage reading several).
    pub source: Arc<Source>,
    /// Its decoding.
    pub decode: crate::runtime::decode::DecodeStage,
    /// The operators preparing the rows.
    pub operators: Vec<Box<dyn Operator>>,
    /// The schema of the prepared rows.
    pub output_schema: SchemaRef,
    /// The columns written as the key, as the value, and as the time.
    pub key_columns: Vec<usize>,
    /// Value columns.
    pub value_columns: Vec<usize>,
    /// The event time, written as the record timestamp.
    pub time_column: usize,
    /// The topic whose partition count the internal topic takes.
    pub partitions_of: String,
    /// The internal topic's columns and formats.
    pub topic_source: Source,
    /// For a stage ending in the re-keying of an intermediate join result:
    /// the other inputs of its joins.
    pub sides: Vec<SideInput>,
    /// The sources of inputs 1, 2, … of the stage.
    pub more_sources: Vec<Arc<Source>>,
    /// Inputs of the stage that read internal topics (by name after the
    /// query's prefix).
    pub internal_inputs: Vec<(usize, String)>,
    /// The stage runs as one task over all partitions.
    pub single_task: bool,
}

/// Two sides of one join whose partition counts must match.
#[derive(Debug, Clone)]
pub struct CoPartition {
    /// The alias of the leftmost source of the left side.
    pub left_name: String,
    /// Its topic.
    pub left_topic: String,
    /// The alias of the right source.
    pub right_name: String,
    /// Its topic.
    pub right_topic: String,
}

/// Internal column names of the prepared join inputs.
const JOIN_TIME: &str = "$JT";
const JOIN_NULL: &str = "$JN";
const JOIN_KEY: &str = "$JK";
const JOIN_HEADERS: &str = "$JH";
const JOIN_RIGHT: &str = "$JRIGHT";

/// A source of the join as its columns are known in the joined source.
struct Joined {
    source: Arc<Source>,
    alias: String,
    /// Columns selectable with `*`: (source column name, type).
    columns: Vec<(String, SqlType)>,
    /// Pseudo columns: (name, type).
    pseudo: Vec<(String, SqlType)>,
}

impl Joined {
    fn has(&self, name: &str) -> bool {
        self.columns.iter().any(|(c, _)| c == name) || self.pseudo.iter().any(|(c, _)| c == name)
    }

    fn joined_name(&self, column: &str) -> String {
        format!("{}_{}", self.alias, column)
    }
}

/// One `JOIN … ON …` step, checked.
struct Step {
    join_type: JoinType,
    kind: JoinKind,
    /// The ON operands over the sources joined so far, and over the new
    /// one (rewritten to joined names): one pair per condition.
    left: Vec<Expr>,
    right: Vec<Expr>,
    /// Whether the left side must be re-keyed by `left`.
    rekey_left: bool,
    /// Whether the right (stream) side must be re-keyed by `right`.
    rekey_right: bool,
    /// The join key's types, one per condition.
    key_types: Vec<SqlType>,
}

/// A join's conditions, checked: the (already joined, new source)
/// operands of each, and the whole as ksqlDB shows it in messages.
struct Criteria {
    pairs: Vec<(Expr, Expr)>,
    written: String,
}

/// Plans a SELECT with joins.
pub fn plan_join(
    state: &SessionState,
    catalog: &Catalog,
    query: &Query,
    purpose: &Purpose,
    query_id: &str,
) -> Result<PlannedSelect> {
    let sources = resolve_sources(catalog, query)?;
    check_formats(&sources)?;
    check_windows(&sources)?;
    let mut steps = Vec::with_capacity(query.joins.len());
    // Column references equal to the current key, and those among them
    // that may name the result key.
    // (one list per key column: per condition of the join).
    let mut equivalent: Vec<Vec<Expr>> = Vec::new();
    let mut viable: Vec<Vec<Expr>> = Vec::new();
    let mut left_kind = sources[0].source.kind;
    // Every condition's sources first, then each join's kind and keys.
    let criteria: Vec<Criteria> = query
        .joins
        .iter()
        .enumerate()
        .map(|(j, join)| check_criteria(&sources, j + 1, join))
        .collect::<Result<_>>()?;
    for (j, join) in query.joins.iter().enumerate() {
        let step = plan_step(
            state,
            &sources,
            j + 1,
            join,
            &criteria[j],
            left_kind,
            &equivalent,
        )?;
        let c = step.left.len();
        if step.rekey_left || j == 0 || equivalent.len() != c {
            equivalent = (0..c)
                .map(|i| vec![step.left[i].clone(), step.right[i].clone()])
                .collect();
            viable = vec![Vec::new(); c];
        } else {
            for (i, e) in equivalent.iter_mut().enumerate() {
                e.extend([step.left[i].clone(), step.right[i].clone()]);
            }
        }
        if step.kind == JoinKind::ForeignKey {
            // Keyed by the left table's primary key.
            let left = &sources[0];
            equivalent = left
                .source
                .key_columns()
                .map(|c| vec![quoted(&left.joined_name(&c.name))])
                .collect();
            viable = equivalent.clone();
        } else if step.join_type == JoinType::Full {
            // Keyed by whichever side is present: neither side's column.
            equivalent = vec![Vec::new(); c];
            viable = vec![Vec::new(); c];
        } else {
            for (i, v) in viable.iter_mut().enumerate() {
                v.extend(
                    [&step.left[i], &step.right[i]]
                        .into_iter()
                        .filter(|e| column_ref(e).is_some())
                        .cloned(),
                );
            }
        }
        left_kind = match (left_kind, sources[j + 1].source.kind) {
            (SourceKind::Table, SourceKind::Table) => SourceKind::Table,
            _ => SourceKind::Stream,
        };
        steps.push(step);
    }
    // The result is keyed by the left table's primary key when the last
    // join is on a foreign key.
    let is_fk = steps.last().is_some_and(|s| s.kind == JoinKind::ForeignKey);
    let any_fk = steps.iter().any(|s| s.kind == JoinKind::ForeignKey);
    let persistent = matches!(purpose, Purpose::Persistent { .. });
    let sink = match purpose {
        Purpose::Persistent { sink, .. } => Some(sink.as_str()),
        Purpose::Push => None,
    };

    // The query over the joined source: names resolved, wildcards expanded.
    let taken: HashSet<String> = sources
        .iter()
        .flat_map(|s| s.columns.iter().map(|(c, _)| c.clone()))
        .collect();
    let key_type = steps
        .last()
        .and_then(|s| s.key_types.first().cloned())
        .unwrap_or(SqlType::String);
    let synthetic = synthetic_key_name(&taken);
    // After PARTITION BY the key is the partitioning expressions.
    let partitioned = !query.partition_by.is_empty();
    let no_viable = viable.iter().all(Vec::is_empty);
    if viable.len() > 1 && viable.iter().any(Vec::is_empty) && !is_fk && !partitioned {
        return Err(Error::user(
            "A join on several conditions needs a column on one side of each condition (it \
             becomes a key column of the result), and cannot be a FULL OUTER join: the key of \
             its rows would be undefined.",
        ));
    }
    let is_synthetic = no_viable && !is_fk && !partitioned;
    let rewritten = rewrite_query(query, &sources, &synthetic, is_synthetic)?;

    // The result key: the left table's primary key (foreign key), the
    // first viable column in the projection, the first viable one, or a
    // synthetic ROWKEY.
    let projected = |e: &Expr| {
        let name = column_ref(e);
        rewritten.select.iter().any(|item| match item {
            SelectItem::Expr { expr, .. } => column_ref(expr).is_some() && column_ref(expr) == name,
            _ => false,
        })
    };
    let key_columns: Vec<(String, SqlType)> = if partitioned {
        Vec::new()
    } else if is_fk {
        let left = &sources[0];
        left.source
            .key_columns()
            .map(|c| (left.joined_name(&c.name), c.sql_type.clone()))
            .collect()
    } else if no_viable {
        vec![(synthetic.clone(), key_type.clone())]
    } else {
        let last_types = steps
            .last()
            .map(|s| s.key_types.clone())
            .unwrap_or_default();
        viable
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let chosen = v.iter().find(|e| projected(e)).unwrap_or(&v[0]);
                let name = column_ref(chosen).unwrap_or_default().to_string();
                let t = joined_type(&sources, &name)
                    .or_else(|| last_types.get(i).cloned())
                    .unwrap_or_else(|| key_type.clone());
                (name, t)
            })
            .collect()
    };
    if let (Some(sink), true) = (
        sink,
        persistent && query.group_by.is_empty() && !partitioned,
    ) {
        check_key_in_projection(
            sink,
            &rewritten,
            &key_columns,
            &viable,
            &synthetic,
            &sources,
            is_fk,
        )?;
    }

    // The joined source.
    let kind = left_kind;
    let mut columns: Vec<Column> = key_columns
        .iter()
        .map(|(n, t)| Column {
            name: n.clone(),
            sql_type: t.clone(),
            namespace: ColumnNamespace::Key,
        })
        .collect();
    for s in &sources {
        // Each source's value columns, pseudo columns, then key columns
        // (the order `*` takes after PARTITION BY).
        let values = s
            .source
            .columns
            .iter()
            .filter(|c| !c.is_key())
            .map(|c| (c.name.clone(), c.sql_type.clone()));
        let keys = s
            .source
            .key_columns()
            .map(|c| (c.name.clone(), c.sql_type.clone()));
        let ordered: Vec<(String, SqlType)> = if partitioned {
            values.chain(s.pseudo.iter().cloned()).chain(keys).collect()
        } else {
            s.columns.iter().chain(&s.pseudo).cloned().collect()
        };
        for (c, t) in &ordered {
            let name = s.joined_name(c);
            if key_columns.iter().any(|(k, _)| *k == name) {
                continue;
            }
            columns.push(Column {
                name,
                sql_type: t.clone(),
                namespace: ColumnNamespace::Value,
            });
        }
    }
    let first = &sources[0].source;
    let joined = Arc::new(Source {
        name: "$JOIN".to_string(),
        kind,
        columns,
        topic: first.topic.clone(),
        // Never encoded: the joined rows exist only between operators (and
        // on an aggregation's internal repartition topic).
        key_format: crate::format::FormatSpec::new(crate::format::Format::Json),
        value_format: crate::format::FormatSpec::new(crate::format::Format::Json),
        timestamp: None,
        is_source: false,
        sql: String::new(),
        created_by: None,
        window: sources[0].source.window,
    });
    let mut planned = plan_over(
        state,
        Arc::clone(&joined),
        "$JOIN".to_string(),
        &rewritten,
        purpose,
        query_id,
    )?;

    // The join chain in front of the stage that reads the source.
    // A push query runs as one task over every partition: it re-keys in
    // memory instead of through internal topics.
    let chain = build_chain(
        state,
        &sources,
        &steps,
        &joined,
        &key_columns,
        query_id,
        persistent,
    )?;
    // A foreign-key join (and, for a push query, a join re-keyed in
    // memory) sees every partition in one task; so does a table-table join
    // whose tables' keys are in different formats, or in Schema Registry
    // formats (whose key bytes carry schema ids, so equal keys may sit in
    // different partitions).
    let single_task = chain.single_task
        || (!persistent && steps.iter().enumerate().any(|(j, s)| j > 0 && s.rekey_left))
        || steps.iter().enumerate().any(|(j, s)| {
            s.kind == JoinKind::TableTable
                && (key_formats_differ(&sources[0], &sources[j + 1])
                    || (sources[0].source.key_format.format.uses_registry()
                        && sources[j + 1].source.key_format.format.uses_registry()))
        });
    let co_partitioned = if any_fk {
        Vec::new()
    } else {
        steps
            .iter()
            .enumerate()
            .filter(|(_, s)| !(s.rekey_right || s.rekey_left))
            .map(|(j, _)| CoPartition {
                left_name: sources[0].alias.clone(),
                left_topic: sources[0].source.topic.clone(),
                right_name: sources[j + 1].alias.clone(),
                right_topic: sources[j + 1].source.topic.clone(),
            })
            .collect()
    };
    let (decode, operators) = match planned.repartition.as_mut() {
        Some(stage) => (&mut stage.decode, &mut stage.operators),
        None => (&mut planned.decode, &mut planned.operators),
    };
    *decode = chain.decode;
    let rest = std::mem::take(operators);
    let mut all = chain.operators;
    all.extend(rest);
    *operators = all;
    planned.source = Arc::clone(&sources[0].source);
    planned.join = Some(JoinInputs {
        sources: chain.sources,
        all_sources: sources[1..].iter().map(|s| Arc::clone(&s.source)).collect(),
        internal_inputs: chain.internal_inputs,
        sides: chain.sides,
        single_task,
        check_partitioning: !single_task && sources[0].source.window.is_none(),
        co_partitioned,
        repartitions: chain.repartitions,
    });
    let described: Vec<String> = steps
        .iter()
        .enumerate()
        .map(|(j, s)| {
            format!(
                "Join {}: {:?} {:?} ON {}{}",
                j + 1,
                s.join_type,
                s.kind,
                s.left
                    .iter()
                    .zip(&s.right)
                    .map(|(l, r)| format!("{l} = {r}"))
                    .collect::<Vec<_>>()
                    .join(" AND "),
                if s.rekey_left || s.rekey_right {
                    " (re-keyed)"
                } else {
                    ""
                }
            )
        })
        .collect();
    planned.logical_plan = format!("{}\n{}", described.join("\n"), planned.logical_plan);
    Ok(planned)
}

fn resolve_sources(catalog: &Catalog, query: &Query) -> Result<Vec<Joined>> {
    let relations: Vec<&ast::Relation> = std::iter::once(&query.from)
        .chain(query.joins.iter().map(|j| &j.relation))
        .collect();
    let mut out: Vec<Joined> = Vec::with_capacity(relations.len());
    for r in &relations {
        let source = Arc::clone(catalog.require_source(&r.name).map_err(|e| match e {
            Error::User { message, .. } => Error::user_at(message, r.location),
            other => other,
        })?);
        if out.iter().any(|o| o.source.name == source.name) {
            return Err(if relations.len() == 2 {
                Error::user_at(
                    format!(
                        "Can not join '{0}' to '{0}': self joins are not yet supported.",
                        source.name
                    ),
                    r.location,
                )
            } else {
                Error::user_at(
                    format!(
                        "N-way joins do not support multiple occurrences of the same source. \
                         Source: '{}'",
                        source.name
                    ),
                    r.location,
                )
            });
        }
        let alias = r.alias.clone().unwrap_or_else(|| source.name.clone());
        let columns = source
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.sql_type.clone()))
            .collect();
        let mut pseudo: Vec<(String, SqlType)> = PSEUDO_COLUMNS
            .iter()
            .map(|(n, t)| (n.to_string(), t.clone()))
            .collect();
        if source.window.is_some() {
            pseudo.push((WINDOW_START.to_string(), SqlType::Bigint));
            pseudo.push((WINDOW_END.to_string(), SqlType::Bigint));
        }
        out.push(Joined {
            source,
            alias,
            columns,
            pseudo,
        });
    }
    Ok(out)
}

fn check_formats(sources: &[Joined]) -> Result<()> {
    let kafka: Vec<&str> = sources
        .iter()
        .filter(|s| s.source.value_format.format == crate::format::Format::Kafka)
        .map(|s| s.source.name.as_str())
        .collect();
    if kafka.is_empty() {
        return Ok(());
    }
    Err(Error::user(format!(
        "Source(s) {} are using the 'KAFKA' value format. This format does not yet support \
         JOIN.",
        kafka.join(", ")
    )))
}

fn check_windows(sources: &[Joined]) -> Result<()> {
    let first = &sources[0];
    for s in &sources[1..] {
        match (&first.source.window, &s.source.window) {
            (None, None) => {}
            (Some(_), None) | (None, Some(_)) => {
                let describe = |j: &Joined| match &j.source.window {
                    Some(w) => format!("`{}` is {} windowed", j.source.name, w.type_name()),
                    None => format!("`{}` is not windowed", j.source.name),
                };
                return Err(Error::user(format!(
                    "Can not join windowed source to non-windowed source.\n{}\n{}",
                    describe(first),
                    describe(s)
                )));
            }
            (Some(a), Some(b)) => {
                let session = |w: &crate::catalog::SourceWindow| {
                    w.kind == crate::sql::properties::WindowType::Session
                };
                if session(a) != session(b) {
                    return Err(Error::user(format!(
                        "Incompatible windowed sources.\nLeft source: {}\nRight source: {}\n\
                         Session windowed sources can only be joined to other session windowed \
                         sources, and may still not result in expected behaviour as session \
                         bounds must be an exact match for the join to work\nHopping and \
                         tumbling windowed sources can only be joined to other hopping and \
                         tumbling windowed sources",
                        a.type_name(),
                        b.type_name()
                    )));
                }
                if a.size_ms != b.size_ms {
                    return Err(Error::user(
                        "Implicit repartitioning of windowed sources is not supported. See \
                         https://github.com/confluentinc/ksql/issues/4385.",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The sources an expression references (by index), in the original
/// spelling; an error for an unknown qualifier or column.
fn referenced(expr: &Expr, sources: &[Joined], upto: usize, clause: &str) -> Result<Vec<usize>> {
    let mut found: Vec<usize> = Vec::new();
    let mut failure = None;
    let lambdas = lambda_params(expr);
    let _ = visit_expressions(expr, |e| {
        let hit = match e {
            Expr::CompoundIdentifier(ids) if ids.len() == 2 => {
                match find_qualifier(sources, &ids[0].value, upto) {
                    None => Err(Error::user(format!(
                        "'{}' is not a valid stream/table name or alias.",
                        ids[0].value
                    ))),
                    Some(i) if sources[i].has(&ids[1].value) => Ok(Some(i)),
                    Some(_) => Err(at_ident(
                        Error::user(format!(
                            "{clause} column '{}.{}' cannot be resolved.",
                            ids[0].value, ids[1].value
                        )),
                        &ids[0],
                    )),
                }
            }
            Expr::Identifier(id) if !lambdas.contains(&id.value) => {
                unqualified(sources, &id.value, upto)
                    .map(|i| i.first().copied())
                    .map_err(|e| at_ident(e, id))
            }
            _ => Ok(None),
        };
        match hit {
            Ok(Some(i)) => {
                if !found.contains(&i) {
                    found.push(i);
                }
                ControlFlow::Continue(())
            }
            Ok(None) => ControlFlow::Continue(()),
            Err(e) => {
                failure = Some(e);
                ControlFlow::Break(())
            }
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(found),
    }
}

/// An error at an identifier's place in the statement, when known.
fn at_ident(e: Error, id: &Ident) -> Error {
    match e {
        Error::User { message, .. } if id.span.start.line > 0 => Error::user_at(
            message,
            crate::error::Location {
                line: id.span.start.line,
                column: id.span.start.column,
            },
        ),
        other => other,
    }
}

fn find_qualifier(sources: &[Joined], q: &str, upto: usize) -> Option<usize> {
    sources[..=upto.min(sources.len() - 1)]
        .iter()
        .position(|s| s.alias == q)
        .or_else(|| {
            sources[..=upto.min(sources.len() - 1)]
                .iter()
                .position(|s| s.source.name == q && s.alias == s.source.name)
        })
}

/// The sources with a (non-pseudo) column `name`; an error when several.
fn unqualified(sources: &[Joined], name: &str, upto: usize) -> Result<Vec<usize>> {
    let hits: Vec<usize> = sources[..=upto.min(sources.len() - 1)]
        .iter()
        .enumerate()
        .filter(|(_, s)| s.columns.iter().any(|(c, _)| c == name))
        .map(|(i, _)| i)
        .collect();
    if hits.len() > 1 {
        let names: Vec<String> = hits
            .iter()
            .map(|&i| format!("{}.{name}", sources[i].alias))
            .collect();
        return Err(Error::user(format!(
            "Column '{name}' is ambiguous. Could be {}.",
            join_or(&names)
        )));
    }
    Ok(hits)
}

fn join_or(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn lambda_params(expr: &Expr) -> HashSet<String> {
    let mut names = HashSet::new();
    let _ = visit_expressions(expr, |e| {
        if let Expr::Lambda(l) = e {
            match &l.params {
                OneOrManyWithParens::One(p) => {
                    names.insert(p.name.value.clone());
                }
                OneOrManyWithParens::Many(ps) => {
                    names.extend(ps.iter().map(|p| p.name.value.clone()));
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    names
}

/// Rewrites column references to the joined source's names.
struct Resolver<'a> {
    sources: &'a [Joined],
    upto: usize,
    lambdas: HashSet<String>,
    /// Names that are no source's column but resolve in the joined source.
    allowed: &'a [&'a str],
    clause: &'a str,
    failure: Option<Error>,
}

/// Marks the field name of `s->f` so that it is not taken for a column.
const FIELD_MARK: char = '\u{1}';

impl VisitorMut for Resolver<'_> {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        // `q.col[i]` parses with `q` as the root.
        if let Expr::CompoundFieldAccess { root, access_chain } = expr {
            if let (Expr::Identifier(q), Some(AccessExpr::Dot(Expr::Identifier(c)))) =
                (root.as_ref(), access_chain.first())
            {
                if let Some(i) = find_qualifier(self.sources, &q.value, self.upto) {
                    let qualified = Expr::CompoundIdentifier(vec![
                        Ident::new(self.sources[i].alias.clone()),
                        Ident::new(c.value.clone()),
                    ]);
                    access_chain.remove(0);
                    if access_chain.is_empty() {
                        *expr = qualified;
                    } else {
                        **root = qualified;
                    }
                }
            }
        }
        if let Expr::BinaryOp {
            op: BinaryOperator::Arrow,
            right,
            ..
        } = expr
        {
            if let Expr::Identifier(id) = right.as_mut() {
                id.value.insert(0, FIELD_MARK);
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let resolved = match expr {
            Expr::Identifier(id) if id.value.starts_with(FIELD_MARK) => {
                id.value.remove(0);
                return ControlFlow::Continue(());
            }
            Expr::CompoundIdentifier(ids) if ids.len() == 2 => {
                match find_qualifier(self.sources, &ids[0].value, self.upto) {
                    None => Err(Error::user(format!(
                        "'{}' is not a valid stream/table name or alias.",
                        ids[0].value
                    ))),
                    Some(i) if self.sources[i].has(&ids[1].value) => {
                        Ok(Some(self.sources[i].joined_name(&ids[1].value)))
                    }
                    Some(_) => Err(Error::user(format!(
                        "{} column '{}.{}' cannot be resolved.",
                        self.clause, ids[0].value, ids[1].value
                    ))),
                }
            }
            Expr::Identifier(id) if !self.lambdas.contains(&id.value) => {
                match unqualified(self.sources, &id.value, self.upto) {
                    Ok(hits) if hits.is_empty() && !self.allowed.contains(&id.value.as_str()) => {
                        Err(Error::user(format!(
                            "{} column '{}' cannot be resolved.",
                            self.clause, id.value
                        )))
                    }
                    Ok(hits) => Ok(hits
                        .first()
                        .map(|&i| self.sources[i].joined_name(&id.value))),
                    Err(e) => Err(e),
                }
            }
            _ => Ok(None),
        };
        match resolved {
            Ok(Some(name)) => {
                *expr = Expr::Identifier(Ident::with_quote('`', name));
                ControlFlow::Continue(())
            }
            Ok(None) => ControlFlow::Continue(()),
            Err(e) => {
                self.failure = Some(e);
                ControlFlow::Break(())
            }
        }
    }
}

fn resolve(expr: &Expr, sources: &[Joined], upto: usize, clause: &str) -> Result<Expr> {
    resolve_allowing(
        expr,
        sources,
        upto,
        clause,
        &["ROWTIME", "ROWPARTITION", "ROWOFFSET"],
    )
}

fn resolve_allowing(
    expr: &Expr,
    sources: &[Joined],
    upto: usize,
    clause: &str,
    allowed: &[&str],
) -> Result<Expr> {
    let mut e = expr.clone();
    let mut resolver = Resolver {
        sources,
        upto,
        allowed,
        lambdas: lambda_params(expr),
        clause,
        failure: None,
    };
    let _ = e.visit(&mut resolver);
    match resolver.failure {
        Some(f) => Err(f),
        None => Ok(e),
    }
}

fn quoted(name: &str) -> Expr {
    Expr::Identifier(Ident::with_quote('`', name))
}

/// ROWKEY, or ROWKEY_n with the smallest n no source column has.
fn synthetic_key_name(taken: &HashSet<String>) -> String {
    if !taken.contains("ROWKEY") {
        return "ROWKEY".to_string();
    }
    (1..)
        .map(|n| format!("ROWKEY_{n}"))
        .find(|n| !taken.contains(n))
        .unwrap_or_else(|| "ROWKEY".to_string())
}

/// The query with names resolved and wildcards expanded, without joins.
fn rewrite_query(
    query: &Query,
    sources: &[Joined],
    synthetic: &str,
    is_synthetic: bool,
) -> Result<Query> {
    let last = sources.len() - 1;
    let allowed = ["ROWTIME", "ROWPARTITION", "ROWOFFSET", synthetic];
    let resolve = |e: &Expr, sources: &[Joined], upto: usize, clause: &str| {
        resolve_allowing(e, sources, upto, clause, &allowed)
    };
    let mut select = Vec::with_capacity(query.select.len());
    // A source's columns: its key, the window bounds of a windowed source
    // (a join of windowed sources shows them, as ksqlDB does), its values.
    let star = |s: &Joined| -> Vec<SelectItem> {
        let keys = s.source.key_columns().count();
        let window: &[&str] = if s.source.window.is_some() {
            &[WINDOW_START, WINDOW_END]
        } else {
            &[]
        };
        let names: Vec<&str> = s.columns[..keys]
            .iter()
            .map(|(c, _)| c.as_str())
            .chain(window.iter().copied())
            .chain(s.columns[keys..].iter().map(|(c, _)| c.as_str()))
            .collect();
        names
            .into_iter()
            .map(|c| SelectItem::Expr {
                expr: quoted(&s.joined_name(c)),
                alias: Some(s.joined_name(c)),
                location: query.location,
            })
            .collect()
    };
    for item in &query.select {
        match item {
            SelectItem::Wildcard if !query.partition_by.is_empty() => {
                select.push(SelectItem::Wildcard);
            }
            SelectItem::Wildcard => {
                if is_synthetic {
                    select.push(SelectItem::Expr {
                        expr: quoted(synthetic),
                        alias: Some(synthetic.to_string()),
                        location: query.location,
                    });
                }
                for s in sources {
                    select.extend(star(s));
                }
            }
            SelectItem::QualifiedWildcard(q) => {
                let i = find_qualifier(sources, q, last).ok_or_else(|| {
                    Error::user(format!("'{q}' is not a valid stream/table name or alias."))
                })?;
                select.extend(star(&sources[i]));
            }
            SelectItem::StructWildcard(e) => {
                select.push(SelectItem::StructWildcard(resolve(
                    e, sources, last, "SELECT",
                )?));
            }
            SelectItem::Expr {
                expr,
                alias,
                location,
            } => {
                let reserved = |n: &str| n == "ROWTIME" || n == WINDOW_START || n == WINDOW_END;
                if let (Some(a), Expr::CompoundIdentifier(_)) = (alias, expr) {
                    if reserved(a) {
                        return Err(Error::user_at(
                            format!(
                                "Reserved column name in select: `{a}`. Please remove or alias \
                                 the column."
                            ),
                            *location,
                        ));
                    }
                }
                let resolved = resolve(expr, sources, last, "SELECT").map_err(|e| match e {
                    Error::User { message, .. } => Error::user_at(message, *location),
                    other => other,
                })?;
                // An unaliased `q.col` is named `COL` when only one source
                // has that column, else `Q_COL`.
                let alias = match (alias, expr) {
                    (Some(a), _) => Some(a.clone()),
                    (None, Expr::CompoundIdentifier(ids)) if ids.len() == 2 => {
                        let c = &ids[1].value;
                        let owners = sources.iter().filter(|s| s.has(c)).count();
                        Some(if owners > 1 {
                            column_ref(&resolved).unwrap_or(c).to_string()
                        } else {
                            c.clone()
                        })
                    }
                    (None, Expr::Identifier(id)) if column_ref(&resolved) != Some(&id.value) => {
                        Some(id.value.clone())
                    }
                    (None, _) => None,
                };
                select.push(SelectItem::Expr {
                    expr: resolved,
                    alias,
                    location: *location,
                });
            }
        }
    }
    let each = |exprs: &[Expr], clause: &str| -> Result<Vec<Expr>> {
        exprs
            .iter()
            .map(|e| resolve(e, sources, last, clause))
            .collect()
    };
    Ok(Query {
        select,
        from: ast::Relation {
            name: "$JOIN".to_string(),
            alias: None,
            location: query.from.location,
        },
        joins: Vec::new(),
        window: query.window,
        selection: query
            .selection
            .as_ref()
            .map(|e| resolve(e, sources, last, "WHERE"))
            .transpose()?,
        group_by: each(&query.group_by, "GROUP BY")?,
        partition_by: each(&query.partition_by, "PARTITION BY")?,
        having: query
            .having
            .as_ref()
            .map(|e| resolve(e, sources, last, "HAVING"))
            .transpose()?,
        emit: query.emit,
        limit: query.limit,
        location: query.location,
    })
}

fn joined_type(sources: &[Joined], joined_name: &str) -> Option<SqlType> {
    sources.iter().find_map(|s| {
        s.columns
            .iter()
            .chain(&s.pseudo)
            .find(|(c, _)| s.joined_name(c) == joined_name)
            .map(|(_, t)| t.clone())
    })
}

/// Shows a rewritten column reference as ksqlDB writes it (`L.A`).
fn show_joined(e: &Expr, sources: &[Joined]) -> String {
    let Some(name) = column_ref(e) else {
        return e.to_string();
    };
    for s in sources {
        for (c, _) in s.columns.iter().chain(&s.pseudo) {
            if s.joined_name(c) == name {
                return format!("{}.{c}", s.alias);
            }
        }
    }
    name.to_string()
}

fn check_key_in_projection(
    sink: &str,
    query: &Query,
    key_columns: &[(String, SqlType)],
    viable: &[Vec<Expr>],
    synthetic: &str,
    sources: &[Joined],
    is_fk: bool,
) -> Result<()> {
    let in_projection = |name: &str| {
        query.select.iter().any(|item| match item {
            SelectItem::Expr { expr, .. } => column_ref(expr) == Some(name),
            _ => false,
        })
    };
    if is_fk {
        let left = &sources[0];
        let missing: Vec<String> = left
            .source
            .key_columns()
            .filter(|c| !in_projection(&left.joined_name(&c.name)))
            .map(|c| format!("`{}`", c.name))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let left = sources[0].source.name.clone();
        return Err(Error::user(if missing.len() == 1 {
            format!(
                "Primary key column missing in projection. For foreign-key table-table joins, \
                 the projection must include all primary key columns from the left input table \
                 (`{left}`). Missing column: {}.",
                missing[0]
            )
        } else {
            format!(
                "Primary key columns missing in projection. For foreign-key table-table joins, \
                 the projection must include all primary key columns from the left input table \
                 (`{left}`). Missing columns: {}.",
                missing.join(", ")
            )
        }));
    }
    for (position, (key, _)) in key_columns.iter().enumerate() {
        let mut names: Vec<String> = query
            .select
            .iter()
            .filter_map(|item| match item {
                SelectItem::Expr { expr, alias, .. } if column_ref(expr) == Some(key.as_str()) => {
                    Some(alias.clone().unwrap_or_else(|| key.clone()))
                }
                _ => None,
            })
            .collect();
        if names.len() > 1 {
            names.sort();
            return Err(Error::user(format!(
                "The projection contains a key column (`{key}`) more than once, aliased as: {}.",
                names.join(" and ")
            )));
        }
        if in_projection(key) {
            continue;
        }
        let viable = viable.get(position).map(Vec::as_slice).unwrap_or_default();
        if key == synthetic && viable.is_empty() {
            return Err(Error::user(format!(
                "Key missing from projection (ie, SELECT). See https://cnfl.io/2LV7ouS.\nThe \
                 query used to build `{sink}` must include the join expression {synthetic} in \
                 its projection (eg, SELECT {synthetic}...).\n{synthetic} was added as a \
                 synthetic key column because the join criteria did not match any source \
                 column. This expression must be included in the projection and may be aliased."
            )));
        }
        let names: Vec<String> = viable.iter().map(|e| show_joined(e, sources)).collect();
        let mut unique: Vec<String> = Vec::new();
        for n in names {
            if !unique.contains(&n) {
                unique.push(n);
            }
        }
        let what = if unique.len() == 1 {
            format!("the join expression {}", unique[0])
        } else {
            format!("the join expressions {}", join_or(&unique))
        };
        return Err(Error::user(format!(
            "The query used to build `{sink}` must include {what} in its projection (eg, \
             SELECT {}...).",
            unique[0]
        )));
    }
    Ok(())
}

/// Checks that the condition of join `j` compares an expression of the
/// sources joined before with one of source `j`; returns them in that
/// order, and the condition as ksqlDB shows it.
fn check_criteria(sources: &[Joined], j: usize, join: &ast::Join) -> Result<Criteria> {
    let new = &sources[j];
    let mut conditions = Vec::new();
    equalities(&join.on, &mut conditions)?;
    let mut pairs = Vec::with_capacity(conditions.len());
    let mut written = Vec::with_capacity(conditions.len());
    for (a, b) in conditions {
        let (a, b) = (
            &normalize_access(a, sources, j),
            &normalize_access(b, sources, j),
        );
        // Unknown qualifiers first, on either side.
        for e in [a, b] {
            let mut failure = None;
            let _ = visit_expressions(e, |x| {
                if let Expr::CompoundIdentifier(ids) = x {
                    if ids.len() == 2 && find_qualifier(sources, &ids[0].value, j).is_none() {
                        failure = Some(Error::user(format!(
                            "'{}' is not a valid stream/table name or alias.",
                            ids[0].value
                        )));
                        return ControlFlow::Break(());
                    }
                }
                ControlFlow::Continue(())
            });
            if let Some(f) = failure {
                return Err(f);
            }
        }
        let refs_a = referenced(a, sources, j, "JOIN ON")?;
        let refs_b = referenced(b, sources, j, "JOIN ON")?;
        if refs_a.len() != 1 || refs_b.len() != 1 {
            let bad = if refs_a.len() != 1 { a } else { b };
            return Err(Error::user(format!(
                "Invalid comparison expression '{}' in join '({})'. Each side of the join \
                 comparision must contain references from exactly one source.",
                qualified(bad, sources, j),
                qualified(&join.on, sources, j)
            )));
        }
        let (ia, ib) = (refs_a[0], refs_b[0]);
        if ia == ib {
            return Err(Error::user(format!(
                "Each side of the join must reference exactly one source and not the same \
                 source. Left side references `{}` and right references `{}`",
                sources[ia].alias, sources[ib].alias
            )));
        }
        let (left_raw, right_raw) = if ib == j {
            (a, b)
        } else if ia == j {
            (b, a)
        } else {
            return Err(Error::user(format!(
                "A join criteria is expected to reference the source (`{}`) in the FROM \
                 clause, instead the right source references `{}` and the left source \
                 references `{}`",
                new.alias, sources[ib].alias, sources[ia].alias
            )));
        };
        let pair = (left_raw.clone(), right_raw.clone());
        if pairs.contains(&pair) {
            continue;
        }
        written.push(format!(
            "{} = {}",
            qualified(a, sources, j),
            qualified(b, sources, j)
        ));
        pairs.push(pair);
    }
    Ok(Criteria {
        pairs,
        written: written.join(" AND "),
    })
}

/// `q.col[i]` (parsed with `q` as the root of the access) as `(q.col)[i]`.
fn normalize_access(e: &Expr, sources: &[Joined], upto: usize) -> Expr {
    let mut e = e.clone();
    let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(&mut e, |x| {
        if let Expr::CompoundFieldAccess { root, access_chain } = x {
            if let (Expr::Identifier(q), Some(AccessExpr::Dot(Expr::Identifier(c)))) =
                (root.as_ref(), access_chain.first())
            {
                if find_qualifier(sources, &q.value, upto).is_some() {
                    let column = Expr::CompoundIdentifier(vec![q.clone(), c.clone()]);
                    access_chain.remove(0);
                    if access_chain.is_empty() {
                        *x = column;
                    } else {
                        **root = column;
                    }
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    e
}

/// Checks one join step and works out its kind and keys.
fn plan_step(
    state: &SessionState,
    sources: &[Joined],
    j: usize,
    join: &ast::Join,
    criteria: &Criteria,
    left_kind: SourceKind,
    equivalent: &[Vec<Expr>],
) -> Result<Step> {
    let new = &sources[j];
    let join_type = match join.kind {
        ast::JoinKind::Inner => JoinType::Inner,
        ast::JoinKind::Left => JoinType::Left,
        ast::JoinKind::Right => JoinType::Right,
        ast::JoinKind::Full => JoinType::Full,
    };
    let written = &criteria.written;
    let left_name = sources[0].source.name.clone();
    let right_name = new.source.name.clone();
    let kind_word = |t: JoinType| match t {
        JoinType::Inner => "[INNER] JOIN",
        JoinType::Left => "LEFT [OUTER] JOIN",
        JoinType::Right => "RIGHT [OUTER] JOIN",
        JoinType::Full => "[FULL] OUTER JOIN",
    };
    let kind = match (left_kind, new.source.kind) {
        (SourceKind::Table, SourceKind::Stream) => {
            return Err(Error::user(format!(
                "Invalid join order: table-stream joins are not supported; only stream-table \
                 joins. Got {left_name} {} {right_name}.",
                kind_word(join_type)
            )))
        }
        (SourceKind::Stream, SourceKind::Stream) => {
            let Some(w) = join.within else {
                return Err(Error::user(
                    "Stream-Stream joins must have a WITHIN clause specified. None was \
                     provided. To learn about how to specify a WITHIN clause with a \
                     stream-stream join, please visit: \
                     https://docs.confluent.io/current/ksql/docs/syntax-reference.html#create-stream-as-select",
                ));
            };
            JoinKind::StreamStream {
                before: w.before_ms as i64,
                after: w.after_ms as i64,
                grace: w.grace_ms.map(|g| g as i64),
            }
        }
        (SourceKind::Stream, SourceKind::Table) => {
            if join.within.is_some() {
                return Err(Error::user(
                    "A window definition was provided for a Stream-Table join. These joins are \
                     not windowed. Please drop the window definition (ie. the WITHIN clause) and \
                     try to execute your join again.",
                ));
            }
            if matches!(join_type, JoinType::Full | JoinType::Right) {
                return Err(Error::user(format!(
                    "Invalid join type: {} join not supported for stream-table join. Got \
                     {left_name} {} {right_name}.",
                    if join_type == JoinType::Full {
                        "full-outer"
                    } else {
                        "right-outer"
                    },
                    kind_word(join_type)
                )));
            }
            JoinKind::StreamTable
        }
        (SourceKind::Table, SourceKind::Table) => {
            if join.within.is_some() {
                return Err(Error::user(
                    "A window definition was provided for a Table-Table join. These joins are \
                     not windowed. Please drop the window definition (i.e. the WITHIN clause) \
                     and try to execute your Table-Table join again.",
                ));
            }
            JoinKind::TableTable
        }
    };
    let mut pairs: Vec<(Expr, Expr, &Expr, &Expr)> = Vec::with_capacity(criteria.pairs.len());
    for (l, r) in &criteria.pairs {
        pairs.push((
            resolve(l, sources, j, "JOIN ON")?,
            resolve(r, sources, j, "JOIN ON")?,
            l,
            r,
        ));
    }
    // A join on a source's whole key, in another order, is taken in the
    // key's order.
    let key_order = |exprs: &[&Expr], s: &Joined| -> Option<Vec<usize>> {
        let keys: Vec<String> = s
            .source
            .key_columns()
            .map(|c| s.joined_name(&c.name))
            .collect();
        if keys.len() != exprs.len() {
            return None;
        }
        keys.iter()
            .map(|k| exprs.iter().position(|e| column_ref(e) == Some(k.as_str())))
            .collect()
    };
    let rights: Vec<&Expr> = pairs.iter().map(|p| &p.1).collect();
    let right_order = key_order(&rights, new);
    if let Some(order) = &right_order {
        let mut taken: Vec<Option<(Expr, Expr, &Expr, &Expr)>> =
            pairs.into_iter().map(Some).collect();
        pairs = order.iter().filter_map(|&i| taken[i].take()).collect();
    }
    let left: Vec<Expr> = pairs.iter().map(|p| p.0.clone()).collect();
    let right: Vec<Expr> = pairs.iter().map(|p| p.1.clone()).collect();
    // Types.
    let mut key_types = Vec::with_capacity(pairs.len());
    for (l, r, l_raw, r_raw) in &pairs {
        let left_type = expr_type(state, l, sources, j)?;
        let right_type = expr_type(state, r, sources, j)?;
        if left_type != right_type {
            return Err(Error::user(format!(
                "Invalid join condition: types don't match. Got {}{{{left_type}}} = \
                 {}{{{right_type}}}.",
                qualified(l_raw, sources, j),
                qualified(r_raw, sources, j)
            )));
        }
        if contains_map(&left_type) {
            let name = column_ref(l).unwrap_or("ROWKEY").to_string();
            return Err(Error::user(format!(
                "Map keys, including types that contain maps, are not supported as they may \
                 lead to unexpected behavior due to inconsistent serialization. Key column \
                 name: `{name}`. Column type: {left_type}. See \
                 https://github.com/confluentinc/ksql/issues/6621 for more."
            )));
        }
        key_types.push(left_type);
    }
    let is_key_of = right_order.is_some();
    let mut kind = kind;
    let mut rekey_left = false;
    let mut rekey_right = false;
    match kind {
        JoinKind::StreamTable => {
            if !is_key_of {
                return Err(Error::user(format!(
                    "Invalid join condition: stream-table joins require to join on the table's \
                     primary key. Got {written}."
                )));
            }
            rekey_left = !left_is_key(&left, sources, j, equivalent);
            // A stream keyed in another format than the table is re-keyed
            // into the table's, so that equal keys share a partition.
            if j == 1 && !rekey_left && key_formats_differ(&sources[0], new) {
                rekey_left = true;
            }
            // Keys in a Schema Registry format carry their schema's id: equal
            // keys written with different schemas have different bytes, so
            // the stream is re-keyed (as ksqlDB does).
            if j == 1 && registry_keys(&sources[0], new) {
                rekey_left = true;
            }
        }
        JoinKind::TableTable => {
            if !is_key_of {
                return Err(Error::user(format!(
                    "Invalid join condition: table-table joins require to join on the primary \
                     key of the right input table. Got {written}."
                )));
            }
            if !left_is_key(&left, sources, j, equivalent) {
                if left.len() > 1 {
                    return Err(Error::user(format!(
                        "Invalid join condition: a table-table join on several conditions must \
                         join both tables' whole primary keys (a foreign-key join takes one \
                         condition). Got {written}."
                    )));
                }
                if j > 1 {
                    return Err(Error::user(format!(
                        "Invalid join condition: foreign-key table-table joins are not \
                         supported as part of n-way joins. Got {written}."
                    )));
                }
                match join_type {
                    JoinType::Right => {
                        return Err(Error::user(
                            "RIGHT OUTER JOIN on a foreign key is not supported",
                        ))
                    }
                    JoinType::Full => {
                        return Err(Error::user(format!(
                            "Invalid join type: full-outer join not supported for foreign-key \
                             table-table join. Got {left_name} {} {right_name}.",
                            kind_word(join_type)
                        )))
                    }
                    _ => {}
                }
                if sources[0].source.window.is_some() || new.source.window.is_some() {
                    return Err(Error::user(
                        "Foreign-key table-table joins are not supported on windowed tables.",
                    ));
                }
                kind = JoinKind::ForeignKey;
            }
        }
        JoinKind::StreamStream { .. } => {
            rekey_left = !left_is_key(&left, sources, j, equivalent);
            rekey_right = !is_key_of;
            // Keys in different formats land in different partitions: the
            // right side is re-keyed into the left's format.
            if j == 1 && !rekey_left && !rekey_right && key_formats_differ(&sources[0], new) {
                rekey_right = true;
            }
            // Keys with schema ids: both sides are re-keyed (see above).
            if j == 1 && registry_keys(&sources[0], new) {
                rekey_left = true;
                rekey_right = true;
            }
        }
        JoinKind::ForeignKey => {}
    }
    if (rekey_left && j == 1 && sources[0].source.window.is_some())
        || (rekey_right && new.source.window.is_some())
    {
        return Err(Error::user(
            "Implicit repartitioning of windowed sources is not supported. See \
             https://github.com/confluentinc/ksql/issues/4385.",
        ));
    }
    Ok(Step {
        join_type,
        kind,
        left,
        right,
        rekey_left,
        rekey_right,
        key_types,
    })
}

/// True when both sides' keys are in a Schema Registry format and neither
/// is windowed (a windowed source cannot be re-keyed).
fn registry_keys(a: &Joined, b: &Joined) -> bool {
    [a, b]
        .iter()
        .all(|s| s.source.key_format.format.uses_registry() && s.source.window.is_none())
}

fn key_formats_differ(a: &Joined, b: &Joined) -> bool {
    a.source.key_format.format != b.source.key_format.format
}

fn contains_map(t: &SqlType) -> bool {
    match t {
        SqlType::Map(..) => true,
        SqlType::Array(e) => contains_map(e),
        SqlType::Struct(fields) => fields.iter().any(|(_, t)| contains_map(t)),
        _ => false,
    }
}

/// True when the left operand is already the left side's key: the key
/// column of the first source, or equal to the previous join's key.
fn left_is_key(left: &[Expr], sources: &[Joined], j: usize, equivalent: &[Vec<Expr>]) -> bool {
    if j == 1 {
        let first = &sources[0];
        let keys: Vec<&Column> = first.source.key_columns().collect();
        return keys.len() == left.len()
            && keys
                .iter()
                .zip(left)
                .all(|(k, e)| column_ref(e) == Some(first.joined_name(&k.name).as_str()));
    }
    equivalent.len() == left.len()
        && equivalent
            .iter()
            .zip(left)
            .all(|(eq, e)| eq.iter().any(|x| x == e))
}

/// An expression as ksqlDB shows it in messages: every column qualified
/// by its source's alias.
fn qualified(e: &Expr, sources: &[Joined], upto: usize) -> String {
    let mut e = e.clone();
    let lambdas = lambda_params(&e);
    let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(&mut e, |x| {
        if matches!(x, Expr::Value(v) if matches!(v.value, datafusion::sql::sqlparser::ast::Value::Null))
        {
            *x = Expr::Identifier(Ident::new("null"));
            return ControlFlow::Continue(());
        }
        if let Expr::Identifier(id) = x {
            if !lambdas.contains(&id.value) {
                if let Ok(hits) = unqualified(sources, &id.value, upto) {
                    if let Some(&i) = hits.first() {
                        *x = Expr::CompoundIdentifier(vec![
                            Ident::new(sources[i].alias.clone()),
                            Ident::new(id.value.clone()),
                        ]);
                    }
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    show_raw(&e)
}

fn show_raw(e: &Expr) -> String {
    match e {
        Expr::CompoundIdentifier(ids) => ids
            .iter()
            .map(|i| i.value.as_str())
            .collect::<Vec<_>>()
            .join("."),
        Expr::Nested(inner) => show_raw(inner),
        other => other.to_string(),
    }
}

/// The operands of each equality of the ON condition (equalities joined
/// by AND).
fn equalities<'a>(on: &'a Expr, out: &mut Vec<(&'a Expr, &'a Expr)>) -> Result<()> {
    match on {
        Expr::Nested(inner) => equalities(inner, out),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => {
            out.push((left, right));
            Ok(())
        }
        // Beyond ksqlDB: several equalities joined by AND.
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            equalities(left, out)?;
            equalities(right, out)
        }
        Expr::BinaryOp {
            op:
                BinaryOperator::NotEq
                | BinaryOperator::Lt
                | BinaryOperator::LtEq
                | BinaryOperator::Gt
                | BinaryOperator::GtEq,
            ..
        } => Err(Error::user("Only equality join criteria is supported.")),
        other => Err(Error::user(format!("Unsupported join expression: {other}"))),
    }
}

/// The SQL type of a resolved expression over the sources up to `upto`.
fn expr_type(state: &SessionState, e: &Expr, sources: &[Joined], upto: usize) -> Result<SqlType> {
    let fields: Vec<Field> = sources[..=upto]
        .iter()
        .flat_map(|s| {
            s.columns
                .iter()
                .chain(&s.pseudo)
                .map(|(c, t)| Field::new(s.joined_name(c), t.to_arrow(), true))
        })
        .collect();
    let schema = DFSchema::try_from(Schema::new(fields))?;
    let planned = to_datafusion(state, e, &schema)?;
    let t = planned.get_type(&schema)?;
    SqlType::from_arrow(&t)
}

/// The operators of the join chain.
struct Chain {
    decode: crate::runtime::decode::DecodeStage,
    operators: Vec<Box<dyn Operator>>,
    sides: Vec<SideInput>,
    repartitions: Vec<SideRepartition>,
    /// The last stage's inputs after the first, and which of its inputs
    /// read internal topics.
    sources: Vec<Arc<Source>>,
    internal_inputs: Vec<(usize, String)>,
    single_task: bool,
}

fn source_fields(s: &Joined) -> Vec<Field> {
    s.columns
        .iter()
        .chain(&s.pseudo)
        .map(|(c, t)| Field::new(s.joined_name(c), t.to_arrow(), true))
        .collect()
}

/// Plans a projection over `schema` (unqualified names) to `exprs`,
/// optionally filtered first; returns its operators and output schema.
fn project(
    state: &SessionState,
    schema: &SchemaRef,
    filter: Option<DfExpr>,
    exprs: Vec<DfExpr>,
) -> Result<(Vec<Box<dyn Operator>>, SchemaRef)> {
    let table = Arc::new(StreamTable(Arc::clone(schema)));
    let mut builder = LogicalPlanBuilder::scan(table_ref("$IN"), table, None)?;
    if let Some(f) = filter {
        builder = builder.filter(f)?;
    }
    let plan = builder.project(exprs)?.build()?;
    let optimized = state.optimize(&plan)?;
    let out: SchemaRef = Arc::new(optimized.schema().as_arrow().clone());
    let ops = lower_stateless(state, &optimized)?
        .into_iter()
        .map(|s| Box::new(s) as Box<dyn Operator>)
        .collect();
    Ok((ops, out))
}

fn input(name: &str) -> DfExpr {
    hidden("$IN", name)
}

/// The headers of the record that triggered a join's output row.
fn trigger_headers() -> DfExpr {
    let right = input(&format!("$R{JOIN_HEADERS}"));
    let left = input(&format!("$L{JOIN_HEADERS}"));
    datafusion::logical_expr::when(
        datafusion::functions::core::expr_fn::coalesce(vec![input(JOIN_RIGHT), lit(false)]),
        right,
    )
    .otherwise(left.clone())
    .unwrap_or(left)
}

/// The preparation of source `i`: its row named by joined names, its join
/// key `key` (a rewritten expression), time and null-row flag.
fn prepare_source(
    state: &SessionState,
    s: &Joined,
    keys: &[Expr],
    key_types: &[DataType],
) -> Result<(Vec<Box<dyn Operator>>, SchemaRef)> {
    let row = s.source.row_schema();
    // 1. Rename.
    let mut exprs: Vec<DfExpr> = s
        .columns
        .iter()
        .chain(&s.pseudo)
        .map(|(c, _)| input(c).alias(s.joined_name(c)))
        .collect();
    exprs.push(input(RECORD_HEADERS).alias(JOIN_HEADERS));
    exprs.push(input(RECORD_TIME).alias(JOIN_TIME));
    exprs.push(input(NULL_ROW).alias(JOIN_NULL));
    let filter = match s.source.kind {
        // Stream records without a value never join.
        SourceKind::Stream => Some(not(input(NULL_ROW))),
        SourceKind::Table => Some(table_key_present(&s.source, "$IN")),
    };
    let (mut ops, named) = project(state, &row, filter, exprs)?;
    // 2. The key.
    let df = DFSchema::try_from_qualified_schema(table_ref("$IN"), &named)?;
    let mut exprs: Vec<DfExpr> = named
        .fields()
        .iter()
        .take(named.fields().len() - 2)
        .map(|f| input(f.name()))
        .collect();
    for (i, (key, t)) in keys.iter().zip(key_types).enumerate() {
        let key_expr = to_datafusion(state, key, &df)?;
        exprs.push(cast(key_expr, t.clone()).alias(format!("{JOIN_KEY}{i}")));
    }
    // Records of windowed sources match only within the same window.
    if s.source.window.is_some() {
        let c = keys.len();
        exprs.push(input(&s.joined_name(WINDOW_START)).alias(format!("{JOIN_KEY}{c}")));
        exprs.push(input(&s.joined_name(WINDOW_END)).alias(format!("{JOIN_KEY}{}", c + 1)));
    }
    exprs.push(input(JOIN_TIME));
    exprs.push(input(JOIN_NULL));
    let (more, out) = project(state, &named, None, exprs)?;
    ops.extend(more);
    Ok((ops, out))
}

/// The number of join key columns after the conditions': the window
/// bounds of windowed sources.
fn window_width(sources: &[Joined]) -> usize {
    if sources[0].source.window.is_some() {
        2
    } else {
        0
    }
}

fn build_chain(
    state: &SessionState,
    sources: &[Joined],
    steps: &[Step],
    joined: &Arc<Source>,
    key_columns: &[(String, SqlType)],
    query_id: &str,
    through_topics: bool,
) -> Result<Chain> {
    let first = &sources[0];
    let arrow_types =
        |step: &Step| -> Vec<DataType> { step.key_types.iter().map(SqlType::to_arrow).collect() };
    let key_types = arrow_types(&steps[0]);
    let win = window_width(sources);
    let n = steps.len();
    // Internal topics take ksqlDB's names: the join of step j is nested
    // n - j levels deep on the left of the last one.
    let prefix = |j: usize| "L_".repeat(n - 1 - j);
    let mut repartitions = Vec::new();
    // A re-keyed stream side is written to an internal topic keyed by its
    // join key, in the key format of the side it joins (so that equal keys
    // land in equal partitions), or JSON when both sides are re-keyed.
    let key_names_for = |other: Option<&Joined>, conditions: usize| -> Vec<String> {
        match other {
            Some(o) if o.source.key_columns().count() == conditions => {
                o.source.key_columns().map(|c| c.name.clone()).collect()
            }
            _ => (0..conditions).map(|i| format!("{JOIN_KEY}{i}")).collect(),
        }
    };
    let key_format_for = |other: Option<&Joined>, conditions: usize| match other {
        None if conditions > 1 => crate::format::FormatSpec::new(crate::format::Format::Json),
        Some(o) if o.source.key_format.format != crate::format::Format::None => {
            crate::format::FormatSpec {
                wrap_single_value: None,
                ..o.source.key_format.clone()
            }
        }
        _ => crate::format::FormatSpec::new(crate::format::Format::Json),
    };
    let first_plan = if steps[0].rekey_left && through_topics {
        let name = match steps[0].kind {
            JoinKind::StreamStream { .. } => format!("{}Join-left-repartition", prefix(0)),
            _ => format!("{}Join-repartition", prefix(0)),
        };
        let other = (!steps[0].rekey_right).then_some(&sources[1]);
        Some(Repartition {
            name,
            key_format: key_format_for(other, steps[0].left.len()),
            key_names: key_names_for(other, steps[0].left.len()),
            partitions_of: sources[1].source.topic.clone(),
        })
    } else {
        None
    };
    let mut internal_inputs: Vec<(usize, String)> =
        first_plan.iter().map(|p| (0, p.name.clone())).collect();
    let (mut decode, mut operators, mut left_schema) = side_input(
        state,
        first,
        &steps[0].left,
        &key_types,
        first_plan,
        query_id,
        &mut repartitions,
    )?;
    let mut acc: Vec<Field> = source_fields(first);
    let mut sides = Vec::with_capacity(steps.len());
    // The current stage's inputs after the first, and whether it holds a
    // foreign-key join.
    let mut stage_sources: Vec<Arc<Source>> = Vec::new();
    let mut stage_fk = false;
    for (j, step) in steps.iter().enumerate() {
        let s = &sources[j + 1];
        let key_types = arrow_types(step);
        let conditions = key_types.len();
        let plan = (step.rekey_right && through_topics).then(|| {
            let other = (!(j == 0 && step.rekey_left)).then_some(first);
            Repartition {
                name: format!("{}Join-right-repartition", prefix(j)),
                key_format: key_format_for(other, conditions),
                key_names: key_names_for(other, conditions),
                partitions_of: first.source.topic.clone(),
            }
        });
        if let Some(p) = &plan {
            internal_inputs.push((stage_sources.len() + 1, p.name.clone()));
        }
        let (side_decode, side_ops, right_schema) = side_input(
            state,
            s,
            &step.right,
            &key_types,
            plan,
            query_id,
            &mut repartitions,
        )?;
        stage_sources.push(Arc::clone(&s.source));
        let is_fk = step.kind == JoinKind::ForeignKey;
        stage_fk |= is_fk;
        let width = conditions + win;
        // Output: left, right, key, time, null.
        let mut fields: Vec<Field> = Vec::new();
        for (tag, schema) in [("L", &left_schema), ("R", &right_schema)] {
            let n = schema.fields().len();
            for (i, f) in schema.fields().iter().enumerate() {
                let name = if i >= n - 2 - width || f.name() == JOIN_HEADERS {
                    format!("${tag}{}", f.name())
                } else {
                    f.name().clone()
                };
                fields.push(Field::new(name, f.data_type().clone(), true));
            }
        }
        let out_keys: Vec<DataType> = if is_fk {
            first
                .source
                .key_columns()
                .map(|c| c.sql_type.to_arrow())
                .collect()
        } else {
            let mut keys = key_types.clone();
            keys.extend((0..win).map(|_| DataType::Int64));
            keys
        };
        for (i, t) in out_keys.iter().enumerate() {
            fields.push(Field::new(format!("{JOIN_KEY}{i}"), t.clone(), true));
        }
        fields.push(Field::new(JOIN_TIME, DataType::Int64, true));
        fields.push(Field::new(JOIN_NULL, DataType::Boolean, true));
        fields.push(Field::new(JOIN_RIGHT, DataType::Boolean, true));
        let output: SchemaRef = Arc::new(Schema::new(fields));
        let layout = |schema: &SchemaRef, primary_key: Vec<usize>| {
            let n = schema.fields().len();
            SideLayout {
                schema: Arc::clone(schema),
                key: (n - 2 - width..n - 2).collect(),
                primary_key,
                time: n - 2,
                null_row: n - 1,
            }
        };
        let left_pk: Vec<usize> = if is_fk {
            first
                .source
                .key_columns()
                .filter_map(|c| left_schema.index_of(&first.joined_name(&c.name)).ok())
                .collect()
        } else {
            Vec::new()
        };
        let spec = JoinSpec {
            kind: step.kind,
            join_type: step.join_type,
            left: layout(&left_schema, left_pk),
            right: layout(&right_schema, Vec::new()),
            output: Arc::clone(&output),
        };
        let join_at = operators.len();
        operators.push(Box::new(Join::new(spec)?));
        sides.push(SideInput {
            decode: side_decode,
            operators: side_ops,
            join_at,
        });
        acc.extend(source_fields(s));
        // Prepare the next left input, or the joined source's rows.
        if let Some(next) = steps.get(j + 1) {
            let mut exprs: Vec<DfExpr> = acc.iter().map(|f| input(f.name())).collect();
            exprs.push(trigger_headers().alias(JOIN_HEADERS));
            let next_types = arrow_types(next);
            // Over the accumulated columns by their joined names.
            let acc_schema =
                DFSchema::try_from_qualified_schema(table_ref("$IN"), &Schema::new(acc.clone()))?;
            for (i, t) in next_types.iter().enumerate() {
                let key = if next.rekey_left {
                    cast(to_datafusion(state, &next.left[i], &acc_schema)?, t.clone())
                } else {
                    cast(input(&format!("{JOIN_KEY}{i}")), t.clone())
                };
                exprs.push(key.alias(format!("{JOIN_KEY}{i}")));
            }
            for w in 0..win {
                exprs.push(
                    input(&format!("{JOIN_KEY}{}", conditions + w))
                        .alias(format!("{JOIN_KEY}{}", next_types.len() + w)),
                );
            }
            exprs.push(input(JOIN_TIME));
            exprs.push(input(JOIN_NULL));
            let (ops, schema) = project(state, &output, None, exprs)?;
            operators.extend(ops);
            left_schema = schema;
            if next.rekey_left && through_topics {
                // The stage so far writes the intermediate result, keyed by
                // the next join's left expression, to an internal topic;
                // the next stage reads it as its first input.
                let name = format!("{}Join-left-repartition", prefix(j + 1));
                let right = &sources[j + 2];
                let other = (!next.rekey_right).then_some(right);
                let key_format = key_format_for(other, next_types.len());
                let key_names = key_names_for(other, next_types.len());
                let (topic_source, read_ops, read_schema) = internal_topic(
                    state,
                    &left_schema,
                    &next_types,
                    key_format,
                    &key_names,
                    "$JOIN",
                )?;
                let n = left_schema.fields().len();
                let c = next_types.len();
                let stage_decode = decode_stage(state, &topic_source, query_id)?;
                repartitions.push(SideRepartition {
                    name: name.clone(),
                    source: Arc::clone(&first.source),
                    decode: std::mem::replace(&mut decode, stage_decode),
                    operators: std::mem::replace(&mut operators, read_ops),
                    output_schema: Arc::clone(&left_schema),
                    key_columns: (n - 2 - c..n - 2).collect(),
                    value_columns: (0..n - 2 - c).collect(),
                    time_column: n - 2,
                    partitions_of: right.source.topic.clone(),
                    topic_source,
                    sides: std::mem::take(&mut sides),
                    more_sources: std::mem::take(&mut stage_sources),
                    internal_inputs: std::mem::replace(
                        &mut internal_inputs,
                        vec![(0, name.clone())],
                    ),
                    single_task: stage_fk,
                });
                stage_fk = false;
                left_schema = read_schema;
            }
        } else {
            let row = joined.row_schema();
            let mut exprs: Vec<DfExpr> = Vec::with_capacity(row.fields().len());
            let keys: Vec<&str> = key_columns.iter().map(|(n, _)| n.as_str()).collect();
            for f in row.fields() {
                let name = f.name().as_str();
                let e = if let Some(k) = keys.iter().position(|k| *k == name) {
                    if is_fk {
                        // The left table's key: its own column.
                        cast(input(&format!("{JOIN_KEY}{k}")), f.data_type().clone())
                    } else {
                        cast(input(&format!("{JOIN_KEY}{k}")), f.data_type().clone())
                    }
                } else if acc.iter().any(|a| a.name() == name) {
                    cast(input(name), f.data_type().clone())
                } else {
                    match name {
                        "ROWTIME" => input(JOIN_TIME),
                        n if n == WINDOW_START && win == 2 => {
                            input(&format!("{JOIN_KEY}{conditions}"))
                        }
                        n if n == WINDOW_END && win == 2 => {
                            input(&format!("{JOIN_KEY}{}", conditions + 1))
                        }
                        n if n == RECORD_TIME => input(JOIN_TIME),
                        n if n == NULL_ROW => datafusion::functions::core::expr_fn::coalesce(vec![
                            input(JOIN_NULL),
                            lit(false),
                        ]),
                        n if n == RECORD_HEADERS => trigger_headers(),
                        _ => lit(ScalarValue::try_from(f.data_type())?),
                    }
                };
                exprs.push(e.alias(name));
            }
            let (ops, _) = project(state, &output, None, exprs)?;
            operators.extend(ops);
        }
    }
    Ok(Chain {
        decode,
        operators,
        sides,
        repartitions,
        sources: stage_sources,
        internal_inputs,
        single_task: stage_fk,
    })
}

/// An internal topic's columns and formats, the operators reading its
/// rows back, and their schema.
type InternalTopic = (Source, Vec<Box<dyn Operator>>, SchemaRef);

/// An input's decoding, the operators preparing its rows, and their schema.
type PreparedInput = (
    crate::runtime::decode::DecodeStage,
    Vec<Box<dyn Operator>>,
    SchemaRef,
);

/// How a re-keyed stream side goes through an internal topic.
struct Repartition {
    name: String,
    /// The key format and key column names of the side it joins, so that
    /// equal keys are written as that side's are (and land in the same
    /// partition).
    key_format: crate::format::FormatSpec,
    key_names: Vec<String>,
    partitions_of: String,
}

/// One input of the join chain: its decoding and the operators preparing
/// its rows. A re-keyed side is prepared by a first stage writing the
/// internal topic (added to `repartitions`); the join then reads that topic.
fn side_input(
    state: &SessionState,
    s: &Joined,
    keys: &[Expr],
    key_types: &[DataType],
    repartition: Option<Repartition>,
    query_id: &str,
    repartitions: &mut Vec<SideRepartition>,
) -> Result<PreparedInput> {
    let (ops, prepared) = prepare_source(state, s, keys, key_types)?;
    let decode = decode_stage(state, &s.source, query_id)?;
    let Some(plan) = repartition else {
        return Ok((decode, ops, prepared));
    };
    let (topic_source, mut read_ops, read_schema) = internal_topic(
        state,
        &prepared,
        key_types,
        plan.key_format,
        &plan.key_names,
        &s.source.name,
    )?;
    // What the first stage wrote again after a crash (it is at-least-once)
    // is dropped by the source partition and offset each row carries.
    let partition = read_schema.index_of(&s.joined_name("ROWPARTITION"))?;
    let offset = read_schema.index_of(&s.joined_name("ROWOFFSET"))?;
    read_ops.push(Box::new(crate::runtime::operators::dedup::Dedup::new(
        partition, offset,
    )));
    let n = prepared.fields().len();
    let c = key_types.len();
    repartitions.push(SideRepartition {
        name: plan.name,
        source: Arc::clone(&s.source),
        decode,
        operators: ops,
        output_schema: Arc::clone(&prepared),
        key_columns: (n - 2 - c..n - 2).collect(),
        value_columns: (0..n - 2 - c).collect(),
        time_column: n - 2,
        partitions_of: plan.partitions_of,
        topic_source: topic_source.clone(),
        sides: Vec::new(),
        more_sources: Vec::new(),
        internal_inputs: Vec::new(),
        single_task: false,
    });
    Ok((
        decode_stage(state, &topic_source, query_id)?,
        read_ops,
        read_schema,
    ))
}

/// The internal topic rows of the prepared layout `prepared` (its named
/// columns, headers, one key column, time, null flag) are written to: its
/// columns and formats, and the operators reading them back into the same
/// layout.
fn internal_topic(
    state: &SessionState,
    prepared: &SchemaRef,
    key_types: &[DataType],
    key_format: crate::format::FormatSpec,
    key_names: &[String],
    name: &str,
) -> Result<InternalTopic> {
    let n = prepared.fields().len();
    let c = key_types.len();
    let named = &prepared.fields()[..n - 2 - c];
    let mut columns = Vec::with_capacity(n);
    for (k, t) in key_names.iter().zip(key_types) {
        columns.push(Column {
            name: k.clone(),
            sql_type: SqlType::from_arrow(t)?,
            namespace: ColumnNamespace::Key,
        });
    }
    for f in named {
        columns.push(Column {
            name: f.name().clone(),
            sql_type: SqlType::from_arrow(f.data_type())?,
            namespace: ColumnNamespace::Value,
        });
    }
    let topic_source = Source {
        name: format!("{name}$REPARTITION"),
        kind: SourceKind::Stream,
        columns,
        topic: String::new(),
        key_format,
        value_format: crate::format::FormatSpec::new(crate::format::Format::Json),
        timestamp: None,
        is_source: false,
        sql: String::new(),
        created_by: None,
        window: None,
    };
    let rows = topic_source.row_schema();
    let mut exprs: Vec<DfExpr> = named.iter().map(|f| input(f.name())).collect();
    exprs.extend(
        key_names
            .iter()
            .enumerate()
            .map(|(i, k)| input(k).alias(format!("{JOIN_KEY}{i}"))),
    );
    exprs.push(input(RECORD_TIME).alias(JOIN_TIME));
    exprs.push(input(NULL_ROW).alias(JOIN_NULL));
    let (read_ops, read_schema) = project(state, &rows, Some(not(input(NULL_ROW))), exprs)?;
    Ok((topic_source, read_ops, read_schema))
}
