//! Per-group aggregate states: DataFusion accumulators, one per group, or
//! columnar counters and sums where the planner allows them. Each can hand
//! out its intermediate state for the changelog and take it back.

use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, Int64Array, PrimitiveArray, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::{ArrowPrimitiveType, DataType, Float64Type, Int32Type, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Accumulator;

use super::{AccumulatorFactory, AggregateCall, Columnar};
use crate::error::{Error, Result};

/// The per-group states of one aggregate.
pub trait GroupAggregator: Send {
    /// Adds (or retracts) rows: `(slot, row)` pairs, rows in input order.
    fn update(&mut self, args: &[ArrayRef], rows: &[(u32, u32)], retract: bool) -> Result<()>;
    /// The current values of `slots`, without resetting them.
    fn evaluate(&mut self, slots: &[u32]) -> Result<ArrayRef>;
    /// Drops the state of a freed slot.
    fn reset(&mut self, slot: u32);
    /// Merges the state of `from` into `into` (sessions merging).
    fn merge(&mut self, into: u32, from: u32) -> Result<()>;
    /// The intermediate states of `slots`, one array per state field, for
    /// the changelog.
    fn state(&mut self, slots: &[u32]) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.evaluate(slots)?])
    }
    /// The types of the state fields [`GroupAggregator::state`] returns.
    fn state_types(&self) -> Result<Vec<DataType>>;
    /// Sets the state of each of `slots` from row `i` of the state
    /// fields, as [`GroupAggregator::state`] gave them.
    fn restore(&mut self, slots: &[u32], states: &[ArrayRef]) -> Result<()>;
}

/// A [`GroupAggregator`] over DataFusion [`Accumulator`]s, one per group.
pub struct Accumulators {
    factory: AccumulatorFactory,
    data_type: DataType,
    states: Vec<Option<Box<dyn Accumulator>>>,
}

impl Accumulators {
    /// States created by `factory`, evaluating to `data_type`.
    pub fn new(factory: AccumulatorFactory, data_type: DataType) -> Self {
        Self {
            factory,
            data_type,
            states: Vec::new(),
        }
    }

    fn group(&mut self, slot: u32) -> Result<&mut Box<dyn Accumulator>> {
        let i = slot as usize;
        if self.states.len() <= i {
            self.states.resize_with(i + 1, || None);
        }
        let cell = &mut self.states[i];
        if cell.is_none() {
            *cell = Some((self.factory)()?);
        }
        cell.as_mut()
            .ok_or_else(|| Error::internal("aggregate state vanished"))
    }
}

