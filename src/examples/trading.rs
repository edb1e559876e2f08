//! Trading: the trades of four stocks.
//!
//! Background: each symbol trades every five seconds (ACME at second 0 of
//! every five, BOLT at 1, CRUX at 2, DYNA at 3) and its price moves by at
//! most 0.1 % a trade, so within a minute it never falls by the 5 % that
//! `examples/trading/pipeline.sql` alerts on. Scripted moves:
//!
//! - `CRUX` falls 8.3 % in four trades from 09:04:02 to 09:04:17;
//! - `BOLT` falls 6.1 % in two trades at 09:07:21 and 09:07:26;
//! - `DYNA` falls 3 % at 09:02:03 and 09:02:08 (no alert);
//! - `ACME` jumps 7 % at 09:05:00 (a rise: no alert).

use serde_json::json;

use super::rng::Rng;
use super::{cents, Event, GenOptions, Output, OutputKind, Scenario, MINUTE, SECOND};

/// The trading scenario.
pub const SCENARIO: Scenario = Scenario {
    name: "trading",
    summary: "stock trades; a moving average per symbol, and alerts when a price falls 5 % or \
              more within a minute",
    pipeline: include_str!("../../examples/trading/pipeline.sql"),
    input_topic: "trades",
    outputs: &[
        Output {
            topic: "PRICE_DROP_ALERTS",
            kind: OutputKind::TimeWindowed,
            window_ms: MINUTE,
        },
        Output {
            topic: "MOVING_AVERAGES",
            kind: OutputKind::TimeWindowed,
            window_ms: MINUTE,
        },
    ],
    generate,
};

/// Symbols and their opening prices.
const SYMBOLS: &[(&str, f64)] = &[
    ("ACME", 120.00),
    ("BOLT", 45.50),
    ("CRUX", 310.00),
    ("DYNA", 78.25),
];
/// Seconds between two trades of a symbol.
const PERIOD: i64 = 5;
/// The largest move of a background trade.
const STEP: f64 = 0.001;

/// Scripted moves: symbol, minute, second, price factor.
const SCRIPTED: &[(&str, i64, i64, f64)] = &[
    ("CRUX", 4, 2, 0.98),
    ("CRUX", 4, 7, 0.97),
    ("CRUX", 4, 12, 0.975),
    ("CRUX", 4, 17, 0.99),
    ("BOLT", 7, 21, 0.96),
    ("BOLT", 7, 26, 0.978),
    ("DYNA", 2, 3, 0.985),
    ("DYNA", 2, 8, 0.985),
    ("ACME", 5, 0, 1.07),
];

/// The trades, by time.
pub fn generate(opts: &GenOptions) -> Vec<Event> {
    let mut rng = Rng::new(opts.seed, 4);
    let mut prices: Vec<f64> = SYMBOLS.iter().map(|s| s.1).collect();
    let mut events = Vec::new();
    let mut tick = opts.start;
    while tick < opts.end() {
        for (i, (symbol, _)) in SYMBOLS.iter().enumerate() {
            let time = tick + i as i64 * SECOND;
            let offset = time - opts.start;
            let (minute, second) = (offset / MINUTE, offset % MINUTE / SECOND);
            let step = 1.0 + rng.between(-STEP, STEP);
            let factor = SCRIPTED
                .iter()
                .find(|m| m.0 == *symbol && m.1 == minute && m.2 == second)
                .map_or(step, |m| m.3);
            let volume = rng.int(1, 50) * 10;
            if let Some(price) = prices.get_mut(i) {
                *price *= factor;
                events.push(Event {
                    key: (*symbol).to_string(),
                    value: json!({ "price": cents(*price), "volume": volume, "ts": time }),
                    time,
                });
            }
        }
        tick += PERIOD * SECOND;
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hopping windows of a minute advancing by 20 seconds whose last price
    /// is 5 % or more below their highest: (symbol, window start).
    fn drops(opts: &GenOptions, events: &[Event]) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        let mut start = opts.start - 40 * SECOND;
        while start < opts.end() - MINUTE {
            for (symbol, _) in SYMBOLS {
                let prices: Vec<f64> = events
                    .iter()
                    .filter(|e| e.key == *symbol && e.time >= start && e.time < start + MINUTE)
                    .filter_map(|e| e.value["price"].as_f64())
                    .collect();
                let high = prices.iter().copied().fold(f64::MIN, f64::max);
                if prices.last().is_some_and(|last| *last <= 0.95 * high) {
                    out.push((symbol.to_string(), (start - opts.start) / SECOND));
                }
            }
            start += 20 * SECOND;
        }
        out
    }

    #[test]
    fn only_crux_and_bolt_fall_by_five_percent() {
        for seed in [1, 42, 1234] {
            let opts = GenOptions {
                seed,
                ..GenOptions::default()
            };
            let found = drops(&opts, &generate(&opts));
            let expected: Vec<(String, i64)> = [
                ("CRUX", 200),
                ("CRUX", 220),
                ("CRUX", 240),
                ("BOLT", 400),
                ("BOLT", 420),
            ]
            .iter()
            .map(|(s, t)| (s.to_string(), *t))
            .collect();
            assert_eq!(found, expected, "seed {seed}");
        }
    }
}
