//! The projection of a SELECT: wildcards expanded, every item named (with
//! ksqlDB's `KSQL_COL_n` for unnamed expressions), and which items become
//! the key of the output, in key order.

use std::collections::HashSet;

use arrow::datatypes::DataType;
use datafusion::common::DFSchema;
use datafusion::execution::SessionState;
use datafusion::logical_expr::ExprSchemable;
use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, Ident, Value};

use super::expr::{column_ref, implicit_name, to_datafusion};
use crate::catalog::{Source, PSEUDO_COLUMNS};
use crate::error::{Error, Result};
use crate::sql::ast::{Query, SelectItem};

/// One named item of the projection.
pub(crate) struct SelectedItem {
    /// The expression.
    pub expr: Expr,
    /// The output column name.
    pub name: String,
}

/// True when the query re-keys by expressions (`PARTITION BY NULL` drops the
/// key instead).
pub(crate) fn repartitions(query: &Query) -> bool {
    !query.partition_by.is_empty() && !partitions_by_null(query)
}

/// True for `PARTITION BY NULL`.
pub(crate) fn partitions_by_null(query: &Query) -> bool {
    matches!(query.partition_by.as_slice(), [Expr::Value(v)] if matches!(v.value, Value::Null))
}

fn column_expr(name: &str) -> Expr {
    Expr::Identifier(Ident::with_quote('`', name))
}

/// The columns `*` stands for. After `PARTITION BY`, as in ksqlDB, they are
/// the partitioning expressions (the new key), then the source's value
/// columns, then its old key columns, each without the columns that became
/// the key.
fn wildcard_columns(
    source: &Source,
    query: &Query,
    persistent: bool,
) -> Vec<(Expr, Option<String>)> {
    if !repartitions(query) {
        let mut out: Vec<(Expr, Option<String>)> = source
            .columns
            .iter()
            .map(|c| (column_expr(&c.name), Some(c.name.clone())))
            .collect();
        // A push query over a windowed source shows the window bounds after
        // the key, as ksqlDB does (a persistent query keeps them in the key).
        if !persistent && source.window.is_some() {
            let at = source.key_columns().count();
            for (i, name) in [crate::catalog::WINDOW_START, crate::catalog::WINDOW_END]
                .iter()
                .enumerate()
            {
                out.insert(at + i, (column_expr(name), Some(name.to_string())));
            }
        }
        return out;
    }
    let mut out: Vec<(Expr, Option<String>)> = query
        .partition_by
        .iter()
        .map(|p| (p.clone(), implicit_name(p)))
        .collect();
    let partitioned: HashSet<&str> = query.partition_by.iter().filter_map(column_ref).collect();
    let values = source.columns.iter().filter(|c| !c.is_key());
    let keys = source.columns.iter().filter(|c| c.is_key());
    for c in values.chain(keys) {
        if !partitioned.contains(c.name.as_str()) {
            out.push((column_expr(&c.name), Some(c.name.clone())));
        }
    }
    out
}

