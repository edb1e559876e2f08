//! The engine over the in-memory log: the same pipeline as with Kafka,
//! deterministic and fast. Covers statements end to end.

mod common;

use std::sync::Arc;
use std::time::Duration;

use sluice::config::Session;
use sluice::engine::{Engine, Outcome};
use sluice::runtime::memory::MemoryBroker;

async fn setup() -> (Arc<MemoryBroker>, Arc<Engine>) {
    common::memory_engine().await
}

async fn exec(engine: &Engine, session: &mut Session, sql: &str) -> Vec<Outcome> {
    common::exec_in(engine, session, sql).await
}

fn values(log: &MemoryBroker, topic: &str) -> Vec<String> {
    log.records(topic)
        .expect("records")
        .into_iter()
        .map(|(_, r)| String::from_utf8_lossy(r.value.as_deref().unwrap_or(b"<null>")).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csas_with_partition_by_rekeys_output() {
    let (log, engine) = setup().await;
    let mut s = Session::default();
    exec(
        &engine,
        &mut s,
        "CREATE STREAM orders (id INT KEY, region STRING, qty INT)
           WITH (kafka_topic='orders', value_format='json', partitions=1);
         INSERT INTO orders (id, region, qty, ROWTIME) VALUES (1, 'eu', 3, 100);
         INSERT INTO orders (id, region, qty, ROWTIME) VALUES (2, 'us', 0, 200);
         CREATE STREAM by_region AS SELECT region, id, qty FROM orders WHERE qty > 0 PARTITION BY region;",
    )
    .await;
    assert!(engine.wait_idle(Duration::from_secs(20)).await);
    let out = log.records("BY_REGION").expect("records");
    assert_eq!(out.len(), 1);
    let (_, r) = &out[0];
    assert_eq!(r.key.as_deref(), Some(&b"eu"[..]));
    assert_eq!(r.value.as_deref(), Some(&br#"{"ID":1,"QTY":3}"#[..]));
    assert_eq!(r.timestamp, 100);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_statements_name_the_problem() {
    let (_log, engine) = setup().await;
    let mut s = Session::default();
    exec(
        &engine,
        &mut s,
        "CREATE STREAM txns (id INT KEY, amount DOUBLE) WITH (kafka_topic='txns', value_format='json', partitions=1);",
    )
    .await;
    let err = engine
        .execute(&mut s, "CREATE STREAM x AS SELECT id, amountt FROM txns;")
        .await
        .err()
        .expect("an error");
    let text = err.to_string();
    assert!(text.contains("AMOUNTT"), "{text}");
    assert!(text.contains("Did you mean AMOUNT?"), "{text}");

    let err = engine
        .execute(
            &mut s,
            "CREATE STREAM y (a INT) WITH (kafka_topic='missing', value_format='json');",
        )
        .await
        .err()
        .expect("an error");
    assert!(
        err.to_string().contains("'missing' does not exist"),
        "{err}"
    );

    let err = engine
        .execute(&mut s, "SELECT * FROM nope EMIT CHANGES;")
        .await
        .err()
        .expect("an error");
    assert!(err.to_string().contains("NOPE does not exist"), "{err}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_describe_terminate_and_drop() {
    let (log, engine) = setup().await;
    let mut s = Session::default();
    exec(
        &engine,
        &mut s,
        "CREATE STREAM src (k STRING KEY, v INT) WITH (kafka_topic='src', value_format='delimited', partitions=1);
         CREATE STREAM dst AS SELECT k, v * 2 AS v2 FROM src;",
    )
    .await;
    let mut outcomes = exec(
        &engine,
        &mut s,
        "SHOW STREAMS; SHOW QUERIES; DESCRIBE dst EXTENDED;",
    )
    .await;
    let Some(Outcome::Description(d)) = outcomes.pop() else {
        panic!("describe")
    };
    assert_eq!(d.summary.topic, "DST");
    assert_eq!(d.write_queries, vec!["CSAS_DST_0".to_string()]);
    let Some(Outcome::Queries(q)) = outcomes.pop() else {
        panic!("queries")
    };
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].id, "CSAS_DST_0");
    let Some(Outcome::Sources { sources, .. }) = outcomes.pop() else {
        panic!("streams")
    };
    let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["DST", "KSQL_PROCESSING_LOG", "SRC"]);

    exec(&engine, &mut s, "INSERT INTO src (k, v) VALUES ('a', 21);").await;
    assert!(engine.wait_idle(Duration::from_secs(20)).await);
    assert_eq!(values(&log, "DST"), vec!["42".to_string()]);

    let err = engine
        .execute(&mut s, "DROP STREAM src;")
        .await
        .err()
        .expect("in use");
    assert!(err.to_string().contains("CSAS_DST_0"), "{err}");
    exec(
        &engine,
        &mut s,
        "TERMINATE CSAS_DST_0; DROP STREAM dst; DROP STREAM src;",
    )
    .await;
    let mut outcomes = exec(&engine, &mut s, "SHOW STREAMS;").await;
    let Some(Outcome::Sources { sources, .. }) = outcomes.pop() else {
        panic!("streams")
    };
    let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["KSQL_PROCESSING_LOG"]);
    engine.shutdown().await;
}

/// Expressions and ksqlDB functions evaluated by a persistent query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expressions_and_functions() {
    let (log, engine) = setup().await;
    let mut s = Session::default();
    exec(
        &engine,
        &mut s,
        r#"CREATE STREAM people (id INT KEY, name STRING, age INT, tags ARRAY<STRING>,
             address STRUCT<city STRING, zip INT>, attrs MAP<STRING, INT>, doc STRING)
           WITH (kafka_topic='people', value_format='json', partitions=1);
         CREATE STREAM out AS SELECT id,
             SUBSTRING(name, 2, 3) AS sub,
             CONCAT(name, '!') AS bang,
             LPAD(name, 6, '*') AS padded,
             UCASE(name) AS up,
             LEN(name) AS n,
             REGEXP_REPLACE(name, 'a', 'A') AS re,
             ROUND(age / 3.0) AS r,
             COALESCE(doc, 'none') AS d,
             TIMESTAMPTOSTRING(ROWTIME, 'yyyy-MM-dd HH:mm:ss', 'UTC') AS ts,
             EXTRACTJSONFIELD(doc, '$.k') AS k,
             ARRAY_CONTAINS(tags, 'x') AS has_x,
             tags[1] AS first_tag,
             tags[-1] AS last_tag,
             address->city AS city,
             attrs['a'] AS a,
             CASE WHEN age < 18 THEN 'minor' ELSE 'adult' END AS grp,
             CAST(age AS STRING) AS age_s,
             name LIKE 'b%' AS b_name,
             age BETWEEN 10 AND 40 AS mid,
             age IN (1, 2, 30) AS picked,
             doc IS NOT DISTINCT FROM NULL AS no_doc
           FROM people;"#,
    )
    .await;
    log.append(
        "people",
        Some(0),
        Some(&7i32.to_be_bytes()),
        Some(br#"{"name":"banana","AGE":30,"tags":["x","y"],"address":{"CITY":"Oslo","zip":1},"attrs":{"a":5},"doc":"{\"k\":\"v\"}"}"#),
        86_400_000,
        vec![],
    )
    .expect("append");
    assert!(engine.wait_idle(Duration::from_secs(20)).await);
    let failed = engine.failed_queries().await;
    assert!(failed.is_empty(), "{failed:?}");
    let out = values(&log, "OUT");
    assert_eq!(out.len(), 1, "{out:?}");
    let v: serde_json::Value = serde_json::from_str(&out[0]).expect("json");
    let expect = serde_json::json!({
        "SUB": "ana", "BANG": "banana!", "PADDED": "banana", "UP": "BANANA", "N": 6,
        "RE": "bAnAnA", "R": 10, "D": "{\"k\":\"v\"}", "TS": "1970-01-02 00:00:00", "K": "v",
        "HAS_X": true, "FIRST_TAG": "x", "LAST_TAG": "y", "CITY": "Oslo", "A": 5,
        "GRP": "adult", "AGE_S": "30", "B_NAME": true, "MID": true, "PICKED": true,
        "NO_DOC": false
    });
    for (k, want) in expect.as_object().expect("object") {
        let got = v.get(k).cloned().unwrap_or(serde_json::Value::Null);
        assert_eq!(
            got.to_string(),
            want.to_string(),
            "column {k} in {}",
            out[0]
        );
    }
    engine.shutdown().await;
}

/// Failures are queryable through the KSQL_PROCESSING_LOG stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processing_log_is_a_stream() {
    let (log, engine) = setup().await;
    let mut s = Session::default();
    exec(
        &engine,
        &mut s,
        "CREATE STREAM nums (n INT) WITH (kafka_topic='nums', value_format='json', partitions=1);
         CREATE STREAM plus AS SELECT n + 1 AS m FROM nums;
         CREATE STREAM failures AS SELECT message->queryid AS q, message->topic AS t,
             message->`OFFSET` AS o FROM KSQL_PROCESSING_LOG;",
    )
    .await;
    log.append("nums", Some(0), None, Some(b"{oops"), 1, vec![])
        .expect("append");
    assert!(engine.wait_idle(Duration::from_secs(20)).await);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while values(&log, "FAILURES").is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        values(&log, "FAILURES"),
        vec![r#"{"Q":"CSAS_PLUS_0","T":"nums","O":0}"#.to_string()]
    );
    engine.shutdown().await;
}

