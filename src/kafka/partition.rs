//! Reading one partition to its end with a manually assigned consumer (no
//! consumer group): state restore and command-topic replay.
//!
//! A blocking thread owns the consumer: it captures the partition's end
//! offset, reads from the start up to it, and hands batches of records to
//! the async side through a bounded channel; dropping the reader stops it.

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
use crate::runtime::io::{PartitionReader, RawBatch};

/// Records per batch handed over.
const BATCH: usize = 8192;
/// How long the reader waits for the broker without any progress.
const STALL: Duration = Duration::from_secs(60);

pub(super) struct KafkaPartitionReader {
    rx: mpsc::Receiver<Result<RawBatch>>,
}

impl KafkaPartitionReader {
    pub(super) fn start(mut config: ClientConfig, topic: &str, partition: i32) -> Result<Self> {
        config
            // librdkafka needs a group for assign(); it is never joined nor
            // committed to.
            .set("group.id", "_sluice_partition_reader")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set("fetch.queue.backoff.ms", "10")
            .set("fetch.wait.max.ms", "50")
            // Read what the changelog holds, committed or not: restore
            // itself decides what counts (commit markers).
            .set("isolation.level", "read_uncommitted");
        let consumer: BaseConsumer = config.create()?;
        let (tx, rx) = mpsc::channel(4);
        let topic: Arc<str> = Arc::from(topic);
        tokio::task::spawn_blocking(move || {
            if let Err(e) = read(&consumer, &topic, partition, &tx) {
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
    partition: i32,
    tx: &mpsc::Sender<Result<RawBatch>>,
) -> Result<()> {
    let (low, high) = consumer
        .fetch_watermarks(topic, partition, Duration::from_secs(30))
        .map_err(|e| {
            Error::external(format!(
                "cannot read the end offset of partition {partition} of '{topic}': {e}"
            ))
        })?;
    if high <= low {
        return Ok(());
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(low))?;
    consumer.assign(&tpl)?;
    let mut batch = empty(topic);
    let mut last_progress = Instant::now();
    let mut next = low;
    while next < high {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                last_progress = Instant::now();
                next = m.offset() + 1;
                if m.offset() >= high {
                    break;
                }
                push(&mut batch.keys, m.key());
                push(&mut batch.values, m.payload());
                batch
                    .timestamps
                    .push(m.timestamp().to_millis().unwrap_or(0));
                batch.partitions.push(partition);
                batch.offsets.push(m.offset());
                if batch.len() >= BATCH {
                    let full = std::mem::replace(&mut batch, empty(topic));
                    if tx.blocking_send(Ok(full)).is_err() {
                        return Ok(());
                    }
                }
            }
            Some(Err(e)) => {
                tracing::warn!(%topic, partition, "reading to the end: {e}");
                if last_progress.elapsed() > STALL {
                    return Err(Error::external(format!(
                        "reading partition {partition} of '{topic}' failed: {e}"
                    )));
                }
            }
            None => {
                // Transaction markers and deleted records leave offsets no
                // message has: the position tells when the end is reached.
                if let Ok(position) = consumer.position() {
                    if let Some(Offset::Offset(p)) = position
                        .find_partition(topic, partition)
                        .map(|e| e.offset())
                    {
                        next = next.max(p);
                    }
                }
                if last_progress.elapsed() > STALL {
                    return Err(Error::external(format!(
                        "reading partition {partition} of '{topic}' made no progress for {} s \
                         (at offset {next}, end {high})",
                        STALL.as_secs()
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
