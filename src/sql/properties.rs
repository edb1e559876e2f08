//! Typed WITH properties.
//!
//! [`WithProperties::from_properties`] turns a statement's WITH clause into
//! typed settings, checking names against the set the statement allows
//! ([`CREATE_SOURCE_PROPERTIES`], [`CREATE_AS_PROPERTIES`],
//! [`INSERT_INTO_PROPERTIES`]) and values against their types. Nothing past
//! the planner sees the raw name/value list.

use crate::error::{Error, Location, Result};
use crate::sql::ast::{Properties, Property, PropertyValue};

/// `KAFKA_TOPIC`: the backing topic.
pub const KAFKA_TOPIC: &str = "KAFKA_TOPIC";
/// `VALUE_FORMAT`
pub const VALUE_FORMAT: &str = "VALUE_FORMAT";
/// `KEY_FORMAT`
pub const KEY_FORMAT: &str = "KEY_FORMAT";
/// `FORMAT`: key and value format together.
pub const FORMAT: &str = "FORMAT";
/// `PARTITIONS`
pub const PARTITIONS: &str = "PARTITIONS";
/// `REPLICAS`
pub const REPLICAS: &str = "REPLICAS";
/// `RETENTION_MS`: retention.ms of a created topic.
pub const RETENTION_MS: &str = "RETENTION_MS";
/// `TIMESTAMP`: the event-time column.
pub const TIMESTAMP: &str = "TIMESTAMP";
/// `TIMESTAMP_FORMAT`
pub const TIMESTAMP_FORMAT: &str = "TIMESTAMP_FORMAT";
/// `WRAP_SINGLE_VALUE`
pub const WRAP_SINGLE_VALUE: &str = "WRAP_SINGLE_VALUE";
/// `VALUE_DELIMITER`
pub const VALUE_DELIMITER: &str = "VALUE_DELIMITER";
/// `KEY_DELIMITER`
pub const KEY_DELIMITER: &str = "KEY_DELIMITER";
/// `WINDOW_TYPE`: the key of an existing topic is windowed.
pub const WINDOW_TYPE: &str = "WINDOW_TYPE";
/// `WINDOW_SIZE`, e.g. `'30 SECONDS'`.
pub const WINDOW_SIZE: &str = "WINDOW_SIZE";
/// `QUERY_ID`
pub const QUERY_ID: &str = "QUERY_ID";
/// `KEY_SCHEMA_ID`
pub const KEY_SCHEMA_ID: &str = "KEY_SCHEMA_ID";
/// `VALUE_SCHEMA_ID`
pub const VALUE_SCHEMA_ID: &str = "VALUE_SCHEMA_ID";
/// `KEY_SCHEMA_FULL_NAME`
pub const KEY_SCHEMA_FULL_NAME: &str = "KEY_SCHEMA_FULL_NAME";
/// `VALUE_SCHEMA_FULL_NAME`
pub const VALUE_SCHEMA_FULL_NAME: &str = "VALUE_SCHEMA_FULL_NAME";
/// `VALUE_AVRO_SCHEMA_FULL_NAME`: older spelling of `VALUE_SCHEMA_FULL_NAME`.
pub const VALUE_AVRO_SCHEMA_FULL_NAME: &str = "VALUE_AVRO_SCHEMA_FULL_NAME";
/// `KEY_PROTOBUF_NULLABLE_REPRESENTATION`
pub const KEY_PROTOBUF_NULLABLE_REPRESENTATION: &str = "KEY_PROTOBUF_NULLABLE_REPRESENTATION";
/// `VALUE_PROTOBUF_NULLABLE_REPRESENTATION`
pub const VALUE_PROTOBUF_NULLABLE_REPRESENTATION: &str = "VALUE_PROTOBUF_NULLABLE_REPRESENTATION";

