//! The join operator: two inputs, one output row per match, with the
//! semantics of Kafka Streams' joins as ksqlDB uses them.
//!
//! Each input batch arrives prepared by the planner: its join key columns,
//! its event time and its null-row flag (a tombstone for a table) at known
//! positions. Rows are kept in arrow's row format (one `RowConverter` per
//! side, one for the key), so state, changelog and restore share one byte
//! layout, and output batches are built column by column from the matched
//! rows in one `convert_rows` call per side.
//!
//! Output row: every column of the left input, every column of the right
//! input (all null for a missing side), the result key (the join key, or the
//! left table's primary key for a foreign-key join), the output timestamp,
//! the tombstone flag, and whether the row came from a right-side record
//! (whose headers the row then carries, as Kafka Streams forwards a join
//! result in the context of the record that triggered it).
//!
//! - Stream-stream (`WITHIN`): each side buffers its records for the
//!   window's retention; a new record joins the other side's buffered
//!   records in its window, in their (timestamp, arrival) order, at the
//!   later of the two timestamps. Without a grace period an unmatched
//!   record of an outer side is emitted null-padded at once; with one it is
//!   held until its window closes in stream time and emitted then, unless a
//!   match came first.
//! - Stream-table: stream records look up the table's current row; table
//!   updates change state only.
//! - Table-table on the primary key: both sides emit (Kafka Streams'
//!   KTable-KTable join processors).
//! - Foreign key: left rows are indexed by the key their expression gives;
//!   a change on either side re-joins the left rows concerned.

use std::collections::{BTreeMap, BTreeSet};

use hashbrown::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array};
use arrow::datatypes::{Int64Type, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, RowParser, Rows, SortField};

use super::{Operator, OperatorContext};
use crate::error::{Error, Result};
use crate::runtime::state::{take_i64, StateWriter};

/// INNER, LEFT, RIGHT or FULL OUTER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinType {
    /// Matches only.
    Inner,
    /// Every left row.
    Left,
    /// Every right row.
    Right,
    /// Every row of both sides.
    Full,
}

/// What is joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// Two streams within a time window (ms).
    StreamStream {
        /// How far before a left record a right record may be.
        before: i64,
        /// How far after a left record a right record may be.
        after: i64,
        /// `GRACE PERIOD`: outer results wait until the window closes.
        grace: Option<i64>,
    },
    /// A stream (left) enriched by a table (right).
    StreamTable,
    /// Two tables on their primary key.
    TableTable,
    /// Two tables, the left's expression to the right's primary key.
    ForeignKey,
}

/// Where the parts of an input's rows are.
#[derive(Debug, Clone)]
pub struct SideLayout {
    /// The input's schema.
    pub schema: SchemaRef,
    /// The join key columns.
    pub key: Vec<usize>,
    /// For the left table of a foreign-key join: its primary key columns.
    pub primary_key: Vec<usize>,
    /// The event time (BIGINT).
    pub time: usize,
    /// True where the record has no value (a tombstone for a table).
    pub null_row: usize,
}

/// The plan of a join.
#[derive(Debug, Clone)]
pub struct JoinSpec {
    /// Its kind.
    pub kind: JoinKind,
    /// Its type.
    pub join_type: JoinType,
    /// The left input.
    pub left: SideLayout,
    /// The right input.
    pub right: SideLayout,
    /// The output schema: left columns, right columns, key columns, time,
    /// tombstone flag, right-side trigger flag.
    pub output: SchemaRef,
}

const LEFT: usize = 0;
const RIGHT: usize = 1;

/// Legacy stream-stream joins (no grace period) keep records for a day.
const LEGACY_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

/// Converters shared by every instance of a join.
struct Codecs {
    rows: [RowConverter; 2],
    key: RowConverter,
    primary_key: Option<RowConverter>,
    /// The row of a missing side: every column null.
    null_rows: [Vec<u8>; 2],
    null_key: Vec<u8>,
}