impl GroupAggregator for Accumulators {
    fn update(&mut self, args: &[ArrayRef], rows: &[(u32, u32)], retract: bool) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        // One `take` per argument for the whole batch, rows sorted by slot
        // (stable, so each group sees its rows in input order); each group
        // then updates from a zero-copy slice.
        let mut sorted = rows.to_vec();
        sorted.sort_by_key(|&(slot, row)| (slot, row));
        let indices = UInt32Array::from_iter_values(sorted.iter().map(|&(_, row)| row));
        let taken: Vec<ArrayRef> = args
            .iter()
            .map(|a| take(a.as_ref(), &indices, None))
            .collect::<std::result::Result<_, _>>()?;
        let mut start = 0;
        while start < sorted.len() {
            let slot = sorted[start].0;
            let mut end = start + 1;
            while end < sorted.len() && sorted[end].0 == slot {
                end += 1;
            }
            let slice: Vec<ArrayRef> = taken.iter().map(|a| a.slice(start, end - start)).collect();
            let state = self.group(slot)?;
            if retract {
                state.retract_batch(&slice)?;
            } else {
                state.update_batch(&slice)?;
            }
            start = end;
        }
        Ok(())
    }

    fn evaluate(&mut self, slots: &[u32]) -> Result<ArrayRef> {
        let mut values = Vec::with_capacity(slots.len());
        for &slot in slots {
            values.push(self.group(slot)?.evaluate()?);
        }
        if values.is_empty() {
            return Ok(new_null_array(&self.data_type, 0));
        }
        let array = ScalarValue::iter_to_array(values)?;
        if array.data_type() != &self.data_type {
            return Ok(arrow::compute::cast(&array, &self.data_type)?);
        }
        Ok(array)
    }

    fn reset(&mut self, slot: u32) {
        if let Some(cell) = self.states.get_mut(slot as usize) {
            *cell = None;
        }
    }

    fn state(&mut self, slots: &[u32]) -> Result<Vec<ArrayRef>> {
        let mut rows: Vec<Vec<ScalarValue>> = Vec::with_capacity(slots.len());
        for &slot in slots {
            rows.push(self.group(slot)?.state()?);
        }
        let fields = rows.first().map(Vec::len).unwrap_or(0);
        let mut columns = Vec::with_capacity(fields);
        for f in 0..fields {
            columns.push(ScalarValue::iter_to_array(
                rows.iter().map(|r| r[f].clone()),
            )?);
        }
        Ok(columns)
    }

    fn state_types(&self) -> Result<Vec<DataType>> {
        // An empty accumulator's state has the types of every state.
        Ok((self.factory)()?
            .state()?
            .iter()
            .map(ScalarValue::data_type)
            .collect())
    }

    fn restore(&mut self, slots: &[u32], states: &[ArrayRef]) -> Result<()> {
        for (i, &slot) in slots.iter().enumerate() {
            let row: Vec<ArrayRef> = states.iter().map(|a| a.slice(i, 1)).collect();
            let i = slot as usize;
            if self.states.len() <= i {
                self.states.resize_with(i + 1, || None);
            }
            let mut acc = (self.factory)()?;
            acc.merge_batch(&row)?;
            self.states[i] = Some(acc);
        }
        Ok(())
    }

    fn merge(&mut self, into: u32, from: u32) -> Result<()> {
        let states = self.group(from)?.state()?;
        let arrays: Vec<ArrayRef> = states
            .into_iter()
            .map(|s| s.to_array())
            .collect::<datafusion::error::Result<_>>()?;
        self.group(into)?.merge_batch(&arrays)?;
        Ok(())
    }
}

/// COUNT as one counter per group: no per-group object, updated in place.
struct CountGroups {
    counts: Vec<i64>,
}

