//! Reads ksqlDB's query-validation tests (QTT JSON files) into the test
//! model.
//!
//! As ksqlDB's own harness reads them: `//` and `/* */` comments are
//! allowed, numbers are kept exactly (serde_json's `arbitrary_precision`),
//! unknown fields are ignored, a case runs once per `format` and per
//! `config` value (`{FORMAT}` and `{CONFIG}` substituted), and cases with
//! `"enabled": false` are left out. The format is described in
//! `../shared/reference/qtt-format.md`.
//!
//! Topics the harness creates before the statements run are listed in the
//! case: those of the `topics` field, the `KAFKA_TOPIC` of every
//! `CREATE STREAM|TABLE` with columns (with its `PARTITIONS`), and every
//! topic named by an input or an output record.
//!
//! The REST-level files (RQTT, `../shared/qtt/rest`) share the format and
//! add `responses`, `expectedError` (with the HTTP `status`) and
//! `inputConditions`: a file where some case has `responses` or
//! `expectedError` is read as RQTT, and its cases carry
//! [`RestExpectations`] for [`super::rest`].

use std::path::Path;

use base64::Engine as _;
use regex::Regex;
use serde_json::{Map, Value};

use super::model::{
    ErrorKind, ExpectedError, ExpectedOutput, Header, PostConditions, Record, RestError,
    RestExpectations, SourceCheck, Statement, TestCase, TopicCheck, TopicSchema, TopicSpec, Window,
    WindowKind,
};
use super::{classify, CaseFile};
use crate::error::{Error, Result};

/// Reads one QTT file: its runnable cases, and the names of the cases
/// disabled in the file.
pub fn read_file(path: &Path) -> Result<CaseFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::user(format!("cannot read '{}': {e}", path.display())))?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    parse_file(&stem, &text).map_err(|e| e.context(format!("in '{}'", path.display())))
}

/// Parses the text of a QTT file whose stem is `stem`.
pub fn parse_file(stem: &str, text: &str) -> Result<CaseFile> {
    let json: Value = serde_json::from_str(&strip_comments(text))
        .map_err(|e| Error::user(format!("not valid JSON: {e}")))?;
    let tests = json
        .get("tests")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::user("no \"tests\" array at the top level"))?;
    // A file of REST-level cases (RQTT) is one where some case expects
    // responses or an error response; all its cases then run through the
    // REST API.
    let rest = tests
        .iter()
        .any(|t| t.get("responses").is_some() || t.get("expectedError").is_some());
    let mut file = CaseFile::default();
    for raw in tests {
        let name = raw
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::user("a test case has no \"name\""))?;
        let formats = string_list(raw.get("format"));
        let configs = string_list(raw.get("config"));
        let config_property = raw
            .get("properties")
            .and_then(Value::as_object)
            .and_then(|p| {
                p.iter()
                    .find(|(_, v)| v.as_str() == Some("{CONFIG}"))
                    .map(|(k, _)| k.clone())
            });
        let formats: Vec<Option<&str>> = if formats.is_empty() {
            vec![None]
        } else {
            formats.iter().map(|f| Some(f.as_str())).collect()
        };
        let configs: Vec<Option<&str>> = if configs.is_empty() {
            vec![None]
        } else {
            configs.iter().map(|c| Some(c.as_str())).collect()
        };
        for format in &formats {
            for config in &configs {
                let mut full = format!("{stem} - {name}");
                if let Some(f) = format {
                    full.push_str(&format!(" - {f}"));
                }
                if let Some(c) = config {
                    match &config_property {
                        Some(p) => full.push_str(&format!(" - {p}={c}")),
                        None => full.push_str(&format!(" - {c}")),
                    }
                }
                if raw.get("enabled").and_then(Value::as_bool) == Some(false) {
                    file.disabled.push(full);
                    continue;
                }
                let mut case_json = raw.clone();
                substitute(&mut case_json, format.unwrap_or(""), config.unwrap_or(""));
                let mut case = read_case(stem, full.clone(), &case_json)
                    .map_err(|e| e.context(format!("test case '{full}'")))?;
                if rest {
                    case.rest = Some(read_rest(&case_json));
                }
                file.cases.push(case);
            }
        }
    }
    Ok(file)
}

