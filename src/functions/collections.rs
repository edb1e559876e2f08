//! ksqlDB's functions on ARRAYs and MAPs: ARRAY_CONTAINS, ARRAY_LENGTH,
//! ARRAY_CONCAT, ARRAY_DISTINCT, ARRAY_EXCEPT, ARRAY_INTERSECT, ARRAY_UNION,
//! ARRAY_REMOVE, ARRAY_SORT, ARRAY_MAX, ARRAY_MIN, ARRAY_JOIN, SLICE,
//! GENERATE_SERIES. The MAP functions are in [`super::maps`].
//!
//! Elements of any type compare through Arrow's row format, so the set
//! functions work on nested elements too. The set functions return distinct
//! elements in first-seen order.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{
    new_empty_array, new_null_array, Array, ArrayRef, BooleanArray, Int32Array, Int64Array,
    ListArray, StringArray, UInt32Array,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::compute::{concat, sort_to_indices, take, SortOptions};
use arrow::datatypes::{DataType, Field, FieldRef};
use arrow::row::{RowConverter, SortField};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::ScalarUDF;

use super::udf::{
    arg, bad_args, common_type, get, int_rows, overloads, returns, same_as_first, utf8_rows,
    KsqlUdf, P,
};

/// The ARRAY functions.
pub fn udfs() -> Vec<Arc<ScalarUDF>> {
    vec![
        KsqlUdf::new(
            "array_length",
            overloads!([P::Array]),
            returns!(DataType::Int32),
            array_length,
        )
        .udf(),
        KsqlUdf::new(
            "array_contains",
            array_and_element,
            returns!(DataType::Boolean),
            array_contains,
        )
        .udf(),
        KsqlUdf::new(
            "array_remove",
            array_and_element,
            same_as_first,
            array_remove,
        )
        .udf(),
        KsqlUdf::new("array_concat", two_arrays, same_as_first, array_concat).udf(),
        KsqlUdf::new("array_except", two_arrays, same_as_first, array_except).udf(),
        KsqlUdf::new(
            "array_intersect",
            two_arrays,
            same_as_first,
            array_intersect,
        )
        .udf(),
        KsqlUdf::new("array_union", two_arrays, same_as_first, array_union).udf(),
        KsqlUdf::new(
            "array_distinct",
            overloads!([P::Array]),
            same_as_first,
            array_distinct,
        )
        .udf(),
        KsqlUdf::new(
            "array_sort",
            overloads!([P::Array], [P::Array, P::Str]),
            same_as_first,
            array_sort,
        )
        .udf(),
        KsqlUdf::new("array_max", overloads!([P::Array]), element_type, array_max).udf(),
        KsqlUdf::new("array_min", overloads!([P::Array]), element_type, array_min).udf(),
        KsqlUdf::new(
            "array_join",
            overloads!([P::Array], [P::Array, P::Str]),
            returns!(DataType::Utf8),
            array_join,
        )
        .udf(),
        KsqlUdf::new(
            "slice",
            overloads!([P::Array, P::Int, P::Int]),
            same_as_first,
            slice,
        )
        .udf(),
        KsqlUdf::new(
            "generate_series",
            overloads!(
                [P::Int, P::Int],
                [P::Int, P::Int, P::Int],
                [P::Bigint, P::Bigint],
                [P::Bigint, P::Bigint, P::Int]
            ),
            series_type,
            generate_series,
        )
        .udf(),
    ]
}

pub(crate) fn internal(msg: &str) -> DataFusionError {
    DataFusionError::Internal(msg.to_string())
}

pub(crate) fn list_of(elem: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", elem, true)))
}

pub(crate) fn elem_of(t: &DataType) -> Option<DataType> {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            Some(f.data_type().clone())
        }
        DataType::Null => Some(DataType::Null),
        _ => None,
    }
}

fn element_type(args: &[DataType]) -> Result<DataType> {
    args.first()
        .and_then(elem_of)
        .ok_or_else(|| internal("array function without an array"))
}

