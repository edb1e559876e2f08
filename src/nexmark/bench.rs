//! `sluice bench nexmark`: pre-loads N Nexmark events, then measures, in
//! one process run and for each query and run:
//!
//! 1. **sluice**: the persistent query (`CREATE STREAM … AS SELECT`)
//!    reading the bid topic and writing an output topic, from its creation
//!    until every bid is read and everything derived from it is written and
//!    committed;
//! 2. **the rdkafka ceiling** (through a broker): a hand-written
//!    consume → produce copy of the same topic;
//! 3. **the ports copy**: the same copy through sluice's I/O ports;
//! 4. **the compute baseline**: DataFusion running the same query in batch
//!    mode over the same decoded batches (with decode and encode measured
//!    alone beside it; an aggregation also with sluice's aggregate
//!    functions in DataFusion).
//!
//! Every run's output is checked against DataFusion's ([`super::check`]):
//! a stateless query by its row count, an aggregation (`CREATE TABLE … AS
//! … GROUP BY`) by the latest row of every group, read back from its
//! output topic.
//!
//! Throughput is bids per second of process CPU time (all threads; with
//! the embedded broker that includes the broker's thread, for sluice and
//! the ceiling alike, and it is also shown without it).

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::baseline::{self, Aggregates, ComputeUsage};
use super::check::{self, GroupCheck};
use super::generator::{EventKind, Generator, GeneratorConfig};
use super::load::{self, LoadOptions, LoadReport, TopicLayout, TopicPlan};
use super::measure::Usage;
use super::queries::{self, NexmarkQuery, Output, Support};
use super::report;
use crate::config::{Config, Session};
use crate::engine::{Engine, Outcome};
use crate::error::{Error, Result};
use crate::kafka::KafkaBroker;
use crate::runtime::io::{Broker, RawBatch, StartFrom};
use crate::runtime::memory::MemoryBroker;
use crate::runtime::task::{QueryStatus, TaskSettings};

/// Where the bench reads from.
#[derive(Clone)]
pub enum BenchSource {
    /// A Kafka broker (the embedded one or a real cluster).
    Broker(Arc<KafkaBroker>),
    /// The in-memory log: the engine's cost alone.
    Memory,
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Query names (`q0`, …) or `all`.
    pub queries: Vec<String>,
    /// Events to pre-load (all kinds; 46 in 50 are bids).
    pub events: u64,
    /// Partitions of the topics; `None` = enough for the embedded broker's
    /// retention (one in memory).
    pub partitions: Option<i32>,
    /// Runs per phase; medians are reported.
    pub runs: usize,
    /// Records per batch (the engine's `max_batch`); `None` = its default.
    pub batch_size: Option<usize>,
    /// The generator.
    pub generator: GeneratorConfig,
}

/// The median run of one phase.
#[derive(Debug, Clone)]
pub struct PhaseFigures {
    /// What ran.
    pub name: String,
    /// Records it processed.
    pub records: u64,
    /// What the median run (by CPU time) cost.
    pub usage: Usage,
}

/// The figures of one query.
#[derive(Debug, Clone)]
pub struct QueryFigures {
    /// `q0`, …
    pub name: &'static str,
    /// What the query does.
    pub title: &'static str,
    /// The statement sluice ran.
    pub statement: String,
    /// sluice's persistent query.
    pub sluice: PhaseFigures,
    /// Rows sluice wrote.
    pub sluice_rows_out: u64,
    /// The rdkafka ceiling (through a broker only).
    pub ceiling: Option<PhaseFigures>,
    /// The copy through sluice's I/O ports.
    pub ports: PhaseFigures,
    /// DataFusion over the decoded batches.
    pub compute: PhaseFigures,
    /// An aggregation: DataFusion again, with sluice's aggregate functions.
    pub compute_sluice_aggregates: Option<PhaseFigures>,
    /// sluice's JSON decoder alone.
    pub decode: PhaseFigures,
    /// sluice's JSON encoder alone over DataFusion's output.
    pub encode: PhaseFigures,
    /// Rows DataFusion returned.
    pub compute_rows_out: u64,
    /// An aggregation: sluice's latest row per group against DataFusion's
    /// rows (the last run's check, or the first that found a difference).
    pub groups: Option<GroupCheck>,
}