fn read_case(stem: &str, name: String, json: &Value) -> Result<TestCase> {
    let mut case = TestCase::new(stem, name);
    case.statements = json
        .get("statements")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|s| Statement {
                    sql: s
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| s.to_string()),
                    line: 0,
                    inserts_into: None,
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(props) = json.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            case.properties.insert(k.clone(), scalar_text(v));
        }
    }
    for t in array(json.get("topics")) {
        if let Some(name) = t.get("name").and_then(Value::as_str) {
            let partitions = t.get("partitions").and_then(as_i64).or_else(|| {
                case.statements
                    .iter()
                    .filter_map(|s| created_topic(&s.sql))
                    .find(|(topic, _)| topic == name)
                    .and_then(|(_, p)| p)
            });
            add_topic(&mut case.topics, name, partitions);
            let schemas = topic_schemas(t, name, &case.statements);
            if let Some(spec) = case.topics.iter_mut().find(|s| s.name == name) {
                spec.schemas.extend(schemas);
            }
        }
    }
    for s in &case.statements {
        if let Some((topic, partitions)) = created_topic(&s.sql) {
            add_topic(&mut case.topics, &topic, partitions);
        }
    }
    case.inputs = array(json.get("inputs"))
        .iter()
        .map(read_record)
        .collect::<Result<_>>()
        .map_err(|e| e.context("inputs"))?;
    case.outputs = array(json.get("outputs"))
        .iter()
        .map(|r| read_record(r).map(ExpectedOutput::Record))
        .collect::<Result<_>>()
        .map_err(|e| e.context("outputs"))?;
    for r in &case.inputs {
        add_topic(&mut case.topics, &r.topic, None);
    }
    for o in &case.outputs {
        if let ExpectedOutput::Record(r) = o {
            add_topic(&mut case.topics, &r.topic, None);
        }
    }
    if let Some(e) = json.get("expectedException") {
        let type_name = e.get("type").and_then(Value::as_str).map(str::to_string);
        let kind = match &type_name {
            Some(t) if t.ends_with("StreamsException") => ErrorKind::Runtime,
            _ => ErrorKind::Statement,
        };
        // For a query that stops, the cause says what went wrong; the outer
        // message is Kafka Streams' "Exception caught in process".
        let text = |field: &str| e.get(field).and_then(Value::as_str).map(str::to_string);
        let message = match kind {
            ErrorKind::Runtime => text("causeMessage").or_else(|| text("message")),
            ErrorKind::Statement => text("message"),
        };
        case.expected_error = Some(ExpectedError {
            kind,
            type_name,
            message,
            statement: None,
            message_required: false,
        });
    }
    if let Some(p) = json.get("post") {
        case.post = Some(read_post(p)?);
    }
    classify(&mut case);
    Ok(case)
}

/// The RQTT fields of a case: `responses`, `expectedError`,
/// `inputConditions`, `outputConditions`, `testPullWithProtoFormat`.
fn read_rest(json: &Value) -> RestExpectations {
    let flag = |outer: &str, inner: Option<&str>| {
        let v = json.get(outer);
        let v = match inner {
            Some(i) => v.and_then(|o| o.get(i)),
            None => v,
        };
        v.and_then(Value::as_bool).unwrap_or(false)
    };
    let error = json.get("expectedError").map(|e| RestError {
        type_name: e.get("type").and_then(Value::as_str).map(str::to_string),
        message: e.get("message").and_then(Value::as_str).map(str::to_string),
        status: e
            .get("status")
            .and_then(as_i64)
            .and_then(|s| u16::try_from(s).ok()),
    });
    RestExpectations {
        responses: array(json.get("responses")).to_vec(),
        error,
        wait_for_active_push_query: flag("inputConditions", Some("waitForActivePushQuery")),
        verify_order: flag("outputConditions", Some("verifyOrder")),
        pull_with_proto: flag("testPullWithProtoFormat", None),
    }
}

