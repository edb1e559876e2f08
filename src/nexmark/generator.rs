//! The Nexmark event generator: person, auction and bid events as JSON,
//! following the rules of the Beam/Flink Nexmark generator (see
//! `../shared/reference/nexmark.md`).
//!
//! - The kind of event `n` is decided by `n % 50`: 0 → person, 1–3 →
//!   auction, 4–49 → bid (1 : 3 : 46).
//! - Person and auction ids are derived from the event number and start at
//!   1000, so joins find their partners and the stream is reproducible.
//! - Bids refer to one of the last 100 auctions (half of them to the "hot"
//!   auction of the current block of 100) and to one of the last 1000 people
//!   (three quarters of them to a hot bidder); auction sellers likewise.
//! - Categories are 10–14, states one of six US states, prices log-uniform
//!   between 1 and 1,000,000 dollars, in cents.
//! - `extra` pads each event towards an average encoded size (person ~200
//!   bytes, auction ~500, bid ~100); a bid's URL alone is ~60 bytes, so bid
//!   JSON comes out larger than 100 bytes with an empty `extra`.
//! - Event time advances with the event number at a configured rate of
//!   event time (10 million events per second by default), never with the
//!   wall clock; an optional share of events is delayed.
//!
//! Every event is drawn from its own random generator seeded by the seed
//! and the event number, so event `n` is the same whoever generates it and
//! whatever was generated before. Events are written as JSON straight into
//! a caller's reused byte buffer: no `serde_json::Value`, no allocation per
//! event.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Person and auction ids start here.
pub const FIRST_PERSON_ID: u64 = 1000;
/// Auction ids start here.
pub const FIRST_AUCTION_ID: u64 = 1000;
/// The first category; there are [`NUM_CATEGORIES`].
pub const FIRST_CATEGORY_ID: u64 = 10;
/// Categories are `FIRST_CATEGORY_ID..FIRST_CATEGORY_ID + NUM_CATEGORIES`.
pub const NUM_CATEGORIES: u64 = 5;
/// The six US states people live in.
pub const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];

const PERSON_PROPORTION: u64 = 1;
const AUCTION_PROPORTION: u64 = 3;
const PROPORTION_DENOMINATOR: u64 = 50;
const HOT_AUCTION_RATIO: u64 = 100;
const HOT_BIDDER_RATIO: u64 = 100;
const HOT_SELLER_RATIO: u64 = 100;
/// One bid in `HOT_AUCTIONS_SHARE` goes to a random recent auction, the
/// rest to the hot one (Nexmark's `hotAuctionRatio`).
const HOT_AUCTIONS_SHARE: u64 = 2;
const HOT_BIDDERS_SHARE: u64 = 4;
const HOT_SELLERS_SHARE: u64 = 4;
const IN_FLIGHT_AUCTIONS: u64 = 100;
const ACTIVE_PEOPLE: u64 = 1000;
const AUCTION_ID_LEAD: u64 = 10;
const PERSON_ID_LEAD: u64 = 10;
const CHANNELS: usize = 10_000;
const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: [&str; 9] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];
const US_CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
/// Letters for random strings: mostly lower-case letters, a few spaces.
const LETTERS: &[u8; 64] = b"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzetaoinshrd  ";
/// Average encoded sizes the `extra` field pads towards.
const PERSON_BYTES: usize = 200;
const AUCTION_BYTES: usize = 500;
const BID_BYTES: usize = 100;
/// 2023-11-14T22:13:20Z: event time of event 0 unless configured.
const DEFAULT_BASE_TIME_MS: i64 = 1_700_000_000_000;
const SEED_SPREAD: u64 = 0x9E37_79B9_7F4A_7C15;
const DELAY_SALT: u64 = 0xD1B5_4A32_D192_ED03;

/// The kind of a Nexmark event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A person registers.
    Person,
    /// A person opens an auction.
    Auction,
    /// A person bids on an auction.
    Bid,
}

impl EventKind {
    /// All kinds, in discriminator order.
    pub const ALL: [EventKind; 3] = [EventKind::Person, EventKind::Auction, EventKind::Bid];