impl QueryFigures {
    /// What sluice got wrong, if anything: a different row count for a
    /// stateless query, a different group or value for an aggregation.
    pub fn mismatch(&self) -> Option<String> {
        match &self.groups {
            Some(g) => g.mismatch.clone(),
            None => (self.sluice_rows_out != self.compute_rows_out).then(|| {
                format!(
                    "sluice wrote {} rows but DataFusion returned {} for the same query",
                    self.sluice_rows_out, self.compute_rows_out
                )
            }),
        }
    }
}

/// Everything one bench run measured.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// The pre-load.
    pub load: LoadReport,
    /// Measured queries.
    pub queries: Vec<QueryFigures>,
    /// Queries sluice cannot run yet: name and what it needs.
    pub unsupported: Vec<(&'static str, &'static str)>,
}

/// Runs the benchmark, printing figures to `out` as they come.
pub async fn run(
    opts: &BenchOptions,
    source: BenchSource,
    out: &mut dyn Write,
) -> Result<BenchReport> {
    let (runnable, unsupported) = select_queries(&opts.queries)?;
    let io = |e: std::io::Error| Error::internal(format!("cannot print the figures: {e}"));
    writeln!(out, "{}", report::machine()).map_err(io)?;
    for (name, needs) in &unsupported {
        writeln!(out, "{name}: not run by the bench yet: needs {needs}").map_err(io)?;
    }
    if runnable.is_empty() {
        return Ok(BenchReport {
            load: empty_load(),
            queries: Vec::new(),
            unsupported,
        });
    }

    // 1. The broker and the pre-loaded topics.
    let (broker, kafka, memory): (Arc<dyn Broker>, _, _) = match &source {
        BenchSource::Broker(k) => (Arc::clone(k) as Arc<dyn Broker>, Some(Arc::clone(k)), None),
        BenchSource::Memory => {
            let log = MemoryBroker::new();
            (Arc::new(Arc::clone(&log)), None, Some(log))
        }
    };
    let external = kafka.as_ref().is_some_and(|k| !k.is_embedded());
    let suffix = if external {
        format!("-{}-{}", std::process::id(), chrono::Utc::now().timestamp())
    } else {
        String::new()
    };
    let layout =
        TopicLayout::PerKind(EventKind::ALL.map(|k| format!("nexmark-{}{suffix}", k.name())));
    let load_opts = LoadOptions {
        events: opts.events,
        rate: 0,
        partitions: if memory.is_some() {
            Some(1)
        } else {
            opts.partitions
        },
        layout: layout.clone(),
        generator: opts.generator.clone(),
    };
    let generator = Arc::new(Generator::new(opts.generator.clone()));
    let embedded = kafka.as_ref().is_some_and(|k| k.is_embedded());
    let mut plans = load::plan_topics(&load_opts, &generator, embedded);
    if embedded {
        for p in &plans {
            if p.partitions < p.needed {
                return Err(Error::user(format!(
                    "--partitions {} is too few for {} events on the embedded broker: topic '{}' \
                     will hold ~{} MiB and the broker keeps only the newest 5 MiB per partition; \
                     use at least {} partitions (or leave --partitions out)",
                    p.partitions,
                    opts.events,
                    p.name,
                    p.bytes / (1024 * 1024),
                    p.needed
                )));
            }
        }
    }
    load::create_topics(broker.as_ref(), &mut plans).await?;
    let loaded = preload(
        &load_opts,
        &generator,
        &plans,
        kafka.as_ref(),
        memory.as_ref(),
    )
    .await?;
    report::load(out, &loaded, &broker.address()).map_err(io)?;
    let bid_plan = plans
        .iter()
        .find(|p| p.name == layout.topic(EventKind::Bid))
        .cloned()
        .ok_or_else(|| Error::internal("no bid topic was planned"))?;
    let bids = loaded.per_kind[EventKind::Bid.index()];

    // 2. The engine, with the bid stream declared.
    let settings = TaskSettings {
        max_batch: opts.batch_size.unwrap_or(TaskSettings::default().max_batch),
        ..TaskSettings::default()
    };
    let config = Config {
        default_start: StartFrom::Earliest,
        task: settings,
        ..Config::default()
    };
    let engine = Engine::new(Arc::clone(&broker), config).await?;
    let mut session = Session::default();
    engine
        .execute(&mut session, &queries::bid_stream_ddl(&bid_plan.name))
        .await?;
    let source_def = engine
        .state
        .lock()
        .await
        .catalog
        .source("BID")
        .cloned()
        .ok_or_else(|| Error::internal("the BID stream was not registered"))?;
    let decode =
        crate::plan::select::decode_stage(&engine.session_state, &source_def, "nexmark-baseline")?;
    let raw = baseline::raw_bids(&generator, opts.events, settings.max_batch, &bid_plan.name);

    // 3. The queries.
    let env = Env {
        engine: &engine,
        broker: broker.as_ref(),
        kafka: kafka.as_deref(),
        bid: &bid_plan,
        bids,
        suffix: &suffix,
        memory: memory.is_some(),
        batch: settings.max_batch,
        deadline: Duration::from_secs(120 + opts.events / 5_000),
        decode: &decode,
        raw: &raw,
    };
    let mut measured = Vec::new();
    for q in runnable {
        let figures = env.measure(q, opts.runs.max(1)).await?;
        report::query(out, &figures, opts.runs.max(1)).map_err(io)?;
        measured.push(figures);
    }
    engine.shutdown().await;
    if external {
        // Best effort: a real cluster keeps what the bench created otherwise.
        let mut outputs: Vec<String> = ["sluice", "ceiling", "ports"]
            .map(|p| format!("nexmark-out-{p}{suffix}"))
            .into();
        for q in measured.iter().filter(|q| q.groups.is_some()) {
            outputs.extend((0..opts.runs.max(1)).map(|run| table_topic(q.name, run, &suffix)));
        }
        for name in plans.iter().map(|p| p.name.clone()).chain(outputs) {
            let _ = broker.admin().delete_topic(&name).await;
        }
    }
    if let Some((name, bad)) = measured
        .iter()
        .find_map(|q| q.mismatch().map(|m| (q.name, m)))
    {
        return Err(Error::internal(format!("Nexmark {name}: {bad}")));
    }
    Ok(BenchReport {
        load: loaded,
        queries: measured,
        unsupported,
    })
}

