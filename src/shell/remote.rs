//! The shell's remote backend: statements go to a running `sluice server`
//! (or any ksqlDB-compatible server) over its REST API, and the answers are
//! turned back into the engine's outcomes so they print exactly as they do
//! locally.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use serde_json::{json, Map, Value};

use crate::engine::outcome::{QuerySummary, SourceDescription, SourceSummary};
use crate::engine::Outcome;
use crate::error::{Error, Result};
use crate::runtime::io::TopicInfo;

/// A ksqlDB-compatible REST server.
#[derive(Debug, Clone)]
pub struct RemoteServer {
    host: String,
    port: u16,
    /// The `Authorization` header value (HTTP Basic), when credentials
    /// were given.
    authorization: Option<String>,
    /// The TLS client of an `https://` server.
    tls: Option<std::sync::Arc<tokio_rustls::rustls::ClientConfig>>,
}

/// An open streaming response.
pub struct Streaming {
    body: hyper::body::Incoming,
    pending: Vec<u8>,
}

impl Streaming {
    /// The next line of the response, `None` at its end.
    pub async fn next_line(&mut self) -> Result<Option<String>> {
        loop {
            if let Some(i) = self.pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=i).collect();
                return Ok(Some(String::from_utf8_lossy(&line).trim_end().to_string()));
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.pending.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => return Err(Error::external(format!("server connection: {e}"))),
                None => {
                    if self.pending.is_empty() {
                        return Ok(None);
                    }
                    let rest = std::mem::take(&mut self.pending);
                    return Ok(Some(String::from_utf8_lossy(&rest).trim_end().to_string()));
                }
            }
        }
    }
}

impl RemoteServer {
    /// Parses `http://host:port` or `https://host:port` (the scheme and
    /// port are optional; the port defaults to 8088). An `https://` server's
    /// certificate is checked against the CA certificates of the file named
    /// by `SSL_CERT_FILE`, else the system's bundle.
    pub fn parse(url: &str) -> Result<Self> {
        let (https, rest) = match url.strip_prefix("https://") {
            Some(rest) => (true, rest),
            None => (false, url.strip_prefix("http://").unwrap_or(url)),
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse()
                    .map_err(|_| Error::user(format!("invalid port in server URL '{url}'")))?,
            ),
            None => (rest.to_string(), 8088),
        };
        if host.is_empty() {
            return Err(Error::user(format!("invalid server URL '{url}'")));
        }
        let tls = if https {
            Some(crate::net::tls_client()?)
        } else {
            None
        };
        Ok(RemoteServer {
            host,
            port,
            authorization: None,
            tls,
        })
    }

    /// The same server, asked with HTTP Basic credentials.
    pub fn with_credentials(mut self, user: &str, password: &str) -> Self {
        self.authorization = Some(crate::net::basic_authorization(user, password));
        self
    }

    /// `http://host:port` or `https://host:port`
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }

    /// POSTs a JSON body; returns the status and the streaming body.
    pub async fn post(&self, path: &str, body: &Value, accept: &str) -> Result<(u16, Streaming)> {
        let mut sender =
            crate::net::http1(&self.host, self.port, self.tls.as_ref(), &self.url()).await?;
        let mut request = Request::post(path);
        if let Some(authorization) = &self.authorization {
            request = request.header("authorization", authorization);
        }
        let request = request
            .header("host", format!("{}:{}", self.host, self.port))
            .header("content-type", "application/vnd.ksql.v1+json")
            .header("accept", accept)
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| Error::internal(format!("bad request: {e}")))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| Error::external(format!("server request failed: {e}")))?;
        let status = response.status().as_u16();
        Ok((
            status,
            Streaming {
                body: response.into_body(),
                pending: Vec::new(),
            },
        ))
    }

    /// POSTs and reads the whole answer as JSON; a non-2xx answer becomes
    /// the error it describes.
    pub async fn post_json(&self, path: &str, body: &Value) -> Result<Value> {
        let (status, mut stream) = self
            .post(path, body, "application/vnd.ksql.v1+json")
            .await?;
        let mut text = String::new();
        while let Some(line) = stream.next_line().await? {
            text.push_str(&line);
            text.push('\n');
        }
        if status == 401 {
            return Err(Error::user(if self.authorization.is_some() {
                "The server refused the credentials given (401 Unauthorized): check --user and \
                 --password"
            } else {
                "The server requires credentials (401 Unauthorized): start the shell with \
                 --user NAME (and --password, or type it when asked)"
            }));
        }
        let value: Value = serde_json::from_str(&text)
            .map_err(|_| Error::external(format!("unexpected answer from the server: {text}")))?;
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            Err(error_of(status, &value))
        }
    }
}

