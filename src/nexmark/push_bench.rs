//! `sluice bench push`: N concurrent push queries over one stream on one
//! `sluice server` process (this binary, on its embedded broker), each a
//! client connection of its own with its own WHERE. Records are inserted
//! at a steady rate, each carrying the wall-clock time it was sent; every
//! client notes when each record reaches it. For each N: whether every
//! query got every record, the delivery latency (p50/p99 over all
//! deliveries, and per record until the last query had it), the server's
//! threads and its resident memory.
//!
//! N = 1 runs first in the same run: the baseline the other figures are
//! read against.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tokio::sync::Barrier;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::shell::remote::RemoteServer;

/// `sluice bench push` options, checked.
#[derive(Debug, Clone)]
pub struct PushBenchOptions {
    /// Concurrent push query counts, in order.
    pub queries: Vec<usize>,
    /// Records inserted per count.
    pub records: u64,
    /// Records inserted per second.
    pub rate: f64,
}

/// How long every query may take to open, and the last record to arrive.
const DEADLINE: Duration = Duration::from_secs(120);

/// A `sluice server` child, killed when dropped.
pub(super) struct Server {
    child: Child,
    remote: RemoteServer,
    port: u16,
    broker: Arc<std::sync::Mutex<Option<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `sluice server` with `args` (on its embedded broker without
    /// `--bootstrap-servers`), and waits until it listens.
    pub(super) fn start(args: &[&str]) -> Result<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(std::env::current_exe()?)
            .args(["server", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--schema-registry-listen", "off"])
            .args(args)
            .env("SLUICE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        // The log is read (SLUICE_BENCH_SERVER_LOG=1 shows it) for the
        // embedded broker's address.
        let mut child = child;
        let broker = Arc::new(std::sync::Mutex::new(None::<String>));
        if let Some(stderr) = child.stderr.take() {
            let found = Arc::clone(&broker);
            let show = std::env::var_os("SLUICE_BENCH_SERVER_LOG").is_some();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stderr)
                    .lines()
                    .map_while(|l| l.ok())
                {
                    if show {
                        eprintln!("{line}");
                    }
                    if let Some(rest) = line.strip_prefix("Started the embedded Kafka broker at ") {
                        if let (Ok(mut slot), Some(address)) =
                            (found.lock(), rest.split(' ').next())
                        {
                            *slot = Some(address.to_string());
                        }
                    }
                }
            });
        }
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if start.elapsed() > Duration::from_secs(60) {
                return Err(Error::external(format!(
                    "the sluice server did not listen on port {port} within 60 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Server {
            child,
            remote: RemoteServer::parse(&format!("http://127.0.0.1:{port}"))?,
            port,
            broker,
        })
    }

    /// The address of its embedded broker, from its log.
    pub(super) fn broker(&self) -> Option<String> {
        self.broker.lock().ok().and_then(|b| b.clone())
    }

    /// The port it listens on.
    pub(super) fn port(&self) -> u16 {
        self.port
    }

    /// The CPU time it has used.
    pub(super) fn cpu(&self) -> Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // After the command name (in parentheses): state is field 3, utime
        // and stime fields 14 and 15.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .ok_or_else(|| Error::internal("an unreadable /proc stat"))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
            .sum();
        // SAFETY: sysconf only reads a constant.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Ok(Duration::from_micros(ticks * 1_000_000 / hz))
    }

    /// A field of /proc/<pid>/status, in its unit (kB for memory).
    pub(super) fn status(&self, field: &str) -> Option<u64> {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    }

    /// Runs a statement through `/ksql`.
    pub(super) async fn ksql(&self, sql: &str) -> Result<()> {
        self.remote
            .post_json("/ksql", &json!({ "ksql": sql, "streamsProperties": {} }))
            .await
            .map(|_| ())
    }
}

/// Microseconds since the epoch.
fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// What one round (one N) measured.
struct Round {
    queries: usize,
    /// Deliveries seen, and expected (queries × records).
    delivered: u64,
    expected: u64,
    /// Queries that ended before the round did.
    ended_early: usize,
    /// Latency of each delivery, µs.
    deliveries: Vec<i64>,
    /// Per record, until the last query had it, µs.
    all: Vec<i64>,
    threads: u64,
    rss_kb: u64,
    open_time: Duration,
}

/// One client: opens its push query, signals `ready` once the header came,
/// then notes each record's latency until `stop`.
async fn client(
    remote: Arc<RemoteServer>,
    sql: String,
    records: usize,
    ready: Arc<Barrier>,
    delivered: Arc<AtomicU64>,
    stop: CancellationToken,
) -> (Vec<i64>, bool) {
    let mut latencies = vec![-1i64; records];
    let body = json!({ "sql": sql, "properties": {} });
    let opened = remote
        .post(
            "/query-stream",
            &body,
            "application/vnd.ksqlapi.delimited.v1",
        )
        .await;
    let mut stream = match opened {
        Ok((200, mut s)) => match s.next_line().await {
            Ok(Some(_header)) => Some(s),
            _ => None,
        },
        _ => None,
    };
    ready.wait().await;
    let Some(s) = stream.as_mut() else {
        return (latencies, true);
    };
    let mut ended = false;
    loop {
        let line = tokio::select! {
            _ = stop.cancelled() => break,
            l = s.next_line() => l,
        };
        let Ok(Some(line)) = line else {
            ended = true;
            break;
        };
        let arrived = now_us();
        // A row: [SEQ, SENT].
        let mut fields = line
            .trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .map(|f| f.trim().parse::<i64>());
        if let (Some(Ok(seq)), Some(Ok(sent))) = (fields.next(), fields.next()) {
            if let Some(slot) = usize::try_from(seq).ok().and_then(|i| latencies.get_mut(i)) {
                if *slot < 0 {
                    delivered.fetch_add(1, Ordering::Relaxed);
                }
                *slot = arrived - sent;
            }
        }
    }
    (latencies, ended)
}

async fn round(
    server: &Server,
    n: usize,
    opts: &PushBenchOptions,
    round_no: usize,
) -> Result<Round> {
    let records = usize::try_from(opts.records).unwrap_or(usize::MAX);
    let remote = Arc::new(RemoteServer::parse(&server.remote.url())?);
    // Sequence numbers restart every round: each round has its own stream.
    let stream = format!("PUSHBENCH{round_no}");
    server
        .ksql(&format!(
            "CREATE STREAM {stream} (ID INT KEY, SEQ BIGINT, SENT BIGINT) WITH \
             (kafka_topic='{stream}', value_format='json', partitions=1);"
        ))
        .await?;
    // The server's producer for the stream is made by the first INSERT:
    // not in the measured records. (A SEQ below 0 is no measured record.)
    server
        .ksql(&format!(
            "INSERT INTO {stream} (ID, SEQ, SENT) VALUES (0, -1, {});",
            now_us()
        ))
        .await?;
    let ready = Arc::new(Barrier::new(n + 1));
    let delivered = Arc::new(AtomicU64::new(0));
    let stop = CancellationToken::new();
    let opened = Instant::now();
    let clients: Vec<_> = (0..n)
        .map(|i| {
            // Each query its own WHERE, all true for the records sent.
            let sql = format!("SELECT SEQ, SENT FROM {stream} WHERE SENT > -{i} EMIT CHANGES;");
            tokio::spawn(client(
                Arc::clone(&remote),
                sql,
                records,
                Arc::clone(&ready),
                Arc::clone(&delivered),
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::timeout(DEADLINE, ready.wait())
        .await
        .map_err(|_| Error::external(format!("{n} push queries did not open within 120 s")))?;
    let open_time = opened.elapsed();
    // The pace of the load, not a wait for a condition.
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / opts.rate));
    for seq in 0..records {
        tick.tick().await;
        server
            .ksql(&format!(
                "INSERT INTO {stream} (ID, SEQ, SENT) VALUES ({}, {seq}, {});",
                seq % 10,
                now_us()
            ))
            .await?;
    }
    let (mut threads, mut rss_kb) = (
        server.status("Threads").unwrap_or(0),
        server.status("VmRSS").unwrap_or(0),
    );
    // The last records get up to 10 s to arrive.
    let expected = (n as u64) * opts.records;
    let last = Instant::now();
    while delivered.load(Ordering::Relaxed) < expected && last.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    let results = futures::future::join_all(clients).await;
    threads = threads.max(server.status("Threads").unwrap_or(0));
    rss_kb = rss_kb.max(server.status("VmRSS").unwrap_or(0));
    let mut deliveries = Vec::new();
    let mut all = vec![0i64; records];
    let mut missing = vec![false; records];
    let mut ended_early = 0;
    for r in results {
        let (lat, ended) = r.map_err(|e| Error::internal(format!("a client panicked: {e}")))?;
        ended_early += usize::from(ended);
        for (i, l) in lat.into_iter().enumerate() {
            if l < 0 {
                missing[i] = true;
            } else {
                deliveries.push(l);
                all[i] = all[i].max(l);
            }
        }
    }
    let all: Vec<i64> = all
        .into_iter()
        .zip(&missing)
        .filter(|(_, m)| !**m)
        .map(|(l, _)| l)
        .collect();
    server.ksql(&format!("DROP STREAM {stream};")).await.ok();
    Ok(Round {
        queries: n,
        delivered: deliveries.len() as u64,
        expected,
        ended_early,
        deliveries,
        all,
        threads,
        rss_kb,
        open_time,
    })
}

fn percentile(v: &mut [i64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_unstable();
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    v[i.min(v.len() - 1)] as f64 / 1000.0
}

/// Runs the benchmark and prints a table.
pub async fn run(opts: PushBenchOptions, out: &mut dyn Write) -> Result<()> {
    crate::server::raise_open_files();
    let server = Server::start(&[])?;
    let mut counts = vec![1];
    counts.extend(opts.queries.iter().copied().filter(|&n| n != 1));
    writeln!(
        out,
        "sluice bench push: {} records per round at {} records/s, one server (embedded broker), \
         {} cores",
        opts.records,
        opts.rate,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    )?;
    writeln!(
        out,
        "{:>7} {:>12} {:>6} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9} {:>8}",
        "queries",
        "delivered",
        "ended",
        "p50 ms",
        "p99 ms",
        "all p50",
        "all p99",
        "threads",
        "RSS MB",
        "open s"
    )?;
    let mut missed = 0;
    for (i, n) in counts.into_iter().enumerate() {
        let mut r = round(&server, n, &opts, i).await?;
        missed += r.expected - r.delivered;
        writeln!(
            out,
            "{:>7} {:>12} {:>6} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>8} {:>9.0} {:>8.1}{}",
            r.queries,
            format!("{}/{}", r.delivered, r.expected),
            r.ended_early,
            percentile(&mut r.deliveries, 0.5),
            percentile(&mut r.deliveries, 0.99),
            percentile(&mut r.all, 0.5),
            percentile(&mut r.all, 0.99),
            r.threads,
            r.rss_kb as f64 / 1024.0,
            r.open_time.as_secs_f64(),
            if i == 0 {
                "  (baseline: one query)"
            } else {
                ""
            }
        )?;
        out.flush()?;
        if r.delivered != r.expected {
            writeln!(
                out,
                "  MISSED: {} deliveries did not arrive",
                r.expected - r.delivered
            )?;
        }
    }
    if missed > 0 {
        return Err(Error::external(format!(
            "{missed} deliveries of records to push queries did not arrive"
        )));
    }
    Ok(())
}
