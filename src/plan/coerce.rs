//! ksqlDB's implicit coercions where DataFusion's differ: the elements of
//! `ARRAY[…]` and `MAP(…)` constructors and the list of `x IN (…)`.
//!
//! ksqlDB types these lists itself: numbers widen (INT → BIGINT → DECIMAL
//! → DOUBLE); a string literal becomes a number or a boolean when the
//! others are ('2e1', 'yes'); a number or boolean literal becomes a string
//! among strings; STRUCTs unify field by field, a field missing from one
//! being null in it. Anything else mixed is an error naming the types.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::functions::core::expr_fn::{get_field, named_struct};
use datafusion::logical_expr::expr::{InList, ScalarFunction};
use datafusion::logical_expr::{cast, lit, when, Expr, ExprSchemable};

use crate::error::{Error, Result};
use crate::functions::udf_common_type;
use crate::types::SqlType;

/// Applies ksqlDB's coercions to the constructors and IN lists in `expr`.
pub(crate) fn ksql_coercions(expr: Expr, schema: &DFSchema) -> Result<Expr> {
    let mut failure: Option<Error> = None;
    let out = expr.transform_up(|e| {
        let result = match e {
            Expr::InList(list) => coerce_in_list(list, schema).map(Expr::InList),
            Expr::ScalarFunction(f) if f.func.name() == "make_array" => {
                coerce_array(f, schema).map(Expr::ScalarFunction)
            }
            other => return Ok(Transformed::no(other)),
        };
        match result {
            Ok(e) => Ok(Transformed::yes(e)),
            Err(err) => {
                failure = Some(err);
                Ok(Transformed::new(
                    Expr::Literal(ScalarValue::Null, None),
                    false,
                    TreeNodeRecursion::Stop,
                ))
            }
        }
    })?;
    match failure {
        Some(e) => Err(e),
        None => Ok(out.data),
    }
}

/// How ksqlDB groups types for coercion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Null,
    Number,
    String,
    Boolean,
    Struct,
    Other,
}

fn class(t: &DataType) -> Class {
    match t {
        DataType::Null => Class::Null,
        t if t.is_numeric() => Class::Number,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Class::String,
        DataType::Boolean => Class::Boolean,
        DataType::Struct(_) => Class::Struct,
        _ => Class::Other,
    }
}

fn sql_name(t: &DataType) -> String {
    SqlType::from_arrow(t)
        .map(|s| s.to_string())
        .unwrap_or_else(|_| t.to_string())
}

/// The text ksqlDB shows for an expression in a message.
fn shown(e: &Expr) -> String {
    match e {
        Expr::Column(c) => c.name.clone(),
        Expr::Literal(v, _) => match v {
            ScalarValue::Utf8(Some(s)) => format!("'{s}'"),
            v => v.to_string(),
        },
        other => other.to_string(),
    }
}

fn literal(e: &Expr) -> Option<&ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v),
        _ => None,
    }
}

/// A string literal read as a number: INT or BIGINT when it is an
/// integer, else DECIMAL.
fn parse_number(s: &str) -> Option<ScalarValue> {
    let t = s.trim();
    if let Ok(v) = t.parse::<i64>() {
        return Some(match i32::try_from(v) {
            Ok(v) => ScalarValue::Int32(Some(v)),
            Err(_) => ScalarValue::Int64(Some(v)),
        });
    }
    let (negative, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], body[i + 1..].parse::<i32>().ok()?),
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut digits = format!("{int}{frac}");
    let mut scale = frac.len() as i32 - exponent;
    if scale < 0 {
        digits.push_str(&"0".repeat(usize::try_from(-scale).ok()?));
        scale = 0;
    }
    let digits = digits.trim_start_matches('0');
    let precision = digits.len().max(scale as usize + 1);
    if precision > 38 {
        return None;
    }
    let value: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let value = if negative { -value } else { value };
    Some(ScalarValue::Decimal128(
        Some(value),
        precision as u8,
        i8::try_from(scale).ok()?,
    ))
}

/// ksqlDB's lenient booleans: prefixes of true/yes and false/no.
fn parse_bool(s: &str) -> Option<bool> {
    let l = s.trim().to_lowercase();
    if l.is_empty() {
        return None;
    }
    if "true".starts_with(&l) || "yes".starts_with(&l) {
        Some(true)
    } else if "false".starts_with(&l) || "no".starts_with(&l) {
        Some(false)
    } else {
        None
    }
}

