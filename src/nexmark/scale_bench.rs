//! `sluice bench scale`: the same input through 1, 2, 3… `sluice server`
//! processes of one service, beside a plain rdkafka consumer of that input
//! on the same broker (the ceiling), measured in the same run.
//!
//! The input (keyed JSON records spread over the partitions) is written
//! once. For each server count a fresh service starts that many server
//! processes (this binary), creates a pass-through stream and a GROUP BY
//! table from the start of the input on one of them, and times how long
//! until the pass-through output holds every input record and the table's
//! counts (a pull query, gathered from every server) add up to the input.
//! On a machine with fewer cores than servers this shows what
//! coordination costs (consumer groups, the command topic, heartbeats),
//! not a speed-up.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::kafka::KafkaBroker;
use crate::runtime::io::Broker;
use crate::shell::remote::RemoteServer;

/// `sluice bench scale` options, checked.
#[derive(Debug, Clone)]
pub struct ScaleBenchOptions {
    /// Input records.
    pub records: u64,
    /// Input partitions.
    pub partitions: i32,
    /// Server counts to measure, in order.
    pub servers: Vec<usize>,
    /// Timed runs per server count (medians are printed).
    pub runs: usize,
}

/// How long one measurement may take.
const DEADLINE: Duration = Duration::from_secs(300);

/// Server processes of one service, killed when dropped.
struct Servers(Vec<(Child, u16)>);

