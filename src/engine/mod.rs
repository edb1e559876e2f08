//! The engine: the one facade the shell, the server and the test runner
//! call. `execute(sql)` parses, plans and runs statements against the
//! catalog and the broker, and returns one [`Outcome`] per statement.

pub mod cluster;
pub mod commands;
mod follow;
mod inserts;
mod inspect;
mod listing;
pub mod outcome;
mod pull;
mod queries;
mod replay;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::execution::SessionState;
use tokio::sync::{mpsc, Mutex};
use tokio_util::sync::CancellationToken;

pub use inserts::JsonInserter;
pub use inspect::{QueryMetrics, QueryProgress};
pub use outcome::{
    Outcome, PrintStream, PullResult, PushStream, QuerySummary, SourceDescription, SourceSummary,
};

use crate::catalog::Catalog;
use crate::config::{Config, Session};
use crate::error::{Error, Result};
use crate::runtime::io::Broker;
use crate::runtime::processing_log::{LogEntry, ProcessingLog};
use crate::runtime::task::QueryStatus;
use crate::sql::ast::{ParsedStatement, Statement};

/// A persistent query the engine runs.
pub(crate) struct RunningQuery {
    pub(crate) cancel: CancellationToken,
    pub(crate) handle: Option<tokio::task::JoinHandle<Result<()>>>,
    pub(crate) status: Arc<QueryStatus>,
    /// The first tasks of a query that re-keys through repartition topics.
    pub(crate) upstream: Vec<Arc<QueryStatus>>,
    /// Records its windowed aggregation dropped as late.
    pub(crate) late_records: Option<Arc<std::sync::atomic::AtomicU64>>,
    pub(crate) plan: Vec<String>,
    /// The materialized state of the TABLE the query writes, which pull
    /// queries read; dropped with the query.
    pub(crate) materialized: Option<Arc<crate::runtime::materialized::Materialized>>,
    /// What the query resolved to when created (command topic).
    pub(crate) pin: Option<commands::Pin>,
    /// For a materialized table: which input partition holds a key (pull
    /// queries ask only that partition's server).
    pub(crate) key_route: Option<cluster::KeyRoute>,
}

impl RunningQuery {
    /// Every task's status: the re-keying task's first.
    pub(crate) fn statuses(&self) -> impl Iterator<Item = &Arc<QueryStatus>> {
        self.upstream.iter().chain(std::iter::once(&self.status))
    }
}

pub(crate) struct EngineState {
    pub(crate) catalog: Catalog,
    pub(crate) queries: HashMap<String, RunningQuery>,
    pub(crate) transient: u64,
}

/// A writer several statements take turns with.
type SharedWriter = Arc<Mutex<Box<dyn crate::runtime::io::TopicWriter>>>;

/// The streaming SQL engine.
pub struct Engine {
    /// The command topic, when the catalog is kept there. (Fields drop in
    /// order: its producer goes before the broker it talks to.)
    commands: Option<commands::CommandLog>,
    /// The producer INSERT VALUES writes each topic with (before the
    /// broker, which drops after it).
    insert_writers: Mutex<HashMap<String, SharedWriter>>,
    pub(crate) broker: Arc<dyn Broker>,
    pub(crate) session_state: Arc<SessionState>,
    pub(crate) config: Arc<Config>,
    pub(crate) state: Mutex<EngineState>,
    pub(crate) log: ProcessingLog,
    log_writer: Option<tokio::task::JoinHandle<()>>,
    /// Statements that change the catalog run one at a time, in the order
    /// they are recorded; other statements do not wait for them.
    ddl: Mutex<()>,
    /// Set when the command topic holds a command this server cannot
    /// apply: it then refuses catalog changes.
    degraded: std::sync::Mutex<Option<String>>,
    /// Following the command topic the other servers of the service write
    /// too (with a command topic).
    following: Option<Arc<follow::Following>>,
    /// Statements recorded behind another server's command, by id.
    queued: std::sync::Mutex<HashMap<String, follow::Queued>>,
    /// The other servers of the service, once this one joined them.
    cluster: std::sync::OnceLock<Arc<cluster::Cluster>>,
    /// Push queries over one source share its reader.
    pub(crate) feeds: crate::runtime::feed::Feeds,
    /// Key lookups planned once per statement shape.
    lookup_plans: pull::LookupPlans,
}

impl Engine {
    /// The Schema Registry this engine reads and registers schemas in.
    pub fn schema_registry(&self) -> Option<crate::sr::RegistryRef> {
        self.config.schema_registry.clone()
    }

