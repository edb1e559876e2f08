//! Writing generated events into topics: Kafka through rdkafka's
//! `BaseProducer` with large batches (the embedded broker or a real
//! cluster), or the in-memory log.
//!
//! Topic layout: one topic per kind (persons and auctions keyed by their id
//! as an 8-byte big-endian BIGINT, ksqlDB's KAFKA key format, and
//! partitioned by Kafka's default partitioner; bids unkeyed, spread
//! round-robin), or one topic for all events with an `event_type`
//! discriminator (unkeyed, round-robin).
//!
//! The embedded broker keeps only the newest 5 MiB per partition and drops
//! older data silently, so on it topics get enough partitions for the data
//! they will hold ([`partitions_needed`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use super::generator::{EventKind, Generator, GeneratorConfig};
use super::measure::{Meter, Usage};
use crate::error::{Error, Result};
use crate::runtime::io::{partition_for_key, Broker};
use crate::runtime::memory::MemoryBroker;

/// Bytes the embedded broker keeps per partition before it drops the
/// oldest message sets (librdkafka's mock: 5 MiB).
pub const EMBEDDED_PARTITION_BYTES: u64 = 5 * 1024 * 1024;
/// What we plan to fill of a partition of the embedded broker.
const PARTITION_BUDGET: u64 = 4 * 1024 * 1024;
/// Bytes a record costs in a Kafka batch beside its key and value.
const RECORD_OVERHEAD: u64 = 16;
/// Partitions per topic on a real broker unless told.
const DEFAULT_PARTITIONS: i32 = 8;

/// Where generated events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicLayout {
    /// One topic per kind: person, auction, bid (in that order).
    PerKind([String; 3]),
    /// One topic for all events, with an `event_type` discriminator.
    Single(String),
}

impl TopicLayout {
    /// The topic events of `kind` go to.
    pub fn topic(&self, kind: EventKind) -> &str {
        match self {
            TopicLayout::PerKind(t) => t[kind.index()].as_str(),
            TopicLayout::Single(t) => t.as_str(),
        }
    }

    /// Every topic, once.
    pub fn topics(&self) -> Vec<&str> {
        match self {
            TopicLayout::PerKind(t) => t.iter().map(String::as_str).collect(),
            TopicLayout::Single(t) => vec![t.as_str()],
        }
    }

    fn single(&self) -> bool {
        matches!(self, TopicLayout::Single(_))
    }
}

/// What to generate and where.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Number of events (all kinds).
    pub events: u64,
    /// Events per second of wall time; 0 = as fast as possible.
    pub rate: u64,
    /// Partitions per topic; `None` = [`partitions_needed`] on the embedded
    /// broker, 8 elsewhere.
    pub partitions: Option<i32>,
    /// Topics.
    pub layout: TopicLayout,
    /// The generator.
    pub generator: GeneratorConfig,
}

/// A topic as the loader set it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPlan {
    /// Name.
    pub name: String,
    /// Partitions.
    pub partitions: i32,
    /// Estimated bytes it will hold.
    pub bytes: u64,
    /// Partitions the embedded broker needs to keep all of it.
    pub needed: i32,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Events written.
    pub events: u64,
    /// Events per kind (person, auction, bid).
    pub per_kind: [u64; 3],
    /// Value bytes per kind.
    pub bytes: [u64; 3],
    /// The topics.
    pub topics: Vec<TopicPlan>,
    /// What it cost.
    pub usage: Usage,
}

impl LoadReport {
    /// Average value size of a kind, in bytes.
    pub fn average_size(&self, kind: EventKind) -> f64 {
        let i = kind.index();
        self.bytes[i] as f64 / self.per_kind[i].max(1) as f64
    }
}

/// Average encoded size per kind, from the first events.
pub fn sample_sizes(generator: &Generator, single: bool) -> [f64; 3] {
    let mut bytes = [0u64; 3];
    let mut counts = [0u64; 3];
    let mut buf = Vec::with_capacity(1024);
    for n in 0..5_000 {
        buf.clear();
        let info = generator.write_event(n, single, &mut buf);
        bytes[info.kind.index()] += buf.len() as u64;
        counts[info.kind.index()] += 1;
    }
    [0, 1, 2].map(|i| bytes[i] as f64 / counts[i].max(1) as f64)
}

/// Partitions a topic of `bytes` needs on the embedded broker so that none
/// of it is dropped (4 MiB planned per partition of the 5 MiB kept).
pub fn partitions_needed(bytes: u64) -> i32 {
    (bytes.div_ceil(PARTITION_BUDGET)).clamp(1, 10_000) as i32
}

