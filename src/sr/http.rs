//! [`HttpRegistry`]: an external Confluent-compatible Schema Registry
//! (`--schema-registry http://host:port`).
//!
//! The [`SchemaRegistry`] trait is synchronous and is called from tokio
//! workers, so the client is a small blocking HTTP/1.1 one on
//! [`std::net::TcpStream`]: one connection per call (`Connection: close`),
//! bodies sent with `Content-Length`, answers read by `Content-Length`,
//! chunked, or to the end; 5 s to connect and per read. Waiting moves the
//! worker's other tasks elsewhere ([`super::blocking::block`]).
//!
//! Schemas by id never change, so they are cached forever; so is the id a
//! subject gave a schema registered through this client. `latest` is
//! always asked anew. Failures keep the registry's `error_code` and
//! `message`; a registry that cannot be reached is error 50001.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Reference, Registered, Schema, SchemaRegistry, SchemaType, SrError};
use crate::error::{Error, Result};

/// How long connecting, and each read or write, may take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read (schemas are small).
const MAX_ANSWER: usize = 64 << 20;
/// The largest status or header line.
const MAX_LINE: usize = 64 << 10;

/// A Schema Registry reached over HTTP.
pub struct HttpRegistry {
    /// The URL as given, without a trailing `/`.
    url: String,
    host: String,
    port: u16,
    /// The path prefix of every route (`""` or `/prefix`).
    base: String,
    /// `Basic …`, from `http://user:password@host`.
    authorization: Option<String>,
    /// For an `https://` registry: the TLS client.
    tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
    ids: Mutex<HashMap<i32, Arc<Schema>>>,
    registered: Mutex<HashMap<(String, Schema), i32>>,
}

impl std::fmt::Debug for HttpRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HttpRegistry({})", self.url)
    }
}

