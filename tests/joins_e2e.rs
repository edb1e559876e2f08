//! Joins end to end through the real Kafka protocol, against the embedded
//! broker and against a Tansu broker process (`SLUICE_TANSU_BOOTSTRAP`, set
//! by scripts/test.sh): input written by an independent producer, output
//! read back by an independent consumer, topics of three partitions.
//!
//! - A stream enriched by a table on a column that is not the stream's key
//!   (the stream is re-keyed through the internal `Join-repartition`
//!   topic), LEFT: an order of an unknown customer keeps null columns.
//! - Two streams matched within a window, INNER.
//! - The same queries restarted: the table side and the window buffers
//!   come back from the changelog, so orders and fills that arrive after
//!   the restart still find what arrived before it, and nothing is emitted
//!   twice.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{read_topic, OwnedInput};
use serde_json::Value;
use sluice::config::{Config, Session};
use sluice::engine::{Engine, Outcome};
use sluice::kafka::KafkaBroker;
use sluice::runtime::io::{Broker, StartFrom};

/// An engine whose internal topics (named after the service id) are this
/// test run's own, also on a broker that outlives the run.
async fn engine(broker: Arc<dyn Broker>) -> Arc<Engine> {
    let config = Config {
        default_start: StartFrom::Earliest,
        service_id: format!("joins_test_{}", std::process::id()),
        ..Config::default()
    };
    Engine::new(broker, config).await.expect("engine")
}

async fn exec(engine: &Engine, sql: &str) -> Vec<Outcome> {
    let mut session = Session::default();
    match engine.execute(&mut session, sql).await {
        Ok(o) => o,
        Err(e) => panic!("{sql}\nfailed: {e}"),
    }
}

/// Produces with an independent producer partitioning as Java clients do
/// (murmur2 of the key), which co-partitioning assumes, as in ksqlDB.
fn send(bootstrap: &str, topic: &str, records: &[OwnedInput]) {
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("partitioner", "murmur2_random")
        .create()
        .expect("producer");
    for (k, v, ts) in records {
        let mut r: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).timestamp(*ts);
        if let Some(k) = k {
            r = r.key(k.as_slice());
        }
        if let Some(v) = v {
            r = r.payload(v.as_slice());
        }
        producer.send(r).map_err(|(e, _)| e).expect("send");
    }
    producer.flush(Duration::from_secs(10)).expect("flush");
}

fn rec(key: &str, value: &str, ts: i64) -> OwnedInput {
    (
        Some(key.as_bytes().to_vec()),
        Some(value.as_bytes().to_vec()),
        ts,
    )
}

struct Names {
    regions: String,
    regional: String,
    customers: String,
    orders: String,
    enriched: String,
    payments: String,
    fills: String,
    matched: String,
}

impl Names {
    fn new(suffix: &str) -> Names {
        Names {
            regions: format!("regions{suffix}"),
            regional: format!("regional{suffix}"),
            customers: format!("customers{suffix}"),
            orders: format!("orders{suffix}"),
            enriched: format!("enriched{suffix}"),
            payments: format!("payments{suffix}"),
            fills: format!("fills{suffix}"),
            matched: format!("matched{suffix}"),
        }
    }

    fn statements(&self, create_topics: bool) -> Vec<String> {
        let parts = if create_topics { ", partitions=3" } else { "" };
        vec![
            format!(
                "CREATE TABLE customers (id STRING PRIMARY KEY, name STRING, city STRING) \
                 WITH (kafka_topic='{}', value_format='json'{parts});",
                self.customers
            ),
            format!(
                "CREATE STREAM orders (order_id STRING KEY, customer STRING, amount DOUBLE) \
                 WITH (kafka_topic='{}', value_format='json'{parts});",
                self.orders
            ),
            format!(
                "CREATE STREAM payments (card STRING KEY, amount DOUBLE) \
                 WITH (kafka_topic='{}', value_format='json'{parts});",
                self.payments
            ),
            format!(
                "CREATE STREAM fills (card STRING KEY, status STRING) \
                 WITH (kafka_topic='{}', value_format='json'{parts});",
                self.fills
            ),
            format!(
                "CREATE STREAM enriched WITH (kafka_topic='{}') AS \
                 SELECT o.customer AS customer, o.order_id, o.amount, c.name, c.city \
                 FROM orders o LEFT JOIN customers c ON o.customer = c.id;",
                self.enriched
            ),
            format!(
                "CREATE STREAM matched WITH (kafka_topic='{}') AS \
                 SELECT p.card AS card, p.amount, f.status \
                 FROM payments p JOIN fills f WITHIN 1 MINUTE ON p.card = f.card;",
                self.matched
            ),
            format!(
                "CREATE TABLE regions (city STRING PRIMARY KEY, region STRING) \
                 WITH (kafka_topic='{}', value_format='json'{parts});",
                self.regions
            ),
            // Three-way: the second join's ON uses the customer's city, so
            // the first join's result is re-keyed through an internal topic.
            format!(
                "CREATE STREAM regional WITH (kafka_topic='{}') AS \
                 SELECT r.city AS city, o.order_id, c.name, r.region \
                 FROM orders o JOIN customers c ON o.customer = c.id \
                 JOIN regions r ON c.city = r.city;",
                self.regional
            ),
        ]
    }
}

