//! Scalar values as text, shared by the text formats (JSON, DELIMITED):
//! exact decimal parsing and printing, Java-style doubles, ksqlDB's integer
//! and base64 rules.
//!
//! Everything here works on borrowed text and writes into caller-owned
//! buffers, so decoders and encoders call it per value without allocating.

use std::io::Write;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};

/// Milliseconds in a day: TIME values lie in `0..MILLIS_PER_DAY`.
pub(crate) const MILLIS_PER_DAY: i64 = 86_400_000;

/// Standard base64 with padding on output, padding optional on input (as
/// Java's decoder and Jackson accept it).
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Appends the base64 text of `bytes` to `out`.
pub(crate) fn write_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    let start = out.len();
    let len = base64::encoded_len(bytes.len(), true).unwrap_or(0);
    out.resize(start + len, 0);
    let written = BASE64.encode_slice(bytes, &mut out[start..]).unwrap_or(0);
    out.truncate(start + written);
}

/// Appends the bytes that base64 `text` encodes to `out`; on error `out` is
/// left as it was.
pub(crate) fn decode_base64_into(text: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let start = out.len();
    BASE64.decode_vec(text, out).map_err(|e| {
        out.truncate(start);
        format!("Value is not a valid Base64 encoded string: {e}")
    })
}

/// Why a decimal text does not give a value of a DECIMAL type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecimalError {
    /// Not a number at all.
    Invalid,
    /// More integer digits than the type holds.
    Overflow,
    /// More fractional digits than the scale (and not zeros).
    Rounding,
}

impl DecimalError {
    /// ksqlDB's message for `text` and DECIMAL(precision, scale).
    pub(crate) fn message(&self, text: &str, precision: u8, scale: i8) -> String {
        match self {
            DecimalError::Invalid => format!("'{text}' is not a valid decimal number"),
            DecimalError::Overflow => format!(
                "Numeric field overflow: A field with precision {precision} and scale {scale} \
                 must round to an absolute value less than 10^{}. Got {text}",
                i16::from(precision) - i16::from(scale)
            ),
            DecimalError::Rounding => format!(
                "Cannot fit decimal '{text}' into DECIMAL({precision}, {scale}) without rounding"
            ),
        }
    }
}

/// A decimal number as `mantissa × 10^exponent`, with the mantissa free of
/// trailing zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecimalParts {
    mantissa: i128,
    exponent: i64,
    /// Fractional digits written (after trailing zeros were dropped), for
    /// telling a too-long fraction from a too-large number.
    fraction_digits: i64,
    /// The mantissa did not fit 128 bits.
    overflowed: bool,
}

/// Parses Java `BigDecimal` syntax: `[+-]digits[.digits][e[+-]digits]`,
/// also `.5` and `5.`. JSON number text is a subset.
pub(crate) fn parse_decimal_parts(text: &[u8]) -> Result<DecimalParts, DecimalError> {
    let mut i = 0;
    let negative = match text.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut mantissa: i128 = 0;
    let mut overflowed = false;
    let mut exponent: i64 = 0;
    let mut digits = 0usize;
    let mut fraction_digits: i64 = 0;
    // Zeros seen but not yet multiplied in: keeps trailing zeros out of the
    // mantissa so that long zero tails never overflow it.
    let mut pending_zeros: i64 = 0;
    let mut in_fraction = false;
    while let Some(&c) = text.get(i) {
        match c {
            b'0'..=b'9' => {
                digits += 1;
                if in_fraction {
                    exponent -= 1;
                }
                if c == b'0' {
                    pending_zeros += 1;
                } else {
                    for _ in 0..pending_zeros {
                        mantissa = mul_add(mantissa, 0, &mut overflowed);
                    }
                    if in_fraction {
                        fraction_digits = -exponent;
                    }
                    pending_zeros = 0;
                    mantissa = mul_add(mantissa, i128::from(c - b'0'), &mut overflowed);
                }
            }
            b'.' if !in_fraction => in_fraction = true,
            _ => break,
        }
        i += 1;
    }
    if digits == 0 {
        return Err(DecimalError::Invalid);
    }
    // Zeros after the last non-zero digit only move the point.
    exponent += pending_zeros;
    if let Some(b'e' | b'E') = text.get(i) {
        i += 1;
        let exp_negative = match text.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        let mut e: i64 = 0;
        while let Some(&c) = text.get(i) {
            if !c.is_ascii_digit() {
                break;
            }
            e = e.saturating_mul(10).saturating_add(i64::from(c - b'0'));
            i += 1;
        }
        if i == start {
            return Err(DecimalError::Invalid);
        }
        // Clamp: anything this far out overflows or underflows any DECIMAL.
        let e = e.min(1_000_000);
        if exp_negative {
            exponent -= e;
            fraction_digits += e;
        } else {
            exponent += e;
            fraction_digits = (fraction_digits - e).max(0);
        }
    }
    if i != text.len() {
        return Err(DecimalError::Invalid);
    }
    if mantissa == 0 && !overflowed {
        return Ok(DecimalParts {
            mantissa: 0,
            exponent: 0,
            fraction_digits: 0,
            overflowed: false,
        });
    }
    Ok(DecimalParts {
        mantissa: if negative { -mantissa } else { mantissa },
        exponent,
        fraction_digits,
        overflowed,
    })
}

