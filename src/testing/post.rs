//! Post conditions: the catalog and the topics after a case ran.

use regex::Regex;

use super::compare::normalize_schema;
use super::model::{PostConditions, SourceCheck, TopicCheck};
use crate::catalog::{Catalog, Source};
use crate::format::Format;
use crate::runtime::io::TopicInfo;

/// Every condition that does not hold, as (category, text).
pub fn check(
    post: &PostConditions,
    catalog: &Catalog,
    topics: &[TopicInfo],
    registry: Option<&dyn crate::sr::SchemaRegistry>,
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for s in &post.sources {
        problems.extend(check_source(s, catalog));
    }
    if let Some(pattern) = &post.topic_blacklist {
        match Regex::new(&format!("^(?:{pattern})$")) {
            Ok(re) => {
                let bad: Vec<&str> = topics
                    .iter()
                    .map(|t| t.name.as_str())
                    .filter(|n| re.is_match(n))
                    .collect();
                if !bad.is_empty() {
                    problems.push((
                        "post: a blacklisted topic was created".to_string(),
                        format!(
                            "topics matching '{pattern}' must not be created: {}",
                            bad.join(", ")
                        ),
                    ));
                }
            }
            Err(e) => problems.push((
                "post: bad blacklist".to_string(),
                format!("the topic blacklist '{pattern}' is not a regex: {e}"),
            )),
        }
    }
    for t in &post.topics {
        problems.extend(check_topic(t, catalog, topics));
        if let Some(registry) = registry {
            problems.extend(check_schemas(t, registry));
        }
    }
    problems
}

fn check_source(check: &SourceCheck, catalog: &Catalog) -> Vec<(String, String)> {
    let name = &check.name;
    let Some(source) = catalog
        .source(name)
        .or_else(|| catalog.source(&name.to_uppercase()))
    else {
        return vec![(
            "post: source missing".to_string(),
            format!("source {name} does not exist"),
        )];
    };
    let mut problems = Vec::new();
    let mut differs = |what: &str, expected: &str, actual: &str| {
        problems.push((
            format!("post: {what} differs"),
            format!("source {name}: {what} is {actual}, expected {expected}"),
        ));
    };
    if let Some(kind) = &check.kind {
        if !kind.eq_ignore_ascii_case(source.kind_name()) {
            differs("type", kind, source.kind_name());
        }
    }
    if let Some(schema) = &check.schema {
        let actual = source.schema_string();
        if normalize_schema(schema) != normalize_schema(&actual) {
            differs("schema", schema, &actual);
        }
    }
    if let Some(format) = &check.key_format {
        let actual = source.key_format.format.name();
        if !format.eq_ignore_ascii_case(actual) {
            differs("key format", format, actual);
        }
    }
    if let Some(window) = &check.window_type {
        let actual = source
            .window
            .map(|w| w.type_name())
            .unwrap_or("not windowed");
        if !window.eq_ignore_ascii_case(actual) {
            differs("key window", window, actual);
        }
    }
    if let Some(format) = &check.value_format {
        let actual = source.value_format.format.name();
        if !format.eq_ignore_ascii_case(actual) {
            differs("value format", format, actual);
        }
    }
    if let Some(features) = &check.key_features {
        let actual = key_features(source);
        if !same_features(features, &actual) {
            differs(
                "key features",
                &format!("{features:?}"),
                &format!("{actual:?}"),
            );
        }
    }
    if let Some(features) = &check.value_features {
        let actual = value_features(source);
        if !same_features(features, &actual) {
            differs(
                "value features",
                &format!("{features:?}"),
                &format!("{actual:?}"),
            );
        }
    }
    if let Some(is_source) = check.is_source {
        if is_source != source.is_source {
            differs(
                "isSource",
                &is_source.to_string(),
                &source.is_source.to_string(),
            );
        }
    }
    problems
}

