//! The baselines sluice is measured against, in the same process run:
//!
//! - the **ceiling**: a hand-written rdkafka pipeline, `BaseConsumer`
//!   drained in batches → `BaseProducer` sending the same bytes to another
//!   topic, over the same topic and broker: what Kafka I/O alone costs;
//! - the **ports copy**: the same copy through sluice's own I/O ports
//!   (`TopicReader::poll` → `TopicWriter::write`), no decoding: what
//!   sluice's adapters cost (over Kafka or the in-memory log);
//! - the **compute baseline**: DataFusion running the same query in batch
//!   mode over the same decoded Arrow batches, plus, for the breakdown,
//!   sluice's JSON decoder and encoder alone over those batches. An
//!   aggregation runs with DataFusion's own aggregate functions (its hash
//!   aggregate with columnar group accumulators), and once more with
//!   sluice's (per-group accumulators behind DataFusion's adapter).

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::ArrayRef;
use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::execution::FunctionRegistry;
use datafusion::prelude::SessionContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::generator::{EventKind, Generator};
use super::load::{send, AckContext};
use super::measure::{Meter, Usage};
use crate::error::{Error, Result};
use crate::format::{registry, Encoded, Format, FormatSpec, Part};
use crate::runtime::decode::DecodeStage;
use crate::runtime::io::{Broker, OutBatch, RawBatch, ReaderSpec, StartFrom};
use crate::runtime::processing_log::ProcessingLog;

