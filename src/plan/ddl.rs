//! DDL planning: `CREATE STREAM|TABLE (…) WITH (…)` to a catalog
//! [`Source`], with ksqlDB's rules for keys, formats and properties.

use crate::catalog::{
    Column, ColumnNamespace, Source, SourceWindow, TimestampColumn, PSEUDO_COLUMNS, WINDOW_END,
    WINDOW_START,
};
use crate::error::{Error, Result};
use crate::format::{registry, Format, FormatSpec, Part};
use crate::sql::ast::{ColumnConstraint, CreateSource, SourceKind};
use crate::sql::properties::WithProperties;
use crate::types::SqlType;

/// Defaults that come from session or server properties.
#[derive(Debug, Clone, Default)]
pub struct FormatDefaults {
    /// `ksql.persistence.default.format.key` (KAFKA when unset).
    pub key: Option<String>,
    /// `ksql.persistence.default.format.value` (required when unset).
    pub value: Option<String>,
    /// `ksql.persistence.wrap.single.values` (for values of one column).
    pub wrap_single_values: Option<bool>,
    /// `ksql.output.topic.name.prefix`: put before a C*AS sink's name to
    /// make its default topic name.
    pub output_topic_prefix: Option<String>,
    /// The Schema Registry of AVRO, PROTOBUF and JSON_SR parts.
    pub registry: Option<crate::sr::RegistryRef>,
}

/// The topic a new source needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRequirement {
    /// Topic name.
    pub name: String,
    /// Create it with this many partitions when missing (`PARTITIONS`).
    pub partitions: Option<i32>,
    /// Replication factor for a created topic.
    pub replicas: i32,
}

