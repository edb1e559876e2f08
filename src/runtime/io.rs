//! The I/O ports: what a query reads from and writes to.
//!
//! [`Broker`] hands out [`TopicReader`]s, [`TopicWriter`]s and a
//! [`TopicAdmin`]. Two adapters implement them: Kafka (`crate::kafka`) for
//! production and [`super::memory`] for deterministic tests. Both run the
//! very same pipeline.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::error::Result;
use crate::format::Encoded;

/// Payloads of a batch of records (keys or values), in one buffer.
pub type Payloads = Encoded;

/// Consumer lag by topic and partition: records between a reader's
/// position and the partition's end, as of its last fetch.
pub type LagSink =
    std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<(std::sync::Arc<str>, i32), i64>>>;

/// One Kafka header.
pub type Header = (String, Option<Vec<u8>>);

/// Records read from a topic, column by column.
#[derive(Debug, Default, Clone)]
pub struct RawBatch {
    /// The topic they were read from.
    pub topic: Arc<str>,
    /// Which of the reader's topics that is: 0 for [`ReaderSpec::topic`],
    /// `i` for `ReaderSpec::also[i - 1]`.
    pub input: usize,
    /// Record keys.
    pub keys: Payloads,
    /// Record values.
    pub values: Payloads,
    /// Record timestamps (epoch ms).
    pub timestamps: Vec<i64>,
    /// Partition of each record.
    pub partitions: Vec<i32>,
    /// Offset of each record.
    pub offsets: Vec<i64>,
    /// Headers of each record; empty when the reader was not asked for them.
    pub headers: Vec<Vec<Header>>,
    /// Ranges of offsets the reader found deleted (by retention) before
    /// they could be read: data loss to report, never to hide.
    pub gaps: Vec<OffsetGap>,
}

/// Offsets `from..=to` of a partition that were skipped because the broker
/// no longer had them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetGap {
    /// The partition.
    pub partition: i32,
    /// First lost offset.
    pub from: i64,
    /// Last lost offset.
    pub to: i64,
}

impl RawBatch {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    /// True when there are no records.
    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    /// The first `at` records and the rest (gaps go with the first part).
    pub fn split_at(mut self, at: usize) -> (RawBatch, RawBatch) {
        if at >= self.len() {
            let rest = RawBatch {
                topic: Arc::clone(&self.topic),
                input: self.input,
                ..RawBatch::default()
            };
            return (self, rest);
        }
        let mut rest = RawBatch {
            topic: Arc::clone(&self.topic),
            input: self.input,
            ..RawBatch::default()
        };
        for (from, to) in [
            (&mut self.keys, &mut rest.keys),
            (&mut self.values, &mut rest.values),
        ] {
            let cut = from.offsets[at];
            to.data = from.data.split_off(cut);
            to.offsets = from.offsets[at..].iter().map(|o| o - cut).collect();
            from.offsets.truncate(at + 1);
            to.nulls = from.nulls.split_off(at);
        }
        rest.timestamps = self.timestamps.split_off(at);
        rest.partitions = self.partitions.split_off(at);
        rest.offsets = self.offsets.split_off(at);
        if self.headers.len() > at {
            rest.headers = self.headers.split_off(at);
        }
        (self, rest)
    }

    /// The records at `rows`, in that order (gaps of their partition go
    /// with them).
    pub fn select(&self, rows: &[usize]) -> RawBatch {
        let batch = self;
        let mut out = RawBatch {
            topic: Arc::clone(&batch.topic),
            input: batch.input,
            ..RawBatch::default()
        };
        out.keys.offsets.push(0);
        out.values.offsets.push(0);
        for &i in rows {
            push_payload(&mut out.keys, batch.keys.get(i));
            push_payload(&mut out.values, batch.values.get(i));
            out.timestamps.push(batch.timestamps[i]);
            out.partitions.push(batch.partitions[i]);
            out.offsets.push(batch.offsets[i]);
            if let Some(h) = batch.headers.get(i) {
                out.headers.push(h.clone());
            }
        }
        out.gaps = batch
            .gaps
            .iter()
            .filter(|g| rows.iter().any(|&r| batch.partitions[r] == g.partition))
            .copied()
            .collect();
        out
    }

