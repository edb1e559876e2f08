//! The command-line face of the examples, `sluice example …`: flags parsed
//! and checked into [`GenOptions`], then handed to [`super::run`] or
//! [`super::data`].

use std::io::Write;
use std::sync::Arc;

use chrono::DateTime;
use clap::{Args, Subcommand};

use super::{data, run, scenario, GenOptions, MINUTE, SCENARIOS};
use crate::error::{Error, Result};
use crate::kafka::KafkaBroker;
use crate::runtime::io::Broker;

/// `sluice example …`
#[derive(Debug, Subcommand)]
pub enum ExampleCommand {
    /// Lists the example scenarios (their pipelines are in examples/NAME/).
    List,
    /// Runs an example end to end on the embedded broker (or
    /// --bootstrap-servers): its pipeline, its data, then what the queries
    /// wrote.
    Run(RunArgs),
    /// Writes an example's data into its input topic on a running broker
    /// (--bootstrap-servers), e.g. the one `sluice server` started.
    Data(DataArgs),
}

/// What data to generate (shared by `run` and `data`).
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Seed of the background traffic: the same seed gives the same data.
    /// The scripted cases (frauds, anomalies, …) are the same for every seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Minutes of event time to cover (at least 9).
    #[arg(long, default_value_t = 10)]
    pub minutes: u32,
    /// Event time of the first record: RFC 3339 (rounded down to the
    /// minute), or `now`.
    #[arg(long, default_value = "2024-05-01T09:00:00Z")]
    pub start: String,
}

impl GenArgs {
    fn options(&self) -> Result<GenOptions> {
        let start = if self.start.eq_ignore_ascii_case("now") {
            chrono::Utc::now().timestamp_millis()
        } else {
            DateTime::parse_from_rfc3339(&self.start)
                .map_err(|e| {
                    Error::user(format!(
                        "--start '{}' is not an RFC 3339 time such as 2024-05-01T09:00:00Z \
                         (or 'now'): {e}",
                        self.start
                    ))
                })?
                .timestamp_millis()
        };
        let opts = GenOptions {
            seed: self.seed,
            minutes: self.minutes,
            start: start - start.rem_euclid(MINUTE),
        };
        opts.check()?;
        Ok(opts)
    }
}

/// Flags of `sluice example run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The example: card-fraud, iot, clickstream or trading.
    pub example: String,
    #[command(flatten)]
    pub data: GenArgs,
}

/// Flags of `sluice example data`.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// The example: card-fraud, iot, clickstream or trading.
    pub example: String,
    /// Records per second of wall time (to watch results arrive); 0 writes
    /// them as fast as possible.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// The topic to write (default: the input topic of the example's
    /// pipeline).
    #[arg(long)]
    pub topic: Option<String>,
    /// Print the records as JSON lines instead of writing them.
    #[arg(long)]
    pub print: bool,
    #[command(flatten)]
    pub data: GenArgs,
}

/// Runs `sluice example …`.
pub async fn example(command: ExampleCommand, bootstrap: Option<&str>) -> Result<()> {
    let io = |e: std::io::Error| Error::external(format!("cannot write to stdout: {e}"));
    match command {
        ExampleCommand::List => {
            let mut out = std::io::stdout().lock();
            for s in SCENARIOS {
                writeln!(out, "{:<12} {}", s.name, s.summary).map_err(io)?;
            }
            Ok(())
        }
        ExampleCommand::Run(args) => {
            let scenario = scenario(&args.example)?;
            let opts = args.data.options()?;
            let broker: Arc<dyn Broker> = match bootstrap {
                Some(b) => Arc::new(KafkaBroker::connect(b)?),
                None => Arc::new(KafkaBroker::embedded()?),
            };
            let mut out = std::io::stdout();
            run::run(scenario, broker, &opts, &mut out).await
        }
        ExampleCommand::Data(args) => {
            let scenario = scenario(&args.example)?;
            let opts = args.data.options()?;
            let events = (scenario.generate)(&opts);
            if args.print {
                let mut out = std::io::stdout().lock();
                for e in &events {
                    let line = serde_json::json!({
                        "key": e.key, "timestamp": e.time, "value": e.value
                    });
                    match writeln!(out, "{line}") {
                        // `… --print | head` is fine.
                        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                        other => other.map_err(io)?,
                    }
                }
                return Ok(());
            }
            let Some(bootstrap) = bootstrap else {
                return Err(Error::user(
                    "sluice example data writes into a running broker: give --bootstrap-servers \
                     (the address `sluice server` or `sluice shell` prints when it starts its \
                     embedded broker), or use --print; `sluice example run` runs an example on \
                     its own",
                ));
            };
            let broker = KafkaBroker::connect(bootstrap)?;
            let topic = args.topic.as_deref().unwrap_or(scenario.input_topic);
            data::ensure_topic(&broker, topic).await?;
            eprintln!(
                "Writing {} records to topic '{topic}' at {bootstrap}{}.",
                events.len(),
                if args.rate > 0 {
                    format!(", {} a second", args.rate)
                } else {
                    String::new()
                }
            );
            data::write(&broker, topic, &events, args.rate).await?;
            eprintln!("Done: {} records written.", events.len());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::DEFAULT_START;
    use super::*;

    fn args(start: &str, minutes: u32) -> GenArgs {
        GenArgs {
            seed: 1,
            minutes,
            start: start.to_string(),
        }
    }

    #[test]
    fn the_default_start_is_the_documented_one() {
        let opts = args("2024-05-01T09:00:00Z", 10).options().ok();
        assert_eq!(opts.map(|o| o.start), Some(DEFAULT_START));
    }

    #[test]
    fn a_start_is_rounded_down_to_the_minute() {
        let opts = args("2024-05-01T09:00:59.5+00:00", 10).options().ok();
        assert_eq!(opts.map(|o| o.start), Some(DEFAULT_START));
    }

    #[test]
    fn bad_flags_are_refused_with_their_name() {
        let e = args("yesterday", 10).options().err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("--start 'yesterday'")));
        let e = args("now", 3).options().err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("--minutes")));
    }
}
