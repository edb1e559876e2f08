//! Statements that change the catalog or start queries.

use std::sync::Arc;

use arrow::array::{new_null_array, ArrayRef};
use arrow::datatypes::Schema;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::ExprSchemable;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::commands::Pin;
use super::outcome::{Outcome, PrintStream, PushStream};
use super::replay::pin_source;
use super::{Engine, RunningQuery};
use crate::catalog::{Column, ColumnNamespace, QueryInfo, QueryKind, Source};
use crate::config::Session;
use crate::error::{Error, Result};
use crate::format::{registry, Format, FormatSpec, Part};
use crate::plan::ddl::{self, FormatDefaults};
use crate::plan::join::JoinInputs;
use crate::plan::select::{plan_select, OutputColumn, PlannedSelect, Purpose, ROWTIME_OUT};
use crate::runtime::io::{OutBatch, ReaderSpec, StartFrom};
use crate::runtime::pipeline::{EncodeStage, Pipeline};
use crate::runtime::supervise::{run_supervised, SinkPlan, TaskPlan};
use crate::runtime::task::{QuerySink, QueryStatus, QueryTask};
use crate::sql::ast::{
    CreateAsSelect, CreateSource, Drop, InsertSelect, InsertValues, Print, Query, SourceKind,
    Terminate,
};
use crate::sql::properties::WithProperties;

impl Engine {
    fn format_defaults(&self, session: &Session) -> FormatDefaults {
        FormatDefaults {
            key: session
                .property(&self.config, "ksql.persistence.default.format.key")
                .map(str::to_string),
            value: session
                .property(&self.config, "ksql.persistence.default.format.value")
                .map(str::to_string),
            wrap_single_values: session
                .property(&self.config, "ksql.persistence.wrap.single.values")
                .and_then(|v| v.parse().ok()),
            output_topic_prefix: session
                .property(&self.config, "ksql.output.topic.name.prefix")
                .map(str::to_string),
            registry: self.config.schema_registry.clone(),
        }
    }

    pub(super) async fn create_source(
        &self,
        session: &Session,
        stmt: &CreateSource,
        sql: &str,
    ) -> Result<Outcome> {
        let props = WithProperties::from_properties(
            &stmt.properties,
            crate::sql::properties::CREATE_SOURCE_PROPERTIES,
        )?;
        let (source, topic) =
            ddl::plan_create_source(stmt, &props, sql, &self.format_defaults(session))?;
        let kind = source.kind_name();
        let pretty = if kind == "STREAM" { "Stream" } else { "Table" };
        if stmt.or_replace && stmt.is_source {
            return Err(Error::user(format!(
                "Cannot add {} '{}': CREATE OR REPLACE is not supported on source {}s.",
                kind.to_lowercase(),
                source.name,
                kind.to_lowercase()
            )));
        }
        {
            let state = self.state.lock().await;
            if let Some(existing) = state.catalog.source(&source.name) {
                if stmt.if_not_exists {
                    return Ok(Outcome::Message {
                        message: format!(
                            "Cannot add {} '{}': A {} with the same name already exists",
                            kind.to_lowercase(),
                            source.name,
                            existing.kind_name().to_lowercase()
                        ),
                    });
                }
                if !stmt.or_replace {
                    return Err(Error::user(format!(
                        "Cannot add {} '{}': A {} with the same name already exists",
                        kind.to_lowercase(),
                        source.name,
                        existing.kind_name().to_lowercase()
                    )));
                }
                if existing.is_source || stmt.is_source {
                    return Err(Error::user(format!(
                        "Cannot add {} '{}': CREATE OR REPLACE is not supported on source {}s.",
                        kind.to_lowercase(),
                        source.name,
                        kind.to_lowercase()
                    )));
                }
            }
        }
        // On replay the topic was checked when the statement first ran; a
        // topic deleted since leaves the source in place, as in ksqlDB.
        let partitions = if session.acts_outside_catalog() {
            Some(
                self.ensure_topic(&topic.name, topic.partitions, topic.replicas, None)
                    .await?,
            )
        } else {
            None
        };
        self.record(
            session,
            sql,
            None,
            Vec::new(),
            Pin {
                source: Some(pin_source(&source)),
                topics: partitions
                    .map(|p| (topic.name.clone(), p))
                    .into_iter()
                    .collect(),
                ..Pin::default()
            },
        )
        .await?;
        // A source table is materialized, so that pull queries can read it.
        let materialize =
            (source.is_source && source.kind == SourceKind::Table).then(|| source.name.clone());
        let mut state = self.state.lock().await;
        state.catalog.put_source(source);
        if let Some(name) = materialize {
            match self.materialize_source_table(&state.catalog, &name) {
                Ok((id, running)) => {
                    state.queries.insert(id, running);
                }
                Err(e) => tracing::warn!("source table {name} is not materialized: {e}"),
            }
        }
        drop(state);
        Ok(Outcome::Message {
            message: format!("{pretty} created"),
        })
    }

    /// Creates the topic when `partitions` is given and it is missing;
    /// otherwise a missing topic is an error.
    async fn ensure_topic(
        &self,
        name: &str,
        partitions: Option<i32>,
        replicas: i32,
        default_partitions: Option<i32>,
    ) -> Result<i32> {
        let admin = self.broker.admin();
        match admin.describe_topic(name).await? {
            Some(t) => {
                if let Some(p) = partitions {
                    if p != t.partitions {
                        return Err(Error::user(format!(
                            "A Kafka topic with the name '{name}' already exists, with different \
                             partition/replica configuration than required. KSQL expects {p} \
                             partitions (topic has {}).",
                            t.partitions
                        )));
                    }
                }
                Ok(t.partitions)
            }
            None => match partitions.or(default_partitions) {
                Some(p) => {
                    admin.create_topic(name, p, replicas).await?;
                    Ok(p)
                }
                None => Err(Error::user(format!(
                    "Topic '{name}' does not exist. Create it first, or give PARTITIONS in the \
                     WITH clause to have sluice create it."
                ))),
            },
        }
    }

    /// Creates the compacted changelog topic of a query with state, with
    /// as many partitions as its input topic, when missing; an existing one
    /// must have that many.
    async fn ensure_changelog(&self, topic: &str, input: &str) -> Result<()> {
        let admin = self.broker.admin();
        let partitions = admin
            .describe_topic(input)
            .await?
            .map(|t| t.partitions)
            .unwrap_or(1);
        match admin.describe_topic(topic).await? {
            None => admin.create_compacted_topic(topic, partitions, 1).await,
            Some(t) if t.partitions == partitions => Ok(()),
            Some(t) => Err(Error::external(format!(
                "the state changelog '{topic}' has {} partitions but the query's input '{input}' \
                 has {partitions}: each input partition needs its own changelog partition",
                t.partitions
            ))),
        }
    }

