//! Statements of the engine core over the in-memory log: variables, custom
//! types, event-time columns, headers, pseudo columns, PRINT, EXPLAIN and
//! format options.

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

fn records(log: &MemoryBroker, topic: &str) -> Vec<(Option<String>, Option<String>, i64)> {
    log.records(topic)
        .expect("records")
        .into_iter()
        .map(|(_, r)| {
            (
                r.key.map(|k| String::from_utf8_lossy(&k).into_owned()),
                r.value.map(|v| String::from_utf8_lossy(&v).into_owned()),
                r.timestamp,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variables_and_custom_types_apply_within_one_request() {
    let (log, engine) = setup().await;
    let mut s = Session::default();
    exec(
        &engine,
        &mut s,
        "DEFINE topic = 'shapes';
         CREATE TYPE point AS STRUCT<x INT, y INT>;
         CREATE STREAM shapes (name STRING, at POINT)
           WITH (kafka_topic='${topic}', value_format='json', partitions=1);
         INSERT INTO shapes (name, at) VALUES ('p', STRUCT(x := 1, y := 2));
         CREATE STREAM xs AS SELECT name, at->x AS x FROM shapes;",
    )
    .await;
    assert!(engine.wait_idle(Duration::from_secs(20)).await);
    let out = records(&log, "XS");
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].1.as_deref(), Some(r#"{"NAME":"p","X":1}"#));
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamp_column_sets_event_time() {
    let (log, engine) = setup().await;
    let mut s = Session::default();
    exec(
        &engine,
        &mut s,
        "CREATE STREAM readings (id STRING KEY, at STRING, v DOUBLE)
           WITH (kafka_topic='readings', value_format='json', partitions=1,
                 timestamp='at', timestamp_format='yyyy-MM-dd HH:mm:ss');
         CREATE STREAM copy AS SELECT id, v, ROWTIME AS t FROM readings;",
    )
    .await;
    log.append(
        "readings",
        Some(0),
        Some(b"r1"),
        Some(br#"{"at":"2021-01-01 00:00:01","v":1.5}"#),
        5,
        vec![],
    )
    .expect("append");
    log.append(
        "readings",
        Some(0),
        Some(b"r2"),
        Some(br#"{"at":"garbage","v":2}"#),
        6,
        vec![],
    )
    .expect("append");
    assert!(engine.wait_idle(Duration::from_secs(20)).await);
    let out = records(&log, "COPY");
    assert_eq!(
        out,
        vec![(
            Some("r1".to_string()),
            Some(r#"{"V":1.5,"T":1609459201000}"#.to_string()),
            1609459201000
        )]
    );
    assert_eq!(engine.processing_errors(), 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_and_pseudo_columns_are_readable() {
    let (log, engine) = setup().await;
    let mut s = Session::default();
    exec(
        &engine,
        &mut s,
        "CREATE STREAM evts (v INT, hs ARRAY<STRUCT<key STRING, value BYTES>> HEADERS,
                             trace BYTES HEADER('trace'))
           WITH (kafka_topic='evts', value_format='json', partitions=2);
         CREATE STREAM meta AS SELECT v, ARRAY_LENGTH(hs) AS n, FROM_BYTES(trace, 'utf8') AS t,
             ROWPARTITION AS p, ROWOFFSET AS o FROM evts;",
    )
    .await;
    log.append(
        "evts",
        Some(1),
        None,
        Some(br#"{"v":7}"#),
        1,
        vec![
            ("trace".into(), Some(b"abc".to_vec())),
            ("other".into(), None),
        ],
    )
    .expect("append");
    assert!(engine.wait_idle(Duration::from_secs(20)).await);
    let out = records(&log, "META");
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].1.as_deref(),
        Some(r#"{"V":7,"N":2,"T":"abc","P":1,"O":0}"#)
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delimited_options_and_unwrapped_values() {
    let (log, engine) = setup().await;
    let mut s = Session::default();
    exec(
        &engine,
        &mut s,
        "CREATE STREAM piped (id INT KEY, a STRING, b INT)
           WITH (kafka_topic='piped', value_format='delimited', value_delimiter='|', partitions=1);
         CREATE STREAM bare WITH (value_format='json', wrap_single_value=false) AS
           SELECT id, b FROM piped;",
    )
    .await;
    log.append(
        "piped",
        Some(0),
        Some(&5i32.to_be_bytes()),
        Some(b"x|41"),
        3,
        vec![],
    )
    .expect("append");
    assert!(engine.wait_idle(Duration::from_secs(20)).await);
    let out = log.records("BARE").expect("records");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1.key.as_deref(), Some(&5i32.to_be_bytes()[..]));
    assert_eq!(out[0].1.value.as_deref(), Some(&b"41"[..]));
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn print_explain_set_and_unset() {
    let (log, engine) = setup().await;
    let mut s = Session::default();
    exec(
        &engine,
        &mut s,
        "CREATE STREAM t1 (v INT) WITH (kafka_topic='t1', value_format='json', partitions=1);",
    )
    .await;
    log.append("t1", Some(0), None, Some(br#"{"v":1}"#), 0, vec![])
        .expect("append");
    log.append("t1", Some(0), None, Some(br#"{"v":2}"#), 0, vec![])
        .expect("append");
    let mut out = exec(&engine, &mut s, "PRINT t1 FROM BEGINNING LIMIT 2;").await;
    let Some(Outcome::Print(mut p)) = out.pop() else {
        panic!("print")
    };
    let mut lines = Vec::new();
    while let Some(l) = tokio::time::timeout(Duration::from_secs(10), p.lines.recv())
        .await
        .expect("lines within the deadline")
    {
        lines.push(l);
    }
    assert_eq!(lines.len(), 2);
    assert!(lines[1].contains(r#"value: {"v":2}"#), "{lines:?}");

    let mut out = exec(
        &engine,
        &mut s,
        "EXPLAIN SELECT v + 1 AS w FROM t1 WHERE v > 1 EMIT CHANGES;",
    )
    .await;
    let Some(Outcome::Explain { columns, plan, .. }) = out.pop() else {
        panic!("explain")
    };
    assert_eq!(columns[0].name, "W");
    assert!(plan.iter().any(|l| l.contains("Filter")), "{plan:?}");

    exec(&engine, &mut s, "SET 'auto.offset.reset' = 'latest';").await;
    assert_eq!(
        s.properties.get("auto.offset.reset").map(String::as_str),
        Some("latest")
    );
    exec(&engine, &mut s, "UNSET 'auto.offset.reset';").await;
    assert!(s.properties.is_empty());
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_or_replace_upgrades_the_query_in_place() {
    let (log, engine) = setup().await;
    let mut s = Session::default();
    exec(
        &engine,
        &mut s,
        "CREATE STREAM src (id INT KEY, a INT, b INT) WITH (kafka_topic='src', value_format='json', partitions=1);
         CREATE STREAM dst AS SELECT id, a FROM src;
         INSERT INTO src (id, a, b) VALUES (1, 10, 100);",
    )
    .await;
    assert!(engine.wait_idle(Duration::from_secs(20)).await);
    exec(
        &engine,
        &mut s,
        "CREATE OR REPLACE STREAM dst AS SELECT id, a, b FROM src;
         INSERT INTO src (id, a, b) VALUES (2, 20, 200);",
    )
    .await;
    assert!(engine.wait_idle(Duration::from_secs(20)).await);
    let values: Vec<String> = records(&log, "DST")
        .into_iter()
        .filter_map(|r| r.1)
        .collect();
    assert_eq!(values, vec![r#"{"A":10}"#, r#"{"A":20,"B":200}"#]);
    let mut out = exec(&engine, &mut s, "SHOW QUERIES;").await;
    let Some(Outcome::Queries(q)) = out.pop() else {
        panic!("queries")
    };
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].id, "CSAS_DST_0");

    let err = engine
        .execute(
            &mut s,
            "CREATE OR REPLACE STREAM dst AS SELECT id, b FROM src;",
        )
        .await
        .err()
        .expect("incompatible");
    assert!(
        err.to_string().contains("Cannot upgrade data source: DST"),
        "{err}"
    );
    engine.shutdown().await;
}

/// A record with a null value is a null row: passed on with its key (and a
/// null value) by a projection, dropped by any WHERE clause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_values_pass_through_projections_not_filters() {
    let (log, engine) = setup().await;
    let mut s = Session::default();
    exec(
        &engine,
        &mut s,
        "CREATE STREAM src (k STRING KEY, v INT) WITH (kafka_topic='src', value_format='json', partitions=1);
         CREATE STREAM copy AS SELECT k, v FROM src;
         CREATE STREAM kept AS SELECT k, v FROM src WHERE v IS NULL;
         CREATE STREAM moved AS SELECT v, k FROM src PARTITION BY v;",
    )
    .await;
    log.append("src", Some(0), Some(b"a"), None, 7, vec![])
        .expect("append");
    log.append("src", Some(0), Some(b"b"), Some(b"{}"), 8, vec![])
        .expect("append");
    assert!(engine.wait_idle(Duration::from_secs(20)).await);
    assert_eq!(
        records(&log, "COPY"),
        vec![
            (Some("a".into()), None, 7),
            (Some("b".into()), Some(r#"{"V":null}"#.into()), 8)
        ]
    );
    assert_eq!(
        records(&log, "KEPT"),
        vec![(Some("b".into()), Some(r#"{"V":null}"#.into()), 8)]
    );
    assert_eq!(
        records(&log, "MOVED"),
        vec![(None, None, 7), (None, Some(r#"{"K":"b"}"#.into()), 8)]
    );
    engine.shutdown().await;
}

/// Headers of an input record are copied to the records derived from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_are_copied_to_derived_records() {
    let (log, engine) = setup().await;
    let mut s = Session::default();
    exec(
        &engine,
        &mut s,
        "CREATE STREAM src (v INT) WITH (kafka_topic='src', value_format='json', partitions=1);
         CREATE STREAM dst AS SELECT v * 2 AS w FROM src;",
    )
    .await;
    log.append(
        "src",
        Some(0),
        None,
        Some(br#"{"v":1}"#),
        1,
        vec![
            ("trace".into(), Some(b"t-1".to_vec())),
            ("empty".into(), None),
        ],
    )
    .expect("append");
    log.append("src", Some(0), None, Some(br#"{"v":2}"#), 2, vec![])
        .expect("append");
    assert!(engine.wait_idle(Duration::from_secs(20)).await);
    let out = log.records("DST").expect("records");
    assert_eq!(out.len(), 2);
    assert_eq!(
        out[0].1.headers,
        vec![
            ("trace".to_string(), Some(b"t-1".to_vec())),
            ("empty".to_string(), None)
        ]
    );
    assert!(out[1].1.headers.is_empty());
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_types_lists_custom_types() {
    let (_log, engine) = setup().await;
    let mut s = Session::default();
    let mut out = exec(
        &engine,
        &mut s,
        "CREATE TYPE address AS STRUCT<street STRING, zip INT>; SHOW TYPES;",
    )
    .await;
    let Some(Outcome::Types(types)) = out.pop() else {
        panic!("types")
    };
    assert_eq!(
        types,
        vec![(
            "ADDRESS".to_string(),
            "STRUCT<`STREET` STRING, `ZIP` INTEGER>".to_string()
        )]
    );
    engine.shutdown().await;
}
