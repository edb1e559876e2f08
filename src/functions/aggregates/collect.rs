//! COLLECT_LIST, COLLECT_SET and HISTOGRAM.
//!
//! - `COLLECT_LIST(col)`: every value, nulls included, in arrival order, up
//!   to `ksql.functions.collect_list.limit` values (later ones are ignored).
//!   Undo removes the last equal value, as ksqlDB does.
//! - `COLLECT_SET(col)`: the distinct values (null is one), in order of first
//!   arrival, up to `ksql.functions.collect_set.limit`. Cannot undo.
//! - `HISTOGRAM(string)`: MAP<STRING, BIGINT> of how often each non-null
//!   string occurs, at most 1000 entries (new strings beyond are ignored).
//!   Undo decrements, dropping entries that reach 0.
//!
//! Values are kept as Arrow arrays appended batch by batch (one `slice` or
//! `take` per batch); values compare by [`key::encode`]'s canonical bytes,
//! so MAPs with the same entries in another order are equal.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, MapArray, StringArray, StructArray,
    UInt32Array,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Fields, Int64Type};
use datafusion::common::{internal_datafusion_err, Result, ScalarValue};
use datafusion::logical_expr::Accumulator;

use super::key;
use super::udaf::{input, list_scalar, list_type, state_column, Call, Spec};
use crate::functions::udf::{bad_args, normalize};
use crate::types::map_type;

/// HISTOGRAM keeps at most this many distinct strings, as ksqlDB.
const HISTOGRAM_LIMIT: usize = 1000;

pub(super) fn specs() -> Vec<Spec> {
    vec![
        Spec::new(
            "collect_list",
            coerce_any,
            list_of,
            list_state,
            Collect::make_list,
        )
        .table(),
        Spec::new(
            "collect_set",
            coerce_any,
            list_of,
            list_state,
            Collect::make_set,
        ),
        Spec::new(
            "histogram",
            coerce_string,
            histogram_type,
            histogram_state,
            Histogram::make,
        )
        .table(),
    ]
}

fn coerce_any(name: &str, args: &[DataType]) -> Result<Vec<DataType>> {
    match args {
        [t] => Ok(vec![normalize(t)]),
        _ => Err(bad_args(name, args)),
    }
}

fn coerce_string(name: &str, args: &[DataType]) -> Result<Vec<DataType>> {
    match args {
        [t] if matches!(normalize(t), DataType::Utf8 | DataType::Null) => Ok(vec![DataType::Utf8]),
        _ => Err(bad_args(name, args)),
    }
}

fn list_of(args: &[DataType]) -> Result<DataType> {
    args.first()
        .map(list_type)
        .ok_or_else(|| internal_datafusion_err!("COLLECT without an argument"))
}

fn list_state(_: &[DataType], ret: &DataType) -> Result<Vec<(&'static str, DataType)>> {
    Ok(vec![("values", ret.clone())])
}

fn histogram_type(_: &[DataType]) -> Result<DataType> {
    Ok(map_type(DataType::Utf8, DataType::Int64))
}

fn histogram_state(_: &[DataType], ret: &DataType) -> Result<Vec<(&'static str, DataType)>> {
    Ok(vec![("counts", ret.clone())])
}

/// COLLECT_LIST and COLLECT_SET.
#[derive(Debug)]
struct Collect {
    element: DataType,
    limit: usize,
    /// COLLECT_SET: the canonical bytes of the values kept.
    seen: Option<HashSet<Vec<u8>>>,
    /// The values, in chunks appended per batch.
    chunks: Vec<ArrayRef>,
    len: usize,
}

