//! Text rendering of outcomes: aligned tables and ksqlDB's messages.

use arrow::array::{Array, RecordBatch};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use comfy_table::{presets::ASCII_FULL_CONDENSED, Table};

use crate::engine::Outcome;

fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(ASCII_FULL_CONDENSED);
    t.set_header(header.iter().map(|h| h.to_string()));
    for r in rows {
        t.add_row(r);
    }
    t.to_string()
}

/// Renders a non-streaming outcome as text.
pub fn render(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Message { message } => message.clone(),
        Outcome::QueryStarted { message, .. } => message.clone(),
        Outcome::Sources { tables, sources } => table(
            &[
                if *tables { "Table Name" } else { "Stream Name" },
                "Kafka Topic",
                "Key Format",
                "Value Format",
                "Windowed",
            ],
            sources
                .iter()
                .map(|s| {
                    vec![
                        s.name.clone(),
                        s.topic.clone(),
                        s.key_format.clone(),
                        s.value_format.clone(),
                        s.windowed.to_string(),
                    ]
                })
                .collect(),
        ),
        Outcome::Topics(topics) => table(
            &["Kafka Topic", "Partitions", "Partition Replicas"],
            topics
                .iter()
                .map(|t| {
                    vec![
                        t.name.clone(),
                        t.partitions.to_string(),
                        t.replicas.to_string(),
                    ]
                })
                .collect(),
        ),
        Outcome::Queries(qs) => table(
            &[
                "Query ID",
                "Status",
                "Sink Name",
                "Sink Kafka Topic",
                "Query String",
            ],
            qs.iter()
                .map(|q| {
                    vec![
                        q.id.clone(),
                        q.state.clone(),
                        q.sinks.join(","),
                        q.sink_topics.join(","),
                        q.sql.clone(),
                    ]
                })
                .collect(),
        ),
        Outcome::Properties(ps) => table(
            &["Property", "Scope", "Value"],
            ps.iter()
                .map(|(a, b, c)| vec![a.clone(), b.clone(), c.clone()])
                .collect(),
        ),
        Outcome::Variables(vs) => table(
            &["Variable Name", "Value"],
            vs.iter().map(|(a, b)| vec![a.clone(), b.clone()]).collect(),
        ),
        Outcome::Types(ts) => table(
            &["Type Name", "Schema"],
            ts.iter().map(|(a, b)| vec![a.clone(), b.clone()]).collect(),
        ),
        Outcome::Functions(fs) => table(
            &["Function Name", "Category"],
            fs.iter().map(|(a, b)| vec![a.clone(), b.clone()]).collect(),
        ),
        Outcome::Description(d) => {
            let mut out = format!(
                "Name                 : {}\nType                 : {}\nKafka topic          : {}\n\
                 Key format           : {}\nValue format         : {}\n",
                d.summary.name,
                d.summary.kind,
                d.summary.topic,
                d.summary.key_format,
                d.summary.value_format
            );
            if let Some(ts) = &d.timestamp {
                out.push_str(&format!("Timestamp field      : {ts}\n"));
            }
            out.push_str(&table(
                &["Field", "Type"],
                d.columns
                    .iter()
                    .map(|(n, t, e)| {
                        vec![
                            n.clone(),
                            if e.is_empty() {
                                t.clone()
                            } else {
                                format!("{t} {e}")
                            },
                        ]
                    })
                    .collect(),
            ));
            if d.extended {
                out.push_str(&format!(
                    "\nQueries that write from this {}: {}\nQueries that read from this {}: {}\n",
                    d.summary.kind,
                    d.write_queries.join(", "),
                    d.summary.kind,
                    d.read_queries.join(", ")
                ));
                if let Some(p) = d.partitions {
                    out.push_str(&format!("Partitions           : {p}\n"));
                }
                if let Some(e) = d.errors {
                    out.push_str(&format!("Processing errors    : {e}\n"));
                }
                if let Some(n) = d.late_records {
                    out.push_str(&format!("Late records dropped : {n}\n"));
                }
                out.push_str(&format!("Statement            : {}\n", d.sql.trim()));
            }
            out
        }
        Outcome::Explain {
            query_id,
            sql,
            columns,
            plan,
            ..
        } => {
            let mut out = String::new();
            if let Some(id) = query_id {
                out.push_str(&format!("ID                   : {id}\n"));
            }
            out.push_str(&format!("Query                : {}\n", sql.trim()));
            if !columns.is_empty() {
                out.push_str(&table(
                    &["Field", "Type"],
                    columns
                        .iter()
                        .map(|c| {
                            vec![
                                c.name.clone(),
                                format!("{}{}", c.sql_type, if c.is_key { " KEY" } else { "" }),
                            ]
                        })
                        .collect(),
                ));
                out.push('\n');
            }
            out.push_str("Execution plan\n--------------\n");
            out.push_str(&plan.join("\n"));
            out
        }
        Outcome::Push(p) => format!("Push query {} started", p.id),
        Outcome::Pull(p) => {
            let names: Vec<&str> = p.columns.iter().map(|c| c.name.as_str()).collect();
            let mut out = table(&names, p.rows.iter().flat_map(rows).collect());
            if let Some(m) = p.final_message {
                out.push('\n');
                out.push_str(m);
            }
            out
        }
        Outcome::Print(p) => format!("Printing topic {}", p.topic),
    }
}

