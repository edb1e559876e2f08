//! ksqlDB's string functions: case, length, substrings, concatenation,
//! trimming, padding, search and replace, CHR, ELT and FIELD.
//!
//! Positions and lengths count characters (Unicode scalar values). Where a
//! function also has a BYTES overload it lives here too, counting bytes.

use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryArray, Int32Array, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::ScalarUDF;

use super::udf::{
    arg, binary_rows, get, int_rows, overloads, returns, same_as_first, utf8_rows, variadic,
    KsqlUdf, P,
};

/// The string functions.
pub fn udfs() -> Vec<Arc<ScalarUDF>> {
    vec![
        KsqlUdf::new(
            "lcase",
            overloads!([P::Str]),
            returns!(DataType::Utf8),
            lcase,
        )
        .udf(),
        KsqlUdf::new(
            "ucase",
            overloads!([P::Str]),
            returns!(DataType::Utf8),
            ucase,
        )
        .udf(),
        KsqlUdf::new(
            "len",
            overloads!([P::Str], [P::Bytes]),
            returns!(DataType::Int32),
            len,
        )
        .udf(),
        substring_udf(),
        KsqlUdf::new(
            "concat",
            variadic!([P::Str], [P::Bytes]),
            concat_type,
            concat,
        )
        .udf(),
        KsqlUdf::new(
            "concat_ws",
            variadic!([P::Str, P::Str, P::Str], [P::Bytes, P::Bytes, P::Bytes]),
            concat_type,
            concat_ws,
        )
        .udf(),
        KsqlUdf::new("trim", overloads!([P::Str]), returns!(DataType::Utf8), trim).udf(),
        KsqlUdf::new(
            "lpad",
            overloads!([P::Str, P::Int, P::Str], [P::Bytes, P::Int, P::Bytes]),
            same_as_first,
            lpad,
        )
        .udf(),
        KsqlUdf::new(
            "rpad",
            overloads!([P::Str, P::Int, P::Str], [P::Bytes, P::Int, P::Bytes]),
            same_as_first,
            rpad,
        )
        .udf(),
        KsqlUdf::new(
            "replace",
            overloads!([P::Str, P::Str, P::Str]),
            returns!(DataType::Utf8),
            replace,
        )
        .udf(),
        KsqlUdf::new(
            "instr",
            overloads!(
                [P::Str, P::Str],
                [P::Str, P::Str, P::Int],
                [P::Str, P::Str, P::Int, P::Int]
            ),
            returns!(DataType::Int32),
            instr,
        )
        .udf(),
        KsqlUdf::new(
            "initcap",
            overloads!([P::Str]),
            returns!(DataType::Utf8),
            initcap,
        )
        .udf(),
        KsqlUdf::new(
            "chr",
            overloads!([P::Int], [P::Str]),
            returns!(DataType::Utf8),
            chr,
        )
        .udf(),
        KsqlUdf::new(
            "elt",
            variadic!([P::Int, P::Str]),
            returns!(DataType::Utf8),
            elt,
        )
        .udf(),
        KsqlUdf::new(
            "field",
            variadic!([P::Str, P::Str]),
            returns!(DataType::Int32),
            field,
        )
        .udf(),
    ]
}

/// SUBSTRING, also used by the planner for the `SUBSTRING(… FROM …)` syntax.
pub(crate) fn substring_udf() -> Arc<ScalarUDF> {
    KsqlUdf::new(
        "substring",
        overloads!(
            [P::Str, P::Int],
            [P::Str, P::Int, P::Int],
            [P::Bytes, P::Int],
            [P::Bytes, P::Int, P::Int]
        ),
        same_as_first,
        substring,
    )
    .udf()
}

fn concat_type(args: &[DataType]) -> Result<DataType> {
    Ok(match args.first() {
        Some(DataType::Binary) => DataType::Binary,
        _ => DataType::Utf8,
    })
}

