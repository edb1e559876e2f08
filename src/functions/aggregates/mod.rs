//! ksqlDB's aggregate functions (UDAFs) as DataFusion aggregate UDFs, by
//! family.
//!
//! Each is registered under its lower-case ksqlDB name and replaces any
//! DataFusion built-in of that name (`count`, `sum`, `avg`, `min`, `max`,
//! `stddev_samp`): ksqlDB's result types and null rules differ (SUM of INT is
//! INT and wraps like Java; SUM of only nulls is 0; AVG of nothing is 0.0;
//! STDDEV_SAMP is, as in ksqlDB, the sample *variance*).
//!
//! | function | result | undo (table input) |
//! |---|---|---|
//! | `COUNT(*)`, `COUNT(col)` | BIGINT, nulls not counted | yes |
//! | `COUNT_DISTINCT(col)` | BIGINT (exact up to 1024 values, then HyperLogLog) | no |
//! | `SUM(col)` | the input type (INT, BIGINT, DOUBLE, DECIMAL) | yes |
//! | `SUM_LIST(array)` | the element type | yes |
//! | `AVG(col)` | DOUBLE | yes |
//! | `MIN(col)`, `MAX(col)` | the input type | no |
//! | `STDDEV_SAMP(col)`, `STDDEV_SAMPLE(col)` | DOUBLE | yes |
//! | `CORRELATION(x, y)` | DOUBLE | yes |
//! | `LATEST_BY_OFFSET(col [, n] [, ignoreNulls])` | the input type, or ARRAY of it | no |
//! | `EARLIEST_BY_OFFSET(col [, n] [, ignoreNulls])` | the input type, or ARRAY of it | no |
//! | `COLLECT_LIST(col)` | ARRAY | yes |
//! | `COLLECT_SET(col)` | ARRAY | no |
//! | `HISTOGRAM(string)` | MAP<STRING, BIGINT> | yes |
//! | `TOPK(col [, other…], k)`, `TOPKDISTINCT(col, k)` | ARRAY, largest first | no |
//! | `ATTR(col)` | the value when all rows agree, else null | yes |
//!
//! "Undo" is ksqlDB's `TableUdaf`: aggregating a TABLE retracts a row's old
//! value before adding its new one, so only functions that can take a value
//! back may read a table ([`supports_table_input`], [`table_input_error`]).
//!
//! Literal parameters (TOPK's k, the by-offset functions' n and
//! ignoreNulls) are read when an accumulator is created; anything but a
//! literal there is an error ([`check_literal_arguments`] reports it at
//! planning time with ksqlDB's text).
//!
//! Every accumulator evaluates without consuming its state (the streaming
//! engine evaluates after each batch and keeps updating), and its `state()`
//! merges into another (session windows merge).

use std::sync::Arc;

use datafusion::logical_expr::{AggregateUDF, Expr};

use crate::error::{Error, Result};

mod attr;
mod collect;
mod count;
mod key;
mod min_max;
mod offset;
mod stats;
mod sum;
mod topk;
mod udaf;

use udaf::Spec;

/// Settings of the aggregate functions (ksqlDB's `ksql.functions.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AggregateConfig {
    /// `ksql.functions.collect_list.limit`: COLLECT_LIST keeps at most this
    /// many values and ignores the rest (default: no limit).
    pub collect_list_limit: usize,
    /// `ksql.functions.collect_set.limit`: COLLECT_SET keeps at most this
    /// many values and ignores the rest (default: no limit).
    pub collect_set_limit: usize,
}

impl Default for AggregateConfig {
    fn default() -> Self {
        AggregateConfig {
            collect_list_limit: usize::MAX,
            collect_set_limit: usize::MAX,
        }
    }
}

impl AggregateConfig {
    /// The limit as ksqlDB reads it: a negative value means no limit.
    pub fn limit_from_property(value: i64) -> usize {
        usize::try_from(value).unwrap_or(usize::MAX)
    }
}

