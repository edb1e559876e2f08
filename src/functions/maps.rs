//! ksqlDB's functions on MAPs: MAP_KEYS, MAP_VALUES, MAP_UNION, AS_MAP and
//! ENTRIES. Keys compare through Arrow's row format; where keys repeat, the
//! later entry wins and keeps the first one's position.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    new_empty_array, Array, ArrayRef, BooleanArray, MapArray, StructArray, UInt32Array,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::compute::{concat, sort_to_indices, take};
use arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::Result;
use datafusion::logical_expr::ScalarUDF;

use super::collections::{
    converter, elem_of, internal, list_arg, list_elem, list_from_parts, list_of,
};
use super::udf::{arg, bad_args, get, overloads, same_as_first, KsqlUdf, P};
use crate::types::map_type;

/// The MAP functions.
pub fn udfs() -> Vec<Arc<ScalarUDF>> {
    vec![
        KsqlUdf::new(
            "map_keys",
            overloads!([P::Map]),
            map_part_type::<0>,
            map_keys,
        )
        .udf(),
        KsqlUdf::new(
            "map_values",
            overloads!([P::Map]),
            map_part_type::<1>,
            map_values,
        )
        .udf(),
        KsqlUdf::new("map_union", two_maps, same_as_first, map_union).udf(),
        KsqlUdf::new(
            "as_map",
            overloads!([P::Array, P::Array]),
            as_map_type,
            as_map,
        )
        .udf(),
        KsqlUdf::new(
            "entries",
            overloads!([P::Map, P::Bool]),
            entries_type,
            entries,
        )
        .udf(),
    ]
}

fn two_maps(name: &str, args: &[DataType]) -> Result<Vec<DataType>> {
    match args {
        [a @ DataType::Map(..), b] if b == a || b == &DataType::Null => {
            Ok(vec![a.clone(), a.clone()])
        }
        [DataType::Null, b @ DataType::Map(..)] => Ok(vec![b.clone(), b.clone()]),
        _ => Err(bad_args(name, args)),
    }
}

fn map_fields(t: &DataType) -> Option<(Field, Field)> {
    match t {
        DataType::Map(f, _) => match f.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                Some((kv[0].as_ref().clone(), kv[1].as_ref().clone()))
            }
            _ => None,
        },
        _ => None,
    }
}

fn map_part_type<const PART: usize>(args: &[DataType]) -> Result<DataType> {
    let (k, v) = args
        .first()
        .and_then(map_fields)
        .ok_or_else(|| internal("map function without a map"))?;
    Ok(list_of(if PART == 0 { k } else { v }.data_type().clone()))
}

fn map_part(a: &[ArrayRef], rows: usize, part: usize) -> Result<ArrayRef> {
    let m = arg::<MapArray>(a, 0)?;
    let col = m.entries().column(part);
    let parts = (0..rows)
        .map(|i| {
            m.is_valid(i).then(|| {
                let (s, e) = (
                    m.value_offsets()[i] as usize,
                    m.value_offsets()[i + 1] as usize,
                );
                col.slice(s, e - s)
            })
        })
        .collect();
    list_from_parts(col.data_type(), parts)
}

fn map_keys(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    map_part(a, rows, 0)
}

fn map_values(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    map_part(a, rows, 1)
}

/// Builds a map array of type `ret` from per-row (keys, values) pairs.
fn map_from_parts(ret: &DataType, parts: Vec<Option<(ArrayRef, ArrayRef)>>) -> Result<ArrayRef> {
    let DataType::Map(entries_field, sorted) = ret else {
        return Err(internal("map result of a non-map type"));
    };
    let DataType::Struct(kv) = entries_field.data_type() else {
        return Err(internal("map entries are not a struct"));
    };
    let offsets =
        OffsetBuffer::from_lengths(parts.iter().map(|p| p.as_ref().map_or(0, |(k, _)| k.len())));
    let keys: Vec<&dyn Array> = parts.iter().flatten().map(|(k, _)| k.as_ref()).collect();
    let vals: Vec<&dyn Array> = parts.iter().flatten().map(|(_, v)| v.as_ref()).collect();
    let (keys, vals) = if keys.is_empty() {
        (
            new_empty_array(kv[0].data_type()),
            new_empty_array(kv[1].data_type()),
        )
    } else {
        (concat(&keys)?, concat(&vals)?)
    };
    let entries = StructArray::try_new(kv.clone(), vec![keys, vals], None)?;
    let nulls = NullBuffer::from(parts.iter().map(Option::is_some).collect::<Vec<bool>>());
    Ok(Arc::new(MapArray::try_new(
        Arc::clone(entries_field),
        offsets,
        entries,
        Some(nulls),
        *sorted,
    )?))
}

