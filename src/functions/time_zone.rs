//! Java `ZoneId` time zones (region ids, offsets, common abbreviations) on
//! top of chrono-tz, and instants seen in a zone.

use std::str::FromStr;

use chrono::{FixedOffset, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// A time zone as Java's `ZoneId.of` accepts it: a region id or an offset.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Zone {
    /// A fixed offset such as `+01:00` (or `UTC`, `Z`).
    Fixed(FixedOffset),
    /// A region such as `America/Los_Angeles`.
    Region(Tz),
}

impl Zone {
    /// UTC.
    pub(crate) fn utc() -> Zone {
        Zone::Fixed(Utc.fix())
    }

    /// Parses `UTC`, `Z`, `GMT`, `+01:00`, `-0800`, `UTC+2`, `GMT-03:30`, a
    /// region id, or a common abbreviation (`PST`, `CET`, …).
    pub(crate) fn parse(s: &str) -> Option<Zone> {
        let t = s.trim();
        let upper = t.to_ascii_uppercase();
        if matches!(upper.as_str(), "Z" | "UTC" | "GMT" | "UT") {
            return Some(Zone::utc());
        }
        for prefix in ["UTC", "GMT", "UT"] {
            if let Some(rest) = upper.strip_prefix(prefix) {
                if rest.starts_with('+') || rest.starts_with('-') {
                    return parse_offset(rest).map(Zone::Fixed);
                }
            }
        }
        if t.starts_with('+') || t.starts_with('-') {
            return parse_offset(t).map(Zone::Fixed);
        }
        if let Ok(tz) = Tz::from_str(t) {
            return Some(Zone::Region(tz));
        }
        abbreviation(&upper).map(Zone::Region)
    }

    /// The offset in effect at a UTC instant.
    fn offset_at_utc(&self, utc: &NaiveDateTime) -> FixedOffset {
        match self {
            Zone::Fixed(f) => *f,
            Zone::Region(tz) => tz.offset_from_utc_datetime(utc).fix(),
        }
    }

    /// The UTC instant of a local date-time in this zone (the earlier one in
    /// an overlap, shifted forward in a gap, as Java does).
    pub(crate) fn local_to_utc(&self, local: &NaiveDateTime) -> Option<NaiveDateTime> {
        match self {
            Zone::Fixed(f) => Some(*local - *f),
            Zone::Region(tz) => match tz.from_local_datetime(local) {
                chrono::LocalResult::Single(d) => Some(d.naive_utc()),
                chrono::LocalResult::Ambiguous(a, _) => Some(a.naive_utc()),
                chrono::LocalResult::None => {
                    let later = *local + chrono::Duration::hours(1);
                    tz.from_local_datetime(&later)
                        .earliest()
                        .map(|d| d.naive_utc())
                }
            },
        }
    }

    /// The instant as a zoned date-time for formatting.
    pub(crate) fn zoned(&self, utc: &NaiveDateTime) -> Zoned {
        let offset = self.offset_at_utc(utc);
        let (abbrev, id) = match self {
            Zone::Fixed(f) if f.local_minus_utc() == 0 => ("UTC".to_string(), "Z".to_string()),
            Zone::Fixed(f) => {
                let o = offset_text(f.local_minus_utc(), true, false, "Z");
                (o.clone(), o)
            }
            Zone::Region(tz) => (
                tz.offset_from_utc_datetime(utc).to_string(),
                tz.name().to_string(),
            ),
        };
        Zoned {
            local: *utc + offset,
            offset_secs: offset.local_minus_utc(),
            abbrev,
            id,
        }
    }
}

fn abbreviation(upper: &str) -> Option<Tz> {
    use chrono_tz::*;
    Some(match upper {
        "PST" | "PDT" | "PT" => America::Los_Angeles,
        "MST" | "MDT" | "MT" => America::Denver,
        "CST" | "CDT" | "CT" => America::Chicago,
        "EST" | "EDT" | "ET" => America::New_York,
        "AKST" | "AKDT" => America::Anchorage,
        "HST" => Pacific::Honolulu,
        "BST" => Europe::London,
        "CET" | "CEST" => Europe::Paris,
        "EET" | "EEST" => Europe::Athens,
        "IST" => Asia::Kolkata,
        "JST" => Asia::Tokyo,
        "AEST" | "AEDT" => Australia::Sydney,
        _ => return None,
    })
}

/// Parses `+HH`, `+HHMM`, `+HH:MM`, `+HH:MM:SS` (also `+H`).
pub(crate) fn parse_offset(s: &str) -> Option<FixedOffset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| digits.get(r).and_then(|x| x.parse::<i32>().ok());
    let (h, m, sec) = match digits.len() {
        1 | 2 => (n(0..digits.len())?, 0, 0),
        4 => (n(0..2)?, n(2..4)?, 0),
        6 => (n(0..2)?, n(2..4)?, n(4..6)?),
        _ => return None,
    };
    if h > 18 || m > 59 || sec > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60 + sec))
}

/// An instant seen in a zone.
pub(crate) struct Zoned {
    /// Local date-time.
    pub(crate) local: NaiveDateTime,
    /// Offset from UTC in seconds.
    pub(crate) offset_secs: i32,
    /// Zone abbreviation (`PST`, `UTC`).
    pub(crate) abbrev: String,
    /// Zone id (`America/Los_Angeles`, `Z`, `+01:00`).
    pub(crate) id: String,
}

/// `+HH:MM` style offset text; `colon` for `:`, `secs` to add seconds,
/// `zero` for a zero offset.
pub(crate) fn offset_text(secs: i32, colon: bool, with_secs: bool, zero: &str) -> String {
    if secs == 0 {
        return zero.to_string();
    }
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    let (h, m, s) = (a / 3600, a / 60 % 60, a % 60);
    let sep = if colon { ":" } else { "" };
    let mut t = format!("{sign}{h:02}{sep}{m:02}");
    if with_secs && s != 0 {
        t.push_str(&format!("{sep}{s:02}"));
    }
    t
}