/// What `CREATE STREAM|TABLE (…) WITH (…)` accepts.
pub const CREATE_SOURCE_PROPERTIES: &[&str] = &[
    KAFKA_TOPIC,
    VALUE_FORMAT,
    KEY_FORMAT,
    FORMAT,
    PARTITIONS,
    REPLICAS,
    RETENTION_MS,
    TIMESTAMP,
    TIMESTAMP_FORMAT,
    WRAP_SINGLE_VALUE,
    VALUE_DELIMITER,
    KEY_DELIMITER,
    WINDOW_TYPE,
    WINDOW_SIZE,
    KEY_SCHEMA_ID,
    VALUE_SCHEMA_ID,
    KEY_SCHEMA_FULL_NAME,
    VALUE_SCHEMA_FULL_NAME,
    VALUE_AVRO_SCHEMA_FULL_NAME,
    KEY_PROTOBUF_NULLABLE_REPRESENTATION,
    VALUE_PROTOBUF_NULLABLE_REPRESENTATION,
];

/// What `CREATE STREAM|TABLE … WITH (…) AS SELECT` accepts.
pub const CREATE_AS_PROPERTIES: &[&str] = &[
    KAFKA_TOPIC,
    VALUE_FORMAT,
    KEY_FORMAT,
    FORMAT,
    PARTITIONS,
    REPLICAS,
    RETENTION_MS,
    TIMESTAMP,
    TIMESTAMP_FORMAT,
    WRAP_SINGLE_VALUE,
    VALUE_DELIMITER,
    KEY_DELIMITER,
    KEY_SCHEMA_ID,
    VALUE_SCHEMA_ID,
    KEY_SCHEMA_FULL_NAME,
    VALUE_SCHEMA_FULL_NAME,
    VALUE_AVRO_SCHEMA_FULL_NAME,
    KEY_PROTOBUF_NULLABLE_REPRESENTATION,
    VALUE_PROTOBUF_NULLABLE_REPRESENTATION,
];

/// What `INSERT INTO … WITH (…) SELECT` accepts.
pub const INSERT_INTO_PROPERTIES: &[&str] = &[QUERY_ID];

/// The window of a windowed-key source (`WINDOW_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowType {
    /// `TUMBLING`
    Tumbling,
    /// `HOPPING`
    Hopping,
    /// `SESSION`
    Session,
}

/// The WITH clause of one statement, typed. Format names are upper-cased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WithProperties {
    /// `KAFKA_TOPIC`
    pub kafka_topic: Option<String>,
    /// `VALUE_FORMAT`
    pub value_format: Option<String>,
    /// `KEY_FORMAT`
    pub key_format: Option<String>,
    /// `FORMAT` (never together with KEY_FORMAT or VALUE_FORMAT)
    pub format: Option<String>,
    /// `PARTITIONS`
    pub partitions: Option<u32>,
    /// `REPLICAS`
    pub replicas: Option<u16>,
    /// `RETENTION_MS`
    pub retention_ms: Option<u64>,
    /// `TIMESTAMP`: a column name, upper-cased unless quoted in the string
    /// (``TIMESTAMP='`ts`'``).
    pub timestamp: Option<String>,
    /// `TIMESTAMP_FORMAT`, a java DateTimeFormatter pattern.
    pub timestamp_format: Option<String>,
    /// `WRAP_SINGLE_VALUE`
    pub wrap_single_value: Option<bool>,
    /// `VALUE_DELIMITER` (one character; `'SPACE'` and `'TAB'` are named)
    pub value_delimiter: Option<char>,
    /// `KEY_DELIMITER`
    pub key_delimiter: Option<char>,
    /// `WINDOW_TYPE`
    pub window_type: Option<WindowType>,
    /// `WINDOW_SIZE`, in milliseconds.
    pub window_size_ms: Option<u64>,
    /// `QUERY_ID`
    pub query_id: Option<String>,
    /// `KEY_SCHEMA_ID`
    pub key_schema_id: Option<i32>,
    /// `VALUE_SCHEMA_ID`
    pub value_schema_id: Option<i32>,
    /// `KEY_SCHEMA_FULL_NAME`
    pub key_schema_full_name: Option<String>,
    /// `VALUE_SCHEMA_FULL_NAME` (or `VALUE_AVRO_SCHEMA_FULL_NAME`)
    pub value_schema_full_name: Option<String>,
    /// `KEY_PROTOBUF_NULLABLE_REPRESENTATION`
    pub key_protobuf_nullable: Option<crate::format::ProtobufNullable>,
    /// `VALUE_PROTOBUF_NULLABLE_REPRESENTATION`
    pub value_protobuf_nullable: Option<crate::format::ProtobufNullable>,
}

