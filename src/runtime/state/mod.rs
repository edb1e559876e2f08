//! Operator state, per task, backed by a changelog partition.
//!
//! A persistent query with state runs one *task* per input partition (as
//! Kafka Streams does): each task owns a fresh instance of every stateful
//! operator, and partition N of the query's changelog topic holds exactly
//! the state of input partition N. Operators keep their state in their own
//! in-memory structures (slots, accumulators, row-format maps); what they
//! changed since the last commit they write as changelog records through a
//! [`StateWriter`], and after a restart they rebuild it from the latest
//! record of each key ([`restore`]).
//!
//! Record layout (version [`STATE_VERSION`]):
//! - key: one byte naming the component (the operator's position in the
//!   pipeline, [`STORE`] for the materialized table, [`MARKER`] for the
//!   commit marker), then the component's own key bytes;
//! - value: the version byte, then the component's value bytes; a null
//!   value (tombstone) deletes the key.
//!
//! **Commit markers.** At every commit a task writes, after that interval's
//! state records, a marker to its changelog partition with the next input
//! offset to process and the fingerprint of the query's state layout; only
//! then are output and changelog flushed and the input offsets committed.
//! Restore applies the changelog up to the last marker and resumes input at
//! the marker's offset, so after a `kill -9` at any moment the state is
//! exactly the state after the marker's input: an aggregate is never
//! counted twice nor reset, while output records of an interval that was
//! cut short may be written again (at-least-once). Records after the last
//! marker (an interval cut short) are discarded; the restore then writes
//! the sealed value (or a tombstone) of every key they touched, followed by
//! a marker, so that neither a later restore nor log compaction can mistake
//! them for state.

mod restore;

pub use restore::{
    read_changelog, read_changelogs, ByComponent, Record, RestoreStats, RestoredState,
};

use crate::error::{Error, Result};
use crate::format::Encoded;
use crate::runtime::io::{CommitPosition, OutBatch, TopicWriter};

/// The first key byte of a commit marker.
pub const MARKER: u8 = 0xFF;
/// The first key byte of the materialized table's rows.
pub const STORE: u8 = 0xFE;
/// The version byte every changelog value starts with.
pub const STATE_VERSION: u8 = 1;

/// Changelog records of one task, collected between two commits: keys and
/// values back to back, no allocation per record.
#[derive(Debug, Default)]
pub struct StateWriter {
    component: u8,
    keys: Encoded,
    values: Encoded,
}

impl StateWriter {
    /// An empty set of records.
    pub fn new() -> Self {
        let mut w = StateWriter::default();
        w.keys.offsets.push(0);
        w.values.offsets.push(0);
        w
    }

    /// Records written next belong to `component`.
    pub fn component(&mut self, component: u8) -> &mut Self {
        self.component = component;
        self
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.keys.nulls.len()
    }

    /// True when there are no records.
    pub fn is_empty(&self) -> bool {
        self.keys.nulls.is_empty()
    }

    fn push_key(&mut self, key: &[&[u8]]) {
        self.keys.data.push(self.component);
        for part in key {
            self.keys.data.extend_from_slice(part);
        }
        self.keys.offsets.push(self.keys.data.len());
        self.keys.nulls.push(false);
    }

    /// Sets `key` (the concatenation of its parts) to `value`.
    pub fn put(&mut self, key: &[&[u8]], value: &[&[u8]]) {
        self.push_key(key);
        self.values.data.push(STATE_VERSION);
        for part in value {
            self.values.data.extend_from_slice(part);
        }
        self.values.offsets.push(self.values.data.len());
        self.values.nulls.push(false);
    }

    /// Deletes `key`.
    pub fn delete(&mut self, key: &[&[u8]]) {
        self.push_key(key);
        self.values.offsets.push(self.values.data.len());
        self.values.nulls.push(true);
    }

    /// Appends a raw record (key with its component byte, value with its
    /// version byte), as read back from a changelog.
    pub fn put_raw(&mut self, key: &[u8], value: Option<&[u8]>) {
        self.keys.data.extend_from_slice(key);
        self.keys.offsets.push(self.keys.data.len());
        self.keys.nulls.push(false);
        if let Some(v) = value {
            self.values.data.extend_from_slice(v);
        }
        self.values.offsets.push(self.values.data.len());
        self.values.nulls.push(value.is_none());
    }

    /// Moves every record to `out`, in `out`'s current component (for an
    /// operator collecting its changes between checkpoints).
    pub fn drain_into(&mut self, out: &mut StateWriter) {
        for i in 0..self.len() {
            let (k0, k1) = (self.keys.offsets[i], self.keys.offsets[i + 1]);
            out.keys.data.push(out.component);
            out.keys.data.extend_from_slice(&self.keys.data[k0 + 1..k1]);
            out.keys.offsets.push(out.keys.data.len());
            out.keys.nulls.push(false);
            let (v0, v1) = (self.values.offsets[i], self.values.offsets[i + 1]);
            out.values.data.extend_from_slice(&self.values.data[v0..v1]);
            out.values.offsets.push(out.values.data.len());
            out.values.nulls.push(self.values.nulls[i]);
        }
        *self = StateWriter::new();
    }

    /// Appends the commit marker: input resumes at `next_offset`.
    pub fn marker(&mut self, next_offset: i64, fingerprint: u64) {
        self.marker_with(next_offset, fingerprint, &[]);
    }