fn map_str(arrays: &[ArrayRef], rows: usize, f: impl Fn(&str) -> String) -> Result<ArrayRef> {
    let s = arg::<StringArray>(arrays, 0)?;
    Ok(utf8_rows(rows, |i| get(s, i).map(&f)))
}

fn lcase(arrays: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    map_str(arrays, rows, str::to_lowercase)
}

fn ucase(arrays: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    map_str(arrays, rows, str::to_uppercase)
}

/// Java's `String.trim`: strips characters up to U+0020 from both ends.
fn trim(arrays: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    map_str(arrays, rows, |s| s.trim_matches(|c| c <= ' ').to_string())
}

fn len(arrays: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    if let Ok(b) = arg::<BinaryArray>(arrays, 0) {
        return Ok(int_rows(rows, |i| get(b, i).map(|v| v.len() as i32)));
    }
    let s = arg::<StringArray>(arrays, 0)?;
    Ok(int_rows(rows, |i| {
        get(s, i).map(|v| v.chars().count() as i32)
    }))
}

/// The `[start, end)` range ksqlDB's SUBSTRING takes from a value of `len`
/// units: 1-based `pos`, negative from the end, clamped to the value.
pub(crate) fn substring_range(len: usize, pos: i32, length: Option<i32>) -> (usize, usize) {
    let len = len as i64;
    let pos = pos as i64;
    let start = if pos < 0 {
        (len + pos).max(0)
    } else {
        (pos - 1).min(len).max(0)
    };
    let end = match length {
        None => len,
        Some(l) => (start + l as i64).min(len).max(start),
    };
    (start as usize, end as usize)
}

fn substring(arrays: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let pos = arg::<Int32Array>(arrays, 1)?;
    let length = if arrays.len() > 2 {
        Some(arg::<Int32Array>(arrays, 2)?)
    } else {
        None
    };
    // None: a null argument; Some(None): no length given.
    let len_at = |i: usize| match length {
        None => Some(None),
        Some(l) => get(l, i).map(Some),
    };
    if let Ok(b) = arg::<BinaryArray>(arrays, 0) {
        return Ok(binary_rows(rows, |i| {
            let (v, p, l) = (get(b, i)?, get(pos, i)?, len_at(i)?);
            let (s, e) = substring_range(v.len(), p, l);
            Some(v[s..e].to_vec())
        }));
    }
    let s = arg::<StringArray>(arrays, 0)?;
    Ok(utf8_rows(rows, |i| {
        let (v, p, l) = (get(s, i)?, get(pos, i)?, len_at(i)?);
        let n = v.chars().count();
        let (start, end) = substring_range(n, p, l);
        Some(v.chars().skip(start).take(end - start).collect::<String>())
    }))
}

fn concat(arrays: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    if arrays.iter().all(|a| a.data_type() == &DataType::Binary) && !arrays.is_empty() {
        let bs = (0..arrays.len())
            .map(|k| arg::<BinaryArray>(arrays, k))
            .collect::<Result<Vec<_>>>()?;
        return Ok(binary_rows(rows, |i| {
            Some(
                bs.iter()
                    .filter_map(|b| get(*b, i))
                    .collect::<Vec<_>>()
                    .concat(),
            )
        }));
    }
    let ss = (0..arrays.len())
        .map(|k| arg::<StringArray>(arrays, k))
        .collect::<Result<Vec<_>>>()?;
    Ok(utf8_rows(rows, |i| {
        Some(ss.iter().filter_map(|s| get(*s, i)).collect::<String>())
    }))
}

fn concat_ws(arrays: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    if arrays.first().map(|a| a.data_type()) == Some(&DataType::Binary) {
        let bs = (0..arrays.len())
            .map(|k| arg::<BinaryArray>(arrays, k))
            .collect::<Result<Vec<_>>>()?;
        return Ok(binary_rows(rows, |i| {
            let sep = get(bs[0], i)?;
            let parts = bs[1..]
                .iter()
                .filter_map(|b| get(*b, i))
                .collect::<Vec<_>>();
            Some(parts.join(sep))
        }));
    }
    let ss = (0..arrays.len())
        .map(|k| arg::<StringArray>(arrays, k))
        .collect::<Result<Vec<_>>>()?;
    Ok(utf8_rows(rows, |i| {
        let sep = get(ss[0], i)?;
        let parts = ss[1..]
            .iter()
            .filter_map(|s| get(*s, i))
            .collect::<Vec<_>>();
        Some(parts.join(sep))
    }))
}

