//! Typed settings with their defaults, in one place.

use std::collections::BTreeMap;

use crate::runtime::io::StartFrom;
use crate::runtime::task::TaskSettings;

/// Server-wide settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `ksql.service.id`: prefixes consumer groups and internal topics.
    pub service_id: String,
    /// Where new queries start without committed offsets
    /// (`auto.offset.reset`; ksqlDB's default is `latest`).
    pub default_start: StartFrom,
    /// Batching and commits of query tasks.
    pub task: TaskSettings,
    /// Server-level property overrides (shown by SHOW PROPERTIES).
    pub properties: BTreeMap<String, String>,
    /// Register the `KSQL_PROCESSING_LOG` stream at start.
    pub processing_log_stream: bool,
    /// Keep the catalog and persistent queries in the command topic and
    /// replay it at start (servers and shells; the test runner keeps
    /// nothing).
    pub command_topic: bool,
    /// The Schema Registry of AVRO, PROTOBUF and JSON_SR topics: the
    /// embedded one or an external one (`--schema-registry URL`). `None`
    /// makes the engine keep a registry of its own in memory.
    pub schema_registry: Option<crate::sr::RegistryRef>,
    /// Names this server among the servers of its service, the same
    /// across its restarts (the transactional ids of exactly-once tasks).
    pub instance_id: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            service_id: "default_".to_string(),
            default_start: StartFrom::Latest,
            task: TaskSettings::default(),
            properties: BTreeMap::new(),
            processing_log_stream: true,
            command_topic: false,
            schema_registry: None,
            instance_id: uuid::Uuid::new_v4().simple().to_string(),
        }
    }
}

impl Config {
    /// The processing-log topic (`<service id>ksql_processing_log`).
    pub fn processing_log_topic(&self) -> String {
        format!("{}ksql_processing_log", self.service_id)
    }

    /// The consumer group of a persistent query.
    pub fn query_group(&self, query_id: &str) -> String {
        format!("_confluent-ksql-{}query_{query_id}", self.service_id)
    }
}

/// Checks a property a session sets: a setting sluice would not honour is
/// refused with the reason, never accepted and ignored.
pub fn check_property(name: &str, value: &str) -> crate::error::Result<()> {
    if name == "ksql.schema.registry.url" {
        return Err(crate::error::Error::user(format!(
            "'{name}' is a server setting: start sluice with --schema-registry {value} (or \
             SLUICE_SCHEMA_REGISTRY) to use that registry; a session cannot change it"
        )));
    }
    let key = name.strip_prefix("ksql.streams.").unwrap_or(name);
    if key == "processing.guarantee" {
        let v = value.trim().to_ascii_lowercase();
        if v == "at_least_once" {
            return Ok(());
        }
        // ksqlDB's names of exactly-once: all mean exactly_once_v2 here.
        if matches!(
            v.as_str(),
            "exactly_once_v2" | "exactly_once" | "exactly_once_beta"
        ) {
            return Ok(());
        }
        return Err(crate::error::Error::user(format!(
            "Invalid value '{value}' for property '{name}': expected 'at_least_once' or \
             'exactly_once_v2'"
        )));
    }
    Ok(())
}

/// Per-session settings: `SET` properties and `DEFINE` variables.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// Properties set with `SET 'name'='value'`.
    pub properties: BTreeMap<String, String>,
    /// Variables defined with `DEFINE name = 'value'` (upper-cased names).
    pub variables: std::collections::HashMap<String, String>,
    /// Set while the engine replays a command of the command topic.
    pub replay: Option<Replay>,
    /// For a pull query another server of the service forwarded: the
    /// partitions of the table to answer for.
    pub partitions: Option<Vec<i32>>,
    /// The caller's `Authorization` header, which a pull query forwarded
    /// to another server of the service carries (as ksqlDB forwards the
    /// caller's credentials).
    pub authorization: Option<String>,
}

/// How a command of the command topic is replayed.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// The query id the command gave its query.
    pub query_id: Option<String>,
    /// Whether its query runs (false when a later command replaced or
    /// stopped it).
    pub start: bool,
    /// What the statement resolved to when it first ran.
    pub pin: Option<crate::engine::commands::Pin>,
    /// This server recorded the command (applied in command-topic order
    /// after another server's): its effects outside the catalog (creating
    /// or deleting topics) are still to be done.
    pub own: bool,
    /// The caller holds the engine's catalog lock already.
    pub locked: bool,
}

impl Session {
    /// Whether a statement's effects outside the catalog (creating or
    /// deleting topics) are done: yes, unless it is another server's
    /// command (or one replayed at start), whose effects were done when it
    /// first ran.
    pub fn acts_outside_catalog(&self) -> bool {
        self.replay.as_ref().is_none_or(|r| r.own)
    }

    /// Checks every property set in the session ([`check_property`]).
    pub fn check_properties(&self) -> crate::error::Result<()> {
        for (name, value) in &self.properties {
            check_property(name, value)?;
        }
        Ok(())
    }

    /// A property set in the session, else from the server config.
    pub fn property<'a>(&'a self, config: &'a Config, name: &str) -> Option<&'a str> {
        self.properties
            .get(name)
            .or_else(|| config.properties.get(name))
            .map(String::as_str)
    }

    /// Where a new query starts, from `auto.offset.reset`.
    pub fn start_from(&self, config: &Config) -> StartFrom {
        match self
            .property(config, "auto.offset.reset")
            .or_else(|| self.property(config, "ksql.streams.auto.offset.reset"))
        {
            Some(v) if v.eq_ignore_ascii_case("earliest") => StartFrom::Earliest,
            Some(v) if v.eq_ignore_ascii_case("latest") => StartFrom::Latest,
            _ => config.default_start,
        }
    }
}
