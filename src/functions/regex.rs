//! ksqlDB's pattern and splitting functions: REGEXP_EXTRACT,
//! REGEXP_EXTRACT_ALL, REGEXP_REPLACE, REGEXP_SPLIT_TO_ARRAY, SPLIT and
//! SPLIT_TO_MAP, and `like_escape`, which the planner uses for
//! `x LIKE p ESCAPE 'c'` with an escape character other than `\`.
//!
//! Patterns are Java regular expressions; Rust's `regex` crate accepts the
//! common subset (no look-around or back-references). An invalid pattern
//! makes the result null. Replacement strings use Java's `$n` group
//! references and `\` escapes.

use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryArray, Int32Array, StringArray};
use arrow::datatypes::{DataType, Field};
use datafusion::common::Result;
use datafusion::logical_expr::ScalarUDF;
use regex::Regex;

use super::udf::{
    arg, get, overloads, returns, string_list_rows, string_map_rows, utf8_rows, Cache, KsqlUdf, P,
};
use crate::types::map_type;

fn string_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

fn split_type(args: &[DataType]) -> Result<DataType> {
    let item = match args.first() {
        Some(DataType::Binary) => DataType::Binary,
        _ => DataType::Utf8,
    };
    Ok(DataType::List(Arc::new(Field::new("item", item, true))))
}

/// The pattern and splitting functions.
pub fn udfs() -> Vec<Arc<ScalarUDF>> {
    vec![
        KsqlUdf::new(
            "like_escape",
            overloads!([P::Str, P::Str, P::Str]),
            returns!(DataType::Boolean),
            like_escape,
        )
        .udf(),
        KsqlUdf::new(
            "regexp_extract",
            overloads!([P::Str, P::Str], [P::Str, P::Str, P::Int]),
            returns!(DataType::Utf8),
            regexp_extract,
        )
        .udf(),
        KsqlUdf::new(
            "regexp_extract_all",
            overloads!([P::Str, P::Str], [P::Str, P::Str, P::Int]),
            returns!(string_list()),
            regexp_extract_all,
        )
        .udf(),
        KsqlUdf::new(
            "regexp_replace",
            overloads!([P::Str, P::Str, P::Str]),
            returns!(DataType::Utf8),
            regexp_replace,
        )
        .udf(),
        KsqlUdf::new(
            "regexp_split_to_array",
            overloads!([P::Str, P::Str]),
            returns!(string_list()),
            regexp_split_to_array,
        )
        .udf(),
        KsqlUdf::new(
            "split",
            overloads!([P::Str, P::Str], [P::Bytes, P::Bytes]),
            split_type,
            split,
        )
        .udf(),
        KsqlUdf::new(
            "split_to_map",
            overloads!([P::Str, P::Str, P::Str]),
            returns!(map_type(DataType::Utf8, DataType::Utf8)),
            split_to_map,
        )
        .udf(),
    ]
}

fn compile(p: &str) -> Option<Regex> {
    Regex::new(p).ok()
}

fn regexp_extract(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let pat = arg::<StringArray>(a, 0)?;
    let s = arg::<StringArray>(a, 1)?;
    let group = a.get(2).map(|_| arg::<Int32Array>(a, 2)).transpose()?;
    let mut cache = Cache::new();
    Ok(utf8_rows(rows, |i| {
        let (p, v) = (get(pat, i)?, get(s, i)?);
        let g = match group {
            Some(g) => usize::try_from(get(g, i)?).ok()?,
            None => 0,
        };
        let re = cache.get(p, compile)?;
        if g >= re.captures_len() {
            return None;
        }
        let caps = re.captures(v)?;
        caps.get(g).map(|m| m.as_str().to_string())
    }))
}

fn regexp_extract_all(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let pat = arg::<StringArray>(a, 0)?;
    let s = arg::<StringArray>(a, 1)?;
    let group = a.get(2).map(|_| arg::<Int32Array>(a, 2)).transpose()?;
    let mut cache = Cache::new();
    Ok(string_list_rows(rows, |i| {
        let (p, v) = (get(pat, i)?, get(s, i)?);
        let g = match group {
            Some(g) => usize::try_from(get(g, i)?).ok()?,
            None => 0,
        };
        let re = cache.get(p, compile)?;
        if g >= re.captures_len() {
            return None;
        }
        Some(
            re.captures_iter(v)
                .map(|c| c.get(g).map(|m| m.as_str().to_string()))
                .collect(),
        )
    }))
}

