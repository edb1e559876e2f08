//! Runs a pipeline as a tokio task: reader → pipeline → sink, committing
//! source offsets only after the sink acknowledged everything derived from
//! them (at-least-once).
//!
//! A query without state runs one pipeline for all its input partitions. A
//! query with state (aggregations, table filters, a materialized table)
//! runs one *task* per input partition, each with its own instances of the
//! operators: before a task processes input, it restores its state from
//! its partition of the query's changelog, and it resumes input where the
//! changelog's last commit marker says (see `runtime::state`). A commit
//! then goes: emit held updates, write each task's state changes and a
//! marker with its next input offset, flush output and changelog, and only
//! then commit the input offsets.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::io::{Broker, CommitPosition, RawBatch, TopicReader, TopicWriter, Transaction};
use super::materialized::Materialized;
use super::pipeline::{EncodeStage, Pipeline};
use super::processing_log::{LogEntry, ProcessingLog, RecordOrigin};
use super::state::{self, StateWriter, STORE};
use crate::error::{Error, Result};

/// How a query task batches and commits.
#[derive(Debug, Clone, Copy)]
pub struct TaskSettings {
    /// Most records per batch.
    pub max_batch: usize,
    /// How long a poll waits for records.
    pub poll_wait: Duration,
    /// How often offsets are committed (after a flush of the sink).
    pub commit_interval: Duration,
    /// Record caching off (`cache.max.bytes.buffering` = 0): stateful
    /// operators emit every update instead of one per key and window per
    /// commit interval.
    pub emit_every_update: bool,
    /// `processing.guarantee` = `exactly_once_v2`: output, changelog and
    /// input positions commit in one Kafka transaction.
    pub exactly_once: bool,
    /// Decoded batches a push query feed holds for its slowest subscriber
    /// ([`super::feed`]): one further behind is dropped.
    pub push_buffer: usize,
}

impl Default for TaskSettings {
    fn default() -> Self {
        TaskSettings {
            max_batch: 4096,
            poll_wait: Duration::from_millis(50),
            commit_interval: Duration::from_millis(500),
            emit_every_update: false,
            exactly_once: false,
            push_buffer: super::feed::FEED_CAPACITY,
        }
    }
}

/// Live counters and state of a running query, shared with the engine.
#[derive(Debug, Default)]
pub struct QueryStatus {
    /// Records read.
    pub records_in: AtomicU64,
    /// Rows written.
    pub records_out: AtomicU64,
    /// Key and value bytes read.
    pub bytes_in: AtomicU64,
    /// Key and value bytes written to the output topic.
    pub bytes_out: AtomicU64,
    /// Commits of output and input positions, and the time they took in
    /// all, in microseconds.
    pub commits: AtomicU64,
    /// See `commits`.
    pub commit_micros: AtomicU64,
    /// Consumer lag of the task's reader, by topic and partition.
    pub lag: super::io::LagSink,
    /// Changelog records read to restore state.
    pub restored_records: AtomicU64,
    /// Bytes of changelog keys and values read to restore state.
    pub restored_bytes: AtomicU64,
    /// Wall time spent restoring state (reading the changelog and
    /// rebuilding the operators and the table), in microseconds.
    pub restore_micros: AtomicU64,
    /// True once the state of every assigned partition is restored (and
    /// always for a query without state): its materialized table answers
    /// pull queries.
    pub ready: AtomicBool,
    /// True when the last poll found nothing new and every partition read.
    pub idle: AtomicBool,
    /// Set while the query is not processing because of an error: the
    /// error, and whether it is retried.
    pub error: Mutex<Option<String>>,
    /// Set when the task has ended.
    pub finished: AtomicBool,
    /// The topic the task reads (its first input).
    pub input_topic: std::sync::OnceLock<String>,
    /// The partitions of it this server reads, once the consumer group
    /// assigned them (the others are read by other servers of the
    /// service).
    pub assigned: Mutex<Option<Vec<i32>>>,
}

impl QueryStatus {
    /// The error that stopped (or is holding up) the query, if any.
    pub fn error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|e| e.clone())
    }

    /// The partitions this server reads, once known.
    pub fn assigned(&self) -> Option<Vec<i32>> {
        self.assigned.lock().ok().and_then(|a| a.clone())
    }

    /// Sets or clears the error.
    pub fn set_error(&self, error: Option<String>) {
        if let Ok(mut slot) = self.error.lock() {
            *slot = error;
        }
    }
}

/// The processing log of a topic sink, and what its entries name.
#[derive(Debug, Clone, Default)]
pub struct SinkReport {
    /// The log.
    pub log: ProcessingLog,
    /// The query.
    pub query_id: String,
    /// The topic written.
    pub topic: String,
}

impl SinkReport {
    fn record(&self, kind: &'static str, message: String) {
        self.log.record(LogEntry {
            query_id: self.query_id.clone(),
            kind,
            origin: None,
            target: None,
            message,
            record: None,
        });
    }
}

