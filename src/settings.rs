//! The server's properties file (`sluice server --config FILE`), in
//! ksqlDB's layout, and the `SLUICE_PROPERTY_*` environment variables that
//! override it.
//!
//! Every key is sorted into one of these, or refused:
//!
//! * server settings: `bootstrap.servers`, `listeners`,
//!   `ksql.advertised.listener`, `ksql.service.id`,
//!   `ksql.schema.registry.url`, the listener's TLS files
//!   (`ssl.certificate.location`, `ssl.key.location`) and its
//!   authentication (`authentication.method`, `authentication.basic.users`,
//!   `authentication.realm`);
//! * query properties sluice honours, the defaults of every session
//!   (`ksql.streams.auto.offset.reset`, `ksql.streams.processing.guarantee`,
//!   `ksql.streams.commit.interval.ms`, `ksql.persistence.*`, …);
//! * Kafka client properties, passed to every librdkafka client sluice
//!   creates: any property librdkafka knows (`security.protocol`,
//!   `sasl.*`, `ssl.*`, `client.id`, …), with or without the
//!   `ksql.streams.` prefix; `ksql.streams.ssl.certificate.location` and
//!   `ksql.streams.ssl.key.location` are the Kafka client's own
//!   certificate, since the unprefixed names are the listener's.
//!
//! A key that is none of these (a typo, a JVM-only setting) stops the
//! server at start with its line and, when one is close, the key it
//! probably meant. So do the Kafka properties sluice sets itself per client
//! (`group.id`, `enable.auto.commit`, `transactional.id`, …), which a file
//! could not change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The environment variables that set properties: `SLUICE_PROPERTY_` then
/// the key upper-cased with `.` as `_` (`_` as `__`, `-` as `___`), as
/// Confluent's images map `KSQL_*`.
pub const ENV_PREFIX: &str = "SLUICE_PROPERTY_";

/// Everything a properties file (and the environment) set.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `bootstrap.servers`.
    pub bootstrap_servers: Option<String>,
    /// `listeners`: the one URL the REST API listens on.
    pub listener: Option<Listener>,
    /// `ksql.advertised.listener`.
    pub advertised_listener: Option<String>,
    /// `ksql.service.id`.
    pub service_id: Option<String>,
    /// `ksql.schema.registry.url`.
    pub schema_registry_url: Option<String>,
    /// `ksql.schema.registry.basic.auth.user.info`: `user:password` for
    /// that registry.
    pub schema_registry_user_info: Option<String>,
    /// The listener's certificate chain and key (PEM).
    pub tls: TlsFiles,
    /// `authentication.method` and its users.
    pub authentication: Authentication,
    /// Query properties, as a session's defaults (`SHOW PROPERTIES`).
    pub query_properties: BTreeMap<String, String>,
    /// librdkafka properties for every Kafka client.
    pub kafka: BTreeMap<String, String>,
}

/// A REST listener URL: `http://host:port` or `https://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// True for `https://`.
    pub https: bool,
    /// The address to bind.
    pub address: std::net::SocketAddr,
}

impl Listener {
    /// Parses `http://0.0.0.0:8088`, `https://localhost:8443`, or a bare
    /// `host:port` (HTTP).
    pub fn parse(url: &str) -> Result<Listener> {
        use std::net::ToSocketAddrs;
        let url = url.trim();
        let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else if url.contains("://") {
            return Err(Error::user(format!(
                "Invalid listener '{url}': sluice serves http:// and https:// listeners"
            )));
        } else {
            (false, url)
        };
        let rest = rest.trim_end_matches('/');
        let address = rest
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| {
                Error::user(format!(
                    "Invalid listener '{url}': expected http://HOST:PORT or https://HOST:PORT"
                ))
            })?;
        Ok(Listener { https, address })
    }
}

/// The listener's TLS files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// `ssl.certificate.location`: the certificate chain, PEM.
    pub certificate: Option<PathBuf>,
    /// `ssl.key.location`: the private key, PEM.
    pub key: Option<PathBuf>,
}

/// How REST clients authenticate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authentication {
    /// `authentication.method=BASIC`.
    pub basic: bool,
    /// `authentication.basic.users`: the file of `user: password` lines.
    pub users_file: Option<PathBuf>,
    /// `authentication.realm`, named in `WWW-Authenticate`.
    pub realm: Option<String>,
}