fn add_topic(topics: &mut Vec<TopicSpec>, name: &str, partitions: Option<i64>) {
    if topics.iter().any(|t| t.name == name) {
        return;
    }
    let partitions = partitions
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or(1)
        .max(1);
    topics.push(TopicSpec {
        name: name.to_string(),
        partitions,
        schemas: Vec::new(),
    });
}

/// The key and value schemas a `topics[]` entry registers.
fn topic_schemas(t: &Value, topic: &str, statements: &[Statement]) -> Vec<TopicSchema> {
    let mut out = Vec::new();
    for (key, field, id_field, format_field, refs_field) in [
        (
            true,
            "keySchema",
            "keySchemaId",
            "keyFormat",
            "keySchemaReferences",
        ),
        (
            false,
            "valueSchema",
            "valueSchemaId",
            "valueFormat",
            "valueSchemaReferences",
        ),
    ] {
        let Some(schema) = t.get(field).filter(|v| !v.is_null()) else {
            continue;
        };
        let format = t
            .get(format_field)
            .or_else(|| t.get("format"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| statement_format(statements, topic, key));
        let schema_type = schema_type_of(format.as_deref(), schema);
        let text = match (schema_type, schema) {
            (crate::sr::SchemaType::Protobuf, Value::String(s)) => s.clone(),
            (_, other) => other.to_string(),
        };
        let references = array(t.get(refs_field))
            .iter()
            .filter_map(|r| {
                let name = r.get("name")?.as_str()?.to_string();
                let format = r.get("format").and_then(Value::as_str);
                let body = r.get("schema")?;
                let ty = schema_type_of(format, body);
                let text = match body {
                    Value::String(s) if ty == crate::sr::SchemaType::Protobuf => s.clone(),
                    other => other.to_string(),
                };
                Some((name, crate::sr::Schema::new(ty, text)))
            })
            .collect();
        out.push(TopicSchema {
            key,
            schema: crate::sr::Schema::new(schema_type, text),
            id: t
                .get(id_field)
                .and_then(as_i64)
                .and_then(|i| i32::try_from(i).ok())
                .or_else(|| statement_schema_id(statements, topic, key)),
            references,
        });
    }
    out
}

/// The schema type of a topic's schema: from its format when known, else
/// from its shape (a `.proto` text, a JSON Schema, else Avro).
fn schema_type_of(format: Option<&str>, schema: &Value) -> crate::sr::SchemaType {
    use crate::sr::SchemaType;
    match format.map(str::to_ascii_uppercase).as_deref() {
        Some("PROTOBUF" | "PROTOBUF_NOSR") => return SchemaType::Protobuf,
        Some("JSON_SR" | "JSON") => return SchemaType::Json,
        Some("AVRO") => return SchemaType::Avro,
        _ => {}
    }
    match schema {
        Value::String(s) if s.contains("syntax") || s.contains("message ") => SchemaType::Protobuf,
        Value::Object(o)
            if o.contains_key("$schema")
                || o.contains_key("properties")
                || matches!(
                    o.get("type").and_then(Value::as_str),
                    Some("object" | "integer" | "number")
                ) =>
        {
            SchemaType::Json
        }
        _ => SchemaType::Avro,
    }
}

/// The WITH properties (name, value text) of the `CREATE` statements over
/// `topic` (its `KAFKA_TOPIC`, or a C*AS sink's name).
fn statement_properties(statements: &[Statement], topic: &str) -> Vec<Vec<(String, String)>> {
    use crate::sql::ast::{PropertyValue, Statement as Ast};
    let mut out = Vec::new();
    for s in statements {
        let Ok(parsed) = crate::sql::parse(&s.sql) else {
            continue;
        };
        for p in parsed {
            let (props, name) = match &p.statement {
                Ast::CreateSource(c) => (&c.properties, None),
                Ast::CreateAsSelect(c) => (&c.properties, Some(c.name.clone())),
                _ => continue,
            };
            let entries: Vec<(String, String)> = props
                .entries
                .iter()
                .map(|e| {
                    let v = match &e.value {
                        PropertyValue::String(v) | PropertyValue::Number(v) => v.clone(),
                        PropertyValue::Boolean(b) => b.to_string(),
                    };
                    (e.name.clone(), v)
                })
                .collect();
            let over = entries
                .iter()
                .find(|(n, _)| n == "KAFKA_TOPIC")
                .map(|(_, v)| v.clone())
                .or(name);
            if over.as_deref() == Some(topic) {
                out.push(entries);
            }
        }
    }
    out
}

/// The key or value format a `CREATE` statement over `topic` declares.
fn statement_format(statements: &[Statement], topic: &str, key: bool) -> Option<String> {
    let own = if key { "KEY_FORMAT" } else { "VALUE_FORMAT" };
    statement_properties(statements, topic)
        .into_iter()
        .find_map(|props| {
            let get = |n: &str| props.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
            get(own).or_else(|| get("FORMAT"))
        })
}

/// The schema id a statement over `topic` pins for its key or value.
fn statement_schema_id(statements: &[Statement], topic: &str, key: bool) -> Option<i32> {
    let own = if key {
        "KEY_SCHEMA_ID"
    } else {
        "VALUE_SCHEMA_ID"
    };
    statement_properties(statements, topic)
        .into_iter()
        .find_map(|props| {
            props
                .iter()
                .find(|(k, _)| k == own)
                .and_then(|(_, v)| v.parse().ok())
        })
}

/// The topic (and its partitions, when given) of a `CREATE STREAM|TABLE`
/// with columns; `None` for other statements and text sluice cannot parse.
fn created_topic(sql: &str) -> Option<(String, Option<i64>)> {
    use crate::sql::ast::{PropertyValue, Statement as Ast};
    let parsed = crate::sql::parse(sql).ok()?;
    let Ast::CreateSource(create) = &parsed.first()?.statement else {
        return None;
    };
    let mut topic = None;
    let mut partitions = None;
    for p in &create.properties.entries {
        match (p.name.as_str(), &p.value) {
            ("KAFKA_TOPIC", PropertyValue::String(s)) => topic = Some(s.clone()),
            ("PARTITIONS", PropertyValue::Number(n)) => partitions = n.parse().ok(),
            _ => {}
        }
    }
    Some((topic?, partitions))
}

fn read_record(json: &Value) -> Result<Record> {
    let topic = json
        .get("topic")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::user("a record has no \"topic\""))?;
    let window = match json.get("window") {
        Some(w) if !w.is_null() => Some(Window {
            start: w.get("start").and_then(as_i64).unwrap_or(0),
            end: w.get("end").and_then(as_i64).unwrap_or(0),
            kind: match w.get("type").and_then(Value::as_str) {
                Some(t) if t.eq_ignore_ascii_case("session") => WindowKind::Session,
                _ => WindowKind::Time,
            },
        }),
        _ => None,
    };
    let headers = match json.get("headers") {
        Some(Value::Array(hs)) => Some(
            hs.iter()
                .map(read_header)
                .collect::<Result<Vec<_>>>()
                .map_err(|e| e.context(format!("headers of a record of '{topic}'")))?,
        ),
        _ => None,
    };
    Ok(Record {
        topic: topic.to_string(),
        key: json.get("key").cloned().unwrap_or(Value::Null),
        value: json.get("value").cloned().unwrap_or(Value::Null),
        timestamp: json.get("timestamp").and_then(as_i64),
        window,
        headers,
    })
}

