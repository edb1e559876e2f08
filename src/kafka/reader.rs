//! A topic reader on rdkafka's StreamConsumer: one await for the first
//! record, then the queue is drained without waiting, so a batch costs one
//! wake-up, not one per record. Records are copied into the batch's
//! contiguous buffers (no per-record allocation).
//!
//! A persistent query's reader (one with a consumer group) subscribes in
//! the query's group with the cooperative-sticky assignor, so the servers
//! of one service split its partitions and take over a dead server's. A
//! revoked partition is held until the query has committed its work on it
//! ([`KafkaReader::release`]). The other inputs of a join follow the first
//! input's assignment by manual assignment (so that the same partitions of
//! co-partitioned topics stay together) and commit through its consumer,
//! the group's member. Transient readers (push queries, PRINT) subscribe
//! in a group of their own and never commit.
//!
//! Errors the consumer reports while the broker is away (transport
//! failures, all brokers down) are logged and ridden out: librdkafka
//! reconnects by itself, and the query resumes when the broker is back.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol, StreamConsumer,
};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::error::{Error, Result};
use crate::format::Encoded;
use crate::runtime::io::{CommitPosition, OffsetGap, RawBatch, ReaderSpec, StartFrom, TopicReader};

/// Follows the consumer group's rebalances: counts them, so that the
/// reader asks for its assignment only after one, and (for a persistent
/// query's reader) holds back the partitions the group takes away until
/// the query has committed its work on them ([`KafkaReader::release`]), as
/// Kafka Streams commits in `onPartitionsRevoked`.
#[derive(Clone, Default)]
pub(super) struct Rebalances(Arc<RebalanceState>);

#[derive(Default)]
pub(super) struct RebalanceState {
    count: AtomicU64,
    /// Whether revocations wait for [`KafkaReader::release`].
    defer: AtomicBool,
    /// Set once the reader is being dropped: the consumer's close revokes
    /// everything and must not wait.
    closing: AtomicBool,
    pending: std::sync::Mutex<Option<PendingRevoke>>,
}

/// A revocation waiting for the query to commit.
struct PendingRevoke {
    partitions: TopicPartitionList,
    cooperative: bool,
    lost: bool,
}

impl ClientContext for Rebalances {}

impl ConsumerContext for Rebalances {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let outcome = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let state = &self.0;
                if state.defer.load(Ordering::SeqCst) && !state.closing.load(Ordering::SeqCst) {
                    if let Ok(mut pending) = state.pending.lock() {
                        // A second revocation before the first is released
                        // (the eager protocol) revokes everything anyway.
                        *pending = Some(PendingRevoke {
                            partitions: tpl.clone(),
                            cooperative,
                            lost: consumer.assignment_lost(),
                        });
                        state.count.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                }
                if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                tracing::warn!(
                    "consumer group rebalance failed: {}",
                    RDKafkaErrorCode::from(other)
                );
                Ok(())
            }
        };
        if let Err(e) = outcome {
            tracing::warn!("consumer group rebalance: cannot change the assignment: {e}");
        }
        self.0.count.fetch_add(1, Ordering::SeqCst);
    }
}

type Inner = StreamConsumer<Rebalances>;