/// Copies `expected` records of `topic` (all partitions, from the start)
/// to `out_topic` with plain rdkafka clients configured as sluice's
/// adapters are (blocking: run it on a blocking thread). Returns what it
/// cost.
pub fn rdkafka_copy(
    base: ClientConfig,
    topic: &str,
    partitions: i32,
    out_topic: &str,
    expected: u64,
    batch: usize,
    deadline: Duration,
) -> Result<Usage> {
    let meter = Meter::start();
    let mut consumer_config = base.clone();
    consumer_config
        .set(
            "group.id",
            format!("nexmark-ceiling-{}", uuid::Uuid::new_v4()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.queue.backoff.ms", "10")
        .set("fetch.wait.max.ms", "50")
        .set("auto.offset.reset", "earliest");
    let consumer: BaseConsumer = consumer_config.create()?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let mut producer_config = base;
    producer_config
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .set("acks", "all")
        .set("queue.buffering.max.messages", "1000000");
    let acks = AckContext::default();
    let producer: BaseProducer<AckContext> = producer_config.create_with_context(acks.clone())?;
    let start = Instant::now();
    let mut copied = 0u64;
    while copied < expected {
        if start.elapsed() > deadline {
            return Err(Error::external(format!(
                "the rdkafka ceiling copied only {copied} of {expected} records of topic \
                 '{topic}' within {deadline:?}"
            )));
        }
        let mut wait = Duration::from_millis(100);
        for _ in 0..batch {
            let Some(message) = consumer.poll(wait) else {
                break;
            };
            wait = Duration::ZERO;
            let m = message.map_err(|e| Error::external(format!("ceiling consumer: {e}")))?;
            let mut record: BaseRecord<'_, [u8], [u8], ()> = BaseRecord::to(out_topic);
            if let Some(k) = m.key() {
                record = record.key(k);
            }
            if let Some(v) = m.payload() {
                record = record.payload(v);
            }
            if let Some(ts) = m.timestamp().to_millis() {
                record = record.timestamp(ts);
            }
            send(&producer, record)?;
            copied += 1;
        }
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(120))
        .map_err(|e| Error::external(format!("the ceiling's output was not written: {e}")))?;
    acks.0.check(&format!("topic '{out_topic}'"))?;
    Ok(meter.stop())
}

/// Copies `expected` records of `topic` to `out_topic` through sluice's I/O
/// ports (reader poll → writer write, flush at the end), without decoding.
pub async fn ports_copy(
    broker: &dyn Broker,
    topic: &str,
    out_topic: &str,
    expected: u64,
    batch: usize,
    deadline: Duration,
) -> Result<Usage> {
    let meter = Meter::start();
    let mut reader = broker.reader(&ReaderSpec {
        topic: topic.to_string(),
        group_id: Some(format!("nexmark-ports-{}", uuid::Uuid::new_v4())),
        start: StartFrom::Earliest,
        with_headers: false,
        also: Vec::new(),
    })?;
    let mut writer = broker.writer(out_topic)?;
    let start = Instant::now();
    let mut copied = 0u64;
    let mut offsets: std::collections::BTreeMap<i32, i64> = std::collections::BTreeMap::new();
    while copied < expected {
        if start.elapsed() > deadline {
            return Err(Error::external(format!(
                "the ports copy read only {copied} of {expected} records of topic '{topic}' \
                 within {deadline:?}"
            )));
        }
        let raw = reader.poll(batch, Duration::from_millis(50)).await?;
        copied += raw.len() as u64;
        if raw.is_empty() {
            continue;
        }
        for (&p, &o) in raw.partitions.iter().zip(&raw.offsets) {
            let next = offsets.entry(p).or_insert(o + 1);
            *next = (*next).max(o + 1);
        }
        writer
            .write(&OutBatch {
                keys: raw.keys,
                values: raw.values,
                timestamps: raw.timestamps,
                headers: None,
                partition: None,
            })
            .await?;
    }
    writer.flush().await?;
    let offsets: Vec<(i32, i64)> = offsets.into_iter().collect();
    let offsets: Vec<_> = offsets.into_iter().map(|(p, o)| (0, p, o)).collect();
    reader.commit(&offsets).await?;
    Ok(meter.stop())
}

/// The bids of the first `events` events as raw records in batches of
/// `batch`, as a reader would return them (one partition).
pub fn raw_bids(generator: &Generator, events: u64, batch: usize, topic: &str) -> Vec<RawBatch> {
    let topic: Arc<str> = Arc::from(topic);
    let mut out = Vec::new();
    let mut current = empty_raw(&topic, batch);
    let mut offset = 0i64;
    for n in 0..events {
        if EventKind::of(n) != EventKind::Bid {
            continue;
        }
        let info = generator.write_event(n, false, &mut current.values.data);
        current.values.offsets.push(current.values.data.len());
        current.values.nulls.push(false);
        current.keys.offsets.push(0);
        current.keys.nulls.push(true);
        current.timestamps.push(info.timestamp);
        current.partitions.push(0);
        current.offsets.push(offset);
        offset += 1;
        if current.len() >= batch {
            out.push(std::mem::replace(&mut current, empty_raw(&topic, batch)));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn empty_raw(topic: &Arc<str>, batch: usize) -> RawBatch {
    let payloads = |bytes: usize| Encoded {
        data: Vec::with_capacity(bytes),
        offsets: {
            let mut o = Vec::with_capacity(batch + 1);
            o.push(0);
            o
        },
        nulls: Vec::with_capacity(batch),
    };
    RawBatch {
        topic: Arc::clone(topic),
        keys: payloads(0),
        values: payloads(batch * 200),
        timestamps: Vec::with_capacity(batch),
        partitions: Vec::with_capacity(batch),
        offsets: Vec::with_capacity(batch),
        ..RawBatch::default()
    }
}

/// Whose aggregate functions (COUNT, SUM, …) DataFusion's SQL resolves to
/// in the compute baseline; scalar functions are always sluice's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregates {
    /// sluice's ksqlDB aggregates, as the engine's session registers them.
    Sluice,
    /// DataFusion's built-in aggregates, registered over sluice's.
    DataFusion,
}

/// The compute baseline of one run, broken down.
#[derive(Debug, Clone)]
pub struct ComputeUsage {
    /// sluice's decoder: raw JSON records → Arrow batches.
    pub decode: Usage,
    /// DataFusion running the query over the decoded batches.
    pub query: Usage,
    /// sluice's JSON encoder over DataFusion's output.
    pub encode: Usage,
    /// Rows DataFusion returned.
    pub rows_out: u64,
    /// What DataFusion returned.
    pub output: Vec<RecordBatch>,
}

/// Decodes `raw` with `decode`, runs `sql` with DataFusion over the
/// decoded batches (registered as table `BID`, one partition, in a session
/// with sluice's functions and settings, and `aggregates`' aggregate
/// functions), and encodes the result as JSON, measuring each step.
pub async fn compute(
    decode: &DecodeStage,
    raw: &[RawBatch],
    sql: &str,
    aggregates: Aggregates,
) -> Result<ComputeUsage> {
    let log = ProcessingLog::default();
    let meter = Meter::start();
    let mut batches = Vec::with_capacity(raw.len());
    for r in raw {
        batches.push(decode.decode(r, &log)?);
    }
    let decode_usage = meter.stop();
    if log.error_count() > 0 {
        return Err(Error::internal(format!(
            "the compute baseline could not decode {} generated bids",
            log.error_count()
        )));
    }

    let meter = Meter::start();
    let ctx = session(aggregates)?;
    let table = MemTable::try_new(Arc::clone(&decode.schema), vec![batches])?;
    // Registered as written: the session does not lower-case identifiers.
    ctx.register_table(TableReference::bare("BID"), Arc::new(table))?;
    let output = ctx.sql(sql).await?.collect().await?;
    let query_usage = meter.stop();
    drop(ctx);

    let meter = Meter::start();
    let rows_out = encode_json(&output)?;
    let encode_usage = meter.stop();
    Ok(ComputeUsage {
        decode: decode_usage,
        query: query_usage,
        encode: encode_usage,
        rows_out,
        output,
    })
}

/// A session of its own (sluice's functions and settings, fresh catalogs,
/// so the table does not leak into the engine's), with `aggregates`'
/// aggregate functions.
fn session(aggregates: Aggregates) -> Result<SessionContext> {
    let mut state = crate::plan::session_state()?.as_ref().clone();
    if aggregates == Aggregates::DataFusion {
        for udaf in datafusion::functions_aggregate::all_default_aggregate_functions() {
            state.register_udaf(udaf)?;
        }
    }
    Ok(SessionContext::new_with_state(state))
}

/// Encodes batches with sluice's JSON value encoder; returns the row count.
fn encode_json(batches: &[RecordBatch]) -> Result<u64> {
    let Some(first) = batches.first() else {
        return Ok(0);
    };
    let schema = Arc::new(Schema::new(first.schema().fields().clone()));
    let encoder = registry::encoder(&FormatSpec::new(Format::Json), Part::Value, schema)?;
    let mut rows = 0u64;
    for b in batches {
        let columns: Vec<ArrayRef> = b.columns().to_vec();
        let encoded = encoder.encode(&columns)?;
        rows += encoded.len() as u64;
        std::hint::black_box(&encoded);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::functions_aggregate::count::Count;
    use datafusion::functions_aggregate::sum::Sum;

    #[test]
    fn the_datafusion_baseline_aggregates_with_datafusion_functions() {
        let ours = session(Aggregates::Sluice).unwrap();
        let theirs = session(Aggregates::DataFusion).unwrap();
        for name in ["count", "sum"] {
            let builtin = |ctx: &SessionContext| {
                let f = ctx.udaf(name).unwrap();
                f.inner().is::<Count>() || f.inner().is::<Sum>()
            };
            assert!(builtin(&theirs), "{name} is not DataFusion's");
            assert!(!builtin(&ours), "{name} is not sluice's");
        }
    }
}