/// Plans the topics: their estimated size and partition counts.
pub fn plan_topics(opts: &LoadOptions, generator: &Generator, embedded: bool) -> Vec<TopicPlan> {
    let sizes = sample_sizes(generator, opts.layout.single());
    let mut plans: Vec<TopicPlan> = Vec::new();
    for kind in EventKind::ALL {
        let count = kind.count_in(opts.events);
        let bytes = (count as f64 * (sizes[kind.index()] + RECORD_OVERHEAD as f64)) as u64;
        let name = opts.layout.topic(kind);
        match plans.iter_mut().find(|p| p.name == name) {
            Some(p) => p.bytes += bytes,
            None => plans.push(TopicPlan {
                name: name.to_string(),
                partitions: 0,
                bytes,
                needed: 0,
            }),
        }
    }
    for p in &mut plans {
        p.needed = partitions_needed(p.bytes);
        p.partitions = match opts.partitions {
            Some(n) => n.max(1),
            None if embedded => p.needed.max(1),
            None => DEFAULT_PARTITIONS,
        };
    }
    plans
}

/// Creates missing topics; an existing topic keeps its partitions (the
/// plan is updated).
pub async fn create_topics(broker: &dyn Broker, plans: &mut [TopicPlan]) -> Result<()> {
    let admin = broker.admin();
    for p in plans.iter_mut() {
        match admin.describe_topic(&p.name).await? {
            Some(t) => p.partitions = t.partitions,
            None => admin.create_topic(&p.name, p.partitions, 1).await?,
        }
    }
    Ok(())
}

/// Counts delivery failures of a producer.
#[derive(Default)]
pub(super) struct Acks {
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

/// A producer context reporting into [`Acks`].
#[derive(Clone, Default)]
pub(super) struct AckContext(pub(super) Arc<Acks>);

impl ClientContext for AckContext {}

impl ProducerContext for AckContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.0.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut slot) = self.0.first_error.lock() {
                slot.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

impl Acks {
    /// An error naming `what` when any record was not acknowledged.
    pub(super) fn check(&self, what: &str) -> Result<()> {
        let failed = self.failed.load(Ordering::Relaxed);
        if failed == 0 {
            return Ok(());
        }
        let first = self
            .first_error
            .lock()
            .ok()
            .and_then(|e| e.clone())
            .unwrap_or_default();
        Err(Error::external(format!(
            "{failed} records to {what} were not acknowledged: {first}"
        )))
    }
}

/// Sends one record, waiting while librdkafka's queue is full.
pub(super) fn send(
    producer: &BaseProducer<AckContext>,
    mut record: BaseRecord<'_, [u8], [u8], ()>,
) -> Result<()> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                producer.poll(Duration::from_millis(5));
            }
            Err((e, r)) => {
                return Err(Error::external(format!(
                    "cannot produce to topic '{}': {e}",
                    r.topic
                )))
            }
        }
    }
}

/// Client settings of the generator's producer: large batches, no
/// compression, a deep queue. (`delivery.report.only.error` was measured:
/// it moves the freeing of each record to librdkafka's broker thread and
/// costs slightly more CPU in all, so every record is reported.)
pub fn generator_producer_config(mut base: ClientConfig) -> ClientConfig {
    base.set("linger.ms", "100")
        .set("batch.num.messages", "100000")
        .set("batch.size", "1000000")
        .set("compression.type", "none")
        .set("queue.buffering.max.messages", "2000000")
        .set("queue.buffering.max.kbytes", "2097151");
    base
}

/// Sleeps when the events so far are ahead of `rate` per second.
fn pace(start: Instant, sent: u64, rate: u64) {
    if rate == 0 {
        return;
    }
    let due = start + Duration::from_secs_f64(sent as f64 / rate as f64);
    let now = Instant::now();
    if due > now {
        std::thread::sleep(due - now);
    }
}

/// Where a record goes: the topic index in `plans`, the partition, the key.
struct Router<'a> {
    plans: &'a [TopicPlan],
    /// Topic index per kind.
    topic_of: [usize; 3],
    /// Next round-robin partition per topic.
    next: Vec<i32>,
    single: bool,
}

impl<'a> Router<'a> {
    fn new(layout: &TopicLayout, plans: &'a [TopicPlan]) -> Result<Self> {
        let mut topic_of = [0; 3];
        for kind in EventKind::ALL {
            topic_of[kind.index()] = plans
                .iter()
                .position(|p| p.name == layout.topic(kind))
                .ok_or_else(|| Error::internal("no plan for a topic of the layout"))?;
        }
        Ok(Router {
            plans,
            topic_of,
            next: vec![0; plans.len()],
            single: layout.single(),
        })
    }

