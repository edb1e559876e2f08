//! The `_schemas` topic: the embedded registry's [`Store`] kept in a
//! compacted topic, so that subjects, versions, ids and levels survive a
//! restart.
//!
//! Records are laid out as Confluent's Schema Registry lays them out, one
//! partition, keys and values in JSON:
//!
//! | change | key | value |
//! |---|---|---|
//! | a version registered or soft-deleted | `{"keytype":"SCHEMA","subject","version","magic":1}` | `{"subject","version","id","schemaType"?,"references","schema","deleted"}` (`schemaType` left out for AVRO) |
//! | a version deleted permanently | the same key | none (a tombstone) |
//! | a level set or cleared | `{"keytype":"CONFIG","subject": S or null,"magic":0}` | `{"compatibilityLevel": L}`, or none |
//!
//! [`open`] replays the topic into the store and then sets the store's
//! journal, so that every later change is appended and acknowledged by
//! the broker before it takes effect. The store calls its journal
//! synchronously, from REST handlers and from the engine; the writer is
//! async, so it lives on a thread of its own with a small runtime, and
//! the journal waits for its reply ([`super::blocking::block`]). The
//! thread ends when the store drops its journal.
//!
//! Records of other key types (Confluent's `NOOP`, `MODE`,
//! `DELETE_SUBJECT`, …) are skipped on replay, as are records that cannot
//! be read (with a warning naming their offset).
//!
//! After the replay the topic is followed: changes other servers of the
//! service (or other processes sharing the topic) make reach this store
//! within a poll. Applying a change twice changes nothing, so this
//! server's own changes come back harmlessly. There is no leader: two
//! servers registering different schemas at the same moment can give them
//! the same id; the store reports such a conflict as an error, and the
//! README says to point several servers at one registry.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::store::Change;
use super::{Reference, Schema, SchemaType, SrError, Store};
use crate::error::{Error, Result};
use crate::format::Encoded;
use crate::runtime::io::{Broker, OutBatch, TopicWriter};

/// The topic's name (Confluent's default `kafkastore.topic`).
pub const TOPIC: &str = "_schemas";

/// How long a change waits for the broker's acknowledgement.
const WAIT: Duration = Duration::from_secs(60);

/// Replays `_schemas` (creating it, compacted, when missing) into `store`,
/// then records every later change of `store` there before it takes
/// effect.
pub async fn open(broker: &Arc<dyn Broker>, store: &Arc<Store>) -> Result<()> {
    let admin = broker.admin();
    match admin.describe_topic(TOPIC).await? {
        None => admin.create_compacted_topic(TOPIC, 1, 1).await?,
        Some(t) if t.partitions != 1 => {
            return Err(Error::external(format!(
                "the Schema Registry's topic '{TOPIC}' has {} partitions; it must have exactly one",
                t.partitions
            )))
        }
        Some(_) => {}
    }
    let mut reader = broker.read_partition(TOPIC, 0)?;
    let mut next = 0;
    while let Some(batch) = reader.next().await? {
        apply_batch(store, &batch);
        if let Some(last) = batch.offsets.last() {
            next = last + 1;
        }
    }
    let journal = Journal::start(broker.writer(TOPIC)?)?;
    store.set_journal(move |change| journal.record(change));
    match broker.tail(TOPIC, 0, next) {
        Ok(tail) => {
            tokio::spawn(follow(Arc::downgrade(store), tail));
        }
        Err(e) => tracing::warn!("the topic '{TOPIC}' is not followed: {e}"),
    }
    Ok(())
}

/// Applies the changes a batch of `_schemas` records holds.
fn apply_batch(store: &Store, batch: &crate::runtime::io::RawBatch) {
    for i in 0..batch.len() {
        match decode(batch.keys.get(i), batch.values.get(i)) {
            Ok(Some(change)) => store.apply(&change),
            Ok(None) => {}
            Err(why) => tracing::warn!(
                "skipping record {} of the topic '{TOPIC}': {why}",
                batch.offsets[i]
            ),
        }
    }
}

