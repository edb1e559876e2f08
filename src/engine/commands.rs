//! The command topic: every statement that changes the catalog or the set
//! of persistent queries, in the order they took effect, so that a server
//! started again (or another server of the same service id) rebuilds the
//! same streams, tables, types and running queries.
//!
//! The topic is ksqlDB's `_confluent-ksql-<service id>_command_topic`: one
//! partition, records kept forever (`retention.ms=-1`). Each record is one
//! [`Command`] as JSON: the statement text, the session properties and
//! variables in force, the query id it was given, the queries it stopped,
//! and a [`Pin`] of what must not change on replay. A statement is appended
//! once it has been validated and before it takes effect, and the append
//! is acknowledged by the broker before the statement is answered.
//!
//! At start the topic is read to its end and replayed in order. Queries
//! terminated or replaced later in the log are registered but never
//! started (starting a query costs consumers, topics and a restore). A
//! command that fails on replay marks its query failed with the reason;
//! the other commands go on. A command written by a newer sluice stops the
//! replay there: the server starts with what came before and refuses new
//! statements until it is upgraded, rather than guessing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::format::Encoded;
use crate::runtime::io::{Broker, OutBatch, TopicWriter};

/// The layout version of the commands this sluice writes and reads.
pub const COMMAND_VERSION: u32 = 1;

/// One statement of the command topic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// The layout version ([`COMMAND_VERSION`]).
    pub version: u32,
    /// The statement, as the user wrote it.
    pub statement: String,
    /// Session properties in force (`SET`).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Session variables in force (`DEFINE`), for `${…}` in the text.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// The persistent query the statement started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_id: Option<String>,
    /// The persistent queries the statement stopped (TERMINATE, DROP of a
    /// query's sink).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub terminates: Vec<String>,
    /// What replay must find unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<Pin>,
    /// A unique id, by which the server that recorded the command finds
    /// it when reading the topic back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Marks the command at this offset void: it failed when the topic's
    /// order reached it (it conflicted with another server's command
    /// recorded just before), so replay leaves it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voids: Option<i64>,
}

/// What a statement resolved to when it first ran, which its replay must
/// resolve to again (else its query is marked failed, not run on a
/// different plan).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// The stream or table it registers: kind, name, columns with types,
    /// topic, formats and window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Topics it writes, with their partition counts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<(String, i32)>,
    /// The internal topics (repartition, changelog) of its query.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub internal_topics: Vec<String>,
    /// The fingerprint of its query's state layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<u64>,
}

impl Pin {
    /// How `self` (the pin stored) differs from `now` (the replay's), for
    /// an error message; `None` when they agree.
    pub fn difference(&self, now: &Pin) -> Option<String> {
        if self == now {
            return None;
        }
        let mut parts = Vec::new();
        if self.source != now.source {
            parts.push(format!(
                "it registered {} and now registers {}",
                self.source.as_deref().unwrap_or("nothing"),
                now.source.as_deref().unwrap_or("nothing")
            ));
        }
        if self.topics != now.topics {
            parts.push(format!(
                "its topics were {:?} and are now {:?}",
                self.topics, now.topics
            ));
        }
        if self.internal_topics != now.internal_topics {
            parts.push(format!(
                "its internal topics were {:?} and are now {:?}",
                self.internal_topics, now.internal_topics
            ));
        }
        if self.state != now.state {
            parts.push("its state layout changed".to_string());
        }
        Some(parts.join("; "))
    }
}

/// The name of the command topic of a service.
pub fn command_topic(service_id: &str) -> String {
    format!("_confluent-ksql-{service_id}_command_topic")
}

/// A command read back: its offset, and the command or why it cannot be
/// read.
pub type StoredCommand = (i64, std::result::Result<Command, String>);

/// The command topic of one service: appends commands and reads them back.
pub struct CommandLog {
    topic: String,
    writer: tokio::sync::Mutex<Box<dyn TopicWriter>>,
}