fn customers(n: usize) -> Vec<OwnedInput> {
    (0..n)
        .map(|i| {
            rec(
                &format!("c{i}"),
                &format!(r#"{{"NAME":"name-{i}","CITY":"city-{}"}}"#, i % 5),
                1_000,
            )
        })
        .collect()
}

/// Order `i` is for customer `c<i % 12>`; customers c10 and c11 do not
/// exist.
fn orders(from: usize, to: usize) -> Vec<OwnedInput> {
    (from..to)
        .map(|i| {
            rec(
                &format!("o{i}"),
                &format!(r#"{{"CUSTOMER":"c{}","AMOUNT":{i}.5}}"#, i % 12),
                10_000 + i as i64,
            )
        })
        .collect()
}

/// Payment `i` on card `k<i>` at `100_000 + i * 1000`.
fn payments(from: usize, to: usize) -> Vec<OwnedInput> {
    (from..to)
        .map(|i| {
            rec(
                &format!("k{i}"),
                &format!(r#"{{"AMOUNT":{i}.0}}"#),
                100_000 + i as i64 * 1_000,
            )
        })
        .collect()
}

/// Fill of card `k<i>`: 30 s after its payment when `i` is even (a match),
/// 90 s after it when odd (outside the one-minute window).
fn fills(from: usize, to: usize) -> Vec<OwnedInput> {
    (from..to)
        .map(|i| {
            let delay = if i % 2 == 0 { 30_000 } else { 90_000 };
            rec(
                &format!("k{i}"),
                r#"{"STATUS":"filled"}"#,
                100_000 + i as i64 * 1_000 + delay,
            )
        })
        .collect()
}

/// Cities `city-0` … `city-4` in regions `north` and `south`.
fn regions() -> Vec<OwnedInput> {
    (0..5)
        .map(|k| {
            let region = if k % 2 == 0 { "north" } else { "south" };
            rec(
                &format!("city-{k}"),
                &format!(r#"{{"REGION":"{region}"}}"#),
                500,
            )
        })
        .collect()
}

/// The orders of known customers among `0..n`, plus the probes.
fn regional_expected(n: usize) -> usize {
    (0..n).filter(|i| i % 12 < 10).count()
}

/// Reads the three-way join's output until it holds every expected order
/// (probes aside), or a deadline.
fn wait_for_regional(bootstrap: &str, topic: &str, n: usize) -> Vec<common::Record> {
    let want = regional_expected(n);
    let start = Instant::now();
    loop {
        let out = without_probe(read_topic(bootstrap, topic, want, Duration::from_secs(10)));
        if out.len() >= want || start.elapsed() > Duration::from_secs(90) {
            return out;
        }
    }
}

/// Checks the three-way join: each order of a known customer once, keyed
/// by the customer's city, with the city's region.
fn check_regional(out: &[common::Record], n: usize) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for r in out {
        let v = json(r);
        let order = v["ORDER_ID"].as_str().unwrap_or_default().to_string();
        let i: usize = order.trim_start_matches('o').parse().expect("order id");
        let city = (i % 12) % 5;
        assert_eq!(
            r.key.as_deref(),
            Some(format!("city-{city}").as_bytes()),
            "key of {v}"
        );
        let region = if city.is_multiple_of(2) {
            "north"
        } else {
            "south"
        };
        assert_eq!(v["REGION"], region, "{v}");
        assert_eq!(v["NAME"], Value::from(format!("name-{}", i % 12)), "{v}");
        *seen.entry(order).or_default() += 1;
    }
    let missing: Vec<usize> = (0..n)
        .filter(|i| i % 12 < 10 && !seen.contains_key(&format!("o{i}")))
        .collect();
    let twice: Vec<&String> = seen
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(k, _)| k)
        .collect();
    assert!(
        missing.is_empty() && twice.is_empty(),
        "three-way join: orders missing {missing:?}, emitted twice {twice:?}"
    );
}

fn json(r: &common::Record) -> Value {
    r.value
        .as_deref()
        .and_then(|v| serde_json::from_slice(v).ok())
        .unwrap_or(Value::Null)
}

/// Checks the enriched orders `0..n`: one each, keyed by the customer,
/// with the customer's name and city, or nulls for an unknown customer.
fn check_enriched(out: &[common::Record], n: usize) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for r in out {
        let v = json(r);
        let order = v["ORDER_ID"].as_str().unwrap_or_default().to_string();
        *seen.entry(order.clone()).or_default() += 1;
        let i: usize = order.trim_start_matches('o').parse().expect("order id");
        let customer = i % 12;
        assert_eq!(
            r.key.as_deref(),
            Some(format!("c{customer}").as_bytes()),
            "key of {v}"
        );
        assert_eq!(r.timestamp, 10_000 + i as i64, "timestamp of {v}");
        if customer < 10 {
            assert_eq!(v["NAME"], Value::from(format!("name-{customer}")), "{v}");
            assert_eq!(
                v["CITY"],
                Value::from(format!("city-{}", customer % 5)),
                "{v}"
            );
        } else {
            assert!(v["NAME"].is_null() && v["CITY"].is_null(), "{v}");
        }
    }
    let missing: Vec<usize> = (0..n)
        .filter(|i| !seen.contains_key(&format!("o{i}")))
        .collect();
    let twice: Vec<&String> = seen
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(k, _)| k)
        .collect();
    assert!(
        missing.is_empty() && twice.is_empty(),
        "orders missing {missing:?}, emitted twice {twice:?}"
    );
    assert_eq!(out.len(), n);
}

