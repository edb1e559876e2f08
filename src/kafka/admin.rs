//! Topic administration: rdkafka's AdminClient on real brokers, the mock's
//! own call on the embedded one (it does not serve CreateTopics).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::embedded::EmbeddedBroker;
use crate::error::{Error, Result};
use crate::runtime::io::{TopicAdmin, TopicInfo};

const TIMEOUT: Duration = Duration::from_secs(10);

pub(super) struct KafkaAdmin {
    admin: AdminClient<DefaultClientContext>,
    metadata: Arc<BaseConsumer>,
    embedded: Option<Arc<EmbeddedBroker>>,
}

impl KafkaAdmin {
    pub(super) fn new(c: ClientConfig, embedded: Option<Arc<EmbeddedBroker>>) -> Result<Self> {
        Ok(KafkaAdmin {
            admin: c.create()?,
            metadata: Arc::new(c.create()?),
            embedded,
        })
    }

    fn topics(&self, name: Option<&str>) -> BoxFuture<'_, Result<Vec<TopicInfo>>> {
        let consumer = Arc::clone(&self.metadata);
        let name = name.map(str::to_string);
        async move {
            tokio::task::spawn_blocking(move || -> Result<Vec<TopicInfo>> {
                let md = consumer.fetch_metadata(name.as_deref(), TIMEOUT)?;
                Ok(md
                    .topics()
                    .iter()
                    .filter(|t| t.error().is_none() && !t.partitions().is_empty())
                    .map(|t| TopicInfo {
                        name: t.name().to_string(),
                        partitions: t.partitions().len() as i32,
                        replicas: t
                            .partitions()
                            .first()
                            .map(|p| p.replicas().len() as i32)
                            .unwrap_or(1),
                    })
                    .collect())
            })
            .await
            .map_err(|e| Error::internal(format!("metadata task failed: {e}")))?
        }
        .boxed()
    }
}

impl KafkaAdmin {
    async fn create(
        &self,
        name: &str,
        partitions: i32,
        replicas: i32,
        config: &[(&str, &str)],
    ) -> Result<()> {
        if let Some(e) = &self.embedded {
            // The mock cluster keeps no topic configuration.
            return e.create_topic(name, partitions, replicas);
        }
        let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(replicas));
        for (k, v) in config {
            topic = topic.set(k, v);
        }
        let results = self
            .admin
            .create_topics(
                [&topic],
                &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
            )
            .await?;
        for r in results {
            if let Err((t, code)) = r {
                if code != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists {
                    return Err(Error::external(format!(
                        "Kafka could not create topic '{t}': {code}"
                    )));
                }
            }
        }
        Ok(())
    }
}

impl TopicAdmin for KafkaAdmin {
    fn create_compacted_topic(
        &self,
        name: &str,
        partitions: i32,
        replicas: i32,
    ) -> BoxFuture<'_, Result<()>> {
        let name = name.to_string();
        async move {
            self.create(
                &name,
                partitions,
                replicas,
                &[("cleanup.policy", "compact")],
            )
            .await
        }
        .boxed()
    }

    fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replicas: i32,
    ) -> BoxFuture<'_, Result<()>> {
        let name = name.to_string();
        async move { self.create(&name, partitions, replicas, &[]).await }.boxed()
    }

    fn create_topic_with(
        &self,
        name: &str,
        partitions: i32,
        replicas: i32,
        config: &[(&str, &str)],
    ) -> BoxFuture<'_, Result<()>> {
        let name = name.to_string();
        let config: Vec<(String, String)> = config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        async move {
            let config: Vec<(&str, &str)> = config
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            self.create(&name, partitions, replicas, &config).await
        }
        .boxed()
    }

    fn describe_topic(&self, name: &str) -> BoxFuture<'_, Result<Option<TopicInfo>>> {
        let name = name.to_string();
        async move {
            // Listing all topics avoids auto-creating `name` through a
            // metadata request for it.
            let all = self.topics(None).await?;
            Ok(all.into_iter().find(|t| t.name == name))
        }
        .boxed()
    }

    fn list_topics(&self) -> BoxFuture<'_, Result<Vec<TopicInfo>>> {
        self.topics(None)
    }

    fn delete_topic(&self, name: &str) -> BoxFuture<'_, Result<()>> {
        let name = name.to_string();
        async move {
            if self.embedded.is_some() {
                return Err(Error::user(format!(
                    "The embedded broker cannot delete topics; topic '{name}' was kept"
                )));
            }
            let results = self
                .admin
                .delete_topics(
                    &[name.as_str()],
                    &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
                )
                .await?;
            for r in results {
                if let Err((t, code)) = r {
                    return Err(Error::external(format!(
                        "Kafka could not delete topic '{t}': {code}"
                    )));
                }
            }
            Ok(())
        }
        .boxed()
    }
}
