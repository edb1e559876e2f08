//! Reading a task's state back from its changelog partition.
//!
//! The partition is read from its start to the end offset it had when the
//! restore began, with a manually assigned reader (no consumer group). The
//! latest record of each key wins; records count only once a commit marker
//! follows them ("sealed"). What follows the last marker was written by an
//! interval that never committed: it is left out, and the keys it touched
//! are returned as corrections to write back.
//!
//! The bytes read are appended to one buffer per partition and the tables
//! index into it, so that a restore allocates nothing per record.

use std::collections::HashMap;
use std::ops::Range;
use std::time::{Duration, Instant};

use ahash::RandomState;
use hashbrown::HashTable;

use super::{Marker, MARKER, STATE_VERSION};
use crate::error::{Error, Result};
use crate::runtime::io::Broker;

/// A changelog record's key and value (`None`: a tombstone).
pub type Record = (Box<[u8]>, Option<Box<[u8]>>);

/// Each component's records: key and value bytes after their first byte.
pub type ByComponent<'a> = HashMap<u8, Vec<(&'a [u8], &'a [u8])>>;

/// How much a restore read, and how fast.
#[derive(Debug, Clone, Copy, Default)]
pub struct RestoreStats {
    /// Changelog records read.
    pub records: u64,
    /// Bytes of keys and values read.
    pub bytes: u64,
    /// Time spent reading.
    pub elapsed: Duration,
}

/// A record in the buffer: its key, its value (`None`: a tombstone) and
/// the key's hash.
#[derive(Debug, Clone)]
struct Entry {
    key: Range<usize>,
    value: Option<Range<usize>>,
    hash: u64,
}

/// The state of one task as its changelog holds it.
#[derive(Debug, Default)]
pub struct RestoredState {
    /// Every byte read, back to back.
    buffer: Vec<u8>,
    /// The latest sealed value of every live key (keys with their component
    /// byte, values with their version byte), as ranges of `buffer`.
    sealed: Vec<(Range<usize>, Range<usize>)>,
    /// The last commit marker, if any.
    pub marker: Option<Marker>,
    /// Keys written after the last marker, each with its sealed value
    /// (`None`: deleted), to be written back before anything else.
    pub corrections: Vec<Record>,
    /// What was read.
    pub stats: RestoreStats,
    /// Offsets the broker deleted before they could be read (retention):
    /// the state may miss keys.
    pub lost: Option<(i64, i64)>,
}

impl RestoredState {
    /// How many live keys the state has.
    pub fn len(&self) -> usize {
        self.sealed.len()
    }

    /// True when the state is empty.
    pub fn is_empty(&self) -> bool {
        self.sealed.is_empty()
    }

    /// Every live key and its value: keys with their component byte,
    /// values with their version byte.
    pub fn records(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.sealed
            .iter()
            .map(|(k, v)| (&self.buffer[k.clone()], &self.buffer[v.clone()]))
    }

    /// The records of one component, as in [`RestoredState::by_component`].
    pub fn component(&self, component: u8) -> Result<Vec<(&[u8], &[u8])>> {
        let mut out = Vec::new();
        for (k, v) in self.records() {
            if k.first() != Some(&component) {
                continue;
            }
            out.push((&k[1..], versioned(v)?));
        }
        Ok(out)
    }

    /// The records of each component: key bytes after the component byte,
    /// value bytes after the version byte. An error for a value of another
    /// layout version.
    pub fn by_component(&self) -> Result<ByComponent<'_>> {
        let mut out = ByComponent::new();
        for (k, v) in self.records() {
            if let Some((&component, key)) = k.split_first() {
                out.entry(component).or_default().push((key, versioned(v)?));
            }
        }
        Ok(out)
    }
}

/// A value's bytes after its version byte, or an error for another layout
/// version.
fn versioned(v: &[u8]) -> Result<&[u8]> {
    match v.split_first() {
        Some((&STATE_VERSION, value)) => Ok(value),
        Some((version, _)) => Err(Error::external(format!(
            "a changelog record has state layout version {version}; this sluice reads \
             version {STATE_VERSION}"
        ))),
        None => Err(Error::external("a changelog record has an empty value")),
    }
}