fn specs() -> Vec<Spec> {
    [
        count::specs(),
        sum::specs(),
        stats::specs(),
        min_max::specs(),
        offset::specs(),
        collect::specs(),
        topk::specs(),
        attr::specs(),
    ]
    .concat()
}

/// Every ksqlDB aggregate function with the given settings, named in lower
/// case, to be registered over DataFusion's built-ins of the same names.
pub fn aggregate_udfs_with(config: &AggregateConfig) -> Vec<Arc<AggregateUDF>> {
    specs().into_iter().map(|s| s.udaf(*config)).collect()
}

/// True when the aggregate `name` (any case) can aggregate a TABLE, i.e.
/// can take back a value it was given (ksqlDB's `TableUdaf`).
pub fn supports_table_input(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    specs().iter().any(|s| s.table && s.name == name)
}

/// ksqlDB's error for aggregating a TABLE with functions that cannot undo,
/// naming those of `functions` (any case, in order, once each) that cannot;
/// `None` when all can. E.g. "The aggregation functions LATEST_BY_OFFSET, MIN
/// and MAX cannot be applied to a table source, only to a stream source."
pub fn table_input_error<'a>(functions: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut names: Vec<String> = Vec::new();
    for f in functions {
        let upper = f.to_ascii_uppercase();
        if !supports_table_input(f) && !names.contains(&upper) {
            names.push(upper);
        }
    }
    let (last, rest) = names.split_last()?;
    let joined = if rest.is_empty() {
        last.clone()
    } else {
        format!("{} and {last}", rest.join(", "))
    };
    let plural = if rest.is_empty() { "" } else { "s" };
    Some(format!(
        "The aggregation function{plural} {joined} cannot be applied to a table source, \
         only to a stream source."
    ))
}

/// ksqlDB's error when a value format that cannot hold STRUCT, ARRAY or MAP
/// values (DELIMITED, KAFKA) would have to store the state of an aggregate
/// for which [`needs_structured_state`] holds.
pub const STRUCTURED_STATE_ERROR: &str = "One of the functions used in the statement has an \
     intermediate type that the value format can not handle. Please remove the function or \
     change the format.";

/// True when ksqlDB keeps the state of aggregate `name` (any case) in a
/// STRUCT, ARRAY or MAP (AVG, TOPK, COLLECT_LIST, …), which the DELIMITED
/// format cannot store; false for COUNT, SUM, SUM_LIST, MIN, MAX and for
/// names that are not ksqlDB aggregates.
pub fn needs_structured_state(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    specs().iter().any(|s| s.name == name && !s.primitive_state)
}