pub(super) struct KafkaReader {
    consumer: Arc<Inner>,
    rebalances: Rebalances,
    /// The rebalance count when the assignment was last read, and it.
    assignment: (u64, Option<Vec<i32>>),
    /// Consumer errors in a row (while the broker is away).
    errors: u32,
    /// For a manually assigned reader: the partitions assigned so far
    /// (empty until the topic's metadata was read).
    manual: Option<Vec<i32>>,
    /// For a join's later input: the consumer of the first input, which
    /// is the group's member and commits for it; its partitions are those
    /// [`KafkaReader::follow`] gives.
    leader: Option<Arc<Inner>>,
    topic: Arc<str>,
    with_headers: bool,
    commits: bool,
    caught_up: bool,
    /// The partitions the last check found read to their end.
    partitions_caught_up: std::collections::HashSet<i32>,
    /// Whether which partitions are read to their end is checked while
    /// records flow too (for a join, which waits for an input partition
    /// until it has records or is known to be read to its end).
    pub(super) track_partitions: bool,
    /// The next offset expected per partition, to notice skipped ranges.
    expected: std::collections::HashMap<i32, i64>,
    /// When the broker was last asked whether this reader caught up.
    last_catch_up_check: Option<std::time::Instant>,
    /// How long a "caught up" answer is reused: zero for a reader of one
    /// partition from an offset (the command topic), whose follower dates
    /// its catalog by the answer.
    check_interval: Duration,
    /// Where this reader's consumer lag goes, and when it was last put
    /// there.
    lag: Option<(crate::runtime::io::LagSink, Option<std::time::Instant>)>,
}

/// How often a reader updates its consumer lag.
const LAG_INTERVAL: Duration = Duration::from_secs(1);

impl KafkaReader {
    /// A reader of `spec`: a member of its consumer group when it has one.
    pub(super) fn new(config: ClientConfig, spec: &ReaderSpec) -> Result<Self> {
        Self::build(config, spec, None, None)
    }

    /// A reader of one partition from `offset` on, by manual assignment
    /// (the command topic).
    pub(super) fn at(
        config: ClientConfig,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<Self> {
        let spec = ReaderSpec::from_start(topic);
        Self::build(config, &spec, None, Some(vec![(partition, offset)]))
    }

    /// A transient reader of every partition of `topic` from its end as
    /// of now: the high watermarks are read and assigned, so a record
    /// written after this returns is read. Blocks on the broker (call it
    /// off the async workers).
    pub(super) fn from_now(config: ClientConfig, topic: &str, with_headers: bool) -> Result<Self> {
        let spec = ReaderSpec {
            with_headers,
            ..ReaderSpec::from_start(topic)
        };
        let mut reader = Self::build(config, &spec, None, Some(Vec::new()))?;
        let timeout = Duration::from_secs(10);
        let metadata = reader
            .consumer
            .fetch_metadata(Some(topic), timeout)
            .map_err(|e| Error::external(format!("cannot read topic '{topic}': {e}")))?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic)
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if partitions.is_empty() {
            return Err(Error::user(format!("Kafka topic does not exist: {topic}")));
        }
        let mut tpl = TopicPartitionList::new();
        for &p in &partitions {
            let (_, high) = reader
                .consumer
                .fetch_watermarks(topic, p, timeout)
                .map_err(|e| Error::external(format!("cannot read topic '{topic}': {e}")))?;
            tpl.add_partition_offset(topic, p, Offset::Offset(high))?;
        }
        reader.consumer.assign(&tpl)?;
        reader.manual = Some(partitions);
        Ok(reader)
    }

    /// A reader of a join's later input, whose partitions follow the first
    /// input's (`leader`, the group's member, which also commits for it).
    pub(super) fn follower(
        config: ClientConfig,
        spec: &ReaderSpec,
        leader: &KafkaReader,
    ) -> Result<Self> {
        Self::build(config, spec, Some(Arc::clone(&leader.consumer)), None)
    }

