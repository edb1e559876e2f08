//! ksqlDB's URL functions: URL_ENCODE_PARAM, URL_DECODE_PARAM and the
//! URL_EXTRACT_* family (FRAGMENT, HOST, PARAMETER, PATH, PORT, PROTOCOL,
//! QUERY), following `java.net.URI`: components come back percent-decoded,
//! a missing component (or an unparsable URL) is null.

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::ScalarUDF;

use super::udf::{arg, get, int_rows, overloads, returns, utf8_rows, KsqlUdf, P};

/// A URL extractor: one STRING in, STRING out.
macro_rules! extract {
    ($name:literal, $f:expr) => {{
        fn eval(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
            let s = arg::<StringArray>(a, 0)?;
            let f: fn(&Url) -> Option<String> = $f;
            Ok(utf8_rows(rows, |i| f(&Url::parse(get(s, i)?)?)))
        }
        KsqlUdf::new($name, overloads!([P::Str]), returns!(DataType::Utf8), eval).udf()
    }};
}

/// The URL functions.
pub fn udfs() -> Vec<Arc<ScalarUDF>> {
    vec![
        KsqlUdf::new(
            "url_encode_param",
            overloads!([P::Str]),
            returns!(DataType::Utf8),
            url_encode_param,
        )
        .udf(),
        KsqlUdf::new(
            "url_decode_param",
            overloads!([P::Str]),
            returns!(DataType::Utf8),
            url_decode_param,
        )
        .udf(),
        extract!("url_extract_fragment", |u| decode(u.fragment?, false)),
        extract!("url_extract_host", |u| u.host.map(str::to_string)),
        extract!("url_extract_path", |u| decode(u.path, false)),
        extract!("url_extract_protocol", |u| u.scheme.map(str::to_string)),
        extract!("url_extract_query", |u| decode(u.query?, false)),
        KsqlUdf::new(
            "url_extract_port",
            overloads!([P::Str]),
            returns!(DataType::Int32),
            url_extract_port,
        )
        .udf(),
        KsqlUdf::new(
            "url_extract_parameter",
            overloads!([P::Str, P::Str]),
            returns!(DataType::Utf8),
            url_extract_parameter,
        )
        .udf(),
    ]
}

/// The parts of a URI (raw, not yet decoded).
struct Url<'a> {
    scheme: Option<&'a str>,
    host: Option<&'a str>,
    port: Option<i32>,
    path: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

impl<'a> Url<'a> {
    fn parse(s: &'a str) -> Option<Url<'a>> {
        if s.chars().any(|c| c.is_whitespace()) {
            return None;
        }
        let (rest, fragment) = match s.split_once('#') {
            Some((r, f)) => (r, Some(f)),
            None => (s, None),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (scheme, rest) = match rest.find(':') {
            Some(k)
                if k > 0
                    && rest[..k]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                    && rest.as_bytes()[0].is_ascii_alphabetic() =>
            {
                (Some(&rest[..k]), &rest[k + 1..])
            }
            _ => (None, rest),
        };
        let (host, port, path) = match rest.strip_prefix("//") {
            Some(r) => {
                let end = r.find('/').unwrap_or(r.len());
                let (authority, path) = r.split_at(end);
                let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
                let (host, port) = match hostport.rsplit_once(':') {
                    Some((h, p)) if !h.ends_with(']') || !p.contains(']') => {
                        if p.is_empty() {
                            (h, None)
                        } else {
                            (h, Some(p.parse::<i32>().ok()?))
                        }
                    }
                    _ => (hostport, None),
                };
                (Some(host).filter(|h| !h.is_empty()), port, path)
            }
            None => (None, None, rest),
        };
        Some(Url {
            scheme,
            host,
            port,
            path,
            query,
            fragment,
        })
    }
}

/// Percent-decodes (and, for form parameters, turns `+` into a space);
/// `None` for a malformed escape or invalid UTF-8.
fn decode(s: &str, plus_is_space: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Java's `URLEncoder.encode(s, UTF_8)`: letters, digits and `.-*_` stay,
/// space becomes `+`, everything else `%XX`.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(c as char)
            }
            b' ' => out.push('+'),
            c => out.push_str(&format!("%{c:02X}")),
        }
    }
    out
}

fn url_encode_param(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let s = arg::<StringArray>(a, 0)?;
    Ok(utf8_rows(rows, |i| get(s, i).map(encode)))
}

fn url_decode_param(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let s = arg::<StringArray>(a, 0)?;
    Ok(utf8_rows(rows, |i| decode(get(s, i)?, true)))
}

fn url_extract_port(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let s = arg::<StringArray>(a, 0)?;
    Ok(int_rows(rows, |i| Url::parse(get(s, i)?)?.port))
}

/// The decoded value of the first query parameter named `name` (empty for
/// a parameter without `=`).
fn url_extract_parameter(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let s = arg::<StringArray>(a, 0)?;
    let n = arg::<StringArray>(a, 1)?;
    Ok(utf8_rows(rows, |i| {
        let url = Url::parse(get(s, i)?)?;
        let name = get(n, i)?;
        url.query?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k, true)? == name)
                .then(|| decode(v, true))
                .flatten()
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{check, check_typed};
    use arrow::datatypes::DataType;

    const U: &str = "'https://user@shop.example:8443/a%20b/c?q=red+shoes&n=2&flag#top'";

    #[tokio::test]
    async fn extracts_parts() {
        check(&format!("url_extract_protocol({U})"), "https").await;
        check(&format!("url_extract_host({U})"), "shop.example").await;
        check_typed(&format!("url_extract_port({U})"), "8443", DataType::Int32).await;
        check(&format!("url_extract_path({U})"), "/a b/c").await;
        check(&format!("url_extract_query({U})"), "q=red+shoes&n=2&flag").await;
        check(&format!("url_extract_fragment({U})"), "top").await;
        check(&format!("url_extract_parameter({U}, 'q')"), "red shoes").await;
        check(&format!("url_extract_parameter({U}, 'flag')"), "").await;
        check(&format!("url_extract_parameter({U}, 'zz')"), "NULL").await;
        check("url_extract_port('http://h.example/x')", "NULL").await;
        check("url_extract_fragment('http://h.example/x')", "NULL").await;
    }

    #[tokio::test]
    async fn encodes_params() {
        check("url_encode_param('a b&c=d/é')", "a+b%26c%3Dd%2F%C3%A9").await;
        check("url_decode_param('a+b%26c%3Dd%2F%C3%A9')", "a b&c=d/é").await;
        check("url_decode_param('%zz')", "NULL").await;
    }
}
