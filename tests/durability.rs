//! Persistent means persistent, tried as a user would: `sluice server`
//! processes against a Tansu broker process, a load of records with unique
//! keys written by an independent producer, and in the middle of it the
//! server killed with SIGKILL (and started again with the same arguments),
//! or the broker stopped for ten seconds. Afterwards the catalog and the
//! queries must be back without anyone re-submitting them, the
//! pass-through output must hold every input record, and every group's
//! aggregate (from the output topic and through pull queries) must equal a
//! recomputation from the input.
//!
//! Each test starts its own Tansu (`tansu` on the PATH, which
//! scripts/test.sh installs); without it the test says SKIPPED.

mod common;

use common::cluster::{create_topic, start_load, wait_until, Server, Tansu};

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use serde_json::Value;

/// Records written.
const RECORDS: usize = 6000;
/// Records per burst of the producer.
const BURST: usize = 200;
/// Distinct grouping values.
const GROUPS: usize = 40;
/// Event time between two records (ms): the load spans 20 minutes of
/// one-minute windows.
const STEP_MS: i64 = 200;
const BASE_MS: i64 = 1_700_000_000_000;

/// The load: record `i` has key `id-<i>`, group `g<i % GROUPS>`, value
/// `i % 7`, event time `BASE + i * STEP`.
fn record(i: usize) -> (String, String, String, i64) {
    let g = format!("g{}", i % GROUPS);
    let v = (i % 7) as i64;
    (
        format!("id-{i}"),
        g.clone(),
        format!(r#"{{"G":"{g}","V":{v}}}"#),
        BASE_MS + i as i64 * STEP_MS,
    )
}

/// Writes the load (a burst every 250 ms), counting what was sent.
fn load(bootstrap: &str, topic: &str, sent: &Arc<AtomicUsize>) -> std::thread::JoinHandle<()> {
    start_load(
        bootstrap.to_string(),
        topic.to_string(),
        (RECORDS, BURST, Duration::from_millis(250)),
        Arc::clone(sent),
        |i| {
            let (key, _, value, ts) = record(i);
            (key, value, Some(ts))
        },
    )
}

/// What the outputs hold, compared with a recomputation from the input.
#[derive(Debug, Default)]
struct Verdict {
    output: usize,
    distinct: usize,
    lost: usize,
    duplicates: usize,
    wrong_groups: usize,
    wrong_windows: usize,
    wrong_pulled: usize,
}

impl Verdict {
    fn holds(&self) -> bool {
        self.lost == 0 && self.wrong_groups == 0 && self.wrong_windows == 0
    }
}

fn expected_totals() -> BTreeMap<String, (i64, i64)> {
    let mut out: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for i in 0..RECORDS {
        let (_, g, _, _) = record(i);
        let e = out.entry(g).or_default();
        e.0 += 1;
        e.1 += (i % 7) as i64;
    }
    out
}

fn expected_windows() -> BTreeMap<(String, i64), i64> {
    let mut out = BTreeMap::new();
    for i in 0..RECORDS {
        let (_, g, _, ts) = record(i);
        *out.entry((g, ts - ts.rem_euclid(60_000))).or_default() += 1;
    }
    out
}

fn number(v: &Value, field: &str) -> Option<i64> {
    v.get(field).and_then(Value::as_i64)
}

fn check_topics(bootstrap: &str, t: &Topics) -> Verdict {
    let mut v = Verdict::default();
    let echo = common::read_all(bootstrap, &t.echo);
    v.output = echo.len();
    let ids: std::collections::HashSet<Vec<u8>> =
        echo.iter().filter_map(|r| r.key.clone()).collect();
    v.distinct = ids.len();
    v.lost = (0..RECORDS)
        .filter(|i| !ids.contains(format!("id-{i}").as_bytes()))
        .count();
    v.duplicates = v.output - v.distinct;

    let mut latest: HashMap<Vec<u8>, Option<Value>> = HashMap::new();
    for r in common::read_all(bootstrap, &t.totals) {
        let value = r
            .value
            .as_ref()
            .and_then(|b| serde_json::from_slice(b).ok());
        latest.insert(r.key.clone().unwrap_or_default(), value);
    }
    for (g, (n, s)) in expected_totals() {
        let got = latest.get(g.as_bytes()).cloned().flatten();
        let ok = got
            .as_ref()
            .is_some_and(|v| number(v, "N") == Some(n) && number(v, "S") == Some(s));
        if !ok {
            v.wrong_groups += 1;
        }
    }
    let mut windows: HashMap<(String, i64), Option<Value>> = HashMap::new();
    for r in common::read_all(bootstrap, &t.windows) {
        let key = r.key.clone().unwrap_or_default();
        if key.len() < 8 {
            continue;
        }
        let (g, start) = key.split_at(key.len() - 8);
        let start = i64::from_be_bytes(start.try_into().unwrap_or_default());
        let value = r
            .value
            .as_ref()
            .and_then(|b| serde_json::from_slice(b).ok());
        windows.insert((String::from_utf8_lossy(g).into_owned(), start), value);
    }
    for (key, n) in expected_windows() {
        let got = windows.get(&key).cloned().flatten();
        if got.as_ref().is_none_or(|v| number(v, "N") != Some(n)) {
            v.wrong_windows += 1;
        }
    }
    v
}

/// Pull queries over the aggregated table, compared with the
/// recomputation: the number of groups that differ (or are missing).
async fn check_pulled(server: &Server, t: &Topics) -> Result<usize, String> {
    let answer = server.pull(&format!("SELECT * FROM {};", t.totals)).await?;
    let mut got: HashMap<String, (i64, i64)> = HashMap::new();
    for row in answer.as_array().into_iter().flatten() {
        if let Some(cols) = row.pointer("/row/columns").and_then(Value::as_array) {
            if let (Some(g), Some(n), Some(s)) = (
                cols.first().and_then(Value::as_str),
                cols.get(1).and_then(Value::as_i64),
                cols.get(2).and_then(Value::as_i64),
            ) {
                got.insert(g.to_string(), (n, s));
            }
        }
    }
    Ok(expected_totals()
        .into_iter()
        .filter(|(g, e)| got.get(g) != Some(e))
        .count())
}

struct Topics {
    input: String,
    echo: String,
    totals: String,
    windows: String,
}

impl Topics {
    fn new(name: &str) -> Topics {
        Topics {
            input: format!("{name}_input"),
            echo: format!("{name}_echo").to_uppercase(),
            totals: format!("{name}_totals").to_uppercase(),
            windows: format!("{name}_windows").to_uppercase(),
        }
    }
}

async fn create_pipeline(server: &Server, t: &Topics) -> Vec<String> {
    server
        .ksql(&format!(
            "CREATE STREAM {input} (ID STRING KEY, G STRING, V BIGINT) \
             WITH (kafka_topic='{input}', value_format='json');",
            input = t.input
        ))
        .await;
    let mut ids = Vec::new();
    for sql in [
        format!("CREATE STREAM {} AS SELECT * FROM {};", t.echo, t.input),
        // Re-keyed: G is not the input's key.
        format!(
            "CREATE TABLE {} AS SELECT G, COUNT(*) AS N, SUM(V) AS S FROM {} GROUP BY G;",
            t.totals, t.input
        ),
        format!(
            "CREATE TABLE {} AS SELECT G, COUNT(*) AS N FROM {} \
             WINDOW TUMBLING (SIZE 60 SECONDS) GROUP BY G;",
            t.windows, t.input
        ),
    ] {
        let answer = server.ksql(&sql).await;
        let id = answer
            .pointer("/0/commandStatus/queryId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        assert!(!id.is_empty(), "{sql} started no query: {answer}");
        ids.push(id);
    }
    ids
}

/// The ids and states SHOW QUERIES lists.
async fn queries(server: &Server) -> Vec<(String, String)> {
    let answer = server.ksql("SHOW QUERIES;").await;
    let mut out: Vec<(String, String)> = answer
        .pointer("/0/queries")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|q| {
            (
                q["id"].as_str().unwrap_or_default().to_string(),
                q["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Waits until the outputs converge on the recomputation (or the deadline
/// passes), then checks the pull queries too.
async fn converge(bootstrap: &str, server: &Server, t: &Topics) -> Verdict {
    let start = Instant::now();
    loop {
        let b = bootstrap.to_string();
        let topics = Topics {
            input: t.input.clone(),
            echo: t.echo.clone(),
            totals: t.totals.clone(),
            windows: t.windows.clone(),
        };
        let mut verdict = tokio::task::spawn_blocking(move || check_topics(&b, &topics))
            .await
            .expect("check");
        if verdict.holds() || start.elapsed() > Duration::from_secs(240) {
            verdict.wrong_pulled = match check_pulled(server, t).await {
                Ok(n) => n,
                // Right after a restart the table's state is being restored.
                Err(e) if e.contains("not ready") => GROUPS,
                Err(e) => panic!("pull query failed: {e}"),
            };
            if verdict.wrong_pulled == 0 || start.elapsed() > Duration::from_secs(240) {
                return verdict;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn report(name: &str, v: &Verdict, faults: &str) {
    common::report_line(&format!(
        "{name}: input {RECORDS}, output {}, distinct {}, lost {}, duplicates {}, wrong groups \
         {} (topic) {} (pull), wrong windows {}, {faults}",
        v.output, v.distinct, v.lost, v.duplicates, v.wrong_groups, v.wrong_pulled, v.wrong_windows
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_and_state_survive_kill_9() {
    let Some(tansu) = Tansu::start_or_skip("queries_and_state_survive_kill_9") else {
        return;
    };
    let bootstrap = tansu.bootstrap();
    let t = Topics::new("kill");
    create_topic(&bootstrap, &t.input, 3).await;
    let mut server = Server::start(&bootstrap, "kill_test", tansu.dir.path());
    let ids = create_pipeline(&server, &t).await;
    let before = queries(&server).await;

    let sent = Arc::new(AtomicUsize::new(0));
    let producer = load(&bootstrap, &t.input, &sent);
    let mut kills = 0;
    // Killed while it is writing: each time its pass-through output has
    // grown past a mark, in the middle of the load.
    for mark in [RECORDS / 4, RECORDS / 2, 3 * RECORDS / 4] {
        let (b, topic) = (bootstrap.clone(), t.echo.clone());
        tokio::task::spawn_blocking(move || {
            let sizes = common::TopicSizes::new(&b);
            wait_until("the pass-through output", Duration::from_secs(120), || {
                sizes.records(&topic) >= mark as i64
            })
        })
        .await
        .expect("wait");
        server.kill_and_restart();
        kills += 1;
    }
    tokio::task::spawn_blocking(move || producer.join().expect("producer"))
        .await
        .expect("join");
    // Once more while catching up: a restart in the middle of a restore.
    server.kill_and_restart();
    kills += 1;

    let after = queries(&server).await;
    assert_eq!(
        after.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        before.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        "the same queries came back"
    );
    for id in &ids {
        assert!(
            after.iter().any(|(q, _)| q == id),
            "{id} came back: {after:?}"
        );
    }
    let streams = server.ksql("SHOW STREAMS;").await.to_string();
    let tables = server.ksql("SHOW TABLES;").await.to_string();
    for name in [&t.input.to_uppercase(), &t.echo] {
        assert!(streams.contains(name.as_str()), "{name} is back: {streams}");
    }
    for name in [&t.totals, &t.windows] {
        assert!(tables.contains(name.as_str()), "{name} is back: {tables}");
    }
    let verdict = converge(&bootstrap, &server, &t).await;
    report("kill -9", &verdict, &format!("kills {kills}"));
    if std::env::var("DURABILITY_DEBUG").is_ok() {
        for line in server
            .log_text()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        {
            eprintln!("{line}");
        }
    }
    assert!(server.alive(), "the server is up");
    let states = queries(&server).await;
    assert!(
        states.iter().all(|(_, s)| s == "RUNNING"),
        "queries run: {states:?}\n{}",
        server.log_text()
    );
    assert!(
        verdict.holds() && verdict.wrong_pulled == 0,
        "{verdict:?}\nserver log:\n{}",
        server.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_ride_out_a_broker_outage() {
    let Some(mut tansu) = Tansu::start() else {
        common::skipped(
            "queries_ride_out_a_broker_outage",
            "the tansu broker is not installed (scripts/test.sh installs it)",
        );
        return;
    };
    let bootstrap = tansu.bootstrap();
    let t = Topics::new("outage");
    create_topic(&bootstrap, &t.input, 3).await;
    let mut server = Server::start(&bootstrap, "outage_test", tansu.dir.path());
    create_pipeline(&server, &t).await;

    let sent = Arc::new(AtomicUsize::new(0));
    let producer = load(&bootstrap, &t.input, &sent);
    let s = Arc::clone(&sent);
    tokio::task::spawn_blocking(move || {
        wait_until("the producer", Duration::from_secs(120), || {
            s.load(Ordering::SeqCst) >= RECORDS / 3
        })
    })
    .await
    .expect("wait");
    tansu.stop();
    let down = Instant::now();
    // The broker stays away for ten seconds: the server must not give up.
    while down.elapsed() < Duration::from_secs(10) {
        assert!(server.alive(), "the server died while the broker was away");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tansu.resume();
    tokio::task::spawn_blocking(move || producer.join().expect("producer"))
        .await
        .expect("join");
    let verdict = converge(&bootstrap, &server, &t).await;
    report("broker outage", &verdict, "outage 10 s");
    assert!(server.alive(), "the server is up");
    assert_eq!(server.starts, 1, "the server was never restarted");
    assert!(
        verdict.holds() && verdict.wrong_pulled == 0,
        "{verdict:?}\nserver log:\n{}",
        server.log_text()
    );
}

/// Orders for the join test: order `i` of customer `c<i % JOIN_CUSTOMERS>`.
const JOIN_ORDERS: usize = 3000;
const JOIN_CUSTOMERS: usize = 50;

/// Produces with murmur2 partitioning (Java clients' default, which
/// co-partitioned joins assume), waiting out a full queue.
fn send_murmur2(bootstrap: &str, topic: &str, records: &[(String, String, i64)]) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("partitioner", "murmur2_random")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    for (key, value, ts) in records {
        common::cluster::send(
            &producer,
            BaseRecord::to(topic)
                .key(key.as_str())
                .payload(value.as_str())
                .timestamp(*ts),
        );
    }
    producer
        .flush(Duration::from_secs(120))
        .expect("every record acknowledged");
}

fn join_order(i: usize) -> (String, String, i64) {
    (
        format!("o{i}"),
        format!(r#"{{"CUSTOMER":"c{}","AMOUNT":{i}}}"#, i % JOIN_CUSTOMERS),
        BASE_MS + i as i64 * STEP_MS,
    )
}

/// The enriched orders: per order, how often it was written and whether
/// every copy carried its customer's name.
fn check_enriched(bootstrap: &str, topic: &str) -> (usize, usize, usize, usize) {
    let out = common::read_all(bootstrap, topic);
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut wrong = 0;
    for r in &out {
        let Some(v) = r
            .value
            .as_deref()
            .and_then(|v| serde_json::from_slice::<Value>(v).ok())
        else {
            wrong += 1;
            continue;
        };
        let order = v["ORDER_ID"].as_str().unwrap_or_default().to_string();
        let i: usize = order.trim_start_matches('o').parse().unwrap_or(usize::MAX);
        if v["NAME"] != format!("name-{}", i % JOIN_CUSTOMERS) {
            wrong += 1;
        }
        *seen.entry(order).or_default() += 1;
    }
    let lost = (0..JOIN_ORDERS)
        .filter(|i| !seen.contains_key(&format!("o{i}")))
        .count();
    let duplicates = seen.values().map(|c| c - 1).sum();
    (out.len(), lost, duplicates, wrong)
}

/// A stream-table join (the stream re-keyed through an internal topic) is
/// killed with SIGKILL three times while orders flow: afterwards every
/// order is enriched with its customer (the table side comes back from the
/// changelog, it is not re-read) and none is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_state_survives_kill_9() {
    let Some(tansu) = Tansu::start_or_skip("join_state_survives_kill_9") else {
        return;
    };
    let bootstrap = tansu.bootstrap();
    create_topic(&bootstrap, "jk_customers", 3).await;
    create_topic(&bootstrap, "jk_orders", 3).await;
    let mut server = Server::start(&bootstrap, "join_kill_test", tansu.dir.path());
    for sql in [
        "CREATE TABLE customers (id STRING PRIMARY KEY, name STRING) \
         WITH (kafka_topic='jk_customers', value_format='json');",
        "CREATE STREAM orders (order_id STRING KEY, customer STRING, amount BIGINT) \
         WITH (kafka_topic='jk_orders', value_format='json');",
        "CREATE STREAM enriched WITH (kafka_topic='JK_ENRICHED') AS \
         SELECT o.customer AS customer, o.order_id, o.amount, c.name \
         FROM orders o JOIN customers c ON o.customer = c.id;",
    ] {
        server.ksql(sql).await;
    }
    let customers: Vec<(String, String, i64)> = (0..JOIN_CUSTOMERS)
        .map(|i| {
            (
                format!("c{i}"),
                format!(r#"{{"NAME":"name-{i}"}}"#),
                BASE_MS - 1000,
            )
        })
        .collect();
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || send_murmur2(&b, "jk_customers", &customers))
        .await
        .expect("customers");
    // The first order only once the join has read the whole table: an
    // inner join drops what it cannot enrich.
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let sizes = common::TopicSizes::new(&b);
        wait_until("the join's changelog", Duration::from_secs(120), || {
            sizes.records("_confluent-ksql-join_kill_testquery_CSAS_ENRICHED_0-Join-changelog")
                >= JOIN_CUSTOMERS as i64
        })
    })
    .await
    .expect("wait");
    let b = bootstrap.clone();
    let producer = std::thread::spawn(move || {
        for burst in (0..JOIN_ORDERS).step_by(BURST) {
            let records: Vec<_> = (burst..(burst + BURST).min(JOIN_ORDERS))
                .map(join_order)
                .collect();
            send_murmur2(&b, "jk_orders", &records);
            std::thread::sleep(Duration::from_millis(250));
        }
    });
    let mut kills = 0;
    for mark in [JOIN_ORDERS / 4, JOIN_ORDERS / 2, 3 * JOIN_ORDERS / 4] {
        let b = bootstrap.clone();
        tokio::task::spawn_blocking(move || {
            let sizes = common::TopicSizes::new(&b);
            wait_until("the enriched output", Duration::from_secs(120), || {
                sizes.records("JK_ENRICHED") >= mark as i64
            })
        })
        .await
        .expect("wait");
        server.kill_and_restart();
        kills += 1;
    }
    tokio::task::spawn_blocking(move || producer.join().expect("producer"))
        .await
        .expect("join");
    let start = Instant::now();
    let (written, lost, duplicates, wrong) = loop {
        let b = bootstrap.clone();
        let verdict = tokio::task::spawn_blocking(move || check_enriched(&b, "JK_ENRICHED"))
            .await
            .expect("check");
        if (verdict.1 == 0 && verdict.3 == 0) || start.elapsed() > Duration::from_secs(240) {
            break verdict;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    common::report_line(&format!(
        "kill -9 of a join: orders {JOIN_ORDERS}, enriched {written}, lost {lost}, written twice \
         {duplicates} (at-least-once replays), without their customer {wrong}, kills {kills}"
    ));
    assert!(server.alive(), "the server is up");
    assert!(
        lost == 0 && wrong == 0,
        "lost {lost}, wrong {wrong}\nserver log:\n{}",
        server.log_text()
    );
}