/// Checks the matched payments `0..n`: exactly the even cards, once each,
/// at the fill's timestamp (the later of the two).
fn check_matched(out: &[common::Record], n: usize) {
    let mut cards: Vec<usize> = Vec::new();
    for r in out {
        let v = json(r);
        let card = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).to_string();
        let i: usize = card.trim_start_matches('k').parse().expect("card");
        assert_eq!(v["STATUS"], Value::from("filled"), "{v}");
        assert_eq!(v["AMOUNT"].as_f64(), Some(i as f64), "{v}");
        assert_eq!(r.timestamp, 100_000 + i as i64 * 1_000 + 30_000, "{v}");
        cards.push(i);
    }
    cards.sort_unstable();
    let want: Vec<usize> = (0..n).filter(|i| i % 2 == 0).collect();
    assert_eq!(cards, want, "matched cards");
}

/// Waits until the join has read the table side: probe orders (one per
/// try, each emitted once) until one comes out enriched.
fn wait_for_table(bootstrap: &str, names: &Names) -> usize {
    let start = Instant::now();
    let mut attempt = 0;
    loop {
        send(
            bootstrap,
            &names.orders,
            &[rec(
                &format!("probe-{attempt}"),
                r#"{"CUSTOMER":"c0","AMOUNT":0.0}"#,
                5_000,
            )],
        );
        let out = read_topic(
            bootstrap,
            &names.enriched,
            attempt + 1,
            Duration::from_secs(5),
        );
        if out.iter().any(|r| json(r)["NAME"] == "name-0") {
            return attempt + 1;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the join never saw the customers table: {:?}",
            out.iter().map(json).collect::<Vec<_>>()
        );
        attempt += 1;
    }
}

fn without_probe(out: Vec<common::Record>) -> Vec<common::Record> {
    out.into_iter()
        .filter(|r| {
            !json(r)["ORDER_ID"]
                .as_str()
                .unwrap_or_default()
                .starts_with("probe")
        })
        .collect()
}

