//! Streaming GROUP BY over a stream or a table, with or without a window.
//!
//! The input is the pre-aggregation row: the grouping key columns first,
//! then every aggregate's argument columns, the event time and the null-row
//! flag (and, over a table, the table's own key). Each group — a key, and a
//! window when windowed — owns a slot; each aggregate keeps one state per
//! slot ([`GroupAggregator`]). Updates are held until the task flushes the
//! pipeline — before each commit, or after every record when record caching
//! is off — and every group touched since is then emitted once (`EMIT
//! CHANGES`); with `EMIT FINAL`, each window is emitted once, when stream
//! time passes its end plus the grace period.
//!
//! Over a table the input is a changelog: a row replaces the previous row
//! of the same table key, so the previous row's contribution is retracted
//! before the new one is added, and a null row only retracts (ksqlDB's undo
//! semantics). Within one batch only the last row per table key counts, as
//! ksqlDB's record cache coalesces updates.
//!
//! Stream time moves only with data. A record whose window closed (window
//! end plus grace at or before stream time) is dropped, counted and logged;
//! a closed window's state is freed, so state grows with live keys and open
//! windows, never with the number of records.

mod changelog;
mod groups;

pub use groups::{Accumulators, GroupAggregator};

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ahash::RandomState;
use arrow::array::{new_null_array, Array, ArrayRef, BooleanArray, BooleanBuilder, Int64Array};
use arrow::compute::interleave;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::row::{OwnedRow, RowConverter, Rows, SortField};
use datafusion::logical_expr::Accumulator;

use super::{Operator, OperatorContext};
use crate::error::{Error, Result};
use crate::runtime::state::StateWriter;
use groups::group_aggregator;

/// Creates an aggregate's state for one group.
pub type AccumulatorFactory =
    Arc<dyn Fn() -> datafusion::error::Result<Box<dyn Accumulator>> + Send + Sync>;

/// How rows are assigned to windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Windowing {
    /// Fixed, non-overlapping windows.
    Tumbling {
        /// Window size, ms.
        size: i64,
    },
    /// Fixed windows starting every `advance` ms.
    Hopping {
        /// Window size, ms.
        size: i64,
        /// Advance, ms.
        advance: i64,
    },
    /// Windows of activity separated by at least `gap` ms.
    Session {
        /// Inactivity gap, ms.
        gap: i64,
    },
}

/// The window of a windowed aggregation.
#[derive(Debug, Clone, Copy)]
pub struct WindowConfig {
    /// The window shape.
    pub windowing: Windowing,
    /// Grace period, ms: how long after its end a window accepts records.
    pub grace: i64,
    /// `EMIT FINAL`: emit each window once, when it closes.
    pub emit_final: bool,
}

/// One aggregate call.
#[derive(Clone)]
pub struct AggregateCall {
    /// The function name, for EXPLAIN and errors.
    pub name: String,
    /// Input columns of its arguments.
    pub args: Vec<usize>,
    /// Its result type.
    pub data_type: DataType,
    /// Creates its per-group state.
    pub factory: AccumulatorFactory,
    /// Whether its state can be kept in columnar form instead of one
    /// accumulator per group (decided by the planner).
    pub columnar: Option<Columnar>,
}

/// Aggregates whose per-group state is one number, kept in a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Columnar {
    /// COUNT of the non-null values of its one argument.
    Count,
    /// SUM of INT, BIGINT or DOUBLE, in the input's type.
    Sum,
}

