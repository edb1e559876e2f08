//! The WHERE clause of a pull query, read as ksqlDB reads it.
//!
//! * Comparisons of a column with a literal must be typed: ksqlDB rejects
//!   `ID = '10'` on an INTEGER column, `ID = NULL`, `V BETWEEN 10 AND 'x'`
//!   on a STRING column, `LIKE` on a non-string column — always, with the
//!   messages checked here ([`check_types`]).
//! * On a table, the clause (in disjunctive normal form) says how the
//!   materialized state is read ([`access`]): the rows of some keys when
//!   every disjunct fixes every key column with `=` or `IN`, a range of the
//!   first key column for one disjunct bounding it, else a table scan.
//!   With `ksql.query.pull.table.scan.enabled=false` a clause that needs a
//!   scan is rejected with ksqlDB's reason (and with
//!   `ksql.query.pull.range.scan.enabled`, a range of a STRING key is
//!   allowed without one).
//!
//! Reading the store only narrows the rows: the whole WHERE clause is
//! evaluated over them afterwards, so an access path may return more rows
//! than match, never fewer.

use std::ops::{Bound, ControlFlow};

use datafusion::sql::sqlparser::ast::{self as sql, BinaryOperator, Expr, UnaryOperator, Value};

use crate::catalog::{Column, Source, WINDOW_END, WINDOW_START};
use crate::error::{Error, Result};
use crate::plan::expr::column_ref;
use crate::types::SqlType;

/// The pull-query settings that decide whether a scan is allowed.
#[derive(Debug, Clone, Copy)]
pub(super) struct ScanOptions {
    /// `ksql.query.pull.table.scan.enabled` (default true).
    pub table_scan: bool,
    /// `ksql.query.pull.range.scan.enabled` (default true).
    pub range_scan: bool,
}

/// How the rows of a table are read, with the expressions (constant, to
/// be evaluated) that give the keys or bounds.
#[derive(Debug)]
pub(super) enum Access<'a> {
    /// Every row.
    Scan,
    /// The rows of these keys: one expression per key column each.
    Keys(Vec<Vec<&'a Expr>>),
    /// The rows whose first key column lies between the bounds.
    Range {
        /// The lower bound.
        lower: Bound<&'a Expr>,
        /// The upper bound.
        upper: Bound<&'a Expr>,
    },
}

/// The most key tuples a lookup enumerates before a scan is cheaper.
const MAX_KEYS: usize = 10_000;
/// The most disjuncts the WHERE clause is expanded to.
const MAX_DISJUNCTS: usize = 256;

/// How a key column is used by one conjunct.
#[derive(Debug)]
enum KeyUse<'a> {
    /// `KEY = value` or `KEY IN (values)`.
    Eq { key: usize, values: Vec<&'a Expr> },
    /// `KEY op value`, the key on the left.
    Range {
        key: usize,
        op: BinaryOperator,
        value: &'a Expr,
    },
    /// A use that needs a table scan.
    Bad(Problem),
}

/// Why a use of a key column needs a table scan.
#[derive(Debug, Clone, Copy)]
enum Problem {
    NotEqual,
    Unresolvable,
    Indirect,
    Unsupported,
}

/// One disjunct: its conjuncts, and how they use key columns.
struct Disjunct<'a> {
    conjuncts: Vec<&'a Expr>,
    keys: Vec<KeyUse<'a>>,
    /// A `LIKE` between two constants (ksqlDB's own error with scans off).
    constant_like: bool,
}

/// How `selection` reads the table `source`; an error when ksqlDB rejects
/// the clause under `options`.
pub(super) fn access<'a>(
    selection: Option<&'a Expr>,
    source: &Source,
    options: ScanOptions,
) -> Result<Access<'a>> {
    let keys: Vec<&Column> = source.key_columns().collect();
    let Some(expr) = selection else {
        return scan(options);
    };
    let Some(disjuncts) = dnf(expr) else {
        return scan(options);
    };
    let disjuncts: Vec<Disjunct<'a>> = disjuncts
        .into_iter()
        .map(|conjuncts| {
            let keys_used = conjuncts.iter().filter_map(|c| key_use(c, &keys)).collect();
            let constant_like = conjuncts.iter().any(|c| {
                matches!(c, Expr::Like { expr, pattern, .. }
                    if !has_columns(expr) && !has_columns(pattern))
            });
            Disjunct {
                conjuncts,
                keys: keys_used,
                constant_like,
            }
        })
        .collect();
    if !options.table_scan {
        validate(&disjuncts, &keys, source.window.is_some(), options)?;
    }
    if let Some(tuples) = lookup(&disjuncts, keys.len()) {
        return Ok(Access::Keys(tuples));
    }
    if let [only] = disjuncts.as_slice() {
        if let Some(range) = range(only) {
            return Ok(range);
        }
    }
    scan(options)
}

