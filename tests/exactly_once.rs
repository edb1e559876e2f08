//! `processing.guarantee='exactly_once_v2'`: refused with the reason where
//! the broker cannot keep it (the embedded mock cluster, which answers the
//! transaction calls without their semantics; Tansu 0.6, which does not
//! serve EndTxn), and accepted where the broker advertises every
//! transaction API.

mod common;

use std::sync::Arc;

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
