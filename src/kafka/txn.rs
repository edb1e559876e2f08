//! Kafka transactions for exactly-once queries (KIP-98, KIP-447): one
//! transactional producer per task, whose transaction holds the task's
//! output, its changelog records and its input positions (sent with the
//! consumer group's metadata, so that the group coordinator fences a task
//! the group has moved elsewhere). Every transaction call blocks in
//! librdkafka: each runs in a blocking task, off the async workers.
//!
//! Whether the broker really runs transactions is asked with an
//! ApiVersions request (the embedded broker, librdkafka's mock cluster,
//! answers the transaction calls without their semantics, and is refused
//! by its adapter before this is asked).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::producer::Producer;
use rdkafka::TopicPartitionList;

use super::writer::{Deliveries, Inner, KafkaWriter};
use crate::error::{Error, Result};
use crate::runtime::io::{TopicWriter, Transaction};

/// How long a transaction call may take.
const TXN_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) struct KafkaTransaction {
    producer: Arc<Inner>,
    deliveries: Deliveries,
    id: String,
}

fn txn_error(id: &str, what: &str, e: rdkafka::error::KafkaError) -> Error {
    Error::external(format!("transaction '{id}': {what} failed: {e}"))
}

impl KafkaTransaction {
    /// A transactional producer with `id`: initialized (which fences an
    /// earlier producer of the same id and aborts its open transaction)
    /// and its first transaction begun.
    pub(super) async fn start(config: ClientConfig, id: &str) -> Result<KafkaTransaction> {
        let (producer, deliveries) = super::writer::producer(config, Some(id))?;
        let producer = Arc::new(producer);
        let p = Arc::clone(&producer);
        let tid = id.to_string();
        tokio::task::spawn_blocking(move || {
            p.init_transactions(TXN_TIMEOUT)
                .map_err(|e| txn_error(&tid, "initialization", e))?;
            p.begin_transaction()
                .map_err(|e| txn_error(&tid, "begin", e))
        })
        .await
        .map_err(|e| Error::internal(format!("transaction task failed: {e}")))??;
        Ok(KafkaTransaction {
            producer,
            deliveries,
            id: id.to_string(),
        })
    }

    /// Adds the input positions `offsets` of the group `group` to the open
    /// transaction.
    pub(super) async fn send_offsets(
        &self,
        offsets: TopicPartitionList,
        group: ConsumerGroupMetadata,
    ) -> Result<()> {
        let p = Arc::clone(&self.producer);
        let id = self.id.clone();
        tokio::task::spawn_blocking(move || {
            p.send_offsets_to_transaction(&offsets, &group, TXN_TIMEOUT)
                .map_err(|e| txn_error(&id, "sending the input offsets", e))
        })
        .await
        .map_err(|e| Error::internal(format!("transaction task failed: {e}")))?
    }
}

impl Transaction for KafkaTransaction {
    fn writer(&self, topic: &str) -> Result<Box<dyn TopicWriter>> {
        Ok(Box::new(KafkaWriter::shared(
            Arc::clone(&self.producer),
            self.deliveries.clone(),
            topic,
        )))
    }

