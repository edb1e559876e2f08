//! An in-memory topic log implementing the I/O ports, for deterministic
//! tests (the role Kafka Streams' TopologyTestDriver plays for ksqlDB).
//!
//! Records keep their global append order across partitions, and readers
//! return them in that order, so a test sees exactly the order it wrote.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::sync::Notify;

use super::io::{
    partition_for_key, Broker, CommitPosition, Header, OutBatch, PartitionReader, RawBatch,
    ReaderSpec, StartFrom, TopicAdmin, TopicInfo, TopicReader, TopicWriter,
};
use crate::error::{Error, Result};

/// A record stored in the in-memory log.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Value bytes.
    pub value: Option<Vec<u8>>,
    /// Timestamp (epoch ms).
    pub timestamp: i64,
    /// Headers.
    pub headers: Vec<Header>,
    /// Global append sequence number.
    pub seq: u64,
}

#[derive(Debug, Default)]
struct Topic {
    partitions: Vec<Vec<StoredRecord>>,
}

#[derive(Debug, Default)]
struct State {
    topics: BTreeMap<String, Topic>,
    committed: HashMap<(String, String, usize), usize>,
    seq: u64,
}

/// The in-memory log: topics of partitions of records.
#[derive(Debug, Default)]
pub struct MemoryBroker {
    state: Mutex<State>,
    appended: Notify,
}

impl MemoryBroker {
    /// An empty log.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| Error::internal("in-memory log lock poisoned"))
    }

    /// Creates a topic unless it exists.
    pub fn ensure_topic(&self, name: &str, partitions: i32) -> Result<()> {
        let mut state = self.lock()?;
        state
            .topics
            .entry(name.to_string())
            .or_insert_with(|| Topic {
                partitions: vec![Vec::new(); partitions.max(1) as usize],
            });
        Ok(())
    }

    /// Appends one record to `partition` (or the key's partition when
    /// `None`), creating the topic with one partition if needed.
    pub fn append(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
        headers: Vec<Header>,
    ) -> Result<()> {
        {
            let mut state = self.lock()?;
            let seq = state.seq;
            state.seq += 1;
            let t = state
                .topics
                .entry(topic.to_string())
                .or_insert_with(|| Topic {
                    partitions: vec![Vec::new()],
                });
            let n = t.partitions.len() as i32;
            let p = match (partition, key) {
                (Some(p), _) => p,
                (None, Some(k)) => partition_for_key(k, n),
                (None, None) => 0,
            };
            let slot = t
                .partitions
                .get_mut(p.max(0) as usize)
                .ok_or_else(|| Error::user(format!("Topic '{topic}' has no partition {p}")))?;
            slot.push(StoredRecord {
                key: key.map(<[u8]>::to_vec),
                value: value.map(<[u8]>::to_vec),
                timestamp,
                headers,
                seq,
            });
        }
        self.appended.notify_waiters();
        Ok(())
    }

    /// Every record of a topic with its partition, in append order.
    pub fn records(&self, topic: &str) -> Result<Vec<(i32, StoredRecord)>> {
        let state = self.lock()?;
        let mut out: Vec<(i32, StoredRecord)> = state
            .topics
            .get(topic)
            .map(|t| {
                t.partitions
                    .iter()
                    .enumerate()
                    .flat_map(|(p, recs)| recs.iter().map(move |r| (p as i32, r.clone())))
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by_key(|(_, r)| r.seq);
        Ok(out)
    }

    /// How many records a topic holds (all partitions); 0 when it does not
    /// exist.
    pub fn record_count(&self, topic: &str) -> Result<u64> {
        Ok(self
            .lock()?
            .topics
            .get(topic)
            .map(|t| t.partitions.iter().map(|p| p.len() as u64).sum())
            .unwrap_or(0))
    }

    /// How many records were ever appended, to any topic: it changes
    /// whenever anything is written.
    pub fn appended(&self) -> Result<u64> {
        Ok(self.lock()?.seq)
    }

    /// Names of all topics.
    pub fn topic_names(&self) -> Result<Vec<String>> {
        Ok(self.lock()?.topics.keys().cloned().collect())
    }
}

impl Broker for Arc<MemoryBroker> {
    fn reader(&self, spec: &ReaderSpec) -> Result<Box<dyn TopicReader>> {
        Ok(Box::new(MemoryReader::new(Arc::clone(self), spec)))
    }

    fn writer(&self, topic: &str) -> Result<Box<dyn TopicWriter>> {
        Ok(Box::new(MemoryWriter {
            broker: Arc::clone(self),
            topic: topic.to_string(),
        }))
    }

    fn read_partitions(&self, topic: &str, partitions: &[i32]) -> Result<Box<dyn PartitionReader>> {
        let state = self.lock()?;
        let parts = partitions
            .iter()
            .map(|&p| {
                let p = p.max(0) as usize;
                let end = state
                    .topics
                    .get(topic)
                    .and_then(|t| t.partitions.get(p))
                    .map_or(0, Vec::len);
                (p, 0, end)
            })
            .collect();
        Ok(Box::new(MemoryPartitionReader {
            broker: Arc::clone(self),
            topic: Arc::from(topic),
            parts,
        }))
    }

    fn admin(&self) -> &dyn TopicAdmin {
        self
    }

    fn address(&self) -> String {
        "in-memory".to_string()
    }
}

impl TopicAdmin for Arc<MemoryBroker> {
    fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        _replicas: i32,
    ) -> BoxFuture<'_, Result<()>> {
        let r = self.ensure_topic(name, partitions);
        async move { r }.boxed()
    }

    fn describe_topic(&self, name: &str) -> BoxFuture<'_, Result<Option<TopicInfo>>> {
        let r = self.lock().map(|s| {
            s.topics.get(name).map(|t| TopicInfo {
                name: name.to_string(),
                partitions: t.partitions.len() as i32,
                replicas: 1,
            })
        });
        async move { r }.boxed()
    }

    fn list_topics(&self) -> BoxFuture<'_, Result<Vec<TopicInfo>>> {
        let r = self.lock().map(|s| {
            s.topics
                .iter()
                .map(|(n, t)| TopicInfo {
                    name: n.clone(),
                    partitions: t.partitions.len() as i32,
                    replicas: 1,
                })
                .collect()
        });
        async move { r }.boxed()
    }

    fn delete_topic(&self, name: &str) -> BoxFuture<'_, Result<()>> {
        let r = self.lock().map(|mut s| {
            s.topics.remove(name);
        });
        async move { r }.boxed()
    }
}