fn nullable_representation(p: &Property) -> Result<crate::format::ProtobufNullable> {
    match string(p)?.to_ascii_uppercase().as_str() {
        "OPTIONAL" => Ok(crate::format::ProtobufNullable::Optional),
        "WRAPPER" => Ok(crate::format::ProtobufNullable::Wrapper),
        other => Err(at(
            p.location,
            format!(
                "Invalid value '{other}' for {}: expected 'OPTIONAL' or 'WRAPPER'",
                p.name
            ),
        )),
    }
}

impl WithProperties {
    /// Types a WITH clause, accepting only the names in `allowed`.
    pub fn from_properties(properties: &Properties, allowed: &[&str]) -> Result<WithProperties> {
        let unknown: Vec<&Property> = properties
            .entries
            .iter()
            .filter(|p| !allowed.contains(&p.name.as_str()))
            .collect();
        if let Some(first) = unknown.first() {
            let names: Vec<&str> = unknown.iter().map(|p| p.name.as_str()).collect();
            return Err(at(
                first.location,
                format!(
                    "Invalid config variable(s) in the WITH clause: {}. Valid properties are: {}",
                    names.join(","),
                    allowed.join(", ")
                ),
            ));
        }
        let mut typed = WithProperties::default();
        let mut seen: Vec<&str> = Vec::new();
        for p in &properties.entries {
            if seen.contains(&p.name.as_str()) {
                return Err(at(
                    p.location,
                    format!("Duplicate property in the WITH clause: {}", p.name),
                ));
            }
            seen.push(&p.name);
            typed.set(p)?;
        }
        typed.check(properties)?;
        Ok(typed)
    }

    fn set(&mut self, p: &Property) -> Result<()> {
        match p.name.as_str() {
            KAFKA_TOPIC => self.kafka_topic = Some(string(p)?),
            VALUE_FORMAT => self.value_format = Some(string(p)?.to_uppercase()),
            KEY_FORMAT => self.key_format = Some(string(p)?.to_uppercase()),
            FORMAT => self.format = Some(string(p)?.to_uppercase()),
            PARTITIONS => self.partitions = Some(positive(p)?),
            REPLICAS => self.replicas = Some(positive(p)?),
            RETENTION_MS => self.retention_ms = Some(number(p)?),
            TIMESTAMP => self.timestamp = Some(column_name(&string(p)?)),
            TIMESTAMP_FORMAT => self.timestamp_format = Some(string(p)?),
            WRAP_SINGLE_VALUE => self.wrap_single_value = Some(boolean(p)?),
            VALUE_DELIMITER => self.value_delimiter = Some(delimiter(p)?),
            KEY_DELIMITER => self.key_delimiter = Some(delimiter(p)?),
            WINDOW_TYPE => self.window_type = Some(window_type(p)?),
            WINDOW_SIZE => self.window_size_ms = Some(duration(p)?),
            QUERY_ID => self.query_id = Some(string(p)?),
            KEY_SCHEMA_ID => self.key_schema_id = Some(number(p)?),
            VALUE_SCHEMA_ID => self.value_schema_id = Some(number(p)?),
            KEY_SCHEMA_FULL_NAME => self.key_schema_full_name = Some(string(p)?),
            VALUE_SCHEMA_FULL_NAME | VALUE_AVRO_SCHEMA_FULL_NAME => {
                if self.value_schema_full_name.is_some() {
                    return Err(at(
                        p.location,
                        "Cannot supply both 'VALUE_SCHEMA_FULL_NAME' and \
                         'VALUE_AVRO_SCHEMA_FULL_NAME' properties",
                    ));
                }
                self.value_schema_full_name = Some(string(p)?)
            }
            KEY_PROTOBUF_NULLABLE_REPRESENTATION => {
                self.key_protobuf_nullable = Some(nullable_representation(p)?)
            }
            VALUE_PROTOBUF_NULLABLE_REPRESENTATION => {
                self.value_protobuf_nullable = Some(nullable_representation(p)?)
            }
            other => {
                return Err(Error::internal(format!(
                    "WITH property {other} is allowed but not typed"
                )))
            }
        }
        Ok(())
    }