    /// An engine over `broker`. Starts the processing-log writer.
    pub async fn new(broker: Arc<dyn Broker>, mut config: Config) -> Result<Arc<Engine>> {
        if config.schema_registry.is_none() {
            config.schema_registry = Some(crate::sr::RegistryRef(Arc::new(crate::sr::Store::new(
                "in-memory",
            ))));
        }
        let config = Arc::new(config);
        let (tx, rx) = mpsc::unbounded_channel();
        let log_writer = Some(tokio::spawn(write_processing_log(
            Arc::clone(&broker),
            config.processing_log_topic(),
            rx,
        )));
        let (commands, stored) = if config.command_topic {
            let (log, stored) = commands::CommandLog::open(&broker, &config.service_id).await?;
            (Some(log), stored)
        } else {
            (None, Vec::new())
        };
        let follows = commands.is_some();
        let broker_for_feeds = Arc::clone(&broker);
        let config_task = config.task;
        let log = ProcessingLog::new(Some(tx));
        let feed_log = log.clone();
        let engine = Arc::new(Engine {
            broker,
            session_state: crate::plan::session_state()?,
            config,
            state: Mutex::new(EngineState {
                catalog: Catalog::new(),
                queries: HashMap::new(),
                transient: 0,
            }),
            log,
            log_writer,
            commands,
            ddl: Mutex::new(()),
            degraded: std::sync::Mutex::new(None),
            following: follows.then(|| Arc::new(follow::Following::default())),
            queued: std::sync::Mutex::new(HashMap::new()),
            cluster: std::sync::OnceLock::new(),
            feeds: crate::runtime::feed::Feeds::new(broker_for_feeds, config_task, feed_log),
            insert_writers: Mutex::new(HashMap::new()),
            lookup_plans: std::sync::Mutex::new(HashMap::new()),
        });
        if engine.config.processing_log_stream {
            engine.register_processing_log().await?;
        }
        if let Some(log) = &engine.commands {
            let next = stored.last().map_or(0, |(offset, _)| offset + 1);
            engine.replay(log, stored).await;
            engine.start_following(next)?;
        }
        Ok(engine)
    }

    /// Creates the processing-log topic when missing and registers the
    /// `KSQL_PROCESSING_LOG` stream over it, so failures can be queried.
    async fn register_processing_log(&self) -> Result<()> {
        let topic = self.config.processing_log_topic();
        let admin = self.broker.admin();
        if admin.describe_topic(&topic).await?.is_none() {
            admin.create_topic(&topic, 1, 1).await?;
        }
        let sql = format!(
            "CREATE STREAM KSQL_PROCESSING_LOG (LOGGER STRING, LEVEL STRING, TIME BIGINT, \
             MESSAGE STRUCT<TYPE STRING, QUERYID STRING, ERRORMESSAGE STRING, TARGET STRING, \
             TOPIC STRING, `PARTITION` INT, `OFFSET` BIGINT, RECORDB64 STRING>) \
             WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');"
        );
        // Built in, not a command: every start registers it.
        let mut session = Session {
            replay: Some(crate::config::Replay::default()),
            ..Session::default()
        };
        self.execute(&mut session, &sql).await?;
        Ok(())
    }

