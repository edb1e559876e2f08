//! The servers of one service, as each of them sees the others: for pull
//! queries, which server reads which partitions of a table, and for
//! `/clusterStatus`.
//!
//! There is no coordinator. Each server writes a heartbeat every second
//! to the service's compacted `_confluent-ksql-<service id>_servers` topic
//! (keyed by its REST URL: the URL, the time, and for each persistent
//! query the input partitions the consumer group gave it), again at once
//! when its assignment changes, and a last one saying it is stopping. Each
//! server reads the topic from its start and keeps the latest record of
//! every server; a server whose heartbeat is older than
//! [`ALIVE_FOR`] is taken for dead (killed, or cut off).
//!
//! A pull query on a table whose partitions are spread over servers reads
//! the partitions this server owns and asks each other owner (over HTTP,
//! `/internal/pull`, rows as base64 Arrow IPC) for the rows of its
//! partitions; a key of a re-keyed table is answered by the owner of its
//! partition alone.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Engine;
use crate::error::{Error, Result};
use crate::format::Encoded;
use crate::runtime::io::{OutBatch, TopicReader, TopicWriter};

/// Which input partition of a materialized table's query holds a key:
/// the key encoded as the topic the query's last task reads holds it,
/// hashed as Kafka's default partitioner does.
pub struct KeyRoute {
    encoder: Arc<dyn crate::format::Encoder>,
    types: Vec<arrow::datatypes::DataType>,
}

impl KeyRoute {
    /// The route of keys read from `source`'s topic; `None` where bytes
    /// cannot be computed alike (Schema Registry keys carry a schema id,
    /// windowed keys a window).
    pub fn of(source: &crate::catalog::Source) -> Option<KeyRoute> {
        if source.key_format.sr.is_some() || source.window.is_some() {
            return None;
        }
        let schema = source.key_schema();
        if schema.fields().is_empty() {
            return None;
        }
        let encoder = crate::format::registry::encoder(
            &source.key_format,
            crate::format::Part::Key,
            Arc::clone(&schema),
        )
        .ok()?;
        Some(KeyRoute {
            encoder,
            types: schema
                .fields()
                .iter()
                .map(|f| f.data_type().clone())
                .collect(),
        })
    }

    /// The partitions (of `total`) holding the keys of `columns` (one
    /// array per key column); `None` when they cannot be computed.
    pub fn partitions(&self, columns: &[arrow::array::ArrayRef], total: i32) -> Option<Vec<i32>> {
        if columns.len() != self.types.len() {
            return None;
        }
        let columns: Vec<arrow::array::ArrayRef> = columns
            .iter()
            .zip(&self.types)
            .map(|(c, t)| {
                if c.data_type() == t {
                    Some(Arc::clone(c))
                } else {
                    arrow::compute::cast(c, t).ok()
                }
            })
            .collect::<Option<_>>()?;
        let encoded = self.encoder.encode(&columns).ok()?;
        let rows = columns.first().map_or(0, |c| c.len());
        let mut out: Vec<i32> = (0..rows)
            .filter_map(|i| encoded.get(i))
            .map(|key| crate::runtime::io::partition_for_key(key, total))
            .collect();
        out.sort_unstable();
        out.dedup();
        Some(out)
    }
}

/// How many of the newest heartbeat records a server reads at start.
const RECENT: i64 = 5000;

/// How often a server writes its heartbeat.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// How old a heartbeat may be for its server to count as alive.
pub const ALIVE_FOR: Duration = Duration::from_secs(6);

/// One server as its heartbeat describes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Where its REST API is reached.
    pub url: String,
    /// When it wrote this (epoch ms, its clock).
    pub heartbeat: i64,
    /// For each persistent query, the input partitions it reads.
    #[serde(default)]
    pub queries: BTreeMap<String, Vec<i32>>,
    /// Set by its last heartbeat before it stops.
    #[serde(default)]
    pub stopping: bool,
}

impl Member {
    /// Whether the heartbeat is recent enough (and not a goodbye).
    pub fn alive(&self, now_ms: i64) -> bool {
        !self.stopping && now_ms - self.heartbeat <= ALIVE_FOR.as_millis() as i64
    }
}

/// This server's view of the service.
pub struct Cluster {
    /// This server's URL.
    pub me: String,
    topic: String,
    members: std::sync::Mutex<HashMap<String, Member>>,
    writer: tokio::sync::Mutex<Box<dyn TopicWriter>>,
    /// Partition counts of tables' input topics, and when each was read:
    /// a lookup does not ask the broker each time.
    partition_counts: std::sync::Mutex<HashMap<String, (i32, std::time::Instant)>>,
}