/// MAP_UNION(m1, m2): entries of both, m2's value winning for a shared key;
/// null only when both are null.
fn map_union(a: &[ArrayRef], ret: &DataType, rows: usize) -> Result<ArrayRef> {
    let (m1, m2) = (arg::<MapArray>(a, 0)?, arg::<MapArray>(a, 1)?);
    let (kf, _) = map_fields(ret).ok_or_else(|| internal("map_union type"))?;
    let conv = converter(kf.data_type())?;
    let mut parts = Vec::with_capacity(rows);
    for i in 0..rows {
        if !m1.is_valid(i) && !m2.is_valid(i) {
            parts.push(None);
            continue;
        }
        let pieces: Vec<StructArray> = [m1, m2]
            .iter()
            .filter(|m| m.is_valid(i))
            .map(|m| m.value(i))
            .collect();
        let refs: Vec<&dyn Array> = pieces.iter().map(|p| p as &dyn Array).collect();
        let all = concat(&refs)?;
        let all = all
            .as_any()
            .downcast_ref::<StructArray>()
            .ok_or_else(|| internal("map entries"))?;
        let keys = conv.convert_columns(&[Arc::clone(all.column(0))])?;
        let n = all.len();
        // Keep the last occurrence of each key, in first-seen key order.
        let mut order: Vec<Vec<u8>> = Vec::new();
        let mut last: HashMap<Vec<u8>, usize> = HashMap::new();
        for k in 0..n {
            let key = keys.row(k).as_ref().to_vec();
            if last.insert(key.clone(), k).is_none() {
                order.push(key);
            }
        }
        let idx = UInt32Array::from(
            order
                .iter()
                .filter_map(|k| last.get(k).map(|&x| x as u32))
                .collect::<Vec<_>>(),
        );
        parts.push(Some((
            take(all.column(0), &idx, None)?,
            take(all.column(1), &idx, None)?,
        )));
    }
    map_from_parts(ret, parts)
}

fn as_map_type(args: &[DataType]) -> Result<DataType> {
    let k = args
        .first()
        .and_then(elem_of)
        .ok_or_else(|| internal("as_map keys"))?;
    let v = args
        .get(1)
        .and_then(elem_of)
        .ok_or_else(|| internal("as_map values"))?;
    Ok(map_type(k, v))
}

/// AS_MAP(keys, values): pairs up to the shorter array; null keys skipped,
/// a later duplicate key wins.
fn as_map(a: &[ArrayRef], ret: &DataType, rows: usize) -> Result<ArrayRef> {
    let (ks, vs) = (list_arg(a, 0)?, list_arg(a, 1)?);
    let kt = list_elem(ks);
    let conv = converter(&kt)?;
    let mut parts = Vec::with_capacity(rows);
    for i in 0..rows {
        if !ks.is_valid(i) || !vs.is_valid(i) {
            parts.push(None);
            continue;
        }
        let (kv, vv) = (ks.value(i), vs.value(i));
        let n = kv.len().min(vv.len());
        let rows_k = conv.convert_columns(&[Arc::clone(&kv)])?;
        let mut order: Vec<Vec<u8>> = Vec::new();
        let mut last = HashMap::new();
        for k in (0..n).filter(|&k| kv.is_valid(k)) {
            let key = rows_k.row(k).as_ref().to_vec();
            if last.insert(key.clone(), k).is_none() {
                order.push(key);
            }
        }
        let idx = UInt32Array::from(
            order
                .iter()
                .filter_map(|k| last.get(k).map(|&x| x as u32))
                .collect::<Vec<_>>(),
        );
        parts.push(Some((take(&kv, &idx, None)?, take(&vv, &idx, None)?)));
    }
    map_from_parts(ret, parts)
}

fn entries_type(args: &[DataType]) -> Result<DataType> {
    let (k, v) = args
        .first()
        .and_then(map_fields)
        .ok_or_else(|| internal("entries without a map"))?;
    Ok(list_of(DataType::Struct(Fields::from(vec![
        Field::new("K", k.data_type().clone(), true),
        Field::new("V", v.data_type().clone(), true),
    ]))))
}

/// ENTRIES(map, sorted): the map as an array of STRUCT<K, V>, sorted by key
/// when asked.
fn entries(a: &[ArrayRef], ret: &DataType, rows: usize) -> Result<ArrayRef> {
    let m = arg::<MapArray>(a, 0)?;
    let sorted = arg::<BooleanArray>(a, 1)?;
    let elem = elem_of(ret).ok_or_else(|| internal("entries type"))?;
    let DataType::Struct(fields) = &elem else {
        return Err(internal("entries element type"));
    };
    let mut parts = Vec::with_capacity(rows);
    for i in 0..rows {
        if !m.is_valid(i) {
            parts.push(None);
            continue;
        }
        let e = m.value(i);
        let (mut k, mut v) = (Arc::clone(e.column(0)), Arc::clone(e.column(1)));
        if get(sorted, i) == Some(true) {
            let idx = sort_to_indices(&k, None, None)?;
            k = take(&k, &idx, None)?;
            v = take(&v, &idx, None)?;
        }
        parts.push(Some(
            Arc::new(StructArray::try_new(fields.clone(), vec![k, v], None)?) as ArrayRef,
        ));
    }
    list_from_parts(&elem, parts)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::check;

    #[tokio::test]
    async fn maps() {
        let m = "map(make_array('b', 'a'), make_array(2, 1))";
        check(&format!("map_keys({m})"), "[b, a]").await;
        check(&format!("map_values({m})"), "[2, 1]").await;
        check(
            &format!("map_union({m}, map(make_array('a', 'c'), make_array(9, 3)))"),
            "{b: 2, a: 9, c: 3}",
        )
        .await;
        check(
            "as_map(make_array('k1', 'k2'), make_array(10, 20))",
            "{k1: 10, k2: 20}",
        )
        .await;
        check(
            &format!("entries({m}, true)"),
            "[{K: a, V: 1}, {K: b, V: 2}]",
        )
        .await;
    }
}