type Selection = (
    Vec<&'static NexmarkQuery>,
    Vec<(&'static str, &'static str)>,
);

/// Checks the requested query names before anything starts: an unknown
/// name, or a single query sluice cannot run yet, is an error.
pub fn check_queries(names: &[String]) -> Result<()> {
    select_queries(names).map(|_| ())
}

/// Splits the requested queries into runnable ones and ones sluice cannot
/// run yet; a single unsupported query is an error that says what it needs.
fn select_queries(names: &[String]) -> Result<Selection> {
    let all = names.iter().any(|n| n.eq_ignore_ascii_case("all"));
    let picked: Vec<&'static NexmarkQuery> = if all {
        queries::QUERIES.iter().collect()
    } else {
        names
            .iter()
            .map(|n| {
                queries::find(n.trim()).ok_or_else(|| {
                    Error::user(format!(
                        "Unknown Nexmark query '{n}'. Known queries: {}, or all.",
                        queries::names()
                    ))
                })
            })
            .collect::<Result<_>>()?
    };
    let mut runnable = Vec::new();
    let mut unsupported = Vec::new();
    for q in picked {
        match q.support {
            Support::Runs { .. } => runnable.push(q),
            Support::NotYet { needs, .. } => unsupported.push((q.name, needs)),
        }
    }
    if let ([], [(name, needs)]) = (runnable.as_slice(), unsupported.as_slice()) {
        return Err(Error::user(format!(
            "Nexmark {name} is not run by the bench yet: needs {needs}"
        )));
    }
    Ok((runnable, unsupported))
}