    /// The task settings of a query started in `session`: record caching
    /// is off (every update emitted) when `cache.max.bytes.buffering` is 0.
    /// Under exactly-once, the transactional id of a task reading `reader`:
    /// its consumer group and this server's instance id, the same across
    /// restarts of this server, so that a restarted task fences the one
    /// it replaces.
    fn transactional_id(&self, session: &Session, reader: &ReaderSpec) -> Option<String> {
        if !self.task_settings(session).exactly_once {
            return None;
        }
        let group = reader.group_id.as_deref()?;
        Some(format!("{group}-{}", self.config.instance_id))
    }

    /// Refuses `exactly_once_v2` where the broker cannot run transactions.
    pub(super) async fn check_guarantee(&self, session: &Session) -> Result<()> {
        if self.task_settings(session).exactly_once {
            self.broker.check_transactions().await?;
        }
        Ok(())
    }

    fn task_settings(&self, session: &Session) -> crate::runtime::task::TaskSettings {
        let mut settings = self.config.task;
        let cache = session
            .property(&self.config, "cache.max.bytes.buffering")
            .or_else(|| session.property(&self.config, "ksql.streams.cache.max.bytes.buffering"));
        if cache.is_some_and(|v| v.trim() == "0") {
            settings.emit_every_update = true;
        }
        let guarantee = session
            .property(&self.config, "processing.guarantee")
            .or_else(|| session.property(&self.config, "ksql.streams.processing.guarantee"));
        if guarantee.is_some_and(|g| g.trim().to_ascii_lowercase().starts_with("exactly_once")) {
            settings.exactly_once = true;
        }
        settings
    }

    pub(super) async fn create_as_select(
        &self,
        session: &Session,
        stmt: &CreateAsSelect,
        sql: &str,
    ) -> Result<Outcome> {
        self.check_guarantee(session).await?;
        let props = WithProperties::from_properties(
            &stmt.properties,
            crate::sql::properties::CREATE_AS_PROPERTIES,
        )?;
        // Validate and plan under the lock; broker I/O happens without it.
        let (replacing, query_id, planned, sink) = {
            let mut state = self.state.lock().await;
            let mut replacing: Option<Arc<Source>> = None;
            if let Some(existing) = state.catalog.source(&stmt.name) {
                if stmt.if_not_exists {
                    return Ok(Outcome::Message {
                        message: format!(
                            "Cannot add stream '{}': A {} with the same name already exists",
                            stmt.name,
                            existing.kind_name().to_lowercase()
                        ),
                    });
                }
                if !stmt.or_replace {
                    return Err(Error::user(format!(
                        "Cannot add stream '{}': A {} with the same name already exists",
                        stmt.name,
                        existing.kind_name().to_lowercase()
                    )));
                }
                if existing.created_by.is_none() {
                    return Err(Error::user(format!(
                        "Cannot upgrade data source: {} was not created by a query \
                         (CREATE OR REPLACE … AS SELECT replaces the query of a C*AS sink)",
                        stmt.name
                    )));
                }
                replacing = Some(Arc::clone(existing));
            }
            // An upgraded query keeps its id, so it keeps its consumer group
            // and resumes where the old one committed.
            let query_id = match (
                replacing.as_ref().and_then(|r| r.created_by.clone()),
                replayed_query_id(session, &mut state.catalog),
            ) {
                (_, Some(id)) | (Some(id), None) => id,
                (None, None) => state
                    .catalog
                    .next_query_id(QueryKind::CreateAs(stmt.kind, &stmt.name)),
            };
            let purpose = Purpose::Persistent {
                sink: stmt.name.clone(),
                timestamp: props
                    .timestamp
                    .clone()
                    .map(|column| crate::catalog::TimestampColumn {
                        column,
                        format: props.timestamp_format.clone(),
                    }),
                new_planner: new_planner(&self.config, session),
            };
            let planned = plan_select(
                &self.session_state,
                &state.catalog,
                &stmt.query,
                &purpose,
                &query_id,
            )?;
            let produces =
                if !stmt.query.group_by.is_empty() || planned.source.kind == SourceKind::Table {
                    SourceKind::Table
                } else {
                    SourceKind::Stream
                };
            if produces != stmt.kind {
                let (what, statement) = match produces {
                    SourceKind::Table => ("TABLE", "CREATE TABLE AS SELECT"),
                    SourceKind::Stream => ("STREAM", "CREATE STREAM AS SELECT"),
                };
                return Err(Error::user(format!(
                    "Invalid result type. Your SELECT query produces a {what}. Please use \
                     {statement} statement instead."
                )));
            }
            let sink = sink_source(
                stmt,
                &planned,
                &props,
                &self.format_defaults(session),
                sql,
                &query_id,
            )?;
            ddl::validate_formats(&sink)?;
            for c in sink.key_columns() {
                ddl::check_key_column(c)?;
            }
            if let Some(old) = &replacing {
                check_upgrade(old, &sink)?;
            }
            (replacing, query_id, planned, sink)
        };
        if let Some(pairs) = planned.join.as_ref().map(|j| j.co_partitioned.clone()) {
            self.check_co_partitioning(pairs).await?;
        }
        let source_partitions = self
            .broker
            .admin()
            .describe_topic(&planned.source.topic)
            .await?
            .map(|t| t.partitions);
        let sink_partitions = self
            .ensure_topic(
                &sink.topic,
                props.partitions.map(|p| p as i32),
                props.replicas.map(i32::from).unwrap_or(1),
                Some(source_partitions.unwrap_or(1)),
            )
            .await?;
        let pin = self.query_pin(&planned, &sink, &query_id, sink_partitions);
        if let (Some(old), Some(old_query)) = (&replacing, self.running_pin(&query_id).await) {
            if old_query.state != pin.state && old_query.state.is_some() {
                return Err(Error::user(format!(
                    "Cannot upgrade data source: {} (the query's aggregation state would change \
                     shape: its keys, window or aggregate functions; drop the table and create \
                     it again instead)",
                    old.name
                )));
            }
        }
        self.check_replay_pin(session, &pin)?;
        self.record(session, sql, Some(&query_id), Vec::new(), pin.clone())
            .await?;
        if replacing.is_some() {
            self.stop_query(&query_id).await;
        }
        let info = QueryInfo {
            id: query_id.clone(),
            sql: sql.to_string(),
            sources: query_sources(&planned),
            sink: sink.name.clone(),
            sink_topic: sink.topic.clone(),
        };
        let running = if session.replay.as_ref().is_some_and(|r| !r.start) {
            RunningQuery::not_started()
        } else {
            self.start_persistent(session, planned, &sink, &query_id)
                .await?
        };
        let running = running.with_pin(pin);
        let mut state = self.state.lock().await;
        state.catalog.put_source(sink);
        state.catalog.put_query(info);
        state.queries.insert(query_id.clone(), running);
        Ok(Outcome::QueryStarted {
            message: format!("Created query with ID {query_id}"),
            query_id,
        })
    }