fn read_header(json: &Value) -> Result<Header> {
    let field = |name: &str| {
        json.as_object().and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
    };
    let key = field("KEY")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::user("a header has no \"KEY\""))?;
    let value = match field("VALUE") {
        Some(Value::String(b64)) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| Error::user(format!("header '{key}': not base64: {e}")))?,
        ),
        _ => None,
    };
    Ok(Header {
        key: key.to_string(),
        value,
    })
}

fn read_post(json: &Value) -> Result<PostConditions> {
    let mut post = PostConditions::default();
    for s in array(json.get("sources")) {
        let name = s
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::user("a post source has no \"name\""))?;
        let key_format = s.get("keyFormat");
        post.sources.push(SourceCheck {
            name: name.to_string(),
            kind: s.get("type").and_then(Value::as_str).map(str::to_string),
            schema: s.get("schema").and_then(Value::as_str).map(str::to_string),
            key_format: key_format.and_then(format_name),
            window_type: key_format
                .and_then(|k| k.get("windowType"))
                .and_then(Value::as_str)
                .map(str::to_string),
            value_format: s.get("valueFormat").and_then(format_name),
            key_features: s.get("keyFeatures").map(|f| string_list(Some(f))),
            value_features: s.get("valueFeatures").map(|f| string_list(Some(f))),
            is_source: s.get("isSource").and_then(Value::as_bool),
        });
    }
    if let Some(topics) = json.get("topics") {
        post.topic_blacklist = topics
            .get("blacklist")
            .and_then(Value::as_str)
            .map(str::to_string);
        for t in array(topics.get("topics")) {
            let name = t
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::user("a post topic has no \"name\""))?;
            post.topics.push(TopicCheck {
                name: name.to_string(),
                key_format: t.get("keyFormat").and_then(format_name),
                value_format: t.get("valueFormat").and_then(format_name),
                partitions: t
                    .get("partitions")
                    .and_then(as_i64)
                    .and_then(|p| i32::try_from(p).ok()),
                key_schema: t.get("keySchema").filter(|v| !v.is_null()).cloned(),
                value_schema: t.get("valueSchema").filter(|v| !v.is_null()).cloned(),
            });
        }
    }
    Ok(post)
}