/// Java's replacement syntax (`$1`, `${name}`, `\$`) in the `regex` crate's
/// (`${1}`, `${name}`, `$$`).
fn java_replacement(r: &str) -> String {
    let mut out = String::with_capacity(r.len());
    let mut cs = r.chars().peekable();
    while let Some(c) = cs.next() {
        match c {
            '\\' => match cs.next() {
                Some('$') => out.push_str("$$"),
                Some(n) => out.push(n),
                None => {}
            },
            '$' => {
                if cs.peek() == Some(&'{') {
                    out.push('$');
                } else {
                    let mut digits = String::new();
                    while let Some(d) = cs.peek().filter(|d| d.is_ascii_digit()) {
                        digits.push(*d);
                        cs.next();
                    }
                    out.push_str(&format!("${{{digits}}}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn regexp_replace(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let s = arg::<StringArray>(a, 0)?;
    let pat = arg::<StringArray>(a, 1)?;
    let rep = arg::<StringArray>(a, 2)?;
    let mut cache = Cache::new();
    Ok(utf8_rows(rows, |i| {
        let (v, p, r) = (get(s, i)?, get(pat, i)?, get(rep, i)?);
        let re = cache.get(p, compile)?;
        Some(re.replace_all(v, java_replacement(r).as_str()).into_owned())
    }))
}

/// Every character on its own (Java's split on an empty pattern).
fn chars_of(v: &str) -> Vec<Option<String>> {
    if v.is_empty() {
        return vec![Some(String::new())];
    }
    v.chars().map(|c| Some(c.to_string())).collect()
}

fn regexp_split_to_array(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let s = arg::<StringArray>(a, 0)?;
    let pat = arg::<StringArray>(a, 1)?;
    let mut cache = Cache::new();
    Ok(string_list_rows(rows, |i| {
        let (v, p) = (get(s, i)?, get(pat, i)?);
        let re = cache.get(p, compile)?;
        if re.is_match("") {
            return Some(chars_of(v));
        }
        Some(re.split(v).map(|x| Some(x.to_string())).collect())
    }))
}

/// Splits bytes on a literal delimiter (each byte when it is empty).
fn split_bytes<'a>(v: &'a [u8], d: &[u8]) -> Vec<&'a [u8]> {
    if d.is_empty() {
        // Bytes one by one; an empty value is one empty part, as for text.
        if v.is_empty() {
            return vec![v];
        }
        return v.chunks(1).collect();
    }
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + d.len() <= v.len() {
        if &v[i..i + d.len()] == d {
            out.push(&v[start..i]);
            i += d.len();
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&v[start..]);
    out
}

/// `LIKE` with another escape character: each pattern is rewritten to
/// Arrow's backslash escapes, then matched as a batch.
fn like_escape(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let v = arg::<StringArray>(a, 0)?;
    let p = arg::<StringArray>(a, 1)?;
    let e = arg::<StringArray>(a, 2)?;
    let patterns: StringArray = (0..rows)
        .map(|i| {
            let (p, e) = (get(p, i)?, get(e, i)?);
            let mut escape = e.chars();
            let (Some(esc), None) = (escape.next(), escape.next()) else {
                return Some(p.to_string());
            };
            let mut out = String::with_capacity(p.len() + 4);
            let mut chars = p.chars();
            while let Some(c) = chars.next() {
                if c == esc {
                    match chars.next() {
                        Some(n @ ('%' | '_' | '\\')) => {
                            out.push('\\');
                            out.push(n);
                        }
                        Some(n) => out.push(n),
                        None => out.push(c),
                    }
                } else if c == '\\' {
                    out.push_str("\\\\");
                } else {
                    out.push(c);
                }
            }
            Some(out)
        })
        .collect();
    Ok(Arc::new(arrow::compute::like(v, &patterns)?))
}

/// SPLIT on a literal delimiter, keeping empty parts; an empty delimiter
/// splits into characters (or bytes).
fn split(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    if let Ok(b) = arg::<BinaryArray>(a, 0) {
        let d = arg::<BinaryArray>(a, 1)?;
        let mut builder = arrow::array::ListBuilder::new(arrow::array::BinaryBuilder::new());
        for i in 0..rows {
            match (get(b, i), get(d, i)) {
                (Some(v), Some(d)) => {
                    for part in split_bytes(v, d) {
                        builder.values().append_value(part);
                    }
                    builder.append(true);
                }
                _ => builder.append(false),
            }
        }
        return Ok(Arc::new(builder.finish()));
    }
    let s = arg::<StringArray>(a, 0)?;
    let d = arg::<StringArray>(a, 1)?;
    Ok(string_list_rows(rows, |i| {
        let (v, d) = (get(s, i)?, get(d, i)?);
        if d.is_empty() {
            return Some(chars_of(v));
        }
        Some(v.split(d).map(|x| Some(x.to_string())).collect())
    }))
}

/// SPLIT_TO_MAP('a=1;b=2', ';', '='): entries without exactly one key-value
/// delimiter are skipped, a later duplicate key wins.
fn split_to_map(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let s = arg::<StringArray>(a, 0)?;
    let ed = arg::<StringArray>(a, 1)?;
    let kd = arg::<StringArray>(a, 2)?;
    string_map_rows(rows, |i| {
        let (v, ed, kd) = (get(s, i)?, get(ed, i)?, get(kd, i)?);
        if ed.is_empty() || kd.is_empty() {
            return None;
        }
        let mut entries: Vec<(String, Option<String>)> = Vec::new();
        for entry in v.split(ed).filter(|e| !e.is_empty()) {
            // As ksqlDB: the text before the first and between the first
            // and second separator; entries without one are skipped.
            let parts: Vec<&str> = entry.split(kd).collect();
            if let [k, val, ..] = parts.as_slice() {
                entries.retain(|(key, _)| key != k);
                entries.push((k.to_string(), Some(val.to_string())));
            }
        }
        Some(entries)
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{check, check_typed};
    use super::*;

    #[tokio::test]
    async fn like_with_another_escape_character() {
        check("like_escape('50%', '50!%', '!')", "true").await;
        check("like_escape('500', '50!%', '!')", "false").await;
        check("like_escape('a_b', 'a!_%', '!')", "true").await;
        check(r"like_escape('a\b', 'a\b', '!')", "true").await;
    }

    #[tokio::test]
    async fn extract_and_replace() {
        check("regexp_extract('[a-z]+', '123 abc def')", "abc").await;
        check("regexp_extract('(\\w)(\\d+)', 'x42 y7', 2)", "42").await;
        check("regexp_extract('(\\w)(\\d+)', 'x42', 3)", "NULL").await;
        check("regexp_extract('q', 'abc')", "NULL").await;
        check("regexp_extract('([', 'abc')", "NULL").await;
        check("regexp_extract_all('\\d+', 'a1b22c333')", "[1, 22, 333]").await;
        check("regexp_extract_all('(\\w)(\\d)', 'a1 b2', 1)", "[a, b]").await;
        check(
            "regexp_replace('one two', '(\\w+) (\\w+)', '$2 $1')",
            "two one",
        )
        .await;
        check("regexp_replace('a.b.c', '\\.', '\\$')", "a$b$c").await;
        check("regexp_replace(NULL, 'a', 'b')", "NULL").await;
    }

    #[tokio::test]
    async fn splitting() {
        check_typed("split('a,b,,c,', ',')", "[a, b, , c, ]", string_list()).await;
        check("split('a.b', '.')", "[a, b]").await;
        check("split('xyz', '')", "[x, y, z]").await;
        check("split('abc', '-')", "[abc]").await;
        check("split(NULL, ',')", "NULL").await;
        check("regexp_split_to_array('a1b22c', '\\d+')", "[a, b, c]").await;
        check("regexp_split_to_array('ab', '')", "[a, b]").await;
        check(
            "split_to_map('k1=v1;k2=v2;;bad;k1=v3', ';', '=')",
            "{k2: v2, k1: v3}",
        )
        .await;
        check("split_to_map('k=v', '', '=')", "NULL").await;
    }

    #[test]
    fn replacement_syntax() {
        assert_eq!(java_replacement("$1x"), "${1}x");
        assert_eq!(java_replacement("\\$5"), "$$5");
        assert_eq!(java_replacement("${name}"), "${name}");
    }
}