    pub(super) async fn insert_select(
        &self,
        session: &Session,
        stmt: &InsertSelect,
        sql: &str,
    ) -> Result<Outcome> {
        self.check_guarantee(session).await?;
        let props = WithProperties::from_properties(
            &stmt.properties,
            crate::sql::properties::INSERT_INTO_PROPERTIES,
        )?;
        let mut state = self.state.lock().await;
        let target = Arc::clone(state.catalog.require_source(&stmt.target)?);
        if target.kind != SourceKind::Stream {
            return Err(Error::user(format!(
                "INSERT INTO can only be used to insert into a stream. {} is a table.",
                target.name
            )));
        }
        if target.is_source {
            return Err(Error::user(format!(
                "Cannot insert into read-only stream: {}",
                target.name
            )));
        }
        let query_id = match (
            &props.query_id,
            replayed_query_id(session, &mut state.catalog),
        ) {
            (_, Some(id)) => id,
            (Some(id), None) => id.to_uppercase(),
            (None, None) => state.catalog.next_query_id(QueryKind::Insert),
        };
        if state.catalog.query(&query_id).is_some() {
            return Err(Error::user(format!(
                "Query ID '{query_id}' already exists."
            )));
        }
        let purpose = Purpose::Persistent {
            sink: target.name.clone(),
            timestamp: target.timestamp.clone(),
            new_planner: new_planner(&self.config, session),
        };
        let planned = plan_select(
            &self.session_state,
            &state.catalog,
            &stmt.query,
            &purpose,
            &query_id,
        )?;
        if let Some(pairs) = planned.join.as_ref().map(|j| j.co_partitioned.clone()) {
            self.check_co_partitioning(pairs).await?;
        }
        let expected: Vec<(String, String, bool)> = target
            .columns
            .iter()
            .filter(|c| !matches!(c.namespace, ColumnNamespace::Header(_)))
            .map(|c| (c.name.clone(), c.sql_type.to_string(), c.is_key()))
            .collect();
        let got: Vec<(String, String, bool)> = planned
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.sql_type.to_string(), c.is_key))
            .collect();
        if expected != got {
            let show = |cols: &[(String, String, bool)]| {
                cols.iter()
                    .map(|(n, t, k)| format!("`{n}` {t}{}", if *k { " KEY" } else { "" }))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(Error::user(format!(
                "Incompatible schema between results and sink.\nResult schema is {}\nSink schema is {}",
                show(&got),
                show(&expected)
            )));
        }
        drop(state);
        let info = QueryInfo {
            id: query_id.clone(),
            sql: sql.to_string(),
            sources: query_sources(&planned),
            sink: target.name.clone(),
            sink_topic: target.topic.clone(),
        };
        let partitions = self
            .broker
            .admin()
            .describe_topic(&target.topic)
            .await?
            .map_or(0, |t| t.partitions);
        let pin = self.query_pin(&planned, &target, &query_id, partitions);
        self.check_replay_pin(session, &pin)?;
        self.record(session, sql, Some(&query_id), Vec::new(), pin.clone())
            .await?;
        let running = if session.replay.as_ref().is_some_and(|r| !r.start) {
            RunningQuery::not_started()
        } else {
            self.start_persistent(session, planned, &target, &query_id)
                .await?
        };
        let running = running.with_pin(pin);
        let mut state = self.state.lock().await;
        state.catalog.put_query(info);
        state.queries.insert(query_id.clone(), running);
        Ok(Outcome::QueryStarted {
            message: format!("Created query with ID {query_id}"),
            query_id,
        })
    }

    async fn start_persistent(
        &self,
        session: &Session,
        mut planned: PlannedSelect,
        sink: &Source,
        query_id: &str,
    ) -> Result<RunningQuery> {
        let cancel = CancellationToken::new();
        // A re-keying query runs as two tasks: the first writes the rows,
        // keyed by the new key, to the internal repartition topic; the
        // second (below) reads that topic.
        let mut upstream = Vec::new();
        let mut input_topic = planned.source.topic.clone();
        let mut input_group = self.config.query_group(query_id);
        let mut input_start = session.start_from(&self.config);
        let mut plan_prefix = Vec::new();
        let planned_late = planned.late_records.clone();
        let mut join = planned.join.take();
        // Where a key of the table lives: the partition its bytes hash to
        // in the repartition topic, which sluice writes with Kafka's
        // default partitioner. (A topic written by others may have been
        // partitioned otherwise: a lookup on such a table asks every
        // server that reads part of it.)
        let routable = sink.kind == SourceKind::Table && join.is_none() && planned.window.is_none();
        let mut key_route = None;
        if let Some(stage) = planned.repartition.take() {
            key_route = routable
                .then(|| super::cluster::KeyRoute::of(&stage.topic_source))
                .flatten();
            let topic = self.repartition_topic(query_id);
            let partitions = self
                .broker
                .admin()
                .describe_topic(&planned.source.topic)
                .await?
                .map(|t| t.partitions);
            self.ensure_topic(&topic, None, 1, Some(partitions.unwrap_or(1)))
                .await?;
            let encode = internal_encode(
                &stage.topic_source,
                &stage.key_columns,
                &stage.value_columns,
                stage.time_column,
            )?;
            let status = Arc::new(QueryStatus::default());
            let mut pipeline =
                Pipeline::new(query_id, stage.decode, stage.operators, stage.output_schema);
            let internal = self
                .start_join_stages(session, query_id, join.as_mut(), &cancel, &mut upstream)
                .await?;
            plan_prefix.extend(internal.1);
            let internal = internal.0;
            let stage_reader = join_reader(
                ReaderSpec {
                    topic: planned.source.topic.clone(),
                    group_id: Some(self.config.query_group(query_id)),
                    start: session.start_from(&self.config),
                    with_headers: false,
                    also: Vec::new(),
                },
                &planned.source,
                join.as_ref(),
                &internal,
            );
            attach_join(&mut pipeline, join.take());
            plan_prefix.extend(pipeline.describe());
            plan_prefix.push(format!(
                "Repartition: write topic {topic}, keyed by the GROUP BY"
            ));
            // A join before the re-keying keeps its state in a changelog.
            let changelog = self.changelog_topic(query_id, &pipeline.operators);
            let stage_state = self
                .state_of(
                    pipeline.fingerprint(None),
                    changelog,
                    &stage_reader.topic,
                    &mut plan_prefix,
                )
                .await?;
            let transactional_id = self.transactional_id(session, &stage_reader);
            let task = TaskPlan {
                broker: Arc::clone(&self.broker),
                reader: stage_reader,
                pipeline: std::sync::Mutex::new(pipeline),
                sink: SinkPlan {
                    topic: topic.clone(),
                    encode,
                    store: None,
                },
                log: self.log.clone(),
                settings: self.task_settings(session),
                status: Arc::clone(&status),
                state: stage_state,
                transactional_id,
            };
            upstream.push((tokio::spawn(run_supervised(task, cancel.clone())), status));
            // The aggregating task reads the whole internal topic, in its own
            // consumer group.
            input_group = format!("{input_group}-repartition");
            input_topic = topic;
            input_start = StartFrom::Earliest;
        }
        let key_columns: Vec<usize> = (0..planned.columns.len())
            .filter(|&i| planned.columns[i].is_key)
            .collect();
        let value_columns: Vec<usize> = (0..planned.columns.len())
            .filter(|&i| !planned.columns[i].is_key)
            .collect();
        let encode = EncodeStage {
            key_columns,
            value_columns,
            rowtime_column: planned.columns.len(),
            null_row_column: Some(planned.columns.len() + 1),
            headers_column: Some(planned.columns.len() + 2),
            key: {
                let key = registry::encoder(&sink.key_format, Part::Key, sink.key_schema())?;
                if planned.repartitioned {
                    key
                } else {
                    Arc::new(crate::format::NullWhenAllNull(key))
                }
            },
            value: registry::encoder(&sink.value_format, Part::Value, sink.value_schema())?,
            // A windowed result written to a plain sink (INSERT INTO) loses
            // its window.
            window: planned
                .window
                .filter(|_| sink.window.is_some())
                .map(|w| (w.window.key_layout(), w.start_column, w.end_column)),
        };
        let internal = self
            .start_join_stages(session, query_id, join.as_mut(), &cancel, &mut upstream)
            .await?;
        plan_prefix.extend(internal.1);
        let internal = internal.0;
        let reader = join_reader(
            ReaderSpec {
                topic: input_topic,
                group_id: Some(input_group),
                start: input_start,
                // Headers are copied to the records the query writes (the
                // re-keyed rows of a repartition topic carry none).
                with_headers: upstream.is_empty(),
                also: Vec::new(),
            },
            &planned.source,
            join.as_ref(),
            &internal,
        );
        // A TABLE sink is materialized for pull queries; a table whose
        // rows cannot be kept is simply not queryable.
        let materialized = match sink.kind {
            SourceKind::Table => super::pull::store_for(&sink.name, &planned)
                .inspect_err(|e| tracing::warn!("table {} is not materialized: {e}", sink.name))
                .ok(),
            SourceKind::Stream => None,
        };
        let mut pipeline = Pipeline::new(
            query_id,
            planned.decode,
            planned.operators,
            planned.output_schema,
        );
        attach_join(&mut pipeline, join);
        let mut plan = plan_prefix;
        plan.extend(pipeline.describe());
        pipeline.query_id = query_id.to_string();
        let status = Arc::new(QueryStatus::default());
        let _ = status.input_topic.set(reader.topic.clone());
        // A query with state runs a task per input partition, each backed
        // by its partition of the query's changelog topic.
        let changelog = self.changelog_topic(query_id, &pipeline.operators);
        let state = self
            .state_of(
                pipeline.fingerprint(materialized.as_ref().map(|m| m.layout())),
                changelog,
                &reader.topic,
                &mut plan,
            )
            .await?;
        let transactional_id = self.transactional_id(session, &reader);
        let task = TaskPlan {
            broker: Arc::clone(&self.broker),
            reader,
            pipeline: std::sync::Mutex::new(pipeline),
            sink: SinkPlan {
                topic: sink.topic.clone(),
                encode,
                store: materialized.clone(),
            },
            log: self.log.clone(),
            settings: self.task_settings(session),
            status: Arc::clone(&status),
            state,
            transactional_id,
        };
        let handle = tokio::spawn(run_supervised(task, cancel.clone()));
        let (firsts, upstream_status): (Vec<_>, Vec<_>) = upstream.into_iter().unzip();
        let handle = if firsts.is_empty() {
            handle
        } else {
            tokio::spawn(async move {
                let mut result = Ok(());
                for task in firsts.into_iter().chain(std::iter::once(handle)) {
                    let r = match task.await {
                        Ok(r) => r,
                        Err(e) => Err(Error::internal(format!("query task panicked: {e}"))),
                    };
                    if result.is_ok() {
                        result = r;
                    }
                }
                result
            })
        };
        Ok(RunningQuery {
            cancel,
            handle: Some(handle),
            status,
            upstream: upstream_status,
            late_records: planned_late,
            plan,
            materialized,
            pin: None,
            key_route,
        })
    }

    pub(super) async fn push_query(
        &self,
        session: &Session,
        query: &Query,
        text: &str,
    ) -> Result<Outcome> {
        if query.emit.is_none() {
            return self.pull_query(session, query, text).await;
        }
        let mut state = self.state.lock().await;
        state.transient += 1;
        let id = format!("transient_{}_{}", query.from.name, state.transient);
        let planned = plan_select(
            &self.session_state,
            &state.catalog,
            query,
            &Purpose::Push,
            &id,
        )?;
        drop(state);
        if let Some(pairs) = planned.join.as_ref().map(|j| j.co_partitioned.clone()) {
            self.check_co_partitioning(pairs).await?;
        }
        let mut planned = planned;
        let join = planned.join.take();
        let start = session.start_from(&self.config);
        if join.is_none() && start == StartFrom::Latest {
            return self.push_from_feed(session, id, planned).await;
        }
        let reader = self.broker.reader(&join_reader(
            ReaderSpec {
                topic: planned.source.topic.clone(),
                group_id: None,
                start,
                with_headers: has_headers(&planned.source),
                also: Vec::new(),
            },
            &planned.source,
            join.as_ref(),
            &[],
        ))?;
        let (tx, rx) = mpsc::channel(16);
        let columns = planned.columns.clone();
        let limit = planned.limit;
        let mut pipeline = Pipeline::new(
            &id.clone(),
            planned.decode,
            planned.operators,
            planned.output_schema,
        );
        attach_join(&mut pipeline, join);
        let task = QueryTask {
            txn: None,
            reader,
            pipeline,
            sink: QuerySink::Channel {
                sender: tx,
                remaining: limit,
            },
            log: self.log.clone(),
            settings: self.task_settings(session),
            status: Arc::new(QueryStatus::default()),
            state: None,
        };
        let cancel = CancellationToken::new();
        let done = tokio::spawn(task.run(cancel.clone()));
        Ok(Outcome::Push(PushStream {
            id,
            columns,
            rows: rx,
            cancel,
            limit,
            done,
        }))
    }

    /// A push query from the end of one source: a subscriber of the
    /// source's shared feed ([`crate::runtime::feed`]), not a reader of
    /// its own.
    async fn push_from_feed(
        &self,
        session: &Session,
        id: String,
        planned: PlannedSelect,
    ) -> Result<Outcome> {
        let subscription = self
            .feeds
            .subscribe(
                &planned.source,
                has_headers(&planned.source),
                &planned.decode,
            )
            .await?;
        let (tx, rx) = mpsc::channel(16);
        let columns = planned.columns.clone();
        let limit = planned.limit;
        let pipeline = Pipeline::new(
            &id,
            planned.decode,
            planned.operators,
            planned.output_schema,
        );
        let cancel = CancellationToken::new();
        let done = tokio::spawn(subscription.run(
            pipeline,
            QuerySink::Channel {
                sender: tx,
                remaining: limit,
            },
            self.task_settings(session),
            self.log.clone(),
            cancel.clone(),
        ));
        Ok(Outcome::Push(PushStream {
            id,
            columns,
            rows: rx,
            cancel,
            limit,
            done,
        }))
    }

    pub(super) async fn insert_values(&self, stmt: &InsertValues) -> Result<Outcome> {
        let source = {
            let state = self.state.lock().await;
            Arc::clone(state.catalog.require_source(&stmt.target)?)
        };
        if source.is_source {
            return Err(Error::user(format!(
                "Cannot insert values into read-only {}: {}",
                source.kind_name().to_lowercase(),
                source.name
            )));
        }
        let writable: Vec<&Column> = source
            .columns
            .iter()
            .filter(|c| !matches!(c.namespace, ColumnNamespace::Header(_)))
            .collect();
        let names: Vec<String> = match &stmt.columns {
            Some(cols) => cols.clone(),
            None => writable.iter().map(|c| c.name.clone()).collect(),
        };
        if names.len() != stmt.values.len() {
            return Err(Error::user(format!(
                "Expected a value for each column. Expected Columns: [{}]. Got {} values",
                names.join(", "),
                stmt.values.len()
            )));
        }
        let empty = DFSchema::empty();
        let mut rowtime: Option<i64> = None;
        let mut values: Vec<Option<ScalarValue>> = vec![None; writable.len()];
        for (name, expr) in names.iter().zip(&stmt.values) {
            let planned = crate::plan::expr::to_datafusion(&self.session_state, expr, &empty)?;
            let physical = self
                .session_state
                .create_physical_expr(planned.clone(), &empty)?;
            let one = arrow::record_batch::RecordBatch::try_new_with_options(
                Arc::new(Schema::empty()),
                vec![],
                &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(1)),
            )?;
            let value = physical.evaluate(&one)?.into_array(1)?;
            if name == "ROWTIME" {
                let v = arrow::compute::cast(&value, &arrow::datatypes::DataType::Int64)?;
                rowtime = ScalarValue::try_from_array(&v, 0)?.try_into().ok();
                continue;
            }
            let idx = writable
                .iter()
                .position(|c| &c.name == name)
                .ok_or_else(|| {
                    Error::user(format!(
                        "Column name {name} does not exist in {}.",
                        source.name
                    ))
                })?;
            let target_type = writable[idx].sql_type.to_arrow();
            let cast = arrow::compute::cast(&value, &target_type).map_err(|e| {
                Error::user(format!(
                    "Failed to insert values into '{}'. Expected type {} for column {name} but got {} ({e})",
                    source.name,
                    writable[idx].sql_type,
                    planned.get_type(&empty).map(|t| t.to_string()).unwrap_or_default()
                ))
            })?;
            values[idx] = Some(ScalarValue::try_from_array(&cast, 0)?);
        }
        let column = |c: &Column, v: &Option<ScalarValue>| -> Result<ArrayRef> {
            Ok(match v {
                Some(v) => v.to_array()?,
                None => new_null_array(&c.sql_type.to_arrow(), 1),
            })
        };
        let mut keys = Vec::new();
        let mut vals = Vec::new();
        for (c, v) in writable.iter().zip(&values) {
            if c.is_key() {
                keys.push(column(c, v)?);
            } else {
                vals.push(column(c, v)?);
            }
        }
        let key_payload = if keys.is_empty() {
            crate::format::Encoded {
                data: vec![],
                offsets: vec![0, 0],
                nulls: vec![true],
            }
        } else {
            registry::encoder(&source.key_format, Part::Key, source.key_schema())?.encode(&keys)?
        };
        let value_payload =
            registry::encoder(&source.value_format, Part::Value, source.value_schema())?
                .encode(&vals)?;
        let ts = rowtime.unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
        // One producer per topic serves every INSERT VALUES: a new one per
        // statement would connect and read metadata each time.
        let shared = {
            let mut writers = self.insert_writers.lock().await;
            match writers.get(&source.topic) {
                Some(w) => Arc::clone(w),
                None => {
                    let w = Arc::new(tokio::sync::Mutex::new(self.broker.writer(&source.topic)?));
                    writers.insert(source.topic.clone(), Arc::clone(&w));
                    w
                }
            }
        };
        let mut writer = shared.lock().await;
        let written = async {
            writer
                .write(&OutBatch {
                    keys: key_payload,
                    values: value_payload,
                    timestamps: vec![ts],
                    headers: None,
                    partition: None,
                })
                .await?;
            writer.flush().await
        }
        .await;
        if written.is_err() {
            // A writer that failed is not kept: the next statement gets a
            // new one.
            let mut writers = self.insert_writers.lock().await;
            if writers
                .get(&source.topic)
                .is_some_and(|w| Arc::ptr_eq(w, &shared))
            {
                writers.remove(&source.topic);
            }
        }
        written?;
        Ok(Outcome::Message {
            message: String::new(),
        })
    }

    /// Deletes a stopped query's internal topics (repartition, changelog),
    /// as ksqlDB does when a query is terminated.
    async fn delete_internal_topics(&self, query_id: &str) -> Result<()> {
        let prefix = format!("{}-", self.config.query_group(query_id));
        let admin = self.broker.admin();
        for topic in admin.list_topics().await? {
            if topic.name.starts_with(&prefix) {
                // Best effort: the query is gone either way (the embedded
                // broker, for one, cannot delete topics).
                if let Err(e) = admin.delete_topic(&topic.name).await {
                    tracing::warn!(topic = %topic.name, "internal topic kept: {e}");
                }
            }
        }
        Ok(())
    }

    pub(super) async fn terminate(
        &self,
        session: &Session,
        t: &Terminate,
        sql: &str,
    ) -> Result<Outcome> {
        let ids: Vec<String> = {
            let state = self.state.lock().await;
            match t {
                Terminate::All => state.queries.keys().cloned().collect(),
                Terminate::Query(id) => {
                    let upper = id.to_uppercase();
                    let found = [id.clone(), upper]
                        .into_iter()
                        .find(|i| state.queries.contains_key(i));
                    match found {
                        Some(i) => vec![i],
                        None => {
                            return Err(Error::user(format!("Unknown queryId: {id}")));
                        }
                    }
                }
            }
        };
        self.record(session, sql, None, ids.clone(), Pin::default())
            .await?;
        for id in &ids {
            self.stop_query(id).await;
            self.state.lock().await.catalog.remove_query(id);
        }
        // On replay the topics went with the original statement.
        if session.acts_outside_catalog() {
            for id in &ids {
                self.delete_internal_topics(id).await?;
            }
        }
        Ok(Outcome::Message {
            message: match t {
                Terminate::All => "All queries terminated.".to_string(),
                Terminate::Query(_) => "Query terminated.".to_string(),
            },
        })
    }

    pub(super) async fn drop_source(
        &self,
        session: &Session,
        d: &Drop,
        sql: &str,
    ) -> Result<Outcome> {
        let kind = match d.kind {
            SourceKind::Stream => "Stream",
            SourceKind::Table => "Table",
        };
        let source = {
            let state = self.state.lock().await;
            let Some(source) = state.catalog.source(&d.name).cloned() else {
                if d.if_exists {
                    return Ok(Outcome::Message {
                        message: format!("Source `{}` does not exist.", d.name),
                    });
                }
                return Err(Error::user(format!("{kind} {} does not exist.", d.name)));
            };
            if source.kind != d.kind {
                return Err(Error::user(format!(
                    "Incompatible data source type is {}, but statement was DROP {}",
                    source.kind_name(),
                    kind.to_uppercase()
                )));
            }
            if d.delete_topic && source.is_source {
                return Err(Error::user(format!(
                    "Cannot delete topic for read-only source: {}",
                    d.name
                )));
            }
            let readers = state.catalog.queries_reading(&d.name);
            let writers: Vec<String> = state
                .catalog
                .queries_writing(&d.name)
                .into_iter()
                .filter(|q| Some(q) != source.created_by.as_ref())
                .collect();
            if !readers.is_empty() || !writers.is_empty() {
                let mut all = readers;
                all.extend(writers);
                return Err(Error::user(format!(
                    "Cannot drop {}.\nThe following queries read from this source: [{}].\n\
                     You need to terminate them before dropping {}.",
                    d.name,
                    all.join(", "),
                    d.name
                )));
            }
            source
        };
        let terminates: Vec<String> = source.created_by.iter().cloned().collect();
        self.record(session, sql, None, terminates, Pin::default())
            .await?;
        if let Some(q) = &source.created_by {
            self.stop_query(q).await;
            self.state.lock().await.catalog.remove_query(q);
        }
        if source.is_source {
            self.stop_query(&super::pull::source_table_query_id(&d.name))
                .await;
        }
        self.state.lock().await.catalog.remove_source(&d.name);
        if session.acts_outside_catalog() {
            if let Some(q) = &source.created_by {
                self.delete_internal_topics(q).await?;
            }
            if d.delete_topic {
                self.broker.admin().delete_topic(&source.topic).await?;
            }
        }
        Ok(Outcome::Message {
            message: format!("Source `{}` (topic: {}) was dropped.", d.name, source.topic),
        })
    }

    pub(super) async fn print(&self, _session: &Session, p: &Print) -> Result<Outcome> {
        let admin = self.broker.admin();
        let topic = if admin.describe_topic(&p.topic).await?.is_some() {
            p.topic.clone()
        } else if admin
            .describe_topic(&p.topic.to_uppercase())
            .await?
            .is_some()
        {
            p.topic.to_uppercase()
        } else {
            return Err(Error::user(format!(
                "Could not find topic '{}', or the KSQL user does not have permissions to list \
                 the topic. Topic names are case-sensitive.",
                p.topic
            )));
        };
        let mut reader = self.broker.reader(&ReaderSpec {
            topic: topic.clone(),
            group_id: None,
            start: if p.from_beginning {
                StartFrom::Earliest
            } else {
                StartFrom::Latest
            },
            with_headers: true,
            also: Vec::new(),
        })?;
        let (tx, rx) = mpsc::channel(64);
        let cancel = CancellationToken::new();
        let token = cancel.clone();
        let interval = p.interval.unwrap_or(1).max(1);
        let limit = p.limit;
        tokio::spawn(async move {
            let mut seen = 0u64;
            let mut printed = 0u64;
            loop {
                let batch = tokio::select! {
                    _ = token.cancelled() => break,
                    b = reader.poll(500, std::time::Duration::from_millis(100)) => b,
                };
                let Ok(batch) = batch else { break };
                for i in 0..batch.len() {
                    seen += 1;
                    if !(seen - 1).is_multiple_of(interval) {
                        continue;
                    }
                    let line = crate::engine::listing::print_line(&batch, i);
                    if tx.send(line).await.is_err() {
                        return;
                    }
                    printed += 1;
                    if limit.is_some_and(|l| printed >= l) {
                        return;
                    }
                }
                if tx.is_closed() {
                    return;
                }
            }
        });
        Ok(Outcome::Print(PrintStream {
            topic,
            lines: rx,
            cancel,
        }))
    }
}

