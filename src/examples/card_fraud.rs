//! Card fraud: card transactions, some of them fraudulent.
//!
//! Background: 40 cards, a transaction every one to three seconds, amounts
//! from 3 to 400, and never more than three transactions on a card within
//! a minute, so that no background transaction trips either rule of
//! `examples/card-fraud/pipeline.sql` (an amount of 1000 or more; five or
//! more transactions on a card in a minute). Scripted on top:
//!
//! - large amounts: `card-07` at 09:02:15, `card-23` at 09:05:42,
//!   `card-31` at 09:07:05;
//! - a card-testing burst: `card-12`, six small online payments in the
//!   minute 09:03;
//! - a burst across cities: `card-35`, eight payments in the minute 09:06,
//!   the last one of 1320.00 (a large amount too);
//! - a near miss: `card-18`, four payments in the minute 09:04 (no alert).

use std::collections::HashMap;

use serde_json::json;

use super::rng::Rng;
use super::{cents, Event, GenOptions, Output, OutputKind, Scenario, MINUTE};

/// The card-fraud scenario.
pub const SCENARIO: Scenario = Scenario {
    name: "card-fraud",
    summary: "card transactions; alerts for large amounts and for many transactions per card \
              per minute, in one topic FRAUD_ALERTS",
    pipeline: include_str!("../../examples/card-fraud/pipeline.sql"),
    input_topic: "transactions",
    outputs: &[
        Output {
            topic: "FRAUD_ALERTS",
            kind: OutputKind::Stream,
            window_ms: 0,
        },
        Output {
            topic: "CARD_MINUTES",
            kind: OutputKind::TimeWindowed,
            window_ms: MINUTE,
        },
    ],
    generate,
};

const CARDS: i64 = 40;
/// Background transactions per card and minute, at most.
const BACKGROUND_CAP: u32 = 3;
const MERCHANTS: &[&str] = &[
    "grocer",
    "bakery",
    "fuel-station",
    "pharmacy",
    "bookshop",
    "cafe",
    "cinema",
    "restaurant",
    "supermarket",
    "online-store",
];
const CITIES: &[&str] = &["Lyon", "Porto", "Berlin", "Oslo", "Madrid", "Milan"];

