//! ksqlDB's rules for comparing records and schemas.
//!
//! Values (`ExpectedRecordComparator` in ksqlDB): objects must have the
//! same number of members, matched by name case-insensitively (a member
//! the actual object lacks counts as null, as in ksqlDB); arrays
//! element by element; numbers by value (exactly for decimals, within 1e-6
//! where a double is involved; an expected number may be written as text,
//! as decimals are for AVRO sinks); strings and booleans exactly; `null`
//! only matches `null`.

use serde_json::{Number, Value};

/// True when `actual` matches `expected` by ksqlDB's rules.
pub fn values_match(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Number(a), Value::Number(b)) => numbers_match(a, b),
        // A decimal given as text, as ksqlDB's test driver reads it into
        // the column's DECIMAL before comparing.
        // (only where the actual value is a decimal: a number with a point)
        (Value::String(a), Value::Number(b)) if b.to_string().contains('.') => decimal_text(a)
            .parse::<Number>()
            .is_ok_and(|a| numbers_match(&a, b)),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| values_match(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter().all(|(name, want)| {
                    let got = b.get(name).or_else(|| {
                        b.iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(name))
                            .map(|(_, v)| v)
                    });
                    values_match(want, got.unwrap_or(&Value::Null))
                })
        }
        _ => false,
    }
}

/// A decimal's text without the leading zeros Java's BigDecimal accepts
/// and JSON does not (`005.4` → `5.4`).
fn decimal_text(text: &str) -> String {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let trimmed = digits.trim_start_matches('0');
    let trimmed = if trimmed.is_empty() || trimmed.starts_with('.') {
        format!("0{trimmed}")
    } else {
        trimmed.to_string()
    };
    format!("{sign}{trimmed}")
}

/// Numbers by value: integers and decimals exactly, doubles within 1e-6.
fn numbers_match(expected: &Number, actual: &Number) -> bool {
    let (e, a) = (expected.to_string(), actual.to_string());
    if e == a {
        return true;
    }
    if let (Some(x), Some(y)) = (Decimal::parse(&e), Decimal::parse(&a)) {
        if x == y {
            return true;
        }
        // Beyond a double's 17 significant digits only exact equality
        // means equal: those are decimals.
        if x.digits.len() > 17 || y.digits.len() > 17 {
            return false;
        }
    }
    match (e.parse::<f64>(), a.parse::<f64>()) {
        (Ok(x), Ok(y)) => x == y || (x - y).abs() < 1e-6,
        _ => false,
    }
}

/// A decimal number in canonical form: sign, significant digits without
/// leading or trailing zeros, and the power of ten of the last digit.
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: String,
    exponent: i64,
}

impl Decimal {
    fn parse(text: &str) -> Option<Decimal> {
        let (mantissa, exp) = match text.find(['e', 'E']) {
            Some(i) => (&text[..i], text[i + 1..].parse::<i64>().ok()?),
            None => (text, 0),
        };
        let (negative, mantissa) = match mantissa.strip_prefix('-') {
            Some(m) => (true, m),
            None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let all = format!("{int}{frac}");
        let mut exponent = exp - frac.len() as i64;
        let trimmed_end = all.trim_end_matches('0');
        exponent += (all.len() - trimmed_end.len()) as i64;
        let digits = trimmed_end.trim_start_matches('0').to_string();
        if digits.is_empty() {
            return Some(Decimal {
                negative: false,
                digits,
                exponent: 0,
            });
        }
        Some(Decimal {
            negative,
            digits,
            exponent,
        })
    }
}

/// A schema string in a canonical spelling: backticks removed (quoted
/// names kept as written), everything else upper-cased, type aliases
/// replaced (`VARCHAR` → `STRING`, `INTEGER` → `INT`), spaces only
/// between words.
pub fn normalize_schema(schema: &str) -> String {
    let mut tokens: Vec<(String, bool)> = Vec::new();
    let mut chars = schema.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '`' {
            let mut name = String::new();
            while let Some(n) = chars.next() {
                if n == '`' {
                    if chars.peek() == Some(&'`') {
                        chars.next();
                        name.push('`');
                        continue;
                    }
                    break;
                }
                name.push(n);
            }
            tokens.push((name, true));
        } else if c.is_alphanumeric() || c == '_' {
            let mut word = c.to_uppercase().to_string();
            while let Some(&n) = chars.peek() {
                if n.is_alphanumeric() || n == '_' {
                    word.extend(n.to_uppercase());
                    chars.next();
                } else {
                    break;
                }
            }
            let word = match word.as_str() {
                "VARCHAR" => "STRING".to_string(),
                "INTEGER" => "INT".to_string(),
                _ => word,
            };
            tokens.push((word, true));
        } else if !c.is_whitespace() {
            tokens.push((c.to_string(), false));
        }
    }
    // A table's key is `PRIMARY KEY` in DDL, `KEY` in ksqlDB's test files.
    let tokens: Vec<(String, bool)> = tokens
        .iter()
        .enumerate()
        .filter(|(i, (t, _))| {
            !(t == "PRIMARY" && tokens.get(i + 1).is_some_and(|(n, _)| n == "KEY"))
        })
        .map(|(_, t)| t.clone())
        .collect();
    let mut out = String::new();
    let mut prev_word = false;
    for (t, is_word) in tokens {
        if is_word && prev_word {
            out.push(' ');
        }
        out.push_str(&t);
        prev_word = is_word;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn objects_match_names_case_insensitively_and_count_members() {
        assert!(values_match(&json!({"id": 1}), &json!({"ID": 1})));
        assert!(!values_match(&json!({"ID": 1}), &json!({"ID": 1, "X": 2})));
        assert!(!values_match(&json!({"ID": 1}), &json!({"ID": null})));
        assert!(values_match(&json!({"A": null}), &json!({"B": null})));
        assert!(!values_match(&json!({"A": 1}), &json!({"B": 1})));
        assert!(values_match(&json!([1, "a"]), &json!([1, "a"])));
        assert!(!values_match(&json!("1"), &json!(1)));
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(values_match(&v("1.10"), &v("1.1")));
        assert!(values_match(&v("100"), &v("1E2")));
        assert!(values_match(&v("0.30000000000000004"), &v("0.3")));
        assert!(values_match(&v("1.0000001"), &v("1.0")));
        assert!(!values_match(&v("1.00001"), &v("1.0")));
        assert!(!values_match(
            &v("12345678987654321.2345678987654321"),
            &v("12345678987654321.2345678987654322")
        ));
        assert!(values_match(&v("-0.0"), &v("0")));
    }

    #[test]
    fn schemas_normalize_spacing_quotes_and_aliases() {
        assert_eq!(
            normalize_schema("ID BIGINT KEY, `name` varchar, D DECIMAL(33, 16)"),
            normalize_schema("`ID` BIGINT KEY,`name` STRING, `D` DECIMAL(33,16)")
        );
        assert_ne!(normalize_schema("`a` INT"), normalize_schema("`A` INT"));
        assert_eq!(
            normalize_schema("S STRUCT<a INTEGER>"),
            "S STRUCT<A INT>".to_string()
        );
    }
}
