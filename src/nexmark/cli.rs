//! The command-line faces of this module, `sluice nexmark generate` and
//! `sluice bench nexmark`: flags parsed and checked into typed options,
//! then handed to [`super::generate`] and [`super::bench::run`].

use std::sync::Arc;

use clap::{Args, Subcommand, ValueEnum};

use super::bench::{self, BenchOptions, BenchSource};
use super::generator::GeneratorConfig;
use super::load::{LoadOptions, TopicLayout};
use crate::error::{Error, Result};
use crate::kafka::KafkaBroker;
use crate::runtime::io::Broker;

/// `sluice nexmark …`
#[derive(Debug, Subcommand)]
pub enum NexmarkCommand {
    /// Writes Nexmark person, auction and bid events as JSON into Kafka
    /// topics (the embedded broker unless --bootstrap-servers is given).
    Generate(GenerateArgs),
}

/// `sluice bench …`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Runs Nexmark queries and prints events per second per core beside
    /// the rdkafka ceiling and DataFusion over the same batches.
    Nexmark(BenchArgs),
    /// Restarts a GROUP BY query and measures how fast its state comes back
    /// from the changelog, beside a raw rdkafka consumer of the changelog.
    Restore(RestoreArgs),
    /// Measures the join operator alone over decoded batches
    /// (stream-table, table-table, stream-stream) beside DataFusion's batch
    /// hash join over the same batches.
    Join(JoinArgs),
    /// Decodes the same Nexmark bids as JSON and as AVRO (sluice's
    /// decoders and arrow-avro's), then runs a pass-through query over each
    /// through the embedded broker: events per second per core.
    Formats(FormatArgs),
    /// Runs the same input through 1, 2, 3… `sluice server` processes of
    /// one service (a pass-through and a GROUP BY), beside a plain rdkafka
    /// consumer of the input; needs --bootstrap-servers (a broker in its
    /// own process, e.g. Tansu).
    Scale(ScaleArgs),
    /// Runs N = 1, 10, 100, … concurrent push queries (each its own client
    /// connection and WHERE) over one stream on a `sluice server` process:
    /// delivery latency of every record to every query, the server's
    /// threads and memory.
    Push(PushArgs),
    /// Key lookups over HTTP (pull queries) by concurrent clients on a
    /// table of many keys on a `sluice server` process: lookups per second
    /// and per server CPU-second, latency, beside `GET /info`.
    Pull(PullArgs),
}

/// `sluice bench pull` options.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Keys in the table.
    #[arg(long, default_value_t = 1_000_000)]
    pub keys: u64,
    /// Concurrent clients, each on one kept-alive connection.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Seconds each measurement runs.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
}

/// `sluice bench push` options.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Concurrent push query counts, comma-separated (N = 1 always runs
    /// first, as the baseline).
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000,5000")]
    pub queries: Vec<usize>,
    /// Records inserted per count.
    #[arg(long, default_value_t = 50)]
    pub records: u64,
    /// Records inserted per second.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
}

/// `sluice bench scale` options.
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Input records.
    #[arg(long, default_value_t = 100_000)]
    pub records: u64,
    /// Input partitions.
    #[arg(long, default_value_t = 6)]
    pub partitions: i32,
    /// Server counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    pub servers: Vec<usize>,
    /// Timed runs per server count (medians are printed).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
}

/// `sluice bench formats` options.
#[derive(Debug, Args)]
pub struct FormatArgs {
    /// Nexmark events generated; the bids among them (92%) are measured.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Records per batch.
    #[arg(long, default_value_t = 4096)]
    pub batch: usize,
    /// Timed runs of each measurement (medians are printed).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

/// `sluice bench join` options.
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// Input rows of each join: bids streamed against the auction table
    /// (stream-table); persons and auctions (table-table, and stream-stream,
    /// which also runs at 4× this).
    #[arg(long, default_value_t = 200_000)]
    pub events: usize,
    /// Rows per input batch (both inputs of a join: rows of the event
    /// stream per round, split by side).
    #[arg(long, default_value_t = 4096)]
    pub batch: usize,
    /// Timed runs of each join (medians are printed).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Seed: the same seed gives the same events.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Events (all kinds) per second of event time: at the default, 800
    /// persons and auctions per second, so the stream-stream window (10 s
    /// either way) holds a small part of the input.
    #[arg(long, default_value_t = 10_000)]
    pub event_rate: u64,
}

/// `sluice bench restore` options.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Input records, each with its own key (one group each).
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Partitions of the input and the changelog (the embedded broker
    /// keeps only 5 MiB per partition: about 30,000 keys each).
    #[arg(long)]
    pub partitions: Option<i32>,
    /// Measured restarts (medians are printed).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
}

