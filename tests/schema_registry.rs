//! The embedded Schema Registry as its clients see it: `sluice server`
//! serves Confluent's REST API on `--schema-registry-listen`; a schema
//! registered over HTTP reads back by id and by subject; and, on a real
//! broker (Tansu, `SLUICE_TANSU_BOOTSTRAP`), subjects, versions, ids and
//! levels survive the server being killed and started again, because they
//! are kept in the `_schemas` topic.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const ORDER: &str = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"int"}]}"#;
const ORDER_V2: &str = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"int"},{"name":"item","type":["null","string"],"default":null}]}"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A `sluice server` process, killed on drop.
struct Server {
    child: Child,
    registry: u16,
    /// The ksqlDB REST API's port.
    ksql: u16,
    /// Lines of its stderr.
    lines: std::sync::mpsc::Receiver<String>,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let ksql = free_port();
        let listen = format!("127.0.0.1:{ksql}");
        let registry = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["server", "--listen", &listen])
            .args(["--schema-registry-listen", &format!("127.0.0.1:{registry}")])
            .args(extra)
            .env("SLUICE_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sluice server");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let server = Server {
            child,
            registry,
            ksql,
            lines,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", registry)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the Schema Registry did not listen on {registry}; stderr:\n{}",
                server.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// What it printed so far.
    fn stderr(&self) -> String {
        self.lines.try_iter().collect::<Vec<_>>().join("\n")
    }

    /// One request to the registry: the status and the JSON answer.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.registry)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Content-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer");
        let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/vnd.schemaregistry.v1+json"),
            "{head}"
        );
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status");
        let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        (status, json)
    }

    /// Runs statements through the ksqlDB REST API (`POST /ksql`): the
    /// status and the JSON answer.
    fn ksql(&self, sql: &str) -> (u16, Value) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut stream = loop {
            match TcpStream::connect(("127.0.0.1", self.ksql)) {
                Ok(s) => break s,
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "the REST API did not listen: {e}"
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let body = json!({"ksql": sql, "streamsProperties": {}}).to_string();
        write!(
            stream,
            "POST /ksql HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer");
        let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status");
        let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        (status, json)
    }

    /// The column names `DESCRIBE name` shows.
    fn columns(&self, name: &str) -> Vec<String> {
        let (status, answer) = self.ksql(&format!("DESCRIBE {name};"));
        assert_eq!(status, 200, "{answer}");
        answer[0]["sourceDescription"]["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .map(|f| f["name"].as_str().expect("a name").to_string())
            .collect()
    }

    fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.call(method, path, body);
        assert_eq!(status, 200, "{method} {path}: {answer}");
        answer
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_stream_takes_its_columns_from_the_registry_and_follows_new_versions() {
    let server = Server::start(&[]);
    server.ok(
        "POST",
        "/subjects/orders-value/versions",
        Some(json!({"schema": ORDER})),
    );
    let create =
        "CREATE STREAM orders WITH (kafka_topic='orders', value_format='AVRO', partitions=1);";
    let (status, answer) = server.ksql(create);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(server.columns("ORDERS"), ["ID"]);
    // SHOW PROPERTIES names the registry, as ksqlDB does.
    let (status, answer) = server.ksql("SHOW PROPERTIES;");
    assert_eq!(status, 200, "{answer}");
    let url = format!("http://127.0.0.1:{}", server.registry);
    assert!(
        answer[0]["properties"].as_array().is_some_and(|ps| ps
            .iter()
            .any(|p| p["name"] == "ksql.schema.registry.url" && p["value"] == url.as_str())),
        "{answer}"
    );
    // A compatible new version (a field with a default) is accepted; the
    // stream re-reads the subject when it is replaced.
    server.ok(
        "POST",
        "/subjects/orders-value/versions",
        Some(json!({"schema": ORDER_V2})),
    );
    let (status, answer) = server
        .ksql("CREATE OR REPLACE STREAM orders WITH (kafka_topic='orders', value_format='AVRO');");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(server.columns("ORDERS"), ["ID", "ITEM"]);
    // An incompatible one is refused, saying why.
    let broken = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}"#;
    let (status, error) = server.call(
        "POST",
        "/subjects/orders-value/versions",
        Some(json!({"schema": broken})),
    );
    assert_eq!((status, &error["error_code"]), (409, &json!(409)));
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("'id'")),
        "{error}"
    );
    // A topic with no schema is named in the error.
    let (status, answer) = server.ksql(
        "CREATE STREAM nothing WITH (kafka_topic='nothing', value_format='AVRO', partitions=1);",
    );
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("does not exist in the Schema Registry")),
        "{answer}"
    );
}