struct MemoryReader {
    broker: Arc<MemoryBroker>,
    spec: ReaderSpec,
    /// The topics read, input 0 first.
    topics: Vec<(Arc<str>, StartFrom)>,
    /// Next index per input and partition; an input's entry is `None` until
    /// its topic exists.
    positions: Vec<Option<Vec<usize>>>,
    caught_up: bool,
    /// Per input, whether the last poll found it read to its end.
    inputs_caught_up: Vec<bool>,
}

impl MemoryReader {
    fn new(broker: Arc<MemoryBroker>, spec: &ReaderSpec) -> Self {
        let topics: Vec<(Arc<str>, StartFrom)> =
            spec.topics().map(|(t, s)| (Arc::from(t), s)).collect();
        MemoryReader {
            broker,
            spec: spec.clone(),
            positions: vec![None; topics.len()],
            inputs_caught_up: vec![false; topics.len()],
            topics,
            caught_up: false,
        }
    }

    /// The next records in global append order, all of one topic: the
    /// batch ends where the next record belongs to another input.
    fn take(&mut self, max: usize) -> Result<RawBatch> {
        let state = self.broker.lock()?;
        for (input, (name, start)) in self.topics.iter().enumerate() {
            if self.positions[input].is_some() {
                continue;
            }
            let Some(topic) = state.topics.get(name.as_ref()) else {
                continue;
            };
            self.positions[input] = Some(
                topic
                    .partitions
                    .iter()
                    .enumerate()
                    .map(|(p, recs)| {
                        let committed = self.spec.group_id.as_ref().and_then(|g| {
                            state
                                .committed
                                .get(&(g.clone(), name.to_string(), p))
                                .copied()
                        });
                        committed.unwrap_or(match start {
                            StartFrom::Earliest => 0,
                            StartFrom::Latest => recs.len(),
                        })
                    })
                    .collect(),
            );
        }
        // Within an input, the record appended first among the next record
        // of every partition; among inputs (a join's), the one whose next
        // record is oldest, as Kafka Streams picks (ties: appended first).
        let next = |positions: &Vec<Option<Vec<usize>>>| {
            let mut best: Option<(usize, usize, &StoredRecord)> = None;
            for (input, pos) in positions.iter().enumerate() {
                let (Some(pos), Some(topic)) =
                    (pos, state.topics.get(self.topics[input].0.as_ref()))
                else {
                    continue;
                };
                let mut head: Option<(usize, &StoredRecord)> = None;
                for (p, &i) in pos.iter().enumerate() {
                    if let Some(r) = topic.partitions.get(p).and_then(|recs| recs.get(i)) {
                        if head.is_none_or(|(_, h)| r.seq < h.seq) {
                            head = Some((p, r));
                        }
                    }
                }
                if let Some((p, r)) = head {
                    if best.is_none_or(|(_, _, b)| (r.timestamp, r.seq) < (b.timestamp, b.seq)) {
                        best = Some((input, p, r));
                    }
                }
            }
            best
        };
        let first_input = next(&self.positions).map_or(0, |(input, _, _)| input);
        let mut batch = RawBatch {
            topic: Arc::clone(&self.topics[first_input].0),
            input: first_input,
            ..RawBatch::default()
        };
        batch.keys.offsets.push(0);
        batch.values.offsets.push(0);
        while batch.len() < max {
            let Some((input, p, r)) = next(&self.positions) else {
                break;
            };
            if input != first_input {
                break;
            }
            push_payload(&mut batch.keys, r.key.as_deref());
            push_payload(&mut batch.values, r.value.as_deref());
            batch.timestamps.push(r.timestamp);
            batch.partitions.push(p as i32);
            let Some(pos) = self.positions[input].as_mut() else {
                break;
            };
            batch.offsets.push(pos[p] as i64);
            if self.spec.with_headers {
                batch.headers.push(r.headers.clone());
            }
            pos[p] += 1;
        }
        self.inputs_caught_up =
            self.positions
                .iter()
                .enumerate()
                .map(|(input, pos)| {
                    let topic = state.topics.get(self.topics[input].0.as_ref());
                    match (pos, topic) {
                        (Some(pos), Some(topic)) => pos.iter().enumerate().all(|(p, &i)| {
                            topic.partitions.get(p).is_none_or(|recs| i >= recs.len())
                        }),
                        _ => true,
                    }
                })
                .collect();
        self.caught_up = self.inputs_caught_up.iter().all(|c| *c);
        Ok(batch)
    }
}