/// ARRAY_CONTAINS and ARRAY_REMOVE: the array's elements and the value meet
/// at their common type.
fn array_and_element(name: &str, args: &[DataType]) -> Result<Vec<DataType>> {
    let [arr, v] = args else {
        return Err(bad_args(name, args));
    };
    let elem = elem_of(arr).ok_or_else(|| bad_args(name, args))?;
    let common = common_type(&[elem, v.clone()]).ok_or_else(|| bad_args(name, args))?;
    Ok(vec![list_of(common.clone()), common])
}

fn two_arrays(name: &str, args: &[DataType]) -> Result<Vec<DataType>> {
    let [a, b] = args else {
        return Err(bad_args(name, args));
    };
    let ea = elem_of(a).ok_or_else(|| bad_args(name, args))?;
    let eb = elem_of(b).ok_or_else(|| bad_args(name, args))?;
    let common = common_type(&[ea, eb]).ok_or_else(|| bad_args(name, args))?;
    Ok(vec![list_of(common.clone()), list_of(common)])
}

/// Builds a list array from one optional element array per row.
pub(crate) fn list_from_parts(elem: &DataType, parts: Vec<Option<ArrayRef>>) -> Result<ArrayRef> {
    let field: FieldRef = Arc::new(Field::new("item", elem.clone(), true));
    let offsets =
        OffsetBuffer::from_lengths(parts.iter().map(|p| p.as_ref().map_or(0, |a| a.len())));
    let arrays: Vec<&dyn Array> = parts.iter().flatten().map(|a| a.as_ref()).collect();
    let values = if arrays.is_empty() {
        new_empty_array(elem)
    } else {
        concat(&arrays)?
    };
    let nulls = NullBuffer::from(parts.iter().map(Option::is_some).collect::<Vec<bool>>());
    Ok(Arc::new(ListArray::try_new(
        field,
        offsets,
        values,
        Some(nulls),
    )?))
}

pub(crate) fn list_arg(a: &[ArrayRef], i: usize) -> Result<&ListArray> {
    arg::<ListArray>(a, i)
}

pub(crate) fn list_elem(l: &ListArray) -> DataType {
    match l.data_type() {
        DataType::List(f) => f.data_type().clone(),
        _ => DataType::Null,
    }
}

fn array_length(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    if a[0].data_type() == &DataType::Null {
        return Ok(new_null_array(&DataType::Int32, rows));
    }
    let l = list_arg(a, 0)?;
    Ok(int_rows(rows, |i| l.is_valid(i).then(|| l.value_length(i))))
}

pub(crate) fn converter(elem: &DataType) -> Result<RowConverter> {
    Ok(RowConverter::new(vec![SortField::new(elem.clone())])?)
}

/// Indices (into the row's elements) of elements equal to row `i` of `v`.
fn equal_mask(conv: &RowConverter, vals: &ArrayRef, v: &ArrayRef, i: usize) -> Result<Vec<bool>> {
    let rows = conv.convert_columns(&[Arc::clone(vals)])?;
    let needle = conv.convert_columns(&[v.slice(i, 1)])?;
    let n = needle.row(0);
    Ok((0..vals.len()).map(|k| rows.row(k) == n).collect())
}

fn array_contains(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let l = list_arg(a, 0)?;
    let conv = converter(&list_elem(l))?;
    let mut out = Vec::with_capacity(rows);
    for i in 0..rows {
        out.push(if l.is_valid(i) {
            equal_mask(&conv, &l.value(i), &a[1], i)?.contains(&true)
        } else {
            false
        });
    }
    Ok(Arc::new(BooleanArray::from(out)))
}

fn array_remove(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let l = list_arg(a, 0)?;
    let elem = list_elem(l);
    let conv = converter(&elem)?;
    let mut parts = Vec::with_capacity(rows);
    for i in 0..rows {
        if !l.is_valid(i) {
            parts.push(None);
            continue;
        }
        let vals = l.value(i);
        let keep: Vec<u32> = equal_mask(&conv, &vals, &a[1], i)?
            .iter()
            .enumerate()
            .filter(|(_, eq)| !**eq)
            .map(|(k, _)| k as u32)
            .collect();
        parts.push(Some(take(&vals, &UInt32Array::from(keep), None)?));
    }
    list_from_parts(&elem, parts)
}

