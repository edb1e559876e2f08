//! The embedded broker: librdkafka's mock cluster, in process, on a
//! loopback port. Data is kept in memory only.
//!
//! The mock serves Produce, Fetch, ListOffsets, offset commit/fetch,
//! Metadata and the group calls, but not the admin calls, so topics are
//! created through [`EmbeddedBroker::create_topic`]. Its initial rebalance
//! delay is set to 0 so that group joins take ~0.15 s instead of ~3 s.
//! It keeps only the newest 5 MiB / 100,000 message sets per partition.

use std::ffi::{CStr, CString};

use rdkafka::bindings as rdsys;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};

use crate::error::{Error, Result};

/// An in-process Kafka-protocol broker.
pub struct EmbeddedBroker {
    cluster: *mut rdsys::rd_kafka_mock_cluster_t,
    bootstrap: String,
    // Owns the rd_kafka_t the cluster was created on; must outlive it.
    _handle: BaseProducer,
}

// SAFETY: librdkafka's mock cluster runs its own thread and its API is
// thread-safe (every call takes the cluster lock); the raw pointer is only
// passed to those calls.
unsafe impl Send for EmbeddedBroker {}
// SAFETY: see above.
unsafe impl Sync for EmbeddedBroker {}

impl EmbeddedBroker {
    /// Starts a one-broker mock cluster.
    pub fn start() -> Result<Self> {
        let handle: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:1")
            .set("log_level", "0")
            .create()
            .map_err(|e| Error::external(format!("cannot start the embedded broker: {e}")))?;
        // SAFETY: the handle is a valid rd_kafka_t that outlives the cluster
        // (both are owned by the returned struct; Drop destroys the cluster
        // first).
        let cluster = unsafe { rdsys::rd_kafka_mock_cluster_new(handle.client().native_ptr(), 1) };
        if cluster.is_null() {
            return Err(Error::external("cannot start the embedded broker"));
        }
        // SAFETY: `cluster` is valid; the returned string is owned by it.
        let bootstrap = unsafe {
            rdsys::rd_kafka_mock_group_initial_rebalance_delay_ms(cluster, 0);
            let ptr = rdsys::rd_kafka_mock_cluster_bootstraps(cluster);
            if ptr.is_null() {
                String::new()
            } else {
                CStr::from_ptr(ptr).to_string_lossy().into_owned()
            }
        };
        Ok(EmbeddedBroker {
            cluster,
            bootstrap,
            _handle: handle,
        })
    }

    /// The address clients connect to.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// Creates a topic (the mock does not serve CreateTopics).
    pub fn create_topic(&self, name: &str, partitions: i32, replicas: i32) -> Result<()> {
        let topic =
            CString::new(name).map_err(|_| Error::user(format!("invalid topic name '{name}'")))?;
        // SAFETY: `cluster` is valid and `topic` a NUL-terminated string.
        let err = unsafe {
            rdsys::rd_kafka_mock_topic_create(
                self.cluster,
                topic.as_ptr(),
                partitions,
                replicas.max(1),
            )
        };
        if err == rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            Ok(())
        } else {
            Err(Error::external(format!(
                "the embedded broker could not create topic '{name}': {err:?}"
            )))
        }
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        // SAFETY: `cluster` was created by rd_kafka_mock_cluster_new and is
        // destroyed exactly once, before the handle it was created on.
        unsafe { rdsys::rd_kafka_mock_cluster_destroy(self.cluster) };
    }
}
