//! Table functions in a projection: `EXPLODE(list)` and
//! `CUBE_EXPLODE(list)`.
//!
//! Each call is taken out of its select item and replaced by a reference to
//! a new column, `$TF_n`, which the [`Explode`] operator fills with the
//! list's elements (the calls of one SELECT are zipped, as in ksqlDB). So
//! `SELECT ID, EXPLODE(ARR)->F1 AS V` plans as: project the row and `ARR`
//! as `$TF_0`, explode `$TF_0`, then project `ID, $TF_0->F1 AS V`.
//!
//! [`Explode`]: crate::runtime::operators::explode::Explode

use std::ops::ControlFlow;

use arrow::datatypes::DataType;
use datafusion::common::DFSchema;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr as DfExpr, ExprSchemable};
use datafusion::sql::sqlparser::ast::{
    self as sql, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident,
};

use super::expr::to_datafusion;
use super::projection::SelectedItem;
use crate::error::{Error, Result};
use crate::types::SqlType;

/// Which table function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TableFunction {
    /// `EXPLODE(list)`: one row per element.
    Explode,
    /// `CUBE_EXPLODE(list)`: one row per combination of kept elements.
    CubeExplode,
}

impl TableFunction {
    fn of(f: &sql::Function) -> Option<TableFunction> {
        match f.name.to_string().to_lowercase().as_str() {
            "explode" => Some(TableFunction::Explode),
            "cube_explode" => Some(TableFunction::CubeExplode),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            TableFunction::Explode => "explode",
            TableFunction::CubeExplode => "cube_explode",
        }
    }
}

/// One table function call taken out of the projection.
pub(crate) struct TableFunctionCall {
    /// The function.
    pub function: TableFunction,
    /// Its argument.
    pub arg: Expr,
    /// The column standing for its result in the rewritten item.
    pub column: String,
}

/// The name of the column standing for the `n`-th table function call.
fn column_name(n: usize) -> String {
    format!("$TF_{n}")
}

fn is_table_function(e: &Expr) -> bool {
    matches!(e, Expr::Function(f) if TableFunction::of(f).is_some())
}

/// The first table function call in `expr`, if any.
pub(crate) fn find(expr: &Expr) -> Option<String> {
    let mut found = None;
    let _ = sql::visit_expressions(expr, |e| {
        if let Expr::Function(f) = e {
            if TableFunction::of(f).is_some() {
                found = Some(f.name.to_string().to_uppercase());
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    found
}

/// Takes every table function call out of `items`, replacing each by a
/// reference to its result column.
pub(crate) fn extract(items: &mut [SelectedItem]) -> Result<Vec<TableFunctionCall>> {
    let mut calls: Vec<TableFunctionCall> = Vec::new();
    for item in items.iter_mut() {
        let mut failure: Option<Error> = None;
        let _ = sql::visit_expressions_mut(&mut item.expr, |e| {
            let Expr::Function(f) = e else {
                return ControlFlow::Continue(());
            };
            let Some(function) = TableFunction::of(f) else {
                return ControlFlow::Continue(());
            };
            let arg = match &f.args {
                FunctionArguments::List(list) => match list.args.as_slice() {
                    [FunctionArg::Unnamed(FunctionArgExpr::Expr(a))] => Some(a.clone()),
                    _ => None,
                },
                _ => None,
            };
            let Some(arg) = arg else {
                failure = Some(Error::user(format!(
                    "Function '{}' takes exactly one argument: {e}",
                    function.name()
                )));
                return ControlFlow::Break(());
            };
            let column = column_name(calls.len());
            calls.push(TableFunctionCall {
                function,
                arg,
                column: column.clone(),
            });
            *e = Expr::Identifier(Ident::with_quote('`', column));
            ControlFlow::Continue(())
        });
        if let Some(e) = failure {
            return Err(e);
        }
    }
    Ok(calls)
}

/// Checks that no table function call is nested in another one's argument
/// (post-order rewriting would otherwise hide it).
pub(crate) fn reject_nested(items: &[SelectedItem]) -> Result<()> {
    for item in items {
        let mut nested = None;
        let _ = sql::visit_expressions(&item.expr, |e| {
            if let Expr::Function(f) = e {
                if TableFunction::of(f).is_some() {
                    if let FunctionArguments::List(list) = &f.args {
                        for a in &list.args {
                            if let FunctionArg::Unnamed(FunctionArgExpr::Expr(a)) = a {
                                let mut inner = false;
                                let _ = sql::visit_expressions(a, |x| {
                                    if is_table_function(x) {
                                        inner = true;
                                        return ControlFlow::Break(());
                                    }
                                    ControlFlow::Continue(())
                                });
                                if inner {
                                    nested = Some(e.to_string());
                                    return ControlFlow::Break(());
                                }
                            }
                        }
                    }
                }
            }
            ControlFlow::Continue(())
        });
        if let Some(e) = nested {
            return Err(Error::user(format!(
                "Table functions cannot be nested: {e}"
            )));
        }
    }
    Ok(())
}

/// A planned call: the list expression to explode and the element type.
pub(crate) struct PlannedCall {
    /// The list whose elements the call yields.
    pub list: DfExpr,
    /// The type of the elements.
    pub element: DataType,
}

/// Plans the argument of `call` against `schema`.
pub(crate) fn plan_call(
    state: &SessionState,
    call: &TableFunctionCall,
    schema: &DFSchema,
) -> Result<PlannedCall> {
    let arg = to_datafusion(state, &call.arg, schema)?;
    let t = arg.get_type(schema)?;
    let DataType::List(_) = &t else {
        let shown = SqlType::from_arrow(&t)
            .map(|s| s.to_string())
            .unwrap_or_else(|_| t.to_string());
        return Err(Error::user(format!(
            "Function '{}' does not accept parameters ({shown}).\nValid alternatives are:\n\
             {}(ARRAY<T> list)",
            call.function.name(),
            call.function.name()
        )));
    };
    let list = match call.function {
        TableFunction::Explode => arg,
        TableFunction::CubeExplode => crate::functions::cube_combinations().call(vec![arg]),
    };
    let DataType::List(item) = list.get_type(schema)? else {
        return Err(Error::internal(format!(
            "{} does not give a list",
            call.function.name()
        )));
    };
    Ok(PlannedCall {
        list,
        element: item.data_type().clone(),
    })
}
