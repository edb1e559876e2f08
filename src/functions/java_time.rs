//! Java `DateTimeFormatter` patterns (as ksqlDB's date and time functions
//! take them), on top of chrono; zones are in [`super::time_zone`].
//!
//! Supported letters: `G u y Y D M L d Q q E e c a h K k H m s S A n N V z O
//! X x Z`, quoted literals (`'T'`, `''`) and optional sections `[ ]`.
//! Parsing is case-insensitive for text and fills fields the pattern lacks
//! with 1970-01-01T00:00:00.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

use super::time_zone::{offset_text, parse_offset};
pub(crate) use super::time_zone::{Zone, Zoned};

/// One element of a pattern.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Lit(String),
    Field(char, usize),
    OptStart,
    OptEnd,
}

/// A compiled Java `DateTimeFormatter` pattern.
#[derive(Debug, Clone)]
pub(crate) struct JavaFormat {
    items: Vec<Item>,
}

const LETTERS: &str = "GuyYDMLdQqEecaFhKkHmsSAnNVzOXxZwW";

impl JavaFormat {
    /// Compiles a pattern; an error names what is wrong with it.
    pub(crate) fn compile(pattern: &str) -> Result<JavaFormat, String> {
        let cs: Vec<char> = pattern.chars().collect();
        let mut items = Vec::new();
        let mut i = 0;
        let mut depth = 0;
        while i < cs.len() {
            let c = cs[i];
            if c == '\'' {
                let mut lit = String::new();
                i += 1;
                if i < cs.len() && cs[i] == '\'' {
                    items.push(Item::Lit("'".into()));
                    i += 1;
                    continue;
                }
                loop {
                    match cs.get(i) {
                        None => return Err(format!("unterminated quote in pattern '{pattern}'")),
                        Some('\'') if cs.get(i + 1) == Some(&'\'') => {
                            lit.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(x) => {
                            lit.push(*x);
                            i += 1;
                        }
                    }
                }
                items.push(Item::Lit(lit));
            } else if c == '[' {
                depth += 1;
                items.push(Item::OptStart);
                i += 1;
            } else if c == ']' {
                if depth == 0 {
                    return Err(format!("unmatched ']' in pattern '{pattern}'"));
                }
                depth -= 1;
                items.push(Item::OptEnd);
                i += 1;
            } else if c.is_ascii_alphabetic() {
                if !LETTERS.contains(c) {
                    return Err(format!("unknown pattern letter '{c}' in '{pattern}'"));
                }
                let mut n = 1;
                while cs.get(i + n) == Some(&c) {
                    n += 1;
                }
                items.push(Item::Field(c, n));
                i += n;
            } else {
                items.push(Item::Lit(c.to_string()));
                i += 1;
            }
        }
        Ok(JavaFormat { items })
    }

    /// Formats a zoned instant.
    pub(crate) fn format(&self, z: &Zoned) -> String {
        let mut out = String::new();
        for item in &self.items {
            match item {
                Item::Lit(s) => out.push_str(s),
                Item::OptStart | Item::OptEnd => {}
                Item::Field(c, n) => format_field(&mut out, *c, *n, z),
            }
        }
        out
    }

    /// Parses the start of `text` into fields; text after the pattern is
    /// ignored (ksqlDB's PARSE_DATE reads `2003-12-24-01-01` as a date).
    pub(crate) fn parse_prefix(&self, text: &str) -> Result<Fields, String> {
        let cs: Vec<char> = text.chars().collect();
        let mut f = Fields::default();
        parse_items(&self.items, &cs, 0, &mut f)
            .ok_or_else(|| format!("Text '{text}' could not be parsed"))?;
        Ok(f)
    }

    /// Parses text into fields; the whole text must be consumed.
    pub(crate) fn parse(&self, text: &str) -> Result<Fields, String> {
        let cs: Vec<char> = text.chars().collect();
        let mut f = Fields::default();
        let pos = parse_items(&self.items, &cs, 0, &mut f)
            .ok_or_else(|| format!("Text '{text}' could not be parsed"))?;
        if pos != cs.len() {
            return Err(format!(
                "Text '{text}' could not be parsed, unparsed text found at index {pos}"
            ));
        }
        Ok(f)
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn pad(out: &mut String, v: i64, width: usize) {
    if v < 0 {
        out.push('-');
    }
    out.push_str(&format!("{:0width$}", v.unsigned_abs(), width = width));
}

fn text(out: &mut String, full: &str, n: usize) {
    match n {
        4 => out.push_str(full),
        5 => out.extend(full.chars().take(1)),
        _ => out.extend(full.chars().take(3)),
    }
}

fn format_field(out: &mut String, c: char, n: usize, z: &Zoned) {
    let d = &z.local;
    let hour = d.hour() as i64;
    match c {
        'G' => out.push_str(if n == 4 { "Anno Domini" } else { "AD" }),
        'y' | 'u' | 'Y' => {
            let y = d.year() as i64;
            if n == 2 {
                pad(out, y.rem_euclid(100), 2)
            } else {
                pad(out, y, n)
            }
        }
        'D' => pad(out, d.ordinal() as i64, n),
        'M' | 'L' if n >= 3 => text(out, MONTHS[d.month0() as usize], n),
        'M' | 'L' => pad(out, d.month() as i64, n),
        'd' => pad(out, d.day() as i64, n),
        'Q' | 'q' if n >= 3 => {
            let q = d.month0() / 3 + 1;
            out.push_str(&if n == 4 {
                format!("{q}{} quarter", ["st", "nd", "rd", "th"][q as usize - 1])
            } else {
                format!("Q{q}")
            });
        }
        'Q' | 'q' => pad(out, (d.month0() / 3 + 1) as i64, n),
        'E' => text(
            out,
            DAYS[d.weekday().num_days_from_monday() as usize],
            n.max(3),
        ),
        'e' | 'c' if n >= 3 => text(out, DAYS[d.weekday().num_days_from_monday() as usize], n),
        'e' | 'c' => pad(out, d.weekday().number_from_sunday() as i64, n),
        'F' => pad(out, ((d.day() - 1) / 7 + 1) as i64, n),
        'w' => pad(out, d.iso_week().week() as i64, n),
        'W' => pad(
            out,
            ((d.day() + 6 - d.weekday().num_days_from_monday()) / 7) as i64,
            n,
        ),
        'a' => out.push_str(if hour < 12 { "AM" } else { "PM" }),
        'h' => pad(out, if hour % 12 == 0 { 12 } else { hour % 12 }, n),
        'K' => pad(out, hour % 12, n),
        'k' => pad(out, if hour == 0 { 24 } else { hour }, n),
        'H' => pad(out, hour, n),
        'm' => pad(out, d.minute() as i64, n),
        's' => pad(out, d.second() as i64, n),
        'S' => {
            let nanos = format!("{:09}", d.nanosecond() % 1_000_000_000);
            out.push_str(&nanos[..n.min(9)]);
            for _ in 9..n {
                out.push('0');
            }
        }
        'A' => pad(
            out,
            d.num_seconds_from_midnight() as i64 * 1000 + (d.nanosecond() / 1_000_000) as i64,
            n,
        ),
        'n' => pad(out, d.nanosecond() as i64, n),
        'N' => pad(
            out,
            d.num_seconds_from_midnight() as i64 * 1_000_000_000 + d.nanosecond() as i64,
            n,
        ),
        'V' => out.push_str(&z.id),
        'z' => out.push_str(&z.abbrev),
        'O' => {
            let t = offset_text(z.offset_secs, true, false, "");
            if t.is_empty() {
                out.push_str("GMT");
            } else if n == 4 {
                out.push_str(&format!("GMT{t}"));
            } else {
                let t = t.trim_end_matches(":00");
                let t = t.replacen("+0", "+", 1).replacen("-0", "-", 1);
                out.push_str(&format!("GMT{t}"));
            }
        }
        'X' | 'x' => {
            let zero = if c == 'X' {
                "Z"
            } else if n == 1 {
                "+00"
            } else if n % 2 == 1 {
                "+00:00"
            } else {
                "+0000"
            };
            let t = match n {
                1 => {
                    let t = offset_text(z.offset_secs, false, false, zero);
                    if z.offset_secs % 3600 == 0 && t != zero {
                        t[..3].to_string()
                    } else {
                        t
                    }
                }
                2 | 4 => offset_text(z.offset_secs, false, n == 4, zero),
                _ => offset_text(z.offset_secs, true, n == 5, zero),
            };
            out.push_str(&t);
        }
        'Z' => match n {
            4 => {
                let t = offset_text(z.offset_secs, true, true, "");
                out.push_str(&format!("GMT{t}"));
            }
            5 => out.push_str(&offset_text(z.offset_secs, true, true, "Z")),
            _ => out.push_str(&offset_text(z.offset_secs, false, true, "+0000")),
        },
        _ => {}
    }
}

/// Fields read by parsing; absent ones default when resolved.
#[derive(Debug, Default, Clone)]
pub(crate) struct Fields {
    year: Option<i32>,
    two_digit_year: bool,
    month: Option<u32>,
    day: Option<u32>,
    day_of_year: Option<u32>,
    hour: Option<u32>,
    hour12: Option<u32>,
    pm: Option<bool>,
    minute: Option<u32>,
    second: Option<u32>,
    nano: Option<u32>,
    milli_of_day: Option<u32>,
    /// A parsed offset or zone.
    pub(crate) zone: Option<Zone>,
}

impl Fields {
    /// The local date (1970-01-01 for absent fields).
    pub(crate) fn date(&self) -> Option<NaiveDate> {
        let mut year = self.year.unwrap_or(1970);
        if self.two_digit_year {
            year += 2000;
        }
        if let Some(doy) = self.day_of_year {
            return NaiveDate::from_yo_opt(year, doy);
        }
        NaiveDate::from_ymd_opt(year, self.month.unwrap_or(1), self.day.unwrap_or(1))
    }

    /// The local time of day (midnight for absent fields).
    pub(crate) fn time(&self) -> Option<NaiveTime> {
        if let Some(ms) = self.milli_of_day {
            return NaiveTime::from_num_seconds_from_midnight_opt(
                ms / 1000,
                (ms % 1000) * 1_000_000,
            );
        }
        let hour = match (self.hour, self.hour12, self.pm) {
            (Some(h), _, _) => h % 24,
            (None, Some(h), pm) => h % 12 + if pm == Some(true) { 12 } else { 0 },
            (None, None, Some(true)) => 12,
            _ => 0,
        };
        NaiveTime::from_hms_nano_opt(
            hour,
            self.minute.unwrap_or(0),
            self.second.unwrap_or(0),
            self.nano.unwrap_or(0),
        )
    }

    /// The local date-time.
    pub(crate) fn datetime(&self) -> Option<NaiveDateTime> {
        Some(NaiveDateTime::new(self.date()?, self.time()?))
    }

    /// The UTC instant, using the parsed zone or else `default`.
    pub(crate) fn instant(&self, default: &Zone) -> Option<NaiveDateTime> {
        self.zone
            .as_ref()
            .unwrap_or(default)
            .local_to_utc(&self.datetime()?)
    }
}

fn is_numeric_item(item: Option<&Item>) -> bool {
    match item {
        Some(Item::Field(c, n)) => match c {
            'M' | 'L' | 'Q' | 'q' | 'e' | 'c' => *n < 3,
            'G' | 'E' | 'a' | 'V' | 'z' | 'O' | 'X' | 'x' | 'Z' => false,
            _ => true,
        },
        _ => false,
    }
}

/// Reads digits: exactly `width` if `fixed`, else `min..=max` greedily.
fn digits(cs: &[char], pos: usize, min: usize, max: usize) -> Option<(i64, usize)> {
    let mut end = pos;
    while end < cs.len() && end - pos < max && cs[end].is_ascii_digit() {
        end += 1;
    }
    if end - pos < min {
        return None;
    }
    let s: String = cs[pos..end].iter().collect();
    s.parse().ok().map(|v| (v, end))
}

fn match_text(cs: &[char], pos: usize, options: &[String]) -> Option<(usize, usize)> {
    // Longest match first, case-insensitively.
    let mut best: Option<(usize, usize)> = None;
    for (idx, o) in options.iter().enumerate() {
        let len = o.chars().count();
        if pos + len <= cs.len() {
            let s: String = cs[pos..pos + len].iter().collect();
            if s.eq_ignore_ascii_case(o) && best.is_none_or(|(_, l)| len > l) {
                best = Some((idx, len));
            }
        }
    }
    best.map(|(i, l)| (i, pos + l))
}

fn names(list: &[&str], n: usize) -> Vec<String> {
    list.iter()
        .map(|s| match n {
            4 => s.to_string(),
            5 => s.chars().take(1).collect(),
            _ => s.chars().take(3).collect(),
        })
        .collect()
}

fn parse_items(items: &[Item], cs: &[char], mut pos: usize, f: &mut Fields) -> Option<usize> {
    let mut i = 0;
    while i < items.len() {
        match &items[i] {
            Item::Lit(l) => {
                for lc in l.chars() {
                    if cs.get(pos).map(|c| c.eq_ignore_ascii_case(&lc)) != Some(true) {
                        return None;
                    }
                    pos += 1;
                }
            }
            Item::OptEnd => {}
            Item::OptStart => {
                // Find the matching end; try the section, skip it on failure.
                let mut depth = 0;
                let mut j = i;
                while j < items.len() {
                    match items[j] {
                        Item::OptStart => depth += 1,
                        Item::OptEnd => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                let mut trial = f.clone();
                if let Some(p) = parse_items(&items[i + 1..j.min(items.len())], cs, pos, &mut trial)
                {
                    *f = trial;
                    pos = p;
                }
                i = j + 1;
                continue;
            }
            Item::Field(c, n) => {
                let adjacent = is_numeric_item(items.get(i + 1));
                pos = parse_field(*c, *n, cs, pos, adjacent, f)?;
            }
        }
        i += 1;
    }
    Some(pos)
}

fn parse_field(
    c: char,
    n: usize,
    cs: &[char],
    pos: usize,
    adjacent: bool,
    f: &mut Fields,
) -> Option<usize> {
    // Width of a numeric field: fixed for n >= 2 (years: n or more), 1-2
    // digits for n == 1; a field followed by another numeric one takes
    // exactly its count.
    let num = |min: usize, max: usize| -> Option<(i64, usize)> {
        if adjacent || n >= 2 {
            digits(cs, pos, n.max(min), n.max(min))
        } else {
            digits(cs, pos, 1, max)
        }
    };
    let u = |v: i64| u32::try_from(v).ok();
    match c {
        'G' => {
            let (_, p) = match_text(cs, pos, &["AD".into(), "Anno Domini".into(), "BC".into()])?;
            return Some(p);
        }
        'y' | 'u' | 'Y' => {
            let (v, p) = if n == 2 {
                digits(cs, pos, 2, 2)?
            } else if adjacent {
                digits(cs, pos, n.max(4), n.max(4))?
            } else {
                digits(cs, pos, n, 10)?
            };
            f.year = Some(i32::try_from(v).ok()?);
            f.two_digit_year = n == 2;
            return Some(p);
        }
        'M' | 'L' if n >= 3 => {
            let (m, p) = match_text(cs, pos, &names(&MONTHS, n))?;
            f.month = Some(m as u32 + 1);
            return Some(p);
        }
        'E' | 'e' | 'c' if c == 'E' || n >= 3 => {
            let (_, p) = match_text(cs, pos, &names(&DAYS, n.max(3)))?;
            return Some(p);
        }
        'a' => {
            let (k, p) = match_text(cs, pos, &["AM".into(), "PM".into()])?;
            f.pm = Some(k == 1);
            return Some(p);
        }
        'V' | 'z' => {
            // The longest zone id / abbreviation made of id characters.
            let mut end = pos;
            while end < cs.len() && (cs[end].is_ascii_alphanumeric() || "/_+-:".contains(cs[end])) {
                end += 1;
            }
            while end > pos {
                let s: String = cs[pos..end].iter().collect();
                if let Some(z) = Zone::parse(&s) {
                    f.zone = Some(z);
                    return Some(end);
                }
                end -= 1;
            }
            return None;
        }
        'O' | 'X' | 'x' | 'Z' => {
            if matches!(cs.get(pos), Some('Z' | 'z')) && c != 'O' {
                f.zone = Some(Zone::utc());
                return Some(pos + 1);
            }
            let mut p = pos;
            if c == 'O' || (c == 'Z' && n == 4) {
                let (_, q) = match_text(cs, pos, &["GMT".into()])?;
                p = q;
                if !matches!(cs.get(p), Some('+' | '-')) {
                    f.zone = Some(Zone::utc());
                    return Some(p);
                }
            }
            let mut end = p + 1;
            while end < cs.len() && end - p <= 9 && (cs[end].is_ascii_digit() || cs[end] == ':') {
                end += 1;
            }
            while end > p + 1 {
                let s: String = cs[p..end].iter().collect();
                if let Some(o) = parse_offset(&s) {
                    f.zone = Some(Zone::Fixed(o));
                    return Some(end);
                }
                end -= 1;
            }
            return None;
        }
        _ => {}
    }
    let (v, p) = match c {
        'S' => digits(cs, pos, n, n)?,
        'D' => num(1, 3)?,
        'A' | 'n' | 'N' => num(1, 19)?,
        _ => num(1, 2)?,
    };
    match c {
        'D' => f.day_of_year = u(v),
        'M' | 'L' => f.month = u(v),
        'd' => f.day = u(v),
        'Q' | 'q' | 'e' | 'c' | 'F' | 'w' | 'W' => {}
        'h' | 'K' => f.hour12 = u(v),
        'k' => f.hour = u(v % 24),
        'H' => f.hour = u(v),
        'm' => f.minute = u(v),
        's' => f.second = u(v),
        'S' => f.nano = u(v * 10i64.pow(9u32.saturating_sub(n as u32))),
        'A' => f.milli_of_day = u(v),
        'n' => f.nano = u(v),
        _ => {}
    }
    Some(p)
}

/// Epoch milliseconds to a UTC date-time.
pub(crate) fn utc_of_millis(ms: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp_millis(ms).map(|d| d.naive_utc())
}

/// A UTC date-time to epoch milliseconds.
pub(crate) fn millis_of_utc(d: &NaiveDateTime) -> i64 {
    d.and_utc().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(pattern: &str, ms: i64, zone: &str) -> String {
        let f = JavaFormat::compile(pattern).unwrap_or_else(|e| panic!("{e}"));
        let z = Zone::parse(zone).unwrap_or_else(|| panic!("zone {zone}"));
        f.format(&z.zoned(&utc_of_millis(ms).unwrap_or_default()))
    }

    fn parse(pattern: &str, text: &str, zone: &str) -> Option<i64> {
        let f = JavaFormat::compile(pattern).ok()?;
        let z = Zone::parse(zone)?;
        f.parse(text).ok()?.instant(&z).map(|d| millis_of_utc(&d))
    }

    // 2021-03-04T05:06:07.089Z
    const T: i64 = 1_614_834_367_089;

    #[test]
    fn formats_common_patterns() {
        assert_eq!(
            fmt("yyyy-MM-dd HH:mm:ss.SSS", T, "UTC"),
            "2021-03-04 05:06:07.089"
        );
        assert_eq!(
            fmt("yyyy-MM-dd'T'HH:mm:ssX", T, "UTC"),
            "2021-03-04T05:06:07Z"
        );
        assert_eq!(
            fmt("yyyy-MM-dd'T'HH:mm:ssXXX", T, "+05:30"),
            "2021-03-04T10:36:07+05:30"
        );
        assert_eq!(
            fmt("d MMM yy h:mm a", T, "America/Los_Angeles"),
            "3 Mar 21 9:06 PM"
        );
        assert_eq!(fmt("EEEE, MMMM d", T, "UTC"), "Thursday, March 4");
        assert_eq!(fmt("HH:mm z", T, "America/New_York"), "00:06 EST");
        assert_eq!(fmt("Z", T, "-08:00"), "-0800");
        assert_eq!(fmt("''yy''", T, "UTC"), "'21'");
    }

    #[test]
    fn parses_common_patterns() {
        assert_eq!(
            parse("yyyy-MM-dd HH:mm:ss.SSS", "2021-03-04 05:06:07.089", "UTC"),
            Some(T)
        );
        assert_eq!(
            parse(
                "yyyy-MM-dd'T'HH:mm:ss.SSSX",
                "2021-03-04T05:06:07.089Z",
                "+03:00"
            ),
            Some(T)
        );
        assert_eq!(
            parse(
                "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
                "2021-03-04T07:06:07.089+02:00",
                "UTC"
            ),
            Some(T)
        );
        assert_eq!(
            parse("yyyyMMddHHmmssSSS", "20210304050607089", "UTC"),
            Some(T)
        );
        assert_eq!(
            parse(
                "yyyy-MM-dd HH:mm:ss.SSS",
                "2021-03-03 21:06:07.089",
                "America/Los_Angeles"
            ),
            Some(T)
        );
        assert_eq!(
            parse(
                "yyyy-MM-dd HH:mm:ss.SSS zzz",
                "2021-03-03 21:06:07.089 PST",
                "UTC"
            ),
            Some(T)
        );
        assert_eq!(parse("yyyy-MM-dd", "1970-01-02", "UTC"), Some(86_400_000));
        assert_eq!(
            parse("yyyy-MM-dd[ HH:mm]", "1970-01-02", "UTC"),
            Some(86_400_000)
        );
        assert_eq!(
            parse("yyyy-MM-dd[ HH:mm]", "1970-01-02 00:01", "UTC"),
            Some(86_460_000)
        );
        assert_eq!(parse("yyyy-MM-dd", "1970-01-02x", "UTC"), None);
        assert_eq!(parse("yyyy-MM-dd", "1970-13-02", "UTC"), None);
    }

    #[test]
    fn zones() {
        assert!(Zone::parse("Europe/Berlin").is_some());
        assert!(Zone::parse("GMT+2").is_some());
        assert!(Zone::parse("+0130").is_some());
        assert!(Zone::parse("Mars/Olympus").is_none());
        assert!(JavaFormat::compile("yyyy-bb").is_err());
    }
}