/// Plans `CREATE [SOURCE] STREAM|TABLE name (cols) WITH (…)`.
pub fn plan_create_source(
    stmt: &CreateSource,
    props: &WithProperties,
    sql: &str,
    defaults: &FormatDefaults,
) -> Result<(Source, TopicRequirement)> {
    let kind_name = match stmt.kind {
        SourceKind::Stream => "stream",
        SourceKind::Table => "table",
    };
    let topic = props.kafka_topic.clone().ok_or_else(|| {
        Error::user(format!(
            "Missing required property \"KAFKA_TOPIC\" for CREATE {}. \
             Add WITH (KAFKA_TOPIC='topic', …).",
            kind_name.to_uppercase()
        ))
    })?;

    let mut keys = Vec::new();
    let mut others = Vec::new();
    for c in &stmt.columns {
        if PSEUDO_COLUMNS.iter().any(|(p, _)| *p == c.name)
            || c.name == WINDOW_START
            || c.name == WINDOW_END
        {
            return Err(Error::user_at(
                format!("'{}' is a reserved column name.", c.name),
                c.location,
            ));
        }
        if stmt.columns.iter().filter(|o| o.name == c.name).count() > 1 {
            return Err(Error::user_at(
                format!("Duplicate column names: `{}`", c.name),
                c.location,
            ));
        }
        let namespace = match (&c.constraint, stmt.kind) {
            (ColumnConstraint::Key, SourceKind::Stream)
            | (ColumnConstraint::PrimaryKey, SourceKind::Table) => ColumnNamespace::Key,
            (ColumnConstraint::Key, SourceKind::Table) => {
                return Err(Error::user_at(
                    format!(
                        "Column `{}` is a 'KEY' column: please use 'PRIMARY KEY' for tables.\n\
                         Tables have PRIMARY KEYs, which are unique and NON NULL.\n\
                         Streams have KEYs, which have no uniqueness or NON NULL constraints.",
                        c.name
                    ),
                    c.location,
                ))
            }
            (ColumnConstraint::PrimaryKey, SourceKind::Stream) => {
                return Err(Error::user_at(
                    format!(
                        "Column `{}` is a 'PRIMARY KEY' column: please use 'KEY' for streams.\n\
                         Tables have PRIMARY KEYs, which are unique and NON NULL.\n\
                         Streams have KEYs, which have no uniqueness or NON NULL constraints.",
                        c.name
                    ),
                    c.location,
                ))
            }
            (ColumnConstraint::Headers, _) => {
                let expected = crate::catalog::source_headers_type();
                if c.data_type != expected {
                    return Err(Error::user_at(
                        format!(
                            "Invalid type for HEADERS column `{}`: expected {expected}, got {}",
                            c.name, c.data_type
                        ),
                        c.location,
                    ));
                }
                ColumnNamespace::Header(None)
            }
            (ColumnConstraint::Header(k), _) => {
                if c.data_type != SqlType::Bytes {
                    return Err(Error::user_at(
                        format!(
                            "Invalid type for HEADER('{k}') column `{}`: expected BYTES, got {}",
                            c.name, c.data_type
                        ),
                        c.location,
                    ));
                }
                ColumnNamespace::Header(Some(k.clone()))
            }
            (ColumnConstraint::None, _) => ColumnNamespace::Value,
        };
        let column = Column {
            name: c.name.clone(),
            sql_type: c.data_type.clone(),
            namespace,
        };
        if column.is_key() {
            keys.push(column);
        } else {
            others.push(column);
        }
    }
    let key_inferred = keys.is_empty()
        && (props.key_schema_id.is_some()
            || props
                .key_format
                .as_deref()
                .or(props.format.as_deref())
                .and_then(|f| Format::parse(f).ok())
                .is_some_and(|f| f.infers_schema()));
    if stmt.kind == SourceKind::Table && keys.is_empty() && !key_inferred {
        return Err(Error::user(
            "Tables require a PRIMARY KEY. Please define the PRIMARY KEY.",
        ));
    }
    for k in &keys {
        reject_map_key(k)?;
    }

    let (key_format, mut value_format) = formats(props, defaults, !keys.is_empty())?;
    // The configured wrapping applies only where there is a single value.
    if props.wrap_single_value.is_none()
        && others
            .iter()
            .filter(|c| c.namespace == ColumnNamespace::Value)
            .count()
            != 1
    {
        value_format.wrap_single_value = None;
    }
    for (format, id, name) in [
        (&key_format, props.key_schema_id, "KEY"),
        (&value_format, props.value_schema_id, "VALUE"),
    ] {
        if id.is_some() && !format.format.infers_schema() {
            return Err(Error::user(format!(
                "{name}_FORMAT should support schema inference when {name}_SCHEMA_ID is provided. \
                 Current format is {}.",
                format.format
            )));
        }
    }
    let registry = defaults.registry.as_ref();
    let has_values = others.iter().any(|c| c.namespace == ColumnNamespace::Value);
    for (given, id, name) in [
        (!keys.is_empty(), props.key_schema_id, "KEY"),
        (has_values, props.value_schema_id, "VALUE"),
    ] {
        if given && id.is_some() {
            return Err(Error::user(format!(
                "Table elements and {name}_SCHEMA_ID cannot both exist for create statement."
            )));
        }
    }
    if value_format.format.infers_schema() && (!has_values || props.value_schema_id.is_some()) {
        let inferred = infer(
            registry,
            &topic,
            Part::Value,
            &value_format,
            props,
            &stmt.name,
        )?;
        if has_values {
            check_declared(&others, &inferred, "value")?;
        } else {
            let at = others.len();
            others.splice(0..0, inferred);
            let _ = at;
        }
    }
    if keys.is_empty() && key_format.format.infers_schema() {
        let key = infer(registry, &topic, Part::Key, &key_format, props, &stmt.name);
        match key {
            Ok(k) => keys = k,
            Err(e) if props.key_schema_id.is_some() => return Err(e),
            Err(_) => {}
        }
    }
    if stmt.kind == SourceKind::Table && keys.is_empty() {
        return Err(Error::user(
            "Tables require a PRIMARY KEY. Please define the PRIMARY KEY.",
        ));
    }
    if stmt.columns.is_empty() && keys.is_empty() && others.is_empty() {
        return Err(Error::user("No columns supplied."));
    }
    if props.window_type.is_some() && keys.is_empty() {
        return Err(Error::user("Windowed sources require a key column."));
    }
    for (spec, name) in [
        (&key_format, &props.key_schema_full_name),
        (&value_format, &props.value_schema_full_name),
    ] {
        if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(Error::user(format!(
                "fullSchemaName cannot be empty. Format configuration: {{fullSchemaName={}}}",
                name.as_deref().unwrap_or_default().trim()
            )));
        }
        if name.is_some()
            && !matches!(
                spec.format,
                Format::Avro | Format::Protobuf | Format::ProtobufNosr
            )
        {
            return Err(Error::user(format!(
                "{} does not support the following configs: [fullSchemaName]",
                spec.format
            )));
        }
    }
    let mut columns = keys;
    columns.extend(others);
    let source = Source {
        name: stmt.name.clone(),
        kind: stmt.kind,
        columns,
        topic: topic.clone(),
        key_format,
        value_format,
        timestamp: None,
        is_source: stmt.is_source,
        sql: sql.to_string(),
        created_by: None,
        // The properties were checked: time windows have a size, session
        // windows none.
        window: props.window_type.map(|kind| SourceWindow {
            kind,
            size_ms: props.window_size_ms,
        }),
    };
    let timestamp = timestamp_column(&source, props)?;
    let mut source = Source {
        timestamp,
        ..source
    };
    bind_registry(&mut source, props, registry)?;
    validate_formats(&source)?;
    Ok((
        source,
        TopicRequirement {
            name: topic,
            partitions: props.partitions.map(|p| p as i32),
            replicas: props.replicas.map(i32::from).unwrap_or(1),
        },
    ))
}