impl Collect {
    fn make_list(call: &Call) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Collect::new(
            call,
            call.config.collect_list_limit,
            false,
        )?))
    }

    fn make_set(call: &Call) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Collect::new(
            call,
            call.config.collect_set_limit,
            true,
        )?))
    }

    fn new(call: &Call, limit: usize, set: bool) -> Result<Collect> {
        Ok(Collect {
            element: call.arg_type(0)?.clone(),
            limit,
            seen: set.then(HashSet::new),
            chunks: Vec::new(),
            len: 0,
        })
    }

    /// Appends the values of `array` (of the element type) within the limit.
    fn append(&mut self, array: &ArrayRef) -> Result<()> {
        let room = self.limit.saturating_sub(self.len);
        if room == 0 || array.is_empty() {
            return Ok(());
        }
        let rows: Vec<u32> = match &mut self.seen {
            None => (0..room.min(array.len()) as u32).collect(),
            Some(seen) => {
                let mut rows: Vec<u32> = Vec::new();
                for row in 0..array.len() {
                    if rows.len() == room {
                        break;
                    }
                    if seen.insert(key::key(array.as_ref(), row)?) {
                        rows.push(row as u32);
                    }
                }
                rows
            }
        };
        // `take` copies: a slice would keep the whole input batch alive.
        let chunk = arrow::compute::take(array.as_ref(), &UInt32Array::from(rows), None)?;
        if !chunk.is_empty() {
            self.len += chunk.len();
            self.chunks.push(chunk);
        }
        Ok(())
    }

    /// All values as one array (the chunks are concatenated once).
    fn values(&mut self) -> Result<ArrayRef> {
        if self.chunks.len() > 1 {
            let parts: Vec<&dyn Array> = self.chunks.iter().map(|c| c.as_ref()).collect();
            let all = arrow::compute::concat(&parts)?;
            self.chunks = vec![all];
        }
        match self.chunks.first() {
            Some(all) => Ok(Arc::clone(all)),
            None => Ok(arrow::array::new_empty_array(&self.element)),
        }
    }
}

impl Accumulator for Collect {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let array = input(values, 0, &self.element)?;
        self.append(&array)
    }

    /// COLLECT_LIST's undo: removes the last value equal to each retracted
    /// one (a value never kept, being past the limit, removes nothing).
    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let retracted = input(values, 0, &self.element)?;
        if retracted.is_empty() || self.len == 0 {
            return Ok(());
        }
        let all = self.values()?;
        let keys: Vec<Vec<u8>> = (0..all.len())
            .map(|i| key::key(all.as_ref(), i))
            .collect::<Result<_>>()?;
        let mut keep = vec![true; all.len()];
        for row in 0..retracted.len() {
            let k = key::key(retracted.as_ref(), row)?;
            if let Some(i) = (0..keys.len()).rev().find(|&i| keep[i] && keys[i] == k) {
                keep[i] = false;
            }
        }
        let mask = BooleanArray::from(keep);
        let rest = arrow::compute::filter(all.as_ref(), &mask)?;
        self.len = rest.len();
        self.chunks = vec![rest];
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        self.seen.is_none()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists = state_column(states, 0)?.as_list::<i32>();
        for row in 0..lists.len() {
            if lists.is_valid(row) {
                let values = input(&[lists.value(row)], 0, &self.element)?;
                self.append(&values)?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(list_scalar(self.values()?))
    }

    fn size(&self) -> usize {
        let seen = self.seen.as_ref().map_or(0, |s| {
            s.capacity() * std::mem::size_of::<Vec<u8>>()
                + s.iter().map(Vec::capacity).sum::<usize>()
        });
        std::mem::size_of_val(self)
            + self
                .chunks
                .iter()
                .map(|c| c.get_array_memory_size())
                .sum::<usize>()
            + seen
    }
}

/// HISTOGRAM: counts per string, in order of first arrival.
#[derive(Debug, Default)]
struct Histogram {
    order: Vec<String>,
    counts: HashMap<String, i64>,
}