impl Drop for Servers {
    fn drop(&mut self) {
        for (child, _) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn start_servers(bootstrap: &str, service: &str, n: usize) -> Result<Servers> {
    let exe = std::env::current_exe()?;
    let mut servers = Servers(Vec::new());
    for _ in 0..n {
        let port = free_port()?;
        // SLUICE_BENCH_LOG_DIR keeps the servers' logs.
        let log = match std::env::var_os("SLUICE_BENCH_LOG_DIR") {
            Some(dir) => Stdio::from(std::fs::File::create(
                std::path::Path::new(&dir).join(format!("{service}-{port}.log")),
            )?),
            None => Stdio::null(),
        };
        let child = Command::new(&exe)
            .args(["server", "--bootstrap-servers", bootstrap])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--service-id", service, "--schema-registry-listen", "off"])
            .env("SLUICE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        servers.0.push((child, port));
    }
    for (_, port) in &servers.0 {
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", *port)).is_err() {
            if start.elapsed() > Duration::from_secs(60) {
                return Err(Error::external(format!(
                    "a sluice server did not listen on port {port} within 60 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(servers)
}

/// Writes the input: key `k<i>`, value `{"G": "g<i % 100>", "V": i % 7}`.
fn produce(bootstrap: &str, topic: &str, records: u64) -> Result<()> {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    for i in 0..records {
        let key = format!("k{i}");
        let value = format!(r#"{{"G":"g{}","V":{}}}"#, i % 100, i % 7);
        let mut r = BaseRecord::to(topic).key(&key).payload(&value);
        loop {
            match producer.send(r) {
                Ok(()) => break,
                Err((_, back)) => {
                    r = back;
                    producer.poll(Duration::from_millis(5));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(300))?;
    Ok(())
}

/// Reads every record of `topic` with a plain consumer; records per second.
fn ceiling(bootstrap: &str, topic: &str, partitions: i32, records: u64) -> Result<f64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set(
            "group.id",
            format!("bench_scale_ceiling_{}", uuid::Uuid::new_v4()),
        )
        .set("enable.auto.commit", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let start = Instant::now();
    let mut seen = 0u64;
    while seen < records {
        if start.elapsed() > DEADLINE {
            return Err(Error::external(
                "the ceiling consumer did not read the input",
            ));
        }
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            m?;
            seen += 1;
        }
    }
    Ok(records as f64 / start.elapsed().as_secs_f64())
}

/// Records in `topic` now (sum of high watermarks).
fn topic_records(consumer: &BaseConsumer, topic: &str, partitions: i32) -> i64 {
    (0..partitions)
        .filter_map(|p| {
            consumer
                .fetch_watermarks(topic, p, Duration::from_secs(5))
                .ok()
        })
        .map(|(low, high)| high - low)
        .sum()
}

/// The sum of the N column of a pull query's rows.
fn counted(answer: &Value) -> i64 {
    answer
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|row| row.pointer("/row/columns/1").and_then(Value::as_i64))
        .sum()
}

/// One measurement with `n` servers: seconds until the pass-through and
/// the GROUP BY have taken in every record.
async fn measure(
    bootstrap: &str,
    input: &str,
    partitions: i32,
    records: u64,
    n: usize,
) -> Result<(f64, f64)> {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let service = format!("bench_scale_{n}_{tag}");
    let servers = start_servers(bootstrap, &service, n)?;
    let remotes: Vec<RemoteServer> = servers
        .0
        .iter()
        .map(|(_, port)| RemoteServer::parse(&format!("http://127.0.0.1:{port}")))
        .collect::<Result<_>>()?;
    let props = json!({"auto.offset.reset": "earliest"});
    let ksql = |sql: String| {
        let body = json!({"ksql": sql, "streamsProperties": props});
        let remote = remotes[0].clone();
        async move { remote.post_json("/ksql", &body).await }
    };
    let (stream, echo, totals) = (
        format!("IN_{tag}"),
        format!("ECHO_{tag}"),
        format!("TOTALS_{tag}"),
    );
    ksql(format!(
        "CREATE STREAM {stream} (K STRING KEY, G STRING, V BIGINT) \
         WITH (kafka_topic='{input}', value_format='json');"
    ))
    .await?;
    // Every server has the stream before the queries start.
    let start = Instant::now();
    ksql(format!("CREATE STREAM {echo} AS SELECT * FROM {stream};")).await?;
    ksql(format!(
        "CREATE TABLE {totals} AS SELECT G, COUNT(*) AS N FROM {stream} GROUP BY G;"
    ))
    .await?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("bench_scale_watch_{tag}"))
        .create()?;
    let (mut echo_done, mut totals_done) = (None, None);
    let pull = json!({"ksql": format!("SELECT * FROM {totals};"), "streamsProperties": {}});
    while echo_done.is_none() || totals_done.is_none() {
        if start.elapsed() > DEADLINE {
            return Err(Error::external(format!(
                "{n} servers did not process the input within {} s",
                DEADLINE.as_secs()
            )));
        }
        // The sink topic is named after the stream, upper-cased.
        if echo_done.is_none()
            && topic_records(&consumer, &echo.to_uppercase(), partitions) >= records as i64
        {
            echo_done = Some(start.elapsed().as_secs_f64());
        }
        if totals_done.is_none() {
            // Any server answers, gathering from the others.
            let remote = &remotes[remotes.len() - 1];
            if let Ok(answer) = remote.post_json("/query", &pull).await {
                if counted(&answer) >= records as i64 {
                    totals_done = Some(start.elapsed().as_secs_f64());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(servers);
    Ok((
        echo_done.unwrap_or_default(),
        totals_done.unwrap_or_default(),
    ))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Runs the measurements and prints the table.
pub async fn run(opts: ScaleBenchOptions, bootstrap: &str, out: &mut dyn Write) -> Result<()> {
    let broker = KafkaBroker::connect(bootstrap)?;
    let input = format!(
        "bench_scale_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    broker
        .admin()
        .create_topic(&input, opts.partitions, 1)
        .await?;
    writeln!(
        out,
        "sluice bench scale: {} records in {} partitions of '{input}' on {bootstrap}; {} core(s)",
        opts.records,
        opts.partitions,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    )?;
    {
        let (b, t, r) = (bootstrap.to_string(), input.clone(), opts.records);
        tokio::task::spawn_blocking(move || produce(&b, &t, r))
            .await
            .map_err(|e| Error::internal(format!("producer task failed: {e}")))??;
    }
    let mut ceilings = Vec::new();
    for _ in 0..opts.runs {
        let (b, t, p, r) = (
            bootstrap.to_string(),
            input.clone(),
            opts.partitions,
            opts.records,
        );
        ceilings.push(
            tokio::task::spawn_blocking(move || ceiling(&b, &t, p, r))
                .await
                .map_err(|e| Error::internal(format!("ceiling task failed: {e}")))??,
        );
    }
    let ceiling = median(ceilings);
    writeln!(
        out,
        "ceiling: a plain rdkafka consumer reads the input at {ceiling:.0} records/s (median of {})",
        opts.runs
    )?;
    writeln!(
        out,
        "{:>7}  {:>22}  {:>22}  {:>10}",
        "servers", "pass-through rec/s", "GROUP BY rec/s", "% ceiling"
    )?;
    for &n in &opts.servers {
        let mut echo = Vec::new();
        let mut totals = Vec::new();
        for _ in 0..opts.runs {
            let (e, t) = measure(bootstrap, &input, opts.partitions, opts.records, n).await?;
            echo.push(opts.records as f64 / e);
            totals.push(opts.records as f64 / t);
        }
        let (e, t) = (median(echo), median(totals));
        writeln!(
            out,
            "{n:>7}  {e:>22.0}  {t:>22.0}  {:>9.1}%",
            100.0 * e / ceiling
        )?;
    }
    writeln!(
        out,
        "(both queries run at once, from the start of the input; times run from the first \
         CREATE to the last record out; medians of {} runs)",
        opts.runs
    )?;
    Ok(())
}