/// Binds the Schema Registry formats of `source` to its subjects, with
/// the schema ids and names of the WITH clause.
pub fn bind_registry(
    source: &mut Source,
    props: &WithProperties,
    registry: Option<&crate::sr::RegistryRef>,
) -> Result<()> {
    for (spec, key) in [
        (&mut source.key_format, true),
        (&mut source.value_format, false),
    ] {
        if !matches!(
            spec.format,
            Format::Avro | Format::Protobuf | Format::JsonSr | Format::ProtobufNosr
        ) {
            spec.sr = None;
            continue;
        }
        let Some(registry) = registry else {
            return Err(Error::user(format!(
                "The {} format needs a Schema Registry, and none is configured",
                spec.format
            )));
        };
        let (id, full_name) = if key {
            (props.key_schema_id, props.key_schema_full_name.clone())
        } else {
            (props.value_schema_id, props.value_schema_full_name.clone())
        };
        let default_name = match (spec.format, key) {
            (Format::Avro, true) => format!(
                "{}.{}",
                crate::format::avro::schema::KSQL_NAMESPACE,
                crate::format::avro::schema::key_record_name(&source.name)
            ),
            (Format::Avro, false) => format!(
                "{}.{}",
                crate::format::avro::schema::KSQL_NAMESPACE,
                crate::format::avro::schema::VALUE_RECORD
            ),
            _ => "ConnectDefault1".to_string(),
        };
        spec.nullable = if key {
            props.key_protobuf_nullable
        } else {
            props.value_protobuf_nullable
        };
        spec.sr = Some(crate::format::SrSpec {
            registry: registry.clone(),
            subject: crate::sr::subject(&source.topic, key),
            schema_id: id,
            full_name,
            default_name,
        });
    }
    Ok(())
}

/// The columns of a part taken from its schema in the registry (the
/// pinned id, else the subject's latest version).
fn infer(
    registry: Option<&crate::sr::RegistryRef>,
    topic: &str,
    part: Part,
    spec: &FormatSpec,
    props: &WithProperties,
    source_name: &str,
) -> Result<Vec<Column>> {
    let registry = registry.ok_or_else(|| {
        Error::user(format!(
            "The {} format needs a Schema Registry to infer columns, and none is configured",
            spec.format
        ))
    })?;
    let key = part == Part::Key;
    let id = if key {
        props.key_schema_id
    } else {
        props.value_schema_id
    };
    let schema = match id {
        Some(id) => registry.get().by_id(id).map_err(|e| {
            Error::user(format!(
                "Schema id {id} given in {}_SCHEMA_ID cannot be read from the Schema Registry: {e}",
                if key { "KEY" } else { "VALUE" }
            ))
        })?,
        None => {
            let subject = crate::sr::subject(topic, key);
            match registry.get().latest(&subject)? {
                Some(r) => r.schema,
                None => {
                    return Err(Error::user(format!(
                        "Schema for message {} on topic '{topic}' does not exist in the Schema \
                         Registry.Subject: {subject}",
                        if key { "keys" } else { "values" }
                    )))
                }
            }
        }
    };
    let wrapped = match (spec.format, part) {
        (Format::Protobuf | Format::ProtobufNosr, _) => true,
        (_, Part::Key) => false,
        (_, Part::Value) => spec.wrap_single_value != Some(false),
    };
    let full_name = if key {
        props.key_schema_full_name.as_deref()
    } else {
        props.value_schema_full_name.as_deref()
    };
    let mut columns = crate::format::infer_columns(
        spec.format,
        Some(registry.get()),
        &schema,
        wrapped,
        id.is_none(),
        full_name,
    )
    .map_err(|e| {
        Error::user(format!(
            "Cannot take the {} columns of '{source_name}' from the schema of topic \
                 '{topic}': {e}",
            if key { "key" } else { "value" }
        ))
    })?;
    if key && !wrapped {
        if let [(name, _)] = columns.as_mut_slice() {
            *name = "ROWKEY".to_string();
        }
    }
    Ok(columns
        .into_iter()
        .map(|(name, sql_type)| Column {
            name,
            sql_type,
            namespace: if key {
                ColumnNamespace::Key
            } else {
                ColumnNamespace::Value
            },
        })
        .collect())
}

