//! ksqlDB's "magic" timestamps: a string compared with `ROWTIME`,
//! `WINDOWSTART` or `WINDOWEND` is a point in time, written as a (possibly
//! partial) ISO-8601 timestamp, e.g. `WHERE ROWTIME > '2018-01-01T00:00'`
//! or `'2019-01-01T00:00:00+0445'`. Missing fields are their first value,
//! the zone is UTC unless given.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, Value};

use super::expr::column_ref;
use crate::error::{Error, Result};

/// The columns holding epoch milliseconds that strings compare with.
const TIME_COLUMNS: [&str; 3] = ["ROWTIME", "WINDOWSTART", "WINDOWEND"];

fn is_time_column(e: &Expr) -> bool {
    column_ref(e).is_some_and(|c| TIME_COLUMNS.contains(&c))
}

/// Replaces string literals compared with a time column by their epoch
/// milliseconds.
pub(crate) fn rewrite(e: &mut Expr) -> Result<()> {
    match e {
        Expr::BinaryOp {
            left,
            op:
                BinaryOperator::Eq
                | BinaryOperator::NotEq
                | BinaryOperator::Lt
                | BinaryOperator::LtEq
                | BinaryOperator::Gt
                | BinaryOperator::GtEq,
            right,
        } => {
            if is_time_column(left) {
                to_millis(right)?;
            } else if is_time_column(right) {
                to_millis(left)?;
            }
        }
        Expr::Between {
            expr, low, high, ..
        } if is_time_column(expr) => {
            to_millis(low)?;
            to_millis(high)?;
        }
        _ => {}
    }
    Ok(())
}

/// A string literal becomes its epoch milliseconds.
fn to_millis(e: &mut Expr) -> Result<()> {
    let Expr::Value(v) = e else { return Ok(()) };
    let Value::SingleQuotedString(text) = &v.value else {
        return Ok(());
    };
    let ms = parse(text).ok_or_else(|| {
        Error::user(format!(
            "Failed to parse timestamp '{text}': expected an ISO-8601 timestamp such as \
             '2020-02-10T08:31:44.001+0000'"
        ))
    })?;
    *e = Expr::Value(Value::Number(ms.to_string(), false).into());
    Ok(())
}

/// `yyyy[-MM[-dd[THH[:mm[:ss[.SSS]]]]]]` and an optional zone (`Z`,
/// `+HHMM`, `+HH:MM`, `-…`), as epoch milliseconds.
pub(crate) fn parse(text: &str) -> Option<i64> {
    let t = text.trim();
    // Split off the zone: after the time part, a sign or a Z.
    let (local, offset_ms) = match t.find('T') {
        Some(tpos) => {
            let time = &t[tpos..];
            match time.rfind(['+', '-', 'Z']) {
                Some(z) => {
                    let cut = tpos + z;
                    (&t[..cut], zone_offset(&t[cut..])?)
                }
                None => (t, 0),
            }
        }
        None => (t, 0),
    };
    let (date, time) = local.split_once('T').unwrap_or((local, ""));
    let mut d = date.split('-');
    let year: i32 = d.next()?.parse().ok()?;
    let month: u32 = d.next().map_or(Some(1), |m| m.parse().ok())?;
    let day: u32 = d.next().map_or(Some(1), |m| m.parse().ok())?;
    if d.next().is_some() {
        return None;
    }
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut parts = hms.split(':').filter(|p| !p.is_empty());
    let hour: u32 = parts.next().map_or(Some(0), |h| h.parse().ok())?;
    let minute: u32 = parts.next().map_or(Some(0), |h| h.parse().ok())?;
    let second: u32 = parts.next().map_or(Some(0), |h| h.parse().ok())?;
    if parts.next().is_some() || !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    let millis: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<3}")[..3].parse().ok()?
    };
    // `T24` (and `T24:00…`) is the midnight that ends the day.
    let end_of_day = hour == 24 && minute == 0 && second == 0 && millis == 0;
    let at = NaiveDateTime::new(
        NaiveDate::from_ymd_opt(year, month, day)?,
        NaiveTime::from_hms_milli_opt(if end_of_day { 0 } else { hour }, minute, second, millis)?,
    );
    let day_ms = if end_of_day { 86_400_000 } else { 0 };
    Some(at.and_utc().timestamp_millis() + day_ms - offset_ms)
}

/// `Z`, `+HH`, `+HHMM` or `+HH:MM` as milliseconds east of UTC.
fn zone_offset(z: &str) -> Option<i64> {
    if z == "Z" {
        return Some(0);
    }
    let (sign, rest) = match z.split_at(1) {
        ("+", r) => (1, r),
        ("-", r) => (-1, r),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        2 => (digits.parse::<i64>().ok()?, 0),
        4 => (
            digits[..2].parse::<i64>().ok()?,
            digits[2..].parse::<i64>().ok()?,
        ),
        _ => return None,
    };
    Some(sign * (h * 3_600_000 + m * 60_000))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_partial_timestamps_and_zones() {
        assert_eq!(parse("1970"), Some(0));
        assert_eq!(parse("1970-01-02"), Some(86_400_000));
        assert_eq!(parse("1970-01-01T00:00:01.5"), Some(1_500));
        assert_eq!(parse("1970-01-01T01:00:00+0100"), Some(0));
        assert_eq!(parse("1970-01-01T00:00:00-00:30"), Some(1_800_000));
        assert_eq!(parse("1970-01-01T00:00:00.001Z"), Some(1));
        assert_eq!(parse("1970-01-01T24"), Some(86_400_000));
        assert_eq!(parse("1970-01-01T24:01"), None);
        assert_eq!(parse("yesterday"), None);
    }
}