/// The query properties sluice honours, as defaults of every session.
const QUERY_KEYS: &[&str] = &[
    "ksql.streams.auto.offset.reset",
    "ksql.streams.processing.guarantee",
    "ksql.streams.cache.max.bytes.buffering",
    "ksql.streams.commit.interval.ms",
    "ksql.persistence.default.format.key",
    "ksql.persistence.default.format.value",
    "ksql.persistence.wrap.single.values",
    "ksql.output.topic.name.prefix",
];

/// The server settings, by key.
const SERVER_KEYS: &[&str] = &[
    "bootstrap.servers",
    "listeners",
    "ksql.advertised.listener",
    "ksql.service.id",
    "ksql.schema.registry.url",
    "ksql.schema.registry.basic.auth.user.info",
    "ksql.schema.registry.basic.auth.credentials.source",
    "ssl.certificate.location",
    "ssl.key.location",
    "authentication.method",
    "authentication.basic.users",
    "authentication.realm",
];

/// Kafka client properties sluice sets itself on the clients that need
/// them, with why a file cannot set them.
const RESERVED_KAFKA: &[(&str, &str)] = &[
    (
        "group.id",
        "each query reads in its own consumer group, named from ksql.service.id",
    ),
    (
        "group.instance.id",
        "query consumers join their groups dynamically",
    ),
    (
        "enable.auto.commit",
        "queries commit their input positions after their output is written",
    ),
    (
        "enable.auto.offset.store",
        "queries commit their input positions after their output is written",
    ),
    (
        "enable.partition.eof",
        "sluice's readers rely on it to know when they are caught up",
    ),
    (
        "isolation.level",
        "sluice reads committed data where a query runs exactly-once",
    ),
    (
        "transactional.id",
        "each exactly-once task has its own, derived from the query and the server",
    ),
    (
        "transaction.timeout.ms",
        "exactly-once tasks set it from their commit interval",
    ),
    ("enable.idempotence", "query output is written idempotently"),
    (
        "acks",
        "query output waits for every in-sync replica (acks=all)",
    ),
    (
        "partitioner",
        "keys are partitioned as Kafka's Java clients do (murmur2_random)",
    ),
    (
        "partition.assignment.strategy",
        "query consumers use the cooperative-sticky assignor",
    ),
    (
        "auto.offset.reset",
        "set ksql.streams.auto.offset.reset, the default of new queries",
    ),
];

