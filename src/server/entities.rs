//! Outcomes of statements as ksqlDB's `/ksql` entities (`KsqlEntity` and
//! its subtypes): `currentStatus` for commands, `streams`, `tables`,
//! `kafka_topics`, `queries`, `properties`, `sourceDescription`,
//! `queryDescription`, … Field names follow ksqlDB's REST model classes.

use serde_json::{json, Map, Value};

use crate::engine::{Outcome, QuerySummary, SourceDescription};
use crate::plan::select::OutputColumn;
use crate::sql::ast::{SourceKind, Statement, Terminate};
use crate::types::SqlType;

/// A command that changed the server's metadata, as `/status` lists it.
#[derive(Debug, Clone)]
pub struct Command {
    /// `<type>/<entity>/<action>`, e.g. ``stream/`ORDERS`/create``.
    pub id: String,
    /// Its sequence number.
    pub sequence: i64,
}

/// The command id ksqlDB gives `statement`, for statements that are
/// commands (DDL, persistent queries, TERMINATE); `None` for the others.
pub fn command_id(statement: &Statement) -> Option<String> {
    let kind = |k: SourceKind| match k {
        SourceKind::Stream => "stream",
        SourceKind::Table => "table",
    };
    Some(match statement {
        Statement::CreateSource(c) => format!("{}/`{}`/create", kind(c.kind), c.name),
        Statement::CreateAsSelect(c) => format!("{}/`{}`/create", kind(c.kind), c.name),
        Statement::InsertSelect(i) => format!("stream/`{}`/create", i.target),
        Statement::Drop(d) => format!("{}/`{}`/drop", kind(d.kind), d.name),
        Statement::Terminate(Terminate::Query(id)) => format!("terminate/{id}/execute"),
        Statement::Terminate(Terminate::All) => "terminate/ALL/execute".to_string(),
        Statement::CreateType { name, .. } => format!("type/`{name}`/create"),
        Statement::DropType { name, .. } => format!("type/`{name}`/drop"),
        Statement::Alter { kind: k, name, .. } => format!("{}/`{name}`/alter", kind(*k)),
        _ => return None,
    })
}

/// True for statements ksqlDB answers with no entity at all: INSERT
/// VALUES and the session-local SET/UNSET/DEFINE/UNDEFINE.
pub fn has_no_entity(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::InsertValues(_)
            | Statement::SetProperty { .. }
            | Statement::UnsetProperty { .. }
            | Statement::Define { .. }
            | Statement::Undefine { .. }
    )
}

/// A `currentStatus` entity: a command that succeeded.
pub fn current_status(
    text: &str,
    command: Option<&Command>,
    message: &str,
    query_id: Option<&str>,
) -> Value {
    json!({
        "@type": "currentStatus",
        "statementText": text,
        "commandId": command.map(|c| c.id.as_str()),
        "commandStatus": {
            "status": "SUCCESS",
            "message": message,
            "queryId": query_id,
        },
        "commandSequenceNumber": command.map(|c| c.sequence).unwrap_or(-1),
        "warnings": [],
    })
}