/// Encodes `batch`. A failure of its rows (not an unreachable registry) is
/// reported as a `serialization` error and stops the query, as ksqlDB's
/// default production exception handler does: dropping the row would lose
/// it silently from the output's point of view.
fn encode_reported(
    encode: &EncodeStage,
    batch: &RecordBatch,
    report: &SinkReport,
) -> Result<super::io::OutBatch> {
    encode.encode(batch).inspect_err(|e| {
        if !matches!(e, Error::External(_)) {
            report.record(
                "serialization",
                format!("Error serializing a row for topic '{}': {e}", report.topic),
            );
        }
    })
}

/// Where a query's output goes.
pub enum QuerySink {
    /// Encoded and written to a topic.
    Topic {
        /// The encoder.
        encode: EncodeStage,
        /// The writer.
        writer: Box<dyn TopicWriter>,
        /// Key and value bytes written and not yet counted in the
        /// query's status.
        bytes: u64,
        /// Where rows that cannot be serialized and records that cannot be
        /// produced are reported.
        report: Box<SinkReport>,
    },
    /// Applied to a table's materialized state (for pull queries), then
    /// passed on to `then`: a TABLE sink's topic, or nothing for the
    /// internal query of a `CREATE SOURCE TABLE`.
    Materialize {
        /// The store.
        store: Arc<Materialized>,
        /// Where the rows go next.
        then: Option<Box<QuerySink>>,
    },
    /// Sent to a caller (push queries), at most `limit` rows.
    Channel {
        /// The caller's end.
        sender: mpsc::Sender<RecordBatch>,
        /// Rows still allowed, when LIMIT was given.
        remaining: Option<u64>,
    },
}

/// What a sink said after a write.
pub(super) enum SinkState {
    Open,
    /// No more rows wanted (LIMIT reached or the caller left).
    Done,
}

impl QuerySink {
    /// The materialized store in this chain of sinks, if any.
    pub fn store(&self) -> Option<&Arc<Materialized>> {
        match self {
            QuerySink::Materialize { store, .. } => Some(store),
            _ => None,
        }
    }

    /// The key and value bytes written since the last call.
    pub(super) fn take_bytes(&mut self) -> u64 {
        match self {
            QuerySink::Topic { bytes, .. } => std::mem::take(bytes),
            QuerySink::Materialize { then, .. } => then.as_mut().map_or(0, |t| t.take_bytes()),
            _ => 0,
        }
    }

    /// Writes output rows; changes to a materialized store are recorded in
    /// `state` when given.
    pub(super) async fn write(
        &mut self,
        batches: Vec<RecordBatch>,
        state: Option<&mut StateWriter>,
        partition: i32,
    ) -> Result<(SinkState, u64)> {
        let mut written = 0u64;
        match self {
            QuerySink::Topic {
                encode,
                writer,
                bytes,
                report,
            } => {
                for b in batches {
                    let out = encode_reported(encode, &b, report)?;
                    if let Err(e) = writer.write(&out).await {
                        report.record("production", format!("Error producing records: {e}"));
                        return Err(e);
                    }
                    written += out.len() as u64;
                    *bytes += (out.keys.data.len() + out.values.data.len()) as u64;
                }
                Ok((SinkState::Open, written))
            }
            QuerySink::Materialize { store, then } => {
                let mut state = state;
                for b in &batches {
                    store.apply_logged(
                        b,
                        state.as_deref_mut().map(|w| w.component(STORE)),
                        partition,
                    )?;
                }
                match then {
                    Some(next) => Box::pin(next.write(batches, None, partition)).await,
                    None => {
                        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
                        Ok((SinkState::Open, rows))
                    }
                }
            }
            QuerySink::Channel { sender, remaining } => {
                for mut b in batches {
                    if let Some(r) = remaining {
                        if (b.num_rows() as u64) >= *r {
                            b = b.slice(0, *r as usize);
                            *r = 0;
                        } else {
                            *r -= b.num_rows() as u64;
                        }
                    }
                    written += b.num_rows() as u64;
                    if b.num_rows() > 0 && sender.send(b).await.is_err() {
                        return Ok((SinkState::Done, written));
                    }
                    if *remaining == Some(0) {
                        return Ok((SinkState::Done, written));
                    }
                }
                if sender.is_closed() {
                    return Ok((SinkState::Done, written));
                }
                Ok((SinkState::Open, written))
            }
        }
    }

    async fn flush(&mut self) -> Result<()> {
        match self {
            QuerySink::Topic { writer, report, .. } => writer.flush().await.inspect_err(|e| {
                report.record("production", format!("Error producing records: {e}"))
            }),
            QuerySink::Channel { .. } => Ok(()),
            QuerySink::Materialize { then, .. } => match then {
                Some(next) => Box::pin(next.flush()).await,
                None => Ok(()),
            },
        }
    }
}

/// Where a query with state keeps it.
pub struct StateSpec {
    /// The broker the changelog is read from at restore.
    pub broker: Arc<dyn Broker>,
    /// The changelog topic; partition N holds the state of input
    /// partition N.
    pub topic: String,
    /// Writes the changelog.
    pub writer: Box<dyn TopicWriter>,
    /// The fingerprint of the query's state layout.
    pub fingerprint: u64,
}

/// Input position per input and partition.
type Positions = BTreeMap<(usize, i32), i64>;

