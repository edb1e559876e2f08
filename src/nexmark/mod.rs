//! Nexmark, the auction workload sluice is measured on
//! (`../shared/reference/nexmark.md`): the event generator, the queries in
//! sluice's dialect, and the benchmark that runs them beside their
//! baselines in one process run.
//!
//! - [`generator`]: person, auction and bid events as JSON, deterministic
//!   for a seed, written into a reused buffer;
//! - [`load`]: writing them to Kafka (rdkafka's `BaseProducer`, large
//!   batches) or to the in-memory log, with topics sized for the embedded
//!   broker's retention;
//! - [`queries`]: q0–q22 in the ksqlDB dialect, or what sluice still needs
//!   to run them, and the aggregations `w1` and `g1`;
//! - [`bench`]: `sluice bench nexmark`, with [`baseline`] (the rdkafka
//!   ceiling, the ports copy, DataFusion over the same batches),
//!   [`check`] (sluice's output against DataFusion's), [`measure`] (CPU
//!   time, RSS) and [`report`] (the printed figures);
//! - [`restore`]: `sluice bench restore`, state restored from a changelog;
//! - [`join_bench`]: `sluice bench join`, the join operator alone over
//!   decoded batches, beside DataFusion's hash join.
//!
//! `sluice nexmark generate` is [`generate`]; [`cli`] parses both commands.

pub mod baseline;
pub mod bench;
pub mod check;
pub mod cli;
pub mod format_bench;
pub mod generator;
pub mod join_bench;
pub mod load;
pub mod measure;
pub mod pull_bench;
pub mod push_bench;
pub mod queries;
pub mod report;
pub mod restore;
pub mod scale_bench;

use std::io::Write;
use std::sync::Arc;

pub use bench::{BenchOptions, BenchReport, BenchSource};
pub use generator::{EventKind, Generator, GeneratorConfig};
pub use load::{LoadOptions, LoadReport, TopicLayout};

use crate::error::{Error, Result};
use crate::kafka::KafkaBroker;
use crate::runtime::io::Broker;

/// Generates `opts.events` events into `kafka`, creating missing topics
/// (sized for the embedded broker's retention unless `--partitions` says
/// otherwise, with a warning when that is too few), and prints what it did.
pub async fn generate(
    kafka: Arc<KafkaBroker>,
    opts: LoadOptions,
    out: &mut dyn Write,
) -> Result<LoadReport> {
    let io = |e: std::io::Error| Error::internal(format!("cannot print the figures: {e}"));
    let generator = Arc::new(Generator::new(opts.generator.clone()));
    let mut plans = load::plan_topics(&opts, &generator, kafka.is_embedded());
    load::create_topics(kafka.as_ref(), &mut plans).await?;
    if kafka.is_embedded() {
        for p in &plans {
            if p.partitions < p.needed {
                writeln!(
                    out,
                    "warning: topic '{}' will hold ~{} MiB in {} partitions, but the embedded \
                     broker keeps only the newest 5 MiB per partition: the oldest records will \
                     be dropped. Use --partitions {} or more.",
                    p.name,
                    p.bytes / (1024 * 1024),
                    p.partitions,
                    p.needed
                )
                .map_err(io)?;
            }
        }
    }
    let config = kafka.client_config();
    let task_opts = opts.clone();
    let task_plans = plans.clone();
    let report = tokio::task::spawn_blocking(move || {
        load::produce_to_kafka(config, &task_opts, &generator, &task_plans)
    })
    .await
    .map_err(|e| Error::internal(format!("the generator task failed: {e}")))??;
    report::load(out, &report, &kafka.address()).map_err(io)?;
    let ddl = queries::all_sources_ddl(&opts.layout);
    writeln!(out, "\nDeclare them in sluice with:\n{ddl}").map_err(io)?;
    Ok(report)
}
