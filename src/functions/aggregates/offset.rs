//! LATEST_BY_OFFSET and EARLIEST_BY_OFFSET: the last (first) value by
//! arrival order, or the last (first) `n` as an ARRAY, oldest first.
//!
//! `f(col)`, `f(col, ignoreNulls)`, `f(col, n)`, `f(col, n, ignoreNulls)`;
//! `n` and `ignoreNulls` are literals, ignoreNulls defaults to true. Rows
//! reach an accumulator in offset order, so arrival order is offset order.
//! Each accepted value is stamped with a process-wide sequence number, as
//! ksqlDB does, so that merged states (session windows) still know which
//! value came last; the sequence starts from the wall clock in microseconds
//! and is raised past every merged stamp, so it keeps growing across
//! restarts. Neither function can undo.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{exec_datafusion_err, internal_datafusion_err, Result, ScalarValue};
use datafusion::logical_expr::Accumulator;

use super::udaf::{
    input, list_of_scalars, list_type, owned_scalar, scalars_size, state_column, Call, Spec,
};
use crate::functions::udf::{bad_args, normalize};

pub(super) fn specs() -> Vec<Spec> {
    vec![
        Spec::new("latest_by_offset", coerce, ret, state, make_latest),
        Spec::new("earliest_by_offset", coerce, ret, state, make_earliest),
    ]
}

fn is_integer(t: &DataType) -> bool {
    t.is_integer()
}

fn coerce(name: &str, args: &[DataType]) -> Result<Vec<DataType>> {
    let ok = match args {
        [_] => true,
        [_, p] => p == &DataType::Boolean || is_integer(p),
        [_, n, b] => is_integer(n) && b == &DataType::Boolean,
        _ => false,
    };
    if !ok {
        return Err(bad_args(name, args));
    }
    let mut out = args.to_vec();
    if let Some(first) = out.first_mut() {
        *first = normalize(first);
    }
    Ok(out)
}

fn ret(args: &[DataType]) -> Result<DataType> {
    let first = args
        .first()
        .ok_or_else(|| internal_datafusion_err!("by-offset aggregate without an argument"))?;
    if args.get(1).is_some_and(is_integer) {
        Ok(list_type(first))
    } else {
        Ok(first.clone())
    }
}

fn state(args: &[DataType], ret: &DataType) -> Result<Vec<(&'static str, DataType)>> {
    if matches!(ret, DataType::List(_)) && args.get(1).is_some_and(is_integer) {
        Ok(vec![
            ("seqs", list_type(&DataType::Int64)),
            ("values", ret.clone()),
        ])
    } else {
        Ok(vec![("seq", DataType::Int64), ("value", ret.clone())])
    }
}

static NEXT_SEQUENCE: AtomicI64 = AtomicI64::new(0);
static SEQUENCE_START: OnceLock<()> = OnceLock::new();

/// Reserves `n` consecutive sequence numbers; returns the first.
fn reserve(n: usize) -> i64 {
    SEQUENCE_START.get_or_init(|| {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 2))
            .unwrap_or(0);
        NEXT_SEQUENCE.fetch_max(micros, Ordering::Relaxed);
    });
    NEXT_SEQUENCE.fetch_add(n as i64, Ordering::Relaxed)
}

/// Later reservations come after `seq` (a merged, maybe restored, stamp).
fn observe(seq: i64) {
    NEXT_SEQUENCE.fetch_max(seq.saturating_add(1), Ordering::Relaxed);
}

fn make_latest(call: &Call) -> Result<Box<dyn Accumulator>> {
    ByOffset::make(call, true)
}

fn make_earliest(call: &Call) -> Result<Box<dyn Accumulator>> {
    ByOffset::make(call, false)
}

#[derive(Debug)]
struct ByOffset {
    latest: bool,
    ignore_nulls: bool,
    /// `Some(n)`: keep `n` values and return an ARRAY.
    n: Option<usize>,
    element: DataType,
    /// The kept values with their sequence numbers, oldest first.
    entries: VecDeque<(i64, ScalarValue)>,
}

impl ByOffset {
    fn make(call: &Call, latest: bool) -> Result<Box<dyn Accumulator>> {
        let mut n = None;
        let mut ignore_nulls = true;
        for i in 1..call.types.len() {
            if call.arg_type(i)? == &DataType::Boolean {
                ignore_nulls = call.bool_literal(i)?;
            } else {
                let v = call.int_literal(i)?;
                if v < 1 {
                    let which = if latest { "latestN" } else { "earliestN" };
                    return Err(exec_datafusion_err!("{which} must be 1 or greater"));
                }
                n = Some(usize::try_from(v).unwrap_or(usize::MAX));
            }
        }
        Ok(Box::new(ByOffset {
            latest,
            ignore_nulls,
            n,
            element: call.arg_type(0)?.clone(),
            entries: VecDeque::new(),
        }))
    }

    fn capacity(&self) -> usize {
        self.n.unwrap_or(1)
    }