/// One input partition of a query with state (of each input, for a join;
/// of all inputs for a pipeline that runs as one task).
struct PartitionTask {
    pipeline: Pipeline,
    /// Changes to its state since the last commit.
    records: StateWriter,
    /// The offset after the last record processed, per input partition.
    next: Positions,
    /// The offsets in the last marker written.
    sealed: Positions,
    /// Records below these offsets are already in the restored state.
    skip_below: Positions,
}

/// A query ready to run.
pub struct QueryTask {
    /// Where input comes from.
    pub reader: Box<dyn TopicReader>,
    /// The compute: for a query with state, the plan each partition's task
    /// gets its own instance of.
    pub pipeline: Pipeline,
    /// Where output goes.
    pub sink: QuerySink,
    /// Failures.
    pub log: ProcessingLog,
    /// Batching and commits.
    pub settings: TaskSettings,
    /// Shared counters.
    pub status: Arc<QueryStatus>,
    /// For a query with state: its changelog.
    pub state: Option<StateSpec>,
    /// Exactly-once: the transaction the sink and changelog writers write
    /// in, committed with the input positions.
    pub txn: Option<Arc<dyn Transaction>>,
}

/// The running form of a [`QueryTask`].
struct Runner {
    task: QueryTask,
    /// Per input partition, for a query with state.
    partitions: BTreeMap<i32, PartitionTask>,
    /// The offset after the last record processed, per input partition.
    offsets: Positions,
    /// The partition count of a co-partitioned join's inputs, once known
    /// (from the broker: this server may be assigned only some).
    partition_count: Option<i32>,
    /// Inputs of a join found not partitioned by murmur2 of the key (each
    /// reported once).
    misplaced: std::collections::HashSet<usize>,
    /// A join's records read but not processed yet, per input and
    /// partition: each partition's task takes its inputs' records in
    /// timestamp order.
    queued: BTreeMap<(usize, i32), std::collections::VecDeque<RawBatch>>,
    /// Per partition, since when its queued records wait for an input not
    /// heard from.
    waiting_since: BTreeMap<i32, Instant>,
    /// The reader's assignment when last looked at.
    assigned: Option<Vec<i32>>,
}

/// How long a join's queued records wait for an input partition that has
/// no records and is not known to be read to its end. Like Kafka Streams
/// (which waits while a partition's lag is not known to be zero), a join
/// does not run ahead of a table it has not read yet; the bound only keeps
/// an input that never answers (its broker away) from holding the others
/// forever.
const MAX_IDLE: Duration = Duration::from_secs(30);

impl QueryTask {
    /// Counts rows written, and the bytes the sink wrote for them.
    fn count_out(&mut self, rows: u64) {
        self.status.records_out.fetch_add(rows, Ordering::Relaxed);
        let bytes = self.sink.take_bytes();
        self.status.bytes_out.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Runs until cancelled, until the sink wants no more rows, or until an
    /// error. Flushes and commits what was processed before returning
    /// normally; after an error nothing more is committed.
    pub async fn run(self, cancel: CancellationToken) -> Result<()> {
        let status = Arc::clone(&self.status);
        let query = self.pipeline.query_id.clone();
        let result = self.attempt(&cancel).await;
        if let Err(e) = &result {
            tracing::error!(query = %query, "query stopped: {e}");
            status.set_error(Some(e.to_string()));
        }
        status.finished.store(true, Ordering::SeqCst);
        result
    }

    /// Runs like [`QueryTask::run`], leaving the status alone when it
    /// stops (for the supervisor, which may build the task again).
    pub async fn attempt(self, cancel: &CancellationToken) -> Result<()> {
        // A table restored from a changelog is ready once restored; one
        // rebuilt from its topic (a source table) once read to the end.
        self.status.ready.store(
            self.state.is_none() && self.sink.store().is_none(),
            Ordering::SeqCst,
        );
        let mut runner = Runner {
            task: self,
            partitions: BTreeMap::new(),
            offsets: BTreeMap::new(),
            partition_count: None,
            misplaced: std::collections::HashSet::new(),
            queued: BTreeMap::new(),
            waiting_since: BTreeMap::new(),
            assigned: None,
        };
        runner.run_loop(cancel).await
    }
}

impl Runner {
    async fn run_loop(&mut self, cancel: &CancellationToken) -> Result<()> {
        let mut last_commit = Instant::now();
        let mut uncommitted = false;
        let mut first = true;
        loop {
            // A task with state does not wait for records on its first
            // poll: restore starts at once.
            let wait = if first && self.task.state.is_some() {
                Duration::ZERO
            } else {
                self.task.settings.poll_wait
            };
            first = false;
            let batch = tokio::select! {
                _ = cancel.cancelled() => break,
                b = self.task.reader.poll(self.task.settings.max_batch, wait) => b?,
            };
            if self.hand_over().await? {
                uncommitted = false;
                last_commit = Instant::now();
            }
            let assigned = self.task.reader.assignment();
            if assigned != self.assigned {
                self.assigned.clone_from(&assigned);
                if let Ok(mut a) = self.task.status.assigned.lock() {
                    a.clone_from(&assigned);
                }
            }
            if self.task.state.is_some() {
                self.sync_assignment(assigned.clone()).await?;
            }
            let batch = only_assigned(batch, assigned.as_deref());
            if batch.is_empty() && !self.queued.is_empty() {
                // Queued join records may be free to go now.
                let before = self.queued_records();
                if matches!(self.drain_queued().await?, SinkState::Done) {
                    break;
                }
                uncommitted |= self.queued_records() != before;
            }
            if batch.is_empty() {
                let caught_up = self.task.reader.caught_up() && self.queued.is_empty();
                self.task
                    .status
                    .idle
                    .store(caught_up && !uncommitted, Ordering::SeqCst);
                if caught_up && self.task.state.is_none() {
                    self.task.status.ready.store(true, Ordering::SeqCst);
                }
                if uncommitted {
                    self.commit().await?;
                    uncommitted = false;
                    last_commit = Instant::now();
                }
                if let QuerySink::Channel { sender, .. } = &self.task.sink {
                    if sender.is_closed() {
                        break;
                    }
                }
                continue;
            }
            self.report_gaps(&batch);
            self.task.status.idle.store(false, Ordering::SeqCst);
            self.task
                .status
                .records_in
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            self.task.status.bytes_in.fetch_add(
                (batch.keys.data.len() + batch.values.data.len()) as u64,
                Ordering::Relaxed,
            );
            let state = if self.task.state.is_some() {
                self.process_by_partition(batch).await?
            } else {
                self.process_shared(&batch).await?
            };
            uncommitted = true;
            if matches!(state, SinkState::Done) {
                break;
            }
            if last_commit.elapsed() >= self.task.settings.commit_interval {
                self.commit().await?;
                uncommitted = false;
                last_commit = Instant::now();
            }
        }
        if uncommitted {
            self.commit().await?;
        }
        Ok(())
    }