    /// Checks combinations.
    fn check(&self, properties: &Properties) -> Result<()> {
        let location = |name: &str| {
            properties
                .entries
                .iter()
                .find(|p| p.name == name)
                .map(|p| p.location)
                .unwrap_or_default()
        };
        if self.format.is_some() {
            for other in [KEY_FORMAT, VALUE_FORMAT] {
                if properties.entries.iter().any(|p| p.name == other) {
                    return Err(at(
                        location(FORMAT),
                        format!(
                            "Cannot supply both 'FORMAT' and '{other}' properties, as \
                             'FORMAT' sets both key and value formats. Either use just \
                             'FORMAT', or use 'KEY_FORMAT' and 'VALUE_FORMAT'."
                        ),
                    ));
                }
            }
        }
        match (self.window_type, self.window_size_ms) {
            (None, Some(_)) => Err(at(
                location(WINDOW_SIZE),
                "'WINDOW_SIZE' is only valid together with 'WINDOW_TYPE'",
            )),
            (Some(WindowType::Tumbling | WindowType::Hopping), None) => Err(at(
                location(WINDOW_TYPE),
                "Tumbling and Hopping window types should set 'WINDOW_SIZE' in the WITH clause",
            )),
            (Some(WindowType::Session), Some(_)) => Err(at(
                location(WINDOW_SIZE),
                "'WINDOW_SIZE' should not be set for SESSION windows",
            )),
            _ => Ok(()),
        }
    }
}

fn at(location: Location, message: impl std::fmt::Display) -> Error {
    if location.line == 0 {
        Error::user(message.to_string())
    } else {
        Error::user_at(
            format!("line {}:{}: {message}", location.line, location.column),
            location,
        )
    }
}

fn wrong_type(p: &Property, expected: &str) -> Error {
    at(
        p.location,
        format!(
            "Invalid value {} for property '{}': expected {expected}",
            p.value, p.name
        ),
    )
}

fn string(p: &Property) -> Result<String> {
    match &p.value {
        PropertyValue::String(s) => Ok(s.clone()),
        _ => Err(wrong_type(p, "a string in quotes")),
    }
}

/// A number, also accepted as a numeric string (`PARTITIONS='4'`).
fn number<T: std::str::FromStr>(p: &Property) -> Result<T> {
    let text = match &p.value {
        PropertyValue::Number(n) => n.as_str(),
        PropertyValue::String(s) => s.trim(),
        PropertyValue::Boolean(_) => return Err(wrong_type(p, "an integer")),
    };
    text.parse::<T>()
        .map_err(|_| wrong_type(p, "an integer in range"))
}

fn positive<T: std::str::FromStr + PartialOrd + Default>(p: &Property) -> Result<T> {
    let n: T = number(p)?;
    if n > T::default() {
        Ok(n)
    } else {
        Err(wrong_type(p, "a positive integer"))
    }
}

/// `true`/`false`, also as strings.
fn boolean(p: &Property) -> Result<bool> {
    match &p.value {
        PropertyValue::Boolean(b) => Ok(*b),
        PropertyValue::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        PropertyValue::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(wrong_type(p, "TRUE or FALSE")),
    }
}