/// How events are generated (shared by both commands).
#[derive(Debug, Args)]
pub struct GeneratorArgs {
    /// Seed: the same seed gives the same events.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Events per second of event time (event time advances with the event
    /// number, not with the wall clock).
    #[arg(long, default_value_t = 10_000_000)]
    pub event_rate: u64,
    /// Share (0 to 1) of events whose event time is moved back, to exercise
    /// lateness.
    #[arg(long, default_value_t = 0.0)]
    pub delayed_share: f64,
    /// Delayed events are moved back by up to this many milliseconds.
    #[arg(long, default_value_t = 5_000)]
    pub max_delay_ms: u64,
}

impl GeneratorArgs {
    fn config(&self) -> Result<GeneratorConfig> {
        if !(0.0..=1.0).contains(&self.delayed_share) {
            return Err(Error::user(format!(
                "--delayed-share must be between 0 and 1, not {}",
                self.delayed_share
            )));
        }
        if self.event_rate == 0 {
            return Err(Error::user(
                "--event-rate must be at least 1 event per second",
            ));
        }
        Ok(GeneratorConfig {
            seed: self.seed,
            event_rate: self.event_rate,
            delayed_share: self.delayed_share,
            max_delay_ms: self.max_delay_ms,
            ..GeneratorConfig::default()
        })
    }
}

/// Flags of `sluice nexmark generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Number of events (all kinds: 1 person : 3 auctions : 46 bids).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Events per second of wall time; 0 = as fast as possible.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Partitions of each topic created (default: on the embedded broker,
    /// enough to keep all the data under its 5 MiB-per-partition retention;
    /// elsewhere 8). Existing topics keep theirs.
    #[arg(long)]
    pub partitions: Option<i32>,
    /// The person, auction and bid topics.
    #[arg(long, value_delimiter = ',', default_value = "person,auction,bid")]
    pub topics: Vec<String>,
    /// One topic for all events instead, each with an `event_type`
    /// discriminator (0 person, 1 auction, 2 bid).
    #[arg(long, conflicts_with = "topics")]
    pub topic: Option<String>,
    /// After generating, keep the embedded broker running (for other
    /// clients) until Ctrl-C.
    #[arg(long)]
    pub serve: bool,
    #[command(flatten)]
    pub generator: GeneratorArgs,
}

/// Where `sluice bench nexmark` reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceArg {
    /// Through Kafka: the embedded broker, or --bootstrap-servers.
    Broker,
    /// From the in-memory log: the engine's cost alone.
    Memory,
}

/// Flags of `sluice bench nexmark`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Queries: q0, q1, q2, q7, q14, q17, q21, q22 and the aggregations w1
    /// (tumbling COUNT/SUM per auction), w2 (hopping COUNT per auction) and
    /// g1 (COUNT/SUM per auction, no window) run today; others are reported
    /// with what they need. A comma-separated list, or `all`.
    #[arg(long, value_delimiter = ',', default_value = "q0")]
    pub query: Vec<String>,
    /// Events to pre-load (all kinds; 46 in 50 are bids, which the queries
    /// read).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Read through a Kafka broker or from the in-memory log.
    #[arg(long, value_enum, default_value = "broker")]
    pub source: SourceArg,
    /// Partitions of the topics (default: enough for the embedded broker's
    /// retention; 8 on a real cluster).
    #[arg(long)]
    pub partitions: Option<i32>,
    /// Runs of each phase; the median (by CPU time) is reported.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// Records per batch the query reads (default: the engine's).
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[command(flatten)]
    pub generator: GeneratorArgs,
}

/// Connects to `bootstrap`, or starts the embedded broker and says where.
fn connect(bootstrap: Option<&str>) -> Result<Arc<KafkaBroker>> {
    match bootstrap {
        Some(b) => Ok(Arc::new(KafkaBroker::connect(b)?)),
        None => {
            let b = KafkaBroker::embedded()?;
            eprintln!(
                "Started the embedded Kafka broker at {} (data is kept in memory only; it keeps \
                 the newest 5 MiB per partition, so topics get enough partitions for the data). \
                 Use --bootstrap-servers to use a real cluster.",
                b.address()
            );
            Ok(Arc::new(b))
        }
    }
}

/// Runs `sluice nexmark …`.
pub async fn nexmark(command: NexmarkCommand, bootstrap: Option<&str>) -> Result<()> {
    let NexmarkCommand::Generate(args) = command;
    let layout = match (&args.topic, args.topics.as_slice()) {
        (Some(t), _) => TopicLayout::Single(t.clone()),
        (None, [p, a, b]) => TopicLayout::PerKind([p.clone(), a.clone(), b.clone()]),
        (None, other) => {
            return Err(Error::user(format!(
                "--topics needs three names (person,auction,bid), got {}: '{}'",
                other.len(),
                other.join(",")
            )))
        }
    };
    if args.partitions.is_some_and(|p| p < 1) {
        return Err(Error::user("--partitions must be at least 1"));
    }
    let opts = LoadOptions {
        events: args.events,
        rate: args.rate,
        partitions: args.partitions,
        layout,
        generator: args.generator.config()?,
    };
    let kafka = connect(bootstrap)?;
    super::generate(Arc::clone(&kafka), opts, &mut std::io::stdout()).await?;
    if args.serve && kafka.is_embedded() {
        eprintln!(
            "Serving the embedded broker at {} until Ctrl-C.",
            kafka.address()
        );
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| Error::external(format!("cannot wait for Ctrl-C: {e}")))?;
    }
    Ok(())
}

