//! `GET /metrics`: the server, its persistent queries and its process in
//! the Prometheus (OpenMetrics) text format, with `prometheus-client`.
//!
//! Server-wide counters and histograms live in [`ServerMetrics`], updated
//! as requests are served; each scrape adds the persistent queries'
//! counters, read from the engine at that moment, and the process's memory
//! and CPU from `/proc`. The names and labels are listed in the README
//! ("Running in production").

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::ServerState;
use crate::engine::QueryMetrics;

/// Label sets, as name/value pairs.
type Labels = Vec<(String, String)>;

/// A float counter (seconds).
type Seconds = Counter<f64, std::sync::atomic::AtomicU64>;

/// A float gauge.
type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// The server's own counters, shared by the handlers.
pub struct ServerMetrics {
    requests: Family<Labels, Counter>,
    push_started: Counter,
    push_start_seconds: Histogram,
    pull_served: Counter,
    pull_seconds: Histogram,
    started: std::time::SystemTime,
}

impl Default for ServerMetrics {
    fn default() -> Self {
        // 0.5 ms to ~16 s.
        let buckets = || exponential_buckets(0.0005, 2.0, 16);
        ServerMetrics {
            requests: Family::default(),
            push_started: Counter::default(),
            push_start_seconds: Histogram::new(buckets()),
            pull_served: Counter::default(),
            pull_seconds: Histogram::new(buckets()),
            started: std::time::SystemTime::now(),
        }
    }
}

impl ServerMetrics {
    /// A push query started streaming `latency` after its request came.
    pub fn push_started(&self, latency: Duration) {
        self.push_started.inc();
        self.push_start_seconds.observe(latency.as_secs_f64());
    }

    /// A pull query was answered `latency` after its request came.
    pub fn pull_served(&self, latency: Duration) {
        self.pull_served.inc();
        self.pull_seconds.observe(latency.as_secs_f64());
    }
}

/// The middleware counting every request by method, route and status.
pub async fn count_requests(
    State(metrics): State<Arc<ServerMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().as_str().to_string();
    let route = route_of(request.uri().path());
    let response = next.run(request).await;
    metrics
        .requests
        .get_or_create(&vec![
            ("method".to_string(), method),
            ("path".to_string(), route.to_string()),
            ("code".to_string(), response.status().as_u16().to_string()),
        ])
        .inc();
    response
}

/// The route a path belongs to: its first segment when it is one of the
/// API's, else `other` (the label's values stay few whatever clients send).
fn route_of(path: &str) -> &'static str {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    const ROUTES: &[&str] = &[
        "ksql",
        "query",
        "query-stream",
        "close-query",
        "inserts-stream",
        "info",
        "healthcheck",
        "clusterStatus",
        "internal",
        "status",
        "chc",
        "is_valid_property",
        "metrics",
        "console",
    ];
    match ROUTES.iter().find(|r| **r == first) {
        Some(r) => match *r {
            "ksql" => "/ksql",
            "query" => "/query",
            "query-stream" => "/query-stream",
            "close-query" => "/close-query",
            "inserts-stream" => "/inserts-stream",
            "info" => "/info",
            "healthcheck" => "/healthcheck",
            "clusterStatus" => "/clusterStatus",
            "internal" => "/internal",
            "status" => "/status",
            "chc" => "/chc",
            "is_valid_property" => "/is_valid_property",
            "metrics" => "/metrics",
            _ => "/console",
        },
        None if first.is_empty() => "/",
        None => "other",
    }
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<Arc<ServerState>>) -> Response {
    let queries = state.engine().query_metrics(true).await;
    let errors = state.engine().processing_errors_by_kind();
    let push_running = state.running_push_queries().len();
    match render(&state.metrics, &queries, &errors, push_running) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => super::ApiError::from(crate::error::Error::internal(format!(
            "encoding the metrics failed: {e}"
        )))
        .into_response(),
    }
}

fn query_labels(id: &str) -> Labels {
    vec![("query_id".to_string(), id.to_string())]
}