    /// The record at `row` alone.
    pub fn slice(&self, row: usize) -> RawBatch {
        let mut out = RawBatch {
            topic: Arc::clone(&self.topic),
            input: self.input,
            ..RawBatch::default()
        };
        out.keys.offsets.push(0);
        out.values.offsets.push(0);
        for (from, to) in [(&self.keys, &mut out.keys), (&self.values, &mut out.values)] {
            let payload = from.get(row);
            if let Some(b) = payload {
                to.data.extend_from_slice(b);
            }
            to.nulls.push(payload.is_none());
            to.offsets.push(to.data.len());
        }
        out.timestamps.push(self.timestamps[row]);
        out.partitions.push(self.partitions[row]);
        out.offsets.push(self.offsets[row]);
        if let Some(h) = self.headers.get(row) {
            out.headers.push(h.clone());
        }
        out
    }
}

/// Appends one payload (or a null) to `p`.
pub(crate) fn push_payload(p: &mut Encoded, payload: Option<&[u8]>) {
    if let Some(b) = payload {
        p.data.extend_from_slice(b);
    }
    p.nulls.push(payload.is_none());
    p.offsets.push(p.data.len());
}

/// Records to write to a topic.
#[derive(Debug, Default, Clone)]
pub struct OutBatch {
    /// Record keys.
    pub keys: Encoded,
    /// Record values.
    pub values: Encoded,
    /// Record timestamps (epoch ms).
    pub timestamps: Vec<i64>,
    /// Headers per record, when any are written.
    pub headers: Option<Vec<Vec<Header>>>,
    /// The partition every record goes to; `None` lets Kafka's default
    /// partitioner (murmur2 of the key) choose per record.
    pub partition: Option<i32>,
}

impl OutBatch {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    /// True when there are no records.
    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }
}

/// Where a new reader starts when its group has no committed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// The beginning of each partition (`auto.offset.reset=earliest`).
    Earliest,
    /// The end of each partition (`auto.offset.reset=latest`).
    Latest,
}

/// What to read.
#[derive(Debug, Clone)]
pub struct ReaderSpec {
    /// The topic.
    pub topic: String,
    /// Consumer group; `None` for transient readers (push queries, PRINT)
    /// that never commit.
    pub group_id: Option<String>,
    /// Where to start without a committed offset.
    pub start: StartFrom,
    /// Whether headers are needed.
    pub with_headers: bool,
    /// More topics read by the same reader (the other inputs of a join),
    /// each with where it starts without a committed offset. A batch holds
    /// records of one topic only ([`RawBatch::input`]).
    pub also: Vec<(String, StartFrom)>,
}

impl ReaderSpec {
    /// A transient reader of `topic` from its start (no group, no
    /// headers).
    pub fn from_start(topic: &str) -> ReaderSpec {
        ReaderSpec {
            topic: topic.to_string(),
            group_id: None,
            start: StartFrom::Earliest,
            with_headers: false,
            also: Vec::new(),
        }
    }

    /// The topics read, input 0 first.
    pub fn topics(&self) -> impl Iterator<Item = (&str, StartFrom)> {
        std::iter::once((self.topic.as_str(), self.start))
            .chain(self.also.iter().map(|(t, s)| (t.as_str(), *s)))
    }
}

/// A position to commit: input (see [`RawBatch::input`]), partition, and
/// the offset of the next record to process.
pub type CommitPosition = (usize, i32, i64);

/// Reads batches of records from one topic.
pub trait TopicReader: Send {
    /// Waits up to `wait` for records and returns at most `max` of them
    /// (possibly none).
    fn poll(&mut self, max: usize, wait: Duration) -> BoxFuture<'_, Result<RawBatch>>;

