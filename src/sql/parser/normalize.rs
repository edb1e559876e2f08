//! Name normalization inside parsed expressions.
//!
//! After this pass an [`Ident`]'s value is the final name: unquoted
//! identifiers (columns, sources, struct fields after `->`, lambda
//! parameters, named arguments) are upper-cased, quoted ones are kept as
//! written. Function names are left as written. Custom type names inside
//! `CAST` are resolved.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{visit_expressions_mut, Expr, Ident, OneOrManyWithParens};

use super::types;
use crate::error::{Error, Result};
use crate::types::SqlType;

/// Normalizes every name in `expr`.
pub(super) fn normalize_expr(
    expr: &mut Expr,
    resolve: &dyn Fn(&str) -> Option<SqlType>,
) -> Result<()> {
    let mut failure: Option<Error> = None;
    let _ = visit_expressions_mut(expr, |e| {
        match e {
            Expr::Identifier(ident) => normalize_ident(ident),
            Expr::CompoundIdentifier(idents) => idents.iter_mut().for_each(normalize_ident),
            Expr::Lambda(lambda) => match &mut lambda.params {
                OneOrManyWithParens::One(p) => normalize_ident(&mut p.name),
                OneOrManyWithParens::Many(ps) => {
                    ps.iter_mut().for_each(|p| normalize_ident(&mut p.name))
                }
            },
            Expr::Cast { data_type, .. } => match types::resolve_data_type(data_type, resolve) {
                Ok(resolved) => *data_type = resolved,
                Err(e) => {
                    failure = Some(e);
                    return ControlFlow::Break(());
                }
            },
            _ => {}
        }
        ControlFlow::Continue(())
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn normalize_ident(ident: &mut Ident) {
    if ident.quote_style.is_none() {
        ident.value = ident.value.to_uppercase();
    }
}