/// ksqlDB's rule for `CREATE OR REPLACE … AS SELECT`: the key, the topic
/// and the formats stay; existing value columns stay as they are, new ones
/// may only be appended.
fn check_upgrade(old: &Source, new: &Source) -> Result<()> {
    let fail = |why: String| {
        Err(Error::user(format!(
            "Cannot upgrade data source: {} ({why})",
            old.name
        )))
    };
    if old.kind != new.kind {
        return fail(format!("it is a {}", old.kind_name()));
    }
    if old.topic != new.topic {
        return fail(format!(
            "topic '{}' cannot change to '{}'",
            old.topic, new.topic
        ));
    }
    if old.key_format != new.key_format || old.value_format != new.value_format {
        return fail("formats cannot change".to_string());
    }
    let keys = |s: &Source| s.key_columns().cloned().collect::<Vec<_>>();
    if keys(old) != keys(new) {
        return fail("key columns cannot change".to_string());
    }
    let old_values: Vec<&Column> = old.value_columns().collect();
    let new_values: Vec<&Column> = new.value_columns().collect();
    for (i, c) in old_values.iter().enumerate() {
        match new_values.get(i) {
            Some(n) if n.name == c.name && n.sql_type == c.sql_type => {}
            _ => {
                return fail(format!(
                    "value column `{}` {} must stay in place; new columns may only be added \
                     at the end",
                    c.name, c.sql_type
                ))
            }
        }
    }
    Ok(())
}