    fn report_gaps(&self, batch: &RawBatch) {
        for gap in &batch.gaps {
            self.task.log.record(LogEntry {
                query_id: self.task.pipeline.query_id.clone(),
                kind: "data-loss",
                origin: Some(RecordOrigin {
                    topic: batch.topic.to_string(),
                    partition: gap.partition,
                    offset: gap.from,
                }),
                target: None,
                message: format!(
                    "Records at offsets {}..={} of partition {} of topic '{}' were deleted \
                     by the broker (retention) before this query read them",
                    gap.from, gap.to, gap.partition, batch.topic
                ),
                record: None,
            });
        }
    }

    /// One pipeline for every partition (a query without state).
    async fn process_shared(&mut self, batch: &RawBatch) -> Result<SinkState> {
        let outputs = if self.task.settings.emit_every_update {
            self.task.pipeline.process_each(batch, &self.task.log)?
        } else {
            self.task.pipeline.process(batch, &self.task.log)?
        };
        for (&p, &o) in batch.partitions.iter().zip(&batch.offsets) {
            let next = self.offsets.entry((batch.input, p)).or_insert(o + 1);
            *next = (*next).max(o + 1);
        }
        let (state, written) = self.task.sink.write(outputs, None, -1).await?;
        self.task.count_out(written);
        Ok(state)
    }

    /// Each partition's records through its own task.
    async fn process_by_partition(&mut self, batch: RawBatch) -> Result<SinkState> {
        if self.task.pipeline.check_partitioning {
            if self.partition_count.is_none() {
                let broker = self.task.state.as_ref().map(|s| Arc::clone(&s.broker));
                self.partition_count = topic_partitions(broker, &batch.topic).await;
            }
            self.check_partitioning(&batch);
        }
        if self.task.pipeline.sides.is_empty() {
            return self.process_partitions(batch).await;
        }
        let input = batch.input;
        for (p, part) in split_by_partition(batch) {
            self.queued.entry((input, p)).or_default().push_back(part);
        }
        self.drain_queued().await
    }

