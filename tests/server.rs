//! The REST API (`sluice::server`) driven with `tower::ServiceExt::oneshot`
//! over an engine on the in-memory log: ksqlDB's request and response
//! shapes, streaming queries, inserts, and errors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, BodyDataStream};
use axum::http::{header, Request, StatusCode};
use axum::Router;
use futures::future::BoxFuture;
use futures::StreamExt;
use serde_json::{json, Value};
use sluice::config::Config;
use sluice::engine::Engine;
use sluice::runtime::io::{Broker, RawBatch, ReaderSpec, TopicAdmin, TopicReader, TopicWriter};
use sluice::runtime::memory::MemoryBroker;
use sluice::server::{router, ServerState};
use tower::ServiceExt;

/// The in-memory log, counting the readers alive (one per running query).
struct CountingBroker {
    log: Arc<MemoryBroker>,
    readers: Arc<AtomicUsize>,
}

struct CountedReader {
    inner: Box<dyn TopicReader>,
    readers: Arc<AtomicUsize>,
}

impl Drop for CountedReader {
    fn drop(&mut self) {
        self.readers.fetch_sub(1, Ordering::SeqCst);
    }
}

impl TopicReader for CountedReader {
    fn poll(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> BoxFuture<'_, sluice::error::Result<RawBatch>> {
        self.inner.poll(max, wait)
    }
    fn commit<'a>(
        &'a mut self,
        offsets: &'a [sluice::runtime::io::CommitPosition],
    ) -> BoxFuture<'a, sluice::error::Result<()>> {
        self.inner.commit(offsets)
    }
    fn caught_up(&self) -> bool {
        self.inner.caught_up()
    }
    fn input_caught_up(&self, input: usize) -> bool {
        self.inner.input_caught_up(input)
    }
    fn partition_caught_up(&self, input: usize, partition: i32) -> bool {
        self.inner.partition_caught_up(input, partition)
    }
    fn assignment(&mut self) -> Option<Vec<i32>> {
        self.inner.assignment()
    }
}

impl Broker for CountingBroker {
    fn reader(&self, spec: &ReaderSpec) -> sluice::error::Result<Box<dyn TopicReader>> {
        let inner = self.log.reader(spec)?;
        self.readers.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(CountedReader {
            inner,
            readers: Arc::clone(&self.readers),
        }))
    }
    fn writer(&self, topic: &str) -> sluice::error::Result<Box<dyn TopicWriter>> {
        self.log.writer(topic)
    }
    fn read_partitions(
        &self,
        topic: &str,
        partitions: &[i32],
    ) -> sluice::error::Result<Box<dyn sluice::runtime::io::PartitionReader>> {
        self.log.read_partitions(topic, partitions)
    }
    fn admin(&self) -> &dyn TopicAdmin {
        self.log.admin()
    }
    fn address(&self) -> String {
        self.log.address()
    }
}

struct Server {
    app: Router,
    state: Arc<ServerState>,
    log: Arc<MemoryBroker>,
    readers: Arc<AtomicUsize>,
}

/// A server over a fresh engine; new queries start at the latest offsets
/// (ksqlDB's default) unless a request says otherwise.
async fn server() -> Server {
    let log = MemoryBroker::new();
    let readers = Arc::new(AtomicUsize::new(0));
    let broker: Arc<dyn Broker> = Arc::new(CountingBroker {
        log: Arc::clone(&log),
        readers: Arc::clone(&readers),
    });
    let engine = Engine::new(broker, Config::default())
        .await
        .expect("engine");
    let state = ServerState::new(engine);
    Server {
        app: router(Arc::clone(&state)),
        state,
        log,
        readers,
    }
}