/// How long a topic's partition count is taken as known.
const PARTITION_COUNT_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// The topic the servers of a service write their heartbeats to.
pub fn servers_topic(service_id: &str) -> String {
    format!("_confluent-ksql-{service_id}_servers")
}

impl Cluster {
    /// Every server known, this one included, with whether it is alive.
    pub fn members(&self) -> Vec<(Member, bool)> {
        let now = chrono::Utc::now().timestamp_millis();
        let members = match self.members.lock() {
            Ok(m) => m.clone(),
            Err(p) => p.into_inner().clone(),
        };
        let mut out: Vec<(Member, bool)> = members
            .into_values()
            .map(|m| {
                let alive = m.url == self.me || m.alive(now);
                (m, alive)
            })
            .collect();
        out.sort_by(|a, b| a.0.url.cmp(&b.0.url));
        out
    }

    async fn write(&self, member: &Member) -> Result<()> {
        let value = serde_json::to_vec(member)
            .map_err(|e| Error::internal(format!("cannot encode a heartbeat: {e}")))?;
        let key = member.url.as_bytes();
        let batch = OutBatch {
            keys: Encoded {
                offsets: vec![0, key.len()],
                data: key.to_vec(),
                nulls: vec![false],
            },
            values: Encoded {
                offsets: vec![0, value.len()],
                data: value,
                nulls: vec![false],
            },
            timestamps: vec![member.heartbeat],
            headers: None,
            partition: Some(0),
        };
        let mut writer = self.writer.lock().await;
        writer.write(&batch).await?;
        writer.flush().await
    }
}

impl Engine {
    /// Joins the service's servers as `url` (a server with a command
    /// topic only): starts writing heartbeats and reading the others'.
    pub async fn join_cluster(self: &Arc<Self>, url: &str) -> Result<()> {
        if self.commands.is_none() || self.cluster.get().is_some() {
            return Ok(());
        }
        let topic = servers_topic(&self.config.service_id);
        let admin = self.broker.admin();
        if admin.describe_topic(&topic).await?.is_none() {
            admin.create_compacted_topic(&topic, 1, 1).await?;
        }
        let cluster = Arc::new(Cluster {
            me: url.trim_end_matches('/').to_string(),
            topic: topic.clone(),
            members: std::sync::Mutex::new(HashMap::new()),
            writer: tokio::sync::Mutex::new(self.broker.writer(&topic)?),
            partition_counts: std::sync::Mutex::new(HashMap::new()),
        });
        let _ = self.cluster.set(Arc::clone(&cluster));
        // Live servers write every second: the newest records hold them
        // all (the topic is compacted on Kafka, not on every broker).
        let reader = self.broker.tail(&topic, 0, -RECENT)?;
        tokio::spawn(read_heartbeats(
            Arc::downgrade(self),
            Arc::clone(&cluster),
            reader,
        ));
        tokio::spawn(write_heartbeats(Arc::downgrade(self), cluster));
        tracing::info!(
            "joined the servers of service '{}' as {url}",
            self.config.service_id
        );
        Ok(())
    }

    /// Tells the other servers this one stops (its partitions move).
    pub async fn leave_cluster(&self) {
        let Some(cluster) = self.cluster.get() else {
            return;
        };
        let mut me = self.heartbeat(&cluster.me).await;
        me.stopping = true;
        if let Err(e) = cluster.write(&me).await {
            tracing::warn!("cannot tell the other servers this one stops: {e}");
        }
    }

    /// The topic a persistent query's (last) task reads.
    pub async fn query_input_topic(&self, query_id: &str) -> Option<String> {
        let state = self.state.lock().await;
        state
            .queries
            .get(query_id)?
            .status
            .input_topic
            .get()
            .cloned()
    }