impl Codecs {
    fn new(spec: &JoinSpec) -> Result<Codecs> {
        let converter = |schema: &SchemaRef, columns: &[usize]| -> Result<RowConverter> {
            Ok(RowConverter::new(
                columns
                    .iter()
                    .map(|&c| SortField::new(schema.field(c).data_type().clone()))
                    .collect(),
            )?)
        };
        let all = |layout: &SideLayout| (0..layout.schema.fields().len()).collect::<Vec<_>>();
        let rows = [
            converter(&spec.left.schema, &all(&spec.left))?,
            converter(&spec.right.schema, &all(&spec.right))?,
        ];
        let key = converter(&spec.left.schema, &spec.left.key)?;
        let primary_key = match spec.kind {
            JoinKind::ForeignKey => Some(converter(&spec.left.schema, &spec.left.primary_key)?),
            _ => None,
        };
        let null_row = |conv: &RowConverter, schema: &SchemaRef, columns: &[usize]| {
            let nulls: Vec<ArrayRef> = columns
                .iter()
                .map(|&c| arrow::array::new_null_array(schema.field(c).data_type(), 1))
                .collect();
            Ok::<_, Error>(conv.convert_columns(&nulls)?.row(0).as_ref().to_vec())
        };
        let null_rows = [
            null_row(&rows[0], &spec.left.schema, &all(&spec.left))?,
            null_row(&rows[1], &spec.right.schema, &all(&spec.right))?,
        ];
        let null_key = match &primary_key {
            Some(pk) => null_row(pk, &spec.left.schema, &spec.left.primary_key)?,
            None => null_row(&key, &spec.left.schema, &spec.left.key)?,
        };
        Ok(Codecs {
            rows,
            key,
            primary_key,
            null_rows,
            null_key,
        })
    }
}

/// A buffered stream record.
#[derive(Debug, Clone, Copy)]
struct Buffered {
    ts: i64,
    seq: u64,
    start: usize,
    len: usize,
}

/// One side's window buffer: rows back to back in an arena, indexed by key
/// in (timestamp, arrival) order.
#[derive(Default)]
struct WindowBuffer {
    data: Vec<u8>,
    live_bytes: usize,
    by_key: HashMap<Vec<u8>, Vec<Buffered>>,
    /// The largest timestamp buffered.
    max_ts: i64,
    /// Stream time of the last sweep of expired records.
    swept_at: i64,
}

impl WindowBuffer {
    fn new() -> Self {
        WindowBuffer {
            max_ts: i64::MIN,
            swept_at: i64::MIN,
            ..WindowBuffer::default()
        }
    }

    fn insert(&mut self, key: &[u8], ts: i64, seq: u64, row: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(row);
        self.live_bytes += row.len();
        let entry = Buffered {
            ts,
            seq,
            start,
            len: row.len(),
        };
        let list = match self.by_key.get_mut(key) {
            Some(l) => l,
            None => self.by_key.entry(key.to_vec()).or_default(),
        };
        let at = list.partition_point(|e| (e.ts, e.seq) <= (ts, seq));
        list.insert(at, entry);
    }

    /// Drops records at or before `cutoff`, reporting each; compacts the
    /// arena when most of it is dead.
    fn expire(&mut self, cutoff: i64, mut dropped: impl FnMut(&[u8], &Buffered)) {
        let mut freed = 0;
        self.by_key.retain(|key, list| {
            list.retain(|e| {
                let keep = e.ts > cutoff;
                if !keep {
                    freed += e.len;
                    dropped(key, e);
                }
                keep
            });
            !list.is_empty()
        });
        self.live_bytes -= freed;
        if self.data.len() > 4096 && self.live_bytes * 2 < self.data.len() {
            let mut data = Vec::with_capacity(self.live_bytes * 2);
            for list in self.by_key.values_mut() {
                for e in list.iter_mut() {
                    let start = data.len();
                    data.extend_from_slice(&self.data[e.start..e.start + e.len]);
                    e.start = start;
                }
            }
            self.data = data;
        }
    }
}

/// A table's current rows.
#[derive(Default)]
struct TableRows {
    rows: HashMap<Vec<u8>, (i64, Vec<u8>)>,
}

impl TableRows {
    /// Sets or deletes the row of `key`; true if a row was there before.
    fn apply(&mut self, key: &[u8], ts: i64, row: Option<&[u8]>) -> bool {
        match row {
            None => self.rows.remove(key).is_some(),
            Some(row) => match self.rows.get_mut(key) {
                Some(slot) => {
                    slot.0 = ts;
                    slot.1.clear();
                    slot.1.extend_from_slice(row);
                    true
                }
                None => {
                    self.rows.insert(key.to_vec(), (ts, row.to_vec()));
                    false
                }
            },
        }
    }
}

