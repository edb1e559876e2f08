//! The example scenarios of `examples/`: card fraud, IoT temperatures,
//! clickstream sessions and trading. Each is a [`Scenario`] in one
//! registry ([`SCENARIOS`]): its pipeline (the `pipeline.sql` of its
//! directory, compiled in), its input topic, the topics its queries write,
//! and a deterministic data generator.
//!
//! - `sluice example data NAME` writes the generated records into a broker
//!   ([`data`]), for a pipeline running in `sluice server` or
//!   `sluice shell`;
//! - `sluice example run NAME` runs the pipeline on the embedded broker,
//!   writes the data, waits until every query is idle and prints what the
//!   queries wrote ([`run`]), the form CI checks;
//! - [`cli`] parses both.
//!
//! Generated data is a scripted part (the frauds, anomalies, sessions and
//! price drops the pipelines exist to find) over background traffic drawn
//! from a seeded generator ([`rng`]) that is built never to trigger an alert
//! by itself, so the alerts are the same for every seed.

pub mod card_fraud;
pub mod cli;
pub mod clickstream;
pub mod data;
pub mod iot;
pub mod output;
pub mod rng;
pub mod run;
pub mod trading;

use serde_json::Value;

use crate::error::{Error, Result};

/// One record to write: its key (a STRING key, KAFKA format), its JSON
/// value and its event time (epoch ms, also the Kafka timestamp).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The record key.
    pub key: String,
    /// The record value, a JSON object.
    pub value: Value,
    /// Event time, epoch milliseconds.
    pub time: i64,
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenOptions {
    /// Seed of the background traffic: the same seed gives the same data.
    pub seed: u64,
    /// Event time covered, in minutes (at least [`MIN_MINUTES`]).
    pub minutes: u32,
    /// Event time of the first minute (epoch ms, a whole minute).
    pub start: i64,
}

/// The scripted events of every scenario fall in its first minutes; the
/// data must cover them and one more minute, which closes their windows.
pub const MIN_MINUTES: u32 = 9;

/// Event time of the default data: 2024-05-01 09:00:00 UTC.
pub const DEFAULT_START: i64 = 1_714_554_000_000;

/// Milliseconds per minute.
pub const MINUTE: i64 = 60_000;

/// Milliseconds per second.
pub const SECOND: i64 = 1_000;

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            seed: 42,
            minutes: 10,
            start: DEFAULT_START,
        }
    }
}

impl GenOptions {
    /// The event time `minute` minutes and `second` seconds after the start.
    pub fn at(&self, minute: i64, second: i64) -> i64 {
        self.start + minute * MINUTE + second * SECOND
    }

    /// The end of the covered event time (exclusive).
    pub fn end(&self) -> i64 {
        self.start + i64::from(self.minutes) * MINUTE
    }

    /// Checks the options a user gave.
    pub fn check(&self) -> Result<()> {
        if self.minutes < MIN_MINUTES {
            return Err(Error::user(format!(
                "--minutes must be at least {MIN_MINUTES} (the scripted events of the examples \
                 fall in the first {} minutes), not {}",
                MIN_MINUTES - 1,
                self.minutes
            )));
        }
        if self.start.rem_euclid(MINUTE) != 0 {
            return Err(Error::user(
                "the start of the example data must be a whole minute",
            ));
        }
        Ok(())
    }
}

/// How the records of a result topic are read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// A stream: every record counts, shown in order of record time.
    Stream,
    /// A table keyed by a STRING: the latest value per key counts.
    Table,
    /// A table of tumbling or hopping windows: the key is followed by the
    /// window start (8 bytes, big-endian).
    TimeWindowed,
    /// A table of session windows: the key is followed by the session end,
    /// then its start (8 bytes each, big-endian).
    SessionWindowed,
}

/// A topic a scenario's queries write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    /// The topic (the sink's name, as sluice upper-cases it).
    pub topic: &'static str,
    /// How to read it.
    pub kind: OutputKind,
    /// For time windows: their size in milliseconds.
    pub window_ms: i64,
}

/// One example scenario.
#[derive(Debug)]
pub struct Scenario {
    /// Its name, which is also its directory under `examples/`.
    pub name: &'static str,
    /// One line on what it shows.
    pub summary: &'static str,
    /// The statements of `examples/NAME/pipeline.sql`.
    pub pipeline: &'static str,
    /// The topic the generator writes (created by the pipeline).
    pub input_topic: &'static str,
    /// The topics the pipeline's queries write.
    pub outputs: &'static [Output],
    /// The data generator.
    pub generate: fn(&GenOptions) -> Vec<Event>,
}

/// Every scenario, in the order the README shows them.
pub const SCENARIOS: &[&Scenario] = &[
    &card_fraud::SCENARIO,
    &iot::SCENARIO,
    &clickstream::SCENARIO,
    &trading::SCENARIO,
];

/// The scenario called `name`, or an error listing the known ones.
pub fn scenario(name: &str) -> Result<&'static Scenario> {
    SCENARIOS
        .iter()
        .copied()
        .find(|s| s.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
            Error::user(format!(
                "Unknown example '{name}'. The examples are: {}.",
                names.join(", ")
            ))
        })
}

/// Sorts events by time (stable, so that events of the same time keep the
/// order they were made in).
pub(crate) fn sort_by_time(events: &mut [Event]) {
    events.sort_by_key(|e| e.time);
}

/// `x` rounded to cents, as prices and amounts are written.
pub(crate) fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_is_found_by_name_and_generates_sorted_data() {
        for s in SCENARIOS {
            assert_eq!(scenario(s.name).map(|f| f.name).ok(), Some(s.name));
            let opts = GenOptions::default();
            let events = (s.generate)(&opts);
            assert!(!events.is_empty(), "{}", s.name);
            assert!(
                events.windows(2).all(|w| w[0].time <= w[1].time),
                "{}",
                s.name
            );
            assert!(
                events
                    .iter()
                    .all(|e| e.time >= opts.start && e.time < opts.end()),
                "{}",
                s.name
            );
            // Deterministic for a seed, different for another.
            assert_eq!(events, (s.generate)(&opts), "{}", s.name);
            let other = GenOptions { seed: 7, ..opts };
            assert_ne!(events, (s.generate)(&other), "{}", s.name);
        }
    }

    #[test]
    fn an_unknown_scenario_lists_the_known_ones() {
        let e = scenario("fraud").err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(
                "Unknown example 'fraud'. The examples are: card-fraud, iot, clickstream, trading."
            )
        );
    }

    #[test]
    fn too_few_minutes_are_refused() {
        let opts = GenOptions {
            minutes: 5,
            ..GenOptions::default()
        };
        assert!(opts.check().is_err());
        assert!(GenOptions::default().check().is_ok());
    }
}
