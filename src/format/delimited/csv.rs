//! One CSV record, split and printed as Apache Commons CSV does it for
//! ksqlDB (RFC 4180 quoting, `"` doubled inside quotes, no escape
//! character, no trimming).

/// Where one field of a record lies in the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldSpan {
    /// Start of the field's text (inside the quotes, if quoted).
    pub(crate) start: usize,
    /// End of the field's text.
    pub(crate) end: usize,
    /// The text holds doubled quotes (`""`) to collapse.
    pub(crate) has_escapes: bool,
}

/// Splits the first record of `payload` into `fields` (cleared first).
/// Leading empty lines are skipped; anything but line breaks after the
/// record is an error.
pub(crate) fn split_record(
    payload: &[u8],
    delimiter: &[u8],
    fields: &mut Vec<FieldSpan>,
) -> Result<(), String> {
    fields.clear();
    let mut pos = skip_line_breaks(payload, 0);
    if pos == payload.len() {
        return Ok(());
    }
    let at_delimiter = |pos: usize| payload.get(pos..).is_some_and(|r| r.starts_with(delimiter));
    loop {
        if payload.get(pos) == Some(&b'"') {
            let start = pos + 1;
            let mut i = start;
            let mut has_escapes = false;
            let end = loop {
                match payload.get(i) {
                    Some(b'"') if payload.get(i + 1) == Some(&b'"') => {
                        has_escapes = true;
                        i += 2;
                    }
                    Some(b'"') => break i,
                    Some(_) => i += 1,
                    None => {
                        return Err("EOF reached before the quoted field closed".to_string());
                    }
                }
            };
            fields.push(FieldSpan {
                start,
                end,
                has_escapes,
            });
            pos = end + 1;
            // Only blanks may follow the closing quote.
            while !at_delimiter(pos) && matches!(payload.get(pos), Some(b' ' | b'\t')) {
                pos += 1;
            }
            if !at_delimiter(pos) && !matches!(payload.get(pos), None | Some(b'\n' | b'\r')) {
                return Err(format!(
                    "Invalid character after the closing quote of field {}",
                    fields.len()
                ));
            }
        } else {
            let start = pos;
            while pos < payload.len()
                && !at_delimiter(pos)
                && !matches!(payload[pos], b'\n' | b'\r')
            {
                pos += 1;
            }
            fields.push(FieldSpan {
                start,
                end: pos,
                has_escapes: false,
            });
        }
        if at_delimiter(pos) {
            pos += delimiter.len();
            continue;
        }
        break;
    }
    if skip_line_breaks(payload, pos) != payload.len() {
        return Err(
            "Unexpected data after the first line: a DELIMITED record is one line \
                    (quote fields that contain line breaks)"
                .to_string(),
        );
    }
    Ok(())
}

fn skip_line_breaks(payload: &[u8], mut pos: usize) -> usize {
    while matches!(payload.get(pos), Some(b'\n' | b'\r')) {
        pos += 1;
    }
    pos
}

/// The text of `field`, with doubled quotes collapsed into `scratch` when
/// needed.
pub(crate) fn field_text<'a>(
    payload: &'a [u8],
    field: FieldSpan,
    scratch: &'a mut Vec<u8>,
) -> &'a [u8] {
    let raw = payload.get(field.start..field.end).unwrap_or_default();
    if !field.has_escapes {
        return raw;
    }
    scratch.clear();
    let mut quote = false;
    for &c in raw {
        if c == b'"' && quote {
            quote = false;
            continue;
        }
        quote = c == b'"';
        scratch.push(c);
    }
    scratch
}

/// Whether Commons CSV (as ksqlDB uses it) quotes `value`: an empty first
/// field; a first field not starting with a letter or digit; a field
/// starting with a character up to `#`, ending with one up to a space, or
/// holding a quote, a line break or the delimiter.
pub(crate) fn needs_quotes(value: &[u8], first: bool, delimiter: &[u8]) -> bool {
    let Some(&c) = value.first() else {
        return first;
    };
    if (first && !c.is_ascii_alphanumeric()) || c <= b'#' {
        return true;
    }
    if value.iter().any(|&b| matches!(b, b'"' | b'\n' | b'\r'))
        || value
            .windows(delimiter.len().max(1))
            .any(|w| w == delimiter)
    {
        return true;
    }
    value.last().is_some_and(|&c| c <= b' ')
}

/// Appends `value` as a field, quoted (with quotes doubled) when needed.
pub(crate) fn write_field(out: &mut Vec<u8>, value: &[u8], first: bool, delimiter: &[u8]) {
    if !needs_quotes(value, first, delimiter) {
        out.extend_from_slice(value);
        return;
    }
    out.push(b'"');
    for &c in value {
        if c == b'"' {
            out.push(b'"');
        }
        out.push(c);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(payload: &str, delimiter: &str) -> Result<Vec<String>, String> {
        let mut fields = Vec::new();
        split_record(payload.as_bytes(), delimiter.as_bytes(), &mut fields)?;
        let mut scratch = Vec::new();
        Ok(fields
            .iter()
            .map(|f| {
                String::from_utf8(field_text(payload.as_bytes(), *f, &mut scratch).to_vec())
                    .unwrap()
            })
            .collect())
    }

    #[test]
    fn splits_quoted_and_plain_fields() {
        assert_eq!(split("a,b,,c", ",").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(split("x,", ",").unwrap(), ["x", ""]);
        assert_eq!(
            split(r#""a,b","say ""hi""",c"d"#, ",").unwrap(),
            ["a,b", r#"say "hi""#, r#"c"d"#]
        );
        assert_eq!(split("\"two\nlines\"|z", "|").unwrap(), ["two\nlines", "z"]);
        assert_eq!(split("\n\r\n1;2\r\n", ";").unwrap(), ["1", "2"]);
        assert_eq!(split("\"q\"  ,r", ",").unwrap(), ["q", "r"]);
        assert_eq!(split("a§b", "§").unwrap(), ["a", "b"]);
        assert_eq!(split(" a\t", ",").unwrap(), [" a\t"]);
        assert!(split("", ",").unwrap().is_empty());
    }

    #[test]
    fn rejects_broken_records() {
        assert!(split("\"open", ",").unwrap_err().contains("EOF"));
        assert!(split("\"a\"b,c", ",")
            .unwrap_err()
            .contains("closing quote"));
        assert!(split("1,2\n3,4", ",").unwrap_err().contains("one line"));
    }

    #[test]
    fn quotes_like_commons_csv() {
        let q = |v: &str, first: bool| needs_quotes(v.as_bytes(), first, b",");
        assert!(q("", true));
        assert!(!q("", false));
        assert!(q("-1", true));
        assert!(!q("-1", false));
        assert!(!q("abc", true));
        assert!(q("!", false));
        assert!(q(" lead", false));
        assert!(q("trail ", false));
        assert!(q("a,b", false));
        assert!(q("a\"b", false));
        assert!(q("a\nb", false));
        let mut out = Vec::new();
        write_field(&mut out, b"say \"hi\"", false, b",");
        assert_eq!(out, br#""say ""hi""""#);
    }
}