/// One partition's records as they are read.
#[derive(Default)]
struct Builder {
    buffer: Vec<u8>,
    hasher: RandomState,
    /// The latest sealed record of each key.
    sealed: HashTable<Entry>,
    /// The records after the last marker, in order.
    tail: Vec<Entry>,
    marker: Option<Marker>,
    stats: RestoreStats,
    lost: Option<(i64, i64)>,
}

impl Builder {
    fn push(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.buffer.len();
        self.buffer.extend_from_slice(bytes);
        start..self.buffer.len()
    }

    fn add(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
        topic: &str,
        partition: i32,
        fingerprint: u64,
    ) -> Result<()> {
        self.stats.records += 1;
        self.stats.bytes += (key.len() + value.map_or(0, <[u8]>::len)) as u64;
        if key != [MARKER] {
            let hash = self.hasher.hash_one(key);
            let key = self.push(key);
            let value = value.map(|v| self.push(v));
            self.tail.push(Entry { key, value, hash });
            return Ok(());
        }
        let m = Marker::parse(value.unwrap_or_default()).map_err(|e| {
            e.context(format!(
                "restoring partition {partition} of changelog '{topic}'"
            ))
        })?;
        if m.fingerprint != fingerprint {
            return Err(Error::external(format!(
                "partition {partition} of changelog '{topic}' holds state of another layout \
                 (fingerprint {:016x}, the query's is {fingerprint:016x}): the query's \
                 aggregation changed since the state was written; drop and recreate the query \
                 to start from empty state",
                m.fingerprint
            )));
        }
        let buffer = &self.buffer;
        for e in self.tail.drain(..) {
            let found = self
                .sealed
                .find_entry(e.hash, |s| buffer[s.key.clone()] == buffer[e.key.clone()]);
            match (found, e.value.is_some()) {
                (Ok(mut slot), true) => *slot.get_mut() = e,
                (Ok(slot), false) => {
                    slot.remove();
                }
                (Err(_), true) => {
                    self.sealed.insert_unique(e.hash, e, |s| s.hash);
                }
                (Err(_), false) => {}
            }
        }
        self.marker = Some(m);
        Ok(())
    }

    fn finish(self, elapsed: Duration) -> RestoredState {
        let Builder {
            buffer,
            sealed,
            tail,
            marker,
            stats,
            lost,
            ..
        } = self;
        let lookup = |e: &Entry| {
            sealed
                .find(e.hash, |s| buffer[s.key.clone()] == buffer[e.key.clone()])
                .and_then(|s| s.value.clone())
        };
        // Each key of the tail once, with its sealed value.
        let mut seen: HashTable<usize> = HashTable::new();
        let mut corrections = Vec::new();
        for (i, e) in tail.iter().enumerate() {
            let dup = seen
                .find(e.hash, |&j| {
                    buffer[tail[j].key.clone()] == buffer[e.key.clone()]
                })
                .is_some();
            if dup {
                continue;
            }
            seen.insert_unique(e.hash, i, |&j| tail[j].hash);
            let key: Box<[u8]> = buffer[e.key.clone()].into();
            corrections.push((key, lookup(e).map(|v| buffer[v].into())));
        }
        let sealed = sealed
            .into_iter()
            .filter_map(|e| Some((e.key, e.value?)))
            .collect();
        RestoredState {
            buffer,
            sealed,
            marker,
            corrections,
            stats: RestoreStats { elapsed, ..stats },
            lost,
        }
    }
}

/// Reads partition `partition` of the changelog `topic`. `fingerprint` is
/// the query's state layout: a marker written with another layout is an
/// error, never a silent misreading.
pub async fn read_changelog(
    broker: &dyn Broker,
    topic: &str,
    partition: i32,
    fingerprint: u64,
) -> Result<RestoredState> {
    read_changelogs(broker, topic, &[partition], fingerprint, false)
        .await?
        .pop()
        .ok_or_else(|| Error::internal("a changelog read returned nothing"))
}