/// A left row of a foreign-key join.
struct FkLeft {
    foreign: Option<Vec<u8>>,
    row: Vec<u8>,
}

/// Output rows collected while a batch is processed.
#[derive(Default)]
struct Emitted {
    rows: [Vec<u8>; 2],
    row_ends: [Vec<usize>; 2],
    keys: Vec<u8>,
    key_ends: Vec<usize>,
    times: Vec<i64>,
    tombstones: Vec<bool>,
}

impl Emitted {
    fn push(&mut self, left: &[u8], right: &[u8], key: &[u8], ts: i64, tombstone: bool) {
        for (side, row) in [left, right].into_iter().enumerate() {
            self.rows[side].extend_from_slice(row);
            self.row_ends[side].push(self.rows[side].len());
        }
        self.keys.extend_from_slice(key);
        self.key_ends.push(self.keys.len());
        self.times.push(ts);
        self.tombstones.push(tombstone);
    }

    fn is_empty(&self) -> bool {
        self.times.is_empty()
    }
}

/// Parses the rows of an arena.
fn parse<'a>(parser: &'a RowParser, data: &'a [u8], ends: &'a [usize]) -> Vec<arrow::row::Row<'a>> {
    let mut start = 0;
    ends.iter()
        .map(|&end| {
            let row = parser.parse(&data[start..end]);
            start = end;
            row
        })
        .collect()
}

/// A two-input join (see the module documentation).
pub struct Join {
    spec: Arc<JoinSpec>,
    codecs: Arc<Codecs>,
    /// Stream-stream: each side's buffer.
    windows: [WindowBuffer; 2],
    /// Table sides: current rows by key.
    tables: [TableRows; 2],
    /// Foreign key: left rows by primary key, and by foreign key.
    fk_left: HashMap<Vec<u8>, FkLeft>,
    fk_index: HashMap<Vec<u8>, BTreeSet<Vec<u8>>>,
    /// Stream-stream with a grace period: unmatched outer records waiting
    /// for their window to close, by (timestamp, side: right first, key,
    /// arrival).
    held: BTreeMap<(i64, u8, Vec<u8>, u64), Vec<u8>>,
    /// The largest timestamp seen on either input.
    stream_time: i64,
    next_seq: u64,
    /// Changes since the last checkpoint, when the changelog is on.
    changes: Option<StateWriter>,
    /// Reused for the matches of one record.
    scratch: Vec<(i64, u64, usize, usize)>,
}

impl Join {
    /// A join with empty state.
    pub fn new(spec: JoinSpec) -> Result<Join> {
        let codecs = Codecs::new(&spec)?;
        Ok(Join::with(Arc::new(spec), Arc::new(codecs)))
    }

    fn with(spec: Arc<JoinSpec>, codecs: Arc<Codecs>) -> Join {
        Join {
            spec,
            codecs,
            windows: [WindowBuffer::new(), WindowBuffer::new()],
            tables: [TableRows::default(), TableRows::default()],
            fk_left: HashMap::new(),
            fk_index: HashMap::new(),
            held: BTreeMap::new(),
            stream_time: i64::MIN,
            next_seq: 0,
            changes: None,
            scratch: Vec::new(),
        }
    }

    /// The rows its state holds: buffered stream records, held outer
    /// records, table rows and foreign-key left rows (for benchmarks).
    pub fn state_rows(&self) -> usize {
        let buffered: usize = self
            .windows
            .iter()
            .flat_map(|w| w.by_key.values())
            .map(Vec::len)
            .sum();
        let tables: usize = self.tables.iter().map(|t| t.rows.len()).sum();
        buffered + self.held.len() + tables + self.fk_left.len()
    }

    fn layout(&self, side: usize) -> &SideLayout {
        if side == LEFT {
            &self.spec.left
        } else {
            &self.spec.right
        }
    }

    /// The side Kafka Streams runs the join from: ksqlDB runs a RIGHT join
    /// as the right side's LEFT join.
    fn primary(&self) -> usize {
        if self.spec.join_type == JoinType::Right {
            RIGHT
        } else {
            LEFT
        }
    }

    fn is_outer(&self, side: usize) -> bool {
        match self.spec.join_type {
            JoinType::Inner => false,
            JoinType::Left => side == LEFT,
            JoinType::Right => side == RIGHT,
            JoinType::Full => true,
        }
    }

