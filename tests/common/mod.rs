//! Helpers shared by the end-to-end tests: an independent Kafka consumer
//! and producer (plain rdkafka, not sluice's adapter) and waiting on
//! conditions with deadlines.

#![allow(dead_code)]

pub mod cluster;

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::TopicPartitionList;

/// A record as read back from Kafka.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub partition: i32,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub timestamp: i64,
}

impl Record {
    pub fn key_str(&self) -> Option<String> {
        self.key
            .as_ref()
            .map(|k| String::from_utf8_lossy(k).into_owned())
    }
    pub fn value_str(&self) -> Option<String> {
        self.value
            .as_ref()
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

/// Reads a topic from the beginning until `expected` records arrived or
/// the deadline passed; returns what was read (in partition order).
pub fn read_topic(
    bootstrap: &str,
    topic: &str,
    expected: usize,
    deadline: Duration,
) -> Vec<Record> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("verify-{}", uuid::Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.queue.backoff.ms", "10")
        .create()
        .expect("consumer");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for t in md.topics() {
        for p in t.partitions() {
            tpl.add_partition_offset(topic, p.id(), rdkafka::Offset::Beginning)
                .expect("offset");
        }
    }
    consumer.assign(&tpl).expect("assign");
    let start = Instant::now();
    let mut out = Vec::new();
    while out.len() < expected && start.elapsed() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            out.push(Record {
                partition: m.partition(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
                timestamp: m.timestamp().to_millis().unwrap_or(-1),
            });
        }
    }
    // Anything beyond what was expected is an error too: read a little more.
    let extra_until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < extra_until {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) {
            out.push(Record {
                partition: m.partition(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
                timestamp: m.timestamp().to_millis().unwrap_or(-1),
            });
        }
    }
    out
}

/// A record to produce: key, value, timestamp.
pub type Input<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, i64);

/// An owned record to produce.
pub type OwnedInput = (Option<Vec<u8>>, Option<Vec<u8>>, i64);

/// Produces records with an independent producer.
pub fn produce(bootstrap: &str, topic: &str, records: &[Input<'_>]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("producer");
    for (k, v, ts) in records {
        let mut r: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).timestamp(*ts);
        if let Some(k) = k {
            r = r.key(*k);
        }
        if let Some(v) = v {
            r = r.payload(*v);
        }
        producer.send(r).map_err(|(e, _)| e).expect("send");
    }
    producer.flush(Duration::from_secs(10)).expect("flush");
}

/// A fresh in-memory log and an engine over it whose queries start from the
/// earliest offset.
pub async fn memory_engine() -> (
    std::sync::Arc<sluice::runtime::memory::MemoryBroker>,
    std::sync::Arc<sluice::engine::Engine>,
) {
    use std::sync::Arc;
    let log = sluice::runtime::memory::MemoryBroker::new();
    let broker: Arc<dyn sluice::runtime::io::Broker> = Arc::new(Arc::clone(&log));
    let config = sluice::config::Config {
        default_start: sluice::runtime::io::StartFrom::Earliest,
        ..sluice::config::Config::default()
    };
    let engine = sluice::engine::Engine::new(broker, config)
        .await
        .expect("engine");
    (log, engine)
}

/// Executes statements in a session, failing the test with the statement
/// and its error.
pub async fn exec_in(
    engine: &sluice::engine::Engine,
    session: &mut sluice::config::Session,
    sql: &str,
) -> Vec<sluice::engine::Outcome> {
    match engine.execute(session, sql).await {
        Ok(o) => o,
        Err(e) => panic!("{sql}\nfailed: {e}"),
    }
}