impl Settings {
    /// Reads `path` (when given), then the `SLUICE_PROPERTY_*` variables
    /// of `env`; every key is checked.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings> {
        let mut entries: Vec<(String, String, String)> = Vec::new();
        if let Some(path) = path {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::user(format!(
                    "cannot read the config file '{}': {e}",
                    path.display()
                ))
            })?;
            for (line, key, value) in parse_properties(&text) {
                entries.push((key, value, format!("{}:{line}", path.display())));
            }
        }
        let mut from_env: Vec<(String, String)> = env
            .into_iter()
            .filter_map(|(name, value)| {
                let key = name.strip_prefix(ENV_PREFIX)?;
                Some((env_key(key), value))
            })
            .collect();
        from_env.sort();
        for (key, value) in from_env {
            let origin = format!("the environment ({ENV_PREFIX}…)");
            entries.push((key, value, origin));
        }
        let mut settings = Settings::default();
        let mut problems = Vec::new();
        for (key, value, origin) in entries {
            if let Err(e) = settings.set(&key, &value) {
                problems.push(format!("{origin}: {e}"));
            }
        }
        if let Err(e) = check_kafka_properties(&settings.kafka) {
            problems.push(e);
        }
        if !problems.is_empty() {
            return Err(Error::user(format!(
                "The configuration has {} problem{}:\n  {}",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" },
                problems.join("\n  ")
            )));
        }
        Ok(settings)
    }

    /// The keys set that only `sluice server` honours (its listener and
    /// its authentication).
    pub fn server_only(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.listener.is_some() {
            keys.push("listeners");
        }
        if self.advertised_listener.is_some() {
            keys.push("ksql.advertised.listener");
        }
        if self.tls.certificate.is_some() {
            keys.push("ssl.certificate.location");
        }
        if self.tls.key.is_some() {
            keys.push("ssl.key.location");
        }
        if self.authentication != Authentication::default() {
            keys.push("authentication.*");
        }
        keys
    }

    /// Sorts one key; an error says why it is refused.
    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let value = value.trim().to_string();
        let path = || PathBuf::from(&value);
        match key {
            "bootstrap.servers" => self.bootstrap_servers = Some(value),
            "listeners" => {
                let urls: Vec<&str> = value.split(',').map(str::trim).collect();
                if urls.len() != 1 {
                    return Err(Error::user(format!(
                        "'listeners' names {} URLs; sluice serves the REST API on one",
                        urls.len()
                    )));
                }
                self.listener = Some(Listener::parse(urls[0])?);
            }
            "ksql.advertised.listener" => self.advertised_listener = Some(value),
            "ksql.service.id" => self.service_id = Some(value),
            "ksql.schema.registry.url" => self.schema_registry_url = Some(value),
            "ksql.schema.registry.basic.auth.user.info" => {
                if !value.contains(':') {
                    return Err(Error::user(
                        "'ksql.schema.registry.basic.auth.user.info' must be user:password",
                    ));
                }
                self.schema_registry_user_info = Some(value)
            }
            "ksql.schema.registry.basic.auth.credentials.source" => {
                if !value.eq_ignore_ascii_case("USER_INFO") {
                    return Err(Error::user(format!(
                        "'ksql.schema.registry.basic.auth.credentials.source' is '{value}': \
                         sluice takes USER_INFO (with ksql.schema.registry.basic.auth.user.info)"
                    )));
                }
            }
            "ssl.certificate.location" => self.tls.certificate = Some(path()),
            "ssl.key.location" => self.tls.key = Some(path()),
            "authentication.method" => match value.to_ascii_uppercase().as_str() {
                "BASIC" => self.authentication.basic = true,
                "NONE" => self.authentication.basic = false,
                _ => {
                    return Err(Error::user(format!(
                        "'authentication.method' is '{value}': sluice supports BASIC and NONE"
                    )))
                }
            },
            "authentication.basic.users" => self.authentication.users_file = Some(path()),
            "authentication.realm" => self.authentication.realm = Some(value),
            _ => return self.set_property(key, value),
        }
        Ok(())
    }

    fn set_property(&mut self, key: &str, value: String) -> Result<()> {
        let bare = key.strip_prefix("ksql.streams.").unwrap_or(key);
        if QUERY_KEYS.contains(&key) {
            crate::config::check_property(key, &value)?;
            check_query_value(bare, &value)?;
            self.query_properties.insert(key.to_string(), value);
            return Ok(());
        }
        // The Kafka client's own certificate (the bare names are the
        // listener's).
        if matches!(
            key,
            "ksql.streams.ssl.certificate.location" | "ksql.streams.ssl.key.location"
        ) {
            self.kafka.insert(bare.to_string(), value);
            return Ok(());
        }
        if let Some((_, why)) = RESERVED_KAFKA.iter().find(|(k, _)| *k == bare) {
            return Err(Error::user(format!(
                "'{key}' cannot be set: sluice sets it per client ({why})"
            )));
        }
        if let Some(hint) = java_only(bare) {
            return Err(Error::user(format!("'{key}' is not supported: {hint}")));
        }
        if key.starts_with("ksql.") && key == bare {
            return Err(unknown(key));
        }
        if is_kafka_property(bare) {
            self.kafka.insert(bare.to_string(), value);
            return Ok(());
        }
        Err(unknown(key))
    }
}

/// Whether librdkafka knows `name` as a client property.
fn is_kafka_property(name: &str) -> bool {
    let mut config = rdkafka::ClientConfig::new();
    // A probe value that every property takes or rejects by its value,
    // never by its name: only "No such configuration property" means
    // unknown.
    config.set(name, "1");
    match config.create_native_config() {
        Ok(_) => true,
        Err(e) => !e.to_string().contains("No such configuration property"),
    }
}