fn push_payload(p: &mut crate::format::Encoded, payload: Option<&[u8]>) {
    match payload {
        Some(bytes) => {
            p.data.extend_from_slice(bytes);
            p.nulls.push(false);
        }
        None => p.nulls.push(true),
    }
    p.offsets.push(p.data.len());
}

impl TopicReader for MemoryReader {
    fn poll(&mut self, max: usize, wait: Duration) -> BoxFuture<'_, Result<RawBatch>> {
        async move {
            let broker = Arc::clone(&self.broker);
            let notified = broker.appended.notified();
            let batch = self.take(max)?;
            if !batch.is_empty() || wait.is_zero() {
                return Ok(batch);
            }
            let _ = tokio::time::timeout(wait, notified).await;
            self.take(max)
        }
        .boxed()
    }

    fn commit<'a>(&'a mut self, offsets: &'a [CommitPosition]) -> BoxFuture<'a, Result<()>> {
        let r = (|| {
            let Some(group) = &self.spec.group_id else {
                return Ok(());
            };
            let mut state = self.broker.lock()?;
            for &(input, p, next) in offsets {
                let Some((topic, _)) = self.topics.get(input) else {
                    continue;
                };
                state.committed.insert(
                    (group.clone(), topic.to_string(), p.max(0) as usize),
                    next.max(0) as usize,
                );
            }
            Ok(())
        })();
        async move { r }.boxed()
    }

    fn caught_up(&self) -> bool {
        self.caught_up
    }

    fn input_caught_up(&self, input: usize) -> bool {
        self.inputs_caught_up.get(input).copied().unwrap_or(true)
    }

    fn partition_caught_up(&self, input: usize, partition: i32) -> bool {
        let Ok(state) = self.broker.lock() else {
            return false;
        };
        let (Some((name, _)), Some(Some(pos))) =
            (self.topics.get(input), self.positions.get(input))
        else {
            return true;
        };
        let Some(topic) = state.topics.get(name.as_ref()) else {
            return true;
        };
        let p = partition.max(0) as usize;
        match (pos.get(p), topic.partitions.get(p)) {
            (Some(&i), Some(recs)) => i >= recs.len(),
            _ => true,
        }
    }

    fn assignment(&mut self) -> Option<Vec<i32>> {
        // One reader per group: every partition of the first topic, once it
        // exists.
        let state = self.broker.lock().ok()?;
        let topic = state.topics.get(self.topics.first()?.0.as_ref())?;
        Some((0..topic.partitions.len() as i32).collect())
    }
}

