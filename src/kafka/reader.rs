//! A topic reader on rdkafka's StreamConsumer: one await for the first
//! record, then the queue is drained without waiting, so a batch costs one
//! wake-up, not one per record. Records are copied into the batch's
//! contiguous buffers (no per-record allocation).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::Offset;

use crate::error::{Error, Result};
use crate::format::Encoded;
use crate::runtime::io::{OffsetGap, RawBatch, ReaderSpec, StartFrom, TopicReader};

pub(super) struct KafkaReader {
    consumer: Arc<StreamConsumer>,
    topic: Arc<str>,
    with_headers: bool,
    commits: bool,
    caught_up: bool,
    /// The next offset expected per partition, to notice skipped ranges.
    expected: std::collections::HashMap<i32, i64>,
}

impl KafkaReader {
    pub(super) fn new(mut config: ClientConfig, spec: &ReaderSpec) -> Result<Self> {
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
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            .set(
                "auto.offset.reset",
                match spec.start {
                    StartFrom::Earliest => "earliest",
                    StartFrom::Latest => "latest",
                },
            );
        let consumer: StreamConsumer = config.create()?;
        consumer.subscribe(&[spec.topic.as_str()])?;
        Ok(KafkaReader {
            consumer: Arc::new(consumer),
            topic: Arc::from(spec.topic.as_str()),
            with_headers: spec.with_headers,
            commits: spec.group_id.is_some(),
            caught_up: false,
            expected: std::collections::HashMap::new(),
        })
    }

    /// A gap is data loss when the broker's log now starts after its first
    /// offset; the lost range ends before the log start.
    async fn confirm_loss(&self, gap: OffsetGap) -> Option<OffsetGap> {
        let consumer = Arc::clone(&self.consumer);
        let topic = self.topic.to_string();
        let commits = self.commits;
        let (low, committed) = tokio::task::spawn_blocking(move || {
            let low = consumer
                .fetch_watermarks(&topic, gap.partition, Duration::from_secs(5))
                .map(|(low, _)| low)
                .ok()?;
            let committed = if gap.from < 0 && commits {
                let mut tpl = rdkafka::TopicPartitionList::new();
                tpl.add_partition(&topic, gap.partition);
                consumer
                    .committed_offsets(tpl, Duration::from_secs(5))
                    .ok()
                    .and_then(
                        |t| match t.find_partition(&topic, gap.partition)?.offset() {
                            Offset::Offset(o) => Some(o),
                            _ => None,
                        },
                    )
            } else {
                None
            };
            Some((low, committed))
        })
        .await
        .ok()??;
        let gap = if gap.from < 0 {
            // A fresh start has nothing to lose; a resumed one lost what lies
            // between its committed position and the first record read.
            let from = committed?;
            if gap.to < from {
                return None;
            }
            OffsetGap { from, ..gap }
        } else {
            gap
        };
        (low > gap.from).then(|| OffsetGap {
            to: gap.to.min(low - 1),
            ..gap
        })
    }

    fn check_caught_up(&self) -> bool {
        let Ok(positions) = self.consumer.position() else {
            return false;
        };
        let elements = positions.elements();
        if elements.is_empty() {
            return false;
        }
        elements.iter().all(|e| {
            let Ok((low, high)) =
                self.consumer
                    .fetch_watermarks(e.topic(), e.partition(), Duration::from_secs(2))
            else {
                return false;
            };
            match e.offset() {
                Offset::Offset(p) => p >= high,
                // Nothing consumed yet: caught up only if the partition is empty.
                _ => high <= low,
            }
        })
    }
}

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
                    self.caught_up = self.check_caught_up();
                    return Ok(batch);
                }
                Ok(Err(e)) => return Err(Error::external(format!("Kafka consumer: {e}"))),
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
            self.caught_up = false;
            for gap in suspects {
                if let Some(lost) = self.confirm_loss(gap).await {
                    batch.gaps.push(lost);
                }
            }
            Ok(batch)
        }
        .boxed()
    }

    fn commit(&mut self) -> BoxFuture<'_, Result<()>> {
        async move {
            if !self.commits {
                return Ok(());
            }
            let consumer = Arc::clone(&self.consumer);
            tokio::task::spawn_blocking(move || {
                match consumer.commit_consumer_state(CommitMode::Sync) {
                    Ok(()) => Ok(()),
                    // Nothing consumed since the last commit.
                    Err(rdkafka::error::KafkaError::ConsumerCommit(
                        rdkafka::types::RDKafkaErrorCode::NoOffset,
                    )) => Ok(()),
                    Err(e) => Err(Error::external(format!("Kafka commit: {e}"))),
                }
            })
            .await
            .map_err(|e| Error::internal(format!("commit task failed: {e}")))?
        }
        .boxed()
    }

    fn caught_up(&self) -> bool {
        self.caught_up
    }
}
