//! `sluice bench restore`: how fast a query's state comes back from its
//! changelog after a restart, beside a raw rdkafka consumer reading the
//! same changelog in the same run.
//!
//! The benchmark writes `--records` records with distinct keys, runs
//! `CREATE TABLE … AS SELECT k, COUNT(*), SUM(v) … GROUP BY k` over them
//! until it is idle (its changelog then holds a state record and a
//! materialized-table record per key, plus the commit markers), and shuts
//! the engine down. Then, for each run: the raw consumer reads every
//! partition of the changelog to its end (the ceiling: what the Kafka
//! reads cost alone); and a new engine starts from the command topic and
//! restores the query's state until the table answers pull queries. Both
//! the restore itself (reading the changelog, rebuilding the operators and
//! the table) and the whole restart are reported. The restored table must
//! hold every key, or the run is an error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::report::{machine, thousands};
use crate::config::{Config, Session};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::format::Encoded;
use crate::kafka::KafkaBroker;
use crate::runtime::io::{Broker, OutBatch, StartFrom};

/// What to measure.
#[derive(Debug, Clone, Copy)]
pub struct RestoreOptions {
    /// Input records, each with its own key.
    pub records: u64,
    /// Partitions of the input (and so of the changelog).
    pub partitions: i32,
    /// Measured restarts.
    pub runs: usize,
}

/// One measurement: records and bytes read, and the time it took.
#[derive(Debug, Clone, Copy)]
struct Reading {
    records: u64,
    bytes: u64,
    seconds: f64,
}

