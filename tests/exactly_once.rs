//! `processing.guarantee='exactly_once_v2'`: refused with the reason where
//! the broker cannot keep it (the embedded mock cluster, which answers the
//! transaction calls without their semantics; Tansu 0.6, which does not
//! serve EndTxn), and accepted where the broker advertises every
//! transaction API.

mod common;

use std::sync::Arc;
use std::time::Duration;

use sluice::config::{Config, Session};
use sluice::engine::Engine;
use sluice::kafka::KafkaBroker;
use sluice::runtime::io::Broker;

/// The error `CREATE STREAM … AS SELECT` gets under exactly-once on
/// `broker` (`None` when it was accepted).
async fn refusal(broker: Arc<dyn Broker>, topic: &str) -> Option<String> {
    let engine = Engine::new(broker, Config::default())
        .await
        .expect("engine");
    let mut session = Session::default();
    common::exec_in(
        &engine,
        &mut session,
        &format!(
            "CREATE STREAM {topic} (ID INT KEY, V INT) \
             WITH (kafka_topic='{topic}', value_format='json', partitions=1);"
        ),
    )
    .await;
    common::exec_in(
        &engine,
        &mut session,
        "SET 'processing.guarantee'='exactly_once_v2';",
    )
    .await;
    let created = engine
        .execute(
            &mut session,
            &format!("CREATE STREAM {topic}_copy AS SELECT * FROM {topic};"),
        )
        .await;
    engine.shutdown().await;
    created.err().map(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_is_refused_where_transactions_do_not_hold() {
    let embedded: Arc<dyn Broker> = Arc::new(KafkaBroker::embedded().expect("broker"));
    let err = refusal(embedded, "eos_embedded")
        .await
        .expect("refused on the embedded broker");
    assert!(
        err.contains("mock cluster") && err.contains("--bootstrap-servers"),
        "{err}"
    );

    let Some(tansu) =
        common::tansu_broker("exactly_once_is_refused_where_transactions_do_not_hold (Tansu part)")
    else {
        return;
    };
    let err = refusal(tansu, "eos_tansu")
        .await
        .expect("refused on Tansu 0.6, which does not serve EndTxn");
    assert!(err.contains("EndTxn (API key 26)"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_guarantees_are_refused() {
    let (_log, engine) = common::memory_engine().await;
    let mut session = Session::default();
    let Err(err) = engine
        .execute(&mut session, "SET 'processing.guarantee'='exactly_twice';")
        .await
    else {
        panic!("an unknown guarantee was accepted");
    };
    assert!(
        err.to_string()
            .contains("'at_least_once' or 'exactly_once_v2'"),
        "{err}"
    );
}

/// nisshi 0.8.1 (Tansu's successor) serves the transaction APIs but
/// refuses transactional ids: refused too, at the statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_is_refused_on_nisshi() {
    let Some(nisshi) = common::cluster::Tansu::start_binary("nisshi") else {
        common::skipped(
            "exactly_once_is_refused_on_nisshi",
            "the nisshi broker is not installed (it needs a newer Rust than this toolchain; \
             `cargo +nightly install nisshi --locked --no-default-features --features libsql`)",
        );
        return;
    };
    let broker: Arc<dyn Broker> =
        Arc::new(KafkaBroker::connect(&nisshi.bootstrap()).expect("broker"));
    let err = refusal(broker, "eos_nisshi")
        .await
        .expect("refused on nisshi, which refuses transactional ids");
    assert!(err.contains("refused a transactional producer"), "{err}");
}

/// The transactional code path (a transactional producer per task, output
/// and changelog written in the transaction, input offsets sent to it,
/// commit, read-committed restore) run on the embedded broker, whose
/// transactions have no semantics: this shows the path works end to end,
/// not that a failure is handled exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transactional_path_runs_on_the_embedded_broker() {
    let kafka = KafkaBroker::embedded().expect("broker");
    kafka.pretend_transactions_for_tests();
    let bootstrap = kafka.address();
    let broker: Arc<dyn Broker> = Arc::new(kafka);
    let config = Config {
        default_start: sluice::runtime::io::StartFrom::Earliest,
        ..Config::default()
    };
    let engine = Engine::new(broker, config).await.expect("engine");
    let mut session = Session::default();
    for sql in [
        "CREATE STREAM txn_in (ID STRING KEY, G STRING) \
         WITH (kafka_topic='txn_in', value_format='json', partitions=2);",
        "SET 'processing.guarantee'='exactly_once_v2';",
        "CREATE STREAM txn_copy AS SELECT * FROM txn_in;",
        "CREATE TABLE txn_counts AS SELECT G, COUNT(*) AS N FROM txn_in GROUP BY G;",
    ] {
        common::exec_in(&engine, &mut session, sql).await;
    }
    let records: Vec<(String, String)> = (0..300)
        .map(|i| (format!("id-{i}"), format!(r#"{{"G":"g{}"}}"#, i % 3)))
        .collect();
    let inputs: Vec<common::Input<'_>> = records
        .iter()
        .map(|(k, v)| (Some(k.as_bytes()), Some(v.as_bytes()), 0))
        .collect();
    common::produce(&bootstrap, "txn_in", &inputs);
    let copy = wait_for(|| {
        let got = common::read_all(&bootstrap, "TXN_COPY");
        (got.len() >= 300).then_some(got)
    })
    .expect("every record copied");
    assert_eq!(
        copy.len(),
        300,
        "each record once in a run without failures"
    );
    let counted = wait_for(|| {
        let mut latest = std::collections::HashMap::new();
        for r in common::read_all(&bootstrap, "TXN_COUNTS") {
            latest.insert(r.key_str(), r.value_str());
        }
        let total: i64 = latest
            .values()
            .flatten()
            .filter_map(|v| serde_json::from_str::<serde_json::Value>(v).ok())
            .filter_map(|v| v["N"].as_i64())
            .sum();
        (total == 300).then_some(total)
    });
    assert_eq!(counted, Some(300), "the counts add up");
    let failed = engine.failed_queries().await;
    assert!(failed.is_empty(), "{failed:?}");
    engine.shutdown().await;
}

/// Polls `probe` until it gives a value (at most a minute).
fn wait_for<T>(mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if let Some(v) = probe() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}