/// The entity of a non-command outcome. `queries` are the running
/// queries (for DESCRIBE's read and write queries).
pub fn listing(text: &str, outcome: &Outcome, queries: &[QuerySummary]) -> Value {
    let mut entity = match outcome {
        Outcome::Message { message } => current_status(text, None, message, None),
        Outcome::QueryStarted { message, query_id } => {
            current_status(text, None, message, Some(query_id))
        }
        Outcome::Sources { tables, sources } => {
            let key = if *tables { "tables" } else { "streams" };
            let list: Vec<Value> = sources
                .iter()
                .map(|s| {
                    json!({
                        "type": s.kind,
                        "name": s.name,
                        "topic": s.topic,
                        "keyFormat": s.key_format,
                        "valueFormat": s.value_format,
                        "isWindowed": s.windowed,
                    })
                })
                .collect();
            json!({"@type": key, key: list})
        }
        Outcome::Topics(topics) => {
            let list: Vec<Value> = topics
                .iter()
                .map(|t| {
                    json!({
                        "name": t.name,
                        "replicaInfo": vec![t.replicas; usize::try_from(t.partitions).unwrap_or(0)],
                    })
                })
                .collect();
            json!({"@type": "kafka_topics", "topics": list})
        }
        Outcome::Queries(qs) => json!({
            "@type": "queries",
            "queries": qs.iter().map(running_query).collect::<Vec<_>>(),
        }),
        Outcome::Properties(props) => json!({
            "@type": "properties",
            "properties": props
                .iter()
                .map(|(name, scope, value)| json!({"name": name, "scope": scope, "value": value}))
                .collect::<Vec<_>>(),
            "overwrittenProperties": props
                .iter()
                .filter(|(_, scope, _)| scope == "SESSION")
                .map(|(name, _, _)| name.clone())
                .collect::<Vec<_>>(),
            "defaultProperties": [],
        }),
        Outcome::Variables(vars) => json!({
            "@type": "variables",
            "variables": vars
                .iter()
                .map(|(name, value)| json!({"name": name, "value": value}))
                .collect::<Vec<_>>(),
        }),
        Outcome::Types(types) => {
            let map: Map<String, Value> = types
                .iter()
                .map(|(name, t)| (name.clone(), schema_of_text(t)))
                .collect();
            json!({"@type": "type_list", "types": map})
        }
        Outcome::Functions(fns) => json!({
            "@type": "function_names",
            "functions": fns
                .iter()
                .map(|(name, kind)| json!({"name": name, "type": kind, "category": ""}))
                .collect::<Vec<_>>(),
        }),
        Outcome::Description(d) => json!({
            "@type": "sourceDescription",
            "sourceDescription": source_description(d, queries),
        }),
        Outcome::Explain {
            query_id,
            sql,
            columns,
            plan,
            sources,
        } => json!({
            "@type": "queryDescription",
            "queryDescription": query_description(
                query_id.as_deref(),
                sql,
                columns,
                plan,
                sources,
                queries
            ),
        }),
        Outcome::Push(p) => json!({"@type": "currentStatus", "queryId": p.id}),
        Outcome::Pull(p) => json!({"@type": "currentStatus", "queryId": p.id}),
        Outcome::Print(p) => json!({"@type": "currentStatus", "topic": p.topic}),
    };
    if let Value::Object(map) = &mut entity {
        map.insert("statementText".into(), Value::String(text.to_string()));
        map.entry("warnings").or_insert_with(|| json!([]));
    }
    entity
}

/// ksqlDB's `RunningQuery`.
fn running_query(q: &QuerySummary) -> Value {
    json!({
        "queryString": q.sql,
        "sinks": q.sinks,
        "sinkKafkaTopics": q.sink_topics,
        "id": q.id,
        "statusCount": {q.state.clone(): 1},
        "queryType": "PERSISTENT",
        "state": q.state,
        // sluice's own counters (the web console shows throughput).
        "recordsIn": q.records_in,
        "recordsOut": q.records_out,
    })
}

fn query_by_id(id: &str, queries: &[QuerySummary]) -> Value {
    match queries.iter().find(|q| q.id == id) {
        Some(q) => running_query(q),
        None => json!({
            "queryString": "",
            "sinks": [],
            "sinkKafkaTopics": [],
            "id": id,
            "statusCount": {"RUNNING": 1},
            "queryType": "PERSISTENT",
            "state": "RUNNING",
        }),
    }
}

fn source_description(d: &SourceDescription, queries: &[QuerySummary]) -> Value {
    let fields: Vec<Value> = d
        .columns
        .iter()
        .map(|(name, type_text, extra)| {
            let mut field = Map::new();
            field.insert("name".into(), Value::String(name.clone()));
            field.insert("schema".into(), schema_of_text(type_text));
            if extra.contains("key") {
                field.insert("fieldType".into(), Value::String("KEY".into()));
            } else if let Some(rest) = extra.strip_prefix("(header('") {
                field.insert("fieldType".into(), Value::String("HEADER".into()));
                let key = rest.strip_suffix("'))").unwrap_or(rest);
                field.insert("headerKey".into(), Value::String(key.to_string()));
            } else if extra.contains("headers") {
                field.insert("fieldType".into(), Value::String("HEADER".into()));
            }
            Value::Object(field)
        })
        .collect();
    let kind = d.summary.kind;
    json!({
        "name": d.summary.name,
        "windowType": null,
        "readQueries": d.read_queries.iter().map(|id| query_by_id(id, queries)).collect::<Vec<_>>(),
        "writeQueries": d.write_queries.iter().map(|id| query_by_id(id, queries)).collect::<Vec<_>>(),
        "fields": fields,
        "type": kind,
        "timestamp": d.timestamp.clone().unwrap_or_default(),
        "statistics": d
            .late_records
            .map(|n| format!("late-records-dropped: {n}"))
            .unwrap_or_default(),
        "errorStats": d.errors.map(|e| format!("errors: {e}")).unwrap_or_default(),
        "extended": d.extended,
        "keyFormat": d.summary.key_format,
        "valueFormat": d.summary.value_format,
        "topic": d.summary.topic,
        "partitions": d.partitions.unwrap_or(0),
        "replication": if d.partitions.is_some() { 1 } else { 0 },
        "statement": d.sql.trim(),
        "queryOffsetSummaries": [],
        "sourceConstraints": [],
        "clusterStatistics": [],
        "clusterErrorStats": [],
    })
}