impl Reading {
    fn records_per_second(&self) -> f64 {
        self.records as f64 / self.seconds.max(1e-9)
    }
    fn mb_per_second(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.seconds.max(1e-9)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn config(service: &str) -> Config {
    Config {
        service_id: service.to_string(),
        default_start: StartFrom::Earliest,
        command_topic: true,
        processing_log_stream: false,
        ..Config::default()
    }
}

async fn exec(engine: &Engine, sql: &str) -> Result<()> {
    let mut session = Session::default();
    engine.execute(&mut session, sql).await.map(|_| ())
}

/// Writes the input: key `i` (BIGINT, big-endian), value `{"V": i % 10}`.
async fn load(broker: &Arc<KafkaBroker>, topic: &str, records: u64) -> Result<()> {
    let mut writer = broker.writer(topic)?;
    let mut i = 0u64;
    while i < records {
        let n = (records - i).min(10_000);
        let mut keys = Encoded {
            offsets: vec![0],
            ..Encoded::default()
        };
        let mut values = keys.clone();
        for k in i..i + n {
            keys.data.extend_from_slice(&(k as i64).to_be_bytes());
            keys.offsets.push(keys.data.len());
            keys.nulls.push(false);
            values
                .data
                .extend_from_slice(format!(r#"{{"V":{}}}"#, k % 10).as_bytes());
            values.offsets.push(values.data.len());
            values.nulls.push(false);
        }
        writer
            .write(&OutBatch {
                keys,
                values,
                timestamps: vec![1_700_000_000_000; n as usize],
                headers: None,
                partition: None,
            })
            .await?;
        i += n;
    }
    writer.flush().await
}

/// The ceiling: one consumer reading every partition to its end.
fn raw_read(bootstrap: &str, topic: &str, partitions: i32) -> Result<Reading> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "_sluice_bench_raw")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.queue.backoff.ms", "10")
        .set("fetch.wait.max.ms", "50")
        .set("log_level", "3")
        .create()?;
    let started = Instant::now();
    let mut ends = Vec::new();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        ends.push(high);
        if high > low {
            tpl.add_partition_offset(topic, p, Offset::Offset(low))?;
        }
    }
    consumer.assign(&tpl)?;
    let mut remaining = tpl.count();
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut idle = Instant::now();
    while remaining > 0 {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                idle = Instant::now();
                records += 1;
                bytes +=
                    (m.key().map_or(0, <[u8]>::len) + m.payload().map_or(0, <[u8]>::len)) as u64;
                if m.offset() + 1 >= ends[m.partition() as usize] {
                    remaining -= 1;
                }
            }
            Some(Err(e)) => return Err(Error::external(format!("raw consumer: {e}"))),
            None if idle.elapsed() > Duration::from_secs(30) => {
                return Err(Error::external("the raw consumer stalled"))
            }
            None => {}
        }
    }
    Ok(Reading {
        records,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// A restart: the engine replays the command topic and restores the
/// query's state; measured until its table answers pull queries (and the
/// restore alone: reading the changelog and rebuilding the state).
async fn restart(
    broker: &Arc<KafkaBroker>,
    service: &str,
    keys: u64,
) -> Result<(Reading, Reading)> {
    let started = Instant::now();
    let engine = Engine::new(Arc::clone(broker) as Arc<dyn Broker>, config(service)).await?;
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "engine started (command topic replayed)"
    );
    let deadline = started + Duration::from_secs(600);
    while !engine.all_ready().await {
        if Instant::now() > deadline {
            return Err(Error::external("the restore did not finish within 600 s"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let (records, bytes, restore) = engine.restored().await;
    let rows = engine.table_rows("RESTORE_TOTALS").await.unwrap_or(0);
    engine.shutdown().await;
    if rows as u64 != keys {
        return Err(Error::internal(format!(
            "the restored table holds {rows} keys, not {keys}"
        )));
    }
    let reading = |seconds| Reading {
        records,
        bytes,
        seconds,
    };
    Ok((reading(restore.as_secs_f64()), reading(seconds)))
}

/// Runs the restore benchmark and prints its figures.
pub async fn run(
    opts: RestoreOptions,
    broker: Arc<KafkaBroker>,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    let service = format!("bench_restore_{}_", std::process::id());
    let input = format!("restore_input_{}", std::process::id());
    broker
        .admin()
        .create_topic(&input, opts.partitions, 1)
        .await?;
    eprintln!("writing {} records to {input} …", opts.records);
    load(&broker, &input, opts.records).await?;
    {
        let engine = Engine::new(Arc::clone(&broker) as Arc<dyn Broker>, config(&service)).await?;
        exec(
            &engine,
            &format!(
                "CREATE STREAM restore_input (K BIGINT KEY, V BIGINT) \
                 WITH (kafka_topic='{input}', value_format='json');
                 CREATE TABLE restore_totals AS SELECT K, COUNT(*) AS N, SUM(V) AS S \
                 FROM restore_input GROUP BY K;"
            ),
        )
        .await?;
        eprintln!("aggregating them (this builds the changelog) …");
        if !engine.wait_idle(Duration::from_secs(1200)).await {
            return Err(Error::external("the aggregation did not finish in 1200 s"));
        }
        engine.shutdown().await;
    }
    let changelog = format!(
        "_confluent-ksql-{service}query_CTAS_RESTORE_TOTALS_0-Aggregate-Aggregate-Materialize-changelog"
    );
    let (mut raw, mut sluice, mut restarts) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..opts.runs {
        let bootstrap = broker.address();
        let topic = changelog.clone();
        let partitions = opts.partitions;
        let r = tokio::task::spawn_blocking(move || raw_read(&bootstrap, &topic, partitions))
            .await
            .map_err(|e| Error::internal(format!("raw consumer task: {e}")))??;
        let (s, whole) = restart(&broker, &service, opts.records).await?;
        eprintln!(
            "run {}: raw consumer {} records in {:.2} s; sluice restore {} records in {:.2} s \
             ({:.2} s from process start to ready)",
            run + 1,
            r.records,
            r.seconds,
            s.records,
            s.seconds,
            whole.seconds
        );
        raw.push(r);
        sluice.push(s);
        restarts.push(whole);
    }
    let rps = |v: &[Reading]| median(v.iter().map(Reading::records_per_second).collect());
    let mbps = |v: &[Reading]| median(v.iter().map(Reading::mb_per_second).collect());
    let secs = |v: &[Reading]| median(v.iter().map(|r| r.seconds).collect());
    let records = sluice.first().map_or(0, |r| r.records);
    writeln!(out, "restore: {}", machine())?;
    writeln!(
        out,
        "state of GROUP BY over {} records ({} keys, {} partitions): changelog {} records; \
         medians of {} runs",
        thousands(opts.records as f64),
        thousands(opts.records as f64),
        opts.partitions,
        thousands(records as f64),
        opts.runs
    )?;
    writeln!(
        out,
        "| reader | seconds | records/s | MB/s |\n|---|---:|---:|---:|"
    )?;
    writeln!(
        out,
        "| raw rdkafka consumer (ceiling) | {:.2} | {} | {:.1} |",
        secs(&raw),
        thousands(rps(&raw)),
        mbps(&raw)
    )?;
    writeln!(
        out,
        "| sluice restore (read the changelog, rebuild state and table) | {:.2} | {} | {:.1} |",
        secs(&sluice),
        thousands(rps(&sluice)),
        mbps(&sluice)
    )?;
    writeln!(
        out,
        "| sluice restart to ready (engine start, command replay, restore) | {:.2} | {} | {:.1} |",
        secs(&restarts),
        thousands(rps(&restarts)),
        mbps(&restarts)
    )?;
    writeln!(
        out,
        "sluice restores at {:.0}% of the raw consumer's records/s ({:.0}% counting the whole \
         restart)",
        100.0 * rps(&sluice) / rps(&raw).max(1e-9),
        100.0 * rps(&restarts) / rps(&raw).max(1e-9)
    )?;
    Ok(())
}