    fn build(
        mut config: ClientConfig,
        spec: &ReaderSpec,
        leader: Option<Arc<Inner>>,
        at: Option<Vec<(i32, i64)>>,
    ) -> Result<Self> {
        let group = spec
            .group_id
            .clone()
            .unwrap_or_else(|| format!("_sluice_transient_{}", uuid::Uuid::new_v4()));
        config
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set("fetch.queue.backoff.ms", "10")
            .set("fetch.wait.max.ms", "50")
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "1000")
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set(
                "auto.offset.reset",
                match spec.start {
                    StartFrom::Earliest => "earliest",
                    StartFrom::Latest => "latest",
                },
            );
        let rebalances = Rebalances::default();
        let consumer: Inner = config.create_with_context(rebalances.clone())?;
        let manual = leader.is_some() || at.is_some();
        let check_interval = if at.as_ref().is_some_and(|a| !a.is_empty()) {
            Duration::ZERO
        } else {
            CATCH_UP_CHECK_INTERVAL
        };
        if let Some(at) = at.as_ref().filter(|at| !at.is_empty()) {
            let mut tpl = TopicPartitionList::new();
            for &(partition, offset) in at {
                // A negative offset counts back from the end.
                let from = if offset < 0 {
                    Offset::OffsetTail(offset.saturating_neg())
                } else {
                    Offset::Offset(offset)
                };
                tpl.add_partition_offset(&spec.topic, partition, from)?;
            }
            consumer.assign(&tpl)?;
        } else if !manual {
            consumer.subscribe(&[spec.topic.as_str()])?;
        }
        // A persistent query commits its work before giving partitions up.
        rebalances
            .0
            .defer
            .store(spec.group_id.is_some() && !manual, Ordering::SeqCst);
        Ok(KafkaReader {
            consumer: Arc::new(consumer),
            rebalances,
            assignment: (0, None),
            manual: manual.then(|| {
                at.map(|at| at.iter().map(|(p, _)| *p).collect())
                    .unwrap_or_default()
            }),
            leader,
            errors: 0,
            topic: Arc::from(spec.topic.as_str()),
            with_headers: spec.with_headers,
            commits: spec.group_id.is_some(),
            caught_up: false,
            partitions_caught_up: std::collections::HashSet::new(),
            track_partitions: false,
            expected: std::collections::HashMap::new(),
            last_catch_up_check: None,
            check_interval,
            lag: None,
        })
    }

    /// Puts each read partition's lag (its end as the last fetch saw it,
    /// minus the next offset to read) into the lag sink, at most every
    /// [`LAG_INTERVAL`]. Local calls only: no request to the broker.
    fn update_lag(&mut self) {
        let Some((sink, updated)) = &mut self.lag else {
            return;
        };
        if updated.is_some_and(|t| t.elapsed() < LAG_INTERVAL) {
            return;
        }
        *updated = Some(std::time::Instant::now());
        let lags: Vec<(i32, i64)> = self
            .expected
            .iter()
            .filter_map(|(&p, &next)| {
                cached_watermarks(&self.consumer, &self.topic, p)
                    .map(|(_, high)| (p, (high - next).max(0)))
            })
            .collect();
        let assigned = self.assignment.1.clone();
        if let Ok(mut map) = sink.lock() {
            // Partitions this reader no longer reads leave the map.
            map.retain(|(t, p), _| {
                **t != *self.topic || assigned.as_ref().is_none_or(|a| a.contains(p))
            });
            for (p, lag) in lags {
                if assigned.as_ref().is_none_or(|a| a.contains(&p)) {
                    map.insert((Arc::clone(&self.topic), p), lag);
                }
            }
        }
    }

    /// Confirms suspected gaps in one blocking task: a gap is data loss
    /// when the broker's log now starts after its first offset (the lost
    /// range ends before the log start). A partition's first record is a
    /// gap only when the group had committed a position before it; the
    /// committed positions are fetched once, and watermarks only for the
    /// gaps that remain.
    async fn confirm_losses(&self, suspects: Vec<OffsetGap>) -> Vec<OffsetGap> {
        if suspects.is_empty() {
            return Vec::new();
        }
        let consumer = Arc::clone(&self.consumer);
        let topic = self.topic.to_string();
        let commits = self.commits;
        tokio::task::spawn_blocking(move || {
            let firsts: Vec<i32> = suspects
                .iter()
                .filter(|g| g.from < 0)
                .map(|g| g.partition)
                .collect();
            let committed = if commits && !firsts.is_empty() {
                let mut tpl = rdkafka::TopicPartitionList::new();
                for p in &firsts {
                    tpl.add_partition(&topic, *p);
                }
                committed_offsets(&consumer, tpl, Duration::from_secs(5))
            } else {
                Default::default()
            };
            suspects
                .into_iter()
                .filter_map(|gap| {
                    // A fresh start has nothing to lose; a resumed one lost
                    // what lies between its committed position and the first
                    // record read.
                    let gap = if gap.from < 0 {
                        let from = *committed.get(&gap.partition)?;
                        if gap.to < from {
                            return None;
                        }
                        OffsetGap { from, ..gap }
                    } else {
                        gap
                    };
                    let (low, _) = consumer
                        .fetch_watermarks(&topic, gap.partition, Duration::from_secs(5))
                        .ok()?;
                    (low > gap.from).then(|| OffsetGap {
                        to: gap.to.min(low - 1),
                        ..gap
                    })
                })
                .collect()
        })
        .await
        .unwrap_or_default()
    }

    /// Whether every assigned partition is read to its end (and which
    /// are). Asks the broker for watermarks (in a blocking task, not on the
    /// async worker), at most every [`CATCH_UP_CHECK_INTERVAL`]; in between
    /// the last answer stands.
    async fn check_caught_up(&mut self) -> bool {
        if self
            .last_catch_up_check
            .is_some_and(|t| t.elapsed() < self.check_interval)
        {
            return self.caught_up;
        }
        self.last_catch_up_check = Some(std::time::Instant::now());
        // A member the group gave no partition has nothing to read.
        let nothing_assigned = self.manual.as_ref().is_some_and(Vec::is_empty)
            || (self.manual.is_none() && self.assignment().is_some_and(|a| a.is_empty()));
        if nothing_assigned {
            self.partitions_caught_up.clear();
            return true;
        }
        let consumer = Arc::clone(&self.consumer);
        let topic = self.topic.to_string();
        let (all, done) = tokio::task::spawn_blocking(move || {
            let Ok(positions) = consumer.position() else {
                return (false, std::collections::HashSet::new());
            };
            let elements = positions.elements();
            // Nothing consumed yet from a partition: it starts at the group's
            // committed offset, if any.
            let mut unconsumed = TopicPartitionList::new();
            for e in &elements {
                if !matches!(e.offset(), Offset::Offset(_)) {
                    unconsumed.add_partition(e.topic(), e.partition());
                }
            }
            let committed = if unconsumed.count() > 0 {
                committed_offsets(&consumer, unconsumed, Duration::from_secs(2))
            } else {
                Default::default()
            };
            // Where each partition is, and where it would be once read to
            // the end of what it had already.
            let at = |e: &rdkafka::topic_partition_list::TopicPartitionListElem<'_>| match (
                e.offset(),
                committed.get(&e.partition()),
            ) {
                (Offset::Offset(p), _) => Some(p),
                (_, Some(&c)) => Some(c),
                _ => None,
            };
            // The watermarks of the last fetch response answer "not yet"
            // for a partition behind them without asking the broker; the
            // others are confirmed with the broker (a cached watermark may
            // be older than the last write).
            let mut confirm: Vec<(i32, i64)> = Vec::new();
            let mut unread = Vec::new();
            for e in &elements {
                let cached = cached_watermarks(&consumer, e.topic(), e.partition());
                match (at(e), cached) {
                    (Some(p), Some((_, high))) if p < high => {}
                    (Some(p), _) => confirm.push((e.partition(), p)),
                    (None, _) => unread.push(e.partition()),
                }
            }
            // `fetch_watermarks` is one round trip per partition, each
            // behind the consumer's pending fetch: a few threads ask for
            // several partitions at once.
            let chunk = confirm.len().div_ceil(WATERMARK_THREADS).max(1);
            let mut done: std::collections::HashSet<i32> = std::thread::scope(|scope| {
                let asks: Vec<_> = confirm
                    .chunks(chunk)
                    .map(|part| {
                        let (consumer, topic) = (&consumer, &topic);
                        scope.spawn(move || {
                            part.iter()
                                .filter(|&&(partition, position)| {
                                    consumer
                                        .fetch_watermarks(topic, partition, Duration::from_secs(2))
                                        .is_ok_and(|(_, high)| position >= high)
                                })
                                .map(|&(partition, _)| partition)
                                .collect::<Vec<i32>>()
                        })
                    })
                    .collect();
                asks.into_iter()
                    .flat_map(|a| a.join().unwrap_or_default())
                    .collect()
            });
            // Nothing consumed nor committed: caught up only if empty.
            for partition in unread {
                if let Ok((low, high)) =
                    consumer.fetch_watermarks(&topic, partition, Duration::from_secs(2))
                {
                    if high <= low {
                        done.insert(partition);
                    }
                }
            }
            (!elements.is_empty() && done.len() == elements.len(), done)
        })
        .await
        .unwrap_or_default();
        self.partitions_caught_up = done;
        all
    }
}