/// A scripted transaction: card, minute, second, amount, merchant, city.
type Scripted = (&'static str, i64, i64, f64, &'static str, &'static str);

const SCRIPTED: &[Scripted] = &[
    // Large amounts.
    ("card-07", 2, 15, 2499.00, "electronics", "Berlin"),
    ("card-23", 5, 42, 1850.50, "jeweller", "Milan"),
    ("card-31", 7, 5, 1200.00, "travel-agency", "Madrid"),
    // Card testing: small online payments, growing.
    ("card-12", 3, 4, 1.00, "online-store", "Online"),
    ("card-12", 3, 11, 1.50, "online-store", "Online"),
    ("card-12", 3, 19, 2.00, "online-store", "Online"),
    ("card-12", 3, 30, 9.99, "online-store", "Online"),
    ("card-12", 3, 38, 49.99, "online-store", "Online"),
    ("card-12", 3, 51, 99.99, "online-store", "Online"),
    // Many payments in many cities within a minute.
    ("card-35", 6, 8, 120.00, "restaurant", "Lyon"),
    ("card-35", 6, 14, 89.90, "fuel-station", "Porto"),
    ("card-35", 6, 21, 240.00, "supermarket", "Oslo"),
    ("card-35", 6, 27, 64.50, "pharmacy", "Berlin"),
    ("card-35", 6, 33, 310.00, "electronics", "Madrid"),
    ("card-35", 6, 40, 175.25, "bookshop", "Milan"),
    ("card-35", 6, 46, 99.00, "cafe", "Lyon"),
    ("card-35", 6, 52, 1320.00, "jeweller", "Porto"),
    // A near miss: four payments in a minute.
    ("card-18", 4, 5, 35.00, "grocer", "Lyon"),
    ("card-18", 4, 20, 42.00, "bakery", "Lyon"),
    ("card-18", 4, 35, 18.50, "cafe", "Lyon"),
    ("card-18", 4, 50, 60.00, "cinema", "Lyon"),
];

/// Minutes in which a card gets its scripted transactions only.
const QUIET: &[(&str, i64)] = &[("card-12", 3), ("card-35", 6), ("card-18", 4)];

/// The transactions, by time; `txn_id` counts them in that order.
pub fn generate(opts: &GenOptions) -> Vec<Event> {
    let mut rng = Rng::new(opts.seed, 1);
    // (card, minute) -> background transactions so far.
    let mut per_minute: HashMap<(String, i64), u32> = QUIET
        .iter()
        .map(|(card, minute)| ((card.to_string(), *minute), BACKGROUND_CAP))
        .collect();
    let mut rows: Vec<(Event, f64, &str, &str)> = Vec::new();
    let mut t = opts.start + rng.int(1, 3) * 1000;
    while t < opts.end() {
        let minute = (t - opts.start) / MINUTE;
        for _ in 0..CARDS {
            let card = format!("card-{:02}", rng.int(1, CARDS));
            let n = per_minute.entry((card.clone(), minute)).or_insert(0);
            if *n < BACKGROUND_CAP {
                *n += 1;
                let amount = cents(rng.between(3f64.ln(), 400f64.ln()).exp());
                let merchant = rng.pick(MERCHANTS).copied().unwrap_or("grocer");
                let city = rng.pick(CITIES).copied().unwrap_or("Lyon");
                rows.push((event(card, t), amount, merchant, city));
                break;
            }
        }
        t += rng.int(1, 3) * 1000;
    }
    for &(card, minute, second, amount, merchant, city) in SCRIPTED {
        rows.push((
            event(card.to_string(), opts.at(minute, second)),
            amount,
            merchant,
            city,
        ));
    }
    rows.sort_by_key(|r| r.0.time);
    rows.into_iter()
        .enumerate()
        .map(|(i, (mut e, amount, merchant, city))| {
            e.value = json!({
                "txn_id": i + 1,
                "amount": amount,
                "merchant": merchant,
                "city": city,
                "ts": e.time,
            });
            e
        })
        .collect()
}

fn event(card: String, time: i64) -> Event {
    Event {
        key: card,
        value: serde_json::Value::Null,
        time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(e: &Event) -> f64 {
        e.value["amount"].as_f64().unwrap_or(0.0)
    }

    #[test]
    fn only_the_scripted_transactions_trip_the_rules() {
        for seed in [1, 42, 1234] {
            let opts = GenOptions {
                seed,
                ..GenOptions::default()
            };
            let events = generate(&opts);
            let mut large: Vec<&str> = events
                .iter()
                .filter(|e| amount(e) >= 1000.0)
                .map(|e| e.key.as_str())
                .collect();
            large.sort();
            assert_eq!(large, ["card-07", "card-23", "card-31", "card-35"]);
            let mut counts: HashMap<(&str, i64), usize> = HashMap::new();
            for e in &events {
                *counts
                    .entry((e.key.as_str(), (e.time - opts.start) / MINUTE))
                    .or_default() += 1;
            }
            let mut bursts: Vec<((&str, i64), usize)> =
                counts.into_iter().filter(|(_, n)| *n >= 5).collect();
            bursts.sort();
            assert_eq!(bursts, [(("card-12", 3), 6), (("card-35", 6), 8)]);
        }
    }

    #[test]
    fn transaction_ids_follow_time() {
        let events = generate(&GenOptions::default());
        let ids: Vec<u64> = events
            .iter()
            .filter_map(|e| e.value["txn_id"].as_u64())
            .collect();
        assert_eq!(ids, (1..=events.len() as u64).collect::<Vec<_>>());
        assert!(events
            .iter()
            .all(|e| e.value["ts"].as_i64() == Some(e.time)));
    }
}