/// Applies what other servers write to `_schemas`, for as long as the
/// store lives.
async fn follow(store: std::sync::Weak<Store>, mut tail: Box<dyn crate::runtime::io::TopicReader>) {
    loop {
        let batch = match tail.poll(256, Duration::from_millis(200)).await {
            Ok(b) => b,
            Err(e) => {
                tracing::debug!("following the topic '{TOPIC}': {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let Some(store) = store.upgrade() else {
            return;
        };
        apply_batch(&store, &batch);
    }
}

/// A batch to append and where to say how it went.
type Request = (OutBatch, mpsc::SyncSender<Result<()>>);

/// Appends changes through a writer that lives on its own thread.
struct Journal {
    requests: mpsc::Sender<Request>,
}

impl Journal {
    fn start(mut writer: Box<dyn TopicWriter>) -> Result<Journal> {
        let (requests, incoming) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("sluice-sr-journal".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let why = format!("the journal's runtime did not start: {e}");
                        while let Ok((_, reply)) = incoming.recv() {
                            let _ = reply.send(Err(Error::internal(why.clone())));
                        }
                        return;
                    }
                };
                while let Ok((batch, reply)) = incoming.recv() {
                    let written = runtime.block_on(async {
                        writer.write(&batch).await?;
                        writer.flush().await
                    });
                    let _ = reply.send(written);
                }
            })
            .map_err(|e| {
                Error::external(format!(
                    "cannot start the thread that writes the topic '{TOPIC}': {e}"
                ))
            })?;
        Ok(Journal { requests })
    }

    /// Appends `change` and waits until the broker acknowledged it.
    fn record(&self, change: &Change) -> std::result::Result<(), SrError> {
        let (key, value) = encode(change);
        let batch = OutBatch {
            keys: one(Some(key)),
            values: one(value),
            timestamps: vec![chrono::Utc::now().timestamp_millis()],
            headers: None,
            partition: Some(0),
        };
        let (reply, answer) = mpsc::sync_channel(1);
        self.requests.send((batch, reply)).map_err(|_| {
            SrError::new(
                50001,
                format!("the writer of the topic '{TOPIC}' has stopped"),
            )
        })?;
        match super::blocking::block(|| answer.recv_timeout(WAIT)) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(SrError::new(
                50001,
                format!("the change was not recorded in the topic '{TOPIC}': {e}"),
            )),
            Err(_) => Err(SrError::new(
                50002,
                format!(
                    "the change was not recorded in the topic '{TOPIC}': no acknowledgement \
                     within {} s",
                    WAIT.as_secs()
                ),
            )),
        }
    }
}

/// One payload (or a null one).
fn one(payload: Option<Vec<u8>>) -> Encoded {
    match payload {
        Some(data) => Encoded {
            offsets: vec![0, data.len()],
            data,
            nulls: vec![false],
        },
        None => Encoded {
            data: Vec::new(),
            offsets: vec![0, 0],
            nulls: vec![true],
        },
    }
}

/// The record of a change: its key, and its value (`None`: a tombstone).
fn encode(change: &Change) -> (Vec<u8>, Option<Vec<u8>>) {
    match change {
        Change::Version {
            subject,
            version,
            id,
            schema,
            deleted,
        } => {
            let mut value = Map::new();
            value.insert("subject".into(), json!(subject));
            value.insert("version".into(), json!(version));
            value.insert("id".into(), json!(id));
            if schema.schema_type != SchemaType::Avro {
                value.insert("schemaType".into(), json!(schema.schema_type.name()));
            }
            value.insert("references".into(), json!(schema.references));
            value.insert("schema".into(), json!(schema.text));
            value.insert("deleted".into(), json!(deleted));
            (
                schema_key(subject, *version),
                Some(Value::Object(value).to_string().into_bytes()),
            )
        }
        Change::Purged { subject, version } => (schema_key(subject, *version), None),
        Change::Config { subject, level } => (
            json!({"keytype": "CONFIG", "subject": subject, "magic": 0})
                .to_string()
                .into_bytes(),
            level.as_ref().map(|level| {
                json!({"compatibilityLevel": level})
                    .to_string()
                    .into_bytes()
            }),
        ),
    }
}

