//! A topic writer on rdkafka's ThreadedProducer: records are handed to
//! librdkafka without per-record futures; a delivery callback counts
//! acknowledgements and failures, and `flush` waits for all of them.
//!
//! The producer is idempotent: librdkafka's retries (while a broker is
//! away, or a leader moves) neither duplicate nor reorder records within a
//! partition, which the changelog's commit markers rely on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{
    BaseRecord, DeliveryResult, NoCustomPartitioner, ProducerContext, ThreadedProducer,
};
use rdkafka::ClientContext;

use crate::error::{Error, Result};
use crate::runtime::io::{OutBatch, TopicWriter};

#[derive(Default)]
struct DeliveryState {
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    /// Records handed to the producer, and those it has reported on
    /// (acknowledged or failed): a flush waits for the second to reach
    /// the first.
    sent: AtomicU64,
    reported: AtomicU64,
    /// Woken at each report.
    progress: tokio::sync::Notify,
}

#[derive(Clone, Default)]
pub(super) struct Deliveries(Arc<DeliveryState>);

impl Deliveries {
    /// Waits until the producer has reported on every record handed to it
    /// before this call, up to `timeout`; false when it has not by then.
    ///
    /// rdkafka's own flush polls the producer in steps of 100 ms, and the
    /// reports go to the producer's polling thread, so it takes at least
    /// that long; this wakes at the report.
    pub(super) async fn settled(&self, timeout: Duration) -> bool {
        let target = self.0.sent.load(Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let progress = self.0.progress.notified();
            let mut progress = std::pin::pin!(progress);
            progress.as_mut().enable();
            if self.0.reported.load(Ordering::SeqCst) >= target {
                return true;
            }
            if tokio::time::timeout_at(deadline, progress).await.is_err() {
                return self.0.reported.load(Ordering::SeqCst) >= target;
            }
        }
    }

    /// Counts a record handed to the producer.
    pub(super) fn sent(&self) {
        self.0.sent.fetch_add(1, Ordering::SeqCst);
    }

    /// An error when a record was not acknowledged.
    pub(super) fn check(&self, what: &str) -> Result<()> {
        if self.0.failed.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        let msg = self
            .0
            .first_error
            .lock()
            .ok()
            .and_then(|e| e.clone())
            .unwrap_or_default();
        Err(Error::external(format!(
            "records of {what} were not acknowledged: {msg}"
        )))
    }
}

/// An idempotent producer (transactional with `transactional_id`).
pub(super) fn producer(
    mut config: ClientConfig,
    transactional_id: Option<&str>,
) -> Result<(Inner, Deliveries)> {
    config
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("queue.buffering.max.messages", "1000000");
    if let Some(id) = transactional_id {
        // Kafka Streams' exactly-once settings: a short transaction
        // timeout, so that a dead task's open transaction is aborted soon.
        config
            .set("transactional.id", id)
            .set("transaction.timeout.ms", "10000");
    }
    let deliveries = Deliveries::default();
    let producer: Inner = config.create_with_context(deliveries.clone())?;
    Ok((producer, deliveries))
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.0.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut slot) = self.0.first_error.lock() {
                slot.get_or_insert_with(|| e.to_string());
            }
        }
        self.0.reported.fetch_add(1, Ordering::SeqCst);
        self.0.progress.notify_waiters();
    }
}

pub(super) type Inner = ThreadedProducer<Deliveries, NoCustomPartitioner>;

pub(super) struct KafkaWriter {
    producer: Arc<Inner>,
    deliveries: Deliveries,
    topic: String,
}

impl KafkaWriter {
    pub(super) fn new(config: ClientConfig, topic: &str) -> Result<Self> {
        let (producer, deliveries) = producer(config, None)?;
        Ok(KafkaWriter {
            producer: Arc::new(producer),
            deliveries,
            topic: topic.to_string(),
        })
    }

    /// A writer of `topic` through a producer shared with other writers
    /// (a transaction's).
    pub(super) fn shared(producer: Arc<Inner>, deliveries: Deliveries, topic: &str) -> Self {
        KafkaWriter {
            producer,
            deliveries,
            topic: topic.to_string(),
        }
    }
}

impl TopicWriter for KafkaWriter {
    fn write<'a>(&'a mut self, batch: &'a OutBatch) -> BoxFuture<'a, Result<()>> {
        async move { self.write_all(batch).await }.boxed()
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<()>> {
        async move { self.flush_all().await }.boxed()
    }
}

impl KafkaWriter {
    async fn write_all(&mut self, batch: &OutBatch) -> Result<()> {
        for i in 0..batch.len() {
            let mut record: BaseRecord<'_, [u8], [u8], ()> =
                BaseRecord::to(&self.topic).timestamp(batch.timestamps[i]);
            if let Some(p) = batch.partition {
                record = record.partition(p);
            }
            if let Some(k) = batch.keys.get(i) {
                record = record.key(k);
            }
            if let Some(v) = batch.values.get(i) {
                record = record.payload(v);
            }
            if let Some(hs) = batch.headers.as_ref().and_then(|h| h.get(i)) {
                let mut headers = OwnedHeaders::new_with_capacity(hs.len());
                for (k, v) in hs {
                    headers = headers.insert(Header {
                        key: k,
                        value: v.as_deref(),
                    });
                }
                record = record.headers(headers);
            }
            loop {
                match self.producer.send(record) {
                    Ok(()) => {
                        self.deliveries.sent();
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        record = r;
                        // The background thread drains the queue; wait a
                        // little without holding the async worker.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    Err((e, _)) => {
                        return Err(Error::external(format!(
                            "cannot produce to topic '{}': {e}",
                            self.topic
                        )))
                    }
                }
            }
        }
        Ok(())
    }

    async fn flush_all(&mut self) -> Result<()> {
        if !self.deliveries.settled(Duration::from_secs(30)).await {
            return Err(Error::external(format!(
                "writing to topic '{}' timed out: records were not acknowledged within 30 s",
                self.topic
            )));
        }
        self.deliveries.check(&format!("topic '{}'", self.topic))
    }
}