impl Server {
    async fn send(&self, request: Request<Body>) -> (StatusCode, String, String) {
        let response = self.app.clone().oneshot(request).await.expect("response");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (
            status,
            content_type,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    async fn post(
        &self,
        path: &str,
        body: &str,
        accept: Option<&str>,
    ) -> (StatusCode, String, String) {
        let mut request =
            Request::post(path).header(header::CONTENT_TYPE, "application/vnd.ksql.v1+json");
        if let Some(a) = accept {
            request = request.header(header::ACCEPT, a);
        }
        self.send(request.body(Body::from(body.to_string())).expect("request"))
            .await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (status, _, body) = self
            .send(Request::get(path).body(Body::empty()).expect("request"))
            .await;
        (status, serde_json::from_str(&body).expect("JSON"))
    }

    /// POST /ksql; the parsed answer.
    async fn ksql(&self, sql: &str) -> (StatusCode, Value) {
        let (status, _, body) = self
            .post("/ksql", &json!({"ksql": sql}).to_string(), None)
            .await;
        (
            status,
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")),
        )
    }

    /// POST /ksql that must succeed.
    async fn ok(&self, sql: &str) -> Vec<Value> {
        let (status, body) = self.ksql(sql).await;
        assert_eq!(status, StatusCode::OK, "{sql}: {body}");
        body.as_array().expect("an array").clone()
    }

    /// Starts a streaming request and returns its body as a stream.
    async fn open(&self, path: &str, body: Value, accept: Option<&str>) -> BodyDataStream {
        let mut request = Request::post(path);
        if let Some(a) = accept {
            request = request.header(header::ACCEPT, a);
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(Body::from(body.to_string())).expect("request"))
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::OK);
        response.into_body().into_data_stream()
    }

    async fn wait_readers(&self, expected: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.readers.load(Ordering::SeqCst) != expected {
            assert!(
                Instant::now() < deadline,
                "{} readers still open, expected {expected}",
                self.readers.load(Ordering::SeqCst)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

const ORDERS: &str =
    "CREATE STREAM orders (id INT KEY, item STRING, amount DECIMAL(6, 2), at TIMESTAMP) \
     WITH (kafka_topic='orders', value_format='json', partitions=1);";

async fn with_orders() -> Server {
    let s = server().await;
    s.ok(ORDERS).await;
    s.ok("INSERT INTO orders (id, item, amount, at) VALUES (1, 'apple', 1.50, '2020-01-01T04:40:34.789');
          INSERT INTO orders (id, item, amount, at) VALUES (2, 'pear', 20.00, '2021-06-01T00:00:00.000');
          INSERT INTO orders (id, item, amount, at) VALUES (3, 'fig', 0.25, '2022-01-01T00:00:00.000');")
        .await;
    s
}

/// A JSON value with its numbers exactly as written (DECIMALs keep their
/// scale: `1.50` is not `1.5`).
fn exact(text: &str) -> Value {
    serde_json::from_str(text).expect("json")
}

const EARLIEST: &str = r#"{"auto.offset.reset": "earliest"}"#;

fn earliest() -> Value {
    serde_json::from_str(EARLIEST).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_answer_with_ksqldb_entities() {
    let s = server().await;
    let created = s.ok(ORDERS).await;
    assert_eq!(created.len(), 1);
    let c = &created[0];
    assert_eq!(c["@type"], "currentStatus");
    assert_eq!(c["commandId"], "stream/`ORDERS`/create");
    assert_eq!(c["commandStatus"]["status"], "SUCCESS");
    assert_eq!(c["commandStatus"]["message"], "Stream created");
    assert_eq!(c["statementText"], ORDERS);
    assert!(c["commandSequenceNumber"].as_i64().is_some());

    // INSERT VALUES has no entity, as in ksqlDB.
    let inserted = s
        .ok("INSERT INTO orders (id, item, amount) VALUES (1, 'apple', 1.5);")
        .await;
    assert!(inserted.is_empty(), "{inserted:?}");
    assert_eq!(s.log.records("orders").expect("records").len(), 1);

    let listed = s.ok("SHOW STREAMS; SHOW TOPICS;").await;
    assert_eq!(listed[0]["@type"], "streams");
    assert!(
        listed[0]["streams"].as_array().expect("streams").contains(
            &json!({"type": "STREAM", "name": "ORDERS", "topic": "orders",
                "keyFormat": "KAFKA", "valueFormat": "JSON", "isWindowed": false})
        ),
        "{listed:?}"
    );
    assert_eq!(listed[1]["@type"], "kafka_topics");
    let topics = listed[1]["topics"].as_array().expect("topics");
    assert!(
        topics.contains(&json!({"name": "orders", "replicaInfo": [1]})),
        "{topics:?}"
    );

    let started = s
        .ok("CREATE STREAM big AS SELECT id, amount FROM orders WHERE amount > 10;")
        .await;
    let query_id = started[0]["commandStatus"]["queryId"]
        .as_str()
        .expect("query id")
        .to_string();
    assert_eq!(started[0]["commandId"], "stream/`BIG`/create");
    assert_eq!(
        started[0]["commandStatus"]["message"],
        format!("Created query with ID {query_id}")
    );

    let queries = s.ok("SHOW QUERIES;").await;
    assert_eq!(queries[0]["@type"], "queries");
    let q = &queries[0]["queries"][0];
    assert_eq!(q["id"], query_id.as_str());
    assert_eq!(q["sinks"], json!(["BIG"]));
    assert_eq!(q["queryType"], "PERSISTENT");
    assert_eq!(q["state"], "RUNNING");

    let described = s.ok("DESCRIBE orders;").await;
    let d = &described[0]["sourceDescription"];
    assert_eq!(described[0]["@type"], "sourceDescription");
    assert_eq!(d["name"], "ORDERS");
    assert_eq!(d["type"], "STREAM");
    assert_eq!(d["topic"], "orders");
    assert_eq!(
        d["fields"][0],
        json!({"name": "ID", "schema": {"type": "INTEGER", "fields": null, "memberSchema": null},
               "fieldType": "KEY"})
    );
    assert_eq!(
        d["fields"][2]["schema"]["parameters"],
        json!({"precision": 6, "scale": 2})
    );
    assert_eq!(d["readQueries"][0]["id"], query_id.as_str());

    let explained = s.ok(&format!("EXPLAIN {query_id};")).await;
    assert_eq!(explained[0]["@type"], "queryDescription");
    assert_eq!(explained[0]["queryDescription"]["id"], query_id.as_str());

    let properties = s.ok("SHOW PROPERTIES;").await;
    assert_eq!(properties[0]["@type"], "properties");

    let (status, statuses) = s.get("/status").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        statuses["commandStatuses"]["stream/`ORDERS`/create"],
        "SUCCESS"
    );
    let (status, one) = s.get("/status/stream/ORDERS/create").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["status"], "SUCCESS");

    let dropped = s
        .ok(&format!("TERMINATE {query_id}; DROP STREAM big;"))
        .await;
    assert_eq!(
        dropped[0]["commandId"],
        format!("terminate/{query_id}/execute")
    );
    assert_eq!(dropped[1]["commandId"], "stream/`BIG`/drop");
    s.state.engine().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_properties_and_variables_apply_to_the_request() {
    let s = server().await;
    let body = json!({
        "ksql": "CREATE STREAM s (v INT) WITH (kafka_topic='${topic}', value_format='json', partitions=1);",
        "sessionVariables": {"topic": "from_variable"},
    });
    let (status, _, text) = s.post("/ksql", &body.to_string(), None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let listed = s.ok("DESCRIBE s;").await;
    assert_eq!(listed[0]["sourceDescription"]["topic"], "from_variable");

    let body =
        json!({"ksql": "SHOW PROPERTIES;", "streamsProperties": {"auto.offset.reset": "earliest"}});
    let (_, _, text) = s.post("/ksql", &body.to_string(), None).await;
    let answer: Value = serde_json::from_str(&text).expect("json");
    assert!(
        answer[0]["properties"]
            .as_array()
            .expect("properties")
            .contains(
                &json!({"name": "auto.offset.reset", "scope": "SESSION", "value": "earliest"})
            ),
        "{answer}"
    );
    assert_eq!(
        answer[0]["overwrittenProperties"],
        json!(["auto.offset.reset"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_query_with_limit_over_query() {
    let s = with_orders().await;
    let body = json!({
        "ksql": "SELECT id, item, amount, at FROM orders EMIT CHANGES LIMIT 2;",
        "streamsProperties": earliest(),
    });
    let (status, content_type, text) = s.post("/query", &body.to_string(), None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(content_type, "application/vnd.ksql.v1+json");
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[1].starts_with(r#"{"row":"#), "{text}");
    let answer: Value = serde_json::from_str(&text).expect("one JSON array");
    let header = &answer[0]["header"];
    assert!(header["queryId"]
        .as_str()
        .expect("id")
        .starts_with("transient_ORDERS_"));
    assert_eq!(
        header["schema"],
        "`ID` INTEGER, `ITEM` STRING, `AMOUNT` DECIMAL(6, 2), `AT` TIMESTAMP"
    );
    assert_eq!(
        answer[1],
        exact(r#"{"row": {"columns": [1, "apple", 1.50, "2020-01-01T04:40:34.789"]}}"#)
    );
    assert!(
        text.contains(r#"[1,"apple",1.50,"2020-01-01T04:40:34.789"]"#),
        "{text}"
    );
    assert_eq!(answer[2]["row"]["columns"][1], "pear");
    assert_eq!(answer[3], json!({"finalMessage": "Limit Reached"}));
    s.wait_readers(0).await;
    assert!(s.state.running_push_queries().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_query_over_query_stream_in_both_formats() {
    let s = with_orders().await;
    let body = json!({"sql": "SELECT item, amount FROM orders EMIT CHANGES LIMIT 3;", "properties": earliest()});

    let (status, content_type, text) = s.post("/query-stream", &body.to_string(), None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(content_type, "application/vnd.ksqlapi.delimited.v1");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0]["columnNames"], json!(["ITEM", "AMOUNT"]));
    assert_eq!(lines[0]["columnTypes"], json!(["STRING", "DECIMAL(6, 2)"]));
    assert!(lines[0]["queryId"].as_str().is_some());
    assert_eq!(lines[1], exact(r#"["apple", 1.50]"#));
    assert_eq!(lines[3], exact(r#"["fig", 0.25]"#));

    let (status, content_type, text) = s
        .post("/query-stream", &body.to_string(), Some("application/json"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(answer[0]["columnNames"], json!(["ITEM", "AMOUNT"]));
    assert_eq!(answer.as_array().map(Vec::len), Some(4));
    assert_eq!(answer[2], exact(r#"["pear", 20.00]"#));

    // The versioned JSON type gets /query's shape.
    let (_, _, text) = s
        .post(
            "/query-stream",
            &body.to_string(),
            Some("application/vnd.ksql.v1+json"),
        )
        .await;
    let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(answer[4], json!({"finalMessage": "Limit Reached"}));
    s.wait_readers(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_query_ends_the_push_query_and_frees_its_consumer() {
    let s = with_orders().await;
    let mut stream = s
        .open(
            "/query-stream",
            json!({"sql": "SELECT * FROM orders EMIT CHANGES;", "properties": earliest()}),
            None,
        )
        .await;
    let first = stream.next().await.expect("header").expect("bytes");
    let header: Value = serde_json::from_slice(&first).expect("header line");
    let id = header["queryId"].as_str().expect("query id").to_string();
    assert_eq!(s.state.running_push_queries(), vec![id.clone()]);
    assert_eq!(s.readers.load(Ordering::SeqCst), 1);

    let (status, _, text) = s
        .post("/close-query", &json!({"queryId": id}).to_string(), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.is_empty());
    // The stream ends (after the rows already sent, if any).
    let rest = tokio::time::timeout(Duration::from_secs(10), async {
        let mut rest = Vec::new();
        while let Some(chunk) = stream.next().await {
            rest.extend_from_slice(&chunk.expect("bytes"));
        }
        rest
    })
    .await
    .expect("the stream ends after close-query");
    for line in String::from_utf8_lossy(&rest).lines() {
        let row: Value = serde_json::from_str(line).expect("row");
        assert!(row.is_array(), "{line}");
    }
    drop(stream);
    assert!(s.state.running_push_queries().is_empty());
    s.wait_readers(0).await;

    let (status, _, text) = s
        .post("/close-query", &json!({"queryId": id}).to_string(), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("No query with id"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_ends_its_push_query() {
    let s = with_orders().await;
    for (path, body) in [
        (
            "/query",
            json!({"ksql": "SELECT * FROM orders EMIT CHANGES;", "streamsProperties": earliest()}),
        ),
        (
            "/query-stream",
            json!({"sql": "SELECT * FROM orders EMIT CHANGES;", "properties": earliest()}),
        ),
    ] {
        let mut stream = s.open(path, body, None).await;
        let header = stream.next().await.expect("header").expect("bytes");
        assert!(!header.is_empty());
        assert_eq!(s.state.running_push_queries().len(), 1);
        assert_eq!(s.readers.load(Ordering::SeqCst), 1);
        drop(stream);
        assert!(s.state.running_push_queries().is_empty());
        // The query's task ends and drops its consumer.
        s.wait_readers(0).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn print_streams_records_as_lines() {
    let s = with_orders().await;
    let body = json!({"ksql": "PRINT 'orders' FROM BEGINNING LIMIT 2;"});
    let (status, _, text) = s.post("/query", &body.to_string(), None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("rowtime: "), "{text}");
    assert!(lines[0].contains("key: 1,"), "{text}");
    assert!(lines[0].contains(r#""ITEM":"apple""#), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_stream_acks_each_row() {
    let s = server().await;
    s.ok(ORDERS).await;
    let body = [
        r#"{"target": "orders"}"#,
        r#"{"ID": 7, "ITEM": "plum", "AMOUNT": 3.25, "ROWTIME": 1000}"#,
        r#"{"id": 8, "item": "kiwi"}"#,
        r#"{"id": "not a number"}"#,
        r#"not json"#,
        r#"{"id": 9, "amount": "1.5"}"#,
    ]
    .join("\n");
    let (status, content_type, text) = s.post("/inserts-stream", &body, None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(content_type, "application/vnd.ksqlapi.delimited.v1");
    let acks: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("ack"))
        .collect();
    assert_eq!(acks.len(), 5, "{text}");
    assert_eq!(acks[0], json!({"status": "ok", "seq": 0}));
    assert_eq!(acks[1], json!({"status": "ok", "seq": 1}));
    assert_eq!(acks[2]["status"], "error");
    assert_eq!(acks[2]["seq"], 2);
    assert_eq!(acks[2]["error_code"], 40000);
    assert!(
        acks[2]["message"].as_str().expect("message").contains("ID"),
        "{text}"
    );
    assert_eq!(acks[3]["status"], "error");
    assert_eq!(acks[4], json!({"status": "ok", "seq": 4}));

    let records = s.log.records("orders").expect("records");
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].1.timestamp, 1000);
    assert_eq!(
        records[0].1.value.as_deref(),
        Some(&br#"{"ITEM":"plum","AMOUNT":3.25,"AT":null}"#[..])
    );

    let (status, _, text) = s
        .post(
            "/inserts-stream",
            "{\"target\": \"orders\"}\n{\"id\": 1}",
            Some("application/json"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("array"),
        json!([{"status": "ok", "seq": 0}])
    );

    let (status, _, text) = s
        .post("/inserts-stream", "{\"target\": \"nope\"}\n{}", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("NOPE"), "{text}");
    let (status, _, text) = s
        .post("/inserts-stream", "{\"stream\": \"orders\"}\n", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("'target'"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_ksqldb_error_objects_with_messages() {
    let s = server().await;
    s.ok(ORDERS).await;

    // A bad statement: 400, statement_error, and the entities of the
    // statements before it.
    let (status, e) = s
        .ksql("SHOW STREAMS; CREATE STREAM x AS SELECT id, amountt FROM orders;")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["@type"], "statement_error");
    assert_eq!(e["error_code"], 40001);
    let message = e["message"].as_str().expect("message");
    assert!(message.contains("AMOUNTT"), "{message}");
    assert_eq!(
        e["statementText"],
        "CREATE STREAM x AS SELECT id, amountt FROM orders;"
    );
    assert_eq!(e["entities"][0]["@type"], "streams");

    let (status, e) = s.ksql("CREATE STREM x (a INT);").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        e["message"].as_str().expect("message").contains("line 1:"),
        "{e}"
    );

    // Queries belong to /query.
    let (status, e) = s.ksql("SELECT * FROM orders EMIT CHANGES;").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["error_code"], 40002);
    assert!(
        e["message"].as_str().expect("message").contains("/query"),
        "{e}"
    );

    // And statements do not belong to /query.
    let (status, _, text) = s
        .post(
            "/query",
            &json!({"ksql": "SHOW STREAMS;"}).to_string(),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let (status, _, text) = s
        .post(
            "/query",
            &json!({"ksql": "SELECT * FROM nope EMIT CHANGES;"}).to_string(),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("NOPE does not exist"), "{text}");

    // Malformed bodies.
    for (path, body, expected) in [
        ("/ksql", "{\"ksql\": ", "not valid JSON"),
        ("/ksql", "[1, 2]", "JSON object"),
        ("/ksql", "{}", "'ksql'"),
        ("/ksql", "{\"ksql\": 42}", "Invalid request body"),
        ("/ksql", "", "empty"),
        ("/query", "{\"sql\": \"SELECT 1;\"}", "'ksql'"),
        ("/query-stream", "{\"ksql\": \"SELECT 1;\"}", "'sql'"),
        ("/close-query", "{}", "'queryId'"),
    ] {
        let (status, content_type, text) = s.post(path, body, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {text}");
        assert_eq!(content_type, "application/json");
        let e: Value = serde_json::from_str(&text).expect("error JSON");
        assert_eq!(e["@type"], "generic_error", "{text}");
        assert_eq!(e["error_code"], 40000);
        assert!(
            e["message"].as_str().expect("message").contains(expected),
            "{path} {body}: {text}"
        );
    }

    let (status, e) = s.get("/no-such-endpoint").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(e["error_code"], 40400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_and_healthcheck() {
    let s = server().await;
    let (status, info) = s.get("/info").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["KsqlServerInfo"]["serverStatus"], "RUNNING");
    assert_eq!(info["KsqlServerInfo"]["ksqlServiceId"], "default_");
    assert!(info["KsqlServerInfo"]["version"].as_str().is_some());
    let (status, health) = s.get("/healthcheck").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["isHealthy"], true);
    assert_eq!(health["details"]["kafka"]["isHealthy"], true);

    s.state.begin_shutdown();
    let (status, e) = s.ksql("SHOW STREAMS;").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(e["error_code"], 50303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_queries_answer_over_query_and_query_stream() {
    let s = with_orders().await;
    let ctas = json!({
        "ksql": "CREATE TABLE items AS SELECT item, COUNT(*) AS n FROM orders GROUP BY item;",
        "streamsProperties": earliest(),
    });
    let (status, _, text) = s.post("/ksql", &ctas.to_string(), None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(s.state.engine().wait_idle(Duration::from_secs(20)).await);

    // A table: the header marks the key; the rows end the response.
    let body = json!({"ksql": "SELECT * FROM items WHERE item = 'pear';"});
    let (status, _, text) = s.post("/query", &body.to_string(), None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(
        answer[0]["header"]["schema"],
        json!("`ITEM` STRING KEY, `N` BIGINT")
    );
    assert_eq!(answer[1], json!({"row": {"columns": ["pear", 1]}}));
    assert_eq!(answer.as_array().map(Vec::len), Some(2), "{text}");

    let body = json!({"sql": "SELECT item, n FROM items;"});
    let (status, _, text) = s.post("/query-stream", &body.to_string(), None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines[0]["columnNames"], json!(["ITEM", "N"]));
    assert_eq!(
        &lines[1..],
        &[json!(["apple", 1]), json!(["fig", 1]), json!(["pear", 1])]
    );

    // A stream: read to its end, then "Query Completed".
    let body = json!({"ksql": "SELECT id FROM orders;"});
    let (_, _, text) = s.post("/query", &body.to_string(), None).await;
    let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(answer[0]["header"]["schema"], json!("`ID` INTEGER"));
    assert_eq!(answer.as_array().map(Vec::len), Some(5), "{text}");
    assert_eq!(answer[4], json!({"finalMessage": "Query Completed"}));

    // A table declared over a topic has no state to query.
    s.ok("CREATE TABLE plain (id INT PRIMARY KEY, v STRING) WITH (kafka_topic='orders', value_format='json');")
        .await;
    let body = json!({"ksql": "SELECT * FROM plain;"});
    let (status, _, text) = s.post("/query", &body.to_string(), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("The `PLAIN` table isn't queryable"), "{text}");
}