/// Set operations over two arrays, row by row: `pick` chooses element
/// indices of the concatenation `a ++ b` given the element rows.
fn set_op(
    a: &[ArrayRef],
    rows: usize,
    null_if_either_null: bool,
    pick: fn(&[arrow::row::Row<'_>], usize) -> Vec<usize>,
) -> Result<ArrayRef> {
    let (x, y) = (list_arg(a, 0)?, list_arg(a, 1)?);
    let elem = list_elem(x);
    let conv = converter(&elem)?;
    let mut parts = Vec::with_capacity(rows);
    for i in 0..rows {
        let (xv, yv) = (x.is_valid(i), y.is_valid(i));
        if !xv && (!yv || null_if_either_null) || (!yv && null_if_either_null) {
            parts.push(None);
            continue;
        }
        let xs = if xv {
            x.value(i)
        } else {
            new_empty_array(&elem)
        };
        let ys = if yv {
            y.value(i)
        } else {
            new_empty_array(&elem)
        };
        let both = concat(&[xs.as_ref(), ys.as_ref()])?;
        let converted = conv.convert_columns(&[Arc::clone(&both)])?;
        let rs: Vec<_> = (0..both.len()).map(|k| converted.row(k)).collect();
        let idx: Vec<u32> = pick(&rs, xs.len()).into_iter().map(|k| k as u32).collect();
        parts.push(Some(take(&both, &UInt32Array::from(idx), None)?));
    }
    list_from_parts(&elem, parts)
}

fn distinct_indices(
    rs: &[arrow::row::Row<'_>],
    range: std::ops::Range<usize>,
    seen: &mut HashSet<Vec<u8>>,
) -> Vec<usize> {
    range
        .filter(|&k| seen.insert(rs[k].as_ref().to_vec()))
        .collect()
}

fn array_concat(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    set_op(a, rows, false, |rs, _| (0..rs.len()).collect())
}

fn array_union(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    set_op(a, rows, true, |rs, _| {
        distinct_indices(rs, 0..rs.len(), &mut HashSet::new())
    })
}

fn array_except(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    set_op(a, rows, true, |rs, nx| {
        let mut seen: HashSet<Vec<u8>> = rs[nx..].iter().map(|r| r.as_ref().to_vec()).collect();
        distinct_indices(rs, 0..nx, &mut seen)
    })
}

fn array_intersect(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    set_op(a, rows, true, |rs, nx| {
        let other: HashSet<&[u8]> = rs[nx..].iter().map(|r| r.as_ref()).collect();
        let mut seen = HashSet::new();
        (0..nx)
            .filter(|&k| other.contains(rs[k].as_ref()) && seen.insert(rs[k].as_ref().to_vec()))
            .collect()
    })
}

fn array_distinct(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let l = list_arg(a, 0)?;
    let elem = list_elem(l);
    let conv = converter(&elem)?;
    let mut parts = Vec::with_capacity(rows);
    for i in 0..rows {
        if !l.is_valid(i) {
            parts.push(None);
            continue;
        }
        let vals = l.value(i);
        let converted = conv.convert_columns(&[Arc::clone(&vals)])?;
        let rs: Vec<_> = (0..vals.len()).map(|k| converted.row(k)).collect();
        let idx: Vec<u32> = distinct_indices(&rs, 0..rs.len(), &mut HashSet::new())
            .into_iter()
            .map(|k| k as u32)
            .collect();
        parts.push(Some(take(&vals, &UInt32Array::from(idx), None)?));
    }
    list_from_parts(&elem, parts)
}

/// ARRAY_SORT(a[, 'ASC'|'DESC']): nulls last; null for another direction.
fn array_sort(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let l = list_arg(a, 0)?;
    let dir = a.get(1).map(|_| arg::<StringArray>(a, 1)).transpose()?;
    let elem = list_elem(l);
    let mut parts = Vec::with_capacity(rows);
    for i in 0..rows {
        let descending = match dir.map(|d| get(d, i).map(|s| s.to_ascii_uppercase())) {
            None => Some(false),
            Some(Some(s)) if s == "ASC" => Some(false),
            Some(Some(s)) if s == "DESC" => Some(true),
            Some(_) => None,
        };
        match descending {
            Some(descending) if l.is_valid(i) => {
                let vals = l.value(i);
                let opts = SortOptions {
                    descending,
                    nulls_first: false,
                };
                let idx = sort_to_indices(&vals, Some(opts), None)?;
                parts.push(Some(take(&vals, &idx, None)?));
            }
            _ => parts.push(None),
        }
    }
    list_from_parts(&elem, parts)
}

fn extreme(a: &[ArrayRef], descending: bool) -> Result<ArrayRef> {
    let l = list_arg(a, 0)?;
    let elem = list_elem(l);
    let mut picks = Vec::with_capacity(l.len());
    for i in 0..l.len() {
        let vals = l.value(i);
        let opts = SortOptions {
            descending,
            nulls_first: false,
        };
        let first = if l.is_valid(i) && vals.null_count() < vals.len() {
            let idx = sort_to_indices(&vals, Some(opts), Some(1))?;
            Some(take(&vals, &idx, None)?)
        } else {
            None
        };
        picks.push(first.unwrap_or_else(|| new_null_array(&elem, 1)));
    }
    let refs: Vec<&dyn Array> = picks.iter().map(|p| p.as_ref()).collect();
    if refs.is_empty() {
        return Ok(new_empty_array(&elem));
    }
    Ok(concat(&refs)?)
}

fn array_max(a: &[ArrayRef], _: &DataType, _: usize) -> Result<ArrayRef> {
    extreme(a, true)
}

fn array_min(a: &[ArrayRef], _: &DataType, _: usize) -> Result<ArrayRef> {
    extreme(a, false)
}

/// ARRAY_JOIN(a[, delimiter]): elements as text (`null` for nulls), joined
/// by the delimiter (default `,`).
fn array_join(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let l = list_arg(a, 0)?;
    let delim = a.get(1).map(|_| arg::<StringArray>(a, 1)).transpose()?;
    let texts = arrow::compute::cast(l.values(), &DataType::Utf8)?;
    let texts = texts
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| internal("cast to Utf8"))?;
    let offsets = l.value_offsets();
    Ok(utf8_rows(rows, |i| {
        if !l.is_valid(i) {
            return None;
        }
        let d = match delim {
            Some(d) => get(d, i).unwrap_or(""),
            None => ",",
        };
        let (s, e) = (offsets[i] as usize, offsets[i + 1] as usize);
        Some(
            (s..e)
                .map(|k| get(texts, k).unwrap_or("null"))
                .collect::<Vec<_>>()
                .join(d),
        )
    }))
}

/// SLICE(a, from, to): 1-based, inclusive; null when out of range.
fn slice(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let l = list_arg(a, 0)?;
    let from = arg::<Int32Array>(a, 1)?;
    let to = arg::<Int32Array>(a, 2)?;
    let elem = list_elem(l);
    let parts = (0..rows)
        .map(|i| {
            if !l.is_valid(i) {
                return None;
            }
            let vals = l.value(i);
            let start = get(from, i).map_or(0, |f| f as i64 - 1);
            let end = get(to, i).map_or(vals.len() as i64, |t| t as i64);
            if start < 0 || end > vals.len() as i64 || start > end {
                return None;
            }
            Some(vals.slice(start as usize, (end - start) as usize))
        })
        .collect();
    list_from_parts(&elem, parts)
}

fn series_type(args: &[DataType]) -> Result<DataType> {
    Ok(list_of(args.first().cloned().unwrap_or(DataType::Int64)))
}

/// GENERATE_SERIES(start, end[, step]): inclusive; null for a zero step or
/// one pointing away from `end`.
fn generate_series(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let as_i64 = |arr: &ArrayRef, i: usize| -> Option<i64> {
        if let Some(x) = arr.as_any().downcast_ref::<Int64Array>() {
            return get(x, i);
        }
        arr.as_any()
            .downcast_ref::<Int32Array>()
            .and_then(|x| get(x, i))
            .map(i64::from)
    };
    let int = a[0].data_type() == &DataType::Int32;
    let elem = if int {
        DataType::Int32
    } else {
        DataType::Int64
    };
    let parts = (0..rows)
        .map(|i| {
            let (s, e) = (as_i64(&a[0], i)?, as_i64(&a[1], i)?);
            let step = match a.get(2) {
                Some(st) => as_i64(st, i)?,
                None => {
                    if e >= s {
                        1
                    } else {
                        -1
                    }
                }
            };
            if step == 0 || (e - s).signum() * step.signum() < 0 {
                return None;
            }
            let n = ((e - s) / step) as usize + 1;
            let vals = (0..n).map(|k| s + k as i64 * step);
            Some(if int {
                Arc::new(Int32Array::from_iter_values(vals.map(|v| v as i32))) as ArrayRef
            } else {
                Arc::new(Int64Array::from_iter_values(vals)) as ArrayRef
            })
        })
        .collect();
    list_from_parts(&elem, parts)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{check, check_typed};
    use super::*;

    #[tokio::test]
    async fn length_and_contains() {
        check_typed("array_length(make_array(1, 2, 3))", "3", DataType::Int32).await;
        check("array_length(CAST(NULL AS INT[]))", "NULL").await;
        check("array_contains(make_array(1, 2, 3), 2)", "true").await;
        check("array_contains(make_array('a', NULL), 'b')", "false").await;
        check("array_contains(make_array('a', NULL), NULL)", "true").await;
        check("array_contains(CAST(NULL AS INT[]), 1)", "false").await;
        check("array_contains(make_array(1.5, 2.0), 2)", "true").await;
    }

    #[tokio::test]
    async fn set_operations() {
        check(
            "array_distinct(make_array(3, 1, 3, NULL, 1, NULL))",
            "[3, 1, ]",
        )
        .await;
        check(
            "array_union(make_array(1, 2), make_array(2, 3))",
            "[1, 2, 3]",
        )
        .await;
        check(
            "array_except(make_array(1, 2, 2, 4), make_array(2))",
            "[1, 4]",
        )
        .await;
        check(
            "array_intersect(make_array(4, 1, 2, 1), make_array(1, 4))",
            "[4, 1]",
        )
        .await;
        check("array_concat(make_array(1, 1), make_array(2))", "[1, 1, 2]").await;
        check("array_concat(CAST(NULL AS BIGINT[]), make_array(2))", "[2]").await;
        check("array_remove(make_array('x', 'y', 'x'), 'x')", "[y]").await;
    }

    #[tokio::test]
    async fn ordering_and_joining() {
        check("array_sort(make_array(3, NULL, 1, 2))", "[1, 2, 3, ]").await;
        check("array_sort(make_array('b', 'c', 'a'), 'desc')", "[c, b, a]").await;
        check("array_sort(make_array(1), 'sideways')", "NULL").await;
        check_typed("array_max(make_array(3, NULL, 9))", "9", DataType::Int64).await;
        check("array_min(make_array('pear', 'fig'))", "fig").await;
        check("array_min(make_array(CAST(NULL AS INT)))", "NULL").await;
        check("array_join(make_array(1, 2, 3))", "1,2,3").await;
        check("array_join(make_array('a', NULL), ' | ')", "a | null").await;
        check("slice(make_array(1, 2, 3, 4), 2, 3)", "[2, 3]").await;
        check("slice(make_array(1, 2), 2, 5)", "NULL").await;
        check("generate_series(1, 4)", "[1, 2, 3, 4]").await;
        check("generate_series(10, 1, -4)", "[10, 6, 2]").await;
        check("generate_series(1, 5, -1)", "NULL").await;
    }
}