impl KafkaReader {
    /// The partitions the consumer group is taking away, held until
    /// [`KafkaReader::release`]; with whether they are already lost (the
    /// group expired this member: committing for them would fail).
    fn pending_revoke(&self) -> Option<(Vec<i32>, bool)> {
        let pending = self.rebalances.0.pending.lock().ok()?;
        pending.as_ref().map(|p| {
            let partitions = p
                .partitions
                .elements_for_topic(&self.topic)
                .iter()
                .map(|e| e.partition())
                .collect();
            (partitions, p.lost)
        })
    }

    /// Gives up the partitions of the pending revocation.
    fn release_revoked(&mut self) -> Result<()> {
        let pending = self
            .rebalances
            .0
            .pending
            .lock()
            .map_err(|_| Error::internal("the rebalance state is poisoned"))?
            .take();
        if let Some(p) = pending {
            if p.cooperative {
                self.consumer.incremental_unassign(&p.partitions)?;
            } else {
                self.consumer.unassign()?;
            }
            self.rebalances.0.count.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }

    /// A follower takes exactly `partitions`, the new ones at the group's
    /// committed offsets.
    fn follow_partitions(&mut self, partitions: &[i32]) -> Result<()> {
        let current = self.manual.clone().unwrap_or_default();
        let mut add = TopicPartitionList::new();
        let mut remove = TopicPartitionList::new();
        for &p in partitions.iter().filter(|p| !current.contains(p)) {
            add.add_partition_offset(&self.topic, p, Offset::Stored)?;
        }
        for &p in current.iter().filter(|p| !partitions.contains(p)) {
            remove.add_partition(&self.topic, p);
        }
        if remove.count() > 0 {
            self.consumer.incremental_unassign(&remove)?;
            for e in remove.elements() {
                self.expected.remove(&e.partition());
                self.partitions_caught_up.remove(&e.partition());
            }
        }
        if add.count() > 0 {
            self.consumer.incremental_assign(&add)?;
        }
        self.manual = Some(partitions.to_vec());
        self.last_catch_up_check = None;
        Ok(())
    }
}

impl Drop for KafkaReader {
    fn drop(&mut self) {
        // Closing the consumer revokes everything: nothing is left to
        // commit by then, and the close must not wait for a release.
        self.rebalances.0.closing.store(true, Ordering::SeqCst);
    }
}

/// The group's committed offset of each of `partitions` that has one (a
/// blocking call: run it off the async workers).
fn committed_offsets(
    consumer: &Inner,
    partitions: TopicPartitionList,
    timeout: Duration,
) -> std::collections::HashMap<i32, i64> {
    consumer
        .committed_offsets(partitions, timeout)
        .map(|t| {
            t.elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(o) => Some((e.partition(), o)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The watermarks of a partition as the last fetch response gave them
/// (librdkafka keeps them; no request is sent), when known.
fn cached_watermarks(consumer: &Inner, topic: &str, partition: i32) -> Option<(i64, i64)> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer lives as long as `consumer`; the topic is a
    // NUL-terminated string; the out parameters are valid for writes.
    let err = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
        && low >= 0
        && high >= 0)
        .then_some((low, high))
}

/// How many threads at most ask for watermarks at once.
const WATERMARK_THREADS: usize = 8;

/// How often an idle reader asks the broker whether it has caught up.
const CATCH_UP_CHECK_INTERVAL: Duration = Duration::from_millis(250);

fn push(p: &mut Encoded, payload: Option<&[u8]>) {
    match payload {
        Some(b) => {
            p.data.extend_from_slice(b);
            p.nulls.push(false);
        }
        None => p.nulls.push(true),
    }
    p.offsets.push(p.data.len());
}

/// Appends a message; returns a suspected gap (offsets skipped since the
/// last message of the partition). Transaction markers also leave gaps, so
/// a suspicion is confirmed against the log start offset before it is
/// reported.
fn append(
    batch: &mut RawBatch,
    m: &BorrowedMessage<'_>,
    with_headers: bool,
    expected: &mut std::collections::HashMap<i32, i64>,
) -> Option<OffsetGap> {
    let gap = match expected.insert(m.partition(), m.offset() + 1) {
        Some(e) if m.offset() > e => Some(OffsetGap {
            partition: m.partition(),
            from: e,
            to: m.offset() - 1,
        }),
        // First record of the partition: compared with the committed
        // position (`from` unknown yet).
        None => Some(OffsetGap {
            partition: m.partition(),
            from: -1,
            to: m.offset() - 1,
        }),
        _ => None,
    };
    push(&mut batch.keys, m.key());
    push(&mut batch.values, m.payload());
    batch
        .timestamps
        .push(m.timestamp().to_millis().unwrap_or(0));
    batch.partitions.push(m.partition());
    batch.offsets.push(m.offset());
    if with_headers {
        let headers = m
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        batch.headers.push(headers);
    }
    gap
}

impl TopicReader for KafkaReader {
    fn share_lag(&mut self, sink: crate::runtime::io::LagSink) {
        self.lag = Some((sink, None));
    }

    fn poll(&mut self, max: usize, wait: Duration) -> BoxFuture<'_, Result<RawBatch>> {
        async move {
            let mut batch = RawBatch {
                topic: Arc::clone(&self.topic),
                ..RawBatch::default()
            };
            batch.keys.offsets.push(0);
            batch.values.offsets.push(0);
            let mut suspects = Vec::new();
            let first = tokio::time::timeout(wait, self.consumer.recv()).await;
            match first {
                Err(_) => {
                    self.caught_up = self.check_caught_up().await;
                    self.update_lag();
                    return Ok(batch);
                }
                Ok(Err(e)) => {
                    // The broker is away or the topic is missing: librdkafka
                    // retries on its own; report, and poll again.
                    self.errors += 1;
                    if self.errors == 1 || self.errors.is_multiple_of(100) {
                        tracing::warn!(topic = %self.topic, errors = self.errors, "Kafka consumer: {e}");
                    }
                    tokio::time::sleep(wait.min(Duration::from_millis(100))).await;
                    return Ok(batch);
                }
                Ok(Ok(m)) => suspects.extend(append(
                    &mut batch,
                    &m,
                    self.with_headers,
                    &mut self.expected,
                )),
            }
            while batch.len() < max {
                match self.consumer.recv().now_or_never() {
                    Some(Ok(m)) => suspects.extend(append(
                        &mut batch,
                        &m,
                        self.with_headers,
                        &mut self.expected,
                    )),
                    Some(Err(e)) => {
                        tracing::warn!(topic = %self.topic, "Kafka consumer: {e}");
                        break;
                    }
                    None => break,
                }
            }
            self.errors = 0;
            self.caught_up = false;
            for p in &batch.partitions {
                self.partitions_caught_up.remove(p);
            }
            if self.track_partitions {
                // Partitions without records become known as read to their
                // end while the others flow (checked every interval).
                self.caught_up = self.check_caught_up().await;
            } else {
                self.last_catch_up_check = None;
            }
            batch.gaps = self.confirm_losses(suspects).await;
            self.update_lag();
            Ok(batch)
        }
        .boxed()
    }

    fn commit<'a>(&'a mut self, offsets: &'a [CommitPosition]) -> BoxFuture<'a, Result<()>> {
        async move {
            if !self.commits || offsets.is_empty() {
                return Ok(());
            }
            let mut tpl = TopicPartitionList::new();
            for &(_, p, next) in offsets.iter().filter(|(input, _, _)| *input == 0) {
                tpl.add_partition_offset(&self.topic, p, Offset::Offset(next))?;
            }
            // A join's later input commits through the group's member.
            let consumer = Arc::clone(self.leader.as_ref().unwrap_or(&self.consumer));
            tokio::task::spawn_blocking(move || match consumer.commit(&tpl, CommitMode::Sync) {
                Ok(()) => Ok(()),
                Err(e) => Err(Error::external(format!("Kafka commit: {e}"))),
            })
            .await
            .map_err(|e| Error::internal(format!("commit task failed: {e}")))?
        }
        .boxed()
    }

    fn caught_up(&self) -> bool {
        self.caught_up
    }

    fn partition_caught_up(&self, _input: usize, partition: i32) -> bool {
        self.caught_up || self.partitions_caught_up.contains(&partition)
    }

    fn assignment(&mut self) -> Option<Vec<i32>> {
        if let Some(manual) = &self.manual {
            return (!manual.is_empty()).then(|| manual.clone());
        }
        let seen = self.rebalances.0.count.load(Ordering::SeqCst);
        if seen != self.assignment.0 || self.assignment.1.is_none() {
            // A local call: librdkafka keeps the assignment in memory.
            let current = self.consumer.assignment().ok().map(|tpl| {
                tpl.elements_for_topic(&self.topic)
                    .iter()
                    .map(|e| e.partition())
                    .collect::<Vec<_>>()
            });
            self.assignment = (seen, current.filter(|_| seen > 0));
        }
        self.assignment.1.clone()
    }

    fn revoking(&self) -> Option<(Vec<i32>, bool)> {
        self.pending_revoke()
    }

    fn release(&mut self) -> Result<()> {
        self.release_revoked()
    }

    fn follow(&mut self, partitions: &[i32]) -> Result<()> {
        if self.leader.is_some() {
            self.follow_partitions(partitions)?;
        }
        Ok(())
    }

    fn commit_in<'a>(
        &'a mut self,
        offsets: &'a [CommitPosition],
        txn: &'a dyn crate::runtime::io::Transaction,
    ) -> BoxFuture<'a, Result<()>> {
        async move {
            let Some(txn) = txn.as_any().downcast_ref::<super::txn::KafkaTransaction>() else {
                return Err(Error::internal(
                    "a Kafka reader in another broker's transaction",
                ));
            };
            let mut tpl = TopicPartitionList::new();
            for &(_, p, next) in offsets.iter().filter(|(input, _, _)| *input == 0) {
                tpl.add_partition_offset(&self.topic, p, Offset::Offset(next))?;
            }
            // The group's member: fencing goes by its generation.
            let consumer = self.leader.as_ref().unwrap_or(&self.consumer);
            let group = consumer.group_metadata().ok_or_else(|| {
                Error::external("the consumer has no group metadata for the transaction")
            })?;
            txn.send_offsets(tpl, group).await
        }
        .boxed()
    }
}