    /// Commits, for each `(input, partition, next offset)`, the position of
    /// the next record to process. Call only once everything derived from
    /// the records before it is acknowledged downstream.
    fn commit<'a>(&'a mut self, offsets: &'a [CommitPosition]) -> BoxFuture<'a, Result<()>>;

    /// True when the last poll found every partition read to its end.
    fn caught_up(&self) -> bool;

    /// True when the last poll found every partition of input `input` (see
    /// [`RawBatch::input`]) read to its end.
    fn input_caught_up(&self, _input: usize) -> bool {
        self.caught_up()
    }

    /// True when the last poll found partition `partition` of input `input`
    /// read to its end.
    fn partition_caught_up(&self, input: usize, _partition: i32) -> bool {
        self.input_caught_up(input)
    }

    /// The partitions currently assigned to this reader, once known. It
    /// changes when the consumer group rebalances.
    fn assignment(&mut self) -> Option<Vec<i32>>;

    /// Partitions the consumer group is taking from this reader: they stay
    /// assigned until [`TopicReader::release`], so that the work done on
    /// them can be committed first. With whether they are already lost
    /// (this member was expired: a commit would fail).
    fn revoking(&self) -> Option<(Vec<i32>, bool)> {
        None
    }

    /// Gives up the partitions [`TopicReader::revoking`] named.
    fn release(&mut self) -> Result<()> {
        Ok(())
    }

    /// For a join's later input: read exactly `partitions` (the first
    /// input's assignment).
    fn follow(&mut self, _partitions: &[i32]) -> Result<()> {
        Ok(())
    }

    /// Keeps `sink` up to date with how far behind the end of each
    /// partition this reader is (records), as it reads. A reader that
    /// cannot tell leaves it empty.
    fn share_lag(&mut self, _sink: LagSink) {}

    /// Commits positions like [`TopicReader::commit`], as part of `txn`
    /// (exactly-once): they take effect when it commits.
    fn commit_in<'a>(
        &'a mut self,
        _offsets: &'a [CommitPosition],
        _txn: &'a dyn Transaction,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async {
            Err(crate::error::Error::internal(
                "this reader cannot commit in a transaction",
            ))
        })
    }
}

/// Reads partitions from their first record to the end offsets they had
/// when the reader was made: manually assigned, in no consumer group. For
/// restoring state from a changelog and replaying the command topic.
pub trait PartitionReader: Send {
    /// The next batch of records; `None` once the end is reached.
    fn next(&mut self) -> BoxFuture<'_, Result<Option<RawBatch>>>;
}

/// A Kafka transaction: what a task writes through its writers and the
/// input positions it commits become visible together, or not at all.
pub trait Transaction: Send + Sync {
    /// A writer of `topic` whose records belong to the open transaction.
    fn writer(&self, topic: &str) -> Result<Box<dyn TopicWriter>>;
    /// Commits the open transaction and begins the next.
    fn commit(&self) -> BoxFuture<'_, Result<()>>;
    /// Aborts the open transaction (best effort, after a failure).
    fn abort(&self) -> BoxFuture<'_, Result<()>>;
    /// The adapter's own type, for its readers.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// Writes records to one topic.
pub trait TopicWriter: Send {
    /// Queues a batch for writing: to `batch.partition`, or where Kafka's
    /// default partitioner (murmur2 of the key) puts each record. Waits
    /// (without blocking the thread) only while the producer's queue is
    /// full.
    fn write<'a>(&'a mut self, batch: &'a OutBatch) -> BoxFuture<'a, Result<()>>;

    /// Waits until every queued record is acknowledged; an error if any
    /// was not.
    fn flush(&mut self) -> BoxFuture<'_, Result<()>>;
}

/// A topic as listed by SHOW TOPICS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Name.
    pub name: String,
    /// Number of partitions.
    pub partitions: i32,
    /// Replication factor.
    pub replicas: i32,
}

