//! `sluice bench pull`: key lookups over HTTP against a table of K keys on
//! one `sluice server` process. This process runs the broker (the
//! embedded one) and writes the table's topic; the server materializes it
//! (`CREATE SOURCE TABLE`). Then C clients, each on one kept-alive
//! connection, send `SELECT * FROM t WHERE K = '…';` to `/query-stream`
//! for random keys. Printed: lookups per second, per CPU-second of the
//! server, and latency p50/p99; beside them, from the same run and the
//! same clients, `GET /info` (the HTTP floor: a request that does
//! nothing).

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use super::push_bench::Server;
use crate::error::{Error, Result};
use crate::kafka::KafkaBroker;

/// `sluice bench pull` options, checked.
#[derive(Debug, Clone)]
pub struct PullBenchOptions {
    /// Keys in the table.
    pub keys: u64,
    /// Concurrent clients.
    pub clients: usize,
    /// How long each measurement runs.
    pub duration: Duration,
}

/// What one measurement gave.
struct Measured {
    requests: u64,
    failures: u64,
    wall: Duration,
    server_cpu: Duration,
    latencies_us: Vec<u32>,
}

/// One kept-alive HTTP/1.1 connection.
struct Client {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: String,
}

impl Client {
    async fn connect(port: u16) -> Result<Client> {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Error::external(format!("connection to the server: {e}")))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Client {
            sender,
            host: format!("127.0.0.1:{port}"),
        })
    }

    /// Sends one request; the status and the body.
    async fn send(&mut self, request: hyper::Request<Full<Bytes>>) -> Result<(u16, Bytes)> {
        self.sender
            .ready()
            .await
            .map_err(|e| Error::external(format!("the connection closed: {e}")))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| Error::external(format!("request failed: {e}")))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::external(format!("answer: {e}")))?
            .to_bytes();
        Ok((status, body))
    }

    fn lookup(&self, table: &str, key: u64) -> Result<hyper::Request<Full<Bytes>>> {
        let body = format!(r#"{{"sql":"SELECT * FROM {table} WHERE K = 'k{key}';"}}"#);
        hyper::Request::post("/query-stream")
            .header("host", &self.host)
            .header("content-type", "application/json")
            .header("accept", "application/vnd.ksqlapi.delimited.v1")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Error::internal(format!("a request: {e}")))
    }

    fn info(&self) -> Result<hyper::Request<Full<Bytes>>> {
        hyper::Request::get("/info")
            .header("host", &self.host)
            .body(Full::new(Bytes::new()))
            .map_err(|e| Error::internal(format!("a request: {e}")))
    }
}

/// What a lookup's answer must hold: the key's row.
fn holds_row(body: &[u8], key: u64) -> bool {
    let want = format!("\"k{key}\"");
    body.split(|b| *b == b'\n')
        .nth(1)
        .is_some_and(|row| row.windows(want.len()).any(|w| w == want.as_bytes()))
}

/// Runs C clients for the duration, each sending what `make` builds.
async fn measure(
    server: &Server,
    port: u16,
    opts: &PullBenchOptions,
    lookups: Option<(Arc<str>, u64)>,
) -> Result<Measured> {
    let mut clients = Vec::with_capacity(opts.clients);
    for _ in 0..opts.clients {
        clients.push(Client::connect(port).await?);
    }
    let cpu_before = server.cpu()?;
    let start = Instant::now();
    let until = start + opts.duration;
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(c, mut client)| {
            let lookups = lookups.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0u64;
                // xorshift: a different key each time, no allocation.
                let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ (c as u64 + 1);
                while Instant::now() < until {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let (request, key) = match &lookups {
                        Some((table, keys)) => {
                            let key = state % keys;
                            (client.lookup(table, key)?, Some(key))
                        }
                        None => (client.info()?, None),
                    };
                    let sent = Instant::now();
                    let (status, body) = client.send(request).await?;
                    latencies.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    let ok = status == 200 && key.is_none_or(|k| holds_row(&body, k));
                    failures += u64::from(!ok);
                }
                Ok::<_, Error>((latencies, failures))
            })
        })
        .collect();
    let mut measured = Measured {
        requests: 0,
        failures: 0,
        wall: Duration::ZERO,
        server_cpu: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    for task in tasks {
        let (latencies, failures) = task
            .await
            .map_err(|e| Error::internal(format!("a client panicked: {e}")))??;
        measured.requests += latencies.len() as u64;
        measured.failures += failures;
        measured.latencies_us.extend(latencies);
    }
    measured.wall = start.elapsed();
    measured.server_cpu = server.cpu()?.saturating_sub(cpu_before);
    Ok(measured)
}