/// A C*AS sink with a pinned value schema: its value columns must be the
/// schema's first fields, in order and with the same types.
pub fn check_pinned_schema(sink: &Source) -> Result<()> {
    let Some(sr) = &sink.value_format.sr else {
        return Ok(());
    };
    let Some(id) = sr.schema_id else {
        return Ok(());
    };
    let schema = sr.registry.get().by_id(id).map_err(|e| {
        Error::user(format!(
            "Schema id {id} given in VALUE_SCHEMA_ID cannot be read from the Schema Registry: {e}"
        ))
    })?;
    let wrapped = sink.value_format.wrap_single_value != Some(false);
    let inferred = crate::format::infer_columns(
        sink.value_format.format,
        Some(sr.registry.get()),
        &schema,
        wrapped,
        false,
        sr.full_name.as_deref(),
    )
    .map_err(|e| Error::user(format!("The schema {id} given in VALUE_SCHEMA_ID: {e}")))?;
    let inferred: Vec<Column> = inferred
        .into_iter()
        .map(|(name, sql_type)| Column {
            name,
            sql_type,
            namespace: ColumnNamespace::Value,
        })
        .collect();
    let values: Vec<Column> = sink
        .columns
        .iter()
        .filter(|c| c.namespace == ColumnNamespace::Value)
        .cloned()
        .collect();
    if wrapped {
        check_declared(&values, &inferred, "value")
    } else {
        Ok(())
    }
}