/// One character, or `'SPACE'` / `'TAB'`.
fn delimiter(p: &Property) -> Result<char> {
    let s = string(p)?;
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        // Whitespace must be named, as in ksqlDB.
        (Some(c), None) if c.is_whitespace() => Err(at(
            p.location,
            format!(
                "Configuration {} is invalid: Delimiter cannot be empty, if you meant to have \
                 a tab or space for delimiter, please use the special values 'TAB' or 'SPACE'\n\
                 Example valid value: ';'",
                p.name
            ),
        )),
        (Some(c), None) => Ok(c),
        _ if s.eq_ignore_ascii_case("SPACE") => Ok(' '),
        _ if s.eq_ignore_ascii_case("TAB") => Ok('\t'),
        _ => Err(at(
            p.location,
            format!(
                "Invalid delimiter '{s}' for property '{}': a delimiter is a single \
                 character, or 'SPACE' or 'TAB'",
                p.name
            ),
        )),
    }
}

fn window_type(p: &Property) -> Result<WindowType> {
    match string(p)?.to_ascii_uppercase().as_str() {
        "TUMBLING" => Ok(WindowType::Tumbling),
        "HOPPING" => Ok(WindowType::Hopping),
        "SESSION" => Ok(WindowType::Session),
        _ => Err(wrong_type(p, "'TUMBLING', 'HOPPING' or 'SESSION'")),
    }
}

/// `'30 SECONDS'`: a count and a unit.
fn duration(p: &Property) -> Result<u64> {
    let s = string(p)?;
    let parsed = s.split_whitespace().collect::<Vec<_>>();
    let ms = match parsed.as_slice() {
        [n, unit] => n
            .parse::<u64>()
            .ok()
            .zip(unit_ms(unit))
            .and_then(|(n, unit)| n.checked_mul(unit)),
        _ => None,
    };
    ms.ok_or_else(|| wrong_type(p, "a duration such as '30 SECONDS'"))
}

fn unit_ms(unit: &str) -> Option<u64> {
    let unit = unit.to_ascii_uppercase();
    match unit.strip_suffix('S').unwrap_or(&unit) {
        "MILLISECOND" => Some(1),
        "SECOND" => Some(1_000),
        "MINUTE" => Some(60_000),
        "HOUR" => Some(3_600_000),
        "DAY" => Some(86_400_000),
        _ => None,
    }
}