/// On replay, the query id the command gave its query (noted by the
/// catalog, so that new ids come after it).
fn replayed_query_id(session: &Session, catalog: &mut crate::catalog::Catalog) -> Option<String> {
    let id = session.replay.as_ref()?.query_id.clone()?;
    catalog.observe_query_id(&id);
    Some(id)
}

/// `ksql.new.query.planner.enabled`, off by default as in ksqlDB.
fn new_planner(config: &crate::config::Config, session: &Session) -> bool {
    session
        .property(config, "ksql.new.query.planner.enabled")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn has_headers(source: &Source) -> bool {
    source
        .columns
        .iter()
        .any(|c| matches!(c.namespace, ColumnNamespace::Header(_)))
}

/// The sink of a C*AS: its columns from the query, formats from the WITH
/// clause or the source.
fn sink_source(
    stmt: &CreateAsSelect,
    planned: &PlannedSelect,
    props: &WithProperties,
    defaults: &FormatDefaults,
    sql: &str,
    query_id: &str,
) -> Result<Source> {
    let (name, kind, query) = (&stmt.name, stmt.kind, &stmt.query);
    let input = &planned.source;
    let partition_by_null = matches!(query.partition_by.as_slice(),
        [datafusion::sql::sqlparser::ast::Expr::Value(v)]
            if matches!(v.value, datafusion::sql::sqlparser::ast::Value::Null));
    let has_key = planned.columns.iter().any(|c| c.is_key);
    if !has_key
        && props
            .key_format
            .as_deref()
            .is_some_and(|f| !f.eq_ignore_ascii_case("NONE"))
    {
        return Err(Error::user(
            "Key format specified for stream without key columns.",
        ));
    }
    let key_name = props.key_format.clone().or_else(|| props.format.clone());
    let value_name = props.value_format.clone().or_else(|| props.format.clone());
    let mut key_format = match key_name {
        Some(n) => FormatSpec::new(Format::parse(&n)?),
        None if partition_by_null || !has_key => FormatSpec::new(Format::None),
        // A keyless source gets a key: in the default key format.
        None if input.key_format.format == Format::None => {
            FormatSpec::new(Format::parse(defaults.key.as_deref().unwrap_or("KAFKA"))?)
        }
        None => FormatSpec {
            wrap_single_value: None,
            ..input.key_format.clone()
        },
    };
    if props.key_delimiter.is_some() {
        key_format.delimiter = props.key_delimiter;
    }
    let mut value_format = match value_name {
        Some(n) => FormatSpec::new(Format::parse(&n)?),
        None => FormatSpec {
            wrap_single_value: None,
            ..input.value_format.clone()
        },
    };
    if props.value_delimiter.is_some() {
        value_format.delimiter = props.value_delimiter;
    }
    let single_value = planned.columns.iter().filter(|c| !c.is_key).count() == 1;
    value_format.wrap_single_value = props
        .wrap_single_value
        .or(defaults.wrap_single_values.filter(|_| single_value));
    let columns = planned
        .columns
        .iter()
        .map(|c: &OutputColumn| Column {
            name: c.name.clone(),
            sql_type: c.sql_type.clone(),
            namespace: if c.is_key {
                ColumnNamespace::Key
            } else {
                ColumnNamespace::Value
            },
        })
        .collect();
    let _ = ROWTIME_OUT;
    let mut sink = Source {
        name: name.to_string(),
        kind,
        columns,
        topic: props.kafka_topic.clone().unwrap_or_else(|| {
            format!(
                "{}{name}",
                defaults.output_topic_prefix.as_deref().unwrap_or_default()
            )
        }),
        key_format,
        value_format,
        timestamp: props
            .timestamp
            .clone()
            .map(|c| crate::catalog::TimestampColumn {
                column: c,
                format: props.timestamp_format.clone(),
            }),
        is_source: false,
        sql: sql.to_string(),
        created_by: Some(query_id.to_string()),
        window: planned.window.map(|w| w.window),
    };
    crate::plan::ddl::bind_registry(&mut sink, props, defaults.registry.as_ref())?;
    crate::plan::ddl::check_pinned_schema(&sink)?;
    Ok(sink)
}

/// The names of the sources a planned query reads.
fn query_sources(planned: &PlannedSelect) -> Vec<String> {
    let mut names = vec![planned.source.name.clone()];
    if let Some(join) = &planned.join {
        names.extend(join.all_sources.iter().map(|s| s.name.clone()));
    }
    names
}

/// The reader of a query's first stage: for a join, every input's topic
/// too (a re-keyed input's internal topic, from its beginning, for the
/// inputs in `internal`); a table input is always read from its beginning,
/// as ksqlDB does.
fn join_reader(
    spec: ReaderSpec,
    first: &Source,
    join: Option<&JoinInputs>,
    internal: &[(usize, String)],
) -> ReaderSpec {
    match join {
        None => spec,
        Some(join) => inputs_reader(spec, first, &join.sources, internal),
    }
}

/// The reader of a join stage: `first` as input 0, `more` after it, the
/// inputs in `internal` reading those internal topics instead.
fn inputs_reader(
    mut spec: ReaderSpec,
    first: &Source,
    more: &[Arc<Source>],
    internal: &[(usize, String)],
) -> ReaderSpec {
    let start = |s: &Source, default: StartFrom| match s.kind {
        SourceKind::Table => StartFrom::Earliest,
        SourceKind::Stream => default,
    };
    let default = spec.start;
    spec.start = start(first, default);
    spec.also = more
        .iter()
        .map(|s| (s.topic.clone(), start(s, default)))
        .collect();
    for (input, topic) in internal {
        match input {
            0 => {
                spec.topic = topic.clone();
                spec.start = StartFrom::Earliest;
            }
            i => {
                if let Some(slot) = spec.also.get_mut(i - 1) {
                    *slot = (topic.clone(), StartFrom::Earliest);
                }
            }
        }
    }
    spec.with_headers = spec.with_headers || more.iter().any(|s| has_headers(s));
    spec
}

/// How a stage writes an internal (repartition) topic: the given columns
/// as key and value, in the topic's formats, the event time as the record
/// timestamp.
fn internal_encode(
    topic: &Source,
    key_columns: &[usize],
    value_columns: &[usize],
    time_column: usize,
) -> Result<EncodeStage> {
    Ok(EncodeStage {
        key_columns: key_columns.to_vec(),
        value_columns: value_columns.to_vec(),
        rowtime_column: time_column,
        null_row_column: None,
        headers_column: None,
        key: registry::encoder(&topic.key_format, Part::Key, topic.key_schema())?,
        value: registry::encoder(&topic.value_format, Part::Value, topic.value_schema())?,
        window: None,
    })
}

/// Gives a pipeline the other inputs of its join.
fn attach_join(pipeline: &mut Pipeline, join: Option<JoinInputs>) {
    if let Some(join) = join {
        pipeline.sides = join.sides;
        pipeline.single_task = join.single_task;
        pipeline.check_partitioning = join.check_partitioning;
    }
}

impl Engine {
    /// Starts the stages of a join that write its internal topics (see
    /// `start_join_repartitions`), adding their tasks to `upstream`; returns
    /// the internal topic each input of the join's last stage reads, and
    /// lines for EXPLAIN.
    #[allow(clippy::type_complexity)]
    async fn start_join_stages(
        &self,
        session: &Session,
        query_id: &str,
        join: Option<&mut JoinInputs>,
        cancel: &CancellationToken,
        upstream: &mut Vec<(tokio::task::JoinHandle<Result<()>>, Arc<QueryStatus>)>,
    ) -> Result<(Vec<(usize, String)>, Vec<String>)> {
        let Some(join) = join else {
            return Ok((Vec::new(), Vec::new()));
        };
        let stages = std::mem::take(&mut join.repartitions);
        let (tasks, lines) = self
            .start_join_repartitions(session, query_id, stages, cancel)
            .await?;
        upstream.extend(tasks);
        Ok((self.internal_topics(query_id, &join.internal_inputs), lines))
    }

    /// Where a pipeline with state (`fingerprint` of its layout) keeps it:
    /// its changelog topic, created with its input's partitions when
    /// missing, with a line for EXPLAIN; `None` for a pipeline without
    /// state.
    async fn state_of(
        &self,
        fingerprint: Option<u64>,
        changelog: String,
        input_topic: &str,
        plan: &mut Vec<String>,
    ) -> Result<Option<(String, u64)>> {
        let Some(fingerprint) = fingerprint else {
            return Ok(None);
        };
        self.ensure_changelog(&changelog, input_topic).await?;
        plan.push(format!(
            "State: per input partition, in changelog topic {changelog}"
        ));
        Ok(Some((changelog, fingerprint)))
    }

    /// The full names of a join's internal topics, by input.
    fn internal_topics(&self, query_id: &str, inputs: &[(usize, String)]) -> Vec<(usize, String)> {
        let group = self.config.query_group(query_id);
        inputs
            .iter()
            .map(|(i, name)| (*i, format!("{group}-{name}")))
            .collect()
    }

    /// Starts the stages of a join that write internal topics: a re-keyed
    /// input's (read the source, write the rows keyed by their join key)
    /// and an intermediate result's (joins up to a later join whose left
    /// expression is not the key, written keyed by that expression). Each
    /// stage with joins keeps its state in its own changelog. Returns the
    /// tasks and lines for EXPLAIN.
    #[allow(clippy::type_complexity)]
    async fn start_join_repartitions(
        &self,
        session: &Session,
        query_id: &str,
        repartitions: Vec<crate::plan::join::SideRepartition>,
        cancel: &CancellationToken,
    ) -> Result<(
        Vec<(tokio::task::JoinHandle<Result<()>>, Arc<QueryStatus>)>,
        Vec<String>,
    )> {
        let mut tasks = Vec::new();
        let mut lines = Vec::new();
        let group = self.config.query_group(query_id);
        for rep in repartitions {
            let topic = format!("{group}-{}", rep.name);
            let partitions = self
                .broker
                .admin()
                .describe_topic(&rep.partitions_of)
                .await?
                .map_or(1, |t| t.partitions);
            self.ensure_topic(&topic, None, 1, Some(partitions)).await?;
            let encode = internal_encode(
                &rep.topic_source,
                &rep.key_columns,
                &rep.value_columns,
                rep.time_column,
            )?;
            let internal = self.internal_topics(query_id, &rep.internal_inputs);
            let reader = inputs_reader(
                ReaderSpec {
                    topic: rep.source.topic.clone(),
                    group_id: Some(group.clone()),
                    start: session.start_from(&self.config),
                    with_headers: true,
                    also: Vec::new(),
                },
                &rep.source,
                &rep.more_sources,
                &internal,
            );
            let mut pipeline =
                Pipeline::new(query_id, rep.decode, rep.operators, rep.output_schema);
            let joins = !rep.sides.is_empty();
            pipeline.sides = rep.sides;
            pipeline.single_task = rep.single_task;
            pipeline.check_partitioning = joins && !rep.single_task;
            let mut described = pipeline.describe();
            described.push(format!(
                "Repartition: write topic {topic}, keyed by the join expression"
            ));
            // A stage with joins keeps their state in its own changelog.
            let changelog = format!("{}-changelog", topic.trim_end_matches("-repartition"));
            let state = self
                .state_of(
                    pipeline.fingerprint(None),
                    changelog,
                    &reader.topic,
                    &mut described,
                )
                .await?;
            lines.extend(described);
            let status = Arc::new(QueryStatus::default());
            let transactional_id = self.transactional_id(session, &reader);
            let task = TaskPlan {
                broker: Arc::clone(&self.broker),
                reader,
                pipeline: std::sync::Mutex::new(pipeline),
                sink: SinkPlan {
                    topic: topic.clone(),
                    encode,
                    store: None,
                },
                log: self.log.clone(),
                settings: self.task_settings(session),
                status: Arc::clone(&status),
                state,
                transactional_id,
            };
            tasks.push((tokio::spawn(run_supervised(task, cancel.clone())), status));
        }
        Ok((tasks, lines))
    }

    /// Refuses a join whose co-partitioned sides have different partition
    /// counts, with ksqlDB's message.
    pub(super) async fn check_co_partitioning(
        &self,
        pairs: Vec<crate::plan::join::CoPartition>,
    ) -> Result<()> {
        let admin = self.broker.admin();
        for pair in &pairs {
            let left = admin.describe_topic(&pair.left_topic).await?;
            let right = admin.describe_topic(&pair.right_topic).await?;
            if let (Some(l), Some(r)) = (left, right) {
                if l.partitions != r.partitions {
                    return Err(Error::user(format!(
                        "Can't join `{}` with `{}` since the number of partitions don't match. \
                         `{}` partitions = {}; `{}` partitions = {}. Please repartition either \
                         one so that the number of partitions match.",
                        pair.left_name,
                        pair.right_name,
                        pair.left_name,
                        l.partitions,
                        pair.right_name,
                        r.partitions
                    )));
                }
            }
        }
        Ok(())
    }
}