/// Reads one partition of the in-memory log up to its end at creation.
struct MemoryPartitionReader {
    broker: Arc<MemoryBroker>,
    topic: Arc<str>,
    /// Partition, next index, end index; read in turn.
    parts: std::collections::VecDeque<(usize, usize, usize)>,
}

impl PartitionReader for MemoryPartitionReader {
    fn next(&mut self) -> BoxFuture<'_, Result<Option<RawBatch>>> {
        let r = (|| {
            while self
                .parts
                .front()
                .is_some_and(|&(_, next, end)| next >= end)
            {
                self.parts.pop_front();
            }
            let Some((partition, next, end)) = self.parts.front_mut() else {
                return Ok(None);
            };
            let state = self.broker.lock()?;
            let records = state
                .topics
                .get(self.topic.as_ref())
                .and_then(|t| t.partitions.get(*partition))
                .map(Vec::as_slice)
                .unwrap_or_default();
            let mut batch = RawBatch {
                topic: Arc::clone(&self.topic),
                ..RawBatch::default()
            };
            batch.keys.offsets.push(0);
            batch.values.offsets.push(0);
            let until = (*end).min(*next + 4096).min(records.len());
            for (i, r) in records.iter().enumerate().take(until).skip(*next) {
                push_payload(&mut batch.keys, r.key.as_deref());
                push_payload(&mut batch.values, r.value.as_deref());
                batch.timestamps.push(r.timestamp);
                batch.partitions.push(*partition as i32);
                batch.offsets.push(i as i64);
            }
            *next = until.max(*next + 1);
            Ok(Some(batch))
        })();
        async move { r }.boxed()
    }
}

struct MemoryWriter {
    broker: Arc<MemoryBroker>,
    topic: String,
}

impl TopicWriter for MemoryWriter {
    fn write<'a>(&'a mut self, batch: &'a OutBatch) -> BoxFuture<'a, Result<()>> {
        let r = self.append_all(batch);
        async move { r }.boxed()
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<()>> {
        async { Ok(()) }.boxed()
    }
}

impl MemoryWriter {
    fn append_all(&mut self, batch: &OutBatch) -> Result<()> {
        for i in 0..batch.len() {
            let headers = batch
                .headers
                .as_ref()
                .and_then(|h| h.get(i).cloned())
                .unwrap_or_default();
            self.broker.append(
                &self.topic,
                batch.partition,
                batch.keys.get(i),
                batch.values.get(i),
                batch.timestamps[i],
                headers,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_in_append_order_and_resumes_from_commit() {
        let log = MemoryBroker::new();
        log.ensure_topic("t", 2).unwrap();
        log.append("t", Some(1), None, Some(b"a"), 1, vec![])
            .unwrap();
        log.append("t", Some(0), None, Some(b"b"), 2, vec![])
            .unwrap();
        log.append("t", Some(1), None, Some(b"c"), 3, vec![])
            .unwrap();
        let spec = ReaderSpec {
            topic: "t".into(),
            group_id: Some("g".into()),
            start: StartFrom::Earliest,
            with_headers: false,
            also: Vec::new(),
        };
        let mut r = log.reader(&spec).unwrap();
        let b = r.poll(2, Duration::ZERO).await.unwrap();
        assert_eq!(b.values.get(0), Some(&b"a"[..]));
        assert_eq!(b.values.get(1), Some(&b"b"[..]));
        assert!(!r.caught_up());
        r.commit(&[(0, 0, 1), (0, 1, 1)]).await.unwrap();
        let mut r2 = log.reader(&spec).unwrap();
        let b = r2.poll(10, Duration::ZERO).await.unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b.values.get(0), Some(&b"c"[..]));
        assert_eq!(b.timestamps, vec![3]);
        assert!(r2.caught_up());
    }
}