    /// This server's view of the service, once it joined one.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.get()
    }

    /// This server's heartbeat now.
    async fn heartbeat(&self, url: &str) -> Member {
        let state = self.state.lock().await;
        let queries = state
            .queries
            .iter()
            .filter_map(|(id, q)| q.status.assigned().map(|a| (id.clone(), a)))
            .collect();
        Member {
            url: url.to_string(),
            heartbeat: chrono::Utc::now().timestamp_millis(),
            queries,
            stopping: false,
        }
    }

    /// For a pull query on the table `query_id` materializes: the
    /// partitions this server reads (`None`: it reads them all) and, for
    /// each other server that reads some of the rest, its URL and those
    /// partitions. An error when a partition has no live reader (the
    /// servers are rebalancing).
    pub(super) async fn pull_owners(
        &self,
        table: &str,
        query_id: &str,
        status: &crate::runtime::task::QueryStatus,
        keys: Option<&[arrow::array::ArrayRef]>,
    ) -> Result<(Option<Vec<i32>>, Vec<(String, Vec<i32>)>)> {
        let Some(cluster) = self.cluster.get() else {
            return Ok((None, Vec::new()));
        };
        let Some(local) = status.assigned() else {
            return Ok((None, Vec::new()));
        };
        let Some(topic) = status.input_topic.get() else {
            return Ok((None, Vec::new()));
        };
        let known = cluster.partition_counts.lock().ok().and_then(|counts| {
            counts
                .get(topic)
                .filter(|(_, at)| at.elapsed() < PARTITION_COUNT_TTL)
                .map(|(n, _)| *n)
        });
        let total = match known {
            Some(n) => n,
            None => match self.broker.admin().describe_topic(topic).await? {
                Some(t) => {
                    if let Ok(mut counts) = cluster.partition_counts.lock() {
                        counts.insert(topic.clone(), (t.partitions, std::time::Instant::now()));
                    }
                    t.partitions
                }
                None => return Ok((None, Vec::new())),
            },
        };
        let mut missing: Vec<i32> = (0..total).filter(|p| !local.contains(p)).collect();
        if missing.is_empty() {
            return Ok((None, Vec::new()));
        }
        // A key lookup needs only the partitions of its keys.
        let route = match keys {
            None => None,
            Some(columns) => {
                let state = self.state.lock().await;
                state
                    .queries
                    .get(query_id)
                    .and_then(|q| q.key_route.as_ref())
                    .and_then(|r| r.partitions(columns, total))
            }
        };
        let mut local = local;
        if let Some(needed) = &route {
            tracing::debug!(table, partitions = ?needed, "key lookup routed to the key's partitions");
            missing.retain(|p| needed.contains(p));
            local.retain(|p| needed.contains(p));
        }
        let mut remote = Vec::new();
        for (member, alive) in cluster.members() {
            if !alive || member.url == cluster.me {
                continue;
            }
            let Some(theirs) = member.queries.get(query_id) else {
                continue;
            };
            let parts: Vec<i32> = missing
                .iter()
                .copied()
                .filter(|p| theirs.contains(p))
                .collect();
            if !parts.is_empty() {
                missing.retain(|p| !parts.contains(p));
                remote.push((member.url.clone(), parts));
            }
        }
        if !missing.is_empty() {
            return Err(Error::user(format!(
                "The `{table}` table's partitions {missing:?} have no live server right now (the \
                 servers of the service are handing them over). Try again shortly."
            )));
        }
        Ok((Some(local), remote))
    }
}

