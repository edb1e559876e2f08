//! CAST where ksqlDB and Arrow differ: to and from MAPs (which DataFusion's
//! SQL planner cannot name), nested values to STRING (ksqlDB prints
//! `Struct{A=1,B=x}` and `{k=v}`, as Java does), and narrowing integers
//! inside collections (wrapped, as Java's `(int)` does, not nulled).
//!
//! The planner routes such casts to `ksql_cast(value, 'TYPE')`, the target
//! type written as ksqlDB spells it; every other CAST is DataFusion's.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int32Array, Int64Array, ListArray, MapArray, StringBuilder,
    StructArray,
};
use arrow::compute::{can_cast_types, cast};

use arrow::datatypes::{DataType, Field, FieldRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use crate::types::SqlType;

/// The name the planner calls.
pub const KSQL_CAST: &str = "ksql_cast";

/// `ksql_cast(value, 'TYPE')`.
pub fn ksql_cast_udf() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(KsqlCast {
        signature: Signature::any(2, Volatility::Immutable),
    }))
}

/// The call casting `value` to `target`.
pub fn ksql_cast(value: Expr, target: &SqlType) -> Expr {
    ksql_cast_udf().call(vec![
        value,
        Expr::Literal(ScalarValue::Utf8(Some(target.to_string())), None),
    ])
}

/// True when a CAST between these types needs ksqlDB's rules.
pub fn needs_ksql_cast(from: &DataType, to: &DataType) -> bool {
    from != to && (from.is_nested() || to.is_nested())
}

/// Whether ksqlDB can cast `from` to `to`.
pub fn castable(from: &DataType, to: &DataType) -> bool {
    match (from, to) {
        _ if from == to => true,
        (DataType::Null, _) => true,
        (f, DataType::Utf8) if f.is_nested() => true,
        (DataType::List(a), DataType::List(b)) => castable(a.data_type(), b.data_type()),
        (DataType::Map(..), DataType::Map(..)) => match (map_kv(from), map_kv(to)) {
            (Some((fk, fv)), Some((tk, tv))) => {
                castable(fk.data_type(), tk.data_type()) && castable(fv.data_type(), tv.data_type())
            }
            _ => false,
        },
        (DataType::Struct(a), DataType::Struct(b)) => b.iter().all(|t| {
            a.iter()
                .find(|f| f.name() == t.name())
                .is_none_or(|f| castable(f.data_type(), t.data_type()))
        }),
        (f, t) if f.is_nested() || t.is_nested() => false,
        _ => can_cast_types(from, to),
    }
}