impl GroupAggregator for CountGroups {
    fn update(&mut self, args: &[ArrayRef], rows: &[(u32, u32)], retract: bool) -> Result<()> {
        let nulls = args.first().and_then(|a| a.logical_nulls());
        let step = if retract { -1 } else { 1 };
        for &(slot, row) in rows {
            if nulls.as_ref().is_none_or(|n| n.is_valid(row as usize)) {
                let i = slot as usize;
                if self.counts.len() <= i {
                    self.counts.resize(i + 1, 0);
                }
                self.counts[i] += step;
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, slots: &[u32]) -> Result<ArrayRef> {
        Ok(Arc::new(Int64Array::from_iter_values(slots.iter().map(
            |&s| self.counts.get(s as usize).copied().unwrap_or(0),
        ))))
    }

    fn reset(&mut self, slot: u32) {
        if let Some(c) = self.counts.get_mut(slot as usize) {
            *c = 0;
        }
    }

    fn state_types(&self) -> Result<Vec<DataType>> {
        Ok(vec![DataType::Int64])
    }

    fn restore(&mut self, slots: &[u32], states: &[ArrayRef]) -> Result<()> {
        let values = states
            .first()
            .and_then(|a| a.as_any().downcast_ref::<Int64Array>())
            .ok_or_else(|| Error::internal("COUNT state is not BIGINT"))?;
        for (row, &slot) in slots.iter().enumerate() {
            let i = slot as usize;
            if self.counts.len() <= i {
                self.counts.resize(i + 1, 0);
            }
            self.counts[i] = values.value(row);
        }
        Ok(())
    }

    fn merge(&mut self, into: u32, from: u32) -> Result<()> {
        let moved = self.counts.get(from as usize).copied().unwrap_or(0);
        let i = into as usize;
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += moved;
        Ok(())
    }
}

/// SUM of INT, BIGINT or DOUBLE as one running total per group, as
/// ksqlDB's: integers wrap as Java's do, nulls are skipped, an empty sum
/// is 0.
struct SumGroups<T: ArrowPrimitiveType> {
    sums: Vec<T::Native>,
    add: fn(T::Native, T::Native) -> T::Native,
    sub: fn(T::Native, T::Native) -> T::Native,
}

impl<T: ArrowPrimitiveType> SumGroups<T> {
    fn slot(&mut self, slot: u32) -> &mut T::Native {
        let i = slot as usize;
        if self.sums.len() <= i {
            self.sums.resize(i + 1, T::Native::default());
        }
        &mut self.sums[i]
    }
}

impl<T: ArrowPrimitiveType> GroupAggregator for SumGroups<T> {
    fn update(&mut self, args: &[ArrayRef], rows: &[(u32, u32)], retract: bool) -> Result<()> {
        let Some(values) = args
            .first()
            .and_then(|a| a.as_any().downcast_ref::<PrimitiveArray<T>>())
        else {
            return Err(Error::internal("SUM argument has an unexpected type"));
        };
        let op = if retract { self.sub } else { self.add };
        for &(slot, row) in rows {
            let row = row as usize;
            if values.is_valid(row) {
                let v = values.value(row);
                let total = self.slot(slot);
                *total = op(*total, v);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, slots: &[u32]) -> Result<ArrayRef> {
        Ok(Arc::new(PrimitiveArray::<T>::from_iter_values(
            slots
                .iter()
                .map(|&s| self.sums.get(s as usize).copied().unwrap_or_default()),
        )))
    }

    fn reset(&mut self, slot: u32) {
        if let Some(v) = self.sums.get_mut(slot as usize) {
            *v = T::Native::default();
        }
    }

    fn state_types(&self) -> Result<Vec<DataType>> {
        Ok(vec![T::DATA_TYPE])
    }

    fn restore(&mut self, slots: &[u32], states: &[ArrayRef]) -> Result<()> {
        let values = states
            .first()
            .and_then(|a| a.as_any().downcast_ref::<PrimitiveArray<T>>())
            .ok_or_else(|| Error::internal("SUM state has an unexpected type"))?;
        for (row, &slot) in slots.iter().enumerate() {
            *self.slot(slot) = values.value(row);
        }
        Ok(())
    }

    fn merge(&mut self, into: u32, from: u32) -> Result<()> {
        let moved = self.sums.get(from as usize).copied().unwrap_or_default();
        let add = self.add;
        let total = self.slot(into);
        *total = add(*total, moved);
        Ok(())
    }
}

/// The per-group state of a call: columnar when the planner allows it,
/// otherwise through its DataFusion accumulator.
pub(super) fn group_aggregator(call: &AggregateCall) -> Box<dyn GroupAggregator> {
    match (call.columnar, &call.data_type) {
        (Some(Columnar::Count), DataType::Int64) if call.args.len() == 1 => {
            Box::new(CountGroups { counts: Vec::new() })
        }
        (Some(Columnar::Sum), DataType::Int32) => Box::new(SumGroups::<Int32Type> {
            sums: Vec::new(),
            add: i32::wrapping_add,
            sub: i32::wrapping_sub,
        }),
        (Some(Columnar::Sum), DataType::Int64) => Box::new(SumGroups::<Int64Type> {
            sums: Vec::new(),
            add: i64::wrapping_add,
            sub: i64::wrapping_sub,
        }),
        (Some(Columnar::Sum), DataType::Float64) => Box::new(SumGroups::<Float64Type> {
            sums: Vec::new(),
            add: |a, b| a + b,
            sub: |a, b| a - b,
        }),
        _ => Box::new(Accumulators::new(
            Arc::clone(&call.factory),
            call.data_type.clone(),
        )),
    }
}