/// The shape of an aggregation's input and output.
#[derive(Clone)]
pub struct AggregateSpec {
    /// Input columns `0..key_columns` are the grouping key.
    pub key_columns: usize,
    /// The aggregates, in output order.
    pub calls: Vec<AggregateCall>,
    /// The input column with the event time (epoch ms).
    pub time_column: usize,
    /// The input column flagging null rows (deletes over a table).
    pub null_row_column: usize,
    /// Over a table: the input columns holding the table's key.
    pub table_key: Option<Vec<usize>>,
    /// The input column with the record's partition (INT), for stream time
    /// per partition; without it, one stream time for all.
    pub partition_column: Option<usize>,
    /// The window, if any.
    pub window: Option<WindowConfig>,
    /// The output: key columns, `WINDOWSTART`/`WINDOWEND` when windowed,
    /// the aggregates, the record time and the null-row flag.
    pub output_schema: SchemaRef,
}

/// A group: its key, window and latest record time.
struct Slot {
    key: OwnedRow,
    start: i64,
    end: i64,
    time: i64,
    live: bool,
    /// The input partition whose stream time closes it.
    partition: usize,
}

/// What one batch emits, in order.
enum Emission {
    /// The current value of a group.
    Value(u32),
    /// A deleted group (a session merged into another).
    Tombstone {
        key: OwnedRow,
        start: i64,
        end: i64,
        time: i64,
    },
}

/// The GROUP BY operator.
pub struct Aggregate {
    spec: AggregateSpec,
    aggregators: Vec<Box<dyn GroupAggregator>>,
    keys: RowConverter,
    /// Time windows and unwindowed groups: window start + key bytes → slot.
    groups: HashMap<Box<[u8]>, u32, RandomState>,
    /// Sessions: key bytes → the key's session slots.
    sessions: HashMap<Box<[u8]>, Vec<u32>, RandomState>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Open windows by end.
    open: Vec<BTreeSet<(i64, u32)>>,
    /// Stream time per input partition: as in Kafka Streams, each
    /// partition's windows close with its own stream time.
    stream_times: Vec<i64>,
    /// The partition of the row being assigned.
    current: usize,
    /// Over a table: the table key → the row it last contributed (in the
    /// row format of `contributed`).
    previous: HashMap<Box<[u8]>, Box<[u8]>, RandomState>,
    table_keys: Option<RowConverter>,
    contributed: Option<RowConverter>,
    late: Arc<AtomicU64>,
    /// Per slot: the batch generation that last queued it for emission.
    queued: Vec<u64>,
    generation: u64,
    scratch: Vec<u8>,
    /// Emissions held until the next flush.
    pending: Vec<Emission>,
    /// Slots to free at the next flush, after the emissions that use them.
    pending_free: Vec<u32>,
    /// Whether state changes are collected for a changelog topic.
    changelog: bool,
    /// Per slot: the checkpoint generation that last logged it as changed.
    logged: Vec<u64>,
    /// Incremented at each checkpoint.
    checkpoint_generation: u64,
    /// Slots changed since the last checkpoint.
    changed: Vec<u32>,
    /// Groups deleted since the last checkpoint: key, window start, end.
    deleted: Vec<(OwnedRow, i64, i64)>,
    /// Table keys whose contributed row changed since the last checkpoint.
    previous_changed: HashSet<Box<[u8]>, RandomState>,
    /// Whether a stream time moved since the last checkpoint.
    stream_time_changed: bool,
    /// The types of the aggregates' state fields, in order, and their row
    /// format for the changelog.
    state_types: Vec<DataType>,
    state_rows: Option<RowConverter>,
}