/// Reads `partitions` of the changelog `topic` with one reader; the
/// states in the order of `partitions`.
pub async fn read_changelogs(
    broker: &dyn Broker,
    topic: &str,
    partitions: &[i32],
    fingerprint: u64,
    committed: bool,
) -> Result<Vec<RestoredState>> {
    let started = Instant::now();
    let mut builders: HashMap<i32, Builder> = partitions
        .iter()
        .map(|&p| (p, Builder::default()))
        .collect();
    // Under exactly-once the changelog is read committed: what aborted
    // transactions wrote is not state.
    let mut reader = if committed {
        broker.read_committed_partitions(topic, partitions)?
    } else {
        broker.read_partitions(topic, partitions)?
    };
    while let Some(batch) = reader.next().await? {
        for gap in &batch.gaps {
            if let Some(b) = builders.get_mut(&gap.partition) {
                b.lost = Some((gap.from, gap.to));
            }
        }
        for i in 0..batch.len() {
            let Some(key) = batch.keys.get(i) else {
                continue;
            };
            let p = batch.partitions[i];
            if let Some(b) = builders.get_mut(&p) {
                b.add(key, batch.values.get(i), topic, p, fingerprint)?;
            }
        }
    }
    let elapsed = started.elapsed();
    Ok(partitions
        .iter()
        .map(|p| builders.remove(p).unwrap_or_default().finish(elapsed))
        .collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::runtime::memory::MemoryBroker;
    use crate::runtime::state::StateWriter;

    async fn write(broker: &Arc<MemoryBroker>, w: &mut StateWriter) {
        let mut writer = broker.writer("cl").unwrap();
        writer.write(&w.take_batch(1, 0)).await.unwrap();
    }

    #[tokio::test]
    async fn only_records_before_the_last_marker_count() {
        let broker = MemoryBroker::new();
        broker.ensure_topic("cl", 2).unwrap();
        let mut w = StateWriter::new();
        w.component(0).put(&[b"a"], &[b"1"]);
        w.component(0).put(&[b"b"], &[b"1"]);
        w.marker(10, 9);
        w.component(0).put(&[b"a"], &[b"2"]);
        w.component(0).delete(&[b"b"]);
        w.marker(20, 9);
        // An interval cut short by a crash: no marker follows.
        w.component(0).put(&[b"a"], &[b"3"]);
        w.component(0).delete(&[b"c"]);
        w.component(0).put(&[b"d"], &[b"3"]);
        write(&broker, &mut w).await;

        let state = read_changelog(&broker, "cl", 1, 9).await.unwrap();
        assert_eq!(state.marker.as_ref().map(|m| m.next_offset), Some(20));
        let by = state.by_component().unwrap();
        let mut zero = by[&0].clone();
        zero.sort();
        assert_eq!(zero, vec![(&b"a"[..], &b"2"[..])]);
        let mut corrections: Vec<_> = state
            .corrections
            .iter()
            .map(|(k, v)| (k.to_vec(), v.as_ref().map(|v| v.to_vec())))
            .collect();
        corrections.sort();
        assert_eq!(
            corrections,
            vec![
                (vec![0, b'a'], Some(vec![STATE_VERSION, b'2'])),
                (vec![0, b'c'], None),
                (vec![0, b'd'], None),
            ]
        );
        assert_eq!(state.stats.records, 9);

        // Partition 0 is empty.
        let empty = read_changelog(&broker, "cl", 0, 9).await.unwrap();
        assert!(empty.marker.is_none() && empty.is_empty());
    }

    #[tokio::test]
    async fn a_marker_of_another_layout_is_an_error() {
        let broker = MemoryBroker::new();
        broker.ensure_topic("cl", 2).unwrap();
        let mut w = StateWriter::new();
        w.marker(1, 5);
        write(&broker, &mut w).await;
        let err = read_changelog(&broker, "cl", 1, 6).await.unwrap_err();
        assert!(err.to_string().contains("another layout"), "{err}");
    }
}
