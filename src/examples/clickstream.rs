//! Clickstream: the page views of ten users on a shop's web site.
//!
//! Background: eight users (`carol` … `judy`) visit in sessions of two to
//! eight pages, seconds to a minute and a half apart, with more than five
//! minutes (the session gap of `examples/clickstream/pipeline.sql`)
//! between their sessions. Scripted:
//!
//! - `alice` buys something (five pages, 09:00:30 to 09:03:20) and comes
//!   back 5 minutes 10 seconds later to read the blog: two sessions;
//! - `bob` pauses for 4 minutes 50 seconds between two pages: one session.

use serde_json::json;

use super::rng::Rng;
use super::{sort_by_time, Event, GenOptions, Output, OutputKind, Scenario, SECOND};

/// The clickstream scenario.
pub const SCENARIO: Scenario = Scenario {
    name: "clickstream",
    summary: "page views; sessions per user (5 minutes of inactivity end one) and page counts \
              per user",
    pipeline: include_str!("../../examples/clickstream/pipeline.sql"),
    input_topic: "clicks",
    outputs: &[
        Output {
            topic: "USER_SESSIONS",
            kind: OutputKind::SessionWindowed,
            window_ms: 0,
        },
        Output {
            topic: "USER_ACTIVITY",
            kind: OutputKind::Table,
            window_ms: 0,
        },
    ],
    generate,
};

const USERS: &[&str] = &[
    "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
];
const ENTRY_PAGES: &[&str] = &["/home", "/home", "/search", "/blog/streaming-sql"];
const PAGES: &[&str] = &[
    "/search",
    "/products/7",
    "/products/12",
    "/products/42",
    "/products/99",
    "/cart",
    "/checkout",
    "/help",
    "/home",
];

/// Scripted page views: user, minute, second, page.
const SCRIPTED: &[(&str, i64, i64, &str)] = &[
    ("alice", 0, 30, "/home"),
    ("alice", 1, 10, "/search"),
    ("alice", 1, 45, "/products/42"),
    ("alice", 2, 40, "/cart"),
    ("alice", 3, 20, "/checkout"),
    ("alice", 8, 30, "/home"),
    ("alice", 8, 45, "/blog/streaming-sql"),
    ("bob", 0, 5, "/home"),
    ("bob", 4, 55, "/search"),
    ("bob", 5, 20, "/products/7"),
    ("bob", 5, 40, "/help"),
];

/// The page views, by time.
pub fn generate(opts: &GenOptions) -> Vec<Event> {
    let mut events: Vec<Event> = SCRIPTED
        .iter()
        .map(|&(user, minute, second, page)| click(user, page, opts.at(minute, second)))
        .collect();
    for (i, user) in USERS.iter().enumerate() {
        let mut rng = Rng::new(opts.seed, 100 + i as u64);
        let mut t = opts.start + rng.int(0, 120) * SECOND;
        while t < opts.end() {
            let pages = rng.int(2, 8);
            let mut page = rng.pick(ENTRY_PAGES).copied().unwrap_or("/home");
            for _ in 0..pages {
                if t >= opts.end() {
                    break;
                }
                events.push(click(user, page, t));
                page = rng.pick(PAGES).copied().unwrap_or("/home");
                t += rng.int(5, 90) * SECOND;
            }
            // More than the 5-minute session gap before the next visit.
            t += rng.int(330, 600) * SECOND;
        }
    }
    sort_by_time(&mut events);
    events
}

fn click(user: &str, page: &str, time: i64) -> Event {
    Event {
        key: user.to_string(),
        value: json!({ "page": page, "ts": time }),
        time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sessions per user, by a 5-minute gap: (user, first, last, pages).
    fn sessions(events: &[Event]) -> Vec<(String, i64, i64, usize)> {
        let mut out: Vec<(String, i64, i64, usize)> = Vec::new();
        let mut users: Vec<&str> = events.iter().map(|e| e.key.as_str()).collect();
        users.sort();
        users.dedup();
        for user in users {
            let mut current: Option<(i64, i64, usize)> = None;
            for e in events.iter().filter(|e| e.key == user) {
                current = match current {
                    Some((first, last, n)) if e.time - last <= 300 * SECOND => {
                        Some((first, e.time, n + 1))
                    }
                    Some((first, last, n)) => {
                        out.push((user.to_string(), first, last, n));
                        Some((e.time, e.time, 1))
                    }
                    None => Some((e.time, e.time, 1)),
                };
            }
            if let Some((first, last, n)) = current {
                out.push((user.to_string(), first, last, n));
            }
        }
        out
    }

    #[test]
    fn alice_has_two_sessions_and_bob_one() {
        for seed in [1, 42] {
            let opts = GenOptions {
                seed,
                ..GenOptions::default()
            };
            let all = sessions(&generate(&opts));
            let of = |u: &str| -> Vec<(i64, i64, usize)> {
                all.iter()
                    .filter(|s| s.0 == u)
                    .map(|s| (s.1, s.2, s.3))
                    .collect()
            };
            assert_eq!(
                of("alice"),
                [
                    (opts.at(0, 30), opts.at(3, 20), 5),
                    (opts.at(8, 30), opts.at(8, 45), 2)
                ]
            );
            assert_eq!(of("bob"), [(opts.at(0, 5), opts.at(5, 40), 4)]);
            // Every background user has at least one session of two pages
            // or more.
            for user in USERS {
                assert!(of(user).iter().any(|s| s.2 >= 2), "{user}");
            }
        }
    }
}
