//! The materialized state of a table, answering pull queries.
//!
//! A persistent query that writes a TABLE (and the internal query of a
//! `CREATE SOURCE TABLE`) feeds every output batch to a [`Materialized`]
//! store: a row upserts its key (and window), a row flagged as a null row
//! deletes it. Pull queries read the store concurrently: the rows of some
//! keys, of a range of the first key column, or all of them, as one Arrow
//! batch.
//!
//! Rows are kept compactly as Arrow's row format (`arrow::row`): one byte
//! string for the key (the key columns, then for windowed tables the window
//! start and end) and one for the rest (the value columns and the record
//! time), in a `BTreeMap` ordered by the key bytes. The row format is
//! order-preserving and each column's encoding is self-delimiting, so the
//! map iterates in key order (as ksqlDB's RocksDB store does), the rows of
//! one key are the entries whose bytes start with that key's encoding, and
//! a range of the first key column is a range of the map.
//!
//! The writer takes the lock once per batch; readers copy the matching byte
//! strings under the lock and decode them after releasing it.
//!
//! Windowed tables forget windows older than their retention as stream time
//! (the largest record time seen) advances, as ksqlDB's window stores do.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, Rows, SortField};

use crate::error::{Error, Result};
use crate::runtime::state::{conform, take_i64, StateWriter};

/// The column of a [`Materialized::read`] batch with the window start.
pub const WINDOW_START_COLUMN: &str = "$WINDOWSTART";
/// The column of a [`Materialized::read`] batch with the window end.
pub const WINDOW_END_COLUMN: &str = "$WINDOWEND";
/// The column of a [`Materialized::read`] batch with the record time.
pub const ROWTIME_COLUMN: &str = "$ROWTIME";

/// Where a store finds its parts in the batches it is fed.
#[derive(Debug, Clone)]
pub struct StoreLayout {
    /// The key columns, in key order.
    pub key_columns: Vec<usize>,
    /// The value columns.
    pub value_columns: Vec<usize>,
    /// The record time (BIGINT).
    pub rowtime_column: usize,
    /// The null-row flag (BOOLEAN): true deletes the key.
    pub null_row_column: usize,
    /// For windowed tables: the window columns and the retention.
    pub window: Option<StoreWindow>,
}

/// The window of a windowed table's rows.
#[derive(Debug, Clone, Copy)]
pub struct StoreWindow {
    /// The column with the window start (BIGINT epoch ms).
    pub start_column: usize,
    /// The column with the window end (BIGINT epoch ms).
    pub end_column: usize,
    /// Session windows expire by their end, time windows by their start.
    pub session: bool,
    /// How long (ms of stream time) a window is kept.
    pub retention_ms: u64,
}

/// The bounds of a range read over the first key column; each bound is a
/// one-row array of that column's type.
#[derive(Debug, Clone)]
pub struct KeyRange {
    /// The lower bound.
    pub lower: Bound<ArrayRef>,
    /// The upper bound.
    pub upper: Bound<ArrayRef>,
}

/// Which rows a read returns.
#[derive(Debug, Clone)]
pub enum Selection {
    /// Every row, in key order.
    All,
    /// The rows of these keys: one array per key column (of the key
    /// column's type), one row per key. For a windowed table, every window
    /// of each key.
    Keys(Vec<ArrayRef>),
    /// The rows whose first key column lies in a range. The bounds select
    /// a superset: rows on an exclusive bound are included too.
    Range(KeyRange),
}

/// One partition's changelog records of the table: the partition, and its
/// `(key, value)` pairs sorted by key.
pub type PartitionRows<'a> = (i32, Vec<(&'a [u8], &'a [u8])>);

struct Entry {
    /// The value columns and the record time, in the row format.
    value: Box<[u8]>,
    /// For windowed tables, the time the retention is measured from.
    window_time: i64,
    /// The task (input partition) that wrote the row; -1 when the query
    /// runs as one task. A server drops the rows of the partitions the
    /// consumer group moves elsewhere.
    partition: i32,
}

struct State {
    rows: BTreeMap<Box<[u8]>, Entry>,
    stream_time: i64,
    next_purge: i64,
}