    fn commit(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let p = Arc::clone(&self.producer);
            let id = self.id.clone();
            tokio::task::spawn_blocking(move || {
                p.commit_transaction(TXN_TIMEOUT)
                    .map_err(|e| txn_error(&id, "commit", e))?;
                p.begin_transaction()
                    .map_err(|e| txn_error(&id, "begin", e))
            })
            .await
            .map_err(|e| Error::internal(format!("transaction task failed: {e}")))??;
            self.deliveries.check(&format!("transaction '{}'", self.id))
        })
    }

    fn abort(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let p = Arc::clone(&self.producer);
            let id = self.id.clone();
            tokio::task::spawn_blocking(move || {
                p.abort_transaction(TXN_TIMEOUT)
                    .map_err(|e| txn_error(&id, "abort", e))
            })
            .await
            .map_err(|e| Error::internal(format!("transaction task failed: {e}")))?
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Asks the broker for a transactional producer id (what
/// `init_transactions` does): a broker that serves the transaction APIs
/// may still refuse transactional ids (nisshi 0.8.1 answers
/// TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as Kafka does to a principal
/// without the right).
pub(super) async fn probe(config: ClientConfig) -> Result<()> {
    let id = format!(
        "_sluice_transactions_probe_{}",
        uuid::Uuid::new_v4().simple()
    );
    let (producer, _) = super::writer::producer(config, Some(&id))?;
    tokio::task::spawn_blocking(move || producer.init_transactions(Duration::from_secs(15)))
        .await
        .map_err(|e| Error::internal(format!("probe task failed: {e}")))?
        .map_err(|e| {
            Error::user(format!(
                "The broker refused a transactional producer ({e}), so \
                 'processing.guarantee'='exactly_once_v2' cannot hold there. Use a broker that \
                 runs Kafka transactions (and grant this client the right to use transactional \
                 ids), or 'at_least_once'."
            ))
        })
}

/// The Kafka APIs a transaction needs, by key.
const TRANSACTION_APIS: [(i16, &str); 5] = [
    (22, "InitProducerId"),
    (24, "AddPartitionsToTxn"),
    (25, "AddOffsetsToTxn"),
    (26, "EndTxn"),
    (28, "TxnOffsetCommit"),
];

/// Asks the broker at `address` (host:port) which APIs it serves (an
/// ApiVersions v0 request); an error naming the transaction APIs it
/// lacks. `Ok` as well when it cannot be asked (the transaction calls then
/// report what fails).
pub(super) async fn check_transactions(address: String) -> Result<()> {
    let keys = tokio::task::spawn_blocking(move || api_keys(&address))
        .await
        .map_err(|e| Error::internal(format!("probe task failed: {e}")))?;
    let Ok((address, keys)) = keys else {
        return Ok(());
    };
    let missing: Vec<String> = TRANSACTION_APIS
        .iter()
        .filter(|(k, _)| !keys.contains(k))
        .map(|(k, name)| format!("{name} (API key {k})"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::user(format!(
        "The broker at {address} does not run Kafka transactions (it does not serve {}), so \
         'processing.guarantee'='exactly_once_v2' cannot hold there. Use a broker with \
         transactions, or 'at_least_once'.",
        missing.join(", ")
    )))
}

fn api_keys(address: &str) -> std::io::Result<(String, Vec<i16>)> {
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;
    let first = address.split(',').next().unwrap_or(address).trim();
    let first = first
        .rsplit_once("://")
        .map_or(first, |(_, rest)| rest)
        .to_string();
    let addr = first
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    // ApiVersions v0: key 18, version 0, correlation id 1, client id "sluice".
    let client = b"sluice";
    let mut body = Vec::new();
    body.extend_from_slice(&18i16.to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&(client.len() as i16).to_be_bytes());
    body.extend_from_slice(client);
    stream.write_all(&(body.len() as i32).to_be_bytes())?;
    stream.write_all(&body)?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = i32::from_be_bytes(len).clamp(0, 1 << 20) as usize;
    let mut answer = vec![0u8; len];
    stream.read_exact(&mut answer)?;
    Ok((first, parse_api_versions(&answer)?))
}

/// The API keys of an ApiVersions v0 response (after its size).
fn parse_api_versions(answer: &[u8]) -> std::io::Result<Vec<i16>> {
    let bad = || std::io::Error::other("a malformed ApiVersions response");
    let i16_at = |at: usize| -> std::io::Result<i16> {
        answer
            .get(at..at + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(bad)
    };
    // correlation id (4), error code (2), array length (4).
    if i16_at(4)? != 0 {
        return Err(bad());
    }
    let count = answer
        .get(6..10)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(bad)?;
    (0..count.max(0) as usize)
        .map(|i| i16_at(10 + i * 6))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_are_read() {
        let mut answer = Vec::new();
        answer.extend_from_slice(&1i32.to_be_bytes());
        answer.extend_from_slice(&0i16.to_be_bytes());
        answer.extend_from_slice(&2i32.to_be_bytes());
        for (k, min, max) in [(0i16, 0i16, 9i16), (26, 0, 3)] {
            answer.extend_from_slice(&k.to_be_bytes());
            answer.extend_from_slice(&min.to_be_bytes());
            answer.extend_from_slice(&max.to_be_bytes());
        }
        assert_eq!(parse_api_versions(&answer).unwrap(), vec![0, 26]);
        assert!(parse_api_versions(&answer[..5]).is_err());
    }
}