/// Checks the Kafka properties together, as librdkafka would on a client.
fn check_kafka_properties(kafka: &BTreeMap<String, String>) -> std::result::Result<(), String> {
    let mut config = rdkafka::ClientConfig::new();
    for (k, v) in kafka {
        config.set(k, v);
    }
    config
        .create_native_config()
        .map(|_| ())
        .map_err(|e| format!("a Kafka client property is invalid: {e}"))
}

/// Checks the value of a query property sluice interprets.
fn check_query_value(bare: &str, value: &str) -> Result<()> {
    let bad = |expected: &str| {
        Err(Error::user(format!(
            "'{bare}' is '{value}': expected {expected}"
        )))
    };
    match bare {
        "auto.offset.reset" => match value.to_ascii_lowercase().as_str() {
            "earliest" | "latest" => Ok(()),
            _ => bad("earliest or latest"),
        },
        "commit.interval.ms" | "cache.max.bytes.buffering" => match value.parse::<u64>() {
            Ok(_) => Ok(()),
            Err(_) => bad("a whole number"),
        },
        _ => Ok(()),
    }
}

/// JVM-only settings with the librdkafka way to say the same.
fn java_only(key: &str) -> Option<&'static str> {
    match key {
        "ssl.truststore.location" | "ssl.truststore.password" | "ssl.truststore.type" => Some(
            "sluice's Kafka clients are librdkafka's and read PEM files: set ssl.ca.location to \
             the CA certificate (PEM) instead of a Java trust store",
        ),
        "ssl.keystore.location" | "ssl.keystore.password" | "ssl.keystore.type" => Some(
            "sluice reads PEM files: set ksql.streams.ssl.certificate.location and \
             ksql.streams.ssl.key.location for the Kafka client's certificate, \
             ssl.certificate.location and ssl.key.location for the REST listener's",
        ),
        "sasl.jaas.config" => Some(
            "set sasl.username and sasl.password (librdkafka's names) instead of a JAAS \
             configuration",
        ),
        _ => None,
    }
}