/// Every record a topic holds now: all partitions, up to the end offsets
/// they have when called.
pub fn read_all(bootstrap: &str, topic: &str) -> Vec<Record> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("verify-{}", uuid::Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .set("fetch.queue.backoff.ms", "10")
        // Records of aborted transactions are not output (librdkafka's
        // default, said out loud).
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer");
    let Ok(md) = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)) else {
        return Vec::new();
    };
    let mut tpl = TopicPartitionList::new();
    let mut remaining = 0usize;
    let mut ends = std::collections::HashMap::new();
    for t in md.topics() {
        for p in t.partitions() {
            let Ok((low, high)) = consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(10))
            else {
                continue;
            };
            if high > low {
                tpl.add_partition_offset(topic, p.id(), rdkafka::Offset::Offset(low))
                    .expect("offset");
                ends.insert(p.id(), high);
                remaining += 1;
            }
        }
    }
    if remaining == 0 {
        return Vec::new();
    }
    consumer.assign(&tpl).expect("assign");
    let start = Instant::now();
    let mut out = Vec::new();
    while remaining > 0 && start.elapsed() < Duration::from_secs(60) {
        let polled = consumer.poll(Duration::from_millis(100));
        if polled.is_none() {
            // A transaction's commit marker takes the last offset of a
            // partition: its position, not a record, says it is read.
            let read = consumer.position().is_ok_and(|positions| {
                ends.iter().all(|(p, end)| {
                    positions
                        .find_partition(topic, *p)
                        .and_then(|e| e.offset().to_raw())
                        .is_some_and(|o| o >= *end)
                })
            });
            if read {
                break;
            }
        }
        if let Some(Ok(m)) = polled {
            let end = ends.get(&m.partition()).copied().unwrap_or(0);
            if m.offset() >= end {
                continue;
            }
            out.push(Record {
                partition: m.partition(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
                timestamp: m.timestamp().to_millis().unwrap_or(-1),
            });
            if m.offset() + 1 == end {
                remaining -= 1;
            }
        }
    }
    out
}

/// Reports a test that could not run its real check: on the test's output
/// and, when scripts/test.sh asks for it (`SLUICE_SKIPPED_FILE`), in the
/// list it prints at the end, so that a skip is never read as a pass.
pub fn skipped(test: &str, reason: &str) {
    let line = format!("SKIPPED {test}: {reason}");
    eprintln!("{line}");
    keep_line("SLUICE_SKIPPED_FILE", &line);
}

/// Prints a line a test reports (counts, figures) and, when
/// scripts/test.sh asks for it (`SLUICE_REPORT_FILE`), keeps it for the
/// test command's output, where cargo's capture would hide it.
pub fn report_line(line: &str) {
    keep_line("SLUICE_REPORT_FILE", line);
}

/// Prints `line` and appends it to the file the environment variable `var`
/// names, when set.
fn keep_line(var: &str, line: &str) {
    use std::io::Write;
    println!("{line}");
    let Ok(path) = std::env::var(var) else {
        return;
    };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}

/// How many records topics hold (end minus start offsets, all
/// partitions), asked of the broker with one consumer.
pub struct TopicSizes {
    consumer: BaseConsumer,
}

impl TopicSizes {
    pub fn new(bootstrap: &str) -> Self {
        let consumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", format!("sizes-{}", uuid::Uuid::new_v4()))
            .create()
            .expect("consumer");
        TopicSizes { consumer }
    }

    /// The records `topic` holds now; 0 when it cannot be told.
    pub fn records(&self, topic: &str) -> i64 {
        let Ok(md) = self
            .consumer
            .fetch_metadata(Some(topic), Duration::from_secs(5))
        else {
            return 0;
        };
        md.topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .filter_map(|p| {
                self.consumer
                    .fetch_watermarks(topic, p, Duration::from_secs(5))
                    .ok()
            })
            .map(|(low, high)| high - low)
            .sum()
    }
}

/// The Tansu broker scripts/test.sh starts (`SLUICE_TANSU_BOOTSTRAP`), or
/// `None` after reporting `test` as SKIPPED when there is none.
pub fn tansu_broker(test: &str) -> Option<std::sync::Arc<dyn sluice::runtime::io::Broker>> {
    let Ok(bootstrap) = std::env::var("SLUICE_TANSU_BOOTSTRAP") else {
        skipped(
            test,
            "SLUICE_TANSU_BOOTSTRAP is not set (scripts/test.sh starts Tansu and sets it)",
        );
        return None;
    };
    Some(std::sync::Arc::new(
        sluice::kafka::KafkaBroker::connect(&bootstrap).expect("broker"),
    ))
}
