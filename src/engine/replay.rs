//! The engine's side of the command topic: recording statements before
//! they take effect, and replaying them at start (see `commands`).

use std::sync::Arc;

use super::commands::{queries_to_start, Command, CommandLog, Pin, StoredCommand, COMMAND_VERSION};
use super::{Engine, RunningQuery};
use crate::catalog::{QueryInfo, Source};
use crate::config::{Replay, Session};
use crate::error::{Error, Result};
use crate::plan::select::PlannedSelect;
use crate::runtime::operators::Operator;
use crate::runtime::pipeline::state_fingerprint;
use crate::runtime::processing_log::LogEntry;
use crate::sql::ast::SourceKind;

/// How a source is pinned: everything a query over it depends on.
pub(super) fn pin_source(source: &Source) -> String {
    let columns: Vec<String> = source
        .columns
        .iter()
        .map(|c| {
            let ns = match &c.namespace {
                crate::catalog::ColumnNamespace::Key => " KEY".to_string(),
                crate::catalog::ColumnNamespace::Value => String::new(),
                crate::catalog::ColumnNamespace::Header(k) => format!(" HEADER({k:?})"),
            };
            format!("`{}` {}{ns}", c.name, c.sql_type)
        })
        .collect();
    format!(
        "{} {} ({}) topic '{}' key {:?} value {:?} timestamp {:?} window {:?}",
        source.kind_name(),
        source.name,
        columns.join(", "),
        source.topic,
        source.key_format,
        source.value_format,
        source.timestamp,
        source.window
    )
}

impl Engine {
    /// The internal topic a re-keying query writes its rows to.
    pub(super) fn repartition_topic(&self, query_id: &str) -> String {
        format!(
            "{}-Aggregate-GroupBy-repartition",
            self.config.query_group(query_id)
        )
    }

    /// The changelog topic of a query with state, named after its main
    /// stateful operator.
    pub(super) fn changelog_topic(
        &self,
        query_id: &str,
        operators: &[Box<dyn Operator>],
    ) -> String {
        let name = operators
            .iter()
            .find_map(|op| op.changelog_name())
            .unwrap_or("Materialize");
        format!("{}-{name}-changelog", self.config.query_group(query_id))
    }

    /// What a persistent query resolves to: its sink, the topics it writes,
    /// its internal topics and its state layout.
    pub(super) fn query_pin(
        &self,
        planned: &PlannedSelect,
        sink: &Source,
        query_id: &str,
        sink_partitions: i32,
    ) -> Pin {
        let mut internal = Vec::new();
        if planned.repartition.is_some() {
            internal.push(self.repartition_topic(query_id));
        }
        if let Some(join) = &planned.join {
            for rep in &join.repartitions {
                internal.push(format!(
                    "{}-{}",
                    self.config.query_group(query_id),
                    rep.name
                ));
            }
        }
        let store = match sink.kind {
            SourceKind::Table => super::pull::store_for(&sink.name, planned)
                .ok()
                .map(|s| s.layout()),
            SourceKind::Stream => None,
        };
        let state = state_fingerprint(&planned.operators, store);
        if state.is_some() {
            internal.push(self.changelog_topic(query_id, &planned.operators));
        }
        Pin {
            source: Some(pin_source(sink)),
            topics: vec![(sink.topic.clone(), sink_partitions)],
            internal_topics: internal,
            state,
        }
    }

    /// The pin of a query the engine knows.
    pub(super) async fn running_pin(&self, query_id: &str) -> Option<Pin> {
        self.state
            .lock()
            .await
            .queries
            .get(query_id)
            .and_then(|q| q.pin.clone())
    }

    /// On replay, an error when the statement no longer resolves as it did.
    pub(super) fn check_replay_pin(&self, session: &Session, now: &Pin) -> Result<()> {
        let Some(stored) = session.replay.as_ref().and_then(|r| r.pin.as_ref()) else {
            return Ok(());
        };
        match stored.difference(now) {
            None => Ok(()),
            Some(diff) => Err(Error::external(format!(
                "the statement no longer resolves as when it was recorded: {diff}"
            ))),
        }
    }

    /// Stops a running query and waits for it to flush and commit.
    pub(super) async fn stop_query(&self, query_id: &str) {
        let running = self.state.lock().await.queries.remove(query_id);
        if let Some(mut q) = running {
            q.cancel.cancel();
            if let Some(h) = q.handle.take() {
                let _ = h.await;
            }
        }
    }