/// A format given as `"JSON"` or as `{"format": "JSON", …}`.
fn format_name(json: &Value) -> Option<String> {
    match json {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("format").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

fn array(json: Option<&Value>) -> &[Value] {
    json.and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn string_list(json: Option<&Value>) -> Vec<String> {
    array(json).iter().map(scalar_text).collect()
}

/// A scalar as text: strings without quotes, numbers as written.
fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Replaces `{FORMAT}` and `{CONFIG}` in every string of a case.
fn substitute(json: &mut Value, format: &str, config: &str) {
    match json {
        Value::String(s) if s.contains("{FORMAT}") || s.contains("{CONFIG}") => {
            *s = s.replace("{FORMAT}", format).replace("{CONFIG}", config);
        }
        Value::Array(a) => a.iter_mut().for_each(|v| substitute(v, format, config)),
        Value::Object(o) => substitute_object(o, format, config),
        _ => {}
    }
}

fn substitute_object(o: &mut Map<String, Value>, format: &str, config: &str) {
    for v in o.values_mut() {
        substitute(v, format, config);
    }
}

/// Removes `//` and `/* */` comments outside JSON strings.
pub fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    let mut in_string = false;
    while let Some((_, c)) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        out.push(escaped);
                    }
                }
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match (c, chars.peek().map(|&(_, n)| n)) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                for (_, n) in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut prev = ' ';
                for (_, n) in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                    }
                    if prev == '*' && n == '/' {
                        break;
                    }
                    prev = n;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Names of the functions ksqlDB's test suite registers only for its tests
/// (Java test-only UDFs, UDAFs and UDTFs); a case calling one is `N/A`.
pub const TEST_ONLY_FUNCTIONS: &[&str] = &[
    "TEST_UDF",
    "TEST_UDAF",
    "TEST_UDTF",
    "BAD_UDF",
    "TOSTRUCT",
    "VAR_ARG",
    "GENERIC_VAR_ARG",
    "MID_VAR_ARG",
    "MULTI_ARG",
    "FOUR_ARG",
    "FIVE_ARG",
    "OBJ_COL_ARG",
];

