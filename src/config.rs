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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            service_id: "default_".to_string(),
            default_start: StartFrom::Latest,
            task: TaskSettings::default(),
            properties: BTreeMap::new(),
            processing_log_stream: true,
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

/// Per-session settings: `SET` properties and `DEFINE` variables.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// Properties set with `SET 'name'='value'`.
    pub properties: BTreeMap<String, String>,
    /// Variables defined with `DEFINE name = 'value'` (upper-cased names).
    pub variables: std::collections::HashMap<String, String>,
}

impl Session {
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