/// With record caching (the default), an aggregation emits one update per
/// key per commit; with `cache.max.bytes.buffering` = 0, every update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregation_coalesces_updates_unless_caching_is_off() {
    let (log, engine) = setup().await;
    let mut s = Session::default();
    exec(
        &engine,
        &mut s,
        "CREATE STREAM taps (card STRING KEY, amount INT)
           WITH (kafka_topic='taps', value_format='json', partitions=1);
         INSERT INTO taps (card, amount, ROWTIME) VALUES ('c1', 1, 100);
         INSERT INTO taps (card, amount, ROWTIME) VALUES ('c1', 2, 200);
         INSERT INTO taps (card, amount, ROWTIME) VALUES ('c2', 5, 300);
         INSERT INTO taps (card, amount, ROWTIME) VALUES ('c1', 4, 400);
         CREATE TABLE cached AS SELECT card, SUM(amount) AS total FROM taps GROUP BY card;
         SET 'cache.max.bytes.buffering' = '0';
         CREATE TABLE every AS SELECT card, SUM(amount) AS total FROM taps GROUP BY card;",
    )
    .await;
    assert!(engine.wait_idle(Duration::from_secs(20)).await);
    let mut cached = values(&log, "CACHED");
    cached.sort();
    assert_eq!(cached, vec![r#"{"TOTAL":5}"#, r#"{"TOTAL":7}"#]);
    assert_eq!(
        values(&log, "EVERY"),
        vec![
            r#"{"TOTAL":1}"#,
            r#"{"TOTAL":3}"#,
            r#"{"TOTAL":5}"#,
            r#"{"TOTAL":7}"#
        ]
    );
    engine.shutdown().await;
}

/// Each input partition keeps its own stream time: a partition read ahead
/// in event time does not close the windows of another, as in Kafka Streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_close_with_their_own_partitions_stream_time() {
    let (log, engine) = setup().await;
    let mut s = Session::default();
    // With two partitions, 'a' goes to partition 0 and 'd' to partition 1
    // (murmur2, as Kafka's default partitioner).
    exec(
        &engine,
        &mut s,
        "CREATE STREAM taps (card STRING KEY, amount INT)
           WITH (kafka_topic='taps2', value_format='json', partitions=2);
         INSERT INTO taps (card, amount, ROWTIME) VALUES ('a', 1, 100000);
         INSERT INTO taps (card, amount, ROWTIME) VALUES ('a', 1, 200000);
         INSERT INTO taps (card, amount, ROWTIME) VALUES ('d', 1, 1000);
         INSERT INTO taps (card, amount, ROWTIME) VALUES ('d', 1, 2000);
         INSERT INTO taps (card, amount, ROWTIME) VALUES ('d', 1, 15000);
         CREATE TABLE per_10s AS SELECT card, COUNT(*) AS n FROM taps
           WINDOW TUMBLING (SIZE 10 SECONDS, GRACE PERIOD 0 SECONDS) GROUP BY card EMIT FINAL;",
    )
    .await;
    assert!(engine.wait_idle(Duration::from_secs(20)).await);
    let mut out = values(&log, "PER_10S");
    out.sort();
    // 'a': [100000, 110000) closed by 'a' at 200000. 'd': [0, 10000) with
    // both early records, closed by 'd' at 15000 — not dropped as late
    // because partition 0 had reached 200000.
    assert_eq!(out, vec![r#"{"N":1}"#, r#"{"N":2}"#]);
    engine.shutdown().await;
}

/// Push queries from the end of one stream share one reader: each gets the
/// rows its own WHERE picks, and a caller that stops reading is paused,
/// then dropped with a message once the feed is `push_buffer` batches
/// ahead of it, without holding the others back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_queries_share_a_feed_and_a_slow_caller_is_dropped() {
    let log = sluice::runtime::memory::MemoryBroker::new();
    let broker: Arc<dyn sluice::runtime::io::Broker> = Arc::new(Arc::clone(&log));
    let config = sluice::config::Config {
        default_start: sluice::runtime::io::StartFrom::Latest,
        task: sluice::runtime::task::TaskSettings {
            push_buffer: 4,
            ..Default::default()
        },
        ..sluice::config::Config::default()
    };
    let engine = Engine::new(broker, config).await.expect("engine");
    let mut s = Session::default();
    exec(
        &engine,
        &mut s,
        "CREATE STREAM readings (id INT KEY, v INT) WITH (kafka_topic='readings', value_format='json', partitions=1);",
    )
    .await;
    let mut streams = Vec::new();
    for sql in [
        "SELECT id, v FROM readings WHERE v >= 0 EMIT CHANGES;",
        "SELECT id FROM readings WHERE v % 2 = 0 EMIT CHANGES;",
        "SELECT v * 10 AS tenfold FROM readings WHERE v > 5 EMIT CHANGES;",
        // Never read.
        "SELECT * FROM readings EMIT CHANGES;",
    ] {
        match engine.execute(&mut s, sql).await.expect("push query").pop() {
            Some(Outcome::Push(p)) => streams.push(p),
            _ => panic!("not a push query: {sql}"),
        }
    }
    assert_eq!(engine.push_feeds(), vec![("READINGS".to_string(), 4)]);
    let mut slow = streams.pop().expect("slow");
    let mut got: Vec<Vec<String>> = vec![Vec::new(); streams.len()];
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    for v in 0..40 {
        exec(
            &engine,
            &mut s,
            &format!("INSERT INTO readings (id, v) VALUES ({v}, {v});"),
        )
        .await;
        // Waiting for the queries that pick the record makes each record a
        // batch of its own.
        let wants = [true, v % 2 == 0, v > 5];
        for (i, stream) in streams.iter_mut().enumerate() {
            let before = got[i].len();
            while wants[i] && got[i].len() == before {
                assert!(std::time::Instant::now() < deadline, "record {v} not seen");
                let batch = tokio::time::timeout(Duration::from_secs(10), stream.rows.recv())
                    .await
                    .expect("a row in time")
                    .expect("the stream is open");
                got[i].extend(rows_of(&batch));
            }
        }
    }
    assert_eq!(got.iter().map(Vec::len).collect::<Vec<_>>(), [40, 20, 34]);
    assert_eq!(got[0].first().map(String::as_str), Some("0,0"));
    assert_eq!(got[0].last().map(String::as_str), Some("39,39"));
    assert_eq!(got[1].get(1).map(String::as_str), Some("2"));
    assert_eq!(got[2].first().map(String::as_str), Some("60"));
    // The caller that did not read was paused (its row channel full), then
    // dropped with the reason once it read on and the feed was too far
    // ahead: it saw the first records only.
    let mut seen = 0;
    while let Ok(Some(batch)) =
        tokio::time::timeout(Duration::from_secs(10), slow.rows.recv()).await
    {
        seen += batch.num_rows();
    }
    assert!(seen > 0 && seen < 40, "the slow caller saw {seen} rows");
    let outcome = tokio::time::timeout(Duration::from_secs(10), &mut slow.done)
        .await
        .expect("the slow query ended")
        .expect("joined");
    let err = outcome.expect_err("dropped").to_string();
    assert!(err.contains("reads slower than records arrive"), "{err}");
    for s in streams {
        s.cancel.cancel();
    }
    engine.shutdown().await;
}

fn rows_of(batch: &arrow::record_batch::RecordBatch) -> Vec<String> {
    (0..batch.num_rows())
        .map(|r| {
            batch
                .columns()
                .iter()
                .map(|c| arrow::util::display::array_value_to_string(c, r).expect("display"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

/// Every kind of failure reaches the processing log with where it came
/// from: an expression error names the record's topic, partition and
/// offset (the row is dropped, the query goes on); a row the sink's schema
/// cannot hold is a `serialization` error and stops the query, as in
/// ksqlDB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expression_and_serialization_errors_reach_the_processing_log() {
    let (log, engine) = setup().await;
    let registry = engine.schema_registry().expect("a registry");
    // A schema whose NAME may not be null.
    let schema = sluice::sr::Schema::new(
        sluice::sr::SchemaType::Avro,
        r#"{"type":"record","name":"Out","fields":[{"name":"NAME","type":"string"}]}"#,
    );
    let id = registry
        .get()
        .register("strict-value", &schema)
        .expect("register");
    let mut s = Session::default();
    exec(
        &engine,
        &mut s,
        &format!(
            "CREATE STREAM people (id INT KEY, name STRING, age STRING)
               WITH (kafka_topic='people', value_format='json', partitions=1);
             CREATE STREAM strict WITH (kafka_topic='strict', value_format='AVRO',
               value_schema_id={id}) AS SELECT id, name FROM people;
             CREATE STREAM ages AS SELECT id, CAST(age AS INT) AS years FROM people;
             CREATE STREAM failures AS SELECT message->queryid AS q, message->type AS k,
               message->topic AS t, message->`PARTITION` AS p, message->`OFFSET` AS o
               FROM KSQL_PROCESSING_LOG;"
        ),
    )
    .await;
    for (id, name, age) in [
        ("1", "'ann'", "'31'"),
        ("2", "NULL", "'x'"),
        ("3", "'cy'", "'40'"),
    ] {
        exec(
            &engine,
            &mut s,
            &format!("INSERT INTO people (id, name, age) VALUES ({id}, {name}, {age});"),
        )
        .await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while values(&log, "FAILURES").len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut failures = values(&log, "FAILURES");
    failures.sort();
    assert_eq!(
        failures,
        vec![
            r#"{"Q":"CSAS_AGES_1","K":"expression","T":"people","P":0,"O":1}"#.to_string(),
            r#"{"Q":"CSAS_STRICT_0","K":"serialization","T":null,"P":null,"O":null}"#.to_string(),
        ]
    );
    let failed = engine.failed_queries().await;
    assert!(
        failed
            .iter()
            .any(|(id, e)| id == "CSAS_STRICT_0" && e.contains("null")),
        "{failed:?}"
    );
    // The other query went on past its bad row.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while values(&log, "AGES").len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(values(&log, "AGES").len(), 2);
    engine.shutdown().await;
}
