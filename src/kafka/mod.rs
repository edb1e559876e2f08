//! The Kafka adapter of the I/O ports, on rdkafka: readers (consumers),
//! writers (producers), topic administration, and the embedded broker.

mod admin;
mod check;
pub mod embedded;
mod partition;
mod reader;
mod txn;
mod writer;

use std::collections::BTreeMap;
use std::sync::Arc;

use rdkafka::config::ClientConfig;

pub use embedded::EmbeddedBroker;

use crate::error::Result;
use futures::future::BoxFuture;

use crate::runtime::io::{
    Broker, PartitionReader, ReaderSpec, TopicAdmin, TopicReader, TopicWriter, Transaction,
};

/// Kafka client properties for every client of a cluster reached with
/// [`KafkaBroker::connect`] (the server's config file: security, client
/// id, tuning); set once, at start.
static CLIENT_PROPERTIES: std::sync::OnceLock<BTreeMap<String, String>> =
    std::sync::OnceLock::new();

/// Sets the Kafka client properties of this process (see
/// [`crate::settings`]); an error when they were set already.
pub fn set_client_properties(properties: BTreeMap<String, String>) -> Result<()> {
    CLIENT_PROPERTIES
        .set(properties)
        .map_err(|_| crate::error::Error::internal("the Kafka client properties are set twice"))
}

/// The Kafka client properties of this process.
pub fn client_properties() -> BTreeMap<String, String> {
    CLIENT_PROPERTIES.get().cloned().unwrap_or_default()
}

/// A Kafka cluster reached over the Kafka protocol.
pub struct KafkaBroker {
    bootstrap: String,
    /// Properties every client gets (none for the embedded broker).
    properties: BTreeMap<String, String>,
    embedded: Option<Arc<EmbeddedBroker>>,
    admin: admin::KafkaAdmin,
    /// Set once the broker was found to run transactions.
    transactions: std::sync::OnceLock<()>,
    /// Lets exactly-once queries run on the embedded broker, whose
    /// transactions have no semantics: only for tests of the code path.
    pretend_transactions: std::sync::atomic::AtomicBool,
}

impl KafkaBroker {
    /// Connects to the cluster at `bootstrap` (`host:port[,host:port]`).
    /// Every client gets this process's client properties
    /// ([`set_client_properties`]).
    pub fn connect(bootstrap: &str) -> Result<Self> {
        let properties = client_properties();
        Ok(KafkaBroker {
            bootstrap: bootstrap.to_string(),
            embedded: None,
            transactions: std::sync::OnceLock::new(),
            pretend_transactions: std::sync::atomic::AtomicBool::new(false),
            admin: admin::KafkaAdmin::new(base_config(bootstrap, &properties), None)?,
            properties,
        })
    }

    /// Asks the cluster for its metadata, within `timeout`: an error that
    /// says what failed (authentication, TLS, an unreachable address) rather
    /// than clients that retry forever.
    pub async fn check_connection(&self, timeout: std::time::Duration) -> Result<()> {
        if self.is_embedded() {
            return Ok(());
        }
        let config = self.client_config();
        let bootstrap = self.bootstrap.clone();
        let secured = self
            .properties
            .get("security.protocol")
            .is_some_and(|p| !p.eq_ignore_ascii_case("plaintext"));
        tokio::task::spawn_blocking(move || check::connection(config, &bootstrap, secured, timeout))
            .await
            .map_err(|e| {
                crate::error::Error::internal(format!("the connection check failed: {e}"))
            })?
    }