impl CommandLog {
    /// Opens the command topic of `service_id` (creating it when missing)
    /// and reads every command it holds.
    pub async fn open(
        broker: &Arc<dyn Broker>,
        service_id: &str,
    ) -> Result<(CommandLog, Vec<StoredCommand>)> {
        let topic = command_topic(service_id);
        let admin = broker.admin();
        match admin.describe_topic(&topic).await? {
            None => {
                admin
                    .create_topic_with(&topic, 1, 1, &[("retention.ms", "-1")])
                    .await?
            }
            Some(t) if t.partitions != 1 => {
                return Err(Error::external(format!(
                    "the command topic '{topic}' has {} partitions; it must have exactly one",
                    t.partitions
                )))
            }
            Some(_) => {}
        }
        let mut reader = broker.read_partition(&topic, 0)?;
        let mut commands = Vec::new();
        while let Some(batch) = reader.next().await? {
            for i in 0..batch.len() {
                let parsed = match batch.values.get(i) {
                    None => Err("the record has no value".to_string()),
                    Some(v) => parse(v),
                };
                commands.push((batch.offsets[i], parsed));
            }
        }
        let writer = broker.writer(&topic)?;
        Ok((
            CommandLog {
                topic,
                writer: tokio::sync::Mutex::new(writer),
            },
            commands,
        ))
    }

    /// The topic's name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Appends a command and waits until the broker acknowledged it.
    pub async fn append(&self, command: &Command) -> Result<()> {
        let value = serde_json::to_vec(command)
            .map_err(|e| Error::internal(format!("cannot encode a command: {e}")))?;
        let batch = OutBatch {
            keys: Encoded {
                data: Vec::new(),
                offsets: vec![0, 0],
                nulls: vec![true],
            },
            values: Encoded {
                offsets: vec![0, value.len()],
                data: value,
                nulls: vec![false],
            },
            timestamps: vec![chrono::Utc::now().timestamp_millis()],
            headers: None,
            partition: Some(0),
        };
        let mut writer = self.writer.lock().await;
        writer.write(&batch).await?;
        writer.flush().await.map_err(|e| {
            e.context(format!(
                "the statement was not recorded in the command topic '{}'",
                self.topic
            ))
        })
    }
}

/// Reads a command record's value.
pub(crate) fn parse(value: &[u8]) -> std::result::Result<Command, String> {
    #[derive(Deserialize)]
    struct Version {
        version: u32,
    }
    let version: Version = serde_json::from_slice(value)
        .map_err(|e| format!("the record is not a sluice command: {e}"))?;
    if version.version > COMMAND_VERSION {
        return Err(format!(
            "the command was written by a newer sluice (command version {}; this sluice reads \
             up to {COMMAND_VERSION})",
            version.version
        ));
    }
    serde_json::from_slice(value).map_err(|e| format!("the command is malformed: {e}"))
}

/// For each command, whether replay starts the query it created: only the
/// last creation of a query id (CREATE OR REPLACE keeps the id), and only
/// when no later command stopped it.
pub fn queries_to_start(commands: &[&Command]) -> Vec<bool> {
    let mut last_created: HashMap<&str, usize> = HashMap::new();
    let mut last_stopped: HashMap<&str, usize> = HashMap::new();
    for (i, c) in commands.iter().enumerate() {
        if let Some(id) = &c.query_id {
            last_created.insert(id, i);
        }
        for id in &c.terminates {
            last_stopped.insert(id, i);
        }
    }
    commands
        .iter()
        .enumerate()
        .map(|(i, c)| {
            c.query_id.as_deref().is_some_and(|id| {
                last_created.get(id) == Some(&i) && last_stopped.get(id).is_none_or(|&s| s < i)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(query: Option<&str>, terminates: &[&str]) -> Command {
        Command {
            version: COMMAND_VERSION,
            statement: "x".into(),
            query_id: query.map(str::to_string),
            terminates: terminates.iter().map(|s| s.to_string()).collect(),
            ..Command::default()
        }
    }

    #[test]
    fn only_live_queries_start() {
        let commands = [
            cmd(None, &[]),
            cmd(Some("A"), &[]),
            cmd(Some("B"), &[]),
            cmd(Some("C"), &[]),
            cmd(None, &["A"]),
            cmd(Some("B"), &[]), // CREATE OR REPLACE
            cmd(Some("A"), &[]), // a new query reusing a stopped id
        ];
        let refs: Vec<&Command> = commands.iter().collect();
        assert_eq!(
            queries_to_start(&refs),
            vec![false, false, false, true, false, true, true]
        );
    }

    #[test]
    fn commands_round_trip_and_newer_versions_are_refused() {
        let mut c = cmd(Some("CSAS_X_1"), &[]);
        c.pin = Some(Pin {
            source: Some("STREAM X".into()),
            topics: vec![("X".into(), 3)],
            internal_topics: vec![],
            state: Some(7),
        });
        let json = serde_json::to_vec(&c).unwrap();
        assert_eq!(parse(&json).unwrap(), c);
        let newer = br#"{"version": 99, "statement": "x", "future": true}"#;
        assert!(parse(newer).unwrap_err().contains("newer sluice"));
        assert!(parse(b"garbage").is_err());
    }
}