    /// The kind of event number `n` (`n % 50`: 0 person, 1–3 auction,
    /// 4–49 bid).
    pub fn of(n: u64) -> EventKind {
        let offset = n % PROPORTION_DENOMINATOR;
        if offset < PERSON_PROPORTION {
            EventKind::Person
        } else if offset < PERSON_PROPORTION + AUCTION_PROPORTION {
            EventKind::Auction
        } else {
            EventKind::Bid
        }
    }

    /// The lower-case name (`person`, `auction`, `bid`), also the default
    /// topic name.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Person => "person",
            EventKind::Auction => "auction",
            EventKind::Bid => "bid",
        }
    }

    /// The `event_type` discriminator of the one-topic layout (Flink's
    /// Nexmark: 0 person, 1 auction, 2 bid).
    pub fn discriminator(self) -> u8 {
        match self {
            EventKind::Person => 0,
            EventKind::Auction => 1,
            EventKind::Bid => 2,
        }
    }

    /// Index into per-kind arrays (`ALL` order).
    pub fn index(self) -> usize {
        self.discriminator() as usize
    }

    /// How many of the first `events` events are of this kind.
    pub fn count_in(self, events: u64) -> u64 {
        let full = events / PROPORTION_DENOMINATOR;
        let rest = events % PROPORTION_DENOMINATOR;
        let (lo, hi) = match self {
            EventKind::Person => (0, PERSON_PROPORTION),
            EventKind::Auction => (PERSON_PROPORTION, PERSON_PROPORTION + AUCTION_PROPORTION),
            EventKind::Bid => (
                PERSON_PROPORTION + AUCTION_PROPORTION,
                PROPORTION_DENOMINATOR,
            ),
        };
        full * (hi - lo) + rest.clamp(lo, hi) - lo
    }
}

/// How events are generated.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// Seed: the same seed gives the same events.
    pub seed: u64,
    /// Events per second of event time (not wall time).
    pub event_rate: u64,
    /// Event time of event 0 (epoch ms).
    pub base_time_ms: i64,
    /// Share (0–1) of events whose event time is moved back.
    pub delayed_share: f64,
    /// Delayed events are moved back by 1 to this many milliseconds.
    pub max_delay_ms: u64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 42,
            event_rate: 10_000_000,
            base_time_ms: DEFAULT_BASE_TIME_MS,
            delayed_share: 0.0,
            max_delay_ms: 5_000,
        }
    }
}

/// What was written for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventInfo {
    /// Its kind.
    pub kind: EventKind,
    /// Its event time (epoch ms): the `dateTime` field and the Kafka record
    /// timestamp.
    pub timestamp: i64,
    /// The person id (persons), auction id (auctions) or auction bid on
    /// (bids): the Kafka key of persons and auctions.
    pub id: u64,
}

/// Generates Nexmark events by number.
pub struct Generator {
    config: GeneratorConfig,
    /// Channel names and URLs (4 hot channels, then `channel-<i>`).
    channels: Vec<(String, String)>,
    /// Milliseconds of event time per event, as a fraction `num / den`.
    ms_per_event: (u64, u64),
}