    /// Starts the embedded broker and connects to it.
    pub fn embedded() -> Result<Self> {
        let broker = Arc::new(EmbeddedBroker::start()?);
        let bootstrap = broker.bootstrap_servers().to_string();
        Ok(KafkaBroker {
            admin: admin::KafkaAdmin::new(
                base_config(&bootstrap, &BTreeMap::new()),
                Some(Arc::clone(&broker)),
            )?,
            bootstrap,
            properties: BTreeMap::new(),
            embedded: Some(broker),
            transactions: std::sync::OnceLock::new(),
            pretend_transactions: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Lets exactly-once queries run on the embedded broker although its
    /// transactions have no semantics (no markers, no fencing, offsets not
    /// stored): for tests of sluice's transactional code path only.
    pub fn pretend_transactions_for_tests(&self) {
        self.pretend_transactions
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// True when this is the embedded broker.
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// Base client settings shared by consumers and producers.
    pub fn client_config(&self) -> ClientConfig {
        base_config(&self.bootstrap, &self.properties)
    }

    /// True when clients talk plaintext without SASL (the broker can be
    /// probed with a bare TCP request).
    fn plaintext(&self) -> bool {
        self.properties
            .get("security.protocol")
            .is_none_or(|p| p.eq_ignore_ascii_case("plaintext"))
    }
}

/// The settings every client of `bootstrap` starts from.
fn base_config(bootstrap: &str, properties: &BTreeMap<String, String>) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    c.set("log_level", "3");
    for (k, v) in properties {
        c.set(k, v);
    }
    c
}

impl Broker for KafkaBroker {
    fn reader(&self, spec: &ReaderSpec) -> Result<Box<dyn TopicReader>> {
        if spec.also.is_empty() {
            return Ok(Box::new(reader::KafkaReader::new(
                self.client_config(),
                spec,
            )?));
        }
        // One consumer per topic (in the same group when it commits).
        let mut inputs: Vec<Box<dyn TopicReader>> = Vec::new();
        // The first input's consumer is the group's member; the others
        // follow its assignment and commit through it.
        let mut leader: Option<reader::KafkaReader> = None;
        for (topic, start) in spec.topics() {
            let one = ReaderSpec {
                topic: topic.to_string(),
                start,
                also: Vec::new(),
                ..spec.clone()
            };
            let mut reader = match (&leader, &spec.group_id) {
                (Some(first), Some(_)) => {
                    reader::KafkaReader::follower(self.client_config(), &one, first)?
                }
                _ => reader::KafkaReader::new(self.client_config(), &one)?,
            };
            reader.track_partitions = true;
            match leader {
                None => leader = Some(reader),
                Some(_) => inputs.push(Box::new(reader)),
            }
        }
        if let Some(first) = leader {
            inputs.insert(0, Box::new(first));
        }
        Ok(Box::new(crate::runtime::io::MultiReader::new(inputs)))
    }

    fn writer(&self, topic: &str) -> Result<Box<dyn TopicWriter>> {
        Ok(Box::new(writer::KafkaWriter::new(
            self.client_config(),
            topic,
        )?))
    }

    fn read_partitions(&self, topic: &str, partitions: &[i32]) -> Result<Box<dyn PartitionReader>> {
        Ok(Box::new(partition::KafkaPartitionReader::start(
            self.client_config(),
            topic,
            partitions,
        )?))
    }

    fn read_committed_partitions(
        &self,
        topic: &str,
        partitions: &[i32],
    ) -> Result<Box<dyn PartitionReader>> {
        let mut config = self.client_config();
        config.set("isolation.level", "read_committed");
        Ok(Box::new(partition::KafkaPartitionReader::start(
            config, topic, partitions,
        )?))
    }

    fn transaction<'a>(
        &'a self,
        transactional_id: &'a str,
    ) -> BoxFuture<'a, Result<Arc<dyn Transaction>>> {
        Box::pin(async move {
            let txn = txn::KafkaTransaction::start(self.client_config(), transactional_id).await?;
            Ok(Arc::new(txn) as Arc<dyn Transaction>)
        })
    }

    fn check_transactions(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if self.transactions.get().is_some() {
                return Ok(());
            }
            let pretend = self
                .pretend_transactions
                .load(std::sync::atomic::Ordering::SeqCst);
            if self.is_embedded() && !pretend {
                return Err(crate::error::Error::user(
                    "'processing.guarantee'='exactly_once_v2' needs a broker that runs Kafka \
                     transactions. The embedded broker (librdkafka's mock cluster) accepts the \
                     transaction calls without their semantics: no commit or abort markers, no \
                     fencing, and offsets sent in a transaction are not stored. sluice refuses \
                     it rather than claim a guarantee that does not hold there. Start sluice \
                     with --bootstrap-servers pointing at a Kafka cluster, or use \
                     'at_least_once'.",
                ));
            }
            if !pretend {
                if self.plaintext() {
                    txn::check_transactions(self.bootstrap.clone()).await?;
                }
                txn::probe(self.client_config()).await?;
            }
            let _ = self.transactions.set(());
            Ok(())
        })
    }

    fn reader_from_now(
        &self,
        topic: &str,
        with_headers: bool,
    ) -> BoxFuture<'_, Result<Box<dyn TopicReader>>> {
        let config = self.client_config();
        let topic = topic.to_string();
        Box::pin(async move {
            let reader = tokio::task::spawn_blocking(move || {
                reader::KafkaReader::from_now(config, &topic, with_headers)
            })
            .await
            .map_err(|e| {
                crate::error::Error::internal(format!("positioning a reader failed: {e}"))
            })??;
            Ok(Box::new(reader) as Box<dyn TopicReader>)
        })
    }

    fn tail(&self, topic: &str, partition: i32, offset: i64) -> Result<Box<dyn TopicReader>> {
        Ok(Box::new(reader::KafkaReader::at(
            self.client_config(),
            topic,
            partition,
            offset,
        )?))
    }

    fn admin(&self) -> &dyn TopicAdmin {
        &self.admin
    }

    fn address(&self) -> String {
        self.bootstrap.clone()
    }
}