fn mul_add(m: i128, digit: i128, overflowed: &mut bool) -> i128 {
    match m.checked_mul(10).and_then(|v| v.checked_add(digit)) {
        Some(v) => v,
        None => {
            *overflowed = true;
            m
        }
    }
}

/// The unscaled value of `parts` as DECIMAL(precision, scale), exactly, or
/// why it does not fit (ksqlDB's `DecimalUtil.ensureFit`).
pub(crate) fn fit_decimal(
    parts: DecimalParts,
    precision: u8,
    scale: i8,
) -> Result<i128, DecimalError> {
    let scale = i64::from(scale);
    if parts.overflowed {
        return Err(if parts.fraction_digits > scale {
            DecimalError::Rounding
        } else {
            DecimalError::Overflow
        });
    }
    if parts.mantissa == 0 {
        return Ok(0);
    }
    let digits = i64::from(parts.mantissa.unsigned_abs().ilog10()) + 1;
    // |value| >= 10^(p - s) does not fit.
    if digits - 1 + parts.exponent >= i64::from(precision) - scale {
        return Err(DecimalError::Overflow);
    }
    if parts.exponent < -scale {
        return Err(DecimalError::Rounding);
    }
    let shift = u32::try_from(parts.exponent + scale).map_err(|_| DecimalError::Overflow)?;
    10i128
        .checked_pow(shift)
        .and_then(|f| parts.mantissa.checked_mul(f))
        .ok_or(DecimalError::Overflow)
}

/// Parses `text` as a value of DECIMAL(precision, scale), giving its
/// unscaled value or ksqlDB's message.
pub(crate) fn parse_decimal(text: &[u8], precision: u8, scale: i8) -> Result<i128, String> {
    parse_decimal_parts(text)
        .and_then(|parts| fit_decimal(parts, precision, scale))
        .map_err(|e| e.message(&String::from_utf8_lossy(text), precision, scale))
}

/// Appends the plain text of the decimal `unscaled × 10^-scale` with exactly
/// `scale` fractional digits (`1.50`, `-0.05`, `12`).
pub(crate) fn write_decimal(out: &mut Vec<u8>, unscaled: i128, scale: i8) {
    if unscaled < 0 {
        out.push(b'-');
    }
    let mut digits = [0u8; 40];
    let mut n = 0;
    let mut v = unscaled.unsigned_abs();
    loop {
        // `v % 10 < 10`, so the cast is exact.
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 || n == digits.len() {
            break;
        }
    }
    digits[..n].reverse();
    let digits = &digits[..n];
    if scale <= 0 {
        out.extend_from_slice(digits);
        if unscaled != 0 {
            out.extend(std::iter::repeat_n(b'0', usize::from(scale.unsigned_abs())));
        }
        return;
    }
    let scale = usize::from(scale.unsigned_abs());
    if digits.len() > scale {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.extend_from_slice(int);
        out.push(b'.');
        out.extend_from_slice(frac);
    } else {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', scale - digits.len()));
        out.extend_from_slice(digits);
    }
}