/// The error a non-2xx answer describes.
pub fn error_of(status: u16, body: &Value) -> Error {
    let message = body
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the server gave no message")
        .to_string();
    if (400..500).contains(&status) {
        Error::user(message)
    } else {
        Error::external(message)
    }
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Turns one `/ksql` entity back into the outcome it describes.
pub fn outcome_of(entity: &Value) -> Outcome {
    let kind = text(entity, "@type");
    match kind.as_str() {
        "streams" | "tables" => Outcome::Sources {
            tables: kind == "tables",
            sources: entity
                .get(kind.as_str())
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .map(|s| SourceSummary {
                            name: text(s, "name"),
                            kind: if kind == "tables" { "TABLE" } else { "STREAM" },
                            topic: text(s, "topic"),
                            key_format: text(s, "keyFormat"),
                            value_format: text(s, "valueFormat"),
                            windowed: s
                                .get("isWindowed")
                                .and_then(Value::as_bool)
                                .unwrap_or(false),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        },
        "kafka_topics" => Outcome::Topics(
            entity
                .get("topics")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .map(|t| {
                            let replicas = t.get("replicaInfo").and_then(Value::as_array);
                            TopicInfo {
                                name: text(t, "name"),
                                partitions: replicas.map(|r| r.len() as i32).unwrap_or(0),
                                replicas: replicas
                                    .and_then(|r| r.first())
                                    .and_then(Value::as_i64)
                                    .unwrap_or(1) as i32,
                            }
                        })
                        .collect()
                })
                .unwrap_or_default(),
        ),
        "queries" => Outcome::Queries(
            entity
                .get("queries")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .map(|q| QuerySummary {
                            id: text(q, "id"),
                            state: text(q, "state"),
                            sinks: strings(q.get("sinks")),
                            sink_topics: strings(q.get("sinkKafkaTopics")),
                            sql: text(q, "queryString"),
                            records_in: 0,
                            records_out: 0,
                            error: None,
                        })
                        .collect()
                })
                .unwrap_or_default(),
        ),
        "properties" => Outcome::Properties(
            entity
                .get("properties")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .map(|p| (text(p, "name"), text(p, "scope"), text(p, "value")))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        "type_list" => Outcome::Types(
            entity
                .get("types")
                .and_then(Value::as_object)
                .map(|types| {
                    types
                        .iter()
                        .map(|(name, schema)| (name.clone(), type_text(schema)))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        "variables" => Outcome::Variables(
            entity
                .get("variables")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .map(|v| (text(v, "name"), text(v, "value")))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        "function_names" => Outcome::Functions(
            entity
                .get("functions")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .map(|f| (text(f, "name"), text(f, "type")))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        "sourceDescription" => {
            let d = entity.get("sourceDescription").unwrap_or(entity);
            let ids = |key: &str| -> Vec<String> {
                d.get(key)
                    .and_then(Value::as_array)
                    .map(|l| l.iter().map(|q| text(q, "id")).collect())
                    .unwrap_or_default()
            };
            let kind_name = if text(d, "type") == "TABLE" {
                "TABLE"
            } else {
                "STREAM"
            };
            Outcome::Description(Box::new(SourceDescription {
                summary: SourceSummary {
                    name: text(d, "name"),
                    kind: kind_name,
                    topic: text(d, "topic"),
                    key_format: text(d, "keyFormat"),
                    value_format: text(d, "valueFormat"),
                    windowed: false,
                },
                columns: d
                    .get("fields")
                    .and_then(Value::as_array)
                    .map(|fields| fields.iter().map(field_row).collect())
                    .unwrap_or_default(),
                timestamp: Some(text(d, "timestamp")).filter(|t| !t.is_empty()),
                write_queries: ids("writeQueries"),
                read_queries: ids("readQueries"),
                sql: text(d, "statement"),
                partitions: d
                    .get("partitions")
                    .and_then(Value::as_i64)
                    .map(|p| p as i32),
                errors: None,
                late_records: None,
                extended: d.get("extended").and_then(Value::as_bool).unwrap_or(false),
            }))
        }
        "queryDescription" => {
            let d = entity.get("queryDescription").unwrap_or(entity);
            Outcome::Explain {
                query_id: Some(text(d, "id")).filter(|i| !i.is_empty()),
                sql: text(d, "statementText"),
                columns: Vec::new(),
                plan: text(d, "executionPlan")
                    .lines()
                    .map(str::to_string)
                    .collect(),
                sources: strings(d.get("sources")),
            }
        }
        _ => Outcome::Message {
            message: entity
                .get("commandStatus")
                .map(|s| text(s, "message"))
                .unwrap_or_else(|| text(entity, "message")),
        },
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn type_text(schema: &Value) -> String {
    let t = text(schema, "type");
    match t.as_str() {
        "ARRAY" => format!(
            "ARRAY<{}>",
            type_text(schema.get("memberSchema").unwrap_or(&Value::Null))
        ),
        "MAP" => format!(
            "MAP<STRING, {}>",
            type_text(schema.get("memberSchema").unwrap_or(&Value::Null))
        ),
        "STRUCT" => {
            let fields = schema
                .get("fields")
                .and_then(Value::as_array)
                .map(|f| {
                    f.iter()
                        .map(|f| {
                            format!(
                                "`{}` {}",
                                text(f, "name"),
                                type_text(f.get("schema").unwrap_or(&Value::Null))
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            format!("STRUCT<{fields}>")
        }
        "DECIMAL" => {
            let p = schema.get("parameters").cloned().unwrap_or(Value::Null);
            format!("DECIMAL({}, {})", text(&p, "precision"), text(&p, "scale"))
        }
        _ => t,
    }
}

fn field_row(f: &Value) -> (String, String, String) {
    let extra = match text(f, "fieldType").as_str() {
        "KEY" => "(key)".to_string(),
        "HEADER" => match f.get("headerKey").and_then(Value::as_str) {
            Some(k) => format!("(header('{k}'))"),
            None => "(headers)".to_string(),
        },
        _ => String::new(),
    };
    (
        text(f, "name"),
        type_text(f.get("schema").unwrap_or(&Value::Null)),
        extra,
    )
}

/// The body of a `/ksql` or `/query` request.
pub fn request_body(
    key: &str,
    sql: &str,
    properties: &std::collections::BTreeMap<String, String>,
    variables: &std::collections::HashMap<String, String>,
) -> Value {
    let props: Map<String, Value> = properties
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let vars: Map<String, Value> = variables
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({ key: sql, "streamsProperties": props, "sessionVariables": vars })
}

/// A JSON value of a row cell as the shell prints it.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_urls() {
        let s = RemoteServer::parse("http://localhost:9000/").unwrap();
        assert_eq!(s.url(), "http://localhost:9000");
        assert_eq!(
            RemoteServer::parse("example").unwrap().url(),
            "http://example:8088"
        );
        assert!(RemoteServer::parse("http://h:x").is_err());
    }

    #[test]
    fn listing_entities_become_outcomes() {
        let e = json!({"@type": "streams", "streams": [
            {"name": "S", "topic": "s", "keyFormat": "KAFKA", "valueFormat": "JSON", "isWindowed": false}
        ]});
        let Outcome::Sources { tables, sources } = outcome_of(&e) else {
            panic!("sources")
        };
        assert!(!tables);
        assert_eq!(sources[0].name, "S");
        let e = json!({"@type": "currentStatus", "commandStatus": {"message": "Stream created"}});
        let Outcome::Message { message } = outcome_of(&e) else {
            panic!("message")
        };
        assert_eq!(message, "Stream created");
    }
}