fn query_description(
    id: Option<&str>,
    sql: &str,
    columns: &[OutputColumn],
    plan: &[String],
    sources: &[String],
    queries: &[QuerySummary],
) -> Value {
    let running = id.and_then(|id| queries.iter().find(|q| q.id == id));
    let fields: Vec<Value> = columns
        .iter()
        .map(|c| {
            let mut field = json!({"name": c.name, "schema": schema(&c.sql_type)});
            if c.is_key {
                field["fieldType"] = Value::String("KEY".into());
            }
            field
        })
        .collect();
    let plan_text = plan.join("\n");
    json!({
        "id": id.unwrap_or(""),
        "statementText": sql.trim(),
        "windowType": null,
        "fields": fields,
        "sources": sources,
        "sinks": running.map(|q| q.sinks.clone()).unwrap_or_default(),
        "topology": plan_text,
        "executionPlan": plan_text,
        "overriddenProperties": {},
        "ksqlHostQueryStatus": {},
        "queryType": if id.is_some() { "PERSISTENT" } else { "PUSH" },
        "queryErrors": [],
        "tasksMetadata": [],
        "state": running.map(|q| q.state.as_str()).unwrap_or("RUNNING"),
    })
}

/// ksqlDB's `SchemaInfo` of a type: `{"type", "fields", "memberSchema"}`
/// (plus `parameters` for DECIMAL).
pub fn schema(t: &SqlType) -> Value {
    let base = |name: &str| json!({"type": name, "fields": null, "memberSchema": null});
    match t {
        SqlType::Boolean => base("BOOLEAN"),
        SqlType::Int => base("INTEGER"),
        SqlType::Bigint => base("BIGINT"),
        SqlType::Double => base("DOUBLE"),
        SqlType::Decimal(p, s) => json!({
            "type": "DECIMAL", "fields": null, "memberSchema": null,
            "parameters": {"precision": p, "scale": s},
        }),
        SqlType::String => base("STRING"),
        SqlType::Bytes => base("BYTES"),
        SqlType::Date => base("DATE"),
        SqlType::Time => base("TIME"),
        SqlType::Timestamp => base("TIMESTAMP"),
        SqlType::Array(item) => {
            json!({"type": "ARRAY", "fields": null, "memberSchema": schema(item)})
        }
        SqlType::Map(_, v) => json!({"type": "MAP", "fields": null, "memberSchema": schema(v)}),
        SqlType::Struct(fields) => json!({
            "type": "STRUCT",
            "fields": fields
                .iter()
                .map(|(n, t)| json!({"name": n, "schema": schema(t)}))
                .collect::<Vec<_>>(),
            "memberSchema": null,
        }),
    }
}

/// The schema of a type given as text (as DESCRIBE lists it).
fn schema_of_text(text: &str) -> Value {
    let simple = match text {
        "BOOLEAN" => Some(SqlType::Boolean),
        "INTEGER" | "INT" => Some(SqlType::Int),
        "BIGINT" => Some(SqlType::Bigint),
        "DOUBLE" => Some(SqlType::Double),
        "STRING" | "VARCHAR" => Some(SqlType::String),
        "BYTES" => Some(SqlType::Bytes),
        "DATE" => Some(SqlType::Date),
        "TIME" => Some(SqlType::Time),
        "TIMESTAMP" => Some(SqlType::Timestamp),
        _ => None,
    };
    match simple
        .map(Ok)
        .unwrap_or_else(|| crate::sql::parser::parse_data_type(text))
    {
        Ok(t) => schema(&t),
        Err(_) => json!({"type": text, "fields": null, "memberSchema": null}),
    }
}

/// The `/query` header's schema string: `` `K` STRING, `ID` INTEGER ``.
pub fn schema_string(columns: &[OutputColumn], keys: bool) -> String {
    columns
        .iter()
        .map(|c| {
            format!(
                "`{}` {}{}",
                c.name,
                c.sql_type,
                if keys && c.is_key { " KEY" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