#[test]
fn schemas_registered_over_http_read_back_by_id_and_subject() {
    let server = Server::start(&[]);
    let id = server.ok(
        "POST",
        "/subjects/orders-value/versions",
        Some(json!({"schema": ORDER})),
    )["id"]
        .as_i64()
        .expect("an id");
    assert_eq!(
        server.ok("GET", &format!("/schemas/ids/{id}"), None),
        json!({"schema": ORDER})
    );
    assert_eq!(
        server.ok("GET", "/subjects/orders-value/versions/latest", None),
        json!({"subject": "orders-value", "version": 1, "id": id, "schema": ORDER})
    );
    assert_eq!(server.ok("GET", "/subjects", None), json!(["orders-value"]));
    let (status, error) = server.call("GET", "/subjects/nope/versions/latest", None);
    assert_eq!((status, &error["error_code"]), (404, &json!(40401)));
    let stderr = server.stderr();
    assert!(
        stderr.contains(&format!(
            "Schema Registry: http://127.0.0.1:{}",
            server.registry
        )),
        "{stderr}"
    );
}

#[test]
fn schema_ids_survive_a_restart_through_tansu() {
    let test = "schema_ids_survive_a_restart_through_tansu";
    if common::tansu_broker(test).is_none() {
        return;
    }
    let bootstrap = std::env::var("SLUICE_TANSU_BOOTSTRAP").expect("the Tansu address");
    let run = uuid::Uuid::new_v4().simple().to_string();
    let subject = format!("sr_{run}-value");
    let service = format!("sr_{run}_");
    let args = [
        "--bootstrap-servers",
        bootstrap.as_str(),
        "--service-id",
        service.as_str(),
    ];
    let versions = format!("/subjects/{subject}/versions");

    let first = Server::start(&args);
    let v1 = first.ok("POST", &versions, Some(json!({"schema": ORDER})))["id"].clone();
    first.ok(
        "PUT",
        &format!("/config/{subject}"),
        Some(json!({"compatibility": "NONE"})),
    );
    let v2 = first.ok("POST", &versions, Some(json!({"schema": ORDER_V2})))["id"].clone();
    drop(first); // SIGKILL: what was answered was acknowledged by the broker

    let second = Server::start(&args);
    assert_eq!(second.ok("GET", &versions, None), json!([1, 2]));
    assert_eq!(
        second.ok("GET", &format!("{versions}/1"), None),
        json!({"subject": subject, "version": 1, "id": v1, "schema": ORDER})
    );
    assert_eq!(
        second.ok("GET", &format!("/schemas/ids/{v2}"), None),
        json!({"schema": ORDER_V2})
    );
    assert_eq!(
        second.ok("GET", &format!("/config/{subject}"), None),
        json!({"compatibilityLevel": "NONE"})
    );
    // Registering the same schema again keeps its id; a new one gets an
    // id never given before.
    assert_eq!(
        second.ok("POST", &versions, Some(json!({"schema": ORDER})))["id"],
        v1
    );
    let v3 = second.ok(
        "POST",
        &versions,
        Some(json!({"schema": r#"{"type":"string"}"#})),
    )["id"]
        .as_i64()
        .expect("an id");
    assert!(v3 > v2.as_i64().expect("an id"), "a new id {v3} after {v2}");
}