fn map_kv(t: &DataType) -> Option<(&FieldRef, &FieldRef)> {
    match t {
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => Some((&kv[0], &kv[1])),
            _ => None,
        },
        _ => None,
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct KsqlCast {
    signature: Signature,
}

impl ScalarUDFImpl for KsqlCast {
    fn name(&self) -> &str {
        KSQL_CAST
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        plan_err!("{KSQL_CAST} needs its target type as a literal")
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let Some(Some(ScalarValue::Utf8(Some(text)))) = args.scalar_arguments.get(1) else {
            return plan_err!("{KSQL_CAST} needs its target type as a string literal");
        };
        let target = crate::sql::parser::parse_data_type(text)
            .map_err(|e| datafusion::common::DataFusionError::Plan(e.to_string()))?
            .to_arrow();
        if let Some(from) = args.arg_fields.first() {
            if !castable(from.data_type(), &target) {
                let show = |t: &DataType| {
                    SqlType::from_arrow(t)
                        .map(|s| s.to_string())
                        .unwrap_or_else(|_| t.to_string())
                };
                return plan_err!(
                    "Cast of {} to {} is not supported",
                    show(from.data_type()),
                    show(&target)
                );
            }
        }
        Ok(Arc::new(Field::new(KSQL_CAST, target, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let target = args.return_field.data_type().clone();
        match args.args.first() {
            Some(ColumnarValue::Scalar(s)) => {
                let a = cast_array(&s.to_array()?, &target)?;
                Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&a, 0)?))
            }
            Some(ColumnarValue::Array(a)) => Ok(ColumnarValue::Array(cast_array(a, &target)?)),
            None => exec_err!("{KSQL_CAST} without a value"),
        }
    }
}

/// Casts a whole array by ksqlDB's rules.
pub fn cast_array(a: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    let from = a.data_type();
    Ok(match (from, to) {
        _ if from == to => Arc::clone(a),
        (DataType::Null, _) => arrow::array::new_null_array(to, a.len()),
        (f, DataType::Utf8) if f.is_nested() => {
            let mut b = StringBuilder::with_capacity(a.len(), a.len() * 16);
            let mut text = String::new();
            for i in 0..a.len() {
                if a.is_null(i) {
                    b.append_null();
                } else {
                    text.clear();
                    java_string(a.as_ref(), i, &mut text)?;
                    b.append_value(&text);
                }
            }
            Arc::new(b.finish())
        }
        (DataType::List(_), DataType::List(item)) => {
            let list = a.as_list::<i32>();
            let values = cast_array(list.values(), item.data_type())?;
            Arc::new(ListArray::try_new(
                Arc::clone(item),
                list.offsets().clone(),
                values,
                list.nulls().cloned(),
            )?)
        }
        (DataType::Map(..), DataType::Map(entries, sorted)) => {
            let map = a.as_map();
            let (Some((_, _)), Some((tk, tv))) = (map_kv(from), map_kv(to)) else {
                return exec_err!("unexpected map layout casting {from} to {to}");
            };
            let keys = cast_array(map.keys(), tk.data_type())?;
            let values = cast_array(map.values(), tv.data_type())?;
            let DataType::Struct(kv) = entries.data_type() else {
                return exec_err!("unexpected map layout {to}");
            };
            let entries_array = StructArray::try_new(kv.clone(), vec![keys, values], None)?;
            Arc::new(MapArray::try_new(
                Arc::clone(entries),
                map.offsets().clone(),
                entries_array,
                map.nulls().cloned(),
                *sorted,
            )?)
        }
        // Fields match by name; a field the value lacks is null.
        (DataType::Struct(_), DataType::Struct(fields)) => {
            let s = a.as_struct();
            let columns = fields
                .iter()
                .map(|f| match s.column_by_name(f.name()) {
                    Some(c) => cast_array(c, f.data_type()),
                    None => Ok(arrow::array::new_null_array(f.data_type(), a.len())),
                })
                .collect::<Result<Vec<_>>>()?;
            Arc::new(StructArray::try_new(
                fields.clone(),
                columns,
                s.nulls().cloned(),
            )?)
        }
        // Java narrows an integer by dropping its high bits.
        (DataType::Int64, DataType::Int32) => {
            let v = a.as_primitive::<arrow::datatypes::Int64Type>();
            let out: Int32Array = v.unary(|x| x as i32);
            Arc::new(out)
        }
        (DataType::Int32, DataType::Int64) => {
            let v = a.as_primitive::<arrow::datatypes::Int32Type>();
            let out: Int64Array = v.unary(|x| x as i64);
            Arc::new(out)
        }
        _ => cast(a, to)?,
    })
}

/// Appends the text Java's `toString` gives for row `i` of `a`.
fn java_string(a: &dyn Array, i: usize, out: &mut String) -> Result<()> {
    if a.is_null(i) {
        out.push_str("null");
        return Ok(());
    }
    match a.data_type() {
        DataType::Struct(fields) => {
            let s = a.as_struct();
            out.push_str("Struct{");
            let mut first = true;
            for (f, c) in fields.iter().zip(s.columns()) {
                // Connect's Struct.toString leaves out null fields.
                if c.is_null(i) {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(f.name());
                out.push('=');
                java_string(c.as_ref(), i, out)?;
            }
            out.push('}');
        }
        DataType::Map(..) => {
            let m = a.as_map();
            let offsets = m.value_offsets();
            out.push('{');
            for (n, k) in (offsets[i] as usize..offsets[i + 1] as usize).enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                java_string(m.keys().as_ref(), k, out)?;
                out.push('=');
                java_string(m.values().as_ref(), k, out)?;
            }
            out.push('}');
        }
        DataType::List(_) => {
            let l = a.as_list::<i32>();
            let offsets = l.value_offsets();
            out.push('[');
            for (n, k) in (offsets[i] as usize..offsets[i + 1] as usize).enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                java_string(l.values().as_ref(), k, out)?;
            }
            out.push(']');
        }
        _ => {
            let formatter = ArrayFormatter::try_new(a, &FormatOptions::default())?;
            let _ = write!(out, "{}", formatter.value(i));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, StringArray};
    use arrow::datatypes::Fields;

    #[test]
    fn structs_print_as_java_does() {
        let s: ArrayRef = Arc::new(StructArray::new(
            Fields::from(vec![
                Field::new("A", DataType::Int32, true),
                Field::new("b", DataType::Utf8, true),
            ]),
            vec![
                Arc::new(Int32Array::from(vec![Some(1), None])),
                Arc::new(StringArray::from(vec![Some("x"), Some("y")])),
            ],
            None,
        ));
        let out = cast_array(&s, &DataType::Utf8).unwrap();
        let out = out.as_string::<i32>();
        assert_eq!(out.value(0), "Struct{A=1,b=x}");
        assert_eq!(out.value(1), "Struct{b=y}");
    }

    #[test]
    fn narrowing_wraps_inside_lists() {
        let l: ArrayRef = Arc::new(ListArray::from_iter_primitive::<
            arrow::datatypes::Int64Type,
            _,
            _,
        >(vec![Some(vec![Some(1), Some(2147483648)])]));
        let to = DataType::List(Arc::new(Field::new_list_field(DataType::Int32, true)));
        let out = cast_array(&l, &to).unwrap();
        let values = out.as_list::<i32>().value(0);
        let values = values.as_primitive::<arrow::datatypes::Int32Type>();
        assert_eq!(values.values().to_vec(), vec![1, -2147483648]);
    }

    #[test]
    fn strings_do_not_become_collections() {
        let list = DataType::List(Arc::new(Field::new_list_field(DataType::Int32, true)));
        assert!(!castable(&DataType::Utf8, &list));
        assert!(castable(&list, &DataType::Utf8));
    }
}