impl HttpRegistry {
    /// A client of the registry at `url` (`http://host[:port][/prefix]`,
    /// optionally with `user:password@`).
    pub fn new(url: &str) -> Result<HttpRegistry> {
        let given = url.trim().trim_end_matches('/');
        if given.contains(',') {
            return Err(Error::user(format!(
                "the Schema Registry URL '{given}' lists several registries; give one"
            )));
        }
        let lower = given.to_ascii_lowercase();
        let https = lower.starts_with("https://");
        let scheme = if https { "https://" } else { "http://" };
        let Some(rest) = lower.strip_prefix(scheme).map(|_| &given[scheme.len()..]) else {
            return Err(Error::user(format!(
                "the Schema Registry URL '{given}' must start with http:// or https://"
            )));
        };
        let (authority, base) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, String::new()),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((user, host)) => (Some(user), host),
            None => (None, authority),
        };
        let (host, port) =
            split_host_port(hostport, if https { 443 } else { 80 }).ok_or_else(|| {
                Error::user(format!(
                    "the Schema Registry URL '{given}' has no valid host[:port]"
                ))
            })?;
        // Shown in messages and /healthcheck: without the password.
        let shown = match userinfo {
            Some(u) => {
                let user = u.split(':').next().unwrap_or("");
                given.replacen(&format!("{u}@"), &format!("{user}:***@"), 1)
            }
            None => given.to_string(),
        };
        Ok(HttpRegistry {
            url: shown,
            host,
            port,
            base,
            authorization: userinfo.map(|u| {
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(u)
                )
            }),
            tls: if https {
                Some(crate::net::tls_client()?)
            } else {
                None
            },
            ids: Mutex::new(HashMap::new()),
            registered: Mutex::new(HashMap::new()),
        })
    }

    /// Sends a request and returns the JSON answer of a 2xx status; any
    /// other status is the registry's error.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, SrError> {
        let body = body.map(Value::to_string);
        let (status, answer) =
            super::blocking::block(|| self.exchange(method, path, body.as_deref()))
                .map_err(|e| self.unreachable(e))?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&answer).map_err(|e| {
                SrError::new(
                    50001,
                    format!(
                        "the Schema Registry at {} answered {method} {path} with something \
                         that is not JSON: {e}",
                        self.url
                    ),
                )
            });
        }
        #[derive(Deserialize)]
        struct Failure {
            error_code: i32,
            message: Option<String>,
        }
        match serde_json::from_slice::<Failure>(&answer) {
            Ok(f) => Err(SrError::new(
                f.error_code,
                f.message.unwrap_or_else(|| format!("HTTP {status}")),
            )),
            Err(_) => Err(SrError::new(
                i32::from(status),
                format!(
                    "the Schema Registry at {} answered {method} {path} with HTTP {status}: {}",
                    self.url,
                    String::from_utf8_lossy(&answer[..answer.len().min(200)])
                ),
            )),
        }
    }

    fn unreachable(&self, e: std::io::Error) -> SrError {
        SrError::new(
            50001,
            format!("cannot reach the Schema Registry at {}: {e}", self.url),
        )
    }

    /// One HTTP/1.1 exchange on a new connection: the status and body.
    fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> std::io::Result<(u16, Vec<u8>)> {
        let tcp = self.connect()?;
        tcp.set_read_timeout(Some(TIMEOUT))?;
        tcp.set_write_timeout(Some(TIMEOUT))?;
        match &self.tls {
            None => self.send(tcp, method, path, body),
            Some(config) => {
                let name = rustls_pki_types::ServerName::try_from(self.host.clone())
                    .map_err(|e| std::io::Error::other(format!("the host name: {e}")))?;
                let connection =
                    tokio_rustls::rustls::ClientConnection::new(Arc::clone(config), name)
                        .map_err(std::io::Error::other)?;
                let tls = tokio_rustls::rustls::StreamOwned::new(connection, tcp);
                self.send(tls, method, path, body)
            }
        }
    }

    /// Writes the request on `stream` and reads the answer.
    fn send(
        &self,
        mut stream: impl Read + Write,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> std::io::Result<(u16, Vec<u8>)> {
        let host = if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        let mut head = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: sluice/{}\r\nAccept: \
             application/vnd.schemaregistry.v1+json, application/json\r\nConnection: close\r\n",
            self.base,
            env!("CARGO_PKG_VERSION"),
        );
        if let Some(auth) = &self.authorization {
            head.push_str(&format!("Authorization: {auth}\r\n"));
        }
        let body = body.unwrap_or_default();
        if !body.is_empty() || method != "GET" {
            head.push_str(&format!(
                "Content-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        stream.write_all(body.as_bytes())?;
        stream.flush()?;
        read_response(stream)
    }

    fn connect(&self) -> std::io::Result<TcpStream> {
        let mut last = None;
        for address in (self.host.as_str(), self.port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&address, TIMEOUT) {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("'{}' has no address", self.host),
            )
        }))
    }

    /// A registered version from the registry's answer.
    fn registered(&self, subject: &str, answer: Value) -> Result<Registered, SrError> {
        let parsed: Answer = serde_json::from_value(answer).map_err(|e| self.malformed(e))?;
        let (Some(version), Some(id)) = (parsed.version, parsed.id) else {
            return Err(self.malformed("a version without 'version' or 'id'"));
        };
        let schema = self.remember(id, parsed.schema()?);
        Ok(Registered {
            subject: parsed.subject.unwrap_or_else(|| subject.to_string()),
            version,
            id,
            schema,
        })
    }

    /// Caches the schema of an id; returns the cached one.
    fn remember(&self, id: i32, schema: Schema) -> Arc<Schema> {
        Arc::clone(
            lock(&self.ids)
                .entry(id)
                .or_insert_with(|| Arc::new(schema)),
        )
    }

    fn malformed(&self, e: impl std::fmt::Display) -> SrError {
        SrError::new(
            50001,
            format!(
                "the Schema Registry at {} gave an answer sluice cannot read: {e}",
                self.url
            ),
        )
    }

    /// A version, or `None` when the subject or version does not exist.
    fn get_version(&self, subject: &str, version: &str) -> Result<Option<Registered>, SrError> {
        let path = format!("/subjects/{}/versions/{version}", segment(subject));
        match self.call("GET", &path, None) {
            Ok(answer) => self.registered(subject, answer).map(Some),
            Err(e) if e.code == 40401 || e.code == 40402 => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A schema or version as the registry answers it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    subject: Option<String>,
    version: Option<i32>,
    id: Option<i32>,
    schema: String,
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<Reference>,
}

impl Answer {
    fn schema(&self) -> Result<Schema, SrError> {
        let schema_type = match &self.schema_type {
            None => SchemaType::Avro,
            Some(t) => SchemaType::parse(t).ok_or_else(|| {
                SrError::new(
                    50001,
                    format!("the Schema Registry answered an unknown schemaType '{t}'"),
                )
            })?,
        };
        Ok(Schema {
            schema_type,
            text: self.schema.clone(),
            references: self.references.clone(),
        })
    }
}

impl SchemaRegistry for HttpRegistry {
    fn by_id(&self, id: i32) -> Result<Arc<Schema>, SrError> {
        if let Some(schema) = lock(&self.ids).get(&id) {
            return Ok(Arc::clone(schema));
        }
        let answer = self.call("GET", &format!("/schemas/ids/{id}"), None)?;
        let parsed: Answer = serde_json::from_value(answer).map_err(|e| self.malformed(e))?;
        Ok(self.remember(id, parsed.schema()?))
    }

    fn latest(&self, subject: &str) -> Result<Option<Registered>, SrError> {
        self.get_version(subject, "latest")
    }

    fn version(&self, subject: &str, version: i32) -> Result<Option<Registered>, SrError> {
        self.get_version(subject, &version.to_string())
    }

    fn register(&self, subject: &str, schema: &Schema) -> Result<i32, SrError> {
        let key = (subject.to_string(), schema.clone());
        if let Some(id) = lock(&self.registered).get(&key) {
            return Ok(*id);
        }
        let mut body = json!({"schema": schema.text});
        if schema.schema_type != SchemaType::Avro {
            body["schemaType"] = json!(schema.schema_type.name());
        }
        if !schema.references.is_empty() {
            body["references"] = json!(schema.references);
        }
        let path = format!("/subjects/{}/versions", segment(subject));
        let answer = self.call("POST", &path, Some(&body))?;
        let id = answer
            .get("id")
            .and_then(Value::as_i64)
            .and_then(|id| i32::try_from(id).ok())
            .ok_or_else(|| self.malformed(format!("no id in {answer}")))?;
        lock(&self.registered).insert(key, id);
        Ok(id)
    }

    fn url(&self) -> String {
        self.url.clone()
    }
}

/// `host[:port]` or `[v6][:port]`; port 80 by default.
fn split_host_port(text: &str, default_port: u16) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return None,
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default_port,
    };
    Some((host.to_string(), port))
}