impl Aggregate {
    /// An aggregation with empty state. `late` counts records dropped
    /// because their window had closed.
    pub fn new(spec: AggregateSpec, late: Arc<AtomicU64>) -> Result<Self> {
        let input_fields = spec.output_schema.fields();
        let key_fields: Vec<SortField> = input_fields[..spec.key_columns]
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        let aggregators: Vec<Box<dyn GroupAggregator>> =
            spec.calls.iter().map(group_aggregator).collect();
        let mut state_types = Vec::new();
        for a in &aggregators {
            state_types.extend(a.state_types()?);
        }
        let state_rows = if state_types.is_empty() {
            None
        } else {
            Some(RowConverter::new(
                state_types
                    .iter()
                    .map(|t| SortField::new(t.clone()))
                    .collect(),
            )?)
        };
        Ok(Self {
            keys: RowConverter::new(key_fields)?,
            aggregators,
            groups: HashMap::default(),
            sessions: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            open: Vec::new(),
            stream_times: Vec::new(),
            current: 0,
            previous: HashMap::default(),
            table_keys: None,
            contributed: None,
            late,
            queued: Vec::new(),
            // Starts above the initial `queued`/`logged` marks (0).
            generation: 1,
            scratch: Vec::new(),
            pending: Vec::new(),
            pending_free: Vec::new(),
            changelog: false,
            logged: Vec::new(),
            checkpoint_generation: 1,
            changed: Vec::new(),
            deleted: Vec::new(),
            previous_changed: HashSet::default(),
            stream_time_changed: false,
            state_types,
            state_rows,
            spec,
        })
    }

    fn windowed(&self) -> bool {
        self.spec.window.is_some()
    }

    /// The open windows of a partition.
    fn open_in(&mut self, partition: usize) -> &mut BTreeSet<(i64, u32)> {
        if self.open.len() <= partition {
            self.open.resize_with(partition + 1, BTreeSet::new);
        }
        &mut self.open[partition]
    }

    /// Moves the current partition's stream time to `time`; returns it.
    fn advance(&mut self, time: i64) -> i64 {
        let p = self.current;
        if self.stream_times.len() <= p {
            self.stream_times.resize(p + 1, i64::MIN);
        }
        if time > self.stream_times[p] {
            self.stream_times[p] = time;
            self.stream_time_changed = true;
        }
        self.stream_times[p]
    }

    fn allocate(&mut self, key: OwnedRow, start: i64, end: i64) -> u32 {
        let slot = Slot {
            key,
            start,
            end,
            time: i64::MIN,
            live: true,
            partition: self.current,
        };
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                self.queued.push(0);
                self.logged.push(0);
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// The slot of a time window (or of an unwindowed group), created when
    /// new.
    fn slot_for(&mut self, key: &Rows, row: usize, start: i64, end: i64) -> u32 {
        self.scratch.clear();
        if self.windowed() {
            self.scratch.extend_from_slice(&start.to_be_bytes());
        }
        self.scratch.extend_from_slice(key.row(row).as_ref());
        if let Some(&slot) = self.groups.get(self.scratch.as_slice()) {
            return slot;
        }
        let map_key: Box<[u8]> = self.scratch.as_slice().into();
        let slot = self.allocate(key.row(row).owned(), start, end);
        self.groups.insert(map_key, slot);
        if self.windowed() {
            let p = self.current;
            self.open_in(p).insert((end, slot));
        }
        slot
    }

    fn queue(&mut self, slot: u32, out: &mut Vec<Emission>) {
        if self.queued[slot as usize] != self.generation {
            self.queued[slot as usize] = self.generation;
            out.push(Emission::Value(slot));
        }
    }

    /// Assigns each row of a stream to its groups: `(slot, row)` pairs.
    fn assign(
        &mut self,
        batch: &RecordBatch,
        keys: &Rows,
        emissions: &mut Vec<Emission>,
        pending_free: &mut Vec<u32>,
        ctx: &OperatorContext<'_>,
    ) -> Result<Vec<(u32, u32)>> {
        let times = time_column(batch, self.spec.time_column)?;
        let null_rows = flag_column(batch, self.spec.null_row_column)?;
        let partitions = self.spec.partition_column.and_then(|i| {
            batch
                .columns()
                .get(i)
                .and_then(|c| c.as_any().downcast_ref::<arrow::array::Int32Array>())
        });
        let key_cols = &batch.columns()[..self.spec.key_columns];
        let mut pairs = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            if null_rows.is_valid(row) && null_rows.value(row) {
                continue;
            }
            // ksqlDB skips rows whose grouping key is null.
            if key_cols.iter().any(|c| c.is_null(row)) {
                continue;
            }
            let time = if times.is_null(row) {
                0
            } else {
                times.value(row)
            };
            let Some(window) = self.spec.window else {
                let slot = self.slot_for(keys, row, 0, 0);
                self.touch(slot, time);
                pairs.push((slot, row as u32));
                self.queue(slot, emissions);
                continue;
            };
            self.current = partitions
                .map(|p| usize::try_from(p.value(row)).unwrap_or(0))
                .unwrap_or(0);
            let close = self.advance(time).saturating_sub(window.grace);
            match window.windowing {
                Windowing::Tumbling { size } => {
                    let start = time - time.rem_euclid(size);
                    self.add_to_window(keys, row, start, size, close, time, &mut pairs, ctx);
                    if !window.emit_final {
                        if let Some(&(slot, _)) = pairs.last().filter(|p| p.1 == row as u32) {
                            self.queue(slot, emissions);
                        }
                    }
                }
                Windowing::Hopping { size, advance } => {
                    let mut start = (time - size + advance).max(0) / advance * advance;
                    while start <= time {
                        let before = pairs.len();
                        self.add_to_window(keys, row, start, size, close, time, &mut pairs, ctx);
                        if !window.emit_final && pairs.len() > before {
                            let slot = pairs[pairs.len() - 1].0;
                            self.queue(slot, emissions);
                        }
                        start += advance;
                    }
                }
                Windowing::Session { gap } => {
                    let close = close.saturating_sub(gap);
                    self.add_to_session(
                        keys,
                        row,
                        time,
                        gap,
                        close,
                        window.emit_final,
                        &mut pairs,
                        emissions,
                        pending_free,
                        ctx,
                    )?;
                }
            }
        }
        Ok(pairs)
    }

