//! Reading partitions to their end with a manually assigned consumer (no
//! consumer group): state restore and command-topic replay.
//!
//! A blocking thread owns the consumer: it captures each partition's end
//! offset, reads from the start up to it, and hands batches of records to
//! the async side through a bounded channel; dropping the reader stops it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::format::Encoded;
use crate::runtime::io::{OffsetGap, PartitionReader, RawBatch};

/// Records per batch handed over.
const BATCH: usize = 8192;
/// How long the reader waits for the broker without any progress.
const STALL: Duration = Duration::from_secs(60);

pub(super) struct KafkaPartitionReader {
    rx: mpsc::Receiver<Result<RawBatch>>,
}

impl KafkaPartitionReader {
    pub(super) fn start(mut config: ClientConfig, topic: &str, partitions: &[i32]) -> Result<Self> {
        config
            // librdkafka needs a group for assign(); it is never joined nor
            // committed to.
            .set("group.id", "_sluice_partition_reader")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set("fetch.queue.backoff.ms", "10")
            .set("fetch.wait.max.ms", "50");
        // Read what the changelog holds, committed or not: restore itself
        // decides what counts (commit markers); an exactly-once query's
        // restore reads committed records only.
        if config.get("isolation.level").is_none() {
            config.set("isolation.level", "read_uncommitted");
        }
        let consumer: BaseConsumer = config.create()?;
        let (tx, rx) = mpsc::channel(4);
        let topic: Arc<str> = Arc::from(topic);
        let partitions = partitions.to_vec();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = read(&consumer, &topic, &partitions, &tx) {
                let _ = tx.blocking_send(Err(e));
            }
        });
        Ok(KafkaPartitionReader { rx })
    }
}

impl PartitionReader for KafkaPartitionReader {
    fn next(&mut self) -> BoxFuture<'_, Result<Option<RawBatch>>> {
        async move { self.rx.recv().await.transpose() }.boxed()
    }
}

fn empty(topic: &Arc<str>) -> RawBatch {
    let mut batch = RawBatch {
        topic: Arc::clone(topic),
        ..RawBatch::default()
    };
    batch.keys.offsets.push(0);
    batch.values.offsets.push(0);
    batch
}

fn push(p: &mut Encoded, payload: Option<&[u8]>) {
    if let Some(b) = payload {
        p.data.extend_from_slice(b);
    }
    p.nulls.push(payload.is_none());
    p.offsets.push(p.data.len());
}

fn read(
    consumer: &BaseConsumer,
    topic: &Arc<str>,
    partitions: &[i32],
    tx: &mpsc::Sender<Result<RawBatch>>,
) -> Result<()> {
    // Where each partition ends now, and how far it has been read.
    let mut ends: HashMap<i32, (i64, i64)> = HashMap::new();
    let mut tpl = TopicPartitionList::new();
    // Records deleted before they could be read (retention): reported with
    // the first batch, never hidden.
    let mut gaps = Vec::new();
    for &partition in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, Duration::from_secs(30))
            .map_err(|e| {
                Error::external(format!(
                    "cannot read the end offset of partition {partition} of '{topic}': {e}"
                ))
            })?;
        if low > 0 {
            gaps.push(OffsetGap {
                partition,
                from: 0,
                to: low - 1,
            });
        }
        if high > low {
            tpl.add_partition_offset(topic, partition, Offset::Offset(low))?;
            ends.insert(partition, (low, high));
        }
    }
    if !gaps.is_empty() {
        let mut batch = empty(topic);
        batch.gaps = gaps;
        if tx.blocking_send(Ok(batch)).is_err() {
            return Ok(());
        }
    }
    if ends.is_empty() {
        return Ok(());
    }
    consumer.assign(&tpl)?;
    let mut batch = empty(topic);
    let mut last_progress = Instant::now();
    while !ends.is_empty() {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                last_progress = Instant::now();
                let partition = m.partition();
                let Some(&(_, high)) = ends.get(&partition) else {
                    continue;
                };
                if m.offset() < high {
                    push(&mut batch.keys, m.key());
                    push(&mut batch.values, m.payload());
                    batch
                        .timestamps
                        .push(m.timestamp().to_millis().unwrap_or(0));
                    batch.partitions.push(partition);
                    batch.offsets.push(m.offset());
                }
                if m.offset() + 1 >= high {
                    ends.remove(&partition);
                }
                if batch.len() >= BATCH {
                    let full = std::mem::replace(&mut batch, empty(topic));
                    if tx.blocking_send(Ok(full)).is_err() {
                        return Ok(());
                    }
                }
            }
            Some(Err(e)) => {
                tracing::warn!(%topic, "reading to the end: {e}");
                if last_progress.elapsed() > STALL {
                    return Err(Error::external(format!("reading '{topic}' failed: {e}")));
                }
            }
            None => {
                // Transaction markers and deleted records leave offsets no
                // message has: the positions tell when the ends are reached.
                if let Ok(position) = consumer.position() {
                    for e in position.elements_for_topic(topic) {
                        if let Offset::Offset(p) = e.offset() {
                            if ends.get(&e.partition()).is_some_and(|&(_, high)| p >= high) {
                                ends.remove(&e.partition());
                            }
                        }
                    }
                }
                if last_progress.elapsed() > STALL {
                    return Err(Error::external(format!(
                        "reading '{topic}' made no progress for {} s (partitions {:?} not at \
                         their end)",
                        STALL.as_secs(),
                        ends.keys().collect::<Vec<_>>()
                    )));
                }
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.blocking_send(Ok(batch));
    }
    Ok(())
}