/// A column named in a string: upper-cased unless quoted inside it.
fn column_name(s: &str) -> String {
    let s = s.trim();
    for q in ['`', '"'] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner.to_string();
        }
    }
    s.to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::ast::Statement;

    /// The WITH clause of `CREATE STREAM S (A INT) WITH (<with>);`.
    fn props(with: &str) -> Properties {
        let sql = format!("CREATE STREAM S (A INT) WITH ({with});");
        match crate::sql::parse(&sql).map(|mut s| s.pop().map(|s| s.statement)) {
            Ok(Some(Statement::CreateSource(c))) => c.properties,
            other => panic!("{sql}: {other:?}"),
        }
    }

    fn typed(with: &str) -> Result<WithProperties> {
        WithProperties::from_properties(&props(with), CREATE_SOURCE_PROPERTIES)
    }

    fn error(with: &str) -> String {
        match typed(with) {
            Ok(p) => panic!("{with} gave {p:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn types_every_create_property() {
        let p = typed(
            "kafka_topic='orders', value_format='json', key_format='kafka', partitions=4, \
             replicas='1', retention_ms=86400000, timestamp='ts', \
             timestamp_format='yyyy-MM-dd', wrap_single_value=false, value_delimiter='|', \
             key_delimiter='TAB', window_type='Tumbling', window_size='30 SECONDS', \
             key_schema_id=1, value_schema_id=2, key_schema_full_name='a.K', \
             value_avro_schema_full_name='a.V'",
        );
        let expected = WithProperties {
            kafka_topic: Some("orders".into()),
            value_format: Some("JSON".into()),
            key_format: Some("KAFKA".into()),
            format: None,
            partitions: Some(4),
            replicas: Some(1),
            retention_ms: Some(86_400_000),
            timestamp: Some("TS".into()),
            timestamp_format: Some("yyyy-MM-dd".into()),
            wrap_single_value: Some(false),
            value_delimiter: Some('|'),
            key_delimiter: Some('\t'),
            window_type: Some(WindowType::Tumbling),
            window_size_ms: Some(30_000),
            query_id: None,
            key_schema_id: Some(1),
            value_schema_id: Some(2),
            key_schema_full_name: Some("a.K".into()),
            value_schema_full_name: Some("a.V".into()),
            key_protobuf_nullable: None,
            value_protobuf_nullable: None,
        };
        assert_eq!(p.ok(), Some(expected));
    }

    #[test]
    fn quoted_timestamp_column_keeps_case() {
        let p = typed("timestamp='`eventTime`'").ok();
        assert_eq!(p.and_then(|p| p.timestamp), Some("eventTime".to_string()));
        let p = typed("VALUE_DELIMITER='space', FORMAT='delimited'").ok();
        assert_eq!(p.as_ref().and_then(|p| p.value_delimiter), Some(' '));
        assert_eq!(p.and_then(|p| p.format), Some("DELIMITED".to_string()));
    }

    #[test]
    fn unknown_properties_are_named() {
        let e = error("KAFKA_TOPIC='t', FOO=1, bar='x'");
        assert!(
            e.starts_with("line 1:48: Invalid config variable(s) in the WITH clause: FOO,BAR."),
            "{e}"
        );
        assert!(
            e.contains("Valid properties are: KAFKA_TOPIC, VALUE_FORMAT"),
            "{e}"
        );
        let insert =
            WithProperties::from_properties(&props("QUERY_ID='q1'"), INSERT_INTO_PROPERTIES);
        assert_eq!(insert.ok().and_then(|p| p.query_id), Some("q1".to_string()));
        let csas =
            WithProperties::from_properties(&props("WINDOW_TYPE='SESSION'"), CREATE_AS_PROPERTIES);
        assert!(csas.is_err());
    }

    #[test]
    fn wrong_value_types_name_the_property() {
        assert!(error("PARTITIONS='many'").contains("property 'PARTITIONS'"));
        assert!(error("PARTITIONS=0").contains("a positive integer"));
        assert!(error("REPLICAS=70000").contains("'REPLICAS'"));
        assert!(error("KAFKA_TOPIC=5").contains("Invalid value 5 for property 'KAFKA_TOPIC'"));
        assert!(error("WRAP_SINGLE_VALUE='maybe'").contains("'WRAP_SINGLE_VALUE'"));
        assert!(error("VALUE_DELIMITER='ab'").contains("Invalid delimiter 'ab'"));
        assert!(error("WINDOW_TYPE='SLIDING'").contains("'WINDOW_TYPE'"));
        assert!(error("WINDOW_TYPE='HOPPING', WINDOW_SIZE='ten'").contains("'WINDOW_SIZE'"));
        assert!(error("KEY_SCHEMA_ID='x'").contains("'KEY_SCHEMA_ID'"));
    }

    #[test]
    fn conflicting_properties_are_errors() {
        assert!(error("FORMAT='JSON', VALUE_FORMAT='AVRO'")
            .contains("Cannot supply both 'FORMAT' and 'VALUE_FORMAT'"));
        assert!(error("KEY_FORMAT='KAFKA', FORMAT='JSON'").contains("'KEY_FORMAT'"));
        assert!(error("KAFKA_TOPIC='a', kafka_topic='b'").contains("Duplicate property"));
        assert!(error("WINDOW_TYPE='TUMBLING'").contains("should set 'WINDOW_SIZE'"));
        assert!(error("WINDOW_TYPE='SESSION', WINDOW_SIZE='1 HOUR'").contains("SESSION"));
        assert!(error("WINDOW_SIZE='1 HOUR'").contains("only valid together"));
    }
}
