//! Expressions: ksqlDB's expression syntax to DataFusion logical
//! expressions.
//!
//! Three steps: (1) rewrite the sqlparser tree where ksqlDB and DataFusion
//! spell things differently (`s->f`, `STRUCT(a := 1)`, `MAP('k' := v)`,
//! function names in lower case); (2) let DataFusion's SQL planner resolve
//! columns, functions (our UDFs) and operators; (3) give literals ksqlDB's
//! types (an integer literal that fits is an INT).

use std::ops::ControlFlow;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::execution::SessionState;
use datafusion::logical_expr::Expr as DfExpr;
use datafusion::sql::sqlparser::ast::{
    self as sql, BinaryOperator, Expr, ExprWithAlias, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentList, FunctionArguments, Ident, ObjectName, ObjectNamePart, Value,
};

use crate::error::{Error, Result};

/// Plans one ksqlDB expression against `schema`.
pub fn to_datafusion(state: &SessionState, expr: &Expr, schema: &DFSchema) -> Result<DfExpr> {
    let rewritten = rewrite(expr.clone())?;
    let planned = state
        .create_logical_expr_from_sql_expr(
            ExprWithAlias {
                expr: rewritten,
                alias: None,
            },
            schema,
        )
        .map_err(|e| describe_planning_error(e, expr, schema))?;
    let narrowed = narrow_literals(planned)?;
    let coerced = super::coerce::ksql_coercions(narrowed, schema)?;
    super::semantics::apply(coerced, schema)
}

fn describe_planning_error(
    e: datafusion::error::DataFusionError,
    expr: &Expr,
    schema: &DFSchema,
) -> Error {
    let text = e.to_string();
    // DataFusion: "Schema error: No field named FOO. Valid fields are ..."
    if let Some(rest) = text.split("No field named ").nth(1) {
        let name = rest
            .split(['.', ' '])
            .next()
            .unwrap_or(rest)
            .trim_matches(|c| c == '"' || c == '`');
        let names: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| !crate::catalog::PSEUDO_COLUMNS.iter().any(|(p, _)| p == n))
            .collect();
        let hint = crate::catalog::closest(name, names.iter().map(String::as_str))
            .map(|c| format!(" Did you mean {c}?"))
            .unwrap_or_default();
        return Error::user(format!(
            "Column '{name}' cannot be resolved in expression '{expr}'.{hint}"
        ));
    }
    if text.contains("Invalid function") || text.contains("not found in function registry") {
        let name = match expr {
            Expr::Function(f) => f.name.to_string().to_uppercase(),
            _ => first_function_name(expr).unwrap_or_default(),
        };
        return Error::user(format!(
            "Can't find any functions with the name '{name}' (in expression '{expr}')"
        ));
    }
    Error::from(e).context(format!("Invalid expression '{expr}'"))
}