fn unknown(key: &str) -> Error {
    let known = SERVER_KEYS.iter().chain(QUERY_KEYS).map(|k| k.to_string());
    let closest = known
        .map(|k| (edit_distance(key, &k), k))
        .filter(|(d, k)| *d <= 3.max(k.len() / 8))
        .min();
    match closest {
        Some((_, k)) => Error::user(format!("unknown property '{key}' (did you mean '{k}'?)")),
        None => Error::user(format!(
            "unknown property '{key}': neither a sluice setting nor a Kafka client property"
        )),
    }
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

/// The key an environment variable's name stands for: lower-cased, `___`
/// is `-`, `__` is `_`, `_` is `.`.
fn env_key(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let mut out = String::with_capacity(lower.len());
    let mut rest = lower.as_str();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("___") {
            out.push('-');
            rest = r;
        } else if let Some(r) = rest.strip_prefix("__") {
            out.push('_');
            rest = r;
        } else if let Some(r) = rest.strip_prefix('_') {
            out.push('.');
            rest = r;
        } else {
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// The entries of a Java properties text: (line number, key, value).
/// Comments (`#`, `!`), blank lines, `\` line continuations, `=`, `:` or
/// white space as separator, and the escapes `\t`, `\n`, `\r`, `\uXXXX`.
pub fn parse_properties(text: &str) -> Vec<(usize, String, String)> {
    let mut entries = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((number, line)) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
            continue;
        }
        let mut logical = String::from(trimmed);
        while ends_with_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let (key, value) = split_entry(&logical);
        entries.push((number + 1, unescape(&key), unescape(&value)));
    }
    entries
}

fn ends_with_continuation(line: &str) -> bool {
    line.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Splits at the first unescaped `=`, `:` or white space.
fn split_entry(line: &str) -> (String, String) {
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' | ':' | ' ' | '\t' => {
                let key = line[..i].to_string();
                let mut value = line[i..].trim_start();
                if c.is_whitespace() {
                    if let Some(v) = value.strip_prefix(['=', ':']) {
                        value = v.trim_start();
                    }
                } else {
                    value = value[1..].trim_start();
                }
                return (key, value.to_string());
            }
            _ => {}
        }
    }
    (line.to_string(), String::new())
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(c) => out.push(c),
                    None => {
                        out.push_str("\\u");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Settings> {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("server.properties");
        std::fs::write(&path, text).expect("write");
        Settings::load(
            Some(&path),
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn java_properties_syntax() {
        let entries = parse_properties(
            "# comment\n! another\n\na=1\nb : 2\nc 3\nd=long \\\n   value\ne\\=f=g\\u0041\n",
        );
        let kv: Vec<(&str, &str)> = entries
            .iter()
            .map(|(_, k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            kv,
            vec![
                ("a", "1"),
                ("b", "2"),
                ("c", "3"),
                ("d", "long value"),
                ("e=f", "gA")
            ]
        );
        assert_eq!(entries[3].0, 7);
    }

    #[test]
    fn keys_are_sorted_into_server_query_and_kafka_settings() {
        let s = load(
            "bootstrap.servers=broker:9092\nlisteners=https://127.0.0.1:8443\n\
             ksql.service.id=prod_\nksql.streams.auto.offset.reset=earliest\n\
             ksql.streams.processing.guarantee=exactly_once_v2\n\
             security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-256\n\
             ksql.streams.client.id=sluice-prod\nssl.ca.location=/ca.pem\n\
             ssl.certificate.location=/server.pem\nssl.key.location=/server.key\n\
             ksql.streams.ssl.certificate.location=/client.pem\n\
             authentication.method=BASIC\nauthentication.basic.users=/users\n\
             ksql.schema.registry.basic.auth.credentials.source=USER_INFO\n\
             ksql.schema.registry.basic.auth.user.info=sr:pw\n",
            &[("SLUICE_PROPERTY_SASL_PASSWORD", "s3cret"), ("OTHER", "x")],
        )
        .expect("valid");
        assert_eq!(s.bootstrap_servers.as_deref(), Some("broker:9092"));
        assert_eq!(
            s.listener,
            Some(Listener {
                https: true,
                address: "127.0.0.1:8443".parse().expect("addr")
            })
        );
        assert_eq!(s.service_id.as_deref(), Some("prod_"));
        assert_eq!(
            s.query_properties
                .get("ksql.streams.auto.offset.reset")
                .map(String::as_str),
            Some("earliest")
        );
        assert_eq!(
            s.kafka.get("sasl.password").map(String::as_str),
            Some("s3cret")
        );
        assert_eq!(
            s.kafka.get("client.id").map(String::as_str),
            Some("sluice-prod")
        );
        assert_eq!(
            s.kafka.get("ssl.certificate.location").map(String::as_str),
            Some("/client.pem")
        );
        assert_eq!(s.tls.certificate, Some(PathBuf::from("/server.pem")));
        assert!(s.authentication.basic);
        assert_eq!(s.schema_registry_user_info.as_deref(), Some("sr:pw"));
        assert!(!s.kafka.contains_key("bootstrap.servers"));
    }

    #[test]
    fn unknown_reserved_and_java_keys_are_refused_together() {
        let e = load(
            "bootstrap.servers=b:9092\nksql.service.idd=x\ngroup.id=mine\n\
             ssl.truststore.location=/t.jks\nsecurity.protocl=SSL\n\
             ksql.streams.auto.offset.reset=sometimes\nsecurity.protocol=CARRIER_PIGEON\n",
            &[],
        )
        .expect_err("invalid");
        let text = e.to_string();
        for expected in [
            "6 problems",
            "server.properties:2: unknown property 'ksql.service.idd' (did you mean 'ksql.service.id'?)",
            "server.properties:3: 'group.id' cannot be set",
            "ssl.ca.location",
            ":5: unknown property 'security.protocl'",
            "expected earliest or latest",
            "CARRIER_PIGEON",
        ] {
            assert!(text.contains(expected), "{expected:?} in {text}");
        }
    }

    #[test]
    fn environment_names_map_to_keys() {
        assert_eq!(env_key("KSQL_SERVICE_ID"), "ksql.service.id");
        assert_eq!(env_key("SASL_MECHANISM"), "sasl.mechanism");
        assert_eq!(env_key("A__B___C_D"), "a_b-c.d");
        assert_eq!(edit_distance("listners", "listeners"), 1);
    }
}
