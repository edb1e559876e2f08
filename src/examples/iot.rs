//! IoT temperatures: eight sensors, each reading every ten seconds.
//!
//! Background: sensor N reads around 19 + N/2 °C (± 0.6) at second N-1 of
//! every ten, so a minute holds six readings per sensor and no background
//! minute averages above 35 °C, the alert threshold of
//! `examples/iot/pipeline.sql`. Scripted on top:
//!
//! - `sensor-3` overheats: it climbs from 30 to 48 °C over 09:04 and 09:05
//!   (minute averages 38.5 and 46.42: alerts) and cools down over 09:06
//!   (average 30: no alert);
//! - `sensor-6` has one glitch of 90 °C at 09:02:35 (its minute averages
//!   about 33: no alert);
//! - `sensor-8` runs hot over 09:07 (average 36.25: an alert).

use serde_json::json;

use super::rng::Rng;
use super::{Event, GenOptions, Output, OutputKind, Scenario, MINUTE, SECOND};

/// The IoT scenario.
pub const SCENARIO: Scenario = Scenario {
    name: "iot",
    summary: "temperature readings; per-sensor averages per minute, and alerts for minutes \
              averaging above 35 °C",
    pipeline: include_str!("../../examples/iot/pipeline.sql"),
    input_topic: "sensor_readings",
    outputs: &[
        Output {
            topic: "OVERHEATING_ALERTS",
            kind: OutputKind::TimeWindowed,
            window_ms: MINUTE,
        },
        Output {
            topic: "SENSOR_AVERAGES",
            kind: OutputKind::TimeWindowed,
            window_ms: MINUTE,
        },
    ],
    generate,
};

const SENSORS: i64 = 8;
/// Seconds between two readings of a sensor.
const PERIOD: i64 = 10;

/// Scripted readings: sensor, minute, and the six readings of that minute
/// (`None` keeps the background reading).
type Scripted = (i64, i64, [Option<f64>; 6]);

const SCRIPTED: &[Scripted] = &[
    (
        3,
        4,
        [
            Some(30.0),
            Some(34.0),
            Some(38.0),
            Some(41.0),
            Some(43.0),
            Some(45.0),
        ],
    ),
    (
        3,
        5,
        [
            Some(46.0),
            Some(47.0),
            Some(48.0),
            Some(47.5),
            Some(46.0),
            Some(44.0),
        ],
    ),
    (
        3,
        6,
        [
            Some(40.0),
            Some(36.0),
            Some(31.0),
            Some(27.0),
            Some(24.0),
            Some(22.0),
        ],
    ),
    (6, 2, [None, None, None, Some(90.0), None, None]),
    (
        8,
        7,
        [
            Some(35.5),
            Some(36.0),
            Some(36.5),
            Some(37.0),
            Some(36.5),
            Some(36.0),
        ],
    ),
];

/// The readings, by time.
pub fn generate(opts: &GenOptions) -> Vec<Event> {
    let mut rng = Rng::new(opts.seed, 2);
    let mut events = Vec::new();
    let mut tick = opts.start;
    while tick < opts.end() {
        let minute = (tick - opts.start) / MINUTE;
        let slot = ((tick - opts.start) % MINUTE / (PERIOD * SECOND)) as usize;
        for sensor in 1..=SENSORS {
            let time = tick + (sensor - 1) * SECOND;
            let background = 19.0 + sensor as f64 / 2.0 + rng.between(-0.6, 0.6);
            let scripted = SCRIPTED
                .iter()
                .find(|(s, m, _)| *s == sensor && *m == minute)
                .and_then(|(_, _, readings)| readings.get(slot).copied().flatten());
            let celsius = (scripted.unwrap_or(background) * 10.0).round() / 10.0;
            events.push(Event {
                key: format!("sensor-{sensor}"),
                value: json!({ "temperature": celsius, "ts": time }),
                time,
            });
        }
        tick += PERIOD * SECOND;
    }
    events
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn only_the_scripted_minutes_average_above_35() {
        for seed in [1, 42, 1234] {
            let opts = GenOptions {
                seed,
                ..GenOptions::default()
            };
            let mut minutes: BTreeMap<(String, i64), Vec<f64>> = BTreeMap::new();
            for e in generate(&opts) {
                let t = e.value["temperature"].as_f64().unwrap_or(0.0);
                minutes
                    .entry((e.key.clone(), (e.time - opts.start) / MINUTE))
                    .or_default()
                    .push(t);
            }
            let hot: Vec<(String, i64, f64)> = minutes
                .into_iter()
                .filter_map(|((s, m), ts)| {
                    let avg = ts.iter().sum::<f64>() / ts.len() as f64;
                    (avg > 35.0).then(|| (s, m, (avg * 100.0).round() / 100.0))
                })
                .collect();
            assert_eq!(
                hot,
                [
                    ("sensor-3".to_string(), 4, 38.5),
                    ("sensor-3".to_string(), 5, 46.42),
                    ("sensor-8".to_string(), 7, 36.25)
                ]
            );
        }
    }

    #[test]
    fn each_sensor_reads_six_times_a_minute() {
        let opts = GenOptions::default();
        let events = generate(&opts);
        assert_eq!(events.len() as i64, SENSORS * 6 * i64::from(opts.minutes));
        let glitch = events
            .iter()
            .find(|e| e.value["temperature"].as_f64() == Some(90.0))
            .map(|e| (e.key.as_str(), e.time));
        assert_eq!(glitch, Some(("sensor-6", opts.at(2, 35))));
    }
}