fn schema_key(subject: &str, version: i32) -> Vec<u8> {
    json!({"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1})
        .to_string()
        .into_bytes()
}

#[derive(Deserialize)]
struct Key {
    keytype: String,
    subject: Option<String>,
    version: Option<i32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemaValue {
    subject: Option<String>,
    version: Option<i32>,
    id: i32,
    schema: String,
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<Reference>,
    #[serde(default)]
    deleted: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigValue {
    compatibility_level: Option<String>,
    compatibility: Option<String>,
}

/// The change a record holds; `None` for key types the store does not
/// keep.
fn decode(key: Option<&[u8]>, value: Option<&[u8]>) -> std::result::Result<Option<Change>, String> {
    let key = key.ok_or("the record has no key")?;
    let key: Key =
        serde_json::from_slice(key).map_err(|e| format!("its key is not a registry key: {e}"))?;
    // A JSON `null` value is a tombstone too.
    let value = value.filter(|v| v.trim_ascii() != b"null");
    match key.keytype.as_str() {
        "SCHEMA" => {
            let subject = key.subject.ok_or("its SCHEMA key has no subject")?;
            let version = key.version.ok_or("its SCHEMA key has no version")?;
            let Some(value) = value else {
                return Ok(Some(Change::Purged { subject, version }));
            };
            let value: SchemaValue = serde_json::from_slice(value)
                .map_err(|e| format!("its value is not a schema: {e}"))?;
            let schema_type = match &value.schema_type {
                None => SchemaType::Avro,
                Some(t) => {
                    SchemaType::parse(t).ok_or_else(|| format!("unknown schemaType '{t}'"))?
                }
            };
            Ok(Some(Change::Version {
                subject: value.subject.unwrap_or(subject),
                version: value.version.unwrap_or(version),
                id: value.id,
                schema: Schema {
                    schema_type,
                    text: value.schema,
                    references: value.references,
                },
                deleted: value.deleted,
            }))
        }
        "CONFIG" => {
            let level = match value {
                None => None,
                Some(value) => {
                    let value: ConfigValue = serde_json::from_slice(value)
                        .map_err(|e| format!("its value is not a compatibility level: {e}"))?;
                    value.compatibility_level.or(value.compatibility)
                }
            };
            Ok(Some(Change::Config {
                subject: key.subject,
                level,
            }))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::memory::MemoryBroker;
    use crate::sr::{store::reference, SchemaRegistry};

    fn avro(text: &str) -> Schema {
        Schema::new(SchemaType::Avro, text)
    }

    /// Subjects (with deleted ones), their versions, ids and levels.
    fn contents(store: &Store) -> Vec<String> {
        let mut out = vec![format!("global {}", store.level(None))];
        for subject in store.subjects(true) {
            out.push(format!(
                "{subject} level {:?} live {:?}",
                store.subject_level(&subject),
                store.versions(&subject, false).unwrap_or_default()
            ));
            for v in store.versions(&subject, true).unwrap() {
                let r = store.get_version(&subject, v, true).unwrap();
                out.push(format!("{subject} v{v} id {} {:?}", r.id, r.schema));
            }
        }
        out
    }

    async fn changes_survive(broker: Arc<dyn Broker>) {
        let first = Arc::new(Store::default());
        open(&broker, &first).await.unwrap();
        let a = first.register("a-value", &avro(r#""int""#)).unwrap();
        first.set_level(Some("a-value"), "none").unwrap();
        first.register("a-value", &avro(r#""string""#)).unwrap();
        let mut proto = Schema::new(SchemaType::Protobuf, "syntax = \"proto3\";\n");
        proto.references = vec![reference("dep.proto", "a-value", 1)];
        first.register("p-value", &proto).unwrap();
        first.set_level(None, "FULL").unwrap();
        first.register("gone-value", &avro(r#""double""#)).unwrap();
        first.delete_subject("gone-value", false).unwrap();
        first.delete_subject("gone-value", true).unwrap();
        first.register("soft-value", &avro(r#""float""#)).unwrap();
        first.delete_subject("soft-value", false).unwrap();
        first.set_level(Some("p-value"), "FORWARD").unwrap();
        first.clear_level("p-value").unwrap();

        let second = Arc::new(Store::default());
        open(&broker, &second).await.unwrap();
        assert_eq!(contents(&second), contents(&first));
        assert!(second.subjects(true).iter().all(|s| s != "gone-value"));
        assert_eq!(second.by_id(a).unwrap().text, r#""int""#);
        // New ids go on from the highest replayed, and are journaled too.
        let next = second.register("b-value", &avro(r#""long""#)).unwrap();
        assert!(next > 5, "{next}");
        let third = Arc::new(Store::default());
        open(&broker, &third).await.unwrap();
        assert_eq!(third.latest("b-value").unwrap().unwrap().id, next);
        // The first store, still open, follows what the second wrote.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while first.latest("b-value").ok().flatten().map(|r| r.id) != Some(next) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the change of another store was not followed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn a_store_reopened_on_the_log_holds_the_same_registry() {
        let log = MemoryBroker::new();
        changes_survive(Arc::new(log)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_store_reopened_on_the_embedded_broker_holds_the_same_registry() {
        let broker = crate::kafka::KafkaBroker::embedded().unwrap();
        changes_survive(Arc::new(broker)).await;
    }

    #[tokio::test]
    async fn records_are_laid_out_as_confluents() {
        let log = MemoryBroker::new();
        let broker: Arc<dyn Broker> = Arc::new(Arc::clone(&log));
        let store = Arc::new(Store::default());
        open(&broker, &store).await.unwrap();
        store.register("t-value", &avro(r#""int""#)).unwrap();
        store.set_level(None, "NONE").unwrap();
        store.delete_subject("t-value", false).unwrap();
        store.delete_subject("t-value", true).unwrap();
        let records: Vec<(Value, Option<Value>)> = log
            .records(TOPIC)
            .unwrap()
            .into_iter()
            .map(|(_, r)| {
                let key = serde_json::from_slice(r.key.as_deref().unwrap()).unwrap();
                let value = r.value.map(|v| serde_json::from_slice(&v).unwrap());
                (key, value)
            })
            .collect();
        let key = json!({"keytype": "SCHEMA", "subject": "t-value", "version": 1, "magic": 1});
        let value = |deleted: bool| {
            json!({"subject": "t-value", "version": 1, "id": 1, "references": [],
                   "schema": "\"int\"", "deleted": deleted})
        };
        assert_eq!(
            records,
            vec![
                (key.clone(), Some(value(false))),
                (
                    json!({"keytype": "CONFIG", "subject": null, "magic": 0}),
                    Some(json!({"compatibilityLevel": "NONE"}))
                ),
                (key.clone(), Some(value(true))),
                (key, None),
            ]
        );
    }

    /// The log, with writes the broker never acknowledges.
    struct Refusing(Arc<MemoryBroker>);

    struct RefusingWriter;

    impl TopicWriter for RefusingWriter {
        fn write<'a>(&'a mut self, _: &'a OutBatch) -> futures::future::BoxFuture<'a, Result<()>> {
            Box::pin(async { Ok(()) })
        }

        fn flush(&mut self) -> futures::future::BoxFuture<'_, Result<()>> {
            Box::pin(async { Err(Error::external("the broker is away")) })
        }
    }

    impl Broker for Refusing {
        fn reader(
            &self,
            spec: &crate::runtime::io::ReaderSpec,
        ) -> Result<Box<dyn crate::runtime::io::TopicReader>> {
            self.0.reader(spec)
        }
        fn writer(&self, _: &str) -> Result<Box<dyn TopicWriter>> {
            Ok(Box::new(RefusingWriter))
        }
        fn read_partitions(
            &self,
            topic: &str,
            partitions: &[i32],
        ) -> Result<Box<dyn crate::runtime::io::PartitionReader>> {
            self.0.read_partitions(topic, partitions)
        }
        fn admin(&self) -> &dyn crate::runtime::io::TopicAdmin {
            self.0.admin()
        }
        fn address(&self) -> String {
            self.0.address()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_change_the_broker_does_not_acknowledge_does_not_take_effect() {
        let broker: Arc<dyn Broker> = Arc::new(Refusing(MemoryBroker::new()));
        let store = Arc::new(Store::default());
        open(&broker, &store).await.unwrap();
        let e = store.register("t-value", &avro(r#""int""#)).unwrap_err();
        assert!(e.message.contains("the broker is away"), "{e}");
        assert!(e.message.contains("'_schemas'"), "{e}");
        assert!(store.subjects(true).is_empty());
        assert!(store.set_level(None, "NONE").is_err());
        assert_eq!(store.level(None), "BACKWARD");
    }

    #[test]
    fn confluent_records_replay_and_others_are_skipped() {
        let change = decode(
            Some(br#"{"keytype":"SCHEMA","subject":"x","version":2,"magic":1}"#),
            Some(
                br#"{"subject":"x","version":2,"id":7,"schemaType":"PROTOBUF","schema":"syntax = \"proto3\";","deleted":false}"#,
            ),
        )
        .unwrap()
        .unwrap();
        let Change::Version {
            id,
            schema,
            version,
            ..
        } = change
        else {
            panic!("{change:?}")
        };
        assert_eq!(
            (id, version, schema.schema_type),
            (7, 2, SchemaType::Protobuf)
        );
        assert_eq!(
            decode(
                Some(br#"{"keytype":"CONFIG","subject":"x","magic":0}"#),
                Some(br#"{"compatibilityLevel":"FULL"}"#)
            )
            .unwrap(),
            Some(Change::Config {
                subject: Some("x".into()),
                level: Some("FULL".into())
            })
        );
        assert_eq!(
            decode(Some(br#"{"keytype":"NOOP","magic":0}"#), None).unwrap(),
            None
        );
        assert!(decode(Some(b"garbage"), None).is_err());
        assert!(decode(None, Some(b"{}")).is_err());
    }
}
