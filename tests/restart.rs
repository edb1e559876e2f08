//! Restarts on the in-memory log, deterministic: the command topic brings
//! back the catalog and the queries (not those terminated or replaced),
//! and each query's state comes back from its changelog, up to its last
//! commit marker and no further.

mod common;

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, Int64Array, StringArray};
use common::exec_in;
use sluice::config::{Config, Session};
use sluice::engine::{Engine, Outcome};
use sluice::runtime::io::{Broker, StartFrom};
use sluice::runtime::memory::MemoryBroker;

async fn start(log: &Arc<MemoryBroker>) -> Arc<Engine> {
    let broker: Arc<dyn Broker> = Arc::new(Arc::clone(log));
    let config = Config {
        default_start: StartFrom::Earliest,
        command_topic: true,
        service_id: "restart".into(),
        ..Config::default()
    };
    Engine::new(broker, config).await.expect("engine")
}

fn write(log: &MemoryBroker, from: usize, to: usize) {
    for i in from..to {
        let value = format!(r#"{{"G":"g{}","V":{}}}"#, i % 3, i);
        log.append(
            "orders",
            None,
            Some(format!("o{i}").as_bytes()),
            Some(value.as_bytes()),
            i as i64,
            Vec::new(),
        )
        .expect("append");
    }
}

/// `G → (COUNT, SUM)` read through a pull query, once the table's state
/// is restored (until then the pull query says it is not ready).
async fn totals(engine: &Engine) -> Vec<(String, i64, i64)> {
    let mut session = Session::default();
    session
        .properties
        .insert("ksql.query.pull.table.scan.enabled".into(), "true".into());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let result = loop {
        match engine.execute(&mut session, "SELECT * FROM totals;").await {
            Ok(outcomes) => match outcomes.into_iter().next() {
                Some(Outcome::Pull(result)) => break result,
                _ => panic!("no pull result"),
            },
            Err(e) if e.to_string().contains("not ready") => {
                assert!(std::time::Instant::now() < deadline, "never ready: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("pull query failed: {e}"),
        }
    };
    let mut out = Vec::new();
    for b in &result.rows {
        let g = b
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("G");
        let n = b
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("N");
        let s = b
            .column(2)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("S");
        for i in 0..b.num_rows() {
            out.push((g.value(i).to_string(), n.value(i), s.value(i)));
        }
    }
    out.sort();
    out
}

fn expected(records: usize) -> Vec<(String, i64, i64)> {
    (0..3)
        .map(|g| {
            let members: Vec<i64> = (0..records as i64).filter(|i| i % 3 == g).collect();
            (
                format!("g{g}"),
                members.len() as i64,
                members.iter().sum::<i64>(),
            )
        })
        .collect()
}

/// The stream of orders and the re-keyed table of totals per G.
async fn create_totals(engine: &Engine) {
    let mut session = Session::default();
    exec_in(
        engine,
        &mut session,
        "CREATE STREAM orders (ID STRING KEY, G STRING, V BIGINT)
           WITH (kafka_topic='orders', value_format='json');
         CREATE TABLE totals AS SELECT G, COUNT(*) AS N, SUM(V) AS S FROM orders GROUP BY G;",
    )
    .await;
}

async fn query_ids(engine: &Engine) -> Vec<(String, String)> {
    let mut session = Session::default();
    let outcomes = exec_in(engine, &mut session, "SHOW QUERIES;").await;
    let Some(Outcome::Queries(qs)) = outcomes.into_iter().next() else {
        panic!("no query list");
    };
    let mut ids: Vec<(String, String)> = qs.into_iter().map(|q| (q.id, q.state)).collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_queries_and_state_come_back() {
    let log = MemoryBroker::new();
    log.ensure_topic("orders", 2).expect("topic");
    let first = start(&log).await;
    let mut session = Session::default();
    exec_in(
        &first,
        &mut session,
        "CREATE TYPE AMOUNT AS BIGINT;
         CREATE STREAM orders (ID STRING KEY, G STRING, V AMOUNT)
           WITH (kafka_topic='orders', value_format='json');
         CREATE TABLE totals AS SELECT G, COUNT(*) AS N, SUM(V) AS S FROM orders GROUP BY G;
         CREATE STREAM copied AS SELECT * FROM orders;
         CREATE STREAM gone AS SELECT * FROM orders;
         TERMINATE CSAS_GONE_2;
         DROP STREAM gone;
         CREATE OR REPLACE STREAM copied AS SELECT ID, G, V, V * 2 AS W FROM orders;",
    )
    .await;
    write(&log, 0, 30);
    assert!(first.wait_idle(Duration::from_secs(30)).await);
    assert_eq!(totals(&first).await, expected(30));
    let before = query_ids(&first).await;
    first.shutdown().await;
    drop(first);

    // Nobody re-submits anything: the command topic brings it all back.
    let second = start(&log).await;
    assert_eq!(query_ids(&second).await, before);
    assert_eq!(
        before.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        vec!["CSAS_COPIED_1", "CTAS_TOTALS_0"]
    );
    // The state came back before any new record: pull queries answer.
    assert_eq!(totals(&second).await, expected(30));
    write(&log, 30, 45);
    assert!(second.wait_idle(Duration::from_secs(30)).await);
    // Neither reset nor counted twice.
    assert_eq!(totals(&second).await, expected(45));
    // The replaced query runs its new plan, from where the old one stopped.
    let copied = log.records("COPIED").expect("records");
    assert!(copied.len() >= 45, "{}", copied.len());
    assert!(
        copied.iter().any(|(_, r)| r
            .value
            .as_deref()
            .is_some_and(|v| String::from_utf8_lossy(v).contains("\"W\":88"))),
        "the new plan's column W is written"
    );
    // The custom type is back too.
    let mut session = Session::default();
    exec_in(&second, &mut session, "DESCRIBE orders;").await;
    assert!(second
        .execute(&mut session, "CREATE TYPE AMOUNT AS BIGINT;")
        .await
        .is_err());
    // Terminating is recorded too: a third start leaves the query out.
    exec_in(&second, &mut session, "TERMINATE CSAS_COPIED_1;").await;
    second.shutdown().await;
    drop(second);
    let third = start(&log).await;
    assert_eq!(
        query_ids(&third).await,
        vec![("CTAS_TOTALS_0".to_string(), "RUNNING".to_string())]
    );
    third.shutdown().await;
}

/// An interval cut short by a crash leaves state records after the last
/// commit marker; a restart ignores them, resumes input at the marker's
/// offset, and overwrites them so that no later restore can take them for
/// state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_after_the_last_marker_is_ignored_and_overwritten() {
    let log = MemoryBroker::new();
    log.ensure_topic("orders", 1).expect("topic");
    let first = start(&log).await;
    create_totals(&first).await;
    write(&log, 0, 9);
    assert!(first.wait_idle(Duration::from_secs(30)).await);
    first.shutdown().await;
    drop(first);
    let changelog =
        "_confluent-ksql-restartquery_CTAS_TOTALS_0-Aggregate-Aggregate-Materialize-changelog";
    let records = log.records(changelog).expect("changelog");
    let marker_at = records
        .iter()
        .rposition(|(_, r)| r.key.as_deref() == Some(&[0xFF][..]))
        .expect("a commit marker");
    // Forge what a crashed interval leaves: every state record written
    // again with a garbage group state, and no marker after them.
    let tail: Vec<_> = records[..marker_at]
        .iter()
        .filter(|(_, r)| r.key.as_deref().is_some_and(|k| k[0] != 0xFF))
        .cloned()
        .collect();
    assert!(!tail.is_empty());
    for (p, r) in &tail {
        log.append(changelog, Some(*p), r.key.as_deref(), None, 0, Vec::new())
            .expect("append");
    }
    let second = start(&log).await;
    assert_eq!(totals(&second).await, expected(9), "the tail was ignored");
    write(&log, 9, 12);
    assert!(second.wait_idle(Duration::from_secs(30)).await);
    assert_eq!(totals(&second).await, expected(12));
    second.shutdown().await;
    drop(second);
    // The corrections sealed the forged tombstones away: a third start
    // still finds every group.
    let third = start(&log).await;
    assert_eq!(totals(&third).await, expected(12));
    third.shutdown().await;
}

/// The re-keying task is at-least-once: after a crash it writes rows to the
/// repartition topic again. The aggregating task counts each input record
/// once all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_written_twice_to_the_repartition_topic_count_once() {
    let log = MemoryBroker::new();
    log.ensure_topic("orders", 2).expect("topic");
    let engine = start(&log).await;
    create_totals(&engine).await;
    write(&log, 0, 20);
    assert!(engine.wait_idle(Duration::from_secs(30)).await);
    let repartition = "_confluent-ksql-restartquery_CTAS_TOTALS_0-Aggregate-GroupBy-repartition";
    let rows = log.records(repartition).expect("repartition topic");
    assert_eq!(rows.len(), 20);
    // What a restarted re-keying task writes: the same rows again.
    for (p, r) in &rows {
        log.append(
            repartition,
            Some(*p),
            r.key.as_deref(),
            r.value.as_deref(),
            r.timestamp,
            Vec::new(),
        )
        .expect("append");
    }
    write(&log, 20, 24);
    assert!(engine.wait_idle(Duration::from_secs(30)).await);
    assert_eq!(totals(&engine).await, expected(24));
    engine.shutdown().await;
}

/// A command written by a newer sluice stops the replay there: what came
/// before is back, catalog changes are refused with the reason, and
/// queries and reads still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_from_a_newer_sluice_leaves_the_server_degraded() {
    let log = MemoryBroker::new();
    log.ensure_topic("orders", 1).expect("topic");
    let first = start(&log).await;
    let mut session = Session::default();
    exec_in(
        &first,
        &mut session,
        "CREATE STREAM orders (ID STRING KEY, G STRING, V BIGINT)
           WITH (kafka_topic='orders', value_format='json');",
    )
    .await;
    first.shutdown().await;
    drop(first);
    let topic = "_confluent-ksql-restart_command_topic";
    log.append(
        topic,
        Some(0),
        None,
        Some(br#"{"version": 99, "statement": "CREATE STREAM x FROM THE FUTURE;"}"#),
        0,
        Vec::new(),
    )
    .expect("append");
    let second = start(&log).await;
    let why = second.degraded().expect("degraded");
    assert!(why.contains("newer sluice"), "{why}");
    let mut session = Session::default();
    exec_in(&second, &mut session, "DESCRIBE orders;").await;
    let Err(refused) = second
        .execute(&mut session, "CREATE STREAM more AS SELECT * FROM orders;")
        .await
    else {
        panic!("a catalog change was accepted by a degraded server");
    };
    assert!(refused.to_string().contains("newer sluice"), "{refused}");
    second.shutdown().await;
}