/// The test-only function a statement calls, if any.
pub fn test_only_function(sql: &str, pattern: &Regex) -> Option<String> {
    pattern
        .captures(sql)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_comments_outside_strings_only() {
        let text = "{\"a\": \"x // y /* z */\", // trailing\n /* block\n */ \"b\": 1}";
        let v: Value = serde_json::from_str(&strip_comments(text)).unwrap();
        assert_eq!(v["a"], "x // y /* z */");
        assert_eq!(v["b"], 1);
    }

    #[test]
    fn expands_formats_and_configs_and_skips_disabled() {
        let text = r#"{"tests": [
          {"name": "a", "format": ["JSON", "DELIMITED"], "config": ["true", "false"],
           "properties": {"ksql.some.flag": "{CONFIG}"},
           "statements": ["CREATE STREAM S (ID INT KEY, V INT) WITH (kafka_topic='t', partitions=3, value_format='{FORMAT}');"],
           "inputs": [{"topic": "t", "key": 1, "value": {"V": 12345678987654321.2345678987654321}}],
           "outputs": [{"topic": "OUT", "value": null, "timestamp": 5,
                        "window": {"start": 0, "end": 10, "type": "session"},
                        "headers": [{"KEY": "h", "VALUE": "AQI="}]}]},
          {"name": "off", "enabled": false, "statements": ["x"]}
        ]}"#;
        let file = parse_file("f", text).unwrap();
        let names: Vec<&str> = file.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "f - a - JSON - ksql.some.flag=true",
                "f - a - JSON - ksql.some.flag=false",
                "f - a - DELIMITED - ksql.some.flag=true",
                "f - a - DELIMITED - ksql.some.flag=false",
            ]
        );
        assert_eq!(file.disabled, ["f - off"]);
        let c = &file.cases[2];
        assert!(c.statements[0].sql.contains("value_format='DELIMITED'"));
        assert_eq!(c.properties["ksql.some.flag"], "true");
        assert_eq!(
            c.topics,
            [
                TopicSpec {
                    name: "t".into(),
                    partitions: 3,
                    schemas: Vec::new(),
                },
                TopicSpec {
                    name: "OUT".into(),
                    partitions: 1,
                    schemas: Vec::new(),
                }
            ]
        );
        assert_eq!(
            c.inputs[0].value["V"].to_string(),
            "12345678987654321.2345678987654321"
        );
        let ExpectedOutput::Record(out) = &c.outputs[0] else {
            panic!()
        };
        assert_eq!(out.timestamp, Some(5));
        assert_eq!(out.window.map(|w| w.kind), Some(WindowKind::Session));
        assert_eq!(out.headers.as_ref().unwrap()[0].value, Some(vec![1, 2]));
    }

    #[test]
    fn reads_rest_level_files() {
        let text = r#"{"tests": [
          {"name": "plain", "statements": ["INSERT INTO S (A) VALUES (1);"],
           "outputs": [{"topic": "t", "value": {"A": 1}}]},
          {"name": "push", "statements": ["SELECT * FROM S EMIT CHANGES LIMIT 1;"],
           "inputConditions": {"waitForActivePushQuery": true},
           "responses": [{"query": [{"header": {"schema": "`A` INTEGER"}}]}]},
          {"name": "bad", "statements": ["SELECT x;"],
           "expectedError": {"type": "T", "message": "m", "status": 400}}
        ]}"#;
        let file = parse_file("r", text).unwrap();
        let rest: Vec<&RestExpectations> =
            file.cases.iter().filter_map(|c| c.rest.as_ref()).collect();
        assert_eq!(rest.len(), 3, "every case of an RQTT file is a REST case");
        assert!(rest[0].responses.is_empty() && rest[0].error.is_none());
        assert!(rest[1].wait_for_active_push_query && !rest[1].verify_order);
        assert_eq!(rest[1].responses.len(), 1);
        assert_eq!(
            rest[2].error,
            Some(RestError {
                type_name: Some("T".into()),
                message: Some("m".into()),
                status: Some(400),
            })
        );
        let qtt = parse_file("q", r#"{"tests": [{"name": "a", "statements": []}]}"#).unwrap();
        assert!(qtt.cases[0].rest.is_none());
    }
}