/// Pads `input` to `target` units with repetitions of `pad`, on the left or
/// the right, truncating an input that is longer.
fn pad<T: Clone>(input: &[T], target: usize, pad: &[T], left: bool) -> Vec<T> {
    let fill: Vec<T> = pad
        .iter()
        .cycle()
        .take(target.saturating_sub(input.len()))
        .cloned()
        .collect();
    let mut out = if left {
        [fill.as_slice(), input].concat()
    } else {
        [input, fill.as_slice()].concat()
    };
    out.truncate(target);
    out
}

fn pad_fn(arrays: &[ArrayRef], rows: usize, left: bool) -> Result<ArrayRef> {
    let target = arg::<Int32Array>(arrays, 1)?;
    let target_at = |i: usize| get(target, i).filter(|t| *t >= 0).map(|t| t as usize);
    if let Ok(b) = arg::<BinaryArray>(arrays, 0) {
        let p = arg::<BinaryArray>(arrays, 2)?;
        return Ok(binary_rows(rows, |i| {
            let (v, t, p) = (
                get(b, i)?,
                target_at(i)?,
                get(p, i).filter(|p| !p.is_empty())?,
            );
            Some(pad(v, t, p, left))
        }));
    }
    let s = arg::<StringArray>(arrays, 0)?;
    let p = arg::<StringArray>(arrays, 2)?;
    Ok(utf8_rows(rows, |i| {
        let (v, t, p) = (
            get(s, i)?,
            target_at(i)?,
            get(p, i).filter(|p| !p.is_empty())?,
        );
        let v: Vec<char> = v.chars().collect();
        let p: Vec<char> = p.chars().collect();
        Some(pad(&v, t, &p, left).into_iter().collect::<String>())
    }))
}

fn lpad(arrays: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    pad_fn(arrays, rows, true)
}

fn rpad(arrays: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    pad_fn(arrays, rows, false)
}

fn replace(arrays: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let s = arg::<StringArray>(arrays, 0)?;
    let from = arg::<StringArray>(arrays, 1)?;
    let to = arg::<StringArray>(arrays, 2)?;
    Ok(utf8_rows(rows, |i| {
        Some(get(s, i)?.replace(get(from, i)?, get(to, i)?))
    }))
}

/// Index of the `n`-th (1-based, overlapping) occurrence of `needle` in
/// `hay`, as Apache Commons' `ordinalIndexOf`.
fn ordinal_index(hay: &[char], needle: &[char], n: i32) -> Option<usize> {
    if n <= 0 {
        return None;
    }
    let mut found = 0;
    for start in 0..=hay.len() {
        if hay.len() - start >= needle.len() && hay[start..start + needle.len()] == *needle {
            found += 1;
            if found == n {
                return Some(start);
            }
        }
    }
    None
}

/// INSTR: 1-based position of an occurrence, 0 when there is none; a
/// negative position searches backwards from that many characters before the
/// end.
fn instr_one(s: &str, sub: &str, position: i32, occurrence: i32) -> i32 {
    let mut hay: Vec<char> = s.chars().collect();
    let mut needle: Vec<char> = sub.chars().collect();
    let len = hay.len() as i64;
    let pos = position as i64;
    if pos.abs() > len {
        return 0;
    }
    let reversed = pos < 0;
    let pos = pos.abs();
    if reversed {
        hay.reverse();
        needle.reverse();
    }
    // Commons' substring(str, pos - 1): a negative start counts from the end.
    let mut start = pos - 1;
    if start < 0 {
        start += len;
    }
    let start = start.clamp(0, len) as usize;
    match ordinal_index(&hay[start..], &needle, occurrence) {
        None => 0,
        Some(i) if reversed => (len - pos - i as i64) as i32,
        Some(i) => (i as i64 + pos) as i32,
    }
}