fn empty_load() -> LoadReport {
    LoadReport {
        events: 0,
        per_kind: [0; 3],
        bytes: [0; 3],
        topics: Vec::new(),
        usage: super::measure::Meter::start().stop(),
    }
}

async fn preload(
    opts: &LoadOptions,
    generator: &Arc<Generator>,
    plans: &[TopicPlan],
    kafka: Option<&Arc<KafkaBroker>>,
    memory: Option<&Arc<MemoryBroker>>,
) -> Result<LoadReport> {
    let opts = opts.clone();
    let generator = Arc::clone(generator);
    let plans = plans.to_vec();
    let task = match (kafka, memory) {
        (Some(k), _) => {
            let config = k.client_config();
            tokio::task::spawn_blocking(move || {
                load::produce_to_kafka(config, &opts, &generator, &plans)
            })
        }
        (None, Some(m)) => {
            let log = Arc::clone(m);
            tokio::task::spawn_blocking(move || {
                load::append_to_memory(&log, &opts, &generator, &plans)
            })
        }
        (None, None) => return Err(Error::internal("the bench has no broker")),
    };
    task.await
        .map_err(|e| Error::internal(format!("the generator task failed: {e}")))?
}

/// What every phase needs.
struct Env<'a> {
    engine: &'a Arc<Engine>,
    broker: &'a dyn Broker,
    kafka: Option<&'a KafkaBroker>,
    bid: &'a TopicPlan,
    bids: u64,
    suffix: &'a str,
    memory: bool,
    batch: usize,
    deadline: Duration,
    decode: &'a crate::runtime::decode::DecodeStage,
    raw: &'a [RawBatch],
}