/// Runs `sluice bench …`.
pub async fn bench(command: BenchCommand, bootstrap: Option<&str>) -> Result<()> {
    let args = match command {
        BenchCommand::Nexmark(args) => args,
        BenchCommand::Restore(args) => {
            if args.records == 0 || args.runs == 0 {
                return Err(Error::user("--records and --runs must be at least 1"));
            }
            let partitions = args
                .partitions
                .unwrap_or_else(|| ((args.records / 30_000) as i32 + 1).clamp(1, 256));
            if partitions < 1 {
                return Err(Error::user("--partitions must be at least 1"));
            }
            let opts = super::restore::RestoreOptions {
                records: args.records,
                partitions,
                runs: args.runs,
            };
            return super::restore::run(opts, connect(bootstrap)?, &mut std::io::stdout()).await;
        }
        BenchCommand::Scale(args) => {
            let Some(bootstrap) = bootstrap else {
                return Err(Error::user(
                    "bench scale runs sluice server processes against a broker in its own \
                     process: give --bootstrap-servers (e.g. a Tansu broker)",
                ));
            };
            if args.records == 0 || args.runs == 0 || args.partitions < 1 {
                return Err(Error::user(
                    "--records, --runs and --partitions must be at least 1",
                ));
            }
            if args.servers.is_empty() || args.servers.contains(&0) {
                return Err(Error::user(
                    "--servers takes counts of at least 1, e.g. 1,2,3",
                ));
            }
            let opts = super::scale_bench::ScaleBenchOptions {
                records: args.records,
                partitions: args.partitions,
                servers: args.servers,
                runs: args.runs,
            };
            return super::scale_bench::run(opts, bootstrap, &mut std::io::stdout()).await;
        }
        BenchCommand::Push(args) => {
            if args.records == 0
                || args.queries.contains(&0)
                || args.rate.is_nan()
                || args.rate <= 0.0
            {
                return Err(Error::user(
                    "--records, --rate and every --queries count must be above 0",
                ));
            }
            let opts = super::push_bench::PushBenchOptions {
                queries: args.queries,
                records: args.records,
                rate: args.rate,
            };
            return super::push_bench::run(opts, &mut std::io::stdout()).await;
        }
        BenchCommand::Pull(args) => {
            if args.keys == 0 || args.clients == 0 || args.seconds == 0 {
                return Err(Error::user(
                    "--keys, --clients and --seconds must be at least 1",
                ));
            }
            let opts = super::pull_bench::PullBenchOptions {
                keys: args.keys,
                clients: args.clients,
                duration: std::time::Duration::from_secs(args.seconds),
            };
            return super::pull_bench::run(opts, &mut std::io::stdout()).await;
        }
        BenchCommand::Formats(args) => {
            if args.events == 0 || args.batch == 0 || args.runs == 0 {
                return Err(Error::user(
                    "--events, --batch and --runs must be at least 1",
                ));
            }
            let opts = super::format_bench::FormatBenchOptions {
                events: args.events,
                batch: args.batch,
                runs: args.runs,
            };
            return super::format_bench::run(opts, connect(bootstrap)?, &mut std::io::stdout())
                .await;
        }
        BenchCommand::Join(args) => {
            if args.events == 0 || args.batch == 0 || args.runs == 0 || args.event_rate == 0 {
                return Err(Error::user(
                    "--events, --batch, --runs and --event-rate must be at least 1",
                ));
            }
            let opts = super::join_bench::JoinBenchOptions {
                events: args.events,
                batch: args.batch,
                runs: args.runs,
                seed: args.seed,
                event_rate: args.event_rate,
            };
            return super::join_bench::run(opts, &mut std::io::stdout()).await;
        }
    };
    if args.partitions.is_some_and(|p| p < 1) {
        return Err(Error::user("--partitions must be at least 1"));
    }
    if args.batch_size == Some(0) {
        return Err(Error::user("--batch-size must be at least 1"));
    }
    if args.events == 0 {
        return Err(Error::user("--events must be at least 1"));
    }
    bench::check_queries(&args.query)?;
    let opts = BenchOptions {
        queries: args.query,
        events: args.events,
        partitions: args.partitions,
        runs: args.runs.max(1),
        batch_size: args.batch_size,
        generator: args.generator.config()?,
    };
    let source = match args.source {
        SourceArg::Broker => BenchSource::Broker(connect(bootstrap)?),
        SourceArg::Memory => BenchSource::Memory,
    };
    bench::run(&opts, source, &mut std::io::stdout()).await?;
    Ok(())
}
