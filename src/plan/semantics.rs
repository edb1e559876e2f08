//! ksqlDB's semantics on a planned DataFusion expression, where they differ
//! from DataFusion's: comparisons with a null side are false, nested values
//! are not ordered, CASTs of nested values follow
//! [`crate::functions::cast`], `+` concatenates strings, and a CASE needs a
//! branch with a type.

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::Expr as DfExpr;

use crate::error::{Error, Result};

/// Applies every rule to `expr`.
pub(crate) fn apply(expr: DfExpr, schema: &DFSchema) -> Result<DfExpr> {
    let casts = ksql_casts(expr, schema)?;
    null_safe_comparisons(casts, schema)
}

/// CASTs of nested values go by ksqlDB's rules (see
/// [`crate::functions::cast`]); `+` of two strings concatenates them; a
/// CASE needs one branch with a type.
fn ksql_casts(expr: DfExpr, schema: &DFSchema) -> Result<DfExpr> {
    use datafusion::logical_expr::{BinaryExpr, Case, Cast, ExprSchemable, Operator};
    let is_string = |e: &DfExpr| {
        matches!(
            e.get_type(schema),
            Ok(arrow::datatypes::DataType::Utf8
                | arrow::datatypes::DataType::Utf8View
                | arrow::datatypes::DataType::LargeUtf8)
        )
    };
    let out = expr.transform_up(|e| match e {
        DfExpr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Plus,
            right,
        }) if is_string(&left) && is_string(&right) => {
            Ok(Transformed::yes(DfExpr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::StringConcat,
                right,
            })))
        }
        DfExpr::Case(case) => {
            let all_null = case
                .when_then_expr
                .iter()
                .map(|(_, then)| then.as_ref())
                .chain(case.else_expr.as_deref())
                .all(|r| matches!(r.get_type(schema), Ok(arrow::datatypes::DataType::Null)));
            if all_null {
                return Err(datafusion::error::DataFusionError::Plan(
                    "Invalid Case expression. All case branches have NULL type".into(),
                ));
            }
            Ok(Transformed::no(DfExpr::Case(Case { ..case })))
        }
        DfExpr::Cast(Cast { expr, field }) => {
            let from = expr.get_type(schema)?;
            let to = field.data_type();
            match crate::types::SqlType::from_arrow(to) {
                Ok(target) if crate::functions::cast::needs_ksql_cast(&from, to) => Ok(
                    Transformed::yes(crate::functions::cast::ksql_cast(*expr, &target)),
                ),
                _ => Ok(Transformed::no(DfExpr::Cast(Cast { expr, field }))),
            }
        }
        other => Ok(Transformed::no(other)),
    })?;
    Ok(out.data)
}

/// ksqlDB's comparisons: `a < b` is false (not null) when either side is
/// null, and ARRAYs, MAPs and STRUCTs are not ordered.
fn null_safe_comparisons(expr: DfExpr, schema: &DFSchema) -> Result<DfExpr> {
    use datafusion::logical_expr::{BinaryExpr, ExprSchemable, Operator};
    let mut failure = None;
    let out = expr.transform_up(|e| match e {
        DfExpr::BinaryExpr(BinaryExpr { left, op, right })
            if matches!(
                op,
                Operator::Eq
                    | Operator::NotEq
                    | Operator::Lt
                    | Operator::LtEq
                    | Operator::Gt
                    | Operator::GtEq
            ) =>
        {
            let ordering = !matches!(op, Operator::Eq | Operator::NotEq);
            if ordering {
                let lt = left.get_type(schema)?;
                let rt = right.get_type(schema)?;
                let nested = |t: &arrow::datatypes::DataType| t.is_nested();
                if nested(&lt) || nested(&rt) {
                    let show = |e: &DfExpr, t: &arrow::datatypes::DataType| {
                        let name = match e {
                            DfExpr::Column(c) => c.name.clone(),
                            other => other.to_string(),
                        };
                        let t = crate::types::SqlType::from_arrow(t)
                            .map(|t| t.to_string())
                            .unwrap_or_else(|_| t.to_string());
                        format!("{name} ({t})")
                    };
                    let op_name = match op {
                        Operator::Lt => "LESS_THAN",
                        Operator::LtEq => "LESS_THAN_OR_EQUAL",
                        Operator::Gt => "GREATER_THAN",
                        _ => "GREATER_THAN_OR_EQUAL",
                    };
                    failure = Some(Error::user(format!(
                        "Cannot compare {} to {} with {op_name}.",
                        show(&left, &lt),
                        show(&right, &rt)
                    )));
                    return Ok(Transformed::new(
                        DfExpr::BinaryExpr(BinaryExpr { left, op, right }),
                        false,
                        datafusion::common::tree_node::TreeNodeRecursion::Stop,
                    ));
                }
            }
            let comparison = DfExpr::BinaryExpr(BinaryExpr { left, op, right });
            Ok(Transformed::yes(
                datafusion::functions::core::expr_fn::coalesce(vec![
                    comparison,
                    DfExpr::Literal(ScalarValue::Boolean(Some(false)), None),
                ]),
            ))
        }
        other => Ok(Transformed::no(other)),
    })?;
    match failure {
        Some(e) => Err(e),
        None => Ok(out.data),
    }
}