fn invalid_syntax(target: &DataType, s: &str) -> Error {
    let name = match class(target) {
        Class::Number if matches!(target, DataType::Decimal128(..)) => "DECIMAL".to_string(),
        _ => sql_name(target),
    };
    Error::user(format!("invalid input syntax for type {name}: \"{s}\""))
}

/// A literal as an element of `target`'s class, when ksqlDB converts it.
fn convert_literal(target: &DataType, v: &ScalarValue) -> Result<Option<ScalarValue>> {
    Ok(match (class(target), v) {
        (Class::Number, ScalarValue::Utf8(Some(s))) => {
            Some(parse_number(s).ok_or_else(|| invalid_syntax(target, s))?)
        }
        (Class::Boolean, ScalarValue::Utf8(Some(s))) => Some(ScalarValue::Boolean(Some(
            parse_bool(s).ok_or_else(|| invalid_syntax(target, s))?,
        ))),
        (Class::String, v) if matches!(class(&v.data_type()), Class::Number | Class::Boolean) => {
            Some(ScalarValue::Utf8(Some(v.to_string())))
        }
        _ => None,
    })
}

/// Whether values of `a` and `b` compare without an explicit cast.
fn comparable(a: &DataType, b: &DataType) -> bool {
    match (a, b) {
        (DataType::List(x), DataType::List(y)) => comparable(x.data_type(), y.data_type()),
        (DataType::Map(x, _), DataType::Map(y, _)) => comparable(x.data_type(), y.data_type()),
        (DataType::Struct(x), DataType::Struct(y)) => {
            x.len() == y.len()
                && x.iter().all(|f| {
                    y.iter()
                        .find(|g| g.name() == f.name())
                        .is_some_and(|g| comparable(f.data_type(), g.data_type()))
                })
        }
        _ => {
            let (ca, cb) = (class(a), class(b));
            ca == Class::Null || cb == Class::Null || (ca == cb && ca != Class::Other) || a == b
        }
    }
}

fn coerce_in_list(mut list: InList, schema: &DFSchema) -> Result<InList> {
    let target = list.expr.get_type(schema)?;
    let predicate = |e: Error| match e {
        Error::User { message, .. } => Error::user(format!("Invalid Predicate: {message}")),
        other => other,
    };
    let mut items = Vec::with_capacity(list.list.len());
    for item in std::mem::take(&mut list.list) {
        let t = item.get_type(schema)?;
        if t == target || t == DataType::Null {
            items.push(item);
            continue;
        }
        if let Some(v) = literal(&item) {
            if let Some(converted) = convert_literal(&target, v).map_err(predicate)? {
                items.push(lit(converted));
                continue;
            }
        }
        if let (DataType::List(element), Expr::ScalarFunction(f)) = (&target, &item) {
            if f.func.name() == "make_array" {
                // ARRAY['3', NULL] among BIGINT arrays: convert the literals.
                let mut f = f.clone();
                for a in f.args.iter_mut() {
                    if let Some(v) = literal(a) {
                        if let Some(c) =
                            convert_literal(element.data_type(), v).map_err(predicate)?
                        {
                            *a = lit(c);
                        }
                    }
                }
                let converted = Expr::ScalarFunction(f);
                let t = converted.get_type(schema)?;
                if comparable(&target, &t) {
                    items.push(converted);
                    continue;
                }
            }
        }
        if let (DataType::Struct(fields), Some(args)) = (&target, struct_constructor(&item)) {
            for (name, v) in &args {
                let field = fields.iter().find(|f| f.name() == name);
                if let (Some(f), None) = (field, literal(v)) {
                    if !comparable(f.data_type(), &v.get_type(schema)?) {
                        return Err(Error::user(format!(
                            "Invalid Predicate: operator does not exist: {} = {} ({})",
                            sql_name(&target),
                            sql_name(&t),
                            shown(&item)
                        )));
                    }
                }
            }
            items.push(match rebuild_struct_literal(fields, args)? {
                Some(e) => e,
                // A field the target lacks: it can never be equal.
                None => lit(ScalarValue::try_from(&target)?),
            });
            continue;
        }
        if !comparable(&target, &t) {
            return Err(Error::user(format!(
                "Invalid Predicate: operator does not exist: {} = {} ({})",
                sql_name(&target),
                sql_name(&t),
                shown(&item)
            )));
        }
        items.push(item);
    }
    list.list = items;
    Ok(list)
}