/// Reads every server's heartbeats.
async fn read_heartbeats(
    engine: Weak<Engine>,
    cluster: Arc<Cluster>,
    mut reader: Box<dyn TopicReader>,
) {
    loop {
        if engine.strong_count() == 0 {
            return;
        }
        let batch = match reader.poll(256, Duration::from_millis(200)).await {
            Ok(b) => b,
            Err(e) => {
                tracing::debug!("reading the servers' heartbeats: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if batch.is_empty() {
            continue;
        }
        let mut members = match cluster.members.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        for i in 0..batch.len() {
            let Some(value) = batch.values.get(i) else {
                continue;
            };
            match serde_json::from_slice::<Member>(value) {
                Ok(m) => {
                    members.insert(m.url.clone(), m);
                }
                Err(e) => {
                    tracing::debug!("a record of '{}' is not a heartbeat: {e}", cluster.topic)
                }
            }
        }
    }
}

/// Writes this server's heartbeat every [`HEARTBEAT`], and at once when
/// its partitions change.
async fn write_heartbeats(engine: Weak<Engine>, cluster: Arc<Cluster>) {
    let mut last: Option<(BTreeMap<String, Vec<i32>>, tokio::time::Instant)> = None;
    loop {
        let Some(engine) = engine.upgrade() else {
            return;
        };
        let me = engine.heartbeat(&cluster.me).await;
        drop(engine);
        let due = last
            .as_ref()
            .is_none_or(|(queries, at)| *queries != me.queries || at.elapsed() >= HEARTBEAT);
        if due {
            if let Err(e) = cluster.write(&me).await {
                tracing::debug!("writing this server's heartbeat: {e}");
            }
            // Seen at once by this server, before the topic brings it back.
            if let Ok(mut members) = cluster.members.lock() {
                members.insert(me.url.clone(), me.clone());
            }
            last = Some((me.queries, tokio::time::Instant::now()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Rows between servers: the batches (all of one schema) as base64
/// Arrow IPC.
pub fn encode_rows(batches: &[RecordBatch]) -> Result<String> {
    let Some(first) = batches.first() else {
        return Ok(String::new());
    };
    let mut out = Vec::new();
    {
        let mut writer = StreamWriter::try_new(&mut out, &first.schema())?;
        for b in batches {
            writer.write(b)?;
        }
        writer.finish()?;
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}

/// The batches [`encode_rows`] wrote.
pub fn decode_rows(text: &str) -> Result<Vec<RecordBatch>> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| Error::external(format!("rows from another server are not base64: {e}")))?;
    let reader = StreamReader::try_new(std::io::Cursor::new(bytes), None)?;
    reader
        .map(|b| b.map_err(Error::from))
        .collect::<Result<Vec<_>>>()
}

/// Asks the other servers of the service for the rows of their
/// partitions (`remote`: URL and partitions of each), all at once: the
/// pull query `text` with the session's `properties`.
pub(super) async fn forward_pull(
    text: &str,
    properties: &BTreeMap<String, String>,
    authorization: Option<&str>,
    remote: Vec<(String, Vec<i32>)>,
) -> Result<Vec<RecordBatch>> {
    let requests = remote.into_iter().map(|(url, partitions)| {
        let body = serde_json::json!({
            "ksql": text,
            "streamsProperties": properties,
            "partitions": partitions,
        });
        async move {
            let answer = tokio::time::timeout(
                Duration::from_secs(30),
                post_json(&url, "/internal/pull", &body, authorization),
            )
            .await
            .map_err(|_| Error::external(format!("the server at {url} did not answer")))?
            .map_err(|e| {
                e.context(format!(
                    "the server at {url} (which reads partitions {partitions:?})"
                ))
            })?;
            let rows = answer
                .get("rows")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::external(format!("the server at {url} sent no rows")))?;
            decode_rows(rows)
        }
    });
    let mut rows = Vec::new();
    for batches in futures::future::join_all(requests).await {
        rows.extend(batches?);
    }
    Ok(rows)
}

/// POSTs `body` to another server (`url`: `http://host:port` or
/// `https://host:port`, its CA from `SSL_CERT_FILE` or the system's) with
/// the caller's `authorization`, and reads its JSON answer; a non-2xx
/// answer becomes the error it gives.
async fn post_json(
    url: &str,
    path: &str,
    body: &Value,
    authorization: Option<&str>,
) -> Result<Value> {
    let (https, authority) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => {
            return Err(Error::external(format!(
                "a server URL that is not http:// or https://: {url}"
            )))
        }
    };
    let authority = authority.trim_end_matches('/');
    let (host, port) = authority
        .rsplit_once(':')
        .and_then(|(h, p)| {
            Some((
                h.trim_start_matches('[').trim_end_matches(']'),
                p.parse().ok()?,
            ))
        })
        .ok_or_else(|| Error::external(format!("a server URL without host:port: {url}")))?;
    let tls = if https {
        Some(crate::net::tls_client()?)
    } else {
        None
    };
    let mut sender = crate::net::http1(host, port, tls.as_ref(), url).await?;
    let mut request = hyper::Request::post(path);
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    let request = request
        .header("host", authority)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| Error::internal(format!("a request to {url}: {e}")))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| Error::external(format!("request to {url} failed: {e}")))?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| Error::external(format!("answer from {url}: {e}")))?
        .to_bytes();
    let answer: Value = serde_json::from_slice(&bytes).map_err(|_| {
        Error::external(format!(
            "unexpected answer from {url}: {}",
            String::from_utf8_lossy(&bytes)
        ))
    })?;
    if status.is_success() {
        return Ok(answer);
    }
    let message = answer
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the server gave no message")
        .to_string();
    Err(if status.is_client_error() {
        Error::user(message)
    } else {
        Error::external(message)
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn rows_round_trip() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("G", DataType::Utf8, true),
            Field::new("N", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![Some("a"), None])),
                Arc::new(Int64Array::from(vec![1, 2])),
            ],
        )
        .unwrap();
        let back = decode_rows(&encode_rows(&[batch.clone(), batch.clone()]).unwrap()).unwrap();
        assert_eq!(back, vec![batch.clone(), batch]);
        assert!(decode_rows(&encode_rows(&[]).unwrap()).unwrap().is_empty());
    }
}