    fn process_side(
        &mut self,
        side: usize,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let codecs = Arc::clone(&self.codecs);
        let layout = self.layout(side).clone();
        let rows = codecs.rows[side].convert_columns(batch.columns())?;
        let key_columns: Vec<ArrayRef> = layout
            .key
            .iter()
            .map(|&c| Arc::clone(batch.column(c)))
            .collect();
        let keys = codecs.key.convert_columns(&key_columns)?;
        let primary_keys: Option<Rows> = match (&codecs.primary_key, side) {
            (Some(pk), LEFT) => {
                let cols: Vec<ArrayRef> = layout
                    .primary_key
                    .iter()
                    .map(|&c| Arc::clone(batch.column(c)))
                    .collect();
                Some(pk.convert_columns(&cols)?)
            }
            _ => None,
        };
        let times = batch
            .column(layout.time)
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| Error::internal("a join input's time column is not BIGINT"))?
            .clone();
        let null_rows = batch
            .column(layout.null_row)
            .as_boolean_opt()
            .ok_or_else(|| Error::internal("a join input's null-row flag is not BOOLEAN"))?
            .clone();
        let mut emitted = Emitted::default();
        for i in 0..n {
            let key_null = key_columns.iter().any(|c| c.is_null(i));
            let ts = if times.is_null(i) { 0 } else { times.value(i) };
            let tombstone = null_rows.is_valid(i) && null_rows.value(i);
            let row = rows.row(i);
            let key = keys.row(i);
            let record = Record {
                key: key.as_ref(),
                key_null,
                ts,
                row: row.as_ref(),
                tombstone,
            };
            match self.spec.kind {
                JoinKind::StreamStream {
                    before,
                    after,
                    grace,
                } => self.stream_stream(side, &record, before, after, grace, &mut emitted),
                JoinKind::StreamTable => self.stream_table(side, &record, &mut emitted),
                JoinKind::TableTable => self.table_table(side, &record, &mut emitted),
                JoinKind::ForeignKey => {
                    let pk = primary_keys.as_ref().map(|p| p.row(i));
                    self.foreign_key(side, &record, pk.as_ref().map(|r| r.as_ref()), &mut emitted)
                }
            }
        }
        if !emitted.is_empty() {
            out.push(self.build(emitted, side)?);
        }
        Ok(())
    }

    fn build(&self, e: Emitted, side: usize) -> Result<RecordBatch> {
        let rows = e.times.len();
        let codecs = &self.codecs;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.spec.output.fields().len());
        for side in [LEFT, RIGHT] {
            let parser = codecs.rows[side].parser();
            let rows = parse(&parser, &e.rows[side], &e.row_ends[side]);
            columns.extend(codecs.rows[side].convert_rows(rows)?);
        }
        let key_codec = codecs.primary_key.as_ref().unwrap_or(&codecs.key);
        let parser = key_codec.parser();
        columns.extend(key_codec.convert_rows(parse(&parser, &e.keys, &e.key_ends))?);
        columns.push(Arc::new(Int64Array::from(e.times)));
        columns.push(Arc::new(BooleanArray::from(e.tombstones)));
        columns.push(Arc::new(BooleanArray::from(vec![side == RIGHT; rows])));
        // Types are the inputs'; the names the planner gave.
        let columns = columns
            .into_iter()
            .zip(self.spec.output.fields())
            .map(|(c, f)| {
                if c.data_type() == f.data_type() {
                    Ok(c)
                } else {
                    Ok(arrow::compute::cast(&c, f.data_type())?)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RecordBatch::try_new(
            Arc::clone(&self.spec.output),
            columns,
        )?)
    }

    /// Emits a row: `this` from `side`, `other` from the other side.
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &self,
        out: &mut Emitted,
        side: usize,
        this: Option<&[u8]>,
        other: Option<&[u8]>,
        key: &[u8],
        ts: i64,
        tombstone: bool,
    ) {
        let nulls = &self.codecs.null_rows;
        let (left, right) = if side == LEFT {
            (this, other)
        } else {
            (other, this)
        };
        out.push(
            left.unwrap_or(&nulls[LEFT]),
            right.unwrap_or(&nulls[RIGHT]),
            key,
            ts,
            tombstone,
        );
    }

    fn stream_stream(
        &mut self,
        side: usize,
        r: &Record<'_>,
        before: i64,
        after: i64,
        grace: Option<i64>,
        out: &mut Emitted,
    ) {
        if r.tombstone {
            return;
        }
        let other = 1 - side;
        if r.key_null {
            if self.is_outer(side) {
                let key = self.codecs.null_key.clone();
                self.emit(out, side, Some(r.row), None, &key, r.ts, false);
            }
            return;
        }
        let primary = side == self.primary();
        // The window of the other side's records this one matches, and how
        // long after its own timestamp this record's window stays open.
        let (lo, hi, open_for) = if primary {
            (
                r.ts.saturating_sub(before),
                r.ts.saturating_add(after),
                after,
            )
        } else {
            (
                r.ts.saturating_sub(after),
                r.ts.saturating_add(before),
                before,
            )
        };
        let in_order = r.ts >= self.stream_time;
        self.stream_time = self.stream_time.max(r.ts);
        if let (Some(grace), true) = (grace, in_order) {
            self.emit_closed(before, after, grace, out);
        }
        let retention = match grace {
            Some(g) => before + after + g,
            None => LEGACY_RETENTION_MS.max(before + after),
        };
        let other_cutoff = self.windows[other].max_ts.saturating_sub(retention);
        let mut matched = false;
        let mut matches = std::mem::take(&mut self.scratch);
        matches.clear();
        if let Some(list) = self.windows[other].by_key.get(r.key) {
            for e in list {
                if e.ts >= lo && e.ts <= hi && e.ts > other_cutoff {
                    matches.push((e.ts, e.seq, e.start, e.len));
                }
            }
        }
        for &(ts, seq, start, len) in &matches {
            matched = true;
            let row = &self.windows[other].data[start..start + len];
            let (left, right) = if side == LEFT {
                (r.row, row)
            } else {
                (row, r.row)
            };
            out.push(left, right, r.key, r.ts.max(ts), false);
            if grace.is_some() {
                let held_key = (ts, side_order(other), r.key.to_vec(), seq);
                if self.held.remove(&held_key).is_some() {
                    self.log_held(other, ts, r.key, seq, None);
                }
            }
        }
        self.scratch = matches;
        let seq = self.next_seq;
        self.next_seq += 1;
        if !matched && self.is_outer(side) {
            match grace {
                Some(_) if r.ts.saturating_add(open_for) >= self.stream_time => {
                    self.held.insert(
                        (r.ts, side_order(side), r.key.to_vec(), seq),
                        r.row.to_vec(),
                    );
                    self.log_held(side, r.ts, r.key, seq, Some(r.row));
                }
                _ => self.emit(out, side, Some(r.row), None, r.key, r.ts, false),
            }
        }
        // Buffer this record for the other side's later records.
        let window = &mut self.windows[side];
        window.max_ts = window.max_ts.max(r.ts);
        let cutoff = window.max_ts.saturating_sub(retention);
        if r.ts > cutoff {
            window.insert(r.key, r.ts, seq, r.row);
            if let Some(changes) = &mut self.changes {
                changes.put(
                    &[&[b'w', side as u8], &seq.to_be_bytes()],
                    &[
                        &r.ts.to_be_bytes(),
                        &(r.key.len() as u32).to_be_bytes(),
                        r.key,
                        r.row,
                    ],
                );
            }
        }
        // Sweep expired records now and then (they are invisible already).
        if window.max_ts.saturating_sub(window.swept_at) > retention / 4 + 1 {
            window.swept_at = window.max_ts;
            let changes = &mut self.changes;
            window.expire(cutoff, |_, e| {
                if let Some(c) = changes.as_mut() {
                    c.delete(&[&[b'w', side as u8], &e.seq.to_be_bytes()]);
                }
            });
        }
    }

    /// Emits, null-padded, the held outer records whose window has closed.
    fn emit_closed(&mut self, before: i64, after: i64, grace: i64, out: &mut Emitted) {
        let primary = self.primary();
        let slack = before.min(after).saturating_add(grace);
        let mut closed = Vec::new();
        for ((ts, order, key, seq), _) in self.held.iter() {
            if ts.saturating_add(slack) >= self.stream_time {
                break;
            }
            let side = side_of_order(*order);
            let open_for = if side == primary { after } else { before };
            if ts.saturating_add(open_for).saturating_add(grace) < self.stream_time {
                closed.push((*ts, *order, key.clone(), *seq));
            }
        }
        for k in closed {
            if let Some(row) = self.held.remove(&k) {
                let side = side_of_order(k.1);
                self.emit(out, side, Some(&row), None, &k.2, k.0, false);
                self.log_held(side, k.0, &k.2, k.3, None);
            }
        }
        self.log_time();
    }

    fn log_held(&mut self, side: usize, ts: i64, key: &[u8], seq: u64, row: Option<&[u8]>) {
        let Some(changes) = &mut self.changes else {
            return;
        };
        let k: [&[u8]; 2] = [&[b'h', side as u8], &seq.to_be_bytes()];
        match row {
            Some(row) => changes.put(
                &k,
                &[
                    &ts.to_be_bytes(),
                    &(key.len() as u32).to_be_bytes(),
                    key,
                    row,
                ],
            ),
            None => changes.delete(&k),
        }
    }

    fn log_time(&mut self) {
        let (st, seq) = (self.stream_time, self.next_seq);
        let (l, r) = (self.windows[LEFT].max_ts, self.windows[RIGHT].max_ts);
        if let Some(changes) = &mut self.changes {
            changes.put(
                &[b"t"],
                &[
                    &st.to_be_bytes(),
                    &seq.to_be_bytes(),
                    &l.to_be_bytes(),
                    &r.to_be_bytes(),
                ],
            );
        }
    }

    fn log_table(&mut self, tag: u8, key: &[u8], ts: i64, row: Option<&[u8]>) {
        if let Some(changes) = &mut self.changes {
            match row {
                Some(row) => changes.put(&[&[tag], key], &[&ts.to_be_bytes(), row]),
                None => changes.delete(&[&[tag], key]),
            }
        }
    }

    fn stream_table(&mut self, side: usize, r: &Record<'_>, out: &mut Emitted) {
        if side == RIGHT {
            if r.key_null {
                return;
            }
            let row = (!r.tombstone).then_some(r.row);
            self.tables[RIGHT].apply(r.key, r.ts, row);
            self.log_table(b'R', r.key, r.ts, row);
            return;
        }
        if r.tombstone {
            return;
        }
        let outer = self.spec.join_type == JoinType::Left;
        if r.key_null {
            if outer {
                let key = self.codecs.null_key.clone();
                self.emit(out, LEFT, Some(r.row), None, &key, r.ts, false);
            }
            return;
        }
        match self.tables[RIGHT].rows.get(r.key) {
            Some((_, right)) => out.push(r.row, right, r.key, r.ts, false),
            None if outer => self.emit(out, LEFT, Some(r.row), None, r.key, r.ts, false),
            None => {}
        }
    }

    fn table_table(&mut self, side: usize, r: &Record<'_>, out: &mut Emitted) {
        if r.key_null {
            return;
        }
        let other = 1 - side;
        let row = (!r.tombstone).then_some(r.row);
        let existed = self.tables[side].apply(r.key, r.ts, row);
        self.log_table(if side == LEFT { b'L' } else { b'R' }, r.key, r.ts, row);
        let found = self.tables[other]
            .rows
            .get(r.key)
            .map(|(t, v)| (*t, v.as_slice()));
        // Which sides must be present for a row (else nothing or a
        // tombstone).
        let this_outer = self.is_outer(side);
        let other_outer = self.is_outer(other);
        match (found, row) {
            (Some((t, other_row)), Some(row)) => self.emit(
                out,
                side,
                Some(row),
                Some(other_row),
                r.key,
                r.ts.max(t),
                false,
            ),
            (Some((t, other_row)), None) => {
                // This side is gone: the other side's row alone if it is
                // outer, else a tombstone.
                if other_outer {
                    self.emit(out, side, None, Some(other_row), r.key, r.ts.max(t), false)
                } else {
                    self.emit(out, side, None, None, r.key, r.ts.max(t), true)
                }
            }
            (None, Some(row)) => {
                if this_outer {
                    self.emit(out, side, Some(row), None, r.key, r.ts, false)
                }
            }
            (None, None) => {
                if this_outer && existed {
                    self.emit(out, side, None, None, r.key, r.ts, true)
                }
            }
        }
    }

    fn foreign_key(
        &mut self,
        side: usize,
        r: &Record<'_>,
        primary_key: Option<&[u8]>,
        out: &mut Emitted,
    ) {
        let outer = self.spec.join_type == JoinType::Left;
        if side == RIGHT {
            if r.key_null {
                return;
            }
            let row = (!r.tombstone).then_some(r.row);
            let existed = self.tables[RIGHT].apply(r.key, r.ts, row);
            self.log_table(b'R', r.key, r.ts, row);
            if row.is_none() && !existed {
                return;
            }
            let Some(lefts) = self.fk_index.get(r.key) else {
                return;
            };
            for pk in lefts {
                let Some(left) = self.fk_left.get(pk) else {
                    continue;
                };
                match (row, outer) {
                    (Some(right), _) => out.push(&left.row, right, pk, r.ts, false),
                    (None, true) => {
                        out.push(&left.row, &self.codecs.null_rows[RIGHT], pk, r.ts, false)
                    }
                    (None, false) => out.push(
                        &self.codecs.null_rows[LEFT],
                        &self.codecs.null_rows[RIGHT],
                        pk,
                        r.ts,
                        true,
                    ),
                }
            }
            return;
        }
        let Some(pk) = primary_key else {
            return;
        };
        if self.codecs.primary_key.is_some() && pk == self.codecs.null_key.as_slice() {
            return;
        }
        let old = self.fk_left.remove(pk);
        if let Some(f) = old.as_ref().and_then(|o| o.foreign.as_ref()) {
            if let Some(set) = self.fk_index.get_mut(f) {
                set.remove(pk);
                if set.is_empty() {
                    self.fk_index.remove(f);
                }
            }
        }
        if r.tombstone {
            self.log_table(b'L', pk, r.ts, None);
            self.emit(out, LEFT, None, None, pk, r.ts, true);
            return;
        }
        let foreign = (!r.key_null).then(|| r.key.to_vec());
        if let Some(changes) = &mut self.changes {
            let (flag, f): (&[u8], &[u8]) = match &foreign {
                Some(f) => (&[1], f),
                None => (&[0], &[]),
            };
            changes.put(
                &[b"L", pk],
                &[
                    &r.ts.to_be_bytes(),
                    flag,
                    &(f.len() as u32).to_be_bytes(),
                    f,
                    r.row,
                ],
            );
        }
        if let Some(f) = &foreign {
            self.fk_index
                .entry(f.clone())
                .or_default()
                .insert(pk.to_vec());
        }
        self.fk_left.insert(
            pk.to_vec(),
            FkLeft {
                foreign: foreign.clone(),
                row: r.row.to_vec(),
            },
        );
        let right = foreign
            .as_ref()
            .and_then(|f| self.tables[RIGHT].rows.get(f.as_slice()));
        match (right, &foreign) {
            (Some((t, right)), _) => out.push(r.row, right, pk, r.ts.max(*t), false),
            (None, None) if !outer => {}
            (None, _) if outer => out.push(r.row, &self.codecs.null_rows[RIGHT], pk, r.ts, false),
            (None, _) => {
                if old.is_some() {
                    out.push(
                        &self.codecs.null_rows[LEFT],
                        &self.codecs.null_rows[RIGHT],
                        pk,
                        r.ts,
                        true,
                    )
                }
            }
        }
    }

    fn restore_record(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let truncated = || Error::external("a join state record is truncated");
        let (&tag, rest) = key.split_first().ok_or_else(truncated)?;
        match tag {
            b't' => {
                let (st, v) = take_i64(value)?;
                let (seq, v) = take_i64(v)?;
                let (l, v) = take_i64(v)?;
                let (r, _) = take_i64(v)?;
                self.stream_time = st;
                self.next_seq = self.next_seq.max(seq as u64);
                self.windows[LEFT].max_ts = l;
                self.windows[RIGHT].max_ts = r;
            }
            b'w' | b'h' => {
                let (&side, seq) = rest.split_first().ok_or_else(truncated)?;
                let side = usize::from(side.min(1));
                let (seq, _) = take_i64(seq)?;
                let (ts, v) = take_i64(value)?;
                let len = u32::from_be_bytes(
                    v.get(..4)
                        .and_then(|b| b.try_into().ok())
                        .ok_or_else(truncated)?,
                ) as usize;
                let k = v.get(4..4 + len).ok_or_else(truncated)?;
                let row = v.get(4 + len..).ok_or_else(truncated)?;
                if tag == b'w' {
                    self.windows[side].insert(k, ts, seq as u64, row);
                    self.windows[side].max_ts = self.windows[side].max_ts.max(ts);
                } else {
                    self.held
                        .insert((ts, side_order(side), k.to_vec(), seq as u64), row.to_vec());
                }
                self.next_seq = self.next_seq.max(seq as u64 + 1);
            }
            b'R' => {
                let (ts, row) = take_i64(value)?;
                self.tables[RIGHT].apply(rest, ts, Some(row));
            }
            b'L' if self.spec.kind == JoinKind::ForeignKey => {
                let (_, v) = take_i64(value)?;
                let (&flag, v) = v.split_first().ok_or_else(truncated)?;
                let len = u32::from_be_bytes(
                    v.get(..4)
                        .and_then(|b| b.try_into().ok())
                        .ok_or_else(truncated)?,
                ) as usize;
                let f = v.get(4..4 + len).ok_or_else(truncated)?;
                let row = v.get(4 + len..).ok_or_else(truncated)?;
                let foreign = (flag == 1).then(|| f.to_vec());
                if let Some(f) = &foreign {
                    self.fk_index
                        .entry(f.clone())
                        .or_default()
                        .insert(rest.to_vec());
                }
                self.fk_left.insert(
                    rest.to_vec(),
                    FkLeft {
                        foreign,
                        row: row.to_vec(),
                    },
                );
            }
            b'L' => {
                let (ts, row) = take_i64(value)?;
                self.tables[LEFT].apply(rest, ts, Some(row));
            }
            other => {
                return Err(Error::external(format!(
                    "a join state record has an unknown tag {other}"
                )))
            }
        }
        Ok(())
    }
}

