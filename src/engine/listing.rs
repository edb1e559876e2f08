//! SHOW, DESCRIBE, EXPLAIN and PRINT formatting.

use std::sync::atomic::Ordering;

use super::outcome::{Outcome, QuerySummary, SourceDescription, SourceSummary};
use super::Engine;
use crate::catalog::{ColumnNamespace, Source};
use crate::config::Session;
use crate::error::{Error, Result};
use crate::plan::select::{plan_select, Purpose};
use crate::runtime::io::RawBatch;
use crate::sql::ast::{Describe, DescribeTarget, Explain, Show, ShowTarget, SourceKind, Statement};

fn summary(s: &Source) -> SourceSummary {
    SourceSummary {
        name: s.name.clone(),
        kind: s.kind_name(),
        topic: s.topic.clone(),
        key_format: s.key_format.format.to_string(),
        value_format: s.value_format.format.to_string(),
        windowed: s.window.is_some(),
    }
}

impl Engine {
    /// Names a user may type: streams, tables, their columns, and
    /// functions (for completion in the shell).
    pub async fn completion_words(&self) -> Vec<String> {
        let state = self.state.lock().await;
        let mut words: Vec<String> = Vec::new();
        for s in state.catalog.sources() {
            words.push(s.name.clone());
            words.extend(s.columns.iter().map(|c| c.name.clone()));
        }
        drop(state);
        words.extend(
            self.session_state
                .scalar_functions()
                .keys()
                .map(|n| n.to_uppercase()),
        );
        words.sort();
        words.dedup();
        words
    }

    pub(super) async fn show(&self, session: &Session, show: &Show) -> Result<Outcome> {
        match show.target {
            ShowTarget::Streams | ShowTarget::Tables => {
                let tables = show.target == ShowTarget::Tables;
                let kind = if tables {
                    SourceKind::Table
                } else {
                    SourceKind::Stream
                };
                let state = self.state.lock().await;
                let sources = state
                    .catalog
                    .sources()
                    .filter(|s| s.kind == kind)
                    .map(|s| summary(s))
                    .collect();
                Ok(Outcome::Sources { tables, sources })
            }
            ShowTarget::Topics { all } => {
                let mut topics = self.broker.admin().list_topics().await?;
                if !all {
                    topics.retain(|t| !t.name.starts_with('_'));
                }
                topics.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(Outcome::Topics(topics))
            }
            ShowTarget::Queries => {
                let state = self.state.lock().await;
                let queries = state
                    .catalog
                    .queries()
                    .map(|q| {
                        let running = state.queries.get(&q.id);
                        let error = running.and_then(|r| r.status.error());
                        QuerySummary {
                            id: q.id.clone(),
                            state: if error.is_some() { "ERROR" } else { "RUNNING" }.to_string(),
                            sinks: vec![q.sink.clone()],
                            sink_topics: vec![q.sink_topic.clone()],
                            sql: q.sql.clone(),
                            records_in: running
                                .map(|r| r.status.records_in.load(Ordering::Relaxed))
                                .unwrap_or(0),
                            records_out: running
                                .map(|r| r.status.records_out.load(Ordering::Relaxed))
                                .unwrap_or(0),
                            error,
                        }
                    })
                    .collect();
                Ok(Outcome::Queries(queries))
            }
            ShowTarget::Properties => {
                let mut props: Vec<(String, String, String)> = vec![
                    (
                        "ksql.service.id".into(),
                        "SERVER".into(),
                        self.config.service_id.clone(),
                    ),
                    (
                        "auto.offset.reset".into(),
                        "SERVER".into(),
                        match self.config.default_start {
                            crate::runtime::io::StartFrom::Earliest => "earliest",
                            crate::runtime::io::StartFrom::Latest => "latest",
                        }
                        .into(),
                    ),
                    (
                        "bootstrap.servers".into(),
                        "SERVER".into(),
                        self.broker.address(),
                    ),
                ];
                props.push((
                    "ksql.streams.processing.guarantee".into(),
                    "SERVER".into(),
                    "at_least_once".into(),
                ));
                if let Some(cluster) = self.cluster() {
                    props.push((
                        "ksql.advertised.listener".into(),
                        "SERVER".into(),
                        cluster.me.clone(),
                    ));
                }
                for (k, v) in &self.config.properties {
                    props.retain(|(n, _, _)| n != k);
                    props.push((k.clone(), "SERVER".into(), v.clone()));
                }
                for (k, v) in &session.properties {
                    props.retain(|(n, _, _)| n != k);
                    props.push((k.clone(), "SESSION".into(), v.clone()));
                }
                Ok(Outcome::Properties(props))
            }
            ShowTarget::Variables => {
                let mut vars: Vec<(String, String)> = session
                    .variables
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                vars.sort();
                Ok(Outcome::Variables(vars))
            }
            ShowTarget::Functions => {
                let mut names: Vec<(String, String)> = self
                    .session_state
                    .scalar_functions()
                    .keys()
                    .map(|n| (n.to_uppercase(), "SCALAR".to_string()))
                    .collect();
                names.sort();
                names.dedup();
                Ok(Outcome::Functions(names))
            }
            ShowTarget::Types => {
                let state = self.state.lock().await;
                let types = state
                    .catalog
                    .custom_types()
                    .map(|(name, t)| (name.clone(), t.to_string()))
                    .collect();
                Ok(Outcome::Types(types))
            }
        }
    }