/// ksqlDB's check of the comparisons in a WHERE or HAVING clause: both
/// sides must be of comparable types (numbers with numbers, strings with
/// strings or times, booleans with booleans, …), else the clause is
/// rejected as ksqlDB rejects it, naming both sides with their types.
pub(crate) fn check_comparisons(
    state: &datafusion::execution::SessionState,
    clause: &str,
    expr: &datafusion::sql::sqlparser::ast::Expr,
    schema: &DFSchema,
) -> Result<()> {
    use datafusion::logical_expr::ExprSchemable;
    use datafusion::sql::sqlparser::ast::{visit_expressions, BinaryOperator, Expr};
    use std::ops::ControlFlow;
    let mut failure = None;
    let _ = visit_expressions(expr, |e| {
        let Expr::BinaryOp { left, op, right } = e else {
            return ControlFlow::Continue(());
        };
        let name = match op {
            BinaryOperator::Eq => "EQUAL",
            BinaryOperator::NotEq => "NOT_EQUAL",
            BinaryOperator::Lt => "LESS_THAN",
            BinaryOperator::LtEq => "LESS_THAN_OR_EQUAL",
            BinaryOperator::Gt => "GREATER_THAN",
            BinaryOperator::GtEq => "GREATER_THAN_OR_EQUAL",
            _ => return ControlFlow::Continue(()),
        };
        let type_of = |side: &Expr| {
            super::expr::to_datafusion(state, side, schema)
                .ok()
                .and_then(|p| p.get_type(schema).ok())
                .and_then(|t| crate::types::SqlType::from_arrow(&t).ok())
        };
        let (Some(l), Some(r)) = (type_of(left), type_of(right)) else {
            return ControlFlow::Continue(());
        };
        // ROWTIME and window bounds compare with a timestamp string.
        let magic = |side: &Expr, other: &crate::types::SqlType| {
            *other == crate::types::SqlType::String
                && super::expr::column_ref(side).is_some_and(|c| {
                    ["ROWTIME", "WINDOWSTART", "WINDOWEND"]
                        .iter()
                        .any(|m| c == *m || c.ends_with(&format!("_{m}")))
                })
        };
        if comparable(&l, &r) || magic(left, &r) || magic(right, &l) {
            return ControlFlow::Continue(());
        }
        let show = |side: &Expr| side.to_string().replace('`', "");
        failure = Some(Error::user(format!(
            "Error in {clause} expression: Cannot compare {} ({l}) to {} ({r}) with {name}.",
            show(left),
            show(right)
        )));
        ControlFlow::Break(())
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Whether ksqlDB compares values of these types.
fn comparable(a: &crate::types::SqlType, b: &crate::types::SqlType) -> bool {
    use crate::types::SqlType as T;
    let class = |t: &T| match t {
        T::Int | T::Bigint | T::Double | T::Decimal(..) => 0,
        T::String => 1,
        T::Boolean => 2,
        T::Date | T::Time | T::Timestamp => 3,
        T::Bytes => 4,
        _ => 5,
    };
    match (class(a), class(b)) {
        (5, _) | (_, 5) => a == b,
        // Times compare with strings (parsed) as well as with each other.
        (1, 3) | (3, 1) => true,
        (x, y) => x == y,
    }
}