/// Creates, lists and deletes topics.
pub trait TopicAdmin: Send + Sync {
    /// Creates a topic.
    fn create_topic(&self, name: &str, partitions: i32, replicas: i32)
        -> BoxFuture<'_, Result<()>>;
    /// Creates a compacted topic (`cleanup.policy=compact`), for state
    /// changelogs. By default a plain topic, for logs that keep everything.
    fn create_compacted_topic(
        &self,
        name: &str,
        partitions: i32,
        replicas: i32,
    ) -> BoxFuture<'_, Result<()>> {
        self.create_topic(name, partitions, replicas)
    }
    /// Creates a topic with topic-level settings (e.g. `retention.ms`),
    /// where the broker keeps them.
    fn create_topic_with(
        &self,
        name: &str,
        partitions: i32,
        replicas: i32,
        _config: &[(&str, &str)],
    ) -> BoxFuture<'_, Result<()>> {
        self.create_topic(name, partitions, replicas)
    }
    /// The topic, if it exists.
    fn describe_topic(&self, name: &str) -> BoxFuture<'_, Result<Option<TopicInfo>>>;
    /// All topics.
    fn list_topics(&self) -> BoxFuture<'_, Result<Vec<TopicInfo>>>;
    /// Deletes a topic.
    fn delete_topic(&self, name: &str) -> BoxFuture<'_, Result<()>>;
}

/// A Kafka cluster, or something that behaves like one.
pub trait Broker: Send + Sync {
    /// A reader of one topic.
    fn reader(&self, spec: &ReaderSpec) -> Result<Box<dyn TopicReader>>;
    /// A writer of one topic.
    fn writer(&self, topic: &str) -> Result<Box<dyn TopicWriter>>;
    /// A reader of some partitions, each from its start to its current
    /// end, with one consumer.
    fn read_partitions(&self, topic: &str, partitions: &[i32]) -> Result<Box<dyn PartitionReader>>;
    /// A reader of one partition, from its start to its current end.
    fn read_partition(&self, topic: &str, partition: i32) -> Result<Box<dyn PartitionReader>> {
        self.read_partitions(topic, &[partition])
    }
    /// Like [`Broker::read_partitions`], of committed records only (up to
    /// the last stable offset): the changelog of an exactly-once query.
    fn read_committed_partitions(
        &self,
        topic: &str,
        partitions: &[i32],
    ) -> Result<Box<dyn PartitionReader>> {
        self.read_partitions(topic, partitions)
    }
    /// A transactional producer with `transactional_id` (fencing any
    /// earlier one with the same id), its first transaction begun.
    fn transaction<'a>(
        &'a self,
        _transactional_id: &'a str,
    ) -> BoxFuture<'a, Result<Arc<dyn Transaction>>> {
        Box::pin(async {
            Err(crate::error::Error::user(
                "this broker cannot run Kafka transactions",
            ))
        })
    }
    /// Whether the broker really runs Kafka transactions (commit and abort
    /// markers, fencing); an error saying why not.
    fn check_transactions(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async {
            Err(crate::error::Error::user(
                "the in-memory log has no Kafka transactions",
            ))
        })
    }
    /// A reader of one partition from `offset` on, in no consumer group,
    /// that keeps reading as records arrive (the command topic). A
    /// negative `offset` starts that many records before the end where the
    /// broker can (Kafka); other brokers read from the start.
    fn tail(&self, topic: &str, partition: i32, offset: i64) -> Result<Box<dyn TopicReader>> {
        let reader = self.reader(&ReaderSpec::from_start(topic))?;
        Ok(Box::new(From {
            reader,
            partition,
            offset,
        }))
    }
    /// A transient reader of every partition of `topic`, positioned at
    /// its end as of this call: every record written after the future
    /// completes is read (a push query from `latest`). In no consumer
    /// group, so it starts without a group join.
    fn reader_from_now(
        &self,
        topic: &str,
        with_headers: bool,
    ) -> BoxFuture<'_, Result<Box<dyn TopicReader>>> {
        let spec = ReaderSpec {
            topic: topic.to_string(),
            group_id: None,
            start: StartFrom::Latest,
            with_headers,
            also: Vec::new(),
        };
        Box::pin(async move { self.reader(&spec) })
    }
    /// Topic administration.
    fn admin(&self) -> &dyn TopicAdmin;
    /// Where clients connect, for messages (e.g. `127.0.0.1:9092`).
    fn address(&self) -> String;
}