    /// Keeps the newest (latest) or oldest (earliest) `capacity` entries;
    /// `entries` must be in sequence order.
    fn trim(&mut self) {
        let cap = self.capacity();
        while self.entries.len() > cap {
            if self.latest {
                self.entries.pop_front();
            } else {
                self.entries.pop_back();
            }
        }
    }
}

impl Accumulator for ByOffset {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let array = input(values, 0, &self.element)?;
        let accepted = |row: &usize| !(self.ignore_nulls && array.is_null(*row));
        let cap = self.capacity();
        let base = reserve(array.len());
        let rows: Vec<usize> = if self.latest {
            let mut last: Vec<usize> = (0..array.len()).rev().filter(accepted).take(cap).collect();
            last.reverse();
            last
        } else {
            let room = cap.saturating_sub(self.entries.len());
            (0..array.len()).filter(accepted).take(room).collect()
        };
        for row in rows {
            let value = owned_scalar(array.as_ref(), row)?;
            self.entries.push_back((base + row as i64, value));
        }
        self.trim();
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let seqs = state_column(states, 0)?;
        let vals = state_column(states, 1)?;
        let mut all: Vec<(i64, ScalarValue)> = self.entries.drain(..).collect();
        if self.n.is_some() {
            let seqs = seqs.as_list::<i32>();
            let vals = vals.as_list::<i32>();
            for row in 0..seqs.len() {
                if seqs.is_null(row) || vals.is_null(row) {
                    continue;
                }
                let s = seqs.value(row);
                let s = s.as_primitive::<Int64Type>();
                let v = input(&[vals.value(row)], 0, &self.element)?;
                for i in 0..s.len().min(v.len()) {
                    all.push((s.value(i), owned_scalar(v.as_ref(), i)?));
                }
            }
        } else {
            let s = seqs.as_primitive::<Int64Type>();
            let v = input(std::slice::from_ref(vals), 0, &self.element)?;
            for row in 0..s.len().min(v.len()) {
                if s.is_valid(row) {
                    all.push((s.value(row), owned_scalar(v.as_ref(), row)?));
                }
            }
        }
        all.sort_by_key(|(seq, _)| *seq);
        if let Some((seq, _)) = all.last() {
            observe(*seq);
        }
        self.entries = all.into();
        self.trim();
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        if self.n.is_some() {
            let seqs: Vec<ScalarValue> = self
                .entries
                .iter()
                .map(|(s, _)| ScalarValue::Int64(Some(*s)))
                .collect();
            let vals: Vec<ScalarValue> = self.entries.iter().map(|(_, v)| v.clone()).collect();
            Ok(vec![
                list_of_scalars(&seqs, &DataType::Int64)?,
                list_of_scalars(&vals, &self.element)?,
            ])
        } else {
            match self.entries.front() {
                Some((seq, v)) => Ok(vec![ScalarValue::Int64(Some(*seq)), v.clone()]),
                None => Ok(vec![
                    ScalarValue::Int64(None),
                    ScalarValue::try_from(&self.element)?,
                ]),
            }
        }
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.n.is_some() {
            let vals: Vec<ScalarValue> = self.entries.iter().map(|(_, v)| v.clone()).collect();
            list_of_scalars(&vals, &self.element)
        } else {
            match self.entries.front() {
                Some((_, v)) => Ok(v.clone()),
                None => ScalarValue::try_from(&self.element),
            }
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.entries.capacity() * std::mem::size_of::<(i64, ScalarValue)>()
            + scalars_size(self.entries.iter().map(|(_, v)| v))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use datafusion::common::ScalarValue;

    fn int(v: i64) -> ScalarValue {
        ScalarValue::Int64(Some(v))
    }

    fn run(
        name: &str,
        params: &[ScalarValue],
        batches: &[&[Option<i32>]],
    ) -> (Vec<String>, Box<dyn datafusion::logical_expr::Accumulator>) {
        let mut acc = accumulator_lit(name, &[int32s(&[])], params);
        let mut out = Vec::new();
        for b in batches {
            acc.update_batch(&[int32s(b)]).unwrap();
            out.push(show(&eval(&mut acc)));
        }
        (out, acc)
    }

    #[test]
    fn latest_single() {
        let rows: &[&[Option<i32>]] = &[&[Some(12)], &[None], &[Some(13)]];
        assert_eq!(run("latest_by_offset", &[], rows).0, ["12", "12", "13"]);
        let no_ignore = [ScalarValue::Boolean(Some(false))];
        assert_eq!(
            run("latest_by_offset", &no_ignore, rows).0,
            ["12", "NULL", "13"]
        );
        assert_eq!(
            run("latest_by_offset", &[], &[&[None], &[None]]).0,
            ["NULL", "NULL"]
        );
        let (_, acc) = run("latest_by_offset", &[], &[&[Some(1), Some(2), None]]);
        assert!(!acc.supports_retract_batch());
    }

    #[test]
    fn latest_n() {
        let rows: &[&[Option<i32>]] = &[&[Some(12)], &[None], &[Some(13)]];
        assert_eq!(
            run("latest_by_offset", &[int(2)], rows).0,
            ["[12]", "[12]", "[12, 13]"]
        );
        let p = [int(2), ScalarValue::Boolean(Some(false))];
        assert_eq!(
            run("latest_by_offset", &p, rows).0,
            ["[12]", "[12, ]", "[, 13]"]
        );
        assert_eq!(
            run("latest_by_offset", &[int(2)], &[&[None], &[None]]).0,
            ["[]", "[]"]
        );
        assert_eq!(
            run(
                "latest_by_offset",
                &[int(2)],
                &[&[Some(1), Some(2), Some(3)]]
            )
            .0,
            ["[2, 3]"]
        );
    }

    #[test]
    fn earliest() {
        let rows: &[&[Option<i32>]] = &[&[None], &[Some(13)]];
        assert_eq!(run("earliest_by_offset", &[], rows).0, ["NULL", "13"]);
        let no_ignore = [ScalarValue::Boolean(Some(false))];
        assert_eq!(
            run("earliest_by_offset", &no_ignore, rows).0,
            ["NULL", "NULL"]
        );
        assert_eq!(run("earliest_by_offset", &[int(2)], rows).0, ["[]", "[13]"]);
        let p = [int(2), ScalarValue::Boolean(Some(false))];
        assert_eq!(run("earliest_by_offset", &p, rows).0, ["[]", "[, 13]"]);
        let rows: &[&[Option<i32>]] = &[&[Some(12)], &[None], &[Some(13), Some(14)]];
        assert_eq!(
            run("earliest_by_offset", &[int(2)], rows).0,
            ["[12]", "[12]", "[12, 13]"]
        );
        assert_eq!(
            run("earliest_by_offset", &[], &[&[Some(12), None, Some(13)]]).0,
            ["12"]
        );
    }

    #[test]
    fn merging_sessions_keeps_offset_order() {
        // Sessions see 1, then 3, then 2 bridges them: latest is 2, earliest 1.
        let (_, mut first) = run("latest_by_offset", &[], &[&[Some(1)]]);
        let (_, mut second) = run("latest_by_offset", &[], &[&[Some(3)]]);
        let (_, mut bridge) = run("latest_by_offset", &[], &[&[Some(2)]]);
        merged(&mut bridge, &mut first);
        assert_eq!(show(&merged(&mut bridge, &mut second)), "2");

        let (_, mut first) = run("earliest_by_offset", &[], &[&[Some(1)]]);
        let (_, mut second) = run("earliest_by_offset", &[], &[&[Some(3)]]);
        let (_, mut bridge) = run("earliest_by_offset", &[], &[&[Some(2)]]);
        merged(&mut bridge, &mut second);
        assert_eq!(show(&merged(&mut bridge, &mut first)), "1");

        // Nulls ignored: a session of only nulls loses to one with a value.
        let (_, mut with_value) = run("latest_by_offset", &[], &[&[Some(1)]]);
        let (_, mut only_null) = run("latest_by_offset", &[], &[&[None]]);
        assert_eq!(show(&merged(&mut only_null, &mut with_value)), "1");

        // Nulls kept, n = 2: 1, null, 2 in three sessions.
        let p = [int(2), ScalarValue::Boolean(Some(false))];
        let (_, mut a) = run("latest_by_offset", &p, &[&[Some(1)]]);
        let (_, mut b) = run("latest_by_offset", &p, &[&[None]]);
        let (_, mut c) = run("latest_by_offset", &p, &[&[Some(2)]]);
        merged(&mut c, &mut a);
        assert_eq!(show(&merged(&mut c, &mut b)), "[, 2]");
    }

    #[test]
    fn any_type() {
        let mut acc = accumulator_lit("latest_by_offset", &[bools(&[])], &[int(2)]);
        acc.update_batch(&[bools(&[Some(true), None, Some(false)])])
            .unwrap();
        assert_eq!(show(&eval(&mut acc)), "[true, false]");
        let mut acc = accumulator("earliest_by_offset", &[strings(&[])]);
        acc.update_batch(&[strings(&[None, Some("foo"), Some("bar")])])
            .unwrap();
        assert_eq!(show(&eval(&mut acc)), "foo");
    }

    #[test]
    fn bad_parameters() {
        let udafs = super::super::aggregate_udfs_with(&Default::default());
        let latest = udafs
            .iter()
            .find(|u| u.name() == "latest_by_offset")
            .unwrap();
        use arrow::datatypes::DataType;
        assert!(latest
            .return_type(&[DataType::Int32, DataType::Utf8])
            .is_err());
        assert_eq!(
            latest
                .return_type(&[DataType::Int32, DataType::Int64, DataType::Boolean])
                .unwrap(),
            super::list_type(&DataType::Int32)
        );
    }
}