impl Generator {
    /// A generator; precomputes the channel table from the seed.
    pub fn new(config: GeneratorConfig) -> Generator {
        let mut rng = SmallRng::seed_from_u64(config.seed ^ 0x6368_616e_6e65_6c73);
        let mut channels = Vec::with_capacity(HOT_CHANNELS.len() + CHANNELS);
        for name in HOT_CHANNELS {
            channels.push((name.to_string(), base_url(&mut rng)));
        }
        for i in 0..CHANNELS {
            let mut url = base_url(&mut rng);
            let id = (i as i32).reverse_bits().unsigned_abs();
            url.push_str("&channel_id=");
            url.push_str(itoa::Buffer::new().format(id));
            channels.push((format!("channel-{i}"), url));
        }
        let rate = config.event_rate.max(1);
        Generator {
            ms_per_event: (1000, rate),
            config,
            channels,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// The undelayed event time of event `n`.
    pub fn event_time(&self, n: u64) -> i64 {
        let (num, den) = self.ms_per_event;
        let offset = (u128::from(n) * u128::from(num) / u128::from(den)) as i64;
        self.config.base_time_ms.saturating_add(offset)
    }

    /// Appends event `n` as one JSON object to `out` and says what it was.
    /// With `discriminator`, the object starts with `"event_type":0|1|2`
    /// (the one-topic layout).
    pub fn write_event(&self, n: u64, discriminator: bool, out: &mut Vec<u8>) -> EventInfo {
        let mut rng = SmallRng::seed_from_u64(self.config.seed ^ n.wrapping_mul(SEED_SPREAD));
        let kind = EventKind::of(n);
        let timestamp = self.timestamp(n);
        let start = out.len();
        out.push(b'{');
        if discriminator {
            out.extend_from_slice(b"\"event_type\":");
            out.push(b'0' + kind.discriminator());
            out.push(b',');
        }
        let id = match kind {
            EventKind::Person => self.person(n, timestamp, &mut rng, start, out),
            EventKind::Auction => self.auction(n, timestamp, &mut rng, start, out),
            EventKind::Bid => self.bid(n, timestamp, &mut rng, start, out),
        };
        EventInfo {
            kind,
            timestamp,
            id,
        }
    }

    fn timestamp(&self, n: u64) -> i64 {
        let t = self.event_time(n);
        if self.config.delayed_share <= 0.0 {
            return t;
        }
        let mut rng =
            SmallRng::seed_from_u64(self.config.seed ^ DELAY_SALT ^ n.wrapping_mul(SEED_SPREAD));
        if rng.random::<f64>() < self.config.delayed_share {
            let delay = 1 + rng.random_range(0..self.config.max_delay_ms.max(1));
            t.saturating_sub(delay as i64)
        } else {
            t
        }
    }

    fn person(&self, n: u64, ts: i64, rng: &mut SmallRng, start: usize, out: &mut Vec<u8>) -> u64 {
        let id = last_base0_person_id(n) + FIRST_PERSON_ID;
        number(out, b"\"id\":", id);
        out.extend_from_slice(b",\"name\":\"");
        out.extend_from_slice(pick(rng, &FIRST_NAMES).as_bytes());
        out.push(b' ');
        out.extend_from_slice(pick(rng, &LAST_NAMES).as_bytes());
        out.extend_from_slice(b"\",\"emailAddress\":\"");
        word(rng, out, 3, 8);
        out.push(b'@');
        word(rng, out, 3, 6);
        out.extend_from_slice(b".com\",\"creditCard\":\"");
        for group in 0..4 {
            if group > 0 {
                out.push(b' ');
            }
            let digits = rng.random_range(0..10_000u32);
            out.extend_from_slice(&four_digits(digits));
        }
        out.extend_from_slice(b"\",\"city\":\"");
        out.extend_from_slice(pick(rng, &US_CITIES).as_bytes());
        out.extend_from_slice(b"\",\"state\":\"");
        out.extend_from_slice(pick(rng, &US_STATES).as_bytes());
        out.push(b'"');
        signed(out, b",\"dateTime\":", ts);
        extra(rng, out, start, PERSON_BYTES);
        id
    }

    fn auction(&self, n: u64, ts: i64, rng: &mut SmallRng, start: usize, out: &mut Vec<u8>) -> u64 {
        let id = last_base0_auction_id(n) + FIRST_AUCTION_ID;
        let seller = if rng.random_range(0..HOT_SELLERS_SHARE) > 0 {
            (last_base0_person_id(n) / HOT_SELLER_RATIO) * HOT_SELLER_RATIO
        } else {
            next_base0_person_id(n, rng)
        } + FIRST_PERSON_ID;
        let category = FIRST_CATEGORY_ID + rng.random_range(0..NUM_CATEGORIES);
        let initial_bid = price(rng);
        let reserve = initial_bid + price(rng);
        let expires = ts.saturating_add(self.auction_length_ms(n, ts, rng));
        number(out, b"\"id\":", id);
        out.extend_from_slice(b",\"itemName\":\"");
        word(rng, out, 3, 20);
        out.extend_from_slice(b"\",\"description\":\"");
        word(rng, out, 3, 100);
        out.push(b'"');
        number(out, b",\"initialBid\":", initial_bid);
        number(out, b",\"reserve\":", reserve);
        signed(out, b",\"dateTime\":", ts);
        signed(out, b",\"expires\":", expires);
        number(out, b",\"seller\":", seller);
        number(out, b",\"category\":", category);
        extra(rng, out, start, AUCTION_BYTES);
        id
    }

    /// Auctions last about twice as long as it takes for 100 more auctions
    /// to open (Nexmark's `nextAuctionLengthMs`).
    fn auction_length_ms(&self, n: u64, ts: i64, rng: &mut SmallRng) -> i64 {
        let events_for_auctions = IN_FLIGHT_AUCTIONS * PROPORTION_DENOMINATOR / AUCTION_PROPORTION;
        let horizon = self.event_time(n + events_for_auctions) - ts;
        1 + rng.random_range(0..(horizon.max(1) as u64 * 2)) as i64
    }

    fn bid(&self, n: u64, ts: i64, rng: &mut SmallRng, start: usize, out: &mut Vec<u8>) -> u64 {
        let auction = if rng.random_range(0..HOT_AUCTIONS_SHARE) > 0 {
            (last_base0_auction_id(n) / HOT_AUCTION_RATIO) * HOT_AUCTION_RATIO
        } else {
            next_base0_auction_id(n, rng)
        } + FIRST_AUCTION_ID;
        let bidder = if rng.random_range(0..HOT_BIDDERS_SHARE) > 0 {
            (last_base0_person_id(n) / HOT_BIDDER_RATIO) * HOT_BIDDER_RATIO + 1
        } else {
            next_base0_person_id(n, rng)
        } + FIRST_PERSON_ID;
        let price = price(rng);
        let channel = if rng.random_range(0..2u32) > 0 {
            rng.random_range(0..HOT_CHANNELS.len())
        } else {
            HOT_CHANNELS.len() + rng.random_range(0..CHANNELS)
        };
        let (channel, url) = match self.channels.get(channel) {
            Some((c, u)) => (c.as_str(), u.as_str()),
            None => ("", ""),
        };
        number(out, b"\"auction\":", auction);
        number(out, b",\"bidder\":", bidder);
        number(out, b",\"price\":", price);
        out.extend_from_slice(b",\"channel\":\"");
        out.extend_from_slice(channel.as_bytes());
        out.extend_from_slice(b"\",\"url\":\"");
        out.extend_from_slice(url.as_bytes());
        out.push(b'"');
        signed(out, b",\"dateTime\":", ts);
        extra(rng, out, start, BID_BYTES);
        auction
    }
}

/// How many people registered before event `n`, minus one (base 0).
fn last_base0_person_id(n: u64) -> u64 {
    let epoch = n / PROPORTION_DENOMINATOR;
    let offset = n % PROPORTION_DENOMINATOR;
    let within = if offset >= PERSON_PROPORTION {
        PERSON_PROPORTION - 1
    } else {
        offset
    };
    epoch * PERSON_PROPORTION + within
}

/// How many auctions opened before event `n`, minus one (base 0).
fn last_base0_auction_id(n: u64) -> u64 {
    let epoch = n / PROPORTION_DENOMINATOR;
    let offset = n % PROPORTION_DENOMINATOR;
    let offset = if offset < PERSON_PROPORTION {
        // Before this epoch's auctions: the last auction of the previous one.
        return (epoch * AUCTION_PROPORTION).saturating_sub(1);
    } else if offset < PERSON_PROPORTION + AUCTION_PROPORTION {
        offset - PERSON_PROPORTION
    } else {
        AUCTION_PROPORTION - 1
    };
    epoch * AUCTION_PROPORTION + offset
}

/// One of the last 1000 people, or one about to register.
fn next_base0_person_id(n: u64, rng: &mut SmallRng) -> u64 {
    let people = last_base0_person_id(n) + 1;
    let active = people.min(ACTIVE_PEOPLE);
    let pick = rng.random_range(0..active + PERSON_ID_LEAD);
    people - active + pick
}

/// One of the last 100 auctions, or one about to open.
fn next_base0_auction_id(n: u64, rng: &mut SmallRng) -> u64 {
    let max = last_base0_auction_id(n);
    let min = max.saturating_sub(IN_FLIGHT_AUCTIONS);
    min + rng.random_range(0..max - min + 1 + AUCTION_ID_LEAD)
}

/// A price in cents, log-uniform between 1 and 1,000,000 dollars.
fn price(rng: &mut SmallRng) -> u64 {
    (10f64.powf(rng.random::<f64>() * 6.0) * 100.0).round() as u64
}

fn pick<'a>(rng: &mut SmallRng, items: &[&'a str]) -> &'a str {
    items
        .get(rng.random_range(0..items.len()))
        .copied()
        .unwrap_or("")
}