fn first_function_name(expr: &Expr) -> Option<String> {
    let mut found = None;
    let _ = sql::visit_expressions(expr, |e| {
        if let Expr::Function(f) = e {
            found = Some(f.name.to_string().to_uppercase());
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

/// Checks numeric literals as ksqlDB's parser does: an integer must fit a
/// BIGINT and a number with an exponent a DOUBLE (a minus sign counts).
fn check_numeric_literals(expr: &Expr) -> Result<()> {
    let mut negated: Vec<*const Expr> = Vec::new();
    let mut failure = None;
    let _ = sql::visit_expressions(expr, |e| {
        let (text, negative) = match e {
            Expr::UnaryOp {
                op: sql::UnaryOperator::Minus,
                expr: inner,
            } => match inner.as_ref() {
                Expr::Value(v) => match &v.value {
                    Value::Number(n, _) => {
                        negated.push(inner.as_ref() as *const Expr);
                        (n, true)
                    }
                    _ => return ControlFlow::Continue(()),
                },
                _ => return ControlFlow::Continue(()),
            },
            Expr::Value(v) if !negated.contains(&(e as *const Expr)) => match &v.value {
                Value::Number(n, _) => (n, false),
                _ => return ControlFlow::Continue(()),
            },
            _ => return ControlFlow::Continue(()),
        };
        let signed = if negative {
            format!("-{text}")
        } else {
            text.clone()
        };
        let bad = if text.contains(['e', 'E']) {
            signed
                .parse::<f64>()
                .map_or(true, |d| d.is_infinite())
                .then(|| format!("Number overflows DOUBLE: {signed}"))
        } else if !text.contains('.') {
            signed
                .parse::<i64>()
                .is_err()
                .then(|| format!("Invalid numeric literal: {signed}"))
        } else {
            None
        };
        match bad {
            Some(message) => {
                failure = Some(Error::user(message));
                ControlFlow::Break(())
            }
            None => ControlFlow::Continue(()),
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Rewrites ksqlDB-only syntax into what DataFusion's SQL planner knows.
pub fn rewrite(mut expr: Expr) -> Result<Expr> {
    check_numeric_literals(&expr)?;
    let mut failure = None;
    let _ = sql::visit_expressions_mut(&mut expr, |e| match rewrite_one(e) {
        Ok(()) => ControlFlow::Continue(()),
        Err(err) => {
            failure = Some(err);
            ControlFlow::Break(())
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(expr),
    }
}

fn rewrite_one(e: &mut Expr) -> Result<()> {
    super::time_literals::rewrite(e)?;
    match e {
        Expr::BinaryOp { left, op, right }
            if is_null_literal(left) && is_null_literal(right) && is_comparison(op) =>
        {
            return Err(Error::user(format!(
                "Comparison with NULL not supported: NULL {op} NULL"
            )));
        }
        Expr::Function(f) => {
            let mut name = f.name.to_string().to_lowercase();
            if name == "ifnull" {
                // DataFusion's `nvl` compares nested types as strings;
                // COALESCE of two is the same function and unifies them.
                name = "coalesce".to_string();
            }
            f.name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name.clone()))]);
            let named = match &f.args {
                FunctionArguments::List(list) => list.args.iter().any(|a| {
                    matches!(a, FunctionArg::Named { .. } | FunctionArg::ExprNamed { .. })
                }),
                _ => false,
            };
            let empty = match &f.args {
                FunctionArguments::List(list) => list.args.is_empty(),
                _ => true,
            };
            if name == "map" && empty {
                return Err(Error::user(
                    "Map constructor cannot be empty. Please supply at least one key value \
                     pair (see https://github.com/confluentinc/ksql/issues/4239).",
                ));
            }
            if named {
                *e = rewrite_constructor(&name, f)?;
            } else if UNIT_FUNCTIONS.contains(&name.as_str()) {
                // DATEADD(DAYS, 3, d): the unit is a bare keyword.
                if let FunctionArguments::List(list) = &mut f.args {
                    if let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(id)))) =
                        list.args.first_mut().map(|a| &mut *a)
                    {
                        // Only a time unit: any other name is a column.
                        let unit = id.value.to_uppercase();
                        if is_time_unit(&unit) {
                            list.args[0] =
                                FunctionArg::Unnamed(FunctionArgExpr::Expr(string_lit(&unit)));
                        }
                    }
                }
            }
        }
        Expr::Value(v) if matches!(&v.value, Value::Number(n, _) if n.contains(['e', 'E'])) => {
            // A number with an exponent is a DOUBLE in ksqlDB, not a DECIMAL.
            if let Value::Number(n, _) = &v.value {
                *e = Expr::Cast {
                    kind: sql::CastKind::Cast,
                    expr: Box::new(string_lit(n)),
                    data_type: sql::DataType::Double(sql::ExactNumberInfo::None),
                    array: false,
                    format: None,
                };
            }
        }
        Expr::Array(array) => {
            // DataFusion plans an array literal without the enclosing
            // lambda's parameters; `make_array` is the same function,
            // planned as a call.
            if array.elem.is_empty() {
                return Err(Error::user(
                    "Array constructor cannot be empty. Please supply at least one element \
                     (see https://github.com/confluentinc/ksql/issues/4239).",
                ));
            }
            if array.elem.iter().all(is_null_literal) {
                return Err(Error::user(
                    "Cannot construct an array with all NULL elements \
                     (see https://github.com/confluentinc/ksql/issues/4239). As a workaround, \
                     you may cast a NULL value to the desired type.",
                ));
            }
            *e = call("make_array", std::mem::take(&mut array.elem));
        }
        Expr::Cast {
            expr, data_type, ..
        } if has_map(data_type) => {
            // DataFusion cannot plan a MAP type: ksqlDB's cast takes the
            // type as text.
            let target = crate::sql::parser::types::sql_type_of(data_type)?;
            *e = call(
                crate::functions::cast::KSQL_CAST,
                vec![(**expr).clone(), string_lit(&target.to_string())],
            );
        }
        Expr::Like {
            negated,
            any: false,
            expr,
            pattern,
            escape_char: Some(esc),
        } if !matches!(&esc.value, Value::SingleQuotedString(c) if c == "\\") => {
            // DataFusion only escapes with a backslash.
            let Value::SingleQuotedString(c) = &esc.value else {
                return Err(Error::user(format!("Invalid ESCAPE character: {esc}")));
            };
            let matched = call(
                "like_escape",
                vec![(**expr).clone(), (**pattern).clone(), string_lit(c)],
            );
            *e = if *negated {
                Expr::UnaryOp {
                    op: sql::UnaryOperator::Not,
                    expr: Box::new(matched),
                }
            } else {
                matched
            };
        }
        Expr::Lambda(lambda) => {
            // DataFusion lower-cases unquoted lambda parameters even with
            // identifier normalization off; quoted, they keep the
            // upper-case names the body refers to.
            let params: Vec<&mut sql::LambdaFunctionParameter> = match &mut lambda.params {
                sql::OneOrManyWithParens::One(p) => vec![p],
                sql::OneOrManyWithParens::Many(ps) => ps.iter_mut().collect(),
            };
            for p in params {
                if p.name.quote_style.is_none() {
                    p.name.quote_style = Some('"');
                }
            }
        }
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Arrow,
            right,
        } => {
            let field = match right.as_ref() {
                Expr::Identifier(id) => id.value.clone(),
                Expr::Value(v) => match &v.value {
                    Value::SingleQuotedString(s) => s.clone(),
                    _ => return Err(Error::user(format!("Invalid struct dereference: {e}"))),
                },
                _ => return Err(Error::user(format!("Invalid struct dereference: {e}"))),
            };
            *e = call("get_field", vec![(**left).clone(), string_lit(&field)]);
        }
        _ => {}
    }
    Ok(())
}

/// Functions whose first argument is a time unit keyword.
const UNIT_FUNCTIONS: &[&str] = &[
    "dateadd",
    "datesub",
    "timeadd",
    "timesub",
    "timestampadd",
    "timestampsub",
];

fn has_map(t: &sql::DataType) -> bool {
    match t {
        sql::DataType::Map(..) => true,
        sql::DataType::Array(sql::ArrayElemTypeDef::AngleBracket(item)) => has_map(item),
        sql::DataType::Struct(fields, _) => fields.iter().any(|f| has_map(&f.field_type)),
        _ => false,
    }
}

/// Java's `TimeUnit` names, as the unit functions take them.
fn is_time_unit(name: &str) -> bool {
    let singular = name.strip_suffix('S').unwrap_or(name);
    matches!(
        singular,
        "NANOSECOND" | "MICROSECOND" | "MILLISECOND" | "SECOND" | "MINUTE" | "HOUR" | "DAY"
    )
}

/// `STRUCT(a := 1, …)` and `MAP(k := v, …)`.
fn rewrite_constructor(name: &str, f: &Function) -> Result<Expr> {
    let FunctionArguments::List(list) = &f.args else {
        return Err(Error::internal("constructor without arguments"));
    };
    let mut pairs = Vec::with_capacity(list.args.len());
    for a in &list.args {
        let (k, v) = match a {
            FunctionArg::Named { name, arg, .. } => (string_lit(&name.value), arg),
            FunctionArg::ExprNamed { name, arg, .. } => (name.clone(), arg),
            FunctionArg::Unnamed(_) => {
                return Err(Error::user(format!(
                    "Invalid {}: every argument needs a name, as in {}(A := 1)",
                    name.to_uppercase(),
                    name.to_uppercase()
                )))
            }
        };
        let FunctionArgExpr::Expr(v) = v else {
            return Err(Error::user(format!("Invalid argument in {name}(...)")));
        };
        pairs.push((k, v.clone()));
    }
    match name {
        "struct" => {
            let mut args = Vec::with_capacity(pairs.len() * 2);
            let mut names = std::collections::HashSet::new();
            for (k, v) in pairs {
                let k = match k {
                    Expr::Identifier(id) => string_lit(&id.value),
                    other => other,
                };
                if !names.insert(k.to_string()) {
                    return Err(Error::user(format!(
                        "Duplicate field names found in STRUCT: {k}"
                    )));
                }
                args.push(k);
                args.push(v);
            }
            Ok(call("named_struct", args))
        }
        "map" => {
            let (keys, values): (Vec<Expr>, Vec<Expr>) = pairs.into_iter().unzip();
            if keys.iter().all(is_null_literal) {
                return Err(Error::user("Cannot construct a map with all NULL keys"));
            }
            if values.iter().all(is_null_literal) {
                return Err(Error::user("Cannot construct a map with all NULL values"));
            }
            // `make_map(k1, v1, …)` is planned as
            // `map(make_array(k1, …), make_array(v1, …))`.
            let args = keys
                .into_iter()
                .zip(values)
                .flat_map(|(k, v)| [k, v])
                .collect();
            Ok(call("make_map", args))
        }
        other => Err(Error::user(format!(
            "Function {} does not take named arguments",
            other.to_uppercase()
        ))),
    }
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// True for `=`, `<>`, `<`, `<=`, `>`, `>=`.
pub fn is_comparison(op: &BinaryOperator) -> bool {
    matches!(
        op,
        BinaryOperator::Eq
            | BinaryOperator::NotEq
            | BinaryOperator::Lt
            | BinaryOperator::LtEq
            | BinaryOperator::Gt
            | BinaryOperator::GtEq
    )
}

fn is_null_literal(e: &Expr) -> bool {
    matches!(e, Expr::Value(v) if matches!(v.value, Value::Null))
}

fn string_lit(s: &str) -> Expr {
    Expr::Value(Value::SingleQuotedString(s.to_string()).into())
}

/// ksqlDB types integer literals as INT when they fit, BIGINT otherwise.
///
/// Not inside the arguments of a higher-order function (TRANSFORM, FILTER,
/// REDUCE): their lambda parameters were typed when the call was planned,
/// from the literals as they were then.
fn narrow_literals(expr: DfExpr) -> datafusion::error::Result<DfExpr> {
    use datafusion::common::tree_node::TreeNodeRecursion;
    expr.transform_down(|e| match e {
        DfExpr::Literal(ScalarValue::Int64(Some(v)), meta) if i32::try_from(v).is_ok() => Ok(
            Transformed::yes(DfExpr::Literal(ScalarValue::Int32(Some(v as i32)), meta)),
        ),
        e @ DfExpr::HigherOrderFunction(_) => {
            Ok(Transformed::new(e, false, TreeNodeRecursion::Jump))
        }
        other => Ok(Transformed::no(other)),
    })
    .map(|t| t.data)
}

/// The name ksqlDB gives an unaliased select expression: the column name
/// for a column, the field name for `s->f`, `None` otherwise (the caller
/// assigns `KSQL_COL_n`).
pub fn implicit_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Identifier(id) => Some(id.value.clone()),
        Expr::CompoundIdentifier(ids) => ids.last().map(|i| i.value.clone()),
        Expr::BinaryOp {
            op: BinaryOperator::Arrow,
            right,
            ..
        } => match right.as_ref() {
            Expr::Identifier(id) => Some(id.value.clone()),
            _ => None,
        },
        Expr::Nested(inner) => implicit_name(inner),
        _ => None,
    }
}

/// The column an expression refers to, when it is a bare column reference
/// (`COL` or `SRC.COL`).
pub fn column_ref(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Identifier(id) => Some(&id.value),
        Expr::CompoundIdentifier(ids) if ids.len() == 2 => Some(&ids[1].value),
        Expr::Nested(inner) => column_ref(inner),
        _ => None,
    }
}