/// A reader of one partition from an offset on, over a reader of the
/// whole topic from its start.
struct From {
    reader: Box<dyn TopicReader>,
    partition: i32,
    offset: i64,
}

impl TopicReader for From {
    fn poll(&mut self, max: usize, wait: Duration) -> BoxFuture<'_, Result<RawBatch>> {
        Box::pin(async move {
            let batch = self.reader.poll(max, wait).await?;
            let rows: Vec<usize> = (0..batch.len())
                .filter(|&i| {
                    batch.partitions[i] == self.partition && batch.offsets[i] >= self.offset
                })
                .collect();
            Ok(if rows.len() == batch.len() {
                batch
            } else {
                batch.select(&rows)
            })
        })
    }

    fn commit<'a>(&'a mut self, _: &'a [CommitPosition]) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn caught_up(&self) -> bool {
        self.reader.caught_up()
    }

    fn assignment(&mut self) -> Option<Vec<i32>> {
        Some(vec![self.partition])
    }
}

/// Kafka's default partitioner: murmur2 of the key bytes, positive, modulo
/// the partition count (the Java client's `Utils.murmur2`).
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    if partitions <= 1 {
        return 0;
    }
    ((murmur2(key) & 0x7fff_ffff) % (partitions as u32)) as i32
}

/// The murmur2 hash as Kafka's Java client computes it.
pub fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    match tail.len() {
        3 => {
            h ^= u32::from(tail[2]) << 16;
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        2 => {
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        1 => {
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// The positions of input `input`, as its own reader's input 0.
fn positions_of(offsets: &[CommitPosition], input: usize) -> Vec<CommitPosition> {
    offsets
        .iter()
        .filter(|(i, _, _)| *i == input)
        .map(|&(_, p, o)| (0, p, o))
        .collect()
}

/// Reads several topics through one reader per topic (for brokers whose
/// readers take one topic): each poll returns, of the batches fetched, the
/// one whose first record is oldest. (A join's task merges its inputs in
/// timestamp order per partition, as Kafka Streams does.)
pub struct MultiReader {
    inputs: Vec<Box<dyn TopicReader>>,
    /// Fetched records not yet returned, per input.
    pending: Vec<RawBatch>,
    /// The first input's assignment the others last followed.
    following: Option<Vec<i32>>,
}

impl MultiReader {
    /// A reader over `inputs`, input 0 first.
    pub fn new(inputs: Vec<Box<dyn TopicReader>>) -> Self {
        let pending = inputs.iter().map(|_| RawBatch::default()).collect();
        MultiReader {
            inputs,
            pending,
            following: None,
        }
    }

    /// The later inputs take the first input's partitions (the group
    /// assigns the first input only), dropping what they buffered of
    /// partitions they no longer read.
    fn follow_first(&mut self) -> Result<()> {
        let Some(first) = self.inputs.first_mut() else {
            return Ok(());
        };
        let assigned = first.assignment();
        if assigned == self.following {
            return Ok(());
        }
        let partitions = assigned.clone().unwrap_or_default();
        for (input, reader) in self.inputs.iter_mut().enumerate().skip(1) {
            reader.follow(&partitions)?;
            let pending = &mut self.pending[input];
            if pending.partitions.iter().any(|p| !partitions.contains(p)) {
                let keep: Vec<usize> = (0..pending.len())
                    .filter(|&i| partitions.contains(&pending.partitions[i]))
                    .collect();
                *pending = pending.select(&keep);
            }
        }
        self.following = assigned;
        Ok(())
    }

    /// Fetches for every input without buffered records; `wait` is shared
    /// among them. Gaps come back at once.
    async fn fill(&mut self, max: usize, wait: Duration) -> Result<Option<RawBatch>> {
        self.follow_first()?;
        let n = self.inputs.len().max(1) as u32;
        for (input, reader) in self.inputs.iter_mut().enumerate() {
            if !self.pending[input].is_empty() {
                continue;
            }
            let mut batch = reader.poll(max, wait / n).await?;
            batch.input = input;
            if !batch.gaps.is_empty() {
                return Ok(Some(batch));
            }
            self.pending[input] = batch;
        }
        Ok(None)
    }
}

impl TopicReader for MultiReader {
    fn share_lag(&mut self, sink: LagSink) {
        for input in &mut self.inputs {
            input.share_lag(std::sync::Arc::clone(&sink));
        }
    }

    fn poll(&mut self, max: usize, wait: Duration) -> BoxFuture<'_, Result<RawBatch>> {
        Box::pin(async move {
            if let Some(gaps) = self.fill(max, Duration::ZERO).await? {
                return Ok(gaps);
            }
            if self.pending.iter().all(RawBatch::is_empty) {
                if let Some(gaps) = self.fill(max, wait).await? {
                    return Ok(gaps);
                }
            }
            let oldest = self
                .pending
                .iter()
                .enumerate()
                .filter_map(|(i, b)| b.timestamps.first().map(|t| (*t, i)))
                .min();
            Ok(match oldest {
                Some((_, i)) => std::mem::take(&mut self.pending[i]),
                None => RawBatch::default(),
            })
        })
    }

    fn commit<'a>(&'a mut self, offsets: &'a [CommitPosition]) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            for (input, reader) in self.inputs.iter_mut().enumerate() {
                let mine = positions_of(offsets, input);
                if !mine.is_empty() {
                    reader.commit(&mine).await?;
                }
            }
            Ok(())
        })
    }

    fn caught_up(&self) -> bool {
        self.pending.iter().all(RawBatch::is_empty) && self.inputs.iter().all(|r| r.caught_up())
    }

    fn input_caught_up(&self, input: usize) -> bool {
        self.pending.get(input).is_none_or(RawBatch::is_empty)
            && self.inputs.get(input).is_none_or(|r| r.caught_up())
    }

    fn partition_caught_up(&self, input: usize, partition: i32) -> bool {
        self.pending
            .get(input)
            .is_none_or(|b| !b.partitions.contains(&partition))
            && self
                .inputs
                .get(input)
                .is_none_or(|r| r.partition_caught_up(0, partition))
    }

    fn assignment(&mut self) -> Option<Vec<i32>> {
        self.inputs.first_mut()?.assignment()
    }

    fn revoking(&self) -> Option<(Vec<i32>, bool)> {
        self.inputs.first()?.revoking()
    }

    fn commit_in<'a>(
        &'a mut self,
        offsets: &'a [CommitPosition],
        txn: &'a dyn Transaction,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            for (input, reader) in self.inputs.iter_mut().enumerate() {
                let mine = positions_of(offsets, input);
                if !mine.is_empty() {
                    reader.commit_in(&mine, txn).await?;
                }
            }
            Ok(())
        })
    }

    fn release(&mut self) -> Result<()> {
        match self.inputs.first_mut() {
            Some(first) => first.release(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka() {
        // Values computed by Kafka's Java client for these inputs.
        assert_eq!(murmur2(b"21") as i32, -973932308);
        assert_eq!(murmur2(b"foobar") as i32, -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985981536);
        assert_eq!(murmur2(b"abc") as i32, 479470107);
    }
}