/// Appends `v` as Java's `Double.toString` spells it (what ksqlDB writes):
/// `100.0`, `0.001`, `1.0E10`, `4.9E-324`, `NaN`, `-Infinity`. `scratch` is
/// reused working space.
pub(crate) fn write_java_double(out: &mut Vec<u8>, v: f64, scratch: &mut Vec<u8>) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"Infinity" } else { b"-Infinity" });
        return;
    }
    if v == 0.0 {
        out.extend_from_slice(if v.is_sign_negative() {
            b"-0.0"
        } else {
            b"0.0"
        });
        return;
    }
    // Shortest round-trip digits; Java never prints fewer than two
    // significant digits, choosing the closest two-digit decimal instead.
    scratch.clear();
    let _ = write!(scratch, "{:e}", v.abs());
    if !scratch.contains(&b'.') {
        scratch.clear();
        let _ = write!(scratch, "{:.1e}", v.abs());
    }
    let Some(e_at) = scratch.iter().position(|&c| c == b'e') else {
        return;
    };
    let exponent: i32 = std::str::from_utf8(&scratch[e_at + 1..])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // The mantissa has at most 17 digits.
    let mut buf = [0u8; 32];
    let mut len = 0;
    for &c in scratch[..e_at].iter().filter(|c| c.is_ascii_digit()) {
        if let Some(slot) = buf.get_mut(len) {
            *slot = c;
            len += 1;
        }
    }
    while len > 1 && buf[len - 1] == b'0' {
        len -= 1;
    }
    let digits = &buf[..len.max(1)];
    if v < 0.0 {
        out.push(b'-');
    }
    if (-3..7).contains(&exponent) {
        if exponent >= 0 {
            let int_len = exponent.unsigned_abs() as usize + 1;
            if digits.len() <= int_len {
                out.extend_from_slice(digits);
                out.extend(std::iter::repeat_n(b'0', int_len - digits.len()));
                out.extend_from_slice(b".0");
            } else {
                out.extend_from_slice(&digits[..int_len]);
                out.push(b'.');
                out.extend_from_slice(&digits[int_len..]);
            }
        } else {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(
                b'0',
                exponent.unsigned_abs() as usize - 1,
            ));
            out.extend_from_slice(digits);
        }
    } else {
        out.push(digits[0]);
        out.push(b'.');
        if digits.len() > 1 {
            out.extend_from_slice(&digits[1..]);
        } else {
            out.push(b'0');
        }
        let _ = write!(out, "E{exponent}");
    }
}

/// Parses Java `Double.parseDouble` text: surrounding whitespace allowed,
/// `NaN` and `Infinity` spelled out.
pub(crate) fn parse_java_double(text: &str) -> Option<f64> {
    let t = text.trim_matches(|c: char| c <= ' ');
    let t = t
        .strip_suffix(['d', 'D', 'f', 'F'])
        .filter(|s| !s.is_empty())
        .unwrap_or(t);
    match t {
        "NaN" | "+NaN" | "-NaN" => Some(f64::NAN),
        "Infinity" | "+Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ if t
            .bytes()
            .any(|c| c.is_ascii_alphabetic() && c != b'e' && c != b'E') =>
        {
            None
        }
        _ => t.parse().ok(),
    }
}