    fn touch(&mut self, slot: u32, time: i64) {
        let s = &mut self.slots[slot as usize];
        s.time = s.time.max(time);
    }

    #[allow(clippy::too_many_arguments)]
    fn add_to_window(
        &mut self,
        keys: &Rows,
        row: usize,
        start: i64,
        size: i64,
        close: i64,
        time: i64,
        pairs: &mut Vec<(u32, u32)>,
        ctx: &OperatorContext<'_>,
    ) {
        let end = start + size;
        if end <= close {
            self.record_late(ctx, start, end);
            return;
        }
        let slot = self.slot_for(keys, row, start, end);
        self.touch(slot, time);
        pairs.push((slot, row as u32));
    }

    fn record_late(&self, ctx: &OperatorContext<'_>, start: i64, end: i64) {
        let n = self.late.fetch_add(1, Ordering::Relaxed) + 1;
        // Logged for the first and then every 1000th, so a flood of late
        // records cannot flood the log; the count is exact.
        if n == 1 || n.is_multiple_of(1000) {
            tracing::warn!(
                query = ctx.query_id,
                window_start = start,
                window_end = end,
                stream_time = self.stream_times.get(self.current).copied().unwrap_or(0),
                dropped = n,
                "record dropped: its window closed (window end + grace period <= stream time)"
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add_to_session(
        &mut self,
        keys: &Rows,
        row: usize,
        time: i64,
        gap: i64,
        close: i64,
        emit_final: bool,
        pairs: &mut Vec<(u32, u32)>,
        emissions: &mut Vec<Emission>,
        pending_free: &mut Vec<u32>,
        ctx: &OperatorContext<'_>,
    ) -> Result<()> {
        let key = keys.row(row);
        let existing: Vec<u32> = self
            .sessions
            .get(key.as_ref())
            .map(|slots| {
                slots
                    .iter()
                    .copied()
                    .filter(|&s| {
                        let w = &self.slots[s as usize];
                        w.end >= time - gap && w.start <= time + gap
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (mut start, mut end) = (time, time);
        for &s in &existing {
            let w = &self.slots[s as usize];
            start = start.min(w.start);
            end = end.max(w.end);
        }
        if end < close {
            self.record_late(ctx, start, end);
            return Ok(());
        }
        let merged_is_new = !(start == time && end == time);
        if existing.is_empty() {
            let slot = self.allocate(key.owned(), start, end);
            self.sessions
                .entry(key.as_ref().into())
                .or_default()
                .push(slot);
            let p = self.current;
            self.open_in(p).insert((end, slot));
            self.touch(slot, time);
            pairs.push((slot, row as u32));
            if !emit_final {
                self.queue(slot, emissions);
            }
            return Ok(());
        }
        // The first overlapping session absorbs the others and the record.
        let target = existing[0];
        if merged_is_new && !emit_final {
            for &s in &existing {
                let w = &self.slots[s as usize];
                emissions.push(Emission::Tombstone {
                    key: w.key.clone(),
                    start: w.start,
                    end: w.end,
                    time: w.time,
                });
            }
        }
        emissions.retain(|e| !matches!(e, Emission::Value(v) if existing[1..].contains(v)));
        for &s in &existing[1..] {
            for agg in &mut self.aggregators {
                agg.merge(target, s)?;
            }
            let t = self.slots[s as usize].time;
            self.touch(target, t);
            self.release(s, pending_free);
        }
        let (old_end, p) = {
            let w = &self.slots[target as usize];
            (w.end, w.partition)
        };
        self.open_in(p).remove(&(old_end, target));
        if self.changelog && self.slots[target as usize].start != start {
            // The session's changelog key (its start) changes.
            let w = &self.slots[target as usize];
            self.deleted.push((w.key.clone(), w.start, w.end));
        }
        let w = &mut self.slots[target as usize];
        w.start = start;
        w.end = end;
        self.open_in(p).insert((end, target));
        self.touch(target, time);
        pairs.push((target, row as u32));
        if !emit_final {
            // A pending emission of the target moves after the tombstones.
            self.queued[target as usize] = 0;
            emissions.retain(|e| !matches!(e, Emission::Value(s) if *s == target));
            self.queue(target, emissions);
        }
        Ok(())
    }

    /// Frees a slot after this batch's emissions are built.
    fn release(&mut self, slot: u32, pending_free: &mut Vec<u32>) {
        let w = &mut self.slots[slot as usize];
        if !w.live {
            return;
        }
        w.live = false;
        let (start, end, partition) = (w.start, w.end, w.partition);
        if self.changelog {
            self.deleted.push((w.key.clone(), start, end));
        }
        self.open_in(partition).remove(&(end, slot));
        if matches!(
            self.spec.window.map(|w| w.windowing),
            Some(Windowing::Session { .. })
        ) {
            let key = self.slots[slot as usize].key.row();
            if let Some(list) = self.sessions.get_mut(key.as_ref()) {
                list.retain(|&s| s != slot);
                if list.is_empty() {
                    self.sessions.remove(key.as_ref());
                }
            }
        } else {
            self.scratch.clear();
            if self.windowed() {
                self.scratch.extend_from_slice(&start.to_be_bytes());
            }
            self.scratch
                .extend_from_slice(self.slots[slot as usize].key.row().as_ref());
            self.groups.remove(self.scratch.as_slice());
        }
        pending_free.push(slot);
    }

    /// Closes the windows stream time has passed: emitted first with
    /// `EMIT FINAL`, then freed.
    fn close_windows(&mut self, emissions: &mut Vec<Emission>, pending_free: &mut Vec<u32>) {
        let Some(window) = self.spec.window else {
            return;
        };
        let mut grace = window.grace;
        if let Windowing::Session { gap } = window.windowing {
            grace = grace.saturating_add(gap);
        }
        for partition in 0..self.open.len() {
            let Some(&time) = self.stream_times.get(partition) else {
                continue;
            };
            let close = time.saturating_sub(grace);
            while let Some(&(end, slot)) = self.open[partition].iter().next() {
                // Time windows close at end + grace (end exclusive);
                // sessions at end + gap + grace.
                let closed = match window.windowing {
                    Windowing::Session { .. } => end < close,
                    _ => end <= close,
                };
                if !closed {
                    break;
                }
                if window.emit_final {
                    emissions.push(Emission::Value(slot));
                }
                self.release(slot, pending_free);
            }
        }
    }

    /// Over a table: retracts the previous rows of the batch's table keys,
    /// then adds the new ones; returns the touched groups in order.
    fn process_table(
        &mut self,
        batch: &RecordBatch,
        table_key: &[usize],
        emissions: &mut Vec<Emission>,
    ) -> Result<()> {
        let n_inputs = self.spec.time_column + 1;
        if self.table_keys.is_none() {
            let schema = batch.schema();
            let fields = |cols: &mut dyn Iterator<Item = usize>| -> Vec<SortField> {
                cols.map(|i| SortField::new(schema.field(i).data_type().clone()))
                    .collect()
            };
            self.table_keys = Some(RowConverter::new(fields(&mut table_key.iter().copied()))?);
            self.contributed = Some(RowConverter::new(fields(&mut (0..n_inputs)))?);
        }
        let (Some(table_keys), Some(contributed)) =
            (self.table_keys.take(), self.contributed.take())
        else {
            return Err(Error::internal("table aggregation converters missing"));
        };
        let result =
            self.process_table_rows(batch, table_key, &table_keys, &contributed, emissions);
        self.table_keys = Some(table_keys);
        self.contributed = Some(contributed);
        result
    }

    fn process_table_rows(
        &mut self,
        batch: &RecordBatch,
        table_key: &[usize],
        table_keys: &RowConverter,
        contributed: &RowConverter,
        emissions: &mut Vec<Emission>,
    ) -> Result<()> {
        let n_inputs = self.spec.time_column + 1;
        let tk_cols: Vec<ArrayRef> = table_key
            .iter()
            .map(|&i| Arc::clone(batch.column(i)))
            .collect();
        let tk_rows = table_keys.convert_columns(&tk_cols)?;
        let in_rows = contributed.convert_columns(&batch.columns()[..n_inputs])?;
        let null_rows = flag_column(batch, self.spec.null_row_column)?;
        // The last row per table key wins within a batch.
        let mut last: HashMap<&[u8], usize, RandomState> = HashMap::default();
        for row in 0..batch.num_rows() {
            last.insert(tk_rows.row(row).data(), row);
        }
        let mut rows: Vec<usize> = last.into_values().collect();
        rows.sort_unstable();

        // Previous rows to retract, with the row replacing them: an update
        // of a table aggregate carries the time of the change.
        let mut retract: Vec<(Box<[u8]>, usize)> = Vec::new();
        let mut add: Vec<usize> = Vec::new();
        for &row in &rows {
            let tk = tk_rows.row(row);
            let deleted = null_rows.is_valid(row) && null_rows.value(row);
            let old = if deleted {
                self.previous.remove(tk.as_ref())
            } else {
                self.previous
                    .insert(tk.as_ref().into(), in_rows.row(row).as_ref().into())
            };
            if let Some(old) = old {
                retract.push((old, row));
            }
            let key_null = batch.columns()[..self.spec.key_columns]
                .iter()
                .any(|c| c.is_null(row));
            if !deleted && !key_null {
                add.push(row);
            } else if !deleted && key_null {
                self.previous.remove(tk.as_ref());
            }
            if self.changelog {
                self.previous_changed.insert(tk.as_ref().into());
            }
        }
        let times = time_column(batch, self.spec.time_column)?;
        if !retract.is_empty() {
            let parser = contributed.parser();
            let columns = contributed.convert_rows(retract.iter().map(|(r, _)| parser.parse(r)))?;
            let keys = self
                .keys
                .convert_columns(&columns[..self.spec.key_columns])?;
            let mut pairs = Vec::with_capacity(retract.len());
            for (i, (_, row)) in retract.iter().enumerate() {
                if columns[..self.spec.key_columns]
                    .iter()
                    .any(|c| c.is_null(i))
                {
                    continue;
                }
                let slot = self.slot_for(&keys, i, 0, 0);
                self.slots[slot as usize].time = times.value(*row);
                pairs.push((slot, i as u32));
                self.queue(slot, emissions);
            }
            self.update_all(&columns, &pairs, true)?;
        }
        if !add.is_empty() {
            let keys = self
                .keys
                .convert_columns(&batch.columns()[..self.spec.key_columns])?;
            let mut pairs = Vec::with_capacity(add.len());
            for &row in &add {
                let slot = self.slot_for(&keys, row, 0, 0);
                self.slots[slot as usize].time = times.value(row);
                pairs.push((slot, row as u32));
                self.queue(slot, emissions);
            }
            self.update_all(batch.columns(), &pairs, false)?;
        }
        Ok(())
    }

    fn update_all(
        &mut self,
        columns: &[ArrayRef],
        pairs: &[(u32, u32)],
        retract: bool,
    ) -> Result<()> {
        if self.changelog {
            for &(slot, _) in pairs {
                if self.logged[slot as usize] != self.checkpoint_generation {
                    self.logged[slot as usize] = self.checkpoint_generation;
                    self.changed.push(slot);
                }
            }
        }
        for (agg, call) in self.aggregators.iter_mut().zip(&self.spec.calls) {
            let args: Vec<ArrayRef> = call.args.iter().map(|&i| Arc::clone(&columns[i])).collect();
            agg.update(&args, pairs, retract)?;
        }
        Ok(())
    }

    fn emit(&mut self, emissions: &[Emission]) -> Result<Option<RecordBatch>> {
        if emissions.is_empty() {
            return Ok(None);
        }
        let key_rows = emissions.iter().map(|e| match e {
            Emission::Value(slot) => self.slots[*slot as usize].key.row(),
            Emission::Tombstone { key, .. } => key.row(),
        });
        let mut columns = self.keys.convert_rows(key_rows)?;
        let bounds = |f: &dyn Fn(&Emission) -> i64| -> ArrayRef {
            Arc::new(Int64Array::from_iter_values(emissions.iter().map(f)))
        };
        if self.windowed() {
            columns.push(bounds(&|e| match e {
                Emission::Value(s) => self.slots[*s as usize].start,
                Emission::Tombstone { start, .. } => *start,
            }));
            columns.push(bounds(&|e| match e {
                Emission::Value(s) => self.slots[*s as usize].end,
                Emission::Tombstone { end, .. } => *end,
            }));
        }
        let slots: Vec<u32> = emissions
            .iter()
            .filter_map(|e| match e {
                Emission::Value(s) => Some(*s),
                Emission::Tombstone { .. } => None,
            })
            .collect();
        let has_tombstones = slots.len() < emissions.len();
        for (agg, call) in self.aggregators.iter_mut().zip(&self.spec.calls) {
            let values = agg.evaluate(&slots)?;
            if !has_tombstones {
                columns.push(values);
                continue;
            }
            let nulls = new_null_array(&call.data_type, 1);
            let mut next = 0;
            let indices: Vec<(usize, usize)> = emissions
                .iter()
                .map(|e| match e {
                    Emission::Value(_) => {
                        next += 1;
                        (0, next - 1)
                    }
                    Emission::Tombstone { .. } => (1, 0),
                })
                .collect();
            columns.push(interleave(&[values.as_ref(), nulls.as_ref()], &indices)?);
        }
        columns.push(bounds(&|e| match e {
            Emission::Value(s) => self.slots[*s as usize].time,
            Emission::Tombstone { time, .. } => *time,
        }));
        let mut flags = BooleanBuilder::with_capacity(emissions.len());
        for e in emissions {
            flags.append_value(matches!(e, Emission::Tombstone { .. }));
        }
        columns.push(Arc::new(flags.finish()));
        Ok(Some(RecordBatch::try_new(
            Arc::clone(&self.spec.output_schema),
            columns,
        )?))
    }
}

impl Operator for Aggregate {
    fn name(&self) -> &'static str {
        "Aggregate"
    }

    fn process(
        &mut self,
        batch: RecordBatch,
        ctx: &OperatorContext<'_>,
        _out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        // Updates are coalesced (one per group) until the next flush.
        let mut emissions = std::mem::take(&mut self.pending);
        let mut pending_free = std::mem::take(&mut self.pending_free);
        if let Some(table_key) = self.spec.table_key.clone() {
            self.process_table(&batch, &table_key, &mut emissions)?;
        } else {
            let keys = self
                .keys
                .convert_columns(&batch.columns()[..self.spec.key_columns])?;
            let pairs = self.assign(&batch, &keys, &mut emissions, &mut pending_free, ctx)?;
            self.update_all(batch.columns(), &pairs, false)?;
        }
        self.close_windows(&mut emissions, &mut pending_free);
        self.pending = emissions;
        self.pending_free = pending_free;
        Ok(())
    }

    fn flush(&mut self, _ctx: &OperatorContext<'_>, out: &mut Vec<RecordBatch>) -> Result<()> {
        let emissions = std::mem::take(&mut self.pending);
        let emitted = self.emit(&emissions)?;
        for slot in std::mem::take(&mut self.pending_free) {
            for agg in &mut self.aggregators {
                agg.reset(slot);
            }
            self.free.push(slot);
        }
        self.generation += 1;
        if let Some(b) = emitted {
            out.push(b);
        }
        Ok(())
    }

    fn fork(&self) -> Result<Box<dyn Operator>> {
        Ok(Box::new(Aggregate::new(
            self.spec.clone(),
            Arc::clone(&self.late),
        )?))
    }

    fn state_layout(&self) -> Option<String> {
        Some(self.layout())
    }

    fn changelog_name(&self) -> Option<&'static str> {
        Some("Aggregate-Aggregate-Materialize")
    }

    fn enable_changelog(&mut self) {
        self.changelog = true;
    }

    fn checkpoint(&mut self, out: &mut StateWriter) -> Result<()> {
        self.write_changes(out)
    }

    fn restore(&mut self, partition: i32, records: &[(&[u8], &[u8])]) -> Result<()> {
        self.restore_records(partition, records)
    }

    fn describe(&self) -> String {
        let calls: Vec<&str> = self.spec.calls.iter().map(|c| c.name.as_str()).collect();
        let window = match self.spec.window {
            None => String::new(),
            Some(w) => format!(
                " window {:?} grace {} ms{}",
                w.windowing,
                w.grace,
                if w.emit_final { " EMIT FINAL" } else { "" }
            ),
        };
        format!(
            "group by {} key column(s), aggregates [{}]{window}{}; {} open groups, {} late \
             records dropped",
            self.spec.key_columns,
            calls.join(", "),
            if self.spec.table_key.is_some() {
                " over a table (retracting)"
            } else {
                ""
            },
            self.slots.len() - self.free.len(),
            self.late.load(Ordering::Relaxed)
        )
    }
}

fn time_column(batch: &RecordBatch, i: usize) -> Result<&Int64Array> {
    batch
        .columns()
        .get(i)
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .ok_or_else(|| Error::internal("aggregate input time column is not BIGINT"))
}

fn flag_column(batch: &RecordBatch, i: usize) -> Result<&BooleanArray> {
    batch
        .columns()
        .get(i)
        .and_then(|c| c.as_any().downcast_ref::<BooleanArray>())
        .ok_or_else(|| Error::internal("aggregate input null-row column is not BOOLEAN"))
}