async fn joins_end_to_end(broker: Arc<dyn Broker>, suffix: &str) {
    let bootstrap = broker.address();
    let names = Names::new(suffix);
    let first = engine(Arc::clone(&broker)).await;
    for sql in names.statements(true) {
        exec(&first, &sql).await;
    }
    send(&bootstrap, &names.customers, &customers(10));
    send(&bootstrap, &names.regions, &regions());
    let probes = wait_for_table(&bootstrap, &names);
    send(&bootstrap, &names.orders, &orders(0, 60));
    send(&bootstrap, &names.payments, &payments(0, 20));
    send(&bootstrap, &names.fills, &fills(0, 20));
    let enriched = without_probe(read_topic(
        &bootstrap,
        &names.enriched,
        60 + probes,
        Duration::from_secs(60),
    ));
    check_enriched(&enriched, 60);
    let matched = read_topic(&bootstrap, &names.matched, 10, Duration::from_secs(60));
    check_matched(&matched, 20);
    let regional = wait_for_regional(&bootstrap, &names.regional, 60);
    check_regional(&regional, 60);
    assert!(
        first.wait_idle(Duration::from_secs(60)).await,
        "the queries did not finish"
    );
    first.shutdown().await;
    drop(first);

    // While sluice is down: more orders (no new customer) and payments
    // whose fills come only after the restart.
    send(&bootstrap, &names.orders, &orders(60, 120));
    send(&bootstrap, &names.payments, &payments(20, 40));
    let second = engine(Arc::clone(&broker)).await;
    for sql in names.statements(false) {
        exec(&second, &sql).await;
    }
    send(&bootstrap, &names.fills, &fills(20, 40));
    let enriched = without_probe(read_topic(
        &bootstrap,
        &names.enriched,
        120 + probes,
        Duration::from_secs(90),
    ));
    check_enriched(&enriched, 120);
    let matched = read_topic(&bootstrap, &names.matched, 20, Duration::from_secs(90));
    check_matched(&matched, 40);
    let regional = wait_for_regional(&bootstrap, &names.regional, 120);
    check_regional(&regional, 120);
    second.shutdown().await;
    common::report_line(&format!(
        "joins end to end ({}): 120 orders enriched across a restart, 20 of 40 payments \
         matched, none lost or repeated",
        if suffix.is_empty() {
            "embedded broker"
        } else {
            "Tansu"
        }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_through_embedded_broker() {
    let broker: Arc<dyn Broker> = Arc::new(KafkaBroker::embedded().expect("broker"));
    joins_end_to_end(broker, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_through_tansu() {
    let Some(broker) = common::tansu_broker("joins_through_tansu") else {
        return;
    };
    joins_end_to_end(broker, &format!("_{}", std::process::id())).await;
}

/// Inputs written by a producer that does not partition by murmur2 of the
/// key (librdkafka's default, CRC32) are not co-partitioned: the join says
/// so in the processing log instead of silently missing matches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_not_partitioned_by_key_are_reported() {
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let broker: Arc<dyn Broker> = Arc::new(KafkaBroker::embedded().expect("broker"));
    let bootstrap = broker.address();
    let engine = engine(Arc::clone(&broker)).await;
    exec(
        &engine,
        "CREATE STREAM clicks (user_id STRING KEY, page STRING) \
           WITH (kafka_topic='clicks', value_format='json', partitions=3);
         CREATE TABLE users (id STRING PRIMARY KEY, name STRING) \
           WITH (kafka_topic='users', value_format='json', partitions=3);
         CREATE STREAM named AS SELECT c.user_id AS user_id, c.page, u.name \
           FROM clicks c JOIN users u ON c.user_id = u.id;",
    )
    .await;
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("partitioner", "consistent")
        .create()
        .expect("producer");
    for i in 0..30 {
        let key = format!("user-{i}");
        let value = format!(r#"{{"PAGE":"/p{i}"}}"#);
        producer
            .send(BaseRecord::to("clicks").key(&key).payload(&value))
            .map_err(|(e, _)| e)
            .expect("send");
    }
    producer.flush(Duration::from_secs(10)).expect("flush");
    let log = read_topic(
        &bootstrap,
        &format!("joins_test_{}ksql_processing_log", std::process::id()),
        1,
        Duration::from_secs(30),
    );
    let entries: Vec<String> = log.iter().filter_map(|r| r.value_str()).collect();
    assert!(
        entries
            .iter()
            .any(|e| e.contains("partitioning") && e.contains("murmur2") && e.contains("clicks")),
        "{entries:?}"
    );
    engine.shutdown().await;
}