/// ksqlDB's message when a query needs a scan and scans are disabled.
const SCAN_DISABLED: &str = "Query requires table scan to be enabled. Table scans can be \
                             enabled by setting ksql.query.pull.table.scan.enabled=true";

fn scan<'a>(options: ScanOptions) -> Result<Access<'a>> {
    if options.table_scan {
        Ok(Access::Scan)
    } else {
        Err(Error::user(SCAN_DISABLED))
    }
}

/// ksqlDB's errors for a clause that needs a table scan while scans are
/// disabled.
fn validate(
    disjuncts: &[Disjunct<'_>],
    keys: &[&Column],
    windowed: bool,
    options: ScanOptions,
) -> Result<()> {
    for d in disjuncts {
        for u in &d.keys {
            if let KeyUse::Bad(problem) = u {
                return Err(Error::user(match problem {
                    Problem::NotEqual => format!(
                        "Bound on key columns '[{}]' must currently be '='. ",
                        keys.iter()
                            .map(|k| key_description(k))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Problem::Unresolvable => {
                        "A comparison must be between a key column and a resolvable expression."
                            .to_string()
                    }
                    Problem::Indirect => {
                        "A comparison must directly reference a key column.".to_string()
                    }
                    Problem::Unsupported => SCAN_DISABLED.to_string(),
                }));
            }
        }
        let mut counts = vec![0usize; keys.len()];
        for u in &d.keys {
            if let KeyUse::Eq { key, .. } | KeyUse::Range { key, .. } = u {
                counts[*key] += 1;
            }
        }
        if counts.iter().any(|&c| c > 1) {
            return Err(Error::user(
                "A comparison condition on the key column cannot be combined with other \
                 comparisons such as an IN predicate",
            ));
        }
        if d.keys.is_empty() {
            if d.constant_like {
                return Err(Error::user("Like condition must be between strings"));
            }
            return Err(Error::user(format!(
                "WHERE clause missing key column for disjunct: {}",
                conjunction_text(&d.conjuncts)
            )));
        }
        let seen = counts.iter().filter(|&&c| c > 0).count();
        let ranged = d.keys.iter().any(|u| matches!(u, KeyUse::Range { .. }));
        if seen < keys.len() && (ranged || keys.len() > 1) {
            return Err(Error::user(
                "Multi-column sources must specify every key in the WHERE clause.",
            ));
        }
        if ranged {
            let string_key = keys.first().is_some_and(|k| k.sql_type == SqlType::String);
            if !options.range_scan
                || keys.len() > 1
                || windowed
                || !string_key
                || disjuncts.len() > 1
            {
                return Err(Error::user(SCAN_DISABLED));
            }
        }
    }
    Ok(())
}

/// The key tuples of a clause whose every disjunct fixes every key column
/// once, with `=` or `IN`.
fn lookup<'a>(disjuncts: &[Disjunct<'a>], key_count: usize) -> Option<Vec<Vec<&'a Expr>>> {
    if key_count == 0 {
        return None;
    }
    let mut tuples: Vec<Vec<&'a Expr>> = Vec::new();
    for d in disjuncts {
        let mut per_key: Vec<Option<&Vec<&'a Expr>>> = vec![None; key_count];
        for u in &d.keys {
            match u {
                KeyUse::Eq { key, values } if per_key[*key].is_none() => {
                    per_key[*key] = Some(values)
                }
                _ => return None,
            }
        }
        let mut product: Vec<Vec<&'a Expr>> = vec![Vec::new()];
        for values in per_key {
            let values = values?;
            if product.len().saturating_mul(values.len()) > MAX_KEYS {
                return None;
            }
            product = product
                .into_iter()
                .flat_map(|prefix| {
                    values.iter().map(move |v| {
                        let mut t = prefix.clone();
                        t.push(*v);
                        t
                    })
                })
                .collect();
        }
        tuples.extend(product);
        if tuples.len() > MAX_KEYS {
            return None;
        }
    }
    Some(tuples)
}