fn instr(arrays: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let s = arg::<StringArray>(arrays, 0)?;
    let sub = arg::<StringArray>(arrays, 1)?;
    let pos = arrays
        .get(2)
        .map(|_| arg::<Int32Array>(arrays, 2))
        .transpose()?;
    let occ = arrays
        .get(3)
        .map(|_| arg::<Int32Array>(arrays, 3))
        .transpose()?;
    Ok(int_rows(rows, |i| {
        let p = match pos {
            Some(p) => get(p, i)?,
            None => 1,
        };
        let o = match occ {
            Some(o) => get(o, i)?,
            None => 1,
        };
        match (get(s, i), get(sub, i)) {
            (Some(s), Some(sub)) => Some(instr_one(s, sub, p, o)),
            _ => Some(0),
        }
    }))
}

/// INITCAP: words are runs of non-whitespace; each gets its first character
/// upper-cased and the rest lower-cased, whitespace kept as it is.
fn initcap_one(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at_word_start = true;
    for c in s.to_lowercase().chars() {
        if c.is_whitespace() {
            at_word_start = true;
            out.push(c);
        } else if at_word_start {
            at_word_start = false;
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn initcap(arrays: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    map_str(arrays, rows, initcap_one)
}

/// CHR(INT) is the character with that code point; CHR(STRING) decodes a
/// `\uXXXX` (or `U+XXXX`) escape. Invalid input gives null.
fn chr(arrays: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    if let Ok(n) = arg::<Int32Array>(arrays, 0) {
        return Ok(utf8_rows(rows, |i| {
            let c = char::from_u32(u32::try_from(get(n, i)?).ok()?)?;
            Some(c.to_string())
        }));
    }
    let s = arg::<StringArray>(arrays, 0)?;
    Ok(utf8_rows(rows, |i| {
        let v = get(s, i)?;
        if v.starts_with("\\u") {
            // Java escapes, UTF-16 units: a surrogate pair is one character.
            let units = v
                .split("\\u")
                .skip(1)
                .map(|h| {
                    (h.len() == 4)
                        .then(|| u16::from_str_radix(h, 16).ok())
                        .flatten()
                })
                .collect::<Option<Vec<u16>>>()?;
            return String::from_utf16(&units).ok();
        }
        let hex = v
            .strip_prefix("\\u")
            .or_else(|| v.strip_prefix("U+"))
            .or_else(|| v.strip_prefix("u+"))?;
        if hex.is_empty() || hex.len() > 6 {
            return None;
        }
        let code = u32::from_str_radix(hex, 16).ok()?;
        char::from_u32(code).map(|c| c.to_string())
    }))
}

/// ELT(n, s1, s2, …): the n-th string (1-based), null when out of range.
fn elt(arrays: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let n = arg::<Int32Array>(arrays, 0)?;
    let ss = (1..arrays.len())
        .map(|k| arg::<StringArray>(arrays, k))
        .collect::<Result<Vec<_>>>()?;
    Ok(utf8_rows(rows, |i| {
        let n = get(n, i)?;
        let s = ss.get(usize::try_from(n).ok()?.checked_sub(1)?)?;
        get(*s, i)
    }))
}

/// FIELD(s, s1, s2, …): 1-based position of s among the rest, 0 if absent
/// or null.
fn field(arrays: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let ss = (0..arrays.len())
        .map(|k| arg::<StringArray>(arrays, k))
        .collect::<Result<Vec<_>>>()?;
    Ok(int_rows(rows, |i| {
        let Some(needle) = get(ss[0], i) else {
            return Some(0);
        };
        let pos = ss[1..].iter().position(|s| get(*s, i) == Some(needle));
        Some(pos.map(|p| p as i32 + 1).unwrap_or(0))
    }))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{check, check_err, check_typed, column};
    use arrow::datatypes::DataType;

    #[tokio::test]
    async fn case_and_length() {
        check_typed("ucase('Quiet Fox')", "QUIET FOX", DataType::Utf8).await;
        check("lcase('Quiet Fox')", "quiet fox").await;
        check("ucase(CAST(NULL AS VARCHAR))", "NULL").await;
        check_typed("len('héllo')", "5", DataType::Int32).await;
        check("len(CAST('abcd' AS BYTEA))", "4").await;
        check("len(NULL)", "NULL").await;
        check_err("ucase(5)").await;
    }

    #[tokio::test]
    async fn substring_positions() {
        check("substring('pinecone', 5)", "cone").await;
        check("substring('pinecone', 2, 3)", "ine").await;
        check("substring('pinecone', -4)", "cone").await;
        check("substring('pinecone', -4, 2)", "co").await;
        check("substring('pinecone', 0, 2)", "pi").await;
        check("substring('pinecone', 20)", "").await;
        check("substring('pinecone', 3, -1)", "").await;
        check("substring('pinecone', NULL)", "NULL").await;
        check("substring('pinecone', 1, NULL)", "NULL").await;
        let (v, t) = column(
            "SELECT substring(s, p) FROM (VALUES ('walnut', 3), ('fig', 9), (NULL, 1)) AS t(s, p)",
        )
        .await;
        assert_eq!(v, ["lnut", "", "NULL"]);
        assert_eq!(t, DataType::Utf8);
    }

    #[tokio::test]
    async fn concat_and_separators() {
        check("concat('x', NULL, 'y', 'z')", "xyz").await;
        check("concat_ws('-', 'a', NULL, 'b')", "a-b").await;
        check("concat_ws(NULL, 'a', 'b')", "NULL").await;
        check("concat_ws('-', NULL, NULL)", "").await;
        let (v, _) =
            column("SELECT concat(a, b) FROM (VALUES ('p', 'q'), (NULL, 'r')) AS t(a, b)").await;
        assert_eq!(v, ["pq", "r"]);
    }

    #[tokio::test]
    async fn trim_pad_replace() {
        check("trim('\t  spaced out \n')", "spaced out").await;
        check("lpad('abc', 7, 'xy')", "xyxyabc").await;
        check("lpad('abcdef', 3, 'xy')", "abc").await;
        check("rpad('abc', 6, 'xy')", "abcxyx").await;
        check("rpad('abc', 2, 'xy')", "ab").await;
        check("lpad('abc', 5, '')", "NULL").await;
        check("rpad('abc', -1, 'x')", "NULL").await;
        check("replace('banana', 'an', 'AN')", "bANANa").await;
        check("replace('banana', NULL, 'x')", "NULL").await;
    }

    #[tokio::test]
    async fn instr_search() {
        check_typed("instr('mississippi', 'ss')", "3", DataType::Int32).await;
        check("instr('mississippi', 'ss', 4)", "6").await;
        check("instr('mississippi', 'ss', 1, 2)", "6").await;
        check("instr('mississippi', 'ss', -1)", "6").await;
        check("instr('mississippi', 'ss', -1, 2)", "3").await;
        check("instr('mississippi', 'zz')", "0").await;
        check("instr('abc', 'b', 9)", "0").await;
        check("instr(NULL, 'b')", "0").await;
    }

    #[tokio::test]
    async fn initcap_chr_elt_field() {
        check("initcap('the qUICK  brown-fox')", "The Quick  Brown-fox").await;
        check("chr(66)", "B").await;
        check("chr('\\u00e9')", "é").await;
        check("chr('nope')", "NULL").await;
        check("elt(2, 'a', 'b', 'c')", "b").await;
        check("elt(4, 'a', 'b', 'c')", "NULL").await;
        check("field('b', 'a', 'b')", "2").await;
        check("field('z', 'a', 'b')", "0").await;
        check("field(NULL, 'a', NULL)", "0").await;
    }
}