/// The (name, value) pairs of a `named_struct(…)` call.
fn struct_constructor(e: &Expr) -> Option<Vec<(String, Expr)>> {
    let Expr::ScalarFunction(f) = e else {
        return None;
    };
    if f.func.name() != "named_struct" {
        return None;
    }
    f.args
        .chunks(2)
        .map(|pair| match pair {
            [Expr::Literal(ScalarValue::Utf8(Some(name)), _), value] => {
                Some((name.clone(), value.clone()))
            }
            _ => None,
        })
        .collect()
}

/// A struct constructor laid out as `fields`, its literals converted;
/// `None` if it has a field `fields` lacks.
fn rebuild_struct_literal(fields: &Fields, args: Vec<(String, Expr)>) -> Result<Option<Expr>> {
    if args
        .iter()
        .any(|(n, _)| !fields.iter().any(|f| f.name() == n))
    {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(fields.len() * 2);
    for f in fields.iter() {
        let value = match args.iter().find(|(n, _)| n == f.name()) {
            Some((_, v)) => match literal(v).map(|l| convert_literal(f.data_type(), l)) {
                Some(Ok(Some(c))) => lit(c),
                Some(Err(e)) => return Err(e),
                _ => v.clone(),
            },
            None => lit(ScalarValue::try_from(f.data_type())?),
        };
        out.push(lit(f.name().clone()));
        out.push(cast(value, f.data_type().clone()));
    }
    Ok(Some(named_struct(out)))
}

/// The type elements of types `types` unify to, ksqlDB's way.
fn unify(types: &[DataType]) -> Option<DataType> {
    let known: Vec<&DataType> = types.iter().filter(|t| **t != DataType::Null).collect();
    let first = known.first()?;
    match class(first) {
        Class::Number => udf_common_type(&known.iter().map(|t| (*t).clone()).collect::<Vec<_>>()),
        Class::Struct => {
            let mut names: Vec<String> = Vec::new();
            for t in &known {
                let DataType::Struct(fs) = t else { return None };
                for f in fs.iter() {
                    if !names.contains(f.name()) {
                        names.push(f.name().clone());
                    }
                }
            }
            let fields = names
                .iter()
                .map(|n| {
                    let ts: Vec<DataType> = known
                        .iter()
                        .filter_map(|t| match t {
                            DataType::Struct(fs) => fs
                                .iter()
                                .find(|f| f.name() == n)
                                .map(|f| f.data_type().clone()),
                            _ => None,
                        })
                        .collect();
                    Some(Field::new(n, unify(&ts)?, true))
                })
                .collect::<Option<Vec<_>>>()?;
            Some(DataType::Struct(Fields::from(fields)))
        }
        Class::Other => match first {
            DataType::List(_) => {
                let items: Vec<DataType> = known
                    .iter()
                    .map(|t| match t {
                        DataType::List(f) => Some(f.data_type().clone()),
                        _ => None,
                    })
                    .collect::<Option<_>>()?;
                Some(DataType::List(Arc::new(Field::new_list_field(
                    unify(&items)?,
                    true,
                ))))
            }
            _ => known.iter().all(|t| t == first).then(|| (*first).clone()),
        },
        _ => known
            .iter()
            .all(|t| class(t) == class(first))
            .then(|| (*first).clone()),
    }
}

/// `make_array(…)` with ksqlDB's element coercion.
fn coerce_array(mut f: ScalarFunction, schema: &DFSchema) -> Result<ScalarFunction> {
    let types = f
        .args
        .iter()
        .map(|a| a.get_type(schema))
        .collect::<datafusion::common::Result<Vec<_>>>()?;
    let is_string_literal = |a: &Expr| {
        matches!(
            literal(a),
            Some(ScalarValue::Utf8(Some(_)) | ScalarValue::Utf8View(Some(_)))
        )
    };
    // The type of the non-literal strings and everything else; strings
    // among them make string literals of the rest.
    let strings_present = f
        .args
        .iter()
        .zip(&types)
        .any(|(a, t)| class(t) == Class::String && literal(a).is_none());
    let base: Vec<DataType> = f
        .args
        .iter()
        .zip(&types)
        .filter(|(a, t)| {
            if strings_present {
                class(t) == Class::String
            } else {
                !is_string_literal(a)
            }
        })
        .map(|(_, t)| t.clone())
        .collect();
    let Some(mut target) = unify(&base) else {
        if base.iter().all(|t| *t == DataType::Null) {
            return Ok(f);
        }
        return Err(Error::user(format!(
            "Cannot construct an array with mismatching types: {}",
            types.iter().map(sql_name).collect::<Vec<_>>().join(", ")
        )));
    };
    // Convert the literals the target's class takes.
    let mut args = Vec::with_capacity(f.args.len());
    for (a, t) in std::mem::take(&mut f.args).into_iter().zip(&types) {
        let converted = match literal(&a) {
            Some(v) if class(t) != class(&target) => convert_literal(&target, v)?,
            _ => None,
        };
        match converted {
            Some(v) => {
                if class(&target) == Class::Number {
                    target = udf_common_type(&[target.clone(), v.data_type()]).unwrap_or(target);
                }
                args.push(lit(v));
            }
            None => {
                if strings_present && class(t) != Class::String && *t != DataType::Null {
                    return Err(Error::user(format!(
                        "Cannot construct an array with mismatching types: {} and {}",
                        sql_name(&target),
                        sql_name(t)
                    )));
                }
                args.push(a);
            }
        }
    }
    // Give every element the target type.
    let mut out = Vec::with_capacity(args.len());
    for a in args {
        let t = a.get_type(schema)?;
        if t == target {
            out.push(a);
            continue;
        }
        out.push(match (&target, struct_constructor(&a)) {
            (DataType::Struct(fields), Some(pairs)) => match rebuild_struct_literal(fields, pairs)?
            {
                Some(e) => e,
                None => a.cast_to(&target, schema)?,
            },
            (DataType::Struct(fields), None) if class(&t) == Class::Struct => {
                struct_like(a, fields)?
            }
            _ => a.cast_to(&target, schema)?,
        });
    }
    f.args = out;
    Ok(f)
}

/// A struct value laid out as `fields`: its own fields where it has them,
/// null elsewhere; null when it is null.
fn struct_like(e: Expr, fields: &Fields) -> Result<Expr> {
    let mut args = Vec::with_capacity(fields.len() * 2);
    for f in fields.iter() {
        args.push(lit(f.name().clone()));
        args.push(cast(
            get_field(e.clone(), f.name().as_str()),
            f.data_type().clone(),
        ));
    }
    let null = lit(ScalarValue::try_from(&DataType::Struct(fields.clone()))?);
    Ok(when(e.is_null(), null).otherwise(named_struct(args))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_literals_read_as_numbers_and_booleans() {
        assert_eq!(parse_number("10"), Some(ScalarValue::Int32(Some(10))));
        assert_eq!(
            parse_number("2147483648"),
            Some(ScalarValue::Int64(Some(2147483648)))
        );
        assert_eq!(
            parse_number("2e1"),
            Some(ScalarValue::Decimal128(Some(20), 2, 0))
        );
        assert_eq!(
            parse_number("10.30"),
            Some(ScalarValue::Decimal128(Some(1030), 4, 2))
        );
        assert_eq!(parse_number("ten"), None);
        assert_eq!(parse_bool("TrUe"), Some(true));
        assert_eq!(parse_bool("y"), Some(true));
        assert_eq!(parse_bool("no"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }

    #[test]
    fn structs_unify_field_by_field() {
        let a = DataType::Struct(Fields::from(vec![
            Field::new("X", DataType::Int32, true),
            Field::new("Y", DataType::Int64, true),
        ]));
        let b = DataType::Struct(Fields::from(vec![
            Field::new("Y", DataType::Int32, true),
            Field::new("Z", DataType::Int64, true),
        ]));
        let DataType::Struct(fields) = unify(&[DataType::Null, a, b]).unwrap() else {
            panic!("not a struct");
        };
        let names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["X", "Y", "Z"]);
        assert_eq!(fields[1].data_type(), &DataType::Int64);
    }
}