/// One input record, as the join sees it.
struct Record<'a> {
    key: &'a [u8],
    key_null: bool,
    ts: i64,
    row: &'a [u8],
    tombstone: bool,
}

/// Held records of the same timestamp go right side first.
fn side_order(side: usize) -> u8 {
    if side == RIGHT {
        0
    } else {
        1
    }
}

fn side_of_order(order: u8) -> usize {
    if order == 0 {
        RIGHT
    } else {
        LEFT
    }
}

impl Operator for Join {
    fn name(&self) -> &'static str {
        "Join"
    }

    fn process(
        &mut self,
        batch: RecordBatch,
        _ctx: &OperatorContext<'_>,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        self.process_side(LEFT, batch, out)?;
        if matches!(self.spec.kind, JoinKind::StreamStream { .. }) {
            self.log_time();
        }
        Ok(())
    }

    fn process_right(
        &mut self,
        batch: RecordBatch,
        _ctx: &OperatorContext<'_>,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        self.process_side(RIGHT, batch, out)?;
        if matches!(self.spec.kind, JoinKind::StreamStream { .. }) {
            self.log_time();
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let kind = match self.spec.kind {
            JoinKind::StreamStream {
                before,
                after,
                grace,
            } => format!(
                "stream-stream within ({before} ms before, {after} ms after){}",
                grace.map_or(String::new(), |g| format!(" grace {g} ms"))
            ),
            JoinKind::StreamTable => "stream-table".to_string(),
            JoinKind::TableTable => "table-table".to_string(),
            JoinKind::ForeignKey => "foreign-key table-table".to_string(),
        };
        format!("{:?} {kind}", self.spec.join_type)
    }

    fn fork(&self) -> Result<Box<dyn Operator>> {
        Ok(Box::new(Join::with(
            Arc::clone(&self.spec),
            Arc::clone(&self.codecs),
        )))
    }

    fn state_layout(&self) -> Option<String> {
        let types = |s: &SchemaRef| {
            s.fields()
                .iter()
                .map(|f| f.data_type().to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        Some(format!(
            "join {:?} {:?} left[{}] key{:?} right[{}] key{:?}",
            self.spec.kind,
            self.spec.join_type,
            types(&self.spec.left.schema),
            self.spec.left.key,
            types(&self.spec.right.schema),
            self.spec.right.key
        ))
    }

    fn changelog_name(&self) -> Option<&'static str> {
        Some("Join")
    }

    fn enable_changelog(&mut self) {
        self.changes = Some(StateWriter::new());
    }

    fn checkpoint(&mut self, out: &mut StateWriter) -> Result<()> {
        if let Some(changes) = &mut self.changes {
            changes.drain_into(out);
        }
        Ok(())
    }

    fn restore(&mut self, _partition: i32, records: &[(&[u8], &[u8])]) -> Result<()> {
        for (k, v) in records {
            self.restore_record(k, v)?;
        }
        Ok(())
    }
}