/// Formats each row of a batch as strings, one per column.
pub fn rows(batch: &RecordBatch) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("null");
    let formatters: Vec<_> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect();
    (0..batch.num_rows())
        .map(|i| {
            formatters
                .iter()
                .zip(batch.columns())
                .map(|(f, c)| match f {
                    Ok(f) if !c.is_null(i) => f.value(i).to_string(),
                    Ok(_) => "null".to_string(),
                    Err(_) => "?".to_string(),
                })
                .collect()
        })
        .collect()
}

/// A horizontal rule for a streamed table.
pub fn rule(widths: &[usize]) -> String {
    let mut out = String::from("+");
    for w in widths {
        out.push_str(&"-".repeat(w + 2));
        out.push('+');
    }
    out
}

/// One row of a streamed table, each cell padded to its column's width.
pub fn row_line(cells: &[String], widths: &[usize]) -> String {
    let mut out = String::from("|");
    for (cell, w) in cells.iter().zip(widths) {
        out.push_str(&format!(" {cell:<w$} |"));
    }
    out
}

/// The rows of a batch as JSON objects, one per line.
pub fn batch_json(batch: &RecordBatch) -> String {
    let mut buf = Vec::new();
    {
        let mut writer = arrow::json::LineDelimitedWriter::new(&mut buf);
        if writer.write(batch).is_err() || writer.finish().is_err() {
            return String::new();
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// A non-streaming outcome as one JSON document.
pub fn json(outcome: &Outcome) -> String {
    use serde_json::json;
    let value = match outcome {
        Outcome::Message { message } => json!({ "message": message }),
        Outcome::QueryStarted { message, query_id } => {
            json!({ "message": message, "queryId": query_id })
        }
        Outcome::Sources { tables, sources } => json!({
            (if *tables { "tables" } else { "streams" }): sources.iter().map(|s| json!({
                "name": s.name, "type": s.kind, "topic": s.topic,
                "keyFormat": s.key_format, "valueFormat": s.value_format,
                "isWindowed": s.windowed,
            })).collect::<Vec<_>>()
        }),
        Outcome::Topics(topics) => json!({
            "topics": topics.iter().map(|t| json!({
                "name": t.name, "partitions": t.partitions, "replicas": t.replicas,
            })).collect::<Vec<_>>()
        }),
        Outcome::Queries(qs) => json!({
            "queries": qs.iter().map(|q| json!({
                "id": q.id, "state": q.state, "sinks": q.sinks, "sinkKafkaTopics": q.sink_topics,
                "queryString": q.sql, "error": q.error,
            })).collect::<Vec<_>>()
        }),
        Outcome::Properties(ps) => json!({
            "properties": ps.iter().map(|(n, scope, v)| json!({"name": n, "scope": scope, "value": v})).collect::<Vec<_>>()
        }),
        Outcome::Variables(vs) => json!({
            "variables": vs.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>()
        }),
        Outcome::Types(ts) => json!({
            "types": ts.iter().map(|(n, t)| json!({"name": n, "schema": t})).collect::<Vec<_>>()
        }),
        Outcome::Functions(fs) => json!({
            "functions": fs.iter().map(|(n, t)| json!({"name": n, "type": t})).collect::<Vec<_>>()
        }),
        Outcome::Description(d) => json!({
            "name": d.summary.name, "type": d.summary.kind, "topic": d.summary.topic,
            "keyFormat": d.summary.key_format, "valueFormat": d.summary.value_format,
            "timestamp": d.timestamp,
            "fields": d.columns.iter().map(|(n, t, e)| json!({"name": n, "type": t, "kind": e})).collect::<Vec<_>>(),
            "writeQueries": d.write_queries, "readQueries": d.read_queries, "statement": d.sql,
        }),
        Outcome::Explain {
            query_id,
            sql,
            plan,
            ..
        } => {
            json!({ "queryId": query_id, "statement": sql, "plan": plan })
        }
        Outcome::Push(p) => json!({ "queryId": p.id }),
        Outcome::Pull(p) => {
            let mut objects = Vec::new();
            for b in &p.rows {
                for line in batch_json(b).lines() {
                    objects.push(serde_json::from_str(line).unwrap_or(serde_json::Value::Null));
                }
            }
            json!({ "queryId": p.id, "rows": objects })
        }
        Outcome::Print(p) => json!({ "topic": p.topic }),
    };
    serde_json::to_string_pretty(&value).unwrap_or_default()
}