/// The materialized rows of one table, shared by the query that writes it
/// and the pull queries that read it.
pub struct Materialized {
    table: String,
    layout: StoreLayout,
    /// Key columns, then (windowed) the window start and end.
    key_rows: RowConverter,
    /// Key columns only: its rows are prefixes of `key_rows`' rows.
    prefix_rows: RowConverter,
    /// The first key column only, for ranges.
    first_rows: Option<RowConverter>,
    /// Value columns, then the record time.
    value_rows: RowConverter,
    key_types: Vec<DataType>,
    /// The types `key_rows` and `value_rows` convert.
    stored_types: (Vec<DataType>, Vec<DataType>),
    schema: SchemaRef,
    state: RwLock<State>,
}

impl std::fmt::Debug for Materialized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Materialized")
            .field("table", &self.table)
            .field("rows", &self.len())
            .finish()
    }
}

impl Materialized {
    /// A store for table `table`, fed batches of schema `input` laid out as
    /// `layout`.
    pub fn new(table: &str, input: &Schema, layout: StoreLayout) -> Result<Arc<Self>> {
        let field = |i: usize| -> Result<Field> {
            input
                .fields()
                .get(i)
                .map(|f| f.as_ref().clone())
                .ok_or_else(|| {
                    Error::internal(format!(
                        "the output of the query materializing '{table}' has no column {i}"
                    ))
                })
        };
        let key_fields: Vec<Field> = layout
            .key_columns
            .iter()
            .map(|&i| field(i))
            .collect::<Result<_>>()?;
        let value_fields: Vec<Field> = layout
            .value_columns
            .iter()
            .map(|&i| field(i))
            .collect::<Result<_>>()?;
        let key_types: Vec<DataType> = key_fields.iter().map(|f| f.data_type().clone()).collect();
        let sort = |types: &[DataType]| -> Result<RowConverter> {
            Ok(RowConverter::new(
                types.iter().map(|t| SortField::new(t.clone())).collect(),
            )?)
        };
        let mut full_key = key_types.clone();
        if layout.window.is_some() {
            full_key.extend([DataType::Int64, DataType::Int64]);
        }
        let mut values: Vec<DataType> =
            value_fields.iter().map(|f| f.data_type().clone()).collect();
        values.push(DataType::Int64);

        let nullable = |f: &Field| Field::new(f.name(), f.data_type().clone(), true);
        let mut fields: Vec<Field> = key_fields.iter().map(nullable).collect();
        if layout.window.is_some() {
            fields.push(Field::new(WINDOW_START_COLUMN, DataType::Int64, true));
            fields.push(Field::new(WINDOW_END_COLUMN, DataType::Int64, true));
        }
        fields.extend(value_fields.iter().map(nullable));
        fields.push(Field::new(ROWTIME_COLUMN, DataType::Int64, true));

        Ok(Arc::new(Materialized {
            table: table.to_string(),
            key_rows: sort(&full_key)?,
            prefix_rows: sort(&key_types)?,
            first_rows: key_types
                .first()
                .map(|t| sort(std::slice::from_ref(t)))
                .transpose()?,
            value_rows: sort(&values)?,
            key_types,
            stored_types: (full_key, values),
            schema: Arc::new(Schema::new(fields)),
            layout,
            state: RwLock::new(State {
                rows: BTreeMap::new(),
                stream_time: i64::MIN,
                next_purge: i64::MIN,
            }),
        }))
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// True for a table with windowed keys.
    pub fn is_windowed(&self) -> bool {
        self.layout.window.is_some()
    }

    /// The types of the key columns, in key order.
    pub fn key_types(&self) -> &[DataType] {
        &self.key_types
    }

    /// The schema of the batches [`Materialized::read`] returns: the key
    /// columns, [`WINDOW_START_COLUMN`] and [`WINDOW_END_COLUMN`] for a
    /// windowed table, the value columns, then [`ROWTIME_COLUMN`].
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// How many rows (keys, or key-windows) the store holds.
    pub fn len(&self) -> usize {
        self.read_lock().map(|s| s.rows.len()).unwrap_or(0)
    }

    /// The rows the store holds and their key and value bytes (a scan of
    /// every row: for metrics, not the hot path).
    pub fn size(&self) -> (usize, usize) {
        self.read_lock()
            .map(|s| {
                let bytes = s
                    .rows
                    .iter()
                    .map(|(k, e)| k.len() + e.value.len() + std::mem::size_of::<Entry>())
                    .sum();
                (s.rows.len(), bytes)
            })
            .unwrap_or((0, 0))
    }

    /// True when the store holds no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read_lock(&self) -> Result<RwLockReadGuard<'_, State>> {
        self.state.read().map_err(|_| self.poisoned())
    }

