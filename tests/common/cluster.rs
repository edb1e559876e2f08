//! Processes for the multi-process tests: a Tansu broker with its own
//! storage, `sluice server` processes that can be killed with SIGKILL and
//! started again, and waiting on conditions with deadlines.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, ThreadedProducer};
use serde_json::{json, Value};
use sluice::shell::remote::RemoteServer;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn wait_for_port(port: u16, deadline: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A Tansu broker process with sqlite storage in its own directory.
pub struct Tansu {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
    /// The broker's executable: `tansu`, or `nisshi` (its successor, with
    /// EndTxn).
    binary: &'static str,
    /// The port the broker tells clients to use (a TLS terminator's, in
    /// front of it), when not its own.
    pub advertised_port: Option<u16>,
    /// More arguments of `tansu broker` (`--authentication`).
    pub extra_args: Vec<String>,
}

impl Tansu {
    pub fn start() -> Option<Tansu> {
        Self::start_binary("tansu")
    }

    /// Tansu, or `None` after reporting `test` as SKIPPED.
    pub fn start_or_skip(test: &str) -> Option<Tansu> {
        let tansu = Self::start();
        if tansu.is_none() {
            crate::common::skipped(
                test,
                "the tansu broker is not installed (scripts/test.sh installs it)",
            );
        }
        tansu
    }

    /// A broker of `binary` (`tansu` or `nisshi`, which take the same
    /// arguments), `None` when it is not installed.
    pub fn start_binary(binary: &'static str) -> Option<Tansu> {
        let found = Command::new(binary)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found {
            return None;
        }
        let mut t = Tansu {
            dir: tempfile::tempdir().expect("temp dir"),
            port: free_port(),
            child: None,
            binary,
            advertised_port: None,
            extra_args: Vec::new(),
        };
        t.resume();
        Some(t)
    }

    /// Stops the broker and starts it again on the same storage with
    /// these arguments and advertised port.
    pub fn restart_with(&mut self, extra_args: &[&str], advertised_port: Option<u16>) {
        self.stop();
        self.extra_args = extra_args.iter().map(|a| a.to_string()).collect();
        self.advertised_port = advertised_port;
        self.resume();
    }

    /// The executable (`tansu` or `nisshi`).
    pub fn binary(&self) -> &'static str {
        self.binary
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker (again) on the same storage.
    pub fn resume(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let advertised = format!(
            "tcp://127.0.0.1:{}",
            self.advertised_port.unwrap_or(self.port)
        );
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("tansu.log"))
            .expect("log file");
        let child = Command::new(self.binary)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .args(&self.extra_args)
            .current_dir(self.dir.path())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        assert!(
            wait_for_port(self.port, Duration::from_secs(30)),
            "Tansu did not listen on {}",
            self.port
        );
    }

    /// Stops the broker process.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `sluice server` process.
pub struct Server {
    pub args: Vec<String>,
    pub port: u16,
    child: Option<Child>,
    log: PathBuf,
    pub starts: usize,
    /// More environment variables of the process.
    pub envs: Vec<(String, String)>,
}

impl Server {
    pub fn start(bootstrap: &str, service_id: &str, dir: &std::path::Path) -> Server {
        Self::start_as(bootstrap, service_id, dir, service_id)
    }

    /// A server of `service_id` logging to `sluice-<name>.log`.
    pub fn start_as(
        bootstrap: &str,
        service_id: &str,
        dir: &std::path::Path,
        name: &str,
    ) -> Server {
        let port = free_port();
        let args = [
            "--bootstrap-servers",
            bootstrap,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--service-id",
            service_id,
        ];
        Self::launched(&args, port, dir, name, &[])
    }

    /// `sluice server --config FILE` on `port` (the file's listener).
    pub fn with_config(
        config: &std::path::Path,
        port: u16,
        name: &str,
        envs: &[(&str, &str)],
    ) -> Server {
        let dir = config.parent().expect("the config file's directory");
        let args = ["--config", &config.display().to_string()];
        Self::launched(&args, port, dir, name, envs)
    }

    /// `sluice server ARGS` (without its own Schema Registry), started.
    fn launched(
        args: &[&str],
        port: u16,
        dir: &std::path::Path,
        name: &str,
        envs: &[(&str, &str)],
    ) -> Server {
        let mut all = vec!["server".to_string()];
        all.extend(args.iter().map(|a| a.to_string()));
        all.extend(["--schema-registry-listen".to_string(), "off".to_string()]);
        let mut s = Server {
            args: all,
            port,
            child: None,
            log: dir.join(format!("sluice-{name}.log")),
            starts: 0,
            envs: envs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        s.launch();
        s
    }

    pub fn launch(&mut self) {
        self.starts += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .env("SLUICE_LOG", "info")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start sluice");
        self.child = Some(child);
        assert!(
            wait_for_port(self.port, Duration::from_secs(60)),
            "sluice server did not listen; its log:\n{}",
            self.log_text()
        );
    }

    /// SIGKILL, then the same command again.
    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("kill -9");
            let _ = c.wait();
        }
    }

    pub fn kill_and_restart(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("kill -9");
            let _ = c.wait();
        }
        self.launch();
    }

    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn remote(&self) -> RemoteServer {
        RemoteServer::parse(&format!("http://127.0.0.1:{}", self.port)).expect("url")
    }

    pub async fn ksql(&self, sql: &str) -> Value {
        self.ksql_with(sql, json!({"auto.offset.reset": "earliest"}))
            .await
    }

    /// A statement with these session properties.
    pub async fn ksql_with(&self, sql: &str, properties: Value) -> Value {
        let body = json!({
            "ksql": sql,
            "streamsProperties": properties
        });
        match self.remote().post_json("/ksql", &body).await {
            Ok(v) => v,
            Err(e) => panic!("{sql}\nfailed: {e}\nserver log:\n{}", self.log_text()),
        }
    }

    /// `GET path` with Basic credentials, its JSON body.
    pub fn get_with_auth(&self, path: &str, user: &str, password: &str) -> Value {
        let authorization = sluice::net::basic_authorization(user, password);
        self.get_with(path, &format!("Authorization: {authorization}\r\n"))
    }

    /// `GET path`, its JSON body.
    pub fn get(&self, path: &str) -> Value {
        self.get_with(path, "")
    }

    fn get_with(&self, path: &str, headers: &str) -> Value {
        use std::io::{Read, Write};
        let mut stream =
            std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect to the server");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n"
        )
        .expect("request");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer");
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default();
        serde_json::from_str(body).unwrap_or_else(|e| panic!("GET {path}: {e}: {answer}"))
    }

    pub async fn pull(&self, sql: &str) -> Result<Value, String> {
        let body = json!({
            "ksql": sql,
            "streamsProperties": {"ksql.query.pull.table.scan.enabled": "true"}
        });
        self.remote()
            .post_json("/query", &body)
            .await
            .map_err(|e| e.to_string())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Creates a topic with `partitions` partitions.
pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin");
    let t = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let results = admin
        .create_topics([&t], &AdminOptions::new())
        .await
        .expect("create topic");
    for r in results {
        r.expect("topic created");
    }
}