/// With a pinned schema id, the declared columns must be the schema's.
fn check_declared(declared: &[Column], inferred: &[Column], what: &str) -> Result<()> {
    let declared: Vec<&Column> = declared
        .iter()
        .filter(|c| c.namespace == ColumnNamespace::Value)
        .collect();
    let bad: Vec<String> = declared
        .iter()
        .enumerate()
        .filter(|(i, c)| {
            inferred
                .get(*i)
                .is_none_or(|s| s.name != c.name || s.sql_type != c.sql_type)
        })
        .map(|(_, c)| format!("`{}` {}", c.name, c.sql_type))
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    Err(Error::user(format!(
        "The following {what} columns are changed, missing or reordered: [{}]. Schema from \
         schema registry is [{}]",
        bad.join(", "),
        inferred
            .iter()
            .map(|c| format!("`{}` {}", c.name, c.sql_type))
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// Key and value formats from `FORMAT`, `KEY_FORMAT`, `VALUE_FORMAT` and
/// the defaults.
pub fn formats(
    props: &WithProperties,
    defaults: &FormatDefaults,
    has_key: bool,
) -> Result<(FormatSpec, FormatSpec)> {
    let value_name = props
        .value_format
        .clone()
        .or_else(|| props.format.clone())
        .or_else(|| defaults.value.clone())
        .ok_or_else(|| {
            Error::user(
                "Statement is missing the 'VALUE_FORMAT' property from the WITH clause. \
                 Either provide one or set a default via the \
                 'ksql.persistence.default.format.value' config.",
            )
        })?;
    let key_name = props
        .key_format
        .clone()
        .or_else(|| props.format.clone())
        .or_else(|| defaults.key.clone())
        .unwrap_or_else(|| "KAFKA".to_string());
    let mut value = FormatSpec::new(Format::parse(&value_name)?);
    value.wrap_single_value = props.wrap_single_value.or(defaults.wrap_single_values);
    value.delimiter = props.value_delimiter;
    let mut key = FormatSpec::new(Format::parse(&key_name)?);
    key.delimiter = props.key_delimiter;
    if !has_key && props.key_format.is_none() && props.format.is_none() {
        key = FormatSpec::new(Format::None);
    }
    if value.format == Format::None {
        return Err(Error::user(
            "The 'NONE' format can only be used as a key format (VALUE_FORMAT='NONE' is invalid)",
        ));
    }
    Ok((key, value))
}

/// Checks that the key and value formats can carry the columns.
pub fn validate_formats(source: &Source) -> Result<()> {
    let key_schema = source.key_schema();
    if source.key_format.format == Format::None && !key_schema.fields().is_empty() {
        return Err(Error::user(format!(
            "The 'NONE' format can only be used when no columns are defined. Got: [{}]",
            source
                .key_columns()
                .map(|c| format!("`{}` {} KEY", c.name, c.sql_type))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    registry::validate(&source.key_format, Part::Key, &key_schema)?;
    let value_schema = source.value_schema();
    if source.value_format.wrap_single_value.is_some() && value_schema.fields().len() != 1 {
        return Err(Error::user(
            "'WRAP_SINGLE_VALUE' is only valid for single-field value schemas",
        ));
    }
    registry::validate(&source.value_format, Part::Value, &value_schema)
}

fn timestamp_column(source: &Source, props: &WithProperties) -> Result<Option<TimestampColumn>> {
    let Some(name) = &props.timestamp else {
        if props.timestamp_format.is_some() {
            return Err(Error::user(
                "TIMESTAMP_FORMAT was given without a TIMESTAMP column",
            ));
        }
        return Ok(None);
    };
    let column = source.column(name).ok_or_else(|| {
        Error::user(format!(
            "The TIMESTAMP column set in the WITH clause does not exist in the schema: '{name}'"
        ))
    })?;
    match (&column.sql_type, &props.timestamp_format) {
        (SqlType::Bigint | SqlType::Timestamp, None) => {}
        (SqlType::String, Some(_)) => {}
        (SqlType::String, None) => {
            return Err(Error::user(format!(
                "A TIMESTAMP_FORMAT is required for the STRING TIMESTAMP column '{name}'"
            )))
        }
        (t, _) => {
            return Err(Error::user(format!(
                "Timestamp column, `{name}`, should be LONG(INT64), TIMESTAMP, \
                 or a String with a timestamp_format specified. Got {t}"
            )))
        }
    }
    Ok(Some(TimestampColumn {
        column: name.clone(),
        format: props.timestamp_format.clone(),
    }))
}

fn reject_map_key(column: &Column) -> Result<()> {
    fn has_map(t: &SqlType) -> bool {
        match t {
            SqlType::Map(..) => true,
            SqlType::Array(i) => has_map(i),
            SqlType::Struct(fs) => fs.iter().any(|(_, t)| has_map(t)),
            _ => false,
        }
    }
    if has_map(&column.sql_type) {
        return Err(Error::user(format!(
            "Map keys, including types that contain maps, are not supported as they may lead \
             to unexpected behavior due to inconsistent serialization. Key column name: `{}`. \
             Column type: {}. See https://github.com/confluentinc/ksql/issues/6621 for more.",
            column.name, column.sql_type
        )));
    }
    Ok(())
}

/// Checks a key column produced by a query (same rules as declared ones).
pub fn check_key_column(column: &Column) -> Result<()> {
    reject_map_key(column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::ast::Statement;
    use crate::sql::properties::{WindowType, CREATE_SOURCE_PROPERTIES};

    fn plan(sql: &str) -> Result<Source> {
        let parsed = crate::sql::parse(sql)?;
        let Statement::CreateSource(stmt) = &parsed[0].statement else {
            panic!("not a CREATE STREAM/TABLE: {sql}");
        };
        let props = WithProperties::from_properties(&stmt.properties, CREATE_SOURCE_PROPERTIES)?;
        Ok(plan_create_source(stmt, &props, sql, &FormatDefaults::default())?.0)
    }

    #[test]
    fn windowed_sources_keep_their_window() {
        let s = plan(
            "CREATE TABLE t (k INT PRIMARY KEY, v INT) WITH (kafka_topic='t', \
             value_format='JSON', window_type='hopping', window_size='2 SECONDS');",
        )
        .unwrap();
        assert_eq!(
            s.window,
            Some(SourceWindow {
                kind: WindowType::Hopping,
                size_ms: Some(2000)
            })
        );
        let s = plan(
            "CREATE STREAM s (k INT KEY, v INT) WITH (kafka_topic='t', \
             value_format='JSON', window_type='SESSION');",
        )
        .unwrap();
        assert_eq!(
            s.window.map(|w| (w.kind, w.size_ms)),
            Some((WindowType::Session, None))
        );
        let s =
            plan("CREATE STREAM s (k INT KEY, v INT) WITH (kafka_topic='t', value_format='JSON');")
                .unwrap();
        assert_eq!(s.window, None);
    }

    #[test]
    fn window_columns_are_reserved_and_need_a_key() {
        let e = plan(
            "CREATE STREAM s (k INT KEY, windowstart BIGINT) WITH (kafka_topic='t', \
             value_format='JSON');",
        )
        .unwrap_err();
        assert!(e.to_string().contains("reserved"), "{e}");
        let e = plan(
            "CREATE STREAM s (v INT) WITH (kafka_topic='t', value_format='JSON', \
             window_type='TUMBLING', window_size='1 SECOND');",
        )
        .unwrap_err();
        assert!(e.to_string().contains("require a key"), "{e}");
    }
}