/// A path segment, percent-encoded (subjects may hold any character).
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn bad_answer(what: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.into())
}

/// Bytes read from a connection, consumed from the front.
struct Incoming<R> {
    source: R,
    buffer: Vec<u8>,
    at: usize,
    ended: bool,
}

impl<R: Read> Incoming<R> {
    /// Reads more; false at the end of the stream.
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.ended {
            return Ok(false);
        }
        if self.buffer.len() - self.at > MAX_ANSWER {
            return Err(bad_answer("the answer is too large"));
        }
        let mut chunk = [0u8; 8192];
        let n = self.source.read(&mut chunk)?;
        if n == 0 {
            self.ended = true;
            return Ok(false);
        }
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(true)
    }

    /// The next line, without its CRLF.
    fn line(&mut self) -> std::io::Result<String> {
        loop {
            if let Some(i) = self.buffer[self.at..].windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buffer[self.at..self.at + i]).into_owned();
                self.at += i + 2;
                return Ok(line);
            }
            if self.buffer.len() - self.at > MAX_LINE {
                return Err(bad_answer("a line of the answer is too long"));
            }
            if !self.fill()? {
                return Err(bad_answer("the answer ended in its head"));
            }
        }
    }

    /// The next `n` bytes.
    fn exact(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        if n > MAX_ANSWER {
            return Err(bad_answer("the answer is too large"));
        }
        while self.buffer.len() - self.at < n {
            if !self.fill()? {
                return Err(bad_answer("the answer ended early"));
            }
        }
        let out = self.buffer[self.at..self.at + n].to_vec();
        self.at += n;
        Ok(out)
    }

    /// Everything up to the end of the stream.
    fn rest(&mut self) -> std::io::Result<Vec<u8>> {
        while self.fill()? {}
        let out = self.buffer[self.at..].to_vec();
        self.at = self.buffer.len();
        Ok(out)
    }
}