    pub(super) async fn describe(&self, d: &Describe) -> Result<Outcome> {
        let DescribeTarget::Source(name) = &d.target else {
            return Err(Error::user(
                "Only DESCRIBE <stream or table> is supported by sluice yet",
            ));
        };
        let state = self.state.lock().await;
        let source = std::sync::Arc::clone(state.catalog.require_source(name)?);
        // As ksqlDB's CLI shows it: `(key) (Window type: TUMBLING)`.
        let window = source
            .window
            .map(|w| format!(" (Window type: {})", w.type_name()))
            .unwrap_or_default();
        let columns = source
            .columns
            .iter()
            .map(|c| {
                let extra = match (&c.namespace, source.kind) {
                    (ColumnNamespace::Key, SourceKind::Stream) => format!("(key){window}"),
                    (ColumnNamespace::Key, SourceKind::Table) => format!("(primary key){window}"),
                    (ColumnNamespace::Header(None), _) => "(headers)".to_string(),
                    (ColumnNamespace::Header(Some(k)), _) => format!("(header('{k}'))"),
                    (ColumnNamespace::Value, _) => String::new(),
                };
                (c.name.clone(), c.sql_type.to_string(), extra)
            })
            .collect();
        let write_queries = state.catalog.queries_writing(name);
        let late_records = write_queries
            .iter()
            .filter_map(|id| state.queries.get(id))
            .filter_map(|q| q.late_records.as_ref())
            .map(|n| n.load(Ordering::Relaxed))
            .reduce(|a, b| a + b);
        let read_queries = state.catalog.queries_reading(name);
        drop(state);
        let partitions = if d.extended {
            self.broker
                .admin()
                .describe_topic(&source.topic)
                .await
                .ok()
                .flatten()
                .map(|t| t.partitions)
        } else {
            None
        };
        Ok(Outcome::Description(Box::new(SourceDescription {
            summary: summary(&source),
            columns,
            timestamp: source.timestamp.as_ref().map(|t| t.column.clone()),
            write_queries,
            read_queries,
            sql: source.sql.clone(),
            partitions,
            errors: d.extended.then(|| self.log.error_count()),
            late_records: late_records.filter(|_| d.extended),
            extended: d.extended,
        })))
    }

    pub(super) async fn explain(&self, session: &Session, e: &Explain) -> Result<Outcome> {
        let _ = session;
        let state = self.state.lock().await;
        match e {
            Explain::QueryId(id) => {
                let upper = id.to_uppercase();
                let info = state
                    .catalog
                    .query(id)
                    .or_else(|| state.catalog.query(&upper))
                    .ok_or_else(|| Error::user(format!("Query with id:{id} does not exist, use SHOW QUERIES to view the full set of running queries.")))?;
                let plan = state
                    .queries
                    .get(&info.id)
                    .map(|q| q.plan.clone())
                    .unwrap_or_default();
                Ok(Outcome::Explain {
                    query_id: Some(info.id.clone()),
                    sql: info.sql.clone(),
                    columns: Vec::new(),
                    plan,
                    sources: info.sources.clone(),
                })
            }
            Explain::Statement(stmt) => {
                let query = match &stmt.statement {
                    Statement::Query(q) => q.as_ref(),
                    Statement::CreateAsSelect(c) => c.query.as_ref(),
                    Statement::InsertSelect(i) => i.query.as_ref(),
                    _ => {
                        return Err(Error::user(
                            "EXPLAIN takes a query id or a SELECT, CREATE … AS SELECT or INSERT INTO … SELECT statement",
                        ))
                    }
                };
                let planned = plan_select(
                    &self.session_state,
                    &state.catalog,
                    query,
                    &Purpose::Push,
                    "EXPLAIN",
                )?;
                let mut plan: Vec<String> =
                    planned.logical_plan.lines().map(str::to_string).collect();
                plan.push(String::new());
                plan.extend(
                    planned
                        .operators
                        .iter()
                        .map(|o| format!("{}: {}", o.name(), o.describe())),
                );
                Ok(Outcome::Explain {
                    query_id: None,
                    sql: stmt.text.clone(),
                    columns: planned.columns,
                    plan,
                    sources: vec![planned.source.name.clone()],
                })
            }
        }
    }
}

/// One PRINT line: `rowtime: …, key: …, value: …, partition: …`.
pub(crate) fn print_line(batch: &RawBatch, i: usize) -> String {
    fn show(p: Option<&[u8]>) -> String {
        match p {
            None => "<null>".to_string(),
            Some(b) => match std::str::from_utf8(b) {
                Ok(s) if !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') => {
                    s.to_string()
                }
                _ => match b.len() {
                    4 => i32::from_be_bytes([b[0], b[1], b[2], b[3]]).to_string(),
                    8 => i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
                        .to_string(),
                    _ => b.iter().map(|x| format!("{x:02x}")).collect(),
                },
            },
        }
    }
    let ts = batch.timestamps.get(i).copied().unwrap_or(0);
    let when = chrono::DateTime::from_timestamp_millis(ts)
        .map(|d| d.format("%Y/%m/%d %H:%M:%S%.3f Z").to_string())
        .unwrap_or_else(|| ts.to_string());
    let headers = batch
        .headers
        .get(i)
        .map(|h| {
            h.iter()
                .map(|(k, v)| format!("{k}={}", show(v.as_deref())))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    format!(
        "rowtime: {when}, key: {}, value: {}, partition: {}, headers: [{headers}]",
        show(batch.keys.get(i)),
        show(batch.values.get(i)),
        batch.partitions.get(i).copied().unwrap_or(0)
    )
}