    /// Appends the commit marker of a task reading more than one input
    /// partition (a join): input resumes at `next_offset` in the task's own
    /// partition of input 0 (-1 when it has none) and at each of `more`.
    pub fn marker_with(&mut self, next_offset: i64, fingerprint: u64, more: &[CommitPosition]) {
        self.component = MARKER;
        let mut extra = Vec::with_capacity(more.len() * 14);
        for &(input, partition, offset) in more {
            extra.extend_from_slice(&(input as u16).to_be_bytes());
            extra.extend_from_slice(&partition.to_be_bytes());
            extra.extend_from_slice(&offset.to_be_bytes());
        }
        self.put(
            &[],
            &[
                &next_offset.to_be_bytes(),
                &fingerprint.to_be_bytes(),
                &extra,
            ],
        );
    }

    /// The records as a batch for `partition`, leaving the writer empty.
    pub fn take_batch(&mut self, partition: i32, timestamp: i64) -> OutBatch {
        let keys = std::mem::replace(&mut self.keys, fresh());
        let values = std::mem::replace(&mut self.values, fresh());
        let n = keys.nulls.len();
        OutBatch {
            keys,
            values,
            timestamps: vec![timestamp; n],
            headers: None,
            partition: Some(partition),
        }
    }
}

fn fresh() -> Encoded {
    Encoded {
        data: Vec::new(),
        offsets: vec![0],
        nulls: Vec::new(),
    }
}

/// A commit marker as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// The next input offset of the task's partition (-1: none).
    pub next_offset: i64,
    /// The state layout the records before it were written with.
    pub fingerprint: u64,
    /// The next offsets of the other input partitions of a join's task.
    pub more: Vec<CommitPosition>,
}

impl Marker {
    /// Parses a marker value (version byte included).
    pub fn parse(value: &[u8]) -> Result<Marker> {
        match value {
            [STATE_VERSION, rest @ ..] if rest.len() >= 16 && (rest.len() - 16) % 14 == 0 => {
                let more = rest[16..]
                    .chunks_exact(14)
                    .map(|c| {
                        let input = u16::from_be_bytes([c[0], c[1]]) as usize;
                        let partition = i32::from_be_bytes([c[2], c[3], c[4], c[5]]);
                        Ok((input, partition, i64::from_be_bytes(array8(&c[6..])?)))
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Marker {
                    next_offset: i64::from_be_bytes(array8(&rest[..8])?),
                    fingerprint: u64::from_be_bytes(array8(&rest[8..16])?),
                    more,
                })
            }
            [v, ..] if *v > STATE_VERSION => Err(Error::external(format!(
                "the changelog was written by a newer sluice (state layout version {v}; this \
                 sluice reads version {STATE_VERSION})"
            ))),
            _ => Err(Error::external(
                "a commit marker in the changelog is malformed",
            )),
        }
    }
}

/// The first eight bytes of `b` as an array.
pub fn array8(b: &[u8]) -> Result<[u8; 8]> {
    b.get(..8)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .ok_or_else(|| Error::external("a changelog record is truncated"))
}

/// Reads a big-endian i64 at the start of `b`, returning it and the rest.
pub fn take_i64(b: &[u8]) -> Result<(i64, &[u8])> {
    Ok((i64::from_be_bytes(array8(b)?), &b[8..]))
}

/// `columns` cast where their type differs from `types` (an accumulator
/// may build e.g. a list with another field name than the row format
/// expects); an error when there are not as many columns as types.
pub fn conform(
    columns: Vec<arrow::array::ArrayRef>,
    types: &[arrow::datatypes::DataType],
) -> Result<Vec<arrow::array::ArrayRef>> {
    if columns.len() != types.len() {
        return Err(Error::internal(format!(
            "{} columns for a layout of {}",
            columns.len(),
            types.len()
        )));
    }
    columns
        .into_iter()
        .zip(types)
        .map(|(c, t)| {
            if c.data_type() == t {
                Ok(c)
            } else {
                Ok(arrow::compute::cast(&c, t)?)
            }
        })
        .collect()
}

/// A stable 64-bit hash (FNV-1a) of a state layout's description: equal
/// descriptions give equal fingerprints in every build of sluice.
pub fn fingerprint(description: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in description.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Writes a task's collected records (and marker) to its changelog
/// partition.
pub async fn write(
    writer: &mut dyn TopicWriter,
    records: &mut StateWriter,
    partition: i32,
) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let batch = records.take_batch(partition, chrono::Utc::now().timestamp_millis());
    writer.write(&batch).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_component_and_version() {
        let mut w = StateWriter::new();
        w.component(3).put(&[b"G", b"k"], &[b"v"]);
        w.component(STORE).delete(&[b"x"]);
        w.marker(42, 7);
        let b = w.take_batch(2, 0);
        assert_eq!(b.keys.get(0), Some(&[3, b'G', b'k'][..]));
        assert_eq!(b.values.get(0), Some(&[STATE_VERSION, b'v'][..]));
        assert_eq!(b.keys.get(1), Some(&[STORE, b'x'][..]));
        assert_eq!(b.values.get(1), None);
        assert_eq!(b.keys.get(2), Some(&[MARKER][..]));
        let m = Marker::parse(b.values.get(2).unwrap()).unwrap();
        assert_eq!(
            m,
            Marker {
                next_offset: 42,
                fingerprint: 7,
                more: Vec::new(),
            }
        );
        assert_eq!(b.partition, Some(2));
        assert!(w.is_empty());
    }

    #[test]
    fn fingerprints_are_stable() {
        assert_eq!(fingerprint(""), 0xcbf2_9ce4_8422_2325);
        assert_ne!(fingerprint("a"), fingerprint("b"));
    }
}