/// Expands wildcards and names every item of the projection.
pub(crate) fn expand_select(
    state: &SessionState,
    source: &Source,
    qualifier: &str,
    df_schema: &DFSchema,
    query: &Query,
    persistent: bool,
) -> Result<Vec<SelectedItem>> {
    let mut raw: Vec<(Expr, Option<String>)> = Vec::new();
    // Items named after a struct field (`s->f`), named last.
    let mut field_named: Vec<usize> = Vec::new();
    for item in &query.select {
        match item {
            SelectItem::Wildcard => raw.extend(wildcard_columns(source, query, persistent)),
            SelectItem::QualifiedWildcard(q) => {
                if q != qualifier && q != &source.name {
                    return Err(Error::user(format!(
                        "'{q}' is not a valid stream/table name or alias."
                    )));
                }
                raw.extend(wildcard_columns(source, query, persistent))
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
                            op: BinaryOperator::Arrow,
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
                let reserved = |name: &str| {
                    PSEUDO_COLUMNS.iter().any(|(p, _)| *p == name)
                        || name == "WINDOWSTART"
                        || name == "WINDOWEND"
                };
                match alias {
                    Some(a) if reserved(a) => {
                        return Err(Error::user_at(
                            format!(
                                "`{a}` is a reserved column name. You cannot use it as an \
                                 alias for a column."
                            ),
                            *location,
                        ));
                    }
                    None if persistent => {
                        if let Some(c) = column_ref(expr).filter(|c| reserved(c)) {
                            return Err(Error::user_at(
                                format!(
                                    "Reserved column name in select: `{c}`. Please remove or \
                                     alias the column."
                                ),
                                *location,
                            ));
                        }
                    }
                    _ => {}
                }
                match alias {
                    Some(a) => raw.push((expr.clone(), Some(a.clone()))),
                    None if column_ref(expr).is_none() && implicit_name(expr).is_some() => {
                        field_named.push(raw.len());
                        raw.push((expr.clone(), None));
                    }
                    None => raw.push((expr.clone(), implicit_name(expr))),
                }
            }
        }
    }
    // Generated names skip every name already taken, the source's columns
    // included; a struct field's name gets a `_n` suffix when taken.
    let mut taken: HashSet<String> = raw.iter().filter_map(|(_, n)| n.clone()).collect();
    taken.extend(source.columns.iter().map(|c| c.name.clone()));
    for &i in &field_named {
        if let Some(field) = implicit_name(&raw[i].0) {
            let mut name = field.clone();
            let mut n = 0;
            while taken.contains(&name) {
                n += 1;
                name = format!("{field}_{n}");
            }
            taken.insert(name.clone());
            raw[i].1 = Some(name);
        }
    }
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

/// For each projected item, its position in the output key, or `None` for
/// a value column. The key keeps the source's key order, or the order of
/// the `PARTITION BY` expressions. With ksqlDB's new query planner
/// (`new_planner`), the source's key columns keep their projection order
/// instead and may be left out (the output then has no key).
pub(crate) fn key_positions(
    source: &Source,
    items: &[SelectedItem],
    query: &Query,
    sink: Option<&str>,
    new_planner: bool,
) -> Result<Vec<Option<usize>>> {
    let mut positions = vec![None; items.len()];
    if partitions_by_null(query) {
        return Ok(positions);
    }
    let keys: Vec<Expr> = if query.partition_by.is_empty() {
        source.key_columns().map(|k| column_expr(&k.name)).collect()
    } else {
        query.partition_by.clone()
    };
    let matches = |item: &SelectedItem, key: &Expr| {
        &item.expr == key
            || matches!((column_ref(&item.expr), column_ref(key)), (Some(a), Some(b)) if a == b)
    };
    for (k, key) in keys.iter().enumerate() {
        let found: Vec<usize> = (0..items.len())
            .filter(|&i| matches(&items[i], key))
            .collect();
        match (found.as_slice(), sink) {
            ([], Some(_)) if query.partition_by.is_empty() && new_planner => {}
            ([], Some(sink)) if query.partition_by.is_empty() => {
                let name = column_ref(key).unwrap_or_default();
                return Err(Error::user(format!(
                    "The query used to build `{sink}` must include the key column {name} in \
                     its projection (eg, SELECT {name}...)."
                )));
            }
            ([], Some(sink)) => {
                return Err(Error::user(format!(
                    "The query used to build `{sink}` must include the partitioning \
                     expression {key} in its projection (eg, SELECT {key}...)."
                )));
            }
            ([], None) => {}
            ([i], _) => positions[*i] = Some(k),
            ([first, rest @ ..], Some(_)) => {
                let mut names = vec![items[*first].name.as_str()];
                names.extend(rest.iter().map(|i| items[*i].name.as_str()));
                let key_name = column_ref(key)
                    .map(str::to_string)
                    .unwrap_or_else(|| key.to_string());
                return Err(Error::user(format!(
                    "The projection contains a key column (`{key_name}`) more than once, \
                     aliased as: {}.",
                    names.join(" and ")
                )));
            }
            ([first, ..], None) => positions[*first] = Some(k),
        }
    }
    if new_planner && query.partition_by.is_empty() {
        // Keys in projection order.
        for (next, p) in positions.iter_mut().flatten().enumerate() {
            *p = next;
        }
    }
    Ok(positions)
}