/// The whole exposition.
fn render(
    server: &ServerMetrics,
    queries: &[QueryMetrics],
    errors: &[(String, &'static str, u64)],
    push_running: usize,
) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    // Server.
    registry.register(
        "sluice_http_requests",
        "REST requests served, by method, route and status code",
        server.requests.clone(),
    );
    registry.register(
        "sluice_push_queries_started",
        "Push queries that started streaming",
        server.push_started.clone(),
    );
    registry.register(
        "sluice_push_query_start_seconds",
        "Time from a push query's request to the start of its stream",
        server.push_start_seconds.clone(),
    );
    let running: Gauge = Gauge::default();
    running.set(i64::try_from(push_running).unwrap_or(i64::MAX));
    registry.register(
        "sluice_push_queries_running",
        "Push queries streaming to clients now",
        running,
    );
    registry.register(
        "sluice_pull_queries",
        "Pull queries answered",
        server.pull_served.clone(),
    );
    registry.register(
        "sluice_pull_query_seconds",
        "Time from a pull query's request to its answer",
        server.pull_seconds.clone(),
    );

    // Persistent queries.
    let counter = || Family::<Labels, Counter>::default();
    let (records_in, records_out, bytes_in, bytes_out, late, commits, restored) = (
        counter(),
        counter(),
        counter(),
        counter(),
        counter(),
        counter(),
        counter(),
    );
    let commit_seconds = Family::<Labels, Seconds>::default();
    let restore_seconds = Family::<Labels, Seconds>::default();
    let lag = Family::<Labels, Gauge>::default();
    let state_rows = Family::<Labels, Gauge>::default();
    let state_bytes = Family::<Labels, Gauge>::default();
    let ready = Family::<Labels, Gauge>::default();
    let status = Family::<Labels, Gauge>::default();
    let processing_errors = Family::<Labels, Counter>::default();
    for q in queries {
        let l = query_labels(&q.id);
        records_in.get_or_create(&l).inc_by(q.records_in);
        records_out.get_or_create(&l).inc_by(q.records_out);
        bytes_in.get_or_create(&l).inc_by(q.bytes_in);
        bytes_out.get_or_create(&l).inc_by(q.bytes_out);
        late.get_or_create(&l).inc_by(q.late_records);
        commits.get_or_create(&l).inc_by(q.commits);
        commit_seconds.get_or_create(&l).inc_by(q.commit_seconds);
        restored.get_or_create(&l).inc_by(q.restored_records);
        restore_seconds.get_or_create(&l).inc_by(q.restore_seconds);
        ready.get_or_create(&l).set(i64::from(q.ready));
        let mut with_state = l.clone();
        with_state.push(("state".to_string(), q.state.to_string()));
        status.get_or_create(&with_state).set(1);
        for (topic, partition, records) in &q.lag {
            let mut l = l.clone();
            l.push(("topic".to_string(), topic.clone()));
            l.push(("partition".to_string(), partition.to_string()));
            lag.get_or_create(&l).set(*records);
        }
        if let Some((rows, bytes)) = q.store {
            state_rows
                .get_or_create(&l)
                .set(i64::try_from(rows).unwrap_or(i64::MAX));
            state_bytes
                .get_or_create(&l)
                .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
    }
    for (query, kind, n) in errors {
        let mut l = query_labels(query);
        l.push(("kind".to_string(), kind.to_string()));
        processing_errors.get_or_create(&l).inc_by(*n);
    }
    registry.register(
        "sluice_query_records_in",
        "Records a persistent query read",
        records_in,
    );
    registry.register(
        "sluice_query_records_out",
        "Rows a persistent query wrote",
        records_out,
    );
    registry.register(
        "sluice_query_bytes_in",
        "Key and value bytes a persistent query read",
        bytes_in,
    );
    registry.register(
        "sluice_query_bytes_out",
        "Key and value bytes a persistent query wrote",
        bytes_out,
    );
    registry.register(
        "sluice_query_processing_errors",
        "Records that failed, by kind (deserialization, serialization, expression, \
         production, timestamp, data-loss), as sent to the processing log",
        processing_errors,
    );
    registry.register(
        "sluice_query_late_records_dropped",
        "Records a windowed aggregation dropped as later than its grace period",
        late,
    );
    registry.register(
        "sluice_query_consumer_lag",
        "Records between a query's position and the end of each partition it reads",
        lag,
    );
    registry.register(
        "sluice_query_state_rows",
        "Rows (keys, or key-windows) in a query's materialized table",
        state_rows,
    );
    registry.register(
        "sluice_query_state_bytes",
        "Bytes of the keys and values in a query's materialized table",
        state_bytes,
    );
    registry.register(
        "sluice_query_restored_records",
        "Changelog records read to restore a query's state",
        restored,
    );
    registry.register(
        "sluice_query_restore_seconds",
        "Time spent restoring a query's state",
        restore_seconds,
    );
    registry.register(
        "sluice_query_ready",
        "1 when a query's state is restored (its table answers pull queries)",
        ready,
    );
    registry.register(
        "sluice_query_commits",
        "Commits of a query's output and input positions",
        commits,
    );
    registry.register(
        "sluice_query_commit_seconds",
        "Time a query's commits took in all",
        commit_seconds,
    );
    registry.register(
        "sluice_query_status",
        "1 for a persistent query in the state its label names (RUNNING, ERROR)",
        status,
    );

    // Process.
    let process = process_stats();
    let rss = Gauge::<i64>::default();
    rss.set(process.rss_bytes);
    registry.register(
        "process_resident_memory_bytes",
        "Resident memory of the sluice process",
        rss,
    );
    let cpu = Seconds::default();
    cpu.inc_by(process.cpu_seconds);
    registry.register(
        "process_cpu_seconds",
        "CPU time (user and system) of the sluice process",
        cpu,
    );
    let threads = Gauge::<i64>::default();
    threads.set(process.threads);
    registry.register("process_threads", "Threads of the sluice process", threads);
    let start = FloatGauge::default();
    start.set(
        server
            .started
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
    );
    registry.register(
        "process_start_time_seconds",
        "When the server started, seconds since the epoch",
        start,
    );

    let mut text = String::new();
    encode(&mut text, &registry)?;
    Ok(text)
}

/// What `/proc` says of this process.
#[derive(Debug, Default, PartialEq)]
struct ProcessStats {
    rss_bytes: i64,
    cpu_seconds: f64,
    threads: i64,
}

fn process_stats() -> ProcessStats {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    // SAFETY: sysconf only reads a system constant.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    parse_proc(&stat, &statm, ticks, page)
}

/// Parses `/proc/self/stat` (utime and stime are fields 14 and 15, the
/// thread count field 20, counted after the parenthesized command name)
/// and `/proc/self/statm` (resident pages, the second number).
fn parse_proc(stat: &str, statm: &str, ticks: i64, page: i64) -> ProcessStats {
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    // Field 3 (state) is the first after the name.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |n: usize| -> i64 { fields.get(n - 3).and_then(|v| v.parse().ok()).unwrap_or(0) };
    let resident: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    ProcessStats {
        rss_bytes: resident * page.max(1),
        cpu_seconds: (field(14) + field(15)) as f64 / ticks.max(1) as f64,
        threads: field(20),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_read() {
        let stat = "1234 (sluice (x) y) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 17 0 99 1000 300";
        let stats = parse_proc(stat, "5000 1200 300 1 0 800 0", 100, 4096);
        assert_eq!(
            stats,
            ProcessStats {
                rss_bytes: 1200 * 4096,
                cpu_seconds: 3.0,
                threads: 17
            }
        );
        assert!(process_stats().rss_bytes > 0);
    }

    #[test]
    fn routes_are_few() {
        assert_eq!(route_of("/status/stream/X/create"), "/status");
        assert_eq!(route_of("/console/app.js"), "/console");
        assert_eq!(route_of("/"), "/");
        assert_eq!(route_of("/anything/else"), "other");
        assert_eq!(route_of("/query-stream"), "/query-stream");
    }

    #[test]
    fn exposition_has_queries_and_the_process() {
        let server = ServerMetrics::default();
        server.pull_served(Duration::from_millis(3));
        let q = QueryMetrics {
            id: "CSAS_OUT_1".into(),
            state: "RUNNING",
            records_in: 10,
            records_out: 7,
            lag: vec![("in".into(), 2, 5)],
            store: Some((3, 300)),
            ready: true,
            ..QueryMetrics::default()
        };
        let text = render(
            &server,
            &[q],
            &[("CSAS_OUT_1".into(), "deserialization", 2)],
            1,
        )
        .expect("render");
        for line in [
            "sluice_query_records_in_total{query_id=\"CSAS_OUT_1\"} 10",
            "sluice_query_records_out_total{query_id=\"CSAS_OUT_1\"} 7",
            "sluice_query_consumer_lag{query_id=\"CSAS_OUT_1\",topic=\"in\",partition=\"2\"} 5",
            "sluice_query_state_rows{query_id=\"CSAS_OUT_1\"} 3",
            "sluice_query_processing_errors_total{query_id=\"CSAS_OUT_1\",kind=\"deserialization\"} 2",
            "sluice_query_status{query_id=\"CSAS_OUT_1\",state=\"RUNNING\"} 1",
            "sluice_pull_queries_total 1",
            "sluice_push_queries_running 1",
            "process_resident_memory_bytes ",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }
}