/// The range of the first key column one disjunct bounds, if it does and
/// uses no key column in a way that needs a scan.
fn range<'a>(d: &Disjunct<'a>) -> Option<Access<'a>> {
    let mut lower = Bound::Unbounded;
    let mut upper = Bound::Unbounded;
    for u in &d.keys {
        match u {
            KeyUse::Bad(_) => return None,
            KeyUse::Range { key: 0, op, value } => match op {
                BinaryOperator::Gt if matches!(lower, Bound::Unbounded) => {
                    lower = Bound::Excluded(*value)
                }
                BinaryOperator::GtEq if matches!(lower, Bound::Unbounded) => {
                    lower = Bound::Included(*value)
                }
                BinaryOperator::Lt if matches!(upper, Bound::Unbounded) => {
                    upper = Bound::Excluded(*value)
                }
                BinaryOperator::LtEq if matches!(upper, Bound::Unbounded) => {
                    upper = Bound::Included(*value)
                }
                _ => {}
            },
            _ => {}
        }
    }
    if matches!((&lower, &upper), (Bound::Unbounded, Bound::Unbounded)) {
        return None;
    }
    Some(Access::Range { lower, upper })
}

/// How `conjunct` uses a key column, if it does.
fn key_use<'a>(conjunct: &'a Expr, keys: &[&Column]) -> Option<KeyUse<'a>> {
    let key_index = |e: &Expr| column_ref(e).and_then(|c| keys.iter().position(|k| k.name == c));
    let uses_key = |e: &Expr| {
        let mut found = false;
        let _ = sql::visit_expressions(e, |x| {
            if column_name(x).is_some_and(|c| keys.iter().any(|k| k.name == c)) {
                found = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        });
        found
    };
    match conjunct {
        Expr::Nested(inner) => key_use(inner, keys),
        Expr::BinaryOp { left, op, right } if crate::plan::expr::is_comparison(op) => {
            match (key_index(left), key_index(right)) {
                (Some(k), _) if !has_columns(right) => Some(key_comparison(k, op.clone(), right)),
                (_, Some(k)) if !has_columns(left) => Some(key_comparison(k, flip(op), left)),
                (Some(_), _) | (_, Some(_)) => Some(KeyUse::Bad(Problem::Unresolvable)),
                _ if uses_key(conjunct) => Some(KeyUse::Bad(Problem::Indirect)),
                _ => None,
            }
        }
        Expr::InList {
            expr,
            list,
            negated,
        } => match key_index(expr) {
            Some(_) if *negated => Some(KeyUse::Bad(Problem::Unsupported)),
            Some(_) if list.iter().any(has_columns) => Some(KeyUse::Bad(Problem::Unresolvable)),
            Some(key) => Some(KeyUse::Eq {
                key,
                values: list.iter().collect(),
            }),
            None if uses_key(conjunct) => Some(KeyUse::Bad(Problem::Unsupported)),
            None => None,
        },
        _ if uses_key(conjunct) => Some(KeyUse::Bad(Problem::Unsupported)),
        _ => None,
    }
}

fn key_comparison(key: usize, op: BinaryOperator, value: &Expr) -> KeyUse<'_> {
    match op {
        BinaryOperator::Eq => KeyUse::Eq {
            key,
            values: vec![value],
        },
        BinaryOperator::NotEq => KeyUse::Bad(Problem::NotEqual),
        BinaryOperator::Lt | BinaryOperator::LtEq | BinaryOperator::Gt | BinaryOperator::GtEq => {
            KeyUse::Range { key, op, value }
        }
        _ => KeyUse::Bad(Problem::Unsupported),
    }
}

/// `a op b` as `b op' a`.
fn flip(op: &BinaryOperator) -> BinaryOperator {
    match op {
        BinaryOperator::Lt => BinaryOperator::Gt,
        BinaryOperator::LtEq => BinaryOperator::GtEq,
        BinaryOperator::Gt => BinaryOperator::Lt,
        BinaryOperator::GtEq => BinaryOperator::LtEq,
        other => other.clone(),
    }
}