    /// Processes a join's queued records, each partition's inputs merged
    /// in timestamp order (as Kafka Streams picks the partition whose next
    /// record is oldest): the oldest head's run of records not newer than
    /// the other inputs' heads goes first (of equal heads, the later
    /// input's). A partition whose input has no
    /// queued records waits for it, unless that input is read to its end
    /// or has been waited for [`MAX_IDLE`].
    async fn drain_queued(&mut self) -> Result<SinkState> {
        let inputs = 1 + self.task.pipeline.sides.len();
        let mut partitions: Vec<i32> = self.queued.keys().map(|&(_, p)| p).collect();
        partitions.dedup();
        partitions.sort_unstable();
        partitions.dedup();
        let mut state = SinkState::Open;
        for p in partitions {
            loop {
                let heads: Vec<Option<i64>> = (0..inputs)
                    .map(|i| {
                        self.queued
                            .get(&(i, p))
                            .and_then(|q| q.front())
                            .and_then(|b| b.timestamps.first().copied())
                    })
                    .collect();
                if heads.iter().all(Option::is_none) {
                    break;
                }
                let missing = (0..inputs)
                    .any(|i| heads[i].is_none() && !self.task.reader.partition_caught_up(i, p));
                if missing {
                    let since = *self.waiting_since.entry(p).or_insert_with(Instant::now);
                    if since.elapsed() < MAX_IDLE {
                        break;
                    }
                } else {
                    self.waiting_since.remove(&p);
                }
                // On equal timestamps the later input goes first: a join's
                // tables are its later inputs, so a table update is seen by
                // the stream records of the same time.
                let Some((_, std::cmp::Reverse(input))) = heads
                    .iter()
                    .enumerate()
                    .filter_map(|(i, h)| h.map(|t| (t, std::cmp::Reverse(i))))
                    .min()
                else {
                    break;
                };
                // The oldest other head, and whether this input's records of
                // that same time go before it (the later input first).
                let limit = heads
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != input)
                    .filter_map(|(i, h)| h.map(|t| (t, std::cmp::Reverse(i))))
                    .min()
                    .map(|(t, std::cmp::Reverse(i))| (t, input > i));
                let Some(queue) = self.queued.get_mut(&(input, p)) else {
                    break;
                };
                let Some(front) = queue.pop_front() else {
                    break;
                };
                let run = limit.map_or(front.len(), |(l, ties_first)| {
                    front
                        .timestamps
                        .iter()
                        .position(|&t| t > l || (t == l && !ties_first))
                        .unwrap_or(front.len())
                        .max(1)
                });
                let (head, rest) = front.split_at(run);
                if !rest.is_empty() {
                    queue.push_front(rest);
                }
                if queue.is_empty() {
                    self.queued.remove(&(input, p));
                }
                if matches!(self.process_partitions(head).await?, SinkState::Done) {
                    state = SinkState::Done;
                }
            }
        }
        Ok(state)
    }

    /// The number of join records queued.
    fn queued_records(&self) -> usize {
        self.queued.values().flatten().map(RawBatch::len).sum()
    }

    /// Each partition's records through its own task, in batch order.
    async fn process_partitions(&mut self, batch: RawBatch) -> Result<SinkState> {
        let mut state = SinkState::Open;
        let input = batch.input;
        for (p, part) in split_by_partition(batch) {
            let t = self.task_of(p);
            if !self.partitions.contains_key(&t) {
                self.start_partition(t).await?;
            }
            let Some(task) = self.partitions.get_mut(&t) else {
                continue;
            };
            let below = task.skip_below.get(&(input, p)).copied();
            let part = skip_below(part, below.unwrap_or(i64::MIN));
            let Some(&last) = part.offsets.last() else {
                continue;
            };
            let outputs = if self.task.settings.emit_every_update {
                task.pipeline.process_each(&part, &self.task.log)?
            } else {
                task.pipeline.process(&part, &self.task.log)?
            };
            let next = task.next.entry((input, p)).or_insert(0);
            *next = (*next).max(last + 1);
            let (s, written) = self
                .task
                .sink
                .write(outputs, Some(&mut task.records), t)
                .await?;
            self.task.count_out(written);
            if matches!(s, SinkState::Done) {
                state = SinkState::Done;
            }
        }
        Ok(state)
    }

    /// Drops the tasks of `tasks` and their rows of the materialized table
    /// (their partitions are read elsewhere now).
    fn drop_tasks(&mut self, tasks: &[i32]) -> Result<()> {
        for t in tasks {
            self.partitions.remove(t);
        }
        match self.task.sink.store() {
            Some(store) => store.drop_partitions(tasks),
            None => Ok(()),
        }
    }

    /// Reports, once per input, records of a co-partitioned join that are
    /// not in the partition Kafka's default partitioner (murmur2 of the key
    /// bytes) gives their key: the join's task for that partition does not
    /// see the other side's records of the same key, so matches would be
    /// missed without a word.
    fn check_partitioning(&mut self, batch: &RawBatch) {
        let Some(n) = self.partition_count.filter(|n| *n > 1) else {
            return;
        };
        if self.misplaced.contains(&batch.input) {
            return;
        }
        for i in 0..batch.len() {
            let Some(key) = batch.keys.get(i) else {
                continue;
            };
            let p = batch.partitions[i];
            let expected = super::io::partition_for_key(key, n);
            if expected == p {
                continue;
            }
            self.misplaced.insert(batch.input);
            let message = format!(
                "The record at offset {} of partition {p} of topic '{}' belongs in partition \
                 {expected} by Kafka's default partitioner (murmur2 of the key bytes): the \
                 join's inputs are not partitioned alike, so it can miss matches. Produce with \
                 a murmur2 partitioner (the Java client's default; librdkafka clients: \
                 partitioner=murmur2_random), or repartition the topic (CREATE STREAM … AS \
                 SELECT … PARTITION BY the key)",
                batch.offsets[i], batch.topic
            );
            tracing::warn!(query = %self.task.pipeline.query_id, "{message}");
            self.task.log.record(LogEntry {
                query_id: self.task.pipeline.query_id.clone(),
                kind: "partitioning",
                origin: Some(RecordOrigin {
                    topic: batch.topic.to_string(),
                    partition: p,
                    offset: batch.offsets[i],
                }),
                target: Some("key"),
                message,
                record: None,
            });
            return;
        }
    }