/// Writes `keys` records `k<i>` → `{"V": i}` over `partitions`
/// partitions, each partition's last key noted.
fn produce(broker: &KafkaBroker, topic: &str, keys: u64, partitions: i32) -> Result<()> {
    let producer: ThreadedProducer<DefaultProducerContext> = broker
        .client_config()
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let mut key = String::new();
    let mut value = String::new();
    for i in 0..keys {
        use std::fmt::Write as _;
        key.clear();
        value.clear();
        let _ = write!(key, "k{i}");
        let _ = write!(value, r#"{{"V":{i}}}"#);
        let partition = (i % partitions as u64) as i32;
        let mut record = BaseRecord::to(topic)
            .key(&key)
            .payload(&value)
            .partition(partition);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(5));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(300))?;
    Ok(())
}

fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

fn report(out: &mut dyn Write, what: &str, mut m: Measured) -> Result<u64> {
    m.latencies_us.sort_unstable();
    let per_s = m.requests as f64 / m.wall.as_secs_f64();
    let per_cpu = m.requests as f64 / m.server_cpu.as_secs_f64().max(1e-9);
    writeln!(
        out,
        "{what:<28} {:>10.0} {:>14.0} {:>8.3} {:>8.3} {:>9}",
        per_s,
        per_cpu,
        percentile_ms(&m.latencies_us, 0.5),
        percentile_ms(&m.latencies_us, 0.99),
        m.failures
    )?;
    Ok(m.failures)
}

/// Runs the benchmark and prints a table.
pub async fn run(opts: PullBenchOptions, out: &mut dyn Write) -> Result<()> {
    let server = Server::start(&[])?;
    let port = server.port();
    let address = server
        .broker()
        .ok_or_else(|| Error::internal("the server did not say where its embedded broker is"))?;
    let broker = KafkaBroker::connect(&address)?;
    // The embedded broker keeps about 5 MiB per partition.
    let partitions = ((opts.keys / 50_000) as i32 + 1).clamp(1, 64);
    let topic = "PULLBENCH_INPUT";
    // The server creates the topic (the embedded broker takes no admin
    // requests from other processes).
    server
        .ksql(&format!(
            "CREATE SOURCE TABLE PULLBENCH (K STRING PRIMARY KEY, V BIGINT) WITH \
             (kafka_topic='{topic}', value_format='json', partitions={partitions});"
        ))
        .await?;
    let loading = Instant::now();
    produce(&broker, topic, opts.keys, partitions)?;
    // Loaded once the last key of every partition answers.
    let mut client = Client::connect(port).await?;
    let last: Vec<u64> = (opts.keys.saturating_sub(partitions as u64)..opts.keys).collect();
    let deadline = Instant::now() + Duration::from_secs(600);
    for key in last {
        loop {
            let (status, body) = client.send(client.lookup("PULLBENCH", key)?).await?;
            if status == 200 && holds_row(&body, key) {
                break;
            }
            if Instant::now() > deadline {
                return Err(Error::external(format!(
                    "the table did not hold key k{key} within 600 s"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let loaded = loading.elapsed();
    writeln!(
        out,
        "sluice bench pull: {} keys ({} partitions, loaded and materialized in {:.1} s), {} \
         clients on kept-alive HTTP/1.1 connections, {} s each, {} cores; server RSS {:.0} MB",
        opts.keys,
        partitions,
        loaded.as_secs_f64(),
        opts.clients,
        opts.duration.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        server.status("VmRSS").unwrap_or(0) as f64 / 1024.0
    )?;
    writeln!(
        out,
        "{:<28} {:>10} {:>14} {:>8} {:>8} {:>9}",
        "request", "per s", "per server CPU-s", "p50 ms", "p99 ms", "failures"
    )?;
    let floor = measure(&server, port, &opts, None).await?;
    report(out, "GET /info (baseline)", floor)?;
    let lookups = measure(
        &server,
        port,
        &opts,
        Some((Arc::from("PULLBENCH"), opts.keys)),
    )
    .await?;
    let failures = report(out, "key lookup (pull query)", lookups)?;
    if failures > 0 {
        return Err(Error::external(format!(
            "{failures} lookups did not answer with their key's row"
        )));
    }
    Ok(())
}