/// Appends a random word of `min..max` letters.
fn word(rng: &mut SmallRng, out: &mut Vec<u8>, min: usize, max: usize) {
    let len = rng.random_range(min..max);
    letters(rng, out, len);
}

/// Appends `len` random letters (10 per 64-bit draw).
fn letters(rng: &mut SmallRng, out: &mut Vec<u8>, len: usize) {
    let mut left = len;
    while left > 0 {
        let mut bits: u64 = rng.random();
        for _ in 0..left.min(10) {
            out.push(LETTERS[(bits & 63) as usize]);
            bits >>= 6;
        }
        left -= left.min(10);
    }
}

/// `https://www.nexmark.com/<a>/<b>/<c>/item.htm?query=1` with short random
/// path parts of letters and `_` (Nexmark's `getBaseUrl`).
fn base_url(rng: &mut SmallRng) -> String {
    let mut url = String::from("https://www.nexmark.com/");
    for _ in 0..3 {
        let len = 1 + rng.random_range(0..5);
        for _ in 0..len {
            let c = LETTERS[rng.random_range(0..LETTERS.len())];
            url.push(if c == b' ' { '_' } else { char::from(c) });
        }
        url.push('/');
    }
    url.push_str("item.htm?query=1");
    url
}

/// The `extra` member, closing the object: pads the event towards `target`
/// bytes on average (±20%), empty when it is already that large.
fn extra(rng: &mut SmallRng, out: &mut Vec<u8>, start: usize, target: usize) {
    const MEMBER: &[u8] = b",\"extra\":\"";
    let size = out.len() - start + MEMBER.len() + 2;
    out.extend_from_slice(MEMBER);
    if size < target {
        let wanted = target - size;
        let delta = (wanted as f64 * 0.2).round() as usize;
        let len = wanted - delta + rng.random_range(0..2 * delta + 1);
        letters(rng, out, len);
    }
    out.extend_from_slice(b"\"}");
}