    /// The broker the engine reads and writes.
    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.broker
    }

    /// The server configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// How many records failed processing so far (all queries).
    pub fn processing_errors(&self) -> u64 {
        self.log.error_count()
    }

    /// Executes every statement of `sql` in order, stopping at the first
    /// error, which names the statement and its position. Variables defined
    /// and types created earlier in the same request apply to later
    /// statements.
    pub async fn execute(&self, session: &mut Session, sql: &str) -> Result<Vec<Outcome>> {
        let mut outcomes = Vec::new();
        let statements = self.parse(session, sql).await?;
        for stmt in statements {
            let outcome = self
                .execute_statement(session, &stmt)
                .await
                .map_err(|e| with_statement(e, &stmt))?;
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// Parses `sql` into statements with the session's variables and the
    /// catalog's custom types, without executing anything (for edges that
    /// answer per statement, like the REST API).
    pub async fn parse(&self, session: &Session, sql: &str) -> Result<Vec<ParsedStatement>> {
        let types = CatalogTypes(
            self.state
                .lock()
                .await
                .catalog
                .custom_types()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        let mut variables = session.variables.clone();
        let mut context = crate::sql::ParseContext {
            variables: Some(&mut variables),
            types: Some(&types),
        };
        crate::sql::parse_with(sql, &mut context)
    }

    /// Executes one parsed statement.
    pub async fn execute_statement(
        &self,
        session: &mut Session,
        stmt: &ParsedStatement,
    ) -> Result<Outcome> {
        // Catalog changes run one at a time (they are recorded in order),
        // after the commands other servers recorded; reads, queries and
        // inserts never wait for them.
        let locked = session.replay.as_ref().is_some_and(|r| r.locked);
        let ddl = if changes_catalog(&stmt.statement) && !locked {
            if session.replay.is_none() {
                self.catch_up().await;
            }
            Some(self.ddl.lock().await)
        } else {
            None
        };
        let result = self.execute_locked(session, stmt).await;
        drop(ddl);
        match result {
            Err(Error::Queued(id)) => self.await_queued(&id).await,
            other => other,
        }
    }

    /// Executes one parsed statement, the catalog lock taken when needed.
    async fn execute_locked(
        &self,
        session: &mut Session,
        stmt: &ParsedStatement,
    ) -> Result<Outcome> {
        if matches!(
            stmt.statement,
            Statement::CreateAsSelect(_) | Statement::InsertSelect(_) | Statement::Query(_)
        ) {
            session.check_properties()?;
        }
        match &stmt.statement {
            Statement::CreateSource(c) => self.create_source(session, c, &stmt.text).await,
            Statement::CreateAsSelect(c) => self.create_as_select(session, c, &stmt.text).await,
            Statement::InsertSelect(i) => self.insert_select(session, i, &stmt.text).await,
            Statement::InsertValues(i) => self.insert_values(i).await,
            Statement::Query(q) => self.push_query(session, q, &stmt.text).await,
            Statement::Show(s) => self.show(session, s).await,
            Statement::Describe(d) => self.describe(d).await,
            Statement::Explain(e) => self.explain(session, e).await,
            Statement::Terminate(t) => self.terminate(session, t, &stmt.text).await,
            Statement::Drop(d) => self.drop_source(session, d, &stmt.text).await,
            Statement::Print(p) => self.print(session, p).await,
            Statement::SetProperty { name, value } => {
                crate::config::check_property(name, value)?;
                session.properties.insert(name.clone(), value.clone());
                Ok(Outcome::Message {
                    message: format!("Successfully changed local property '{name}' to '{value}'."),
                })
            }
            Statement::UnsetProperty { name } => {
                let old = session.properties.remove(name);
                Ok(Outcome::Message {
                    message: match old {
                        Some(v) => {
                            format!("Successfully unset local property '{name}' (value was '{v}').")
                        }
                        None => format!("Local property '{name}' was not set."),
                    },
                })
            }
            Statement::Define { name, value } => {
                session.variables.insert(name.to_uppercase(), value.clone());
                Ok(Outcome::Message {
                    message: format!("Defined variable {name} as '{value}'"),
                })
            }
            Statement::Undefine { name } => {
                session.variables.remove(&name.to_uppercase());
                Ok(Outcome::Message {
                    message: format!("Undefined variable {name}"),
                })
            }
            Statement::CreateType {
                name,
                if_not_exists,
                data_type,
            } => {
                let state = self.state.lock().await;
                if state.catalog.custom_type(name).is_some() {
                    if *if_not_exists {
                        return Ok(Outcome::Message {
                            message: format!("Type {name} already exists"),
                        });
                    }
                    return Err(Error::user(format!(
                        "Cannot register custom type '{name}' since it is already registered \
                         with type: {}",
                        state
                            .catalog
                            .custom_type(name)
                            .map(|t| t.to_string())
                            .unwrap_or_default()
                    )));
                }
                drop(state);
                let pin = commands::Pin {
                    source: Some(format!("TYPE {name} {data_type}")),
                    ..commands::Pin::default()
                };
                self.record(session, &stmt.text, None, Vec::new(), pin)
                    .await?;
                let mut state = self.state.lock().await;
                state.catalog.put_type(name.clone(), data_type.clone());
                Ok(Outcome::Message {
                    message: format!(
                        "Registered custom type with name '{name}' and SQL type {data_type}"
                    ),
                })
            }
            Statement::DropType { name, if_exists } => {
                if self.state.lock().await.catalog.custom_type(name).is_some() {
                    self.record(
                        session,
                        &stmt.text,
                        None,
                        Vec::new(),
                        commands::Pin::default(),
                    )
                    .await?;
                }
                let mut state = self.state.lock().await;
                match state.catalog.remove_type(name) {
                    Some(_) => Ok(Outcome::Message {
                        message: format!("Dropped type '{name}'"),
                    }),
                    None if *if_exists => Ok(Outcome::Message {
                        message: format!("Type {name} does not exist"),
                    }),
                    None => Err(Error::user(format!("Type {name} does not exist."))),
                }
            }
            Statement::Alter { .. } => Err(Error::user("ALTER is not supported by sluice yet")),
            Statement::RunScript { .. } => Err(Error::user(
                "RUN SCRIPT is a shell command; the engine does not read files",
            )),
            Statement::AssertValues(_) | Statement::AssertTombstone(_) => Err(Error::user(
                "ASSERT VALUES is only valid in sluice test files",
            )),
        }
    }

    /// Stops every query, waiting for each to flush and commit.
    pub async fn shutdown(&self) {
        self.feeds.shut_down().await;
        self.insert_writers.lock().await.clear();
        let mut state = self.state.lock().await;
        let handles: Vec<_> = state
            .queries
            .values_mut()
            .map(|q| {
                q.cancel.cancel();
                q.handle.take()
            })
            .collect();
        drop(state);
        for h in handles.into_iter().flatten() {
            let _ = h.await;
        }
    }

    /// True when every persistent query has read all its input and written
    /// everything derived from it (for `sluice run --until-idle` and tests).
    pub async fn is_idle(&self) -> bool {
        let state = self.state.lock().await;
        state.queries.values().all(|q| {
            q.statuses().all(|s| {
                s.finished.load(std::sync::atomic::Ordering::SeqCst)
                    || s.idle.load(std::sync::atomic::Ordering::SeqCst)
            })
        })
    }

    /// Waits until [`Engine::is_idle`] holds twice in a row, or `deadline`.
    pub async fn wait_idle(&self, deadline: Duration) -> bool {
        let start = std::time::Instant::now();
        let mut streak = 0;
        while start.elapsed() < deadline {
            if self.is_idle().await {
                streak += 1;
                if streak >= 3 {
                    return true;
                }
            } else {
                streak = 0;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Errors of queries that stopped.
    /// True when a persistent query reads more than one source (a join).
    pub async fn has_join_queries(&self) -> bool {
        let state = self.state.lock().await;
        let joins = state.catalog.queries().any(|q| q.sources.len() > 1);
        joins
    }

    pub async fn failed_queries(&self) -> Vec<(String, String)> {
        let state = self.state.lock().await;
        state
            .queries
            .iter()
            .filter_map(|(id, q)| {
                q.statuses()
                    .find_map(|s| s.error())
                    .map(|e| (id.clone(), e))
            })
            .collect()
    }
}

impl Engine {
    /// The sources push queries read through a shared feed, with the
    /// queries reading each.
    pub fn push_feeds(&self) -> Vec<(String, usize)> {
        let mut feeds = self.feeds.running();
        feeds.sort();
        feeds
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.feeds.close();
        if let Some(h) = self.log_writer.take() {
            h.abort();
        }
    }
}

/// Statements that change the catalog or the set of persistent queries:
/// the ones the command topic records.
fn changes_catalog(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::CreateSource(_)
            | Statement::CreateAsSelect(_)
            | Statement::InsertSelect(_)
            | Statement::Terminate(_)
            | Statement::Drop(_)
            | Statement::CreateType { .. }
            | Statement::DropType { .. }
    )
}

/// The custom types of the catalog, for the parser.
struct CatalogTypes(HashMap<String, crate::types::SqlType>);

impl crate::sql::TypeResolver for CatalogTypes {
    fn resolve_type(&self, name: &str) -> Option<crate::types::SqlType> {
        self.0
            .get(name)
            .or_else(|| self.0.get(&name.to_uppercase()))
            .cloned()
    }
}

/// Adds the statement's text (and position) to a user error, as
/// [`Engine::execute`] reports it.
pub fn with_statement(e: Error, stmt: &ParsedStatement) -> Error {
    match e {
        Error::User { message, location } => {
            let text = stmt.text.trim();
            Error::User {
                message: format!("{message}\nStatement: {text}"),
                location: location.or(Some(stmt.location)),
            }
        }
        other => other,
    }
}

async fn write_processing_log(
    broker: Arc<dyn Broker>,
    topic: String,
    mut rx: mpsc::UnboundedReceiver<LogEntry>,
) {
    let mut writer = None;
    while let Some(entry) = rx.recv().await {
        if writer.is_none() {
            let admin = broker.admin();
            if let Ok(None) = admin.describe_topic(&topic).await {
                if let Err(e) = admin.create_topic(&topic, 1, 1).await {
                    tracing::warn!("cannot create the processing log topic '{topic}': {e}");
                }
            }
            writer = broker.writer(&topic).ok();
        }
        let Some(w) = writer.as_mut() else { continue };
        let now = chrono::Utc::now().timestamp_millis();
        let json = entry.to_json(now);
        let batch = crate::runtime::io::OutBatch {
            keys: crate::format::Encoded {
                data: Vec::new(),
                offsets: vec![0, 0],
                nulls: vec![true],
            },
            values: crate::format::Encoded {
                data: json.into_bytes(),
                offsets: Vec::new(),
                nulls: vec![false],
            },
            timestamps: vec![now],
            headers: None,
            partition: None,
        };
        let mut batch = batch;
        batch.values.offsets = vec![0, batch.values.data.len()];
        if let Err(e) = w.write(&batch).await {
            tracing::warn!("cannot write the processing log: {e}");
        } else if let Err(e) = w.flush().await {
            tracing::warn!("cannot write the processing log: {e}");
        }
    }
}