/// Reads an HTTP/1.1 answer: its status and its body (by Content-Length,
/// chunked, or to the end of the stream).
fn read_response(source: impl Read) -> std::io::Result<(u16, Vec<u8>)> {
    let mut incoming = Incoming {
        source,
        buffer: Vec::new(),
        at: 0,
        ended: false,
    };
    let status_line = incoming.line()?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| status_line.starts_with("HTTP/"))
        .ok_or_else(|| bad_answer(format!("not an HTTP answer: '{status_line}'")))?;
    let mut length = None;
    let mut chunked = false;
    loop {
        let line = incoming.line()?;
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| bad_answer(format!("bad Content-Length '{value}'")))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let body = if chunked {
        let mut body = Vec::new();
        loop {
            let size_line = incoming.line()?;
            let size = size_line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| bad_answer(format!("bad chunk size '{size_line}'")))?;
            if size == 0 {
                break;
            }
            if body.len() + size > MAX_ANSWER {
                return Err(bad_answer("the answer is too large"));
            }
            body.extend(incoming.exact(size)?);
            incoming.line()?;
        }
        body
    } else if let Some(n) = length {
        incoming.exact(n)?
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else {
        incoming.rest()?
    };
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sr::Store;

    /// The REST server of this module's sibling, on 127.0.0.1:0, in a
    /// runtime of its own; stopped on drop.
    struct Running {
        url: String,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Running {
        fn start(store: Arc<Store>) -> Running {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let thread = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    crate::sr::server::serve_until(
                        store,
                        listener,
                        Default::default(),
                        async move {
                            let _ = stopped.await;
                        },
                    )
                    .await
                    .unwrap();
                });
            });
            Running {
                url,
                stop: Some(stop),
                thread: Some(thread),
            }
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }

    #[test]
    fn registers_and_reads_through_the_rest_api() {
        let store = Arc::new(Store::default());
        let server = Running::start(Arc::clone(&store));
        let client = HttpRegistry::new(&format!("{}/", server.url)).unwrap();
        assert_eq!(client.url(), server.url);
        let avro = Schema::new(SchemaType::Avro, r#"{"type":"string"}"#);
        let id = client.register("orders-value", &avro).unwrap();
        assert_eq!(id, 1);
        assert_eq!(client.register("orders-value", &avro).unwrap(), id);
        let latest = client.latest("orders-value").unwrap().unwrap();
        assert_eq!(
            (latest.subject.as_str(), latest.version, latest.id),
            ("orders-value", 1, id)
        );
        assert_eq!(*latest.schema, avro);
        assert_eq!(*client.by_id(id).unwrap(), avro);

        // Protobuf with a reference, and a subject that needs encoding.
        let dep = Schema::new(SchemaType::Protobuf, "syntax = \"proto3\";\nmessage D {}\n");
        let dep_id = client.register("dep/x y", &dep).unwrap();
        let mut main = Schema::new(
            SchemaType::Protobuf,
            "syntax = \"proto3\";\nimport \"d.proto\";\nmessage M { D d = 1; }\n",
        );
        main.references = vec![crate::sr::store::reference("d.proto", "dep/x y", 1)];
        let main_id = client.register("m-value", &main).unwrap();
        assert_ne!(main_id, dep_id);
        let v = client.version("m-value", 1).unwrap().unwrap();
        assert_eq!(*v.schema, main);
        assert_eq!(*client.by_id(dep_id).unwrap(), dep);
        assert_eq!(store.latest("dep/x y").unwrap().unwrap().id, dep_id);

        // Missing subjects and versions are None; ids are errors.
        assert!(client.latest("nope").unwrap().is_none());
        assert!(client.version("orders-value", 9).unwrap().is_none());
        assert_eq!(client.by_id(99).unwrap_err().code, 40403);
        // The registry's own errors come through with their codes.
        let bad = Schema::new(SchemaType::Avro, "{not json");
        let e = client.register("orders-value", &bad).unwrap_err();
        assert_eq!((e.code, e.http_status()), (42201, 422), "{e}");
    }

    #[test]
    fn ids_are_cached_forever() {
        let store = Arc::new(Store::default());
        let server = Running::start(Arc::clone(&store));
        let client = HttpRegistry::new(&server.url).unwrap();
        let id = store
            .register("t-value", &Schema::new(SchemaType::Avro, "\"int\""))
            .unwrap();
        assert_eq!(client.by_id(id).unwrap().text, "\"int\"");
        drop(server);
        assert_eq!(client.by_id(id).unwrap().text, "\"int\"");
        let e = client.latest("t-value").unwrap_err();
        assert!(
            e.message.contains("cannot reach the Schema Registry"),
            "{e}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callable_from_a_tokio_worker() {
        let store = Arc::new(Store::default());
        let server = Running::start(store);
        let client = HttpRegistry::new(&server.url).unwrap();
        let id = client
            .register("t-value", &Schema::new(SchemaType::Avro, "\"long\""))
            .unwrap();
        assert_eq!(client.latest("t-value").unwrap().unwrap().id, id);
    }

    #[test]
    fn urls() {
        let r = HttpRegistry::new("https://sr.example.com").unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.tls.is_some()),
            ("sr.example.com", 443, true)
        );
        assert!(HttpRegistry::new("sr:8081").is_err());
        assert!(HttpRegistry::new("http://a:1,http://b:2").is_err());
        let r = HttpRegistry::new("http://user:pw@[::1]:9000/sr/").unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.base.as_str()),
            ("::1", 9000, "/sr")
        );
        assert_eq!(r.authorization.as_deref(), Some("Basic dXNlcjpwdw=="));
        // The password is never shown.
        assert_eq!(r.url(), "http://user:***@[::1]:9000/sr");
        let r = HttpRegistry::new("HTTP://localhost").unwrap();
        assert_eq!((r.host.as_str(), r.port), ("localhost", 80));
        assert_eq!(segment("a/b c-d"), "a%2Fb%20c-d");
    }

    #[test]
    fn answers_chunked_sized_or_to_the_end() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"id\r\n5;x=y\r\n\": 7}\r\n0\r\n\r\n";
        assert_eq!(
            read_response(&chunked[..]).unwrap(),
            (200, b"{\"id\": 7}".to_vec())
        );
        let sized = b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}trailing";
        assert_eq!(read_response(&sized[..]).unwrap(), (404, b"{}".to_vec()));
        let open = b"HTTP/1.0 200 OK\r\n\r\n[1,2]";
        assert_eq!(read_response(&open[..]).unwrap(), (200, b"[1,2]".to_vec()));
        assert!(read_response(&b"SSH-2.0\r\n\r\n"[..]).is_err());
        assert!(read_response(&b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}"[..]).is_err());
    }
}