    /// Gives up the partitions the consumer group takes away: commits the
    /// work done on them (unless the group already expired this member),
    /// drops their tasks and their rows of the materialized table, and
    /// lets the group hand them to another server. True when it committed.
    async fn hand_over(&mut self) -> Result<bool> {
        let Some((revoked, lost)) = self.task.reader.revoking() else {
            return Ok(false);
        };
        if !lost {
            self.commit().await?;
        }
        let tasks: Vec<i32> = revoked.iter().map(|&p| self.task_of(p)).collect();
        self.drop_tasks(&tasks)?;
        self.offsets.retain(|&(_, p), _| !revoked.contains(&p));
        self.queued.retain(|&(_, p), _| !revoked.contains(&p));
        tracing::info!(
            query = %self.task.pipeline.query_id,
            partitions = ?revoked,
            lost,
            "partitions handed over to another server"
        );
        self.task.reader.release()?;
        Ok(!lost)
    }

    /// Starts tasks for newly assigned partitions (restoring their state)
    /// and drops those of partitions assigned elsewhere.
    async fn sync_assignment(&mut self, assigned: Option<Vec<i32>>) -> Result<()> {
        let Some(assigned) = assigned else {
            return Ok(());
        };
        let mut assigned: Vec<i32> = assigned.into_iter().map(|p| self.task_of(p)).collect();
        assigned.dedup();
        let became_ready = !self.task.status.ready.load(Ordering::Relaxed);
        let revoked: Vec<i32> = self
            .partitions
            .keys()
            .filter(|p| !assigned.contains(p))
            .copied()
            .collect();
        // Their uncommitted work is redone by whoever gets them, from the
        // changelog's last marker.
        self.drop_tasks(&revoked)?;
        let new: Vec<i32> = assigned
            .into_iter()
            .filter(|p| !self.partitions.contains_key(p))
            .collect();
        if new.is_empty() {
            if became_ready {
                self.task.status.ready.store(true, Ordering::SeqCst);
            }
            return Ok(());
        }
        self.start_partitions(&new).await?;
        if became_ready {
            self.task.status.ready.store(true, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Creates the tasks of `partitions` and restores their state: their
    /// changelog partitions are read by one reader, the operators of each
    /// rebuilt in parallel (blocking tasks), the materialized table filled
    /// in one bulk load.
    async fn start_partitions(&mut self, partitions: &[i32]) -> Result<()> {
        let (broker, topic, fingerprint) = match &self.task.state {
            None => return Ok(()),
            Some(spec) => (
                Arc::clone(&spec.broker),
                Arc::<str>::from(spec.topic.as_str()),
                spec.fingerprint,
            ),
        };
        let started = Instant::now();
        let restored = state::read_changelogs(
            broker.as_ref(),
            &topic,
            partitions,
            fingerprint,
            self.task.txn.is_some(),
        )
        .await?;
        let read = started.elapsed();
        let mut rebuilds = Vec::with_capacity(partitions.len());
        for (&p, restored) in partitions.iter().zip(restored) {
            let mut pipeline = self.task.pipeline.fork()?;
            let topic = Arc::clone(&topic);
            let with_store = self.task.sink.store().is_some();
            rebuilds.push(tokio::task::spawn_blocking(move || {
                restore_operators(&mut pipeline, p, &restored)
                    .map_err(|e| e.context(format!("restoring partition {p} of '{topic}'")))?;
                let order = if with_store {
                    Some(Materialized::sort_order(&restored.component(STORE)?))
                } else {
                    None
                };
                Ok::<_, Error>((p, pipeline, restored, order))
            }));
        }
        let mut rebuilt = Vec::with_capacity(rebuilds.len());
        for r in rebuilds {
            rebuilt.push(
                r.await
                    .map_err(|e| Error::internal(format!("restore task failed: {e}")))??,
            );
        }
        let operators = started.elapsed();
        if let Some(store) = self.task.sink.store() {
            let mut parts = Vec::with_capacity(rebuilt.len());
            for (p, _, restored, order) in &rebuilt {
                let records = restored.component(STORE)?;
                parts.push((
                    *p,
                    order
                        .iter()
                        .flatten()
                        .filter_map(|&i| records.get(i as usize).copied())
                        .collect::<Vec<_>>(),
                ));
            }
            store.load(parts)?;
        }
        self.task
            .status
            .restore_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        tracing::debug!(
            query = %self.task.pipeline.query_id,
            partitions = partitions.len(),
            read_s = read.as_secs_f64(),
            operators_s = (operators - read).as_secs_f64(),
            store_s = (started.elapsed() - operators).as_secs_f64(),
            "restore phases"
        );
        for (p, pipeline, restored, _) in rebuilt {
            self.install_partition(p, pipeline, restored).await?;
        }
        Ok(())
    }

    /// Creates the task of partition `p` and restores its state.
    async fn start_partition(&mut self, p: i32) -> Result<()> {
        self.start_partitions(&[p]).await
    }

    /// The task reading input partition `p`: the task of that partition,
    /// or task 0 for a pipeline that runs as one task.
    fn task_of(&self, p: i32) -> i32 {
        if self.task.pipeline.single_task {
            0
        } else {
            p
        }
    }

    /// Adds the task of partition `p`, its operators restored: writes back
    /// what an interval cut short had written, and resumes input at the
    /// last marker.
    async fn install_partition(
        &mut self,
        p: i32,
        pipeline: Pipeline,
        restored: state::RestoredState,
    ) -> Result<()> {
        let Some(spec) = &mut self.task.state else {
            return Ok(());
        };
        let mut records = StateWriter::new();
        let marker = restored.marker.clone();
        if !restored.corrections.is_empty() {
            // What an interval cut short wrote is overwritten with the
            // sealed state, and sealed again.
            for (k, v) in &restored.corrections {
                records.put_raw(k, v.as_deref());
            }
            if let Some(m) = &marker {
                records.marker_with(m.next_offset, spec.fingerprint, &m.more);
            }
            state::write(spec.writer.as_mut(), &mut records, p).await?;
        }
        if let Some((from, to)) = restored.lost {
            self.task.log.record(LogEntry {
                query_id: self.task.pipeline.query_id.clone(),
                kind: "data-loss",
                origin: Some(RecordOrigin {
                    topic: spec.topic.clone(),
                    partition: p,
                    offset: from,
                }),
                target: None,
                message: format!(
                    "Records at offsets {from}..={to} of partition {p} of the state changelog \
                     '{}' were deleted by the broker (retention) before they could be restored: \
                     the state of that partition may miss keys",
                    spec.topic
                ),
                record: None,
            });
        }
        let stats = restored.stats;
        self.task
            .status
            .restored_records
            .fetch_add(stats.records, Ordering::Relaxed);
        self.task
            .status
            .restored_bytes
            .fetch_add(stats.bytes, Ordering::Relaxed);
        if stats.records > 0 {
            tracing::info!(
                query = %self.task.pipeline.query_id,
                partition = p,
                records = stats.records,
                keys = restored.len(),
                seconds = stats.elapsed.as_secs_f64(),
                resume_at = marker.as_ref().map(|m| m.next_offset),
                "state restored from changelog '{}'", spec.topic
            );
        }
        // Dropping the restored records (a box per key) off the worker.
        tokio::task::spawn_blocking(move || drop(restored));
        let mut next = Positions::new();
        if let Some(m) = &marker {
            if m.next_offset >= 0 {
                next.insert((0, p), m.next_offset);
            }
            next.extend(m.more.iter().map(|&(i, q, o)| ((i, q), o)));
        }
        self.offsets.extend(next.iter().map(|(&k, &v)| (k, v)));
        self.partitions.insert(
            p,
            PartitionTask {
                pipeline,
                records,
                sealed: next.clone(),
                skip_below: next.clone(),
                next,
            },
        );
        Ok(())
    }

    async fn commit(&mut self) -> Result<()> {
        let started = std::time::Instant::now();
        let result = self.commit_now().await;
        if result.is_ok() {
            let status = &self.task.status;
            status.commits.fetch_add(1, Ordering::Relaxed);
            status.commit_micros.fetch_add(
                u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
        }
        result
    }

    async fn commit_now(&mut self) -> Result<()> {
        // Updates held back by stateful operators go out before the commit
        // that covers the records they came from.
        if self.task.state.is_none() {
            let held = self.task.pipeline.flush(&self.task.log)?;
            if !held.is_empty() {
                let (_, written) = self.task.sink.write(held, None, -1).await?;
                self.task.count_out(written);
            }
        }
        let mut commits: Vec<CommitPosition> = Vec::new();
        if let Some(spec) = &mut self.task.state {
            for (&p, task) in self.partitions.iter_mut() {
                let held = task.pipeline.flush(&self.task.log)?;
                if !held.is_empty() {
                    let (_, written) = self
                        .task
                        .sink
                        .write(held, Some(&mut task.records), p)
                        .await?;
                    let status = &self.task.status;
                    status.records_out.fetch_add(written, Ordering::Relaxed);
                    let bytes = self.task.sink.take_bytes();
                    status.bytes_out.fetch_add(bytes, Ordering::Relaxed);
                }
                for (c, op) in task.pipeline.components()? {
                    op.checkpoint(task.records.component(c))?;
                }
                if !task.next.is_empty() {
                    if task.sealed != task.next || !task.records.is_empty() {
                        let own = task.next.get(&(0, p)).copied().unwrap_or(-1);
                        let more: Vec<CommitPosition> = task
                            .next
                            .iter()
                            .filter(|(&k, _)| k != (0, p))
                            .map(|(&(i, q), &o)| (i, q, o))
                            .collect();
                        task.records.marker_with(own, spec.fingerprint, &more);
                        task.sealed = task.next.clone();
                    }
                    commits.extend(task.next.iter().map(|(&(i, q), &o)| (i, q, o)));
                }
                state::write(spec.writer.as_mut(), &mut task.records, p).await?;
            }
            if self.task.txn.is_none() {
                spec.writer
                    .flush()
                    .await
                    .map_err(|e| e.context("writing the query's state changelog failed"))?;
            }
        } else {
            commits.extend(self.offsets.iter().map(|(&(i, p), &o)| (i, p, o)));
        }
        if let Some(txn) = self.task.txn.clone() {
            // Output, changelog and input positions commit together.
            self.task
                .reader
                .commit_in(&commits, txn.as_ref())
                .await
                .map_err(|e| e.context("committing offsets in the transaction failed"))?;
            txn.commit().await?;
            if self.task.status.error().is_some() {
                self.task.status.set_error(None);
            }
            return Ok(());
        }
        self.task
            .sink
            .flush()
            .await
            .map_err(|e| e.context("writing the query's output failed"))?;
        self.task
            .reader
            .commit(&commits)
            .await
            .map_err(|e| match e {
                Error::External(m) => Error::External(format!("committing offsets failed: {m}")),
                other => other,
            })?;
        // Working again after a retried failure.
        if self.task.status.error().is_some() {
            self.task.status.set_error(None);
        }
        Ok(())
    }
}

/// How many partitions `topic` has (all of them: this server may read
/// only some), when the broker says.
async fn topic_partitions(broker: Option<Arc<dyn Broker>>, topic: &str) -> Option<i32> {
    match broker?.admin().describe_topic(topic).await {
        Ok(t) => t.map(|t| t.partitions),
        Err(e) => {
            tracing::debug!("cannot describe topic '{topic}': {e}");
            None
        }
    }
}

/// Enables the changelog of every operator of a task's pipeline and
/// rebuilds their state from what was restored.
fn restore_operators(
    pipeline: &mut Pipeline,
    p: i32,
    restored: &state::RestoredState,
) -> Result<()> {
    let by_component = restored.by_component()?;
    for (c, op) in pipeline.components()? {
        op.enable_changelog();
        if let Some(records) = by_component.get(&c) {
            op.restore(p, records)?;
        }
    }
    Ok(())
}

/// The records of each partition of a batch, in order, each partition's
/// records as one batch (a fetch usually holds one run per partition).
fn split_by_partition(batch: RawBatch) -> Vec<(i32, RawBatch)> {
    let n = batch.len();
    if n == 0 {
        return Vec::new();
    }
    let first = batch.partitions[0];
    if batch.partitions.iter().all(|&p| p == first) {
        return vec![(first, batch)];
    }
    let mut parts: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    for (i, &p) in batch.partitions.iter().enumerate() {
        parts.entry(p).or_default().push(i);
    }
    parts
        .into_iter()
        .map(|(p, rows)| (p, select_rows(&batch, &rows)))
        .collect()
}

/// The records of partitions assigned to this reader (a batch fetched
/// before a rebalance may hold records of partitions given up since); all
/// of them while the assignment is not known.
fn only_assigned(batch: RawBatch, assigned: Option<&[i32]>) -> RawBatch {
    let Some(assigned) = assigned else {
        return batch;
    };
    let mut last_ok = None;
    let all = batch.partitions.iter().all(|&p| {
        if last_ok == Some(p) {
            return true;
        }
        let ok = assigned.contains(&p);
        if ok {
            last_ok = Some(p);
        }
        ok
    });
    if all {
        return batch;
    }
    let rows: Vec<usize> = (0..batch.len())
        .filter(|&i| assigned.contains(&batch.partitions[i]))
        .collect();
    select_rows(&batch, &rows)
}

/// The records of `batch` at `rows`, in that order.
fn select_rows(batch: &RawBatch, rows: &[usize]) -> RawBatch {
    batch.select(rows)
}

/// Drops the records below `offset` (already part of the restored state).
fn skip_below(batch: RawBatch, offset: i64) -> RawBatch {
    match batch.offsets.iter().position(|&o| o >= offset) {
        Some(0) => batch,
        None => select_rows(&batch, &[]),
        Some(_) => {
            let rows: Vec<usize> = (0..batch.len())
                .filter(|&i| batch.offsets[i] >= offset)
                .collect();
            select_rows(&batch, &rows)
        }
    }
}

#[cfg(test)]
use super::io::push_payload;

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(parts: &[(i32, i64)]) -> RawBatch {
        let mut b = RawBatch::default();
        b.keys.offsets.push(0);
        b.values.offsets.push(0);
        for &(p, o) in parts {
            push_payload(&mut b.keys, Some(&o.to_be_bytes()));
            push_payload(&mut b.values, None);
            b.timestamps.push(o);
            b.partitions.push(p);
            b.offsets.push(o);
        }
        b
    }

    #[test]
    fn batches_split_by_partition_in_order() {
        let parts = split_by_partition(raw(&[(1, 5), (0, 7), (1, 6), (0, 8)]));
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].0, 0);
        assert_eq!(parts[0].1.offsets, vec![7, 8]);
        assert_eq!(parts[1].1.offsets, vec![5, 6]);
        assert_eq!(parts[1].1.keys.get(1), Some(&6i64.to_be_bytes()[..]));
        assert!(parts[1].1.values.get(0).is_none());
    }

    #[test]
    fn records_below_the_restored_offset_are_skipped() {
        let b = skip_below(raw(&[(0, 3), (0, 4), (0, 5)]), 5);
        assert_eq!(b.offsets, vec![5]);
        assert_eq!(b.keys.get(0), Some(&5i64.to_be_bytes()[..]));
        assert!(skip_below(raw(&[(0, 3)]), 9).is_empty());
        assert_eq!(skip_below(raw(&[(0, 3)]), 0).offsets, vec![3]);
    }
}