    fn write_lock(&self) -> Result<RwLockWriteGuard<'_, State>> {
        self.state.write().map_err(|_| self.poisoned())
    }

    fn poisoned(&self) -> Error {
        Error::internal(format!(
            "the materialized state of '{}' is unusable: a writer panicked",
            self.table
        ))
    }

    /// Applies one output batch of the materializing query: each row
    /// upserts its key, or deletes it when flagged as a null row.
    pub fn apply(&self, batch: &RecordBatch) -> Result<()> {
        self.apply_logged(batch, None, -1)
    }

    /// Applies one output batch, writing each change to `log` as a
    /// changelog record too (key: the stored key bytes; value: the window
    /// time, 8 bytes, then the stored value bytes), so that a restore can
    /// put the rows back.
    pub fn apply_logged(
        &self,
        batch: &RecordBatch,
        mut log: Option<&mut StateWriter>,
        partition: i32,
    ) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let column = |i: usize| -> Result<ArrayRef> {
            batch.columns().get(i).cloned().ok_or_else(|| {
                Error::internal(format!(
                    "the output of the query materializing '{}' has no column {i}",
                    self.table
                ))
            })
        };
        let bigint = |i: usize, what: &str| -> Result<Int64Array> {
            column(i)?
                .as_any()
                .downcast_ref::<Int64Array>()
                .cloned()
                .ok_or_else(|| {
                    Error::internal(format!(
                        "the {what} column of the query materializing '{}' is not BIGINT",
                        self.table
                    ))
                })
        };
        let mut key_columns: Vec<ArrayRef> = self
            .layout
            .key_columns
            .iter()
            .map(|&i| column(i))
            .collect::<Result<_>>()?;
        let mut window_times = None;
        if let Some(w) = &self.layout.window {
            key_columns.push(column(w.start_column)?);
            key_columns.push(column(w.end_column)?);
            window_times = Some(if w.session {
                bigint(w.end_column, "window end")?
            } else {
                bigint(w.start_column, "window start")?
            });
        }
        let mut value_columns: Vec<ArrayRef> = self
            .layout
            .value_columns
            .iter()
            .map(|&i| column(i))
            .collect::<Result<_>>()?;
        let rowtime = bigint(self.layout.rowtime_column, "ROWTIME")?;
        value_columns.push(Arc::new(rowtime.clone()));
        let deletes = column(self.layout.null_row_column)?;
        let deletes = deletes
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| {
                Error::internal(format!(
                    "the null-row column of the query materializing '{}' is not BOOLEAN",
                    self.table
                ))
            })?;
        let keys = self
            .key_rows
            .convert_columns(&conform(key_columns.clone(), &self.stored_types.0)?)?;
        let values = self
            .value_rows
            .convert_columns(&conform(value_columns, &self.stored_types.1)?)?;
        let batch_time = rowtime.iter().flatten().max();
        // As in ksqlDB, a table has no row for a null key.
        let key_count = self.layout.key_columns.len();
        let null_key =
            |i: usize| key_count > 0 && key_columns[..key_count].iter().all(|c| c.is_null(i));

        let mut state = self.write_lock()?;
        for i in 0..n {
            if null_key(i) {
                continue;
            }
            let key: Box<[u8]> = keys.row(i).data().into();
            if deletes.is_valid(i) && deletes.value(i) {
                state.rows.remove(&key);
                if let Some(log) = log.as_deref_mut() {
                    log.delete(&[&key]);
                }
                continue;
            }
            let window_time =
                window_times
                    .as_ref()
                    .map_or(0, |t| if t.is_valid(i) { t.value(i) } else { 0 });
            if let Some(log) = log.as_deref_mut() {
                log.put(&[&key], &[&window_time.to_be_bytes(), values.row(i).data()]);
            }
            state.rows.insert(
                key,
                Entry {
                    value: values.row(i).data().into(),
                    window_time,
                    partition,
                },
            );
        }
        if let Some(t) = batch_time {
            state.stream_time = state.stream_time.max(t);
        }
        if let Some(w) = &self.layout.window {
            if state.stream_time >= state.next_purge {
                let retention = i64::try_from(w.retention_ms).unwrap_or(i64::MAX);
                let oldest = state.stream_time.saturating_sub(retention);
                state.rows.retain(|_, e| e.window_time >= oldest);
                // Purging scans every row: do it again once stream time has
                // moved on by a fraction of the retention.
                state.next_purge = state.stream_time.saturating_add((retention / 16).max(1));
            }
        }
        Ok(())
    }

    /// What the stored rows look like, for the changelog's fingerprint.
    pub fn layout(&self) -> String {
        format!(
            "store/1 keys {:?} values {:?}",
            self.stored_types.0, self.stored_types.1
        )
    }

    /// The order of changelog records written by
    /// [`Materialized::apply_logged`] (`(key, value)` pairs) by key: the
    /// costly part of a restore, which can run for several partitions at
    /// once before [`Materialized::load`].
    pub fn sort_order(records: &[(&[u8], &[u8])]) -> Vec<u32> {
        // An 8-byte prefix decides most comparisons without a pointer chase.
        let prefix = |k: &[u8]| {
            let mut p = [0u8; 8];
            let n = k.len().min(8);
            p[..n].copy_from_slice(&k[..n]);
            u64::from_be_bytes(p)
        };
        let mut order: Vec<(u64, u32)> = records
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (prefix(k), i as u32))
            .collect();
        order.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| records[a.1 as usize].0.cmp(records[b.1 as usize].0))
        });
        order.into_iter().map(|(_, i)| i).collect()
    }

    /// Puts back rows from changelog records written by
    /// [`Materialized::apply_logged`], each part sorted by key (and the
    /// parts' keys distinct), in one bulk load.
    pub fn load(&self, parts: Vec<PartitionRows<'_>>) -> Result<()> {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let total: usize = parts.iter().map(|(_, p)| p.len()).sum();
        if total == 0 {
            return Ok(());
        }
        let mut rows: Vec<(Box<[u8]>, Entry)> = Vec::with_capacity(total);
        let mut newest = i64::MIN;
        // A k-way merge of the sorted parts.
        let mut heads: BinaryHeap<Reverse<(&[u8], usize, usize)>> = parts
            .iter()
            .enumerate()
            .filter_map(|(p, (_, part))| part.first().map(|(k, _)| Reverse((*k, p, 0))))
            .collect();
        while let Some(Reverse((key, p, i))) = heads.pop() {
            let (partition, part) = &parts[p];
            let (window_time, value) = take_i64(part[i].1)?;
            newest = newest.max(window_time);
            rows.push((
                key.into(),
                Entry {
                    value: value.into(),
                    window_time,
                    partition: *partition,
                },
            ));
            if let Some((k, _)) = part.get(i + 1) {
                heads.push(Reverse((*k, p, i + 1)));
            }
        }
        // Collecting a sorted vector builds the tree in bulk.
        let mut loaded: BTreeMap<Box<[u8]>, Entry> = rows.into_iter().collect();
        let mut state = self.write_lock()?;
        if state.rows.is_empty() {
            state.rows = loaded;
        } else {
            state.rows.append(&mut loaded);
        }
        state.stream_time = state.stream_time.max(newest);
        Ok(())
    }

    /// Drops the rows of `partitions` (moved to another server).
    pub fn drop_partitions(&self, partitions: &[i32]) -> Result<()> {
        if partitions.is_empty() {
            return Ok(());
        }
        let mut state = self.write_lock()?;
        state.rows.retain(|_, e| !partitions.contains(&e.partition));
        Ok(())
    }

    /// The selected rows, at most `limit` of them, as a batch of
    /// [`Materialized::schema`].
    pub fn read(&self, selection: &Selection, limit: Option<usize>) -> Result<RecordBatch> {
        self.read_in(selection, limit, None)
    }

    /// Like [`Materialized::read`], of the rows of `partitions` only when
    /// given (a server answering for the partitions it owns).
    pub fn read_in(
        &self,
        selection: &Selection,
        limit: Option<usize>,
        partitions: Option<&[i32]>,
    ) -> Result<RecordBatch> {
        let limit = limit.unwrap_or(usize::MAX);
        let mut keys = self.key_rows.empty_rows(0, 0);
        let mut values = self.value_rows.empty_rows(0, 0);
        let key_parser = self.key_rows.parser();
        let value_parser = self.value_rows.parser();
        let take = |k: &[u8], e: &Entry, keys: &mut Rows, values: &mut Rows| -> bool {
            if partitions.is_some_and(|ps| !ps.contains(&e.partition)) {
                return true;
            }
            keys.push(key_parser.parse(k));
            values.push(value_parser.parse(&e.value));
            keys.num_rows() < limit
        };
        match selection {
            Selection::All => {
                let state = self.read_lock()?;
                for (k, e) in &state.rows {
                    if !take(k, e, &mut keys, &mut values) {
                        break;
                    }
                }
            }
            Selection::Keys(columns) => {
                let columns = self.cast_keys(columns)?;
                let encoded = self.prefix_rows.convert_columns(&columns)?;
                // Each key once, in key order.
                let prefixes: BTreeSet<&[u8]> = encoded.iter().map(|r| r.data()).collect();
                let state = self.read_lock()?;
                'keys: for prefix in prefixes {
                    let from = (Bound::Included(prefix), Bound::Unbounded);
                    for (k, e) in state.rows.range::<[u8], _>(from) {
                        if !k.starts_with(prefix) {
                            break;
                        }
                        if !take(k, e, &mut keys, &mut values) {
                            break 'keys;
                        }
                    }
                }
            }
            Selection::Range(range) => {
                let Some(first) = &self.first_rows else {
                    return self.read_in(&Selection::All, Some(limit), partitions);
                };
                let encode = |bound: &Bound<ArrayRef>| -> Result<Option<Box<[u8]>>> {
                    match bound {
                        Bound::Unbounded => Ok(None),
                        Bound::Included(a) | Bound::Excluded(a) => {
                            let a = self.cast_first(a)?;
                            let rows = first.convert_columns(&[a])?;
                            Ok(rows.iter().next().map(|r| r.data().into()))
                        }
                    }
                };
                let lower = encode(&range.lower)?;
                let upper = encode(&range.upper)?;
                let state = self.read_lock()?;
                let from = match &lower {
                    Some(l) => Bound::Included(l.as_ref()),
                    None => Bound::Unbounded,
                };
                for (k, e) in state.rows.range::<[u8], _>((from, Bound::Unbounded)) {
                    // Encodings are prefix-free: a key beyond the bound
                    // differs from it within the bound's length.
                    if let Some(u) = &upper {
                        if &k[..u.len().min(k.len())] > u.as_ref() {
                            break;
                        }
                    }
                    if !take(k, e, &mut keys, &mut values) {
                        break;
                    }
                }
            }
        }
        let mut columns = self.key_rows.convert_rows(keys.iter())?;
        columns.extend(self.value_rows.convert_rows(values.iter())?);
        Ok(RecordBatch::try_new(self.schema(), columns)?)
    }

    fn cast_keys(&self, columns: &[ArrayRef]) -> Result<Vec<ArrayRef>> {
        if columns.len() != self.key_types.len() {
            return Err(Error::internal(format!(
                "a lookup in '{}' gave {} key columns, the table has {}",
                self.table,
                columns.len(),
                self.key_types.len()
            )));
        }
        columns
            .iter()
            .zip(&self.key_types)
            .map(|(c, t)| {
                if c.data_type() == t {
                    Ok(Arc::clone(c))
                } else {
                    Ok(arrow::compute::cast(c, t)?)
                }
            })
            .collect()
    }

    fn cast_first(&self, a: &ArrayRef) -> Result<ArrayRef> {
        match self.key_types.first() {
            Some(t) if a.data_type() != t => Ok(arrow::compute::cast(a, t)?),
            _ => Ok(Arc::clone(a)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, StringArray};

    fn batch(
        keys: Vec<Option<&str>>,
        values: Vec<i32>,
        times: Vec<i64>,
        deletes: Vec<bool>,
        window: Option<(Vec<i64>, Vec<i64>)>,
    ) -> RecordBatch {
        let mut fields = vec![
            Field::new("K", DataType::Utf8, true),
            Field::new("V", DataType::Int32, true),
            Field::new("$ROWTIME", DataType::Int64, true),
            Field::new("$NULLROW", DataType::Boolean, true),
        ];
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(keys)),
            Arc::new(Int32Array::from(values)),
            Arc::new(Int64Array::from(times)),
            Arc::new(BooleanArray::from(deletes)),
        ];
        if let Some((s, e)) = window {
            fields.push(Field::new("$WS", DataType::Int64, true));
            fields.push(Field::new("$WE", DataType::Int64, true));
            columns.push(Arc::new(Int64Array::from(s)));
            columns.push(Arc::new(Int64Array::from(e)));
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    fn layout(window: Option<StoreWindow>) -> StoreLayout {
        StoreLayout {
            key_columns: vec![0],
            value_columns: vec![1],
            rowtime_column: 2,
            null_row_column: 3,
            window,
        }
    }

    fn keys_of(b: &RecordBatch) -> Vec<String> {
        let k = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        k.iter().map(|v| v.unwrap_or("-").to_string()).collect()
    }

    fn store(window: Option<StoreWindow>) -> Arc<Materialized> {
        let schema = batch(
            vec![],
            vec![],
            vec![],
            vec![],
            window.map(|_| (vec![], vec![])),
        )
        .schema();
        Materialized::new("T", &schema, layout(window)).unwrap()
    }

    #[test]
    fn upserts_and_deletes_by_key() {
        let m = store(None);
        m.apply(&batch(
            vec![Some("b"), Some("a"), Some("c"), Some("a")],
            vec![1, 2, 3, 4],
            vec![10, 20, 30, 40],
            vec![false, false, false, false],
            None,
        ))
        .unwrap();
        m.apply(&batch(vec![Some("c")], vec![0], vec![50], vec![true], None))
            .unwrap();
        let all = m.read(&Selection::All, None).unwrap();
        assert_eq!(keys_of(&all), ["a", "b"]);
        let v = all.column(1).as_any().downcast_ref::<Int32Array>().unwrap();
        assert_eq!(v.values(), &[4, 1]);
        let t = all.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(t.values(), &[40, 10]);
        assert_eq!(m.len(), 2);
        assert_eq!(keys_of(&m.read(&Selection::All, Some(1)).unwrap()), ["a"]);
    }

    #[test]
    fn reads_keys_and_ranges() {
        let m = store(None);
        let ks = ["10", "11", "12", "13", "14", "1"];
        m.apply(&batch(
            ks.iter().map(|k| Some(*k)).collect(),
            vec![0; 6],
            vec![1; 6],
            vec![false; 6],
            None,
        ))
        .unwrap();
        let lookup = |keys: Vec<&str>| {
            let a: ArrayRef = Arc::new(StringArray::from(keys));
            keys_of(&m.read(&Selection::Keys(vec![a]), None).unwrap())
        };
        assert_eq!(lookup(vec!["12", "10", "12", "99"]), ["10", "12"]);
        let one = |v: &str| -> ArrayRef { Arc::new(StringArray::from(vec![v])) };
        let range = |lower, upper| {
            keys_of(
                &m.read(&Selection::Range(KeyRange { lower, upper }), None)
                    .unwrap(),
            )
        };
        assert_eq!(
            range(Bound::Included(one("11")), Bound::Excluded(one("13"))),
            ["11", "12", "13"]
        );
        assert_eq!(
            range(Bound::Unbounded, Bound::Included(one("10"))),
            ["1", "10"]
        );
        assert_eq!(
            range(Bound::Excluded(one("13")), Bound::Unbounded),
            ["13", "14"]
        );
    }

    #[test]
    fn windowed_rows_are_found_by_key_and_expire() {
        let w = StoreWindow {
            start_column: 4,
            end_column: 5,
            session: false,
            retention_ms: 100,
        };
        let m = store(Some(w));
        m.apply(&batch(
            vec![Some("a"), Some("a"), Some("ab"), Some("b")],
            vec![1, 2, 3, 4],
            vec![5, 15, 15, 15],
            vec![false; 4],
            Some((vec![0, 10, 10, 10], vec![10, 20, 20, 20])),
        ))
        .unwrap();
        let a: ArrayRef = Arc::new(StringArray::from(vec!["a"]));
        let found = m
            .read(&Selection::Keys(vec![Arc::clone(&a)]), None)
            .unwrap();
        assert_eq!(keys_of(&found), ["a", "a"]);
        let starts = found
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(starts.values(), &[0, 10]);
        // Stream time 105: the window starting at 0 is past its retention.
        m.apply(&batch(
            vec![Some("c")],
            vec![5],
            vec![105],
            vec![false],
            Some((vec![100], vec![110])),
        ))
        .unwrap();
        let found = m.read(&Selection::Keys(vec![a]), None).unwrap();
        assert_eq!(found.num_rows(), 1);
        assert_eq!(m.len(), 4);
    }
}
