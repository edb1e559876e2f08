//! ksqlDB's date and time functions: epoch conversions, formatting and
//! parsing with Java `DateTimeFormatter` patterns (see [`super::java_time`]),
//! time-zone conversion and date/time arithmetic.
//!
//! A pattern, text or zone that is invalid makes the result null (ksqlDB
//! logs the error and yields null). The unit argument of DATEADD, TIMEADD,
//! TIMESTAMPADD and their SUB counterparts is a string ('DAYS', 'HOURS', …;
//! singular forms accepted).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Array, Int32Array, Int64Array, StringArray, Time32MillisecondArray,
    TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{NaiveDate, NaiveTime, Timelike, Utc};
use datafusion::common::Result;
use datafusion::logical_expr::ScalarUDF;

use super::java_time::{millis_of_utc, utc_of_millis, JavaFormat, Zone};
use super::udf::{
    arg, bigint_rows, get, int_rows, overloads, returns, utf8_rows, Cache, KsqlUdf, P,
};

const TS: DataType = DataType::Timestamp(TimeUnit::Millisecond, None);
const TIME: DataType = DataType::Time32(TimeUnit::Millisecond);
const MS_PER_DAY: i64 = 86_400_000;

/// The date and time functions.
pub fn udfs() -> Vec<Arc<ScalarUDF>> {
    let fmt_ts = overloads!([P::Timestamp, P::Str], [P::Timestamp, P::Str, P::Str]);
    let parse_ts = overloads!([P::Str, P::Str], [P::Str, P::Str, P::Str]);
    vec![
        KsqlUdf::new(
            "unix_timestamp",
            overloads!([], [P::Timestamp]),
            returns!(DataType::Int64),
            unix_timestamp,
        )
        .volatile()
        .udf(),
        KsqlUdf::new(
            "unix_date",
            overloads!([], [P::Date]),
            returns!(DataType::Int32),
            unix_date,
        )
        .volatile()
        .udf(),
        KsqlUdf::new(
            "from_unixtime",
            overloads!([P::Bigint]),
            returns!(TS),
            from_unixtime,
        )
        .udf(),
        KsqlUdf::new(
            "from_days",
            overloads!([P::Int]),
            returns!(DataType::Date32),
            from_days,
        )
        .udf(),
        KsqlUdf::new(
            "timestamptostring",
            overloads!([P::Bigint, P::Str], [P::Bigint, P::Str, P::Str]),
            returns!(DataType::Utf8),
            format_timestamp,
        )
        .udf(),
        KsqlUdf::new(
            "format_timestamp",
            fmt_ts,
            returns!(DataType::Utf8),
            format_timestamp,
        )
        .udf(),
        KsqlUdf::new(
            "stringtotimestamp",
            parse_ts,
            returns!(DataType::Int64),
            parse_timestamp,
        )
        .udf(),
        KsqlUdf::new("parse_timestamp", parse_ts, returns!(TS), parse_timestamp).udf(),
        KsqlUdf::new(
            "format_date",
            overloads!([P::Date, P::Str]),
            returns!(DataType::Utf8),
            format_date,
        )
        .udf(),
        KsqlUdf::new(
            "datetostring",
            overloads!([P::Int, P::Str]),
            returns!(DataType::Utf8),
            format_date,
        )
        .udf(),
        KsqlUdf::new(
            "parse_date",
            overloads!([P::Str, P::Str]),
            returns!(DataType::Date32),
            parse_date,
        )
        .udf(),
        KsqlUdf::new(
            "stringtodate",
            overloads!([P::Str, P::Str]),
            returns!(DataType::Int32),
            parse_date,
        )
        .udf(),
        KsqlUdf::new(
            "format_time",
            overloads!([P::Time, P::Str]),
            returns!(DataType::Utf8),
            format_time,
        )
        .udf(),
        KsqlUdf::new(
            "parse_time",
            overloads!([P::Str, P::Str]),
            returns!(TIME),
            parse_time,
        )
        .udf(),
        KsqlUdf::new(
            "convert_tz",
            overloads!([P::Timestamp, P::Str, P::Str]),
            returns!(TS),
            convert_tz,
        )
        .udf(),
        KsqlUdf::new(
            "dateadd",
            overloads!([P::Str, P::Int, P::Date]),
            returns!(DataType::Date32),
            dateadd,
        )
        .udf(),
        KsqlUdf::new(
            "datesub",
            overloads!([P::Str, P::Int, P::Date]),
            returns!(DataType::Date32),
            datesub,
        )
        .udf(),
        KsqlUdf::new(
            "timeadd",
            overloads!([P::Str, P::Int, P::Time]),
            returns!(TIME),
            timeadd,
        )
        .udf(),
        KsqlUdf::new(
            "timesub",
            overloads!([P::Str, P::Int, P::Time]),
            returns!(TIME),
            timesub,
        )
        .udf(),
        KsqlUdf::new(
            "timestampadd",
            overloads!([P::Str, P::Bigint, P::Timestamp]),
            returns!(TS),
            timestampadd,
        )
        .udf(),
        KsqlUdf::new(
            "timestampsub",
            overloads!([P::Str, P::Bigint, P::Timestamp]),
            returns!(TS),
            timestampsub,
        )
        .udf(),
    ]
}