fn number(out: &mut Vec<u8>, member: &[u8], value: u64) {
    out.extend_from_slice(member);
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

fn signed(out: &mut Vec<u8>, member: &[u8], value: i64) {
    out.extend_from_slice(member);
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Four decimal digits with leading zeros.
fn four_digits(v: u32) -> [u8; 4] {
    [
        b'0' + (v / 1000 % 10) as u8,
        b'0' + (v / 100 % 10) as u8,
        b'0' + (v / 10 % 10) as u8,
        b'0' + (v % 10) as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_kind_match_the_proportions() {
        for events in [0, 1, 3, 4, 5, 49, 50, 51, 104, 1000, 12_345] {
            for kind in EventKind::ALL {
                let counted = (0..events).filter(|&n| EventKind::of(n) == kind).count() as u64;
                assert_eq!(kind.count_in(events), counted, "{kind:?} in {events}");
            }
        }
    }

    #[test]
    fn ids_follow_the_event_number() {
        // Event 0 is person 1000, events 1-3 auctions 1000-1002, event 50
        // person 1001, event 51 auction 1003.
        assert_eq!(last_base0_person_id(0), 0);
        assert_eq!(last_base0_person_id(50), 1);
        assert_eq!(last_base0_auction_id(1), 0);
        assert_eq!(last_base0_auction_id(3), 2);
        assert_eq!(last_base0_auction_id(4), 2);
        assert_eq!(last_base0_auction_id(50), 2);
        assert_eq!(last_base0_auction_id(51), 3);
    }

    #[test]
    fn event_time_advances_with_the_event_number() {
        let g = Generator::new(GeneratorConfig {
            event_rate: 1000,
            ..GeneratorConfig::default()
        });
        assert_eq!(g.event_time(0), DEFAULT_BASE_TIME_MS);
        assert_eq!(g.event_time(1500), DEFAULT_BASE_TIME_MS + 1500);
    }
}