    /// (topic index, partition, key) of an event.
    fn route(&mut self, kind: EventKind, id: u64, key: &mut [u8; 8]) -> (usize, i32, bool) {
        let t = self.topic_of[kind.index()];
        let partitions = self.plans[t].partitions.max(1);
        if !self.single && kind != EventKind::Bid {
            *key = (id as i64).to_be_bytes();
            return (t, partition_for_key(key, partitions), true);
        }
        let p = self.next[t];
        self.next[t] = (p + 1) % partitions;
        (t, p, false)
    }
}

/// One generated event, routed: where it goes and what it holds.
struct Routed<'a> {
    topic: &'a str,
    partition: i32,
    key: Option<&'a [u8]>,
    payload: &'a [u8],
    timestamp: i64,
}

/// Generates every event, routes it to its topic and partition and hands it
/// to `write`; `every_4096` runs after each 4096 events (before pacing),
/// `finish` after the last, inside the measured time. One buffer for all
/// events: no allocation per event.
fn generate_all(
    opts: &LoadOptions,
    generator: &Generator,
    plans: &[TopicPlan],
    mut write: impl FnMut(Routed<'_>) -> Result<()>,
    mut every_4096: impl FnMut(),
    finish: impl FnOnce() -> Result<()>,
) -> Result<LoadReport> {
    let mut router = Router::new(&opts.layout, plans)?;
    let single = opts.layout.single();
    let mut per_kind = [0u64; 3];
    let mut bytes = [0u64; 3];
    let mut buf = Vec::with_capacity(1024);
    let mut key = [0u8; 8];
    let meter = Meter::start();
    let start = Instant::now();
    for n in 0..opts.events {
        buf.clear();
        let info = generator.write_event(n, single, &mut buf);
        let (t, partition, keyed) = router.route(info.kind, info.id, &mut key);
        per_kind[info.kind.index()] += 1;
        bytes[info.kind.index()] += buf.len() as u64;
        write(Routed {
            topic: plans[t].name.as_str(),
            partition,
            key: keyed.then_some(&key[..]),
            payload: &buf,
            timestamp: info.timestamp,
        })?;
        if n % 4096 == 4095 {
            every_4096();
            pace(start, n + 1, opts.rate);
        }
    }
    finish()?;
    Ok(LoadReport {
        events: opts.events,
        per_kind,
        bytes,
        topics: plans.to_vec(),
        usage: meter.stop(),
    })
}

/// Generates and produces every event to Kafka (blocking; run it on a
/// blocking thread). `base` holds the connection settings.
pub fn produce_to_kafka(
    base: ClientConfig,
    opts: &LoadOptions,
    generator: &Generator,
    plans: &[TopicPlan],
) -> Result<LoadReport> {
    let acks = AckContext::default();
    let producer: BaseProducer<AckContext> =
        generator_producer_config(base).create_with_context(acks.clone())?;
    generate_all(
        opts,
        generator,
        plans,
        |e| {
            let mut record = BaseRecord::to(e.topic)
                .partition(e.partition)
                .payload(e.payload)
                .timestamp(e.timestamp);
            if let Some(key) = e.key {
                record = record.key(key);
            }
            send(&producer, record)
        },
        || {
            producer.poll(Duration::ZERO);
        },
        || {
            producer.flush(Duration::from_secs(300)).map_err(|e| {
                Error::external(format!("the generator's records were not written: {e}"))
            })?;
            acks.0.check("the Nexmark topics")
        },
    )
}

/// Generates every event into the in-memory log.
pub fn append_to_memory(
    log: &MemoryBroker,
    opts: &LoadOptions,
    generator: &Generator,
    plans: &[TopicPlan],
) -> Result<LoadReport> {
    generate_all(
        opts,
        generator,
        plans,
        |e| {
            log.append(
                e.topic,
                Some(e.partition),
                e.key,
                Some(e.payload),
                e.timestamp,
                Vec::new(),
            )
        },
        || {},
        || Ok(()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enough_partitions_for_the_embedded_broker() {
        assert_eq!(partitions_needed(0), 1);
        assert_eq!(partitions_needed(PARTITION_BUDGET), 1);
        assert_eq!(partitions_needed(PARTITION_BUDGET + 1), 2);
        assert!(
            u64::try_from(partitions_needed(400 * 1024 * 1024)).unwrap_or(0)
                * EMBEDDED_PARTITION_BYTES
                > 400 * 1024 * 1024
        );
    }
}
