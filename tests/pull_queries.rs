//! Pull queries (`SELECT` without `EMIT`) over the in-memory log: answered
//! from the materialized state of tables (CTAS sinks and source tables),
//! or by reading a stream's topic to its end.

mod common;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use sluice::config::Session;
use sluice::engine::{Engine, Outcome, PullResult};

async fn exec(engine: &Engine, session: &mut Session, sql: &str) -> Vec<Outcome> {
    common::exec_in(engine, session, sql).await
}

async fn idle(engine: &Engine) {
    assert!(engine.wait_idle(Duration::from_secs(20)).await);
    let failed = engine.failed_queries().await;
    assert!(failed.is_empty(), "{failed:?}");
}

/// Runs one pull query.
async fn pull(engine: &Engine, session: &mut Session, sql: &str) -> PullResult {
    match exec(engine, session, sql).await.pop() {
        Some(Outcome::Pull(p)) => p,
        _ => panic!("{sql}: not a pull query result"),
    }
}

/// The header as ksqlDB writes it: `` `ID` STRING KEY, `COUNT` BIGINT ``.
fn header(p: &PullResult) -> String {
    p.columns
        .iter()
        .map(|c| {
            format!(
                "`{}` {}{}",
                c.name,
                c.sql_type,
                if c.is_key { " KEY" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn rows(p: &PullResult) -> Vec<Value> {
    p.rows
        .iter()
        .flat_map(|b| {
            sluice::server::values::batch_rows(b, p.columns.len())
                .expect("rows")
                .into_iter()
                .map(Value::Array)
        })
        .collect()
}

/// Rows in a stable order, for results whose order is the store's.
fn sorted(p: &PullResult) -> Vec<Value> {
    let mut r = rows(p);
    r.sort_by_key(|v| v.to_string());
    r
}

async fn error(engine: &Engine, session: &mut Session, sql: &str) -> String {
    match engine.execute(session, sql).await {
        Ok(_) => panic!("{sql}: expected an error"),
        Err(e) => e.to_string(),
    }
}

async fn setup() -> (Arc<sluice::runtime::memory::MemoryBroker>, Arc<Engine>) {
    common::memory_engine().await
}

const ORDERS: &str = "CREATE STREAM orders (id STRING KEY, region STRING, qty INT)
  WITH (kafka_topic='orders', value_format='JSON', partitions=2);
INSERT INTO orders (id, region, qty, ROWTIME) VALUES ('a', 'eu', 1, 1000);
INSERT INTO orders (id, region, qty, ROWTIME) VALUES ('b', 'us', 2, 2000);
INSERT INTO orders (id, region, qty, ROWTIME) VALUES ('a', 'eu', 3, 3000);
INSERT INTO orders (id, region, qty, ROWTIME) VALUES ('c', 'eu', 4, 4000);
INSERT INTO orders (id, region, qty, ROWTIME) VALUES ('d', 'us', 5, 5000);";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_answer_key_lookups_in_lists_ranges_and_scans() {
    let (_log, engine) = setup().await;
    let mut s = Session::default();
    exec(&engine, &mut s, ORDERS).await;
    exec(
        &engine,
        &mut s,
        "CREATE TABLE totals AS SELECT id, COUNT(*) AS n, SUM(qty) AS qty FROM orders GROUP BY id;",
    )
    .await;
    idle(&engine).await;

    let p = pull(&engine, &mut s, "SELECT * FROM totals WHERE id = 'a';").await;
    assert_eq!(header(&p), "`ID` STRING KEY, `N` BIGINT, `QTY` INTEGER");
    assert_eq!(rows(&p), vec![json!(["a", 2, 4])]);
    assert_eq!(p.final_message, None);

    let p = pull(&engine, &mut s, "SELECT * FROM totals WHERE id = 'zz';").await;
    assert!(rows(&p).is_empty());

    let p = pull(
        &engine,
        &mut s,
        "SELECT id, qty, ROWTIME FROM totals WHERE id IN ('b', 'd', 'x');",
    )
    .await;
    assert_eq!(
        header(&p),
        "`ID` STRING KEY, `QTY` INTEGER, `ROWTIME` BIGINT"
    );
    assert_eq!(
        sorted(&p),
        vec![json!(["b", 2, 2000]), json!(["d", 5, 5000])]
    );

    // A range of the key, in key order.
    let p = pull(
        &engine,
        &mut s,
        "SELECT id FROM totals WHERE id > 'a' AND id <= 'c';",
    )
    .await;
    assert_eq!(rows(&p), vec![json!(["b"]), json!(["c"])]);

    // Any other predicate scans; projections are computed.
    let p = pull(
        &engine,
        &mut s,
        "SELECT qty * 10 AS big, id FROM totals WHERE qty >= 4;",
    )
    .await;
    assert_eq!(header(&p), "`BIG` INTEGER, `ID` STRING KEY");
    assert_eq!(
        sorted(&p),
        vec![json!([40, "a"]), json!([40, "c"]), json!([50, "d"])]
    );

    // A scan in key order, and LIMIT.
    let p = pull(&engine, &mut s, "SELECT id, n FROM totals;").await;
    assert_eq!(
        rows(&p),
        vec![
            json!(["a", 2]),
            json!(["b", 1]),
            json!(["c", 1]),
            json!(["d", 1])
        ]
    );
    let p = pull(&engine, &mut s, "SELECT id FROM totals LIMIT 2;").await;
    assert_eq!(rows(&p), vec![json!(["a"]), json!(["b"])]);

    // Later records update the state.
    exec(
        &engine,
        &mut s,
        "INSERT INTO orders (id, region, qty, ROWTIME) VALUES ('b', 'us', 10, 6000);",
    )
    .await;
    idle(&engine).await;
    let p = pull(
        &engine,
        &mut s,
        "SELECT id, n, qty FROM totals WHERE id = 'b';",
    )
    .await;
    assert_eq!(rows(&p), vec![json!(["b", 2, 12])]);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windowed_tables_show_and_filter_window_bounds() {
    let (_log, engine) = setup().await;
    let mut s = Session::default();
    exec(&engine, &mut s, ORDERS).await;
    exec(
        &engine,
        &mut s,
        "CREATE TABLE per_window AS SELECT id, COUNT(*) AS n FROM orders
           WINDOW TUMBLING (SIZE 2 SECONDS) GROUP BY id;",
    )
    .await;
    idle(&engine).await;

    let p = pull(&engine, &mut s, "SELECT * FROM per_window WHERE id = 'a';").await;
    assert_eq!(
        header(&p),
        "`ID` STRING KEY, `WINDOWSTART` BIGINT KEY, `WINDOWEND` BIGINT KEY, `N` BIGINT"
    );
    assert_eq!(
        rows(&p),
        vec![json!(["a", 0, 2000, 1]), json!(["a", 2000, 4000, 1])]
    );
    let p = pull(
        &engine,
        &mut s,
        "SELECT id, WINDOWSTART, n FROM per_window WHERE id = 'a' AND WINDOWSTART >= 1000;",
    )
    .await;
    assert_eq!(rows(&p), vec![json!(["a", 2000, 1])]);
    let p = pull(
        &engine,
        &mut s,
        "SELECT id, n FROM per_window WHERE WINDOWEND = '1970-01-01T00:00:06';",
    )
    .await;
    assert_eq!(sorted(&p), vec![json!(["c", 1]), json!(["d", 1])]);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_tables_are_materialized_and_plain_tables_are_not() {
    let (_log, engine) = setup().await;
    let mut s = Session::default();
    exec(
        &engine,
        &mut s,
        "CREATE TABLE users (id INT PRIMARY KEY, name STRING)
           WITH (kafka_topic='users', value_format='JSON', partitions=1);
         CREATE SOURCE TABLE users_src (id INT PRIMARY KEY, name STRING)
           WITH (kafka_topic='users', value_format='JSON');",
    )
    .await;
    exec(
        &engine,
        &mut s,
        "INSERT INTO users (id, name) VALUES (1, 'ann');
         INSERT INTO users (id, name) VALUES (2, 'bob');
         INSERT INTO users (id, name) VALUES (1, 'anna');",
    )
    .await;
    idle(&engine).await;

    let p = pull(&engine, &mut s, "SELECT * FROM users_src;").await;
    assert_eq!(header(&p), "`ID` INTEGER KEY, `NAME` STRING");
    assert_eq!(rows(&p), vec![json!([1, "anna"]), json!([2, "bob"])]);
    let p = pull(&engine, &mut s, "SELECT name FROM users_src WHERE id = 2;").await;
    assert_eq!(rows(&p), vec![json!(["bob"])]);

    let e = error(&engine, &mut s, "SELECT * FROM users;").await;
    assert!(
        e.contains(
            "The `USERS` table isn't queryable. To derive a queryable table, you can do \
             'CREATE TABLE QUERYABLE_USERS AS SELECT * FROM USERS'."
        ),
        "{e}"
    );

    // Dropping the source table stops its materialization.
    exec(&engine, &mut s, "DROP TABLE users_src;").await;
    let e = error(&engine, &mut s, "SELECT * FROM users_src;").await;
    assert!(e.contains("USERS_SRC does not exist"), "{e}");
    idle(&engine).await;
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tombstones_delete_rows() {
    let (log, engine) = setup().await;
    let mut s = Session::default();
    exec(
        &engine,
        &mut s,
        "CREATE SOURCE TABLE t (k STRING PRIMARY KEY, v INT)
           WITH (kafka_topic='t', value_format='JSON', partitions=1);",
    )
    .await;
    log.append("t", Some(0), Some(b"x"), Some(br#"{"v":1}"#), 1, vec![])
        .expect("append");
    log.append("t", Some(0), Some(b"y"), Some(br#"{"v":2}"#), 2, vec![])
        .expect("append");
    log.append("t", Some(0), Some(b"x"), None, 3, vec![])
        .expect("append");
    idle(&engine).await;
    let p = pull(&engine, &mut s, "SELECT * FROM t;").await;
    assert_eq!(rows(&p), vec![json!(["y", 2])]);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_read_to_their_end() {
    let (_log, engine) = setup().await;
    let mut s = Session::default();
    exec(&engine, &mut s, ORDERS).await;
    let p = pull(
        &engine,
        &mut s,
        "SELECT id, qty FROM orders WHERE region = 'eu';",
    )
    .await;
    assert_eq!(header(&p), "`ID` STRING, `QTY` INTEGER");
    assert_eq!(
        sorted(&p),
        vec![json!(["a", 1]), json!(["a", 3]), json!(["c", 4])]
    );
    assert_eq!(p.final_message, Some("Query Completed"));
    let p = pull(&engine, &mut s, "SELECT * FROM orders LIMIT 2;").await;
    assert_eq!(p.row_count(), 2);
    assert_eq!(p.final_message, Some("Limit Reached"));
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_pull_queries_are_rejected_with_ksqldb_messages() {
    let (_log, engine) = setup().await;
    let mut s = Session::default();
    exec(&engine, &mut s, ORDERS).await;
    exec(
        &engine,
        &mut s,
        "CREATE TABLE totals AS SELECT id, COUNT(*) AS n FROM orders GROUP BY id;",
    )
    .await;
    idle(&engine).await;
    let cases = [
        (
            "SELECT id, COUNT(*) FROM orders GROUP BY id;",
            "Pull queries don't support GROUP BY clauses.",
        ),
        (
            "SELECT *, ROWOFFSET FROM totals;",
            "Pull queries don't support the following columns in SELECT clauses: `ROWOFFSET`",
        ),
        (
            "SELECT * FROM totals WHERE id = 1;",
            "Error in WHERE expression: Cannot compare ID (STRING) to 1 (INTEGER) with EQUAL.",
        ),
        (
            "SELECT * FROM totals WHERE WINDOWSTART > 0;",
            "WHERE column 'WINDOWSTART' cannot be resolved",
        ),
    ];
    for (sql, want) in cases {
        let e = error(&engine, &mut s, sql).await;
        assert!(e.contains(want), "{sql}: {e}");
    }

    exec(
        &engine,
        &mut s,
        "SET 'ksql.query.pull.table.scan.enabled'='false';",
    )
    .await;
    let cases = [
        (
            "SELECT * FROM totals;",
            "Query requires table scan to be enabled",
        ),
        (
            "SELECT * FROM totals WHERE n > 1;",
            "WHERE clause missing key column for disjunct: (N > 1)",
        ),
        (
            "SELECT * FROM totals WHERE id != 'a';",
            "Bound on key columns '[`ID` STRING KEY]' must currently be '='.",
        ),
    ];
    for (sql, want) in cases {
        let e = error(&engine, &mut s, sql).await;
        assert!(e.contains(want), "{sql}: {e}");
    }
    // Key lookups and ranges of a STRING key need no scan.
    let p = pull(&engine, &mut s, "SELECT * FROM totals WHERE id = 'c';").await;
    assert_eq!(rows(&p), vec![json!(["c", 1])]);
    let p = pull(&engine, &mut s, "SELECT id FROM totals WHERE id < 'b';").await;
    assert_eq!(rows(&p), vec![json!(["a"])]);
    engine.shutdown().await;
}

/// Key lookups are planned once per statement shape: the same shape with
/// other keys answers each key, a key its column cannot hold answers no
/// row (not every row), and a table declared again is planned again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_lookups_planned_once_answer_every_key() {
    let (_log, engine) = setup().await;
    let mut s = Session::default();
    let declare = |columns: &str| {
        format!(
            "CREATE SOURCE TABLE users_src ({columns}) WITH (kafka_topic='users', \
             value_format='JSON');"
        )
    };
    exec(
        &engine,
        &mut s,
        "CREATE TABLE users (id INT PRIMARY KEY, name STRING)
           WITH (kafka_topic='users', value_format='JSON', partitions=1);",
    )
    .await;
    exec(&engine, &mut s, &declare("id INT PRIMARY KEY, name STRING")).await;
    for (id, name) in [(1, "ann"), (2, "bob"), (3, "cy")] {
        exec(
            &engine,
            &mut s,
            &format!("INSERT INTO users (id, name) VALUES ({id}, '{name}');"),
        )
        .await;
    }
    idle(&engine).await;
    for (id, name) in [(2, "bob"), (1, "ann"), (3, "cy")] {
        let p = pull(
            &engine,
            &mut s,
            &format!("SELECT name, id FROM users_src WHERE id = {id};"),
        )
        .await;
        assert_eq!(rows(&p), vec![json!([name, id])]);
    }
    let p = pull(&engine, &mut s, "SELECT name FROM users_src WHERE id = 4;").await;
    assert!(rows(&p).is_empty());
    // Beyond INT: no key can match.
    let p = pull(
        &engine,
        &mut s,
        "SELECT name FROM users_src WHERE id = 99999999999;",
    )
    .await;
    assert!(rows(&p).is_empty(), "{:?}", rows(&p));
    let p = pull(
        &engine,
        &mut s,
        "SELECT u.name FROM users_src u WHERE 3 = u.id;",
    )
    .await;
    assert_eq!(rows(&p), vec![json!(["cy"])]);
    let p = pull(
        &engine,
        &mut s,
        "SELECT name FROM users_src WHERE id IN (1, 3, 7);",
    )
    .await;
    assert_eq!(sorted(&p), vec![json!(["ann"]), json!(["cy"])]);
    // A key and another column: the filter still runs.
    let p = pull(
        &engine,
        &mut s,
        "SELECT name FROM users_src WHERE id = 2 AND name = 'zed';",
    )
    .await;
    assert!(rows(&p).is_empty());

    exec(&engine, &mut s, "DROP TABLE users_src;").await;
    idle(&engine).await;
    exec(
        &engine,
        &mut s,
        &declare("id INT PRIMARY KEY, name STRING, extra STRING"),
    )
    .await;
    idle(&engine).await;
    let p = pull(&engine, &mut s, "SELECT * FROM users_src WHERE id = 2;").await;
    assert_eq!(
        header(&p),
        "`ID` INTEGER KEY, `NAME` STRING, `EXTRA` STRING"
    );
    assert_eq!(rows(&p), vec![json!([2, "bob", null])]);
    engine.shutdown().await;
}