/// The schemas a topic's subjects hold, against those the case expects:
/// JSON schemas as JSON (member order aside), `.proto` texts by their
/// tokens.
fn check_schemas(
    check: &TopicCheck,
    registry: &dyn crate::sr::SchemaRegistry,
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (part, expected, key) in [
        ("key", &check.key_schema, true),
        ("value", &check.value_schema, false),
    ] {
        let Some(expected) = expected else {
            continue;
        };
        let subject = crate::sr::subject(&check.name, key);
        let actual = match registry.latest(&subject) {
            Ok(Some(r)) => r.schema,
            _ => {
                problems.push((
                    format!("post: {part} schema missing"),
                    format!("subject '{subject}' holds no schema"),
                ));
                continue;
            }
        };
        let same = match expected {
            serde_json::Value::String(text)
                if actual.schema_type == crate::sr::SchemaType::Protobuf =>
            {
                let tokens = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
                tokens(text) == tokens(&actual.text)
            }
            expected => serde_json::from_str::<serde_json::Value>(&actual.text)
                .is_ok_and(|a| &a == expected),
        };
        if !same {
            problems.push((
                format!("post: {part} schema differs"),
                format!(
                    "subject '{subject}' holds {}, expected {}",
                    actual.text,
                    match expected {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    }
                ),
            ));
        }
    }
    problems
}

fn check_topic(
    check: &TopicCheck,
    catalog: &Catalog,
    topics: &[TopicInfo],
) -> Vec<(String, String)> {
    let name = &check.name;
    let Some(info) = topics.iter().find(|t| &t.name == name) else {
        return vec![(
            "post: topic missing".to_string(),
            format!("topic '{name}' was not created"),
        )];
    };
    let mut problems = Vec::new();
    if let Some(p) = check.partitions {
        if p != info.partitions {
            problems.push((
                "post: topic partitions differ".to_string(),
                format!(
                    "topic '{name}' has {} partitions, expected {p}",
                    info.partitions
                ),
            ));
        }
    }
    let source = catalog.sources().find(|s| &s.topic == name);
    let formats = [
        (
            "key",
            &check.key_format,
            source.map(|s| s.key_format.format),
        ),
        (
            "value",
            &check.value_format,
            source.map(|s| s.value_format.format),
        ),
    ];
    for (part, expected, actual) in formats {
        let (Some(expected), Some(actual)) = (expected, actual) else {
            continue;
        };
        if !expected.eq_ignore_ascii_case(actual.name()) {
            problems.push((
                format!("post: topic {part} format differs"),
                format!(
                    "topic '{name}': {part} format is {}, expected {expected}",
                    actual.name()
                ),
            ));
        }
    }
    problems
}

fn same_features(expected: &[String], actual: &[&str]) -> bool {
    let mut e: Vec<String> = expected.iter().map(|f| f.to_ascii_uppercase()).collect();
    let mut a: Vec<String> = actual.iter().map(|f| f.to_string()).collect();
    e.sort();
    a.sort();
    e == a
}

/// ksqlDB's key serde features: set explicitly by `WRAP_SINGLE_VALUE`, else
/// `UNWRAP_SINGLES` on a single key column of a format that can wrap.
fn key_features(source: &Source) -> Vec<&'static str> {
    match source.key_format.wrap_single_value {
        Some(true) => vec!["WRAP_SINGLES"],
        Some(false) => vec!["UNWRAP_SINGLES"],
        None if matches!(
            source.key_format.format,
            Format::Json | Format::Avro | Format::JsonSr | Format::Protobuf | Format::ProtobufNosr
        ) && source.key_columns().count() == 1 =>
        {
            vec!["UNWRAP_SINGLES"]
        }
        None => Vec::new(),
    }
}

/// ksqlDB's value serde features, from `WRAP_SINGLE_VALUE`.
fn value_features(source: &Source) -> Vec<&'static str> {
    match source.value_format.wrap_single_value {
        Some(true) => vec!["WRAP_SINGLES"],
        Some(false) => vec!["UNWRAP_SINGLES"],
        None => Vec::new(),
    }
}