/// The clause as a disjunction of conjunctions, or `None` when it would be
/// too large.
fn dnf(e: &Expr) -> Option<Vec<Vec<&Expr>>> {
    match e {
        Expr::Nested(inner) => dnf(inner),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Or,
            right,
        } => {
            let mut out = dnf(left)?;
            out.extend(dnf(right)?);
            (out.len() <= MAX_DISJUNCTS).then_some(out)
        }
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            let l = dnf(left)?;
            let r = dnf(right)?;
            if l.len().saturating_mul(r.len()) > MAX_DISJUNCTS {
                return None;
            }
            Some(
                l.iter()
                    .flat_map(|a| {
                        r.iter().map(move |b| {
                            let mut c = a.clone();
                            c.extend(b.iter().copied());
                            c
                        })
                    })
                    .collect(),
            )
        }
        other => Some(vec![vec![other]]),
    }
}

/// The name a column reference refers to.
fn column_name(e: &Expr) -> Option<&str> {
    match e {
        Expr::Identifier(id) => Some(&id.value),
        Expr::CompoundIdentifier(ids) => ids.last().map(|i| i.value.as_str()),
        _ => None,
    }
}

/// True when `e` refers to any column.
fn has_columns(e: &Expr) -> bool {
    let mut found = false;
    let _ = sql::visit_expressions(e, |x| {
        if column_name(x).is_some() {
            found = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

/// `` `ID` STRING KEY ``.
fn key_description(c: &Column) -> String {
    format!("`{}` {} KEY", c.name, c.sql_type)
}

/// The checks ksqlDB's type checker makes on a pull query's WHERE clause:
/// comparisons of a column with a literal of another type, with NULL,
/// `BETWEEN` bounds, `LIKE` on a non-string column, `IN` lists of a key
/// column, and window bounds on a table without windows.
pub(super) fn check_types(expr: &Expr, source: &Source) -> Result<()> {
    let mut failure = None;
    let _ = sql::visit_expressions(expr, |e| match check_one(e, source) {
        Ok(()) => ControlFlow::Continue(()),
        Err(err) => {
            failure = Some(err);
            ControlFlow::Break(())
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn check_one(e: &Expr, source: &Source) -> Result<()> {
    match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
            if let Some(name) = column_name(e) {
                if source.window.is_none() && (name == WINDOW_START || name == WINDOW_END) {
                    return Err(Error::user(format!(
                        "WHERE column '{name}' cannot be resolved."
                    )));
                }
            }
            Ok(())
        }
        Expr::BinaryOp { left, op, right } if crate::plan::expr::is_comparison(op) => {
            compare(left, op, right, source, "Error in WHERE expression: ", true)
        }
        Expr::Between {
            expr, low, high, ..
        } => {
            compare(
                expr,
                &BinaryOperator::GtEq,
                low,
                source,
                "Invalid expression: ",
                false,
            )?;
            compare(
                expr,
                &BinaryOperator::LtEq,
                high,
                source,
                "Invalid expression: ",
                false,
            )
        }
        Expr::Like { expr, .. } => match column_type(expr, source) {
            Some((_, t)) if t != SqlType::String => Err(Error::user(format!(
                "The column type for Like condition must be VARCHAR. The column type is {t}"
            ))),
            _ => Ok(()),
        },
        Expr::InList { expr, list, .. } => {
            let Some(key) =
                column_ref(expr).and_then(|c| source.key_columns().find(|k| k.name == c))
            else {
                return Ok(());
            };
            for item in list {
                if let Some(lit) = literal(item) {
                    if lit.null {
                        continue;
                    }
                    if !compatible(&key.sql_type, &lit) {
                        return Err(Error::user(format!(
                            "{} can not be converted to the type of the key column: {} {} KEY",
                            lit.text, key.name, key.sql_type
                        )));
                    }
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A literal's text (as ksqlDB prints it), type name and kind.
struct Literal {
    text: String,
    type_name: String,
    kind: Option<Kind>,
    null: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    String,
    Boolean,
}

fn literal(e: &Expr) -> Option<Literal> {
    let number = |text: &str| {
        let type_name = if text.contains(['e', 'E']) {
            "DOUBLE".to_string()
        } else if let Some((int, frac)) = text.split_once('.') {
            let int = int.trim_start_matches('-').trim_start_matches('0');
            format!(
                "DECIMAL({}, {})",
                (int.len() + frac.len()).max(1),
                frac.len()
            )
        } else if text.parse::<i32>().is_ok() {
            "INTEGER".to_string()
        } else {
            "BIGINT".to_string()
        };
        Literal {
            text: text.to_string(),
            type_name,
            kind: Some(Kind::Number),
            null: false,
        }
    };
    match e {
        Expr::Nested(inner) => literal(inner),
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => Some(number(n)),
            Value::SingleQuotedString(s) => Some(Literal {
                text: format!("'{s}'"),
                type_name: "STRING".into(),
                kind: Some(Kind::String),
                null: false,
            }),
            Value::Boolean(b) => Some(Literal {
                text: b.to_string(),
                type_name: "BOOLEAN".into(),
                kind: Some(Kind::Boolean),
                null: false,
            }),
            Value::Null => Some(Literal {
                text: "null".into(),
                type_name: "NULL".into(),
                kind: None,
                null: true,
            }),
            _ => None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match expr.as_ref() {
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => Some(number(&format!("-{n}"))),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

fn kind_of(t: &SqlType) -> Option<Kind> {
    match t {
        SqlType::Int | SqlType::Bigint | SqlType::Double | SqlType::Decimal(..) => {
            Some(Kind::Number)
        }
        SqlType::String => Some(Kind::String),
        SqlType::Boolean => Some(Kind::Boolean),
        _ => None,
    }
}

fn compatible(t: &SqlType, lit: &Literal) -> bool {
    match (kind_of(t), lit.kind) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

/// A source column (not a pseudo or window column) and its type.
fn column_type(e: &Expr, source: &Source) -> Option<(String, SqlType)> {
    let name = column_ref(e)?;
    source
        .column(name)
        .map(|c| (c.name.clone(), c.sql_type.clone()))
}

fn compare(
    left: &Expr,
    op: &BinaryOperator,
    right: &Expr,
    source: &Source,
    prefix: &str,
    with_statement: bool,
) -> Result<()> {
    let sides = match (column_type(left, source), literal(right)) {
        (Some(c), Some(l)) => Some((c, l, true)),
        _ => match (literal(left), column_type(right, source)) {
            (Some(l), Some(c)) => Some((c, l, false)),
            _ => None,
        },
    };
    let Some(((name, t), lit, column_first)) = sides else {
        return Ok(());
    };
    let symbol = op_symbol(op);
    let statement = || {
        if column_first {
            format!("({name} {symbol} {})", lit.text)
        } else {
            format!("({} {symbol} {name})", lit.text)
        }
    };
    let suffix = |s: String| {
        if with_statement {
            format!("\nStatement: {s}")
        } else {
            String::new()
        }
    };
    if lit.null {
        return Err(Error::user(format!(
            "{prefix}Comparison with NULL not supported: {t} {symbol} NULL\nUse 'IS NULL' or \
             'IS NOT NULL' instead.{}",
            suffix(statement())
        )));
    }
    if compatible(&t, &lit) {
        return Ok(());
    }
    let (a, b) = if column_first {
        (
            format!("{name} ({t})"),
            format!("{} ({})", lit.text, lit.type_name),
        )
    } else {
        (
            format!("{} ({})", lit.text, lit.type_name),
            format!("{name} ({t})"),
        )
    };
    Err(Error::user(format!(
        "{prefix}Cannot compare {a} to {b} with {}.{}",
        op_name(op),
        suffix(statement())
    )))
}

fn op_symbol(op: &BinaryOperator) -> &'static str {
    match op {
        BinaryOperator::Eq => "=",
        BinaryOperator::NotEq => "<>",
        BinaryOperator::Lt => "<",
        BinaryOperator::LtEq => "<=",
        BinaryOperator::Gt => ">",
        BinaryOperator::GtEq => ">=",
        BinaryOperator::And => "AND",
        BinaryOperator::Or => "OR",
        BinaryOperator::Plus => "+",
        BinaryOperator::Minus => "-",
        BinaryOperator::Multiply => "*",
        BinaryOperator::Divide => "/",
        BinaryOperator::Modulo => "%",
        _ => "?",
    }
}

fn op_name(op: &BinaryOperator) -> &'static str {
    match op {
        BinaryOperator::Eq => "EQUAL",
        BinaryOperator::NotEq => "NOT_EQUAL",
        BinaryOperator::Lt => "LESS_THAN",
        BinaryOperator::LtEq => "LESS_THAN_OR_EQUAL",
        BinaryOperator::Gt => "GREATER_THAN",
        _ => "GREATER_THAN_OR_EQUAL",
    }
}

/// An expression as ksqlDB prints it in messages: `(COUNT > 1)`.
pub(super) fn ksql_text(e: &Expr) -> String {
    match e {
        Expr::Nested(inner) => ksql_text(inner),
        Expr::BinaryOp { left, op, right } if op_symbol(op) != "?" => format!(
            "({} {} {})",
            ksql_text(left),
            op_symbol(op),
            ksql_text(right)
        ),
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
            column_name(e).unwrap_or_default().to_string()
        }
        other => match literal(other) {
            Some(l) => l.text,
            None => other.to_string(),
        },
    }
}

fn conjunction_text(conjuncts: &[&Expr]) -> String {
    match conjuncts {
        [one] => ksql_text(one),
        many => format!(
            "({})",
            many.iter()
                .map(|c| ksql_text(c))
                .collect::<Vec<_>>()
                .join(" AND ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::ast::{Query, Statement};

    fn source(sql: &str) -> Source {
        let stmt = crate::sql::parse(sql).unwrap().remove(0);
        let Statement::CreateSource(c) = &stmt.statement else {
            panic!("not a CREATE")
        };
        let props = crate::sql::properties::WithProperties::from_properties(
            &c.properties,
            crate::sql::properties::CREATE_SOURCE_PROPERTIES,
        )
        .unwrap();
        crate::plan::ddl::plan_create_source(c, &props, sql, &Default::default())
            .unwrap()
            .0
    }

    fn query(sql: &str) -> Query {
        match crate::sql::parse(sql).unwrap().remove(0).statement {
            Statement::Query(q) => *q,
            _ => panic!("not a query"),
        }
    }

    const TABLE: &str = "CREATE TABLE T (ID INT PRIMARY KEY, V STRING) \
                         WITH (kafka_topic='t', value_format='JSON');";
    const TWO_KEYS: &str = "CREATE TABLE T (A STRING PRIMARY KEY, B INT PRIMARY KEY, V STRING) \
                            WITH (kafka_topic='t', format='JSON');";
    const ON: ScanOptions = ScanOptions {
        table_scan: true,
        range_scan: true,
    };
    const OFF: ScanOptions = ScanOptions {
        table_scan: false,
        range_scan: true,
    };

    fn run(table: &str, select: &str, options: ScanOptions) -> Result<String> {
        let s = source(table);
        let q = query(select);
        if let Some(w) = &q.selection {
            check_types(w, &s)?;
        }
        Ok(match access(q.selection.as_ref(), &s, options)? {
            Access::Scan => "scan".into(),
            Access::Keys(k) => format!(
                "keys {}",
                k.iter()
                    .map(|t| t
                        .iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("/"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Access::Range { lower, upper } => {
                format!("range {lower:?} {upper:?}").replace(|c: char| c.is_whitespace(), "")
            }
        })
    }

    fn error(table: &str, select: &str, options: ScanOptions) -> String {
        run(table, select, options).unwrap_err().to_string()
    }

    #[test]
    fn keys_ranges_and_scans() {
        let t = TABLE;
        assert_eq!(
            run(t, "SELECT * FROM T WHERE ID = 1;", OFF).unwrap(),
            "keys 1"
        );
        assert_eq!(
            run(t, "SELECT * FROM T WHERE ID IN (1, 2) OR 3 = ID;", OFF).unwrap(),
            "keys 1,2,3"
        );
        assert_eq!(
            run(t, "SELECT * FROM T WHERE ID = 1 AND V = 'x';", OFF).unwrap(),
            "keys 1"
        );
        assert_eq!(run(t, "SELECT * FROM T;", ON).unwrap(), "scan");
        assert_eq!(
            run(t, "SELECT * FROM T WHERE V = 'x';", ON).unwrap(),
            "scan"
        );
        assert!(run(t, "SELECT * FROM T WHERE ID > 1 AND ID <= 5;", ON)
            .unwrap()
            .starts_with("range"));
        assert_eq!(
            run(
                TWO_KEYS,
                "SELECT * FROM T WHERE A = 'x' AND B IN (1, 2);",
                OFF
            )
            .unwrap(),
            "keys 'x'/1,'x'/2"
        );
        assert_eq!(
            run(TWO_KEYS, "SELECT * FROM T WHERE A = 'x';", ON).unwrap(),
            "scan"
        );
    }

    #[test]
    fn scans_off_give_ksqldb_reasons() {
        let t = TABLE;
        let cases = [
            (
                "SELECT * FROM T;",
                "Query requires table scan to be enabled",
            ),
            (
                "SELECT * FROM T WHERE V = 'x';",
                "WHERE clause missing key column for disjunct: (V = 'x')",
            ),
            (
                "SELECT * FROM T WHERE ID != 1;",
                "Bound on key columns '[`ID` INTEGER KEY]' must currently be '='. ",
            ),
            (
                "SELECT * FROM T WHERE ID = V;",
                "A comparison must be between a key column and a resolvable expression.",
            ),
            (
                "SELECT * FROM T WHERE ID + 1 = 2;",
                "A comparison must directly reference a key column.",
            ),
            (
                "SELECT * FROM T WHERE 0 < ID AND ID < 9;",
                "cannot be combined with other comparisons",
            ),
            (
                "SELECT * FROM T WHERE ID >= 2;",
                "Query requires table scan to be enabled",
            ),
            (
                "SELECT * FROM T WHERE '1' LIKE '1';",
                "Like condition must be between strings",
            ),
        ];
        for (sql, want) in cases {
            let got = error(t, sql, OFF);
            assert!(got.contains(want), "{sql}: {got}");
        }
        let got = error(TWO_KEYS, "SELECT * FROM T WHERE B = 1;", OFF);
        assert!(
            got.contains("Multi-column sources must specify every key"),
            "{got}"
        );
        let got = error(TWO_KEYS, "SELECT * FROM T WHERE A <= 'x' AND B >= 1;", OFF);
        assert!(got.contains("Query requires table scan"), "{got}");
        let string_key = "CREATE TABLE T (ID STRING PRIMARY KEY, V STRING) \
                          WITH (kafka_topic='t', value_format='JSON');";
        assert!(run(string_key, "SELECT * FROM T WHERE ID < '12';", OFF)
            .unwrap()
            .starts_with("range"));
        let got = error(
            string_key,
            "SELECT * FROM T WHERE ID < '1' OR ID > '5';",
            OFF,
        );
        assert!(got.contains("Query requires table scan"), "{got}");
    }

    #[test]
    fn comparisons_are_typed() {
        let t = TABLE;
        let cases = [
            ("SELECT * FROM T WHERE ID = '10';", "Error in WHERE expression: Cannot compare ID (INTEGER) to '10' (STRING) with EQUAL.\nStatement: (ID = '10')"),
            ("SELECT * FROM T WHERE ID = NULL;", "Error in WHERE expression: Comparison with NULL not supported: INTEGER = NULL\nUse 'IS NULL' or 'IS NOT NULL' instead.\nStatement: (ID = null)"),
            ("SELECT * FROM T WHERE ID IN ('10', 8);", "'10' can not be converted to the type of the key column: ID INTEGER KEY"),
            ("SELECT * FROM T WHERE V BETWEEN 10 AND 'x';", "Invalid expression: Cannot compare V (STRING) to 10 (INTEGER) with GREATER_THAN_OR_EQUAL"),
            ("SELECT * FROM T WHERE ID LIKE 12;", "The column type for Like condition must be VARCHAR. The column type is INTEGER"),
            ("SELECT * FROM T WHERE WINDOWSTART = 1;", "WHERE column 'WINDOWSTART' cannot be resolved"),
        ];
        for (sql, want) in cases {
            let got = error(t, sql, ON);
            assert!(got.contains(want), "{sql}: {got}");
        }
        assert!(run(t, "SELECT * FROM T WHERE ID = 1.5 OR V = 'a';", ON).is_ok());
    }
}