/// Checks that the parameters of aggregate `name` that must be literals
/// (TOPK's k, the by-offset functions' n and ignoreNulls) are, with ksqlDB's
/// error otherwise: "Parameter 2 passed to function EARLIEST_BY_OFFSET must be
/// a literal constant, but was expression: 'F0'".
pub fn check_literal_arguments(name: &str, args: &[Expr]) -> Result<()> {
    let lower = name.to_ascii_lowercase();
    let literal_from = match lower.as_str() {
        "latest_by_offset" | "earliest_by_offset" => 1,
        "topk" | "topkdistinct" => args.len().saturating_sub(1),
        _ => return Ok(()),
    };
    for (i, arg) in args.iter().enumerate().skip(literal_from) {
        let inner = match arg {
            Expr::Alias(a) => a.expr.as_ref(),
            other => other,
        };
        let literal = match inner {
            Expr::Literal(..) => true,
            Expr::Cast(c) => matches!(c.expr.as_ref(), Expr::Literal(..)),
            Expr::TryCast(c) => matches!(c.expr.as_ref(), Expr::Literal(..)),
            _ => false,
        };
        if !literal {
            let shown = match inner {
                Expr::Column(c) => c.name.clone(),
                other => other.to_string(),
            };
            return Err(Error::user(udaf::not_literal_message(
                i,
                &name.to_ascii_uppercase(),
                &shown,
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod test_util;

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};
    use std::collections::HashSet;

    #[test]
    fn names_are_lower_case_and_unique() {
        let mut seen = HashSet::new();
        for udaf in aggregate_udfs_with(&AggregateConfig::default()) {
            for name in
                std::iter::once(udaf.name()).chain(udaf.aliases().iter().map(|a| a.as_str()))
            {
                assert_eq!(name, name.to_lowercase());
                assert!(seen.insert(name.to_string()), "{name} registered twice");
            }
        }
        for expected in [
            "count",
            "count_distinct",
            "sum",
            "sum_list",
            "avg",
            "min",
            "max",
            "stddev_samp",
            "stddev_sample",
            "correlation",
            "latest_by_offset",
            "earliest_by_offset",
            "collect_list",
            "collect_set",
            "histogram",
            "topk",
            "topkdistinct",
            "attr",
        ] {
            assert!(seen.contains(expected), "{expected} missing");
        }
    }

    #[test]
    fn table_input_support() {
        for name in [
            "COUNT",
            "sum",
            "avg",
            "collect_list",
            "histogram",
            "attr",
            "stddev_sample",
            "correlation",
        ] {
            assert!(supports_table_input(name), "{name}");
        }
        for name in [
            "min",
            "MAX",
            "topk",
            "topkdistinct",
            "latest_by_offset",
            "earliest_by_offset",
            "collect_set",
            "count_distinct",
            "no_such_function",
        ] {
            assert!(!supports_table_input(name), "{name}");
        }
    }

    #[test]
    fn structured_state() {
        for name in [
            "AVG",
            "topk",
            "stddev_samp",
            "correlation",
            "latest_by_offset",
        ] {
            assert!(needs_structured_state(name), "{name}");
        }
        for name in ["count", "SUM", "min", "max", "sum_list", "no_such_function"] {
            assert!(!needs_structured_state(name), "{name}");
        }
        assert_eq!(
            STRUCTURED_STATE_ERROR,
            "One of the functions used in the statement has an intermediate type that the value \
             format can not handle. Please remove the function or change the format."
        );
    }

    #[test]
    fn table_input_error_text() {
        assert_eq!(table_input_error(["count", "sum"]), None);
        assert_eq!(
            table_input_error(["latest_by_offset", "count", "min", "max", "MIN"]).as_deref(),
            Some(
                "The aggregation functions LATEST_BY_OFFSET, MIN and MAX cannot be applied to \
                 a table source, only to a stream source."
            )
        );
        assert_eq!(
            table_input_error(["topk"]).as_deref(),
            Some(
                "The aggregation function TOPK cannot be applied to a table source, only to a \
                 stream source."
            )
        );
    }

    #[test]
    fn literal_arguments() {
        let f0 = Expr::Column(datafusion::common::Column::new_unqualified("F0"));
        let err = check_literal_arguments("EARLIEST_BY_OFFSET", &[f0.clone(), f0])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "Parameter 2 passed to function EARLIEST_BY_OFFSET must be a literal constant, \
             but was expression: 'F0'"
        );
        check_literal_arguments("latest_by_offset", &[col("F0"), lit(2), lit(true)]).unwrap();
        check_literal_arguments("topk", &[col("F0"), col("F1"), lit(3)]).unwrap();
        assert!(check_literal_arguments("topk", &[col("F0"), col("F1")]).is_err());
        check_literal_arguments("sum", &[col("F0")]).unwrap();
    }

    #[tokio::test]
    async fn count_star_is_ours() {
        use datafusion::common::DFSchema;
        use datafusion::sql::sqlparser::dialect::GenericDialect;
        use datafusion::sql::sqlparser::parser::Parser;
        let state = crate::plan::session_state().unwrap();
        let schema = DFSchema::empty();
        for text in ["COUNT(*)", "count()", "COUNT(1)"] {
            let sql = Parser::new(&GenericDialect)
                .try_with_sql(text)
                .unwrap()
                .parse_expr()
                .unwrap();
            let expr = crate::plan::expr::to_datafusion(&state, &sql, &schema).unwrap();
            let Expr::AggregateFunction(f) = expr.clone().unalias_nested().data else {
                panic!("{text} planned as {expr:?}")
            };
            assert_eq!(f.func.name(), "count");
            // DataFusion's own COUNT has a variadic signature; ours resolves
            // its arguments itself.
            assert_eq!(
                f.func.signature().type_signature,
                datafusion::logical_expr::TypeSignature::UserDefined,
                "{text}: not ksqlDB's COUNT"
            );
            assert_eq!(f.params.args.len(), 1, "{text}");
            assert!(matches!(f.params.args[0], Expr::Literal(..)), "{text}");
        }
    }

    #[tokio::test]
    async fn aggregates_through_sql() {
        use super::test_util::*;
        use arrow::array::RecordBatch;
        let batch = RecordBatch::try_from_iter(vec![
            ("k", strings(&[Some("a"), Some("a"), Some("a"), Some("b")])),
            ("v", int32s(&[Some(3), None, Some(7), Some(1)])),
            ("s", strings(&[Some("x"), Some("y"), Some("x"), None])),
        ])
        .unwrap();
        let rows = sql_rows(
            "SELECT k, topk(v, 2), topkdistinct(s, 3), latest_by_offset(v), \
             latest_by_offset(v, 2, false), earliest_by_offset(s, false), collect_list(v), \
             collect_set(s), histogram(s), attr(s), count_distinct(s), min(s), max(v), \
             stddev_sample(v), correlation(v, v) \
             FROM t GROUP BY k ORDER BY k",
            batch,
        )
        .await;
        assert_eq!(
            rows,
            vec![
                "a|[7, 3]|[y, x]|7|[, 7]|x|[3, , 7]|[x, y]|{x: 2, y: 1}|NULL|2|x|7|\
                 2.8284271247461903|1.0",
                "b|[1]|[]|1|[1]|NULL|[1]|[]|{}|NULL|0|NULL|1|0.0|NaN",
            ]
        );
    }

    /// Several partitions: DataFusion aggregates each, then merges the
    /// states, exercising every `state()` / `merge_batch` and state type.
    #[tokio::test]
    async fn states_merge_through_datafusion() {
        use super::test_util::*;
        use arrow::array::RecordBatch;
        let part = |k: &[Option<&str>], v: &[Option<i32>], s: &[Option<&str>]| {
            RecordBatch::try_from_iter_with_nullable(vec![
                ("k", strings(k), true),
                ("v", int32s(v), true),
                ("s", strings(s), true),
            ])
            .unwrap()
        };
        let parts = vec![
            part(
                &[Some("a"), Some("a")],
                &[Some(3), Some(7)],
                &[Some("x"), Some("y")],
            ),
            part(
                &[Some("a"), Some("b")],
                &[Some(5), Some(1)],
                &[Some("x"), None],
            ),
            part(&[Some("a")], &[None], &[Some("x")]),
        ];
        let rows = sql_rows_partitioned(
            "SELECT k, count(*), count(v), sum(v), avg(v), min(v), max(s), count_distinct(s), \
             topk(v, 2), topkdistinct(s, 1), cardinality(collect_list(v)), \
             cardinality(collect_set(s)), histogram(s)['x'], attr(k), stddev_samp(v), \
             stddev_sample(v), correlation(v, v), cardinality(latest_by_offset(v, 2)), \
             earliest_by_offset(k) \
             FROM t GROUP BY k ORDER BY k",
            parts,
        )
        .await;
        assert_eq!(
            rows,
            vec![
                "a|4|3|15|5.0|3|y|2|[7, 5]|[y]|4|2|3|a|4.0|2.0|1.0|2|a",
                "b|1|1|1|1.0|1|NULL|0|[1]|[]|1|1|NULL|b|0.0|0.0|NaN|1|b",
            ]
        );
    }

    #[test]
    fn limit_property() {
        assert_eq!(AggregateConfig::limit_from_property(-1), usize::MAX);
        assert_eq!(AggregateConfig::limit_from_property(1), 1);
    }
}