    /// Appends a statement to the command topic before it takes effect
    /// (nothing on replay, nor without a command topic).
    pub(super) async fn record(
        &self,
        session: &Session,
        statement: &str,
        query_id: Option<&str>,
        terminates: Vec<String>,
        pin: Pin,
    ) -> Result<()> {
        if session.replay.is_some() {
            return Ok(());
        }
        let Some(log) = &self.commands else {
            return Ok(());
        };
        if let Some(why) = self.degraded() {
            return Err(Error::user(format!(
                "This server cannot accept statements that change the catalog: {why}"
            )));
        }
        let command = Command {
            version: COMMAND_VERSION,
            statement: statement.trim().to_string(),
            properties: session.properties.clone(),
            variables: session
                .variables
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            query_id: query_id.map(str::to_string),
            terminates,
            pin: Some(pin),
            ..Command::default()
        };
        self.append_command(log, command).await
    }

    /// Why the server refuses catalog changes, if it does.
    pub fn degraded(&self) -> Option<String> {
        self.degraded.lock().ok().and_then(|d| d.clone())
    }

    /// Replays the commands read from the command topic, in order.
    pub(super) async fn replay(&self, log: &CommandLog, commands: Vec<StoredCommand>) {
        let mut readable: Vec<(i64, Command)> = Vec::new();
        for (offset, command) in commands {
            match command {
                Ok(c) => readable.push((offset, c)),
                Err(why) => {
                    let message = format!(
                        "the command at offset {offset} of '{}' cannot be applied ({why}); it \
                         and every later command were left out",
                        log.topic()
                    );
                    tracing::error!("{message}");
                    if let Ok(mut d) = self.degraded.lock() {
                        *d = Some(message);
                    }
                    break;
                }
            }
        }
        // Commands that failed when their turn came (behind a conflicting
        // command of another server) are void, as are the marks saying so.
        let void: std::collections::HashSet<i64> =
            readable.iter().filter_map(|(_, c)| c.voids).collect();
        readable.retain(|(offset, c)| c.voids.is_none() && !void.contains(offset));
        let starts = queries_to_start(&readable.iter().map(|(_, c)| c).collect::<Vec<_>>());
        let total = readable.len();
        let mut failed = 0;
        for ((offset, command), start) in readable.into_iter().zip(starts) {
            let mut session = Session {
                properties: command.properties.clone(),
                variables: command.variables.clone().into_iter().collect(),
                replay: Some(Replay {
                    query_id: command.query_id.clone(),
                    start,
                    pin: command.pin.clone(),
                    own: false,
                    locked: false,
                }),
                partitions: None,
                authorization: None,
            };
            if let Err(e) = self.execute(&mut session, &command.statement).await {
                failed += 1;
                let message = format!(
                    "the command at offset {offset} of '{}' failed on replay: {e}",
                    log.topic()
                );
                tracing::error!("{message}");
                self.log.record(LogEntry {
                    query_id: command.query_id.clone().unwrap_or_default(),
                    kind: "replay",
                    origin: None,
                    target: None,
                    message: message.clone(),
                    record: None,
                });
                if let Some(id) = &command.query_id {
                    self.register_failed_query(id, &command, message).await;
                }
            }
        }
        if total > 0 {
            tracing::info!(
                commands = total,
                failed,
                "replayed the command topic '{}'",
                log.topic()
            );
        }
    }

    /// Lists a query whose command could not be replayed, in ERROR with
    /// the reason, so that it can be seen and terminated.
    async fn register_failed_query(&self, id: &str, command: &Command, message: String) {
        let sink = command
            .pin
            .as_ref()
            .and_then(|p| p.source.as_ref())
            .and_then(|s| s.split_whitespace().nth(1))
            .unwrap_or_default()
            .to_string();
        let sink_topic = command
            .pin
            .as_ref()
            .and_then(|p| p.topics.first())
            .map(|(t, _)| t.clone())
            .unwrap_or_default();
        let mut state = self.state.lock().await;
        if state.queries.contains_key(id) {
            return;
        }
        state.catalog.observe_query_id(id);
        state.catalog.put_query(QueryInfo {
            id: id.to_string(),
            sql: command.statement.clone(),
            sources: Vec::new(),
            sink,
            sink_topic,
        });
        let running = RunningQuery::not_started();
        running.status.set_error(Some(message));
        running
            .status
            .finished
            .store(true, std::sync::atomic::Ordering::SeqCst);
        state.queries.insert(id.to_string(), running);
    }
}

impl RunningQuery {
    /// A query registered but not running: replaced or stopped later in the
    /// command topic, or failed on replay.
    pub(super) fn not_started() -> RunningQuery {
        RunningQuery {
            cancel: tokio_util::sync::CancellationToken::new(),
            handle: None,
            status: Arc::new(crate::runtime::task::QueryStatus::default()),
            upstream: Vec::new(),
            late_records: None,
            plan: vec!["not running".to_string()],
            materialized: None,
            pin: None,
            key_route: None,
        }
    }

    /// The query with what it resolved to.
    pub(super) fn with_pin(mut self, pin: Pin) -> RunningQuery {
        self.pin = Some(pin);
        self
    }
}