impl Histogram {
    fn make(_: &Call) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Histogram::default()))
    }

    fn add(&mut self, value: &str, n: i64) {
        if let Some(c) = self.counts.get_mut(value) {
            *c += n;
        } else if self.counts.len() < HISTOGRAM_LIMIT {
            self.counts.insert(value.to_string(), n);
            self.order.push(value.to_string());
        }
    }

    fn remove(&mut self, value: &str) {
        let Some(c) = self.counts.get_mut(value) else {
            return;
        };
        *c -= 1;
        if *c < 1 {
            self.counts.remove(value);
            self.order.retain(|v| v != value);
        }
    }
}

impl Accumulator for Histogram {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let array = input(values, 0, &DataType::Utf8)?;
        for v in array.as_string::<i32>().iter().flatten() {
            self.add(v, 1);
        }
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let array = input(values, 0, &DataType::Utf8)?;
        for v in array.as_string::<i32>().iter().flatten() {
            self.remove(v);
        }
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let maps = state_column(states, 0)?.as_map();
        for row in 0..maps.len() {
            if maps.is_null(row) {
                continue;
            }
            let entries = maps.value(row);
            let keys = input(&[Arc::clone(entries.column(0))], 0, &DataType::Utf8)?;
            let keys = keys.as_string::<i32>();
            let counts = input(&[Arc::clone(entries.column(1))], 0, &DataType::Int64)?;
            let counts = counts.as_primitive::<Int64Type>();
            for i in 0..keys.len() {
                if keys.is_valid(i) && counts.is_valid(i) {
                    self.add(keys.value(i), counts.value(i));
                }
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let keys = StringArray::from_iter_values(self.order.iter());
        let counts: Int64Array = self
            .order
            .iter()
            .map(|k| self.counts.get(k).copied())
            .collect();
        let DataType::Map(entries_field, sorted) = map_type(DataType::Utf8, DataType::Int64) else {
            return Err(internal_datafusion_err!("map_type is not a MAP"));
        };
        let DataType::Struct(fields) = entries_field.data_type() else {
            return Err(internal_datafusion_err!("MAP entries are not a STRUCT"));
        };
        let entries = StructArray::try_new(
            Fields::clone(fields),
            vec![Arc::new(keys), Arc::new(counts)],
            None,
        )?;
        let offsets = OffsetBuffer::from_lengths([self.order.len()]);
        let map = MapArray::try_new(entries_field, offsets, entries, None, sorted)?;
        Ok(ScalarValue::Map(Arc::new(map)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.order.iter().map(|s| 2 * s.capacity()).sum::<usize>()
            + self.counts.capacity() * std::mem::size_of::<(String, i64)>()
            + self.order.capacity() * std::mem::size_of::<String>()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::AggregateConfig;
    use arrow::array::{Array, ArrayRef, Int32Array, MapArray, StringArray, StructArray};
    use arrow::buffer::OffsetBuffer;
    use arrow::datatypes::{DataType, Field, Fields};
    use datafusion::common::ScalarValue;
    use std::sync::Arc;

    #[test]
    fn collect_list_keeps_nulls_and_undoes() {
        let mut acc = accumulator("collect_list", &[strings(&[])]);
        assert_eq!(show(&eval(&mut acc)), "[]");
        acc.update_batch(&[strings(&[Some("baz"), Some("baz")])])
            .unwrap();
        acc.update_batch(&[strings(&[Some("foo"), None])]).unwrap();
        assert_eq!(show(&eval(&mut acc)), "[baz, baz, foo, ]");
        assert!(acc.supports_retract_batch());
        acc.retract_batch(&[strings(&[Some("baz"), Some("nope")])])
            .unwrap();
        assert_eq!(show(&eval(&mut acc)), "[baz, foo, ]");
        acc.update_batch(&[strings(&[Some("x")])]).unwrap();
        assert_eq!(show(&eval(&mut acc)), "[baz, foo, , x]");
        let mut other = accumulator("collect_list", &[strings(&[])]);
        other.update_batch(&[strings(&[Some("y")])]).unwrap();
        assert_eq!(show(&merged(&mut acc, &mut other)), "[baz, foo, , x, y]");
    }

    #[test]
    fn limits() {
        let config = AggregateConfig {
            collect_list_limit: 1,
            collect_set_limit: 2,
        };
        let mut list = accumulator_with("collect_list", &[int32s(&[])], &[], &config);
        list.update_batch(&[int32s(&[Some(0), Some(100)])]).unwrap();
        list.update_batch(&[int32s(&[Some(5)])]).unwrap();
        assert_eq!(show(&eval(&mut list)), "[0]");
        let mut set = accumulator_with("collect_set", &[int32s(&[])], &[], &config);
        set.update_batch(&[int32s(&[Some(1), Some(1), Some(2), Some(3)])])
            .unwrap();
        assert_eq!(show(&eval(&mut set)), "[1, 2]");
    }

    #[test]
    fn collect_set_dedupes_any_type() {
        let mut acc = accumulator("collect_set", &[strings(&[])]);
        acc.update_batch(&[strings(&[Some("baz"), Some("foo"), Some("baz")])])
            .unwrap();
        acc.update_batch(&[strings(&[None, Some("foo"), None])])
            .unwrap();
        assert_eq!(show(&eval(&mut acc)), "[baz, foo, ]");
        assert!(!acc.supports_retract_batch());
        let mut other = accumulator("collect_set", &[strings(&[])]);
        other
            .update_batch(&[strings(&[Some("foo"), Some("bar")])])
            .unwrap();
        assert_eq!(show(&merged(&mut acc, &mut other)), "[baz, foo, , bar]");

        // Maps with the same entries in another order are one value.
        let fields = Fields::from(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Int32, true),
        ]);
        let keys: ArrayRef = Arc::new(StringArray::from(vec!["r0", "r2", "r2", "r0"]));
        let vals: ArrayRef = Arc::new(Int32Array::from(vec![100, 2, 2, 100]));
        let maps: ArrayRef = Arc::new(MapArray::new(
            Arc::new(Field::new(
                "entries",
                DataType::Struct(fields.clone()),
                false,
            )),
            OffsetBuffer::from_lengths([2, 2]),
            StructArray::new(fields, vec![keys, vals], None),
            None,
            false,
        ));
        let mut acc = accumulator("collect_set", &[Arc::clone(&maps)]);
        acc.update_batch(&[maps]).unwrap();
        let ScalarValue::List(list) = eval(&mut acc) else {
            panic!("not a list")
        };
        assert_eq!(list.value(0).len(), 1);
    }

    #[test]
    fn histogram_counts_and_undoes() {
        let mut acc = accumulator("histogram", &[strings(&[])]);
        acc.update_batch(&[strings(&[Some("alice"), Some("bob"), None])])
            .unwrap();
        assert_eq!(show(&eval(&mut acc)), "{alice: 1, bob: 1}");
        acc.update_batch(&[strings(&[Some("bob")])]).unwrap();
        assert_eq!(show(&eval(&mut acc)), "{alice: 1, bob: 2}");
        acc.retract_batch(&[strings(&[Some("alice"), Some("bob")])])
            .unwrap();
        assert_eq!(show(&eval(&mut acc)), "{bob: 1}");
        let mut other = accumulator("histogram", &[strings(&[])]);
        other
            .update_batch(&[strings(&[Some("bob"), Some("carol")])])
            .unwrap();
        assert_eq!(show(&merged(&mut acc, &mut other)), "{bob: 2, carol: 1}");

        let mut many = accumulator("histogram", &[strings(&[])]);
        let names: Vec<String> = (0..1005).map(|i| format!("n{i}")).collect();
        let names: Vec<Option<&str>> = names.iter().map(|s| Some(s.as_str())).collect();
        many.update_batch(&[strings(&names)]).unwrap();
        let ScalarValue::Map(map) = eval(&mut many) else {
            panic!("not a map")
        };
        assert_eq!(map.value(0).len(), 1000);
    }
}