pub fn wait_until(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Hands a record to the producer, waiting while its queue is full.
pub fn send<K, V>(producer: &ThreadedProducer<DefaultProducerContext>, record: BaseRecord<'_, K, V>)
where
    K: rdkafka::message::ToBytes + ?Sized,
    V: rdkafka::message::ToBytes + ?Sized,
{
    let mut r = record;
    loop {
        match producer.send(r) {
            Ok(()) => return,
            Err((_, back)) => {
                r = back;
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// A keyed record of a load: key, value, and a timestamp (`None`: the
/// producer's clock).
pub type LoadRecord = (String, String, Option<i64>);

/// Writes records `0..count` (`make(i)`) in bursts of `burst`, one burst
/// every `pause`, counting what was handed to the producer; idempotent,
/// murmur2-partitioned (as Java clients do), riding out broker outages
/// (librdkafka retries).
pub fn start_load(
    bootstrap: String,
    topic: String,
    (count, burst, pause): (usize, usize, Duration),
    sent: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    make: impl Fn(usize) -> LoadRecord + Send + 'static,
) -> std::thread::JoinHandle<()> {
    use rdkafka::producer::Producer;
    std::thread::spawn(move || {
        let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("enable.idempotence", "true")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5")
            .create()
            .expect("producer");
        for first in (0..count).step_by(burst) {
            for i in first..(first + burst).min(count) {
                let (key, value, ts) = make(i);
                let mut record = BaseRecord::to(&topic).key(&key).payload(&value);
                if let Some(ts) = ts {
                    record = record.timestamp(ts);
                }
                send(&producer, record);
                sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            std::thread::sleep(pause);
        }
        producer
            .flush(Duration::from_secs(120))
            .expect("every input record acknowledged");
    })
}
