//! End to end through the real Kafka protocol: statements in, records read
//! back by an independent consumer. Runs against the embedded broker, and
//! against a Tansu broker process when `SLUICE_TANSU_BOOTSTRAP` is set
//! (scripts/test.sh starts one).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{produce, read_topic, Input, OwnedInput};
use sluice::config::{Config, Session};
use sluice::engine::{Engine, Outcome};
use sluice::kafka::KafkaBroker;
use sluice::runtime::io::{Broker, StartFrom};

async fn engine(broker: Arc<dyn Broker>) -> Arc<Engine> {
    let config = Config {
        default_start: StartFrom::Earliest,
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

const SCHEMA: &str = "
    CREATE STREAM payments (id BIGINT KEY, customer STRING, amount DOUBLE, ts BIGINT)
      WITH (kafka_topic='payments', value_format='json', partitions=1);";

const CSAS: &str = "
    CREATE STREAM big_payments AS
      SELECT id, UCASE(customer) AS who, amount * 2 AS doubled
      FROM payments
      WHERE amount > 10;";

/// CREATE STREAM, INSERT VALUES, a CSAS with a filter and functions; the
/// output topic holds exactly the expected keys, values and timestamps.
async fn csas_end_to_end(broker: Arc<dyn Broker>, topic_suffix: &str) {
    let bootstrap = broker.address();
    let engine = engine(broker).await;
    let schema = SCHEMA.replace("'payments'", &format!("'payments{topic_suffix}'"));
    exec(&engine, &schema).await;
    exec(
        &engine,
        "INSERT INTO payments (id, customer, amount, ROWTIME) VALUES (1, 'ann', 5.0, 1000);
         INSERT INTO payments (id, customer, amount, ROWTIME) VALUES (2, 'bob', 20.5, 2000);
         INSERT INTO payments (id, customer, amount, ROWTIME) VALUES (3, 'cy', 11.0, 3000);",
    )
    .await;
    let csas = CSAS.replace(
        "AS\n",
        &format!("WITH (kafka_topic='big{topic_suffix}') AS\n"),
    );
    exec(&engine, &csas).await;
    let out = read_topic(
        &bootstrap,
        &format!("big{topic_suffix}"),
        2,
        Duration::from_secs(30),
    );
    let seen: Vec<(Option<Vec<u8>>, Option<String>, i64)> = out
        .iter()
        .map(|r| (r.key.clone(), r.value_str(), r.timestamp))
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                Some(2i64.to_be_bytes().to_vec()),
                Some(r#"{"WHO":"BOB","DOUBLED":41.0}"#.to_string()),
                2000
            ),
            (
                Some(3i64.to_be_bytes().to_vec()),
                Some(r#"{"WHO":"CY","DOUBLED":22.0}"#.to_string()),
                3000
            ),
        ]
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csas_through_embedded_broker() {
    let broker: Arc<dyn Broker> = Arc::new(KafkaBroker::embedded().expect("broker"));
    csas_end_to_end(broker, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csas_through_tansu() {
    let Some(broker) = common::tansu_broker("csas_through_tansu") else {
        return;
    };
    csas_end_to_end(broker, &format!("_{}", std::process::id())).await;
}

/// A malformed record is reported (processing log with topic, partition,
/// offset) and the next record is still processed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_record_is_logged_and_skipped() {
    let broker: Arc<dyn Broker> = Arc::new(KafkaBroker::embedded().expect("broker"));
    let bootstrap = broker.address();
    let engine = engine(Arc::clone(&broker)).await;
    exec(
        &engine,
        "CREATE STREAM raw (v INT) WITH (kafka_topic='raw', value_format='json', partitions=1);
         CREATE STREAM cooked AS SELECT v + 1 AS w FROM raw;",
    )
    .await;
    produce(
        &bootstrap,
        "raw",
        &[
            (None, Some(br#"{"v": 1}"#), 10),
            (None, Some(b"{not json"), 11),
            (None, Some(br#"{"v": 3}"#), 12),
        ],
    );
    let out = read_topic(&bootstrap, "COOKED", 2, Duration::from_secs(30));
    let values: Vec<String> = out.iter().filter_map(|r| r.value_str()).collect();
    assert_eq!(values, vec![r#"{"W":2}"#, r#"{"W":4}"#]);
    assert_eq!(engine.processing_errors(), 1);
    let log = read_topic(
        &bootstrap,
        "default_ksql_processing_log",
        1,
        Duration::from_secs(30),
    );
    assert_eq!(log.len(), 1);
    let entry = log[0].value_str().unwrap_or_default();
    assert!(entry.contains(r#""topic":"raw""#), "{entry}");
    assert!(entry.contains(r#""partition":0"#), "{entry}");
    assert!(entry.contains(r#""offset":1"#), "{entry}");
    engine.shutdown().await;
}

/// A push query prints rows as they arrive and stops at LIMIT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_query_stops_at_limit() {
    let broker: Arc<dyn Broker> = Arc::new(KafkaBroker::embedded().expect("broker"));
    let engine = engine(broker).await;
    exec(
        &engine,
        "CREATE STREAM clicks (page STRING, n INT) WITH (kafka_topic='clicks', value_format='json', partitions=2);",
    )
    .await;
    let mut outcomes = exec(
        &engine,
        "SELECT page, n * 10 AS tens FROM clicks WHERE n > 0 EMIT CHANGES LIMIT 2;",
    )
    .await;
    let Some(Outcome::Push(mut push)) = outcomes.pop() else {
        panic!("expected a push query");
    };
    exec(
        &engine,
        "INSERT INTO clicks (page, n) VALUES ('a', 0);
         INSERT INTO clicks (page, n) VALUES ('b', 1);
         INSERT INTO clicks (page, n) VALUES ('c', 2);
         INSERT INTO clicks (page, n) VALUES ('d', 3);",
    )
    .await;
    let mut rows = Vec::new();
    let collect = async {
        while let Some(batch) = push.rows.recv().await {
            rows.extend(sluice::shell::render::rows(&batch));
        }
    };
    tokio::time::timeout(Duration::from_secs(30), collect)
        .await
        .expect("push query ended within the deadline");
    assert_eq!(rows.len(), 2, "{rows:?}");
    for r in &rows {
        assert!(["b", "c", "d"].contains(&r[0].as_str()), "{rows:?}");
    }
    engine.shutdown().await;
}

/// Stopping sluice in the middle of the input and starting it again loses
/// no record: offsets are committed only after the output is acknowledged,
/// and the restarted query (same id, same consumer group) resumes there.
async fn restart_loses_nothing(broker: Arc<dyn Broker>, suffix: &str) {
    let bootstrap = broker.address();
    let input = format!("events{suffix}");
    let output = format!("copied{suffix}");
    let ddl = format!(
        "CREATE STREAM events (n INT) WITH (kafka_topic='{input}', value_format='json', partitions=1);"
    );
    let csas = format!(
        "CREATE STREAM copied WITH (kafka_topic='{output}') AS SELECT n, n * n AS sq FROM events;"
    );
    let batch = |from: i32, to: i32| -> Vec<OwnedInput> {
        (from..to)
            .map(|n| {
                (
                    None,
                    Some(format!(r#"{{"n":{n}}}"#).into_bytes()),
                    1_000 + i64::from(n),
                )
            })
            .collect()
    };
    let send = |records: Vec<OwnedInput>| {
        let refs: Vec<Input<'_>> = records
            .iter()
            .map(|(k, v, t)| (k.as_deref(), v.as_deref(), *t))
            .collect();
        produce(&bootstrap, &input, &refs);
    };

    let first = engine(Arc::clone(&broker)).await;
    exec(&first, &ddl).await;
    exec(&first, &csas).await;
    send(batch(0, 50));
    assert!(
        first.wait_idle(Duration::from_secs(60)).await,
        "first run did not finish"
    );
    first.shutdown().await;
    drop(first);

    // More input arrives while sluice is down.
    send(batch(50, 100));

    let second = engine(Arc::clone(&broker)).await;
    exec(&second, &ddl.replace(", partitions=1", "")).await;
    exec(&second, &csas).await;
    let out = read_topic(&bootstrap, &output, 100, Duration::from_secs(60));
    second.shutdown().await;
    let mut ns: Vec<i64> = out
        .iter()
        .filter_map(|r| {
            let v: serde_json::Value = serde_json::from_slice(r.value.as_deref()?).ok()?;
            v.get("N")?.as_i64()
        })
        .collect();
    assert_eq!(
        ns.len(),
        100,
        "expected every record exactly once, got {ns:?}"
    );
    ns.sort_unstable();
    assert_eq!(ns, (0..100).collect::<Vec<i64>>());
    // Timestamps are carried through.
    assert!(out
        .iter()
        .all(|r| r.timestamp >= 1_000 && r.timestamp < 1_100));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_through_embedded_broker() {
    let broker: Arc<dyn Broker> = Arc::new(KafkaBroker::embedded().expect("broker"));
    restart_loses_nothing(broker, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_through_tansu() {
    let Some(broker) = common::tansu_broker("restart_through_tansu") else {
        return;
    };
    restart_loses_nothing(broker, &format!("_{}", std::process::id())).await;
}

/// The embedded broker keeps only the newest 5 MiB per partition. When a
/// query resumes below what is left, the skipped range is reported to the
/// processing log as data loss, never hidden.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_loss_is_reported() {
    let broker: Arc<dyn Broker> = Arc::new(KafkaBroker::embedded().expect("broker"));
    let bootstrap = broker.address();
    let ddl =
        "CREATE STREAM big (s STRING) WITH (kafka_topic='big', value_format='json', partitions=1);";
    let csas = "CREATE STREAM small AS SELECT LEN(s) AS n FROM big;";
    let first = engine(Arc::clone(&broker)).await;
    exec(&first, ddl).await;
    exec(&first, csas).await;
    produce(&bootstrap, "big", &[(None, Some(br#"{"s":"x"}"#), 1)]);
    assert!(first.wait_idle(Duration::from_secs(60)).await);
    first.shutdown().await;
    drop(first);

    // While sluice is down, 8 MiB arrive: the broker drops the oldest.
    let value = format!(r#"{{"s":"{}"}}"#, "y".repeat(16 * 1024));
    let records: Vec<Input<'_>> = (0..512)
        .map(|_| (None, Some(value.as_bytes()), 2))
        .collect();
    produce(&bootstrap, "big", &records);

    let second = engine(Arc::clone(&broker)).await;
    exec(&second, &ddl.replace(", partitions=1", "")).await;
    exec(&second, csas).await;
    assert!(second.wait_idle(Duration::from_secs(60)).await);
    let log = read_topic(
        &bootstrap,
        "default_ksql_processing_log",
        1,
        Duration::from_secs(30),
    );
    let entries: Vec<String> = log.iter().filter_map(|r| r.value_str()).collect();
    assert!(
        entries
            .iter()
            .any(|e| e.contains("data-loss") && e.contains("were deleted")),
        "{entries:?}"
    );
    second.shutdown().await;
}

/// A windowed GROUP BY on a value column: the rows are re-keyed through the
/// internal repartition topic, the state changes go to the changelog topic,
/// and each closed window (EMIT FINAL) is written once with a windowed key
/// as Kafka Streams writes it (key bytes, then the window start).
async fn windowed_aggregation_end_to_end(broker: Arc<dyn Broker>, suffix: &str) {
    let bootstrap = broker.address();
    let admin = broker.admin();
    // Internal topic names start with the service id: one per run, so that
    // a broker reused across runs holds no old internal records.
    let service_id = format!("e2e{suffix}_");
    let config = Config {
        default_start: StartFrom::Earliest,
        service_id: service_id.clone(),
        ..Config::default()
    };
    let engine = Engine::new(Arc::clone(&broker), config)
        .await
        .expect("engine");
    exec(
        &engine,
        &format!(
            "CREATE STREAM clicks (usr STRING KEY, page STRING)
               WITH (kafka_topic='clicks{suffix}', value_format='json', partitions=1);
             INSERT INTO clicks (usr, page, ROWTIME) VALUES ('u1', '/a', 1000);
             INSERT INTO clicks (usr, page, ROWTIME) VALUES ('u2', '/a', 2000);
             INSERT INTO clicks (usr, page, ROWTIME) VALUES ('u1', '/b', 3000);
             INSERT INTO clicks (usr, page, ROWTIME) VALUES ('u3', '/a', 12000);
             INSERT INTO clicks (usr, page, ROWTIME) VALUES ('u3', '/c', 25000);
             CREATE TABLE page_counts WITH (kafka_topic='page_counts{suffix}') AS
               SELECT page, COUNT(*) AS n FROM clicks
               WINDOW TUMBLING (SIZE 10 SECONDS, GRACE PERIOD 0 SECONDS)
               GROUP BY page EMIT FINAL;"
        ),
    )
    .await;
    let out = read_topic(
        &bootstrap,
        &format!("page_counts{suffix}"),
        3,
        Duration::from_secs(30),
    );
    let windowed = |page: &str, start: i64| {
        let mut key = page.as_bytes().to_vec();
        key.extend_from_slice(&start.to_be_bytes());
        Some(key)
    };
    let seen: Vec<(Option<Vec<u8>>, Option<String>)> =
        out.iter().map(|r| (r.key.clone(), r.value_str())).collect();
    assert_eq!(
        seen,
        vec![
            (windowed("/a", 0), Some(r#"{"N":2}"#.to_string())),
            (windowed("/b", 0), Some(r#"{"N":1}"#.to_string())),
            (windowed("/a", 10000), Some(r#"{"N":1}"#.to_string())),
        ]
    );
    let prefix = format!("_confluent-ksql-{service_id}query_CTAS_PAGE_COUNTS_0");
    for internal in [
        format!("{prefix}-Aggregate-GroupBy-repartition"),
        format!("{prefix}-Aggregate-Aggregate-Materialize-changelog"),
    ] {
        assert!(
            admin
                .describe_topic(&internal)
                .await
                .expect("describe")
                .is_some(),
            "{internal} was not created"
        );
    }
    // The changelog holds binary state records (version byte 1) and, at
    // each commit, a marker (key 0xFF) per partition it wrote.
    let changelog = read_topic(
        &bootstrap,
        &format!("{prefix}-Aggregate-Aggregate-Materialize-changelog"),
        2,
        Duration::from_secs(30),
    );
    assert!(
        changelog
            .iter()
            .any(|r| r.key.as_deref() == Some(&[0xFF][..])),
        "the changelog has a commit marker: {changelog:?}"
    );
    assert!(
        changelog
            .iter()
            .filter_map(|r| r.value.as_ref())
            .all(|v| v.first() == Some(&1)),
        "changelog records carry their layout version: {changelog:?}"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windowed_aggregation_through_embedded_broker() {
    let broker: Arc<dyn Broker> = Arc::new(KafkaBroker::embedded().expect("broker"));
    windowed_aggregation_end_to_end(broker, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windowed_aggregation_through_tansu() {
    let Some(broker) = common::tansu_broker("windowed_aggregation_through_tansu") else {
        return;
    };
    windowed_aggregation_end_to_end(broker, &format!("_{}", std::process::id())).await;
}

/// A record the producer refuses (larger than `message.max.bytes`) is a
/// `production` error in the processing log, naming the topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_record_is_a_production_error() {
    let broker: Arc<dyn Broker> = Arc::new(KafkaBroker::embedded().expect("broker"));
    let bootstrap = broker.address();
    let engine = engine(Arc::clone(&broker)).await;
    exec(
        &engine,
        "CREATE STREAM small (id INT KEY, n INT) WITH (kafka_topic='small', value_format='json', partitions=1);
         CREATE STREAM huge AS SELECT id, LPAD('x', n, 'y') AS s FROM small;
         INSERT INTO small (id, n) VALUES (1, 2000000);",
    )
    .await;
    let log = read_topic(
        &bootstrap,
        "default_ksql_processing_log",
        1,
        Duration::from_secs(30),
    );
    let entry = log.first().and_then(|r| r.value_str()).unwrap_or_default();
    assert!(entry.contains(r#""type":"production""#), "{entry}");
    assert!(entry.contains("HUGE"), "{entry}");
    engine.shutdown().await;
}