/// Epoch milliseconds of row `i` of a TIMESTAMP or BIGINT argument.
fn millis_at(a: &ArrayRef, i: usize) -> Option<i64> {
    if let Some(t) = a.as_any().downcast_ref::<TimestampMillisecondArray>() {
        return get(t, i);
    }
    a.as_any()
        .downcast_ref::<Int64Array>()
        .and_then(|t| get(t, i))
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

fn unix_timestamp(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    if a.is_empty() {
        let now = Utc::now().timestamp_millis();
        return Ok(bigint_rows(rows, |_| Some(now)));
    }
    Ok(bigint_rows(rows, |i| millis_at(&a[0], i)))
}

fn unix_date(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    if a.is_empty() {
        let today = (Utc::now().date_naive() - epoch()).num_days() as i32;
        return Ok(int_rows(rows, |_| Some(today)));
    }
    let d = arg::<Date32Array>(a, 0)?;
    Ok(int_rows(rows, |i| get(d, i)))
}

fn from_unixtime(a: &[ArrayRef], _: &DataType, _: usize) -> Result<ArrayRef> {
    let v = arg::<Int64Array>(a, 0)?;
    Ok(Arc::new(
        v.reinterpret_cast::<arrow::datatypes::TimestampMillisecondType>(),
    ))
}

fn from_days(a: &[ArrayRef], _: &DataType, _: usize) -> Result<ArrayRef> {
    let v = arg::<Int32Array>(a, 0)?;
    Ok(Arc::new(
        v.reinterpret_cast::<arrow::datatypes::Date32Type>(),
    ))
}

/// Compiled patterns and zones for the rows of one batch.
struct Compiled {
    formats: Cache<JavaFormat>,
    zones: Cache<Zone>,
}

impl Compiled {
    fn new() -> Self {
        Compiled {
            formats: Cache::new(),
            zones: Cache::new(),
        }
    }

    fn format(&mut self, p: &str) -> Option<JavaFormat> {
        self.formats
            .get(p, |p| JavaFormat::compile(p).ok())
            .cloned()
    }

    /// The zone named by optional argument `tz` at row `i`: UTC when the
    /// argument is absent, `None` when it is null or unknown.
    fn zone(&mut self, tz: Option<&StringArray>, i: usize) -> Option<Zone> {
        match tz {
            None => Some(Zone::utc()),
            Some(t) => self.zones.get(get(t, i)?, Zone::parse).copied(),
        }
    }
}

/// FORMAT_TIMESTAMP and TIMESTAMPTOSTRING.
fn format_timestamp(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let pat = arg::<StringArray>(a, 1)?;
    let tz = a.get(2).map(|_| arg::<StringArray>(a, 2)).transpose()?;
    let mut c = Compiled::new();
    Ok(utf8_rows(rows, |i| {
        let ms = millis_at(&a[0], i)?;
        let f = c.format(get(pat, i)?)?;
        let z = c.zone(tz, i)?;
        Some(f.format(&z.zoned(&utc_of_millis(ms)?)))
    }))
}

/// PARSE_TIMESTAMP (TIMESTAMP) and STRINGTOTIMESTAMP (BIGINT).
fn parse_timestamp(a: &[ArrayRef], ret: &DataType, rows: usize) -> Result<ArrayRef> {
    let s = arg::<StringArray>(a, 0)?;
    let pat = arg::<StringArray>(a, 1)?;
    let tz = a.get(2).map(|_| arg::<StringArray>(a, 2)).transpose()?;
    let mut c = Compiled::new();
    let values: Int64Array = (0..rows)
        .map(|i| {
            let f = c.format(get(pat, i)?)?;
            let z = c.zone(tz, i)?;
            let fields = f.parse(get(s, i)?).ok()?;
            fields.instant(&z).map(|d| millis_of_utc(&d))
        })
        .collect();
    Ok(if ret == &DataType::Int64 {
        Arc::new(values)
    } else {
        Arc::new(values.reinterpret_cast::<arrow::datatypes::TimestampMillisecondType>())
    })
}

/// FORMAT_DATE (DATE) and DATETOSTRING (INT days).
fn format_date(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let days = |i: usize| -> Option<i32> {
        if let Some(d) = a[0].as_any().downcast_ref::<Date32Array>() {
            return get(d, i);
        }
        a[0].as_any()
            .downcast_ref::<Int32Array>()
            .and_then(|d| get(d, i))
    };
    let pat = arg::<StringArray>(a, 1)?;
    let mut c = Compiled::new();
    Ok(utf8_rows(rows, |i| {
        let f = c.format(get(pat, i)?)?;
        let utc = utc_of_millis(days(i)? as i64 * MS_PER_DAY)?;
        Some(f.format(&Zone::utc().zoned(&utc)))
    }))
}

/// PARSE_DATE (DATE; text after the pattern is ignored) and STRINGTODATE
/// (INT days; the whole text must match).
fn parse_date(a: &[ArrayRef], ret: &DataType, rows: usize) -> Result<ArrayRef> {
    let s = arg::<StringArray>(a, 0)?;
    let pat = arg::<StringArray>(a, 1)?;
    let mut c = Compiled::new();
    let lenient = ret != &DataType::Int32;
    let values: Int32Array = (0..rows)
        .map(|i| {
            let f = c.format(get(pat, i)?)?;
            let text = get(s, i)?;
            let fields = if lenient {
                f.parse_prefix(text)
            } else {
                f.parse(text)
            };
            let d = fields.ok()?.date()?;
            i32::try_from((d - epoch()).num_days()).ok()
        })
        .collect();
    Ok(if ret == &DataType::Int32 {
        Arc::new(values)
    } else {
        Arc::new(values.reinterpret_cast::<arrow::datatypes::Date32Type>())
    })
}

fn format_time(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let t = arg::<Time32MillisecondArray>(a, 0)?;
    let pat = arg::<StringArray>(a, 1)?;
    let mut c = Compiled::new();
    Ok(utf8_rows(rows, |i| {
        let f = c.format(get(pat, i)?)?;
        let utc = utc_of_millis(get(t, i)? as i64)?;
        Some(f.format(&Zone::utc().zoned(&utc)))
    }))
}

fn parse_time(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let s = arg::<StringArray>(a, 0)?;
    let pat = arg::<StringArray>(a, 1)?;
    let mut c = Compiled::new();
    let values: Time32MillisecondArray = (0..rows)
        .map(|i| {
            let f = c.format(get(pat, i)?)?;
            let t: NaiveTime = f.parse(get(s, i)?).ok()?.time()?;
            Some((t.num_seconds_from_midnight() * 1000 + t.nanosecond() / 1_000_000) as i32)
        })
        .collect();
    Ok(Arc::new(values))
}

/// CONVERT_TZ(ts, from, to): the wall-clock time `ts` in zone `from` as the
/// wall-clock time in zone `to`.
fn convert_tz(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let from = arg::<StringArray>(a, 1)?;
    let to = arg::<StringArray>(a, 2)?;
    let mut zf = Cache::new();
    let mut zt = Cache::new();
    let values: TimestampMillisecondArray = (0..rows)
        .map(|i| {
            let local = utc_of_millis(millis_at(&a[0], i)?)?;
            let f = *zf.get(get(from, i)?, Zone::parse)?;
            let t = *zt.get(get(to, i)?, Zone::parse)?;
            let utc = f.local_to_utc(&local)?;
            Some(millis_of_utc(&t.zoned(&utc).local))
        })
        .collect();
    Ok(Arc::new(values))
}

/// Milliseconds in one of Java's `TimeUnit`s, by name; `None` for an
/// unknown unit. Sub-millisecond units count in nanoseconds (negative).
fn unit_nanos(unit: &str) -> Option<i128> {
    let u = unit.trim().to_ascii_uppercase();
    let u = u.strip_suffix('S').unwrap_or(&u);
    Some(match u {
        "NANOSECOND" => 1,
        "MICROSECOND" => 1_000,
        "MILLISECOND" => 1_000_000,
        "SECOND" => 1_000_000_000,
        "MINUTE" => 60_000_000_000,
        "HOUR" => 3_600_000_000_000,
        "DAY" => 86_400_000_000_000,
        _ => return None,
    })
}

fn dateadd_impl(a: &[ArrayRef], rows: usize, sign: i64) -> Result<ArrayRef> {
    let unit = arg::<StringArray>(a, 0)?;
    let n = arg::<Int32Array>(a, 1)?;
    let d = arg::<Date32Array>(a, 2)?;
    let values: Date32Array = (0..rows)
        .map(|i| {
            let nanos = unit_nanos(get(unit, i)?)? * get(n, i)? as i128;
            // TimeUnit.toDays truncates towards zero.
            let days = (nanos / 86_400_000_000_000) as i64 * sign;
            i32::try_from(get(d, i)? as i64 + days).ok()
        })
        .collect();
    Ok(Arc::new(values))
}

fn dateadd(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    dateadd_impl(a, rows, 1)
}

fn datesub(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    dateadd_impl(a, rows, -1)
}

fn timeadd_impl(a: &[ArrayRef], rows: usize, sign: i128) -> Result<ArrayRef> {
    let unit = arg::<StringArray>(a, 0)?;
    let n = arg::<Int32Array>(a, 1)?;
    let t = arg::<Time32MillisecondArray>(a, 2)?;
    let values: Time32MillisecondArray = (0..rows)
        .map(|i| {
            let nanos = unit_nanos(get(unit, i)?)? * get(n, i)? as i128 * sign;
            let ms = (get(t, i)? as i128 + nanos / 1_000_000).rem_euclid(MS_PER_DAY as i128);
            Some(ms as i32)
        })
        .collect();
    Ok(Arc::new(values))
}

fn timeadd(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    timeadd_impl(a, rows, 1)
}

fn timesub(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    timeadd_impl(a, rows, -1)
}

fn timestampadd_impl(a: &[ArrayRef], rows: usize, sign: i128) -> Result<ArrayRef> {
    let unit = arg::<StringArray>(a, 0)?;
    let n = arg::<Int64Array>(a, 1)?;
    let values: TimestampMillisecondArray = (0..rows)
        .map(|i| {
            let nanos = unit_nanos(get(unit, i)?)? * get(n, i)? as i128 * sign;
            i64::try_from(millis_at(&a[2], i)? as i128 + nanos / 1_000_000).ok()
        })
        .collect();
    Ok(Arc::new(values))
}

fn timestampadd(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    timestampadd_impl(a, rows, 1)
}

fn timestampsub(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    timestampadd_impl(a, rows, -1)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{check, check_typed, column};
    use super::*;

    // 2021-03-04T05:06:07.089Z
    const T: &str = "1614834367089";

    #[tokio::test]
    async fn epoch_conversions() {
        check_typed(
            &format!("unix_timestamp(from_unixtime({T}))"),
            T,
            DataType::Int64,
        )
        .await;
        check_typed(
            &format!("from_unixtime({T})"),
            "2021-03-04T05:06:07.089",
            TS,
        )
        .await;
        check_typed("from_days(18690)", "2021-03-04", DataType::Date32).await;
        check_typed("unix_date(from_days(18690))", "18690", DataType::Int32).await;
        let (v, t) = column("SELECT unix_timestamp() FROM (VALUES (1)) AS t(x)").await;
        assert_eq!(t, DataType::Int64);
        assert!(v[0].parse::<i64>().unwrap_or(0) > 1_600_000_000_000);
        check("from_unixtime(NULL)", "NULL").await;
    }

    #[tokio::test]
    async fn format_and_parse_timestamps() {
        check_typed(
            &format!("timestamptostring({T}, 'yyyy-MM-dd HH:mm:ss.SSS')"),
            "2021-03-04 05:06:07.089",
            DataType::Utf8,
        )
        .await;
        check(
            &format!("timestamptostring({T}, 'yyyy-MM-dd HH:mm', 'America/Los_Angeles')"),
            "2021-03-03 21:06",
        )
        .await;
        check(
            &format!("format_timestamp(from_unixtime({T}), 'HH:mm:ssXXX', '+01:00')"),
            "06:06:07+01:00",
        )
        .await;
        check_typed(
            "stringtotimestamp('2021-03-04T05:06:07.089Z', 'yyyy-MM-dd''T''HH:mm:ss.SSSX')",
            T,
            DataType::Int64,
        )
        .await;
        check_typed(
            "parse_timestamp('2021-03-04 06:06:07.089', 'yyyy-MM-dd HH:mm:ss.SSS', 'Europe/Paris')",
            "2021-03-04T05:06:07.089",
            TS,
        )
        .await;
        check("stringtotimestamp('garbage', 'yyyy-MM-dd')", "NULL").await;
        check(
            "stringtotimestamp('2021-01-01', 'yyyy-MM-dd', 'Nowhere/Land')",
            "NULL",
        )
        .await;
        check("timestamptostring(0, 'yyyy-bb')", "NULL").await;
    }

    #[tokio::test]
    async fn dates_and_times() {
        check("format_date(from_days(18690), 'dd/MM/yyyy')", "04/03/2021").await;
        check("datetostring(18690, 'yyyy-MM-dd')", "2021-03-04").await;
        check_typed(
            "parse_date('04/03/2021', 'dd/MM/yyyy')",
            "2021-03-04",
            DataType::Date32,
        )
        .await;
        check_typed(
            "stringtodate('2021-03-04', 'yyyy-MM-dd')",
            "18690",
            DataType::Int32,
        )
        .await;
        check_typed("parse_time('13:45:10', 'HH:mm:ss')", "13:45:10", TIME).await;
        check(
            "format_time(parse_time('13:45', 'HH:mm'), 'h:mm a')",
            "1:45 PM",
        )
        .await;
    }

    #[tokio::test]
    async fn zones_and_arithmetic() {
        check(
            &format!("convert_tz(from_unixtime({T}), 'UTC', 'Asia/Tokyo')"),
            "2021-03-04T14:06:07.089",
        )
        .await;
        check("dateadd('DAYS', 3, from_days(18690))", "2021-03-07").await;
        check("datesub('HOURS', 49, from_days(18690))", "2021-03-02").await;
        check(
            "timeadd('MINUTES', 30, parse_time('23:45', 'HH:mm'))",
            "00:15:00",
        )
        .await;
        check(
            "timesub('SECONDS', 5, parse_time('00:00', 'HH:mm'))",
            "23:59:55",
        )
        .await;
        check(
            &format!("timestampadd('MILLISECONDS', 11, from_unixtime({T}))"),
            "2021-03-04T05:06:07.100",
        )
        .await;
        check(
            &format!("timestampsub('DAYS', 1, from_unixtime({T}))"),
            "2021-03-03T05:06:07.089",
        )
        .await;
        check("dateadd('FORTNIGHTS', 1, from_days(0))", "NULL").await;
    }
}