impl Env<'_> {
    async fn measure(&self, q: &'static NexmarkQuery, runs: usize) -> Result<QueryFigures> {
        let Support::Runs {
            select,
            datafusion,
            output,
        } = q.support
        else {
            return Err(Error::internal(format!("{} is not runnable", q.name)));
        };
        let name = format!("NEXMARK_{}", q.name.to_uppercase());
        let mut statement = String::new();
        let mut sluice = Vec::new();
        let mut ceiling = Vec::new();
        let mut ports = Vec::new();
        let mut compute: Vec<ComputeUsage> = Vec::new();
        let mut compute_sluice_aggregates = Vec::new();
        let mut sluice_rows_out = 0;
        let mut groups: Option<GroupCheck> = None;
        for run in 0..runs {
            // A stateless query writes to the topic every query shares; an
            // aggregation to a fresh topic per run, read back for the check.
            let (kind, topic, with) = match output {
                Output::Stream => ("STREAM", self.topic("sluice"), ""),
                Output::Table { with, .. } => {
                    ("TABLE", table_topic(q.name, run, self.suffix), with)
                }
            };
            let run_statement = format!(
                "CREATE {kind} {name} WITH (KAFKA_TOPIC='{topic}', PARTITIONS={}{with}) AS \
                 {select};",
                self.bid.partitions
            );
            let (usage, rows) = self.sluice_phase(&run_statement).await?;
            let written = match output {
                Output::Stream => Vec::new(),
                Output::Table { .. } => {
                    check::read_table(self.engine, self.broker, &name, &topic, rows, self.deadline)
                        .await?
                }
            };
            self.drop(kind, &name).await?;
            sluice.push(usage);
            sluice_rows_out = rows;
            if statement.is_empty() {
                statement = run_statement;
            }
            if let Some(k) = self.kafka {
                ceiling.push(self.ceiling_phase(k, &self.topic("ceiling")).await?);
            }
            ports.push(self.ports_phase(&self.topic("ports")).await?);
            let sql = datafusion.unwrap_or(select);
            let c = match output {
                Output::Stream => {
                    baseline::compute(self.decode, self.raw, sql, Aggregates::Sluice).await?
                }
                Output::Table { .. } => {
                    baseline::compute(self.decode, self.raw, sql, Aggregates::DataFusion).await?
                }
            };
            if let Output::Table {
                groups: columns, ..
            } = output
            {
                let found = check::compare(&written, &c.output, columns)?;
                if groups.as_ref().is_none_or(|g| g.mismatch.is_none()) {
                    groups = Some(found);
                }
                let with_ours =
                    baseline::compute(self.decode, self.raw, sql, Aggregates::Sluice).await?;
                compute_sluice_aggregates.push(with_ours.query);
            }
            compute.push(ComputeUsage {
                output: Vec::new(),
                ..c
            });
        }
        let phase = |name: &str, usages: Vec<Usage>| PhaseFigures {
            name: name.to_string(),
            records: self.bids,
            usage: median(usages),
        };
        Ok(QueryFigures {
            name: q.name,
            title: q.title,
            statement,
            sluice: phase(
                if self.memory {
                    "sluice (persistent query, in-memory log)"
                } else {
                    "sluice (persistent query, Kafka)"
                },
                sluice,
            ),
            sluice_rows_out,
            ceiling: (!ceiling.is_empty())
                .then(|| phase("ceiling (rdkafka consume -> produce)", ceiling)),
            ports: phase(
                if self.memory {
                    "ports copy (in-memory log, no SQL)"
                } else {
                    "ports copy (sluice Kafka reader -> writer)"
                },
                ports,
            ),
            compute_rows_out: compute.last().map(|c| c.rows_out).unwrap_or(0),
            decode: phase(
                "  beside it: sluice JSON decode alone",
                compute.iter().map(|c| c.decode).collect(),
            ),
            encode: phase(
                "  beside it: sluice JSON encode alone",
                compute.iter().map(|c| c.encode).collect(),
            ),
            compute: phase(
                match output {
                    Output::Stream => "compute baseline (DataFusion, decoded batches)",
                    Output::Table { .. } => "compute baseline (DataFusion GROUP BY, batches)",
                },
                compute.iter().map(|c| c.query).collect(),
            ),
            compute_sluice_aggregates: (!compute_sluice_aggregates.is_empty()).then(|| {
                phase(
                    "  beside it: DataFusion with sluice's aggregates",
                    compute_sluice_aggregates,
                )
            }),
            groups,
        })
    }

    /// The output topic of a phase, shared by every query and run: nobody
    /// reads it, and on the embedded broker its retention then bounds the
    /// memory outputs take.
    fn topic(&self, phase: &str) -> String {
        format!("nexmark-out-{phase}{}", self.suffix)
    }

    /// Creates the persistent query and waits until it has read every bid
    /// and written and committed everything; returns what that cost and
    /// the records it wrote. The caller drops it.
    async fn sluice_phase(&self, statement: &str) -> Result<(Usage, u64)> {
        let mut session = Session::default();
        let errors_before = self.engine.processing_errors();
        let meter = super::measure::Meter::start();
        let outcomes = self.engine.execute(&mut session, statement).await?;
        let Some(Outcome::QueryStarted { query_id, .. }) = outcomes.into_iter().last() else {
            return Err(Error::internal("the CSAS did not start a query"));
        };
        let status = self.status(&query_id).await?;
        let start = Instant::now();
        // SLUICE_BENCH_PHASES=1 prints where the wall time goes.
        let (mut first, mut all_read) = (None, None);
        loop {
            let read = status.records_in.load(Ordering::SeqCst);
            if read > 0 && first.is_none() {
                first = Some(start.elapsed());
            }
            if read >= self.bids && all_read.is_none() {
                all_read = Some(start.elapsed());
            }
            if read >= self.bids && status.idle.load(Ordering::SeqCst) {
                if std::env::var_os("SLUICE_BENCH_PHASES").is_some() {
                    eprintln!(
                        "  phases: statement {:.2} s, first record read after {:.2} s, every bid \
                         read after {:.2} s, committed and idle after {:.2} s",
                        meter.stop().wall.as_secs_f64() - start.elapsed().as_secs_f64(),
                        first.unwrap_or_default().as_secs_f64(),
                        all_read.unwrap_or_default().as_secs_f64(),
                        start.elapsed().as_secs_f64()
                    );
                }
                break;
            }
            if status.finished.load(Ordering::SeqCst) {
                return Err(Error::external(format!(
                    "query {query_id} stopped after {read} of {} bids: {}",
                    self.bids,
                    status.error().unwrap_or_default()
                )));
            }
            if start.elapsed() > self.deadline {
                return Err(Error::external(format!(
                    "query {query_id} read only {read} of {} bids within {:?}",
                    self.bids, self.deadline
                )));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let usage = meter.stop();
        let rows = status.records_out.load(Ordering::SeqCst);
        let errors = self.engine.processing_errors() - errors_before;
        if errors > 0 {
            return Err(Error::internal(format!(
                "query {query_id} reported {errors} processing errors on generated bids"
            )));
        }
        Ok((usage, rows))
    }

    /// Drops the query's `STREAM` or `TABLE` `name` (and, in memory, its
    /// topic: the embedded broker's retention bounds it otherwise).
    async fn drop(&self, kind: &str, name: &str) -> Result<()> {
        let delete = if self.memory { " DELETE TOPIC" } else { "" };
        let statement = format!("DROP {kind} {name}{delete};");
        self.engine
            .execute(&mut Session::default(), &statement)
            .await?;
        Ok(())
    }

    async fn status(&self, query_id: &str) -> Result<Arc<QueryStatus>> {
        let state = self.engine.state.lock().await;
        state
            .queries
            .get(query_id)
            .map(|q| Arc::clone(&q.status))
            .ok_or_else(|| Error::internal(format!("query {query_id} is not running")))
    }

    async fn ensure_output(&self, topic: &str) -> Result<()> {
        let admin = self.broker.admin();
        if admin.describe_topic(topic).await?.is_none() {
            admin.create_topic(topic, self.bid.partitions, 1).await?;
        }
        Ok(())
    }

    async fn ceiling_phase(&self, kafka: &KafkaBroker, out_topic: &str) -> Result<Usage> {
        self.ensure_output(out_topic).await?;
        let config = kafka.client_config();
        let topic = self.bid.name.clone();
        let partitions = self.bid.partitions;
        let out = out_topic.to_string();
        let (bids, batch, deadline) = (self.bids, self.batch, self.deadline);
        tokio::task::spawn_blocking(move || {
            baseline::rdkafka_copy(config, &topic, partitions, &out, bids, batch, deadline)
        })
        .await
        .map_err(|e| Error::internal(format!("the ceiling task failed: {e}")))?
    }

    async fn ports_phase(&self, out_topic: &str) -> Result<Usage> {
        self.ensure_output(out_topic).await?;
        let usage = baseline::ports_copy(
            self.broker,
            &self.bid.name,
            out_topic,
            self.bids,
            self.batch,
            self.deadline,
        )
        .await?;
        if self.memory {
            self.broker.admin().delete_topic(out_topic).await?;
        }
        Ok(usage)
    }
}

/// The output topic of an aggregation's run `run`: a fresh one per run, so
/// the check reads back that run's updates only.
fn table_topic(query: &str, run: usize, suffix: &str) -> String {
    format!("nexmark-out-sluice-{query}-{run}{suffix}")
}

/// The run with the median CPU time.
fn median(mut usages: Vec<Usage>) -> Usage {
    usages.sort_by_key(|u| u.cpu);
    let mid = usages.len() / 2;
    usages
        .get(mid)
        .copied()
        .unwrap_or_else(|| super::measure::Meter::start().stop())
}