/// Parses Java `Integer.parseInt`/`Long.parseLong` text: an optional sign
/// and decimal digits, nothing else.
pub(crate) fn parse_java_integer(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The integral part of a JSON number (`1.9` → 1, `-2e3` → -2000), as Jackson's
/// `intValue`/`longValue` truncate; `None` when it does not fit 64 bits.
pub(crate) fn json_number_to_i64(text: &str) -> Option<i64> {
    if !text.contains(['.', 'e', 'E']) {
        return text.parse().ok();
    }
    match parse_decimal_parts(text.as_bytes()) {
        Ok(parts) if !parts.overflowed => {
            let v = if parts.exponent >= 0 {
                let f = 10i128.checked_pow(u32::try_from(parts.exponent).ok()?)?;
                parts.mantissa.checked_mul(f)?
            } else if parts.exponent < -38 {
                0
            } else {
                parts.mantissa / 10i128.pow(parts.exponent.unsigned_abs() as u32)
            };
            i64::try_from(v).ok()
        }
        _ => {
            let f: f64 = text.parse().ok()?;
            let t = f.trunc();
            // -(i64::MIN as f64) is 2^63, the first value out of range.
            let min = i64::MIN as f64;
            (t >= min && t < -min).then_some(t as i64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str, p: u8, s: i8) -> Result<i128, DecimalError> {
        parse_decimal_parts(text.as_bytes()).and_then(|parts| fit_decimal(parts, p, s))
    }

    #[test]
    fn decimals_parse_exactly() {
        assert_eq!(dec("1.5", 4, 2), Ok(150));
        assert_eq!(dec("-0.07", 4, 2), Ok(-7));
        assert_eq!(dec(".25", 3, 2), Ok(25));
        assert_eq!(dec("7.", 3, 2), Ok(700));
        assert_eq!(dec("+3", 3, 0), Ok(3));
        assert_eq!(
            dec("2.500000000000000000000000000000000000000000", 3, 1),
            Ok(25)
        );
        assert_eq!(dec("12e-1", 3, 1), Ok(12));
        assert_eq!(dec("0.3E1", 3, 0), Ok(3));
        assert_eq!(dec("0e99999999999", 3, 0), Ok(0));
        assert_eq!(dec("-0.000", 3, 0), Ok(0));
        assert_eq!(
            dec("99999999999999999999999999999999999999", 38, 0),
            Ok(10i128.pow(38) - 1)
        );
    }

    #[test]
    fn decimals_that_do_not_fit_say_why() {
        assert_eq!(dec("100", 4, 2), Err(DecimalError::Overflow));
        assert_eq!(dec("99.99", 4, 2), Ok(9999));
        assert_eq!(dec("1.234", 4, 2), Err(DecimalError::Rounding));
        assert_eq!(dec("1e300", 38, 0), Err(DecimalError::Overflow));
        assert_eq!(
            dec("123456789012345678901234567890123456789012", 38, 0),
            Err(DecimalError::Overflow)
        );
        assert_eq!(
            dec("0.123456789012345678901234567890123456789012", 38, 2),
            Err(DecimalError::Rounding)
        );
        for bad in ["", "-", ".", "1.2.3", "1e", "e5", "1x", " 1", "0x10", "--1"] {
            assert_eq!(dec(bad, 10, 2), Err(DecimalError::Invalid), "{bad:?}");
        }
        let msg = DecimalError::Rounding.message("1.234", 4, 2);
        assert_eq!(
            msg,
            "Cannot fit decimal '1.234' into DECIMAL(4, 2) without rounding"
        );
    }

    #[test]
    fn decimals_print_with_their_scale() {
        let s = |v: i128, scale: i8| {
            let mut out = Vec::new();
            write_decimal(&mut out, v, scale);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(s(150, 2), "1.50");
        assert_eq!(s(-5, 2), "-0.05");
        assert_eq!(s(0, 3), "0.000");
        assert_eq!(s(12, 0), "12");
        assert_eq!(s(12, -2), "1200");
        assert_eq!(s(i128::MIN, 0), i128::MIN.to_string());
    }

    #[test]
    fn doubles_print_like_java() {
        let s = |v: f64| {
            let (mut out, mut scratch) = (Vec::new(), Vec::new());
            write_java_double(&mut out, v, &mut scratch);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(s(100.0), "100.0");
        assert_eq!(s(1.5), "1.5");
        assert_eq!(s(-0.25), "-0.25");
        assert_eq!(s(0.001), "0.001");
        assert_eq!(s(0.0001), "1.0E-4");
        assert_eq!(s(1234567.0), "1234567.0");
        assert_eq!(s(12345678.0), "1.2345678E7");
        assert_eq!(s(1e10), "1.0E10");
        assert_eq!(s(f64::MIN_POSITIVE), "2.2250738585072014E-308");
        assert_eq!(s(f64::MAX), "1.7976931348623157E308");
        assert_eq!(s(5e-324), "4.9E-324");
        assert_eq!(s(0.0), "0.0");
        assert_eq!(s(-0.0), "-0.0");
        assert_eq!(s(f64::NAN), "NaN");
        assert_eq!(s(f64::NEG_INFINITY), "-Infinity");
    }

    #[test]
    fn java_number_parsing() {
        assert_eq!(parse_java_double(" 1.5 "), Some(1.5));
        assert_eq!(parse_java_double("2d"), Some(2.0));
        assert_eq!(parse_java_double("-Infinity"), Some(f64::NEG_INFINITY));
        assert!(parse_java_double("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_java_double("inf"), None);
        assert_eq!(parse_java_double("abc"), None);
        assert_eq!(parse_java_integer("+42"), Some(42));
        assert_eq!(parse_java_integer("-7"), Some(-7));
        assert_eq!(parse_java_integer(" 7"), None);
        assert_eq!(parse_java_integer("7.0"), None);
        assert_eq!(json_number_to_i64("1.9"), Some(1));
        assert_eq!(json_number_to_i64("-1.9"), Some(-1));
        assert_eq!(json_number_to_i64("2e3"), Some(2000));
        assert_eq!(json_number_to_i64("1e-50"), Some(0));
        assert_eq!(json_number_to_i64("1e30"), None);
        assert_eq!(json_number_to_i64("99999999999999999999"), None);
    }

    #[test]
    fn base64_round_trips_and_rejects_junk() {
        let mut text = Vec::new();
        write_base64(&mut text, b"bytes!");
        assert_eq!(text, b"Ynl0ZXMh");
        let mut out = b"x".to_vec();
        decode_base64_into(&text, &mut out).unwrap();
        assert_eq!(out, b"xbytes!");
        decode_base64_into(b"YQ", &mut out).unwrap();
        assert_eq!(out, b"xbytes!a");
        assert!(decode_base64_into(b"not base64!", &mut out).is_err());
        assert_eq!(out, b"xbytes!a");
    }
}
