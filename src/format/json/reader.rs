//! A pull reader over one JSON text: the decoder asks for the next token of
//! the kind it expects and gets borrowed slices back.
//!
//! Strings without escapes come back as slices of the payload; escaped ones
//! are unescaped into one scratch buffer reused for the whole batch. Numbers
//! come back as their exact text. Nothing is allocated per value.

use std::fmt;

/// Deepest nesting skipped or coerced to text; deeper input is an error,
/// never a stack overflow.
pub(crate) const MAX_DEPTH: usize = 128;

/// The kind of the next JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Object => "object",
            Kind::Array => "array",
            Kind::String => "string",
            Kind::Number => "number",
            Kind::Bool => "boolean",
            Kind::Null => "null",
        })
    }
}

/// Why a record could not be decoded, and where in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError {
    /// What was wrong.
    pub(crate) message: String,
    /// The JSON path below `$`, built from the inside out as the error
    /// travels up (e.g. `.ADDRESS.ZIP`); empty for the whole record.
    pub(crate) path: String,
}

impl DecodeError {
    /// An error at the current value.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        DecodeError {
            message: message.into(),
            path: String::new(),
        }
    }

    /// The same error one level further out, inside `segment`.
    pub(crate) fn within(mut self, segment: fmt::Arguments<'_>) -> Self {
        self.path.insert_str(0, &segment.to_string());
        self
    }

    /// The text for the processing log.
    pub(crate) fn reason(&self) -> String {
        format!("{}, path: ${}", self.message, self.path)
    }
}

type Result<T> = std::result::Result<T, DecodeError>;

/// Reads one JSON text.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    scratch: Vec<u8>,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, unescaping strings into `scratch` (taken back
    /// with [`Reader::into_scratch`]).
    pub(crate) fn new(buf: &'a [u8], scratch: Vec<u8>) -> Self {
        Reader {
            buf,
            pos: 0,
            scratch,
        }
    }

    /// Returns the scratch buffer for the next record.
    pub(crate) fn into_scratch(self) -> Vec<u8> {
        self.scratch
    }

    /// The byte position, to read a value again with [`Reader::seek`].
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Moves back to a position from [`Reader::position`].
    pub(crate) fn seek(&mut self, pos: usize) {
        self.pos = pos.min(self.buf.len());
    }

    /// The raw bytes between two positions.
    pub(crate) fn raw(&self, start: usize, end: usize) -> &'a [u8] {
        self.buf.get(start..end).unwrap_or_default()
    }

    fn syntax(&self, expected: &str) -> DecodeError {
        let found = match self.buf.get(self.pos) {
            None => "end of input".to_string(),
            Some(c) if c.is_ascii_graphic() => format!("'{}'", char::from(*c)),
            Some(c) => format!("byte 0x{c:02x}"),
        };
        DecodeError::new(format!(
            "Invalid JSON at byte {}: expected {expected}, found {found}",
            self.pos
        ))
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.buf.get(self.pos) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8, what: &str) -> Result<()> {
        self.skip_ws();
        if self.buf.get(self.pos) == Some(&c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.syntax(what))
        }
    }

    /// The kind of the next value (whitespace skipped).
    pub(crate) fn peek(&mut self) -> Result<Kind> {
        self.skip_ws();
        match self.buf.get(self.pos) {
            Some(b'{') => Ok(Kind::Object),
            Some(b'[') => Ok(Kind::Array),
            Some(b'"') => Ok(Kind::String),
            Some(b'-' | b'0'..=b'9') => Ok(Kind::Number),
            Some(b't' | b'f') => Ok(Kind::Bool),
            Some(b'n') => Ok(Kind::Null),
            _ => Err(self.syntax("a JSON value")),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<()> {
        if self.buf.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.syntax("true, false or null"))
        }
    }

    /// Reads `null`.
    pub(crate) fn null(&mut self) -> Result<()> {
        self.skip_ws();
        self.literal(b"null")
    }

    /// Reads `true` or `false`.
    pub(crate) fn boolean(&mut self) -> Result<bool> {
        self.skip_ws();
        if self.buf.get(self.pos) == Some(&b't') {
            self.literal(b"true").map(|()| true)
        } else {
            self.literal(b"false").map(|()| false)
        }
    }

    /// Reads a number, giving its exact text.
    pub(crate) fn number(&mut self) -> Result<&'a str> {
        self.skip_ws();
        let start = self.pos;
        let digits = |r: &mut Self| {
            let from = r.pos;
            while r.buf.get(r.pos).is_some_and(u8::is_ascii_digit) {
                r.pos += 1;
            }
            r.pos > from
        };
        if self.buf.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        if self.buf.get(self.pos) == Some(&b'0') {
            self.pos += 1;
        } else if !digits(self) {
            return Err(self.syntax("a digit"));
        }
        if self.buf.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if !digits(self) {
                return Err(self.syntax("a digit after '.'"));
            }
        }
        if let Some(b'e' | b'E') = self.buf.get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.buf.get(self.pos) {
                self.pos += 1;
            }
            if !digits(self) {
                return Err(self.syntax("a digit in the exponent"));
            }
        }
        // Only ASCII digits, signs, '.', 'e' were consumed.
        std::str::from_utf8(self.raw(start, self.pos))
            .map_err(|_| DecodeError::new("Invalid JSON number"))
    }

    /// Reads a string, unescaped.
    pub(crate) fn string(&mut self) -> Result<&str> {
        let at = self.string_at()?;
        self.str_of(at)
    }

    fn str_of(&self, at: StrAt) -> Result<&str> {
        let bytes = match at {
            StrAt::Input(s, e) => self.raw(s, e),
            StrAt::Scratch => &self.scratch,
        };
        std::str::from_utf8(bytes).map_err(|_| DecodeError::new("Invalid UTF-8 in a JSON string"))
    }

    /// Reads a string; where its unescaped text is.
    fn string_at(&mut self) -> Result<StrAt> {
        self.expect(b'"', "'\"'")?;
        let start = self.pos;
        // Fast path: no escapes, the string is a slice of the input; its
        // end is found eight bytes at a time.
        self.pos += find_special(self.buf.get(self.pos..).unwrap_or_default());
        match self.buf.get(self.pos) {
            Some(b'"') => {
                self.pos += 1;
                return Ok(StrAt::Input(start, self.pos - 1));
            }
            Some(b'\\') => {}
            Some(_) => return Err(self.syntax("no control character in a string")),
            None => return Err(self.syntax("'\"' closing the string")),
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(self.raw(start, self.pos));
        loop {
            match self.buf.get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(StrAt::Scratch);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.unescape()?;
                }
                Some(c) if *c < 0x20 => return Err(self.syntax("no control character in a string")),
                Some(c) => {
                    self.scratch.push(*c);
                    self.pos += 1;
                }
                None => return Err(self.syntax("'\"' closing the string")),
            }
        }
    }

    fn unescape(&mut self) -> Result<()> {
        let c = self.buf.get(self.pos).copied();
        self.pos += 1;
        let simple = match c {
            Some(b'"') => b'"',
            Some(b'\\') => b'\\',
            Some(b'/') => b'/',
            Some(b'b') => 0x08,
            Some(b'f') => 0x0c,
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b't') => b'\t',
            Some(b'u') => {
                let mut code = u32::from(self.hex4()?);
                if (0xD800..0xDC00).contains(&code) {
                    if self.buf.get(self.pos..self.pos + 2) != Some(b"\\u") {
                        return Err(DecodeError::new("Invalid JSON string: unpaired surrogate"));
                    }
                    self.pos += 2;
                    let low = u32::from(self.hex4()?);
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err(DecodeError::new("Invalid JSON string: unpaired surrogate"));
                    }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                }
                let ch = char::from_u32(code)
                    .ok_or_else(|| DecodeError::new("Invalid JSON string: unpaired surrogate"))?;
                let mut utf8 = [0u8; 4];
                self.scratch
                    .extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
                return Ok(());
            }
            _ => {
                self.pos -= 1;
                return Err(self.syntax("a valid escape sequence"));
            }
        };
        self.scratch.push(simple);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u16> {
        let digits = self
            .buf
            .get(self.pos..self.pos + 4)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u16::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.syntax("four hex digits"))?;
        self.pos += 4;
        Ok(digits)
    }

    /// Reads `{`; members follow through [`Reader::next_key`].
    pub(crate) fn begin_object(&mut self) -> Result<()> {
        self.expect(b'{', "'{'")
    }

    /// The next member's key (its `:` consumed), or `None` at `}`.
    /// `first` is true before the first member and kept up to date.
    pub(crate) fn next_key(&mut self, first: &mut bool) -> Result<Option<&str>> {
        self.skip_ws();
        if self.buf.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(None);
        }
        if !*first {
            self.expect(b',', "',' or '}'")?;
        }
        *first = false;
        self.skip_ws();
        if self.buf.get(self.pos) != Some(&b'"') {
            return Err(self.syntax("a member name"));
        }
        // The key's text stays put while the colon is read.
        let at = self.string_at()?;
        self.expect(b':', "':'")?;
        self.str_of(at).map(Some)
    }

    /// Reads `[`; elements follow through [`Reader::next_element`].
    pub(crate) fn begin_array(&mut self) -> Result<()> {
        self.expect(b'[', "'['")
    }

    /// True when another element follows, false at `]`.
    pub(crate) fn next_element(&mut self, first: &mut bool) -> Result<bool> {
        self.skip_ws();
        if self.buf.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(false);
        }
        if !*first {
            self.expect(b',', "',' or ']'")?;
        }
        *first = false;
        Ok(true)
    }

    /// Skips one value of any kind, checking its syntax.
    pub(crate) fn skip_value(&mut self) -> Result<()> {
        self.skip_at(0)
    }

    fn skip_at(&mut self, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::new(format!(
                "JSON nested deeper than {MAX_DEPTH} levels"
            )));
        }
        match self.peek()? {
            Kind::Object => {
                self.begin_object()?;
                let mut first = true;
                while self.next_key(&mut first)?.is_some() {
                    self.skip_at(depth + 1)?;
                }
            }
            Kind::Array => {
                self.begin_array()?;
                let mut first = true;
                while self.next_element(&mut first)? {
                    self.skip_at(depth + 1)?;
                }
            }
            Kind::String => {
                self.string()?;
            }
            Kind::Number => {
                self.number()?;
            }
            Kind::Bool => {
                self.boolean()?;
            }
            Kind::Null => self.null()?,
        }
        Ok(())
    }

    /// Skips one value and gives the byte range it spans.
    pub(crate) fn value_range(&mut self) -> Result<(usize, usize)> {
        self.skip_ws();
        let start = self.pos;
        self.skip_value()?;
        Ok((start, self.pos))
    }

    /// Checks that only whitespace follows the value read.
    pub(crate) fn finish(&mut self) -> Result<()> {
        self.skip_ws();
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(self.syntax("the end of the record after the JSON value"))
        }
    }
}

/// The index of the first byte of `bytes` that ends the plain run of a
/// JSON string (a `"`, a `\\` or a control character below 0x20), or
/// `bytes.len()`. Eight bytes at a time: in each word, a byte equal to `"`
/// or `\\` becomes zero after an XOR, and the classic "has a byte below n"
/// test flags it; the lowest flagged byte is always a real one.
fn find_special(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |v: u64, n: u64| v.wrapping_sub(ONES * n) & !v & HIGH;
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in chunks.by_ref() {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let w = u64::from_le_bytes(word);
        let found = below(w ^ (ONES * u64::from(b'"')), 1)
            | below(w ^ (ONES * u64::from(b'\\')), 1)
            | below(w, 0x20);
        if found != 0 {
            return at + (found.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + chunks
        .remainder()
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .unwrap_or(chunks.remainder().len())
}

enum StrAt {
    Input(usize, usize),
    Scratch,
}

/// Appends `raw` (valid JSON) to `out` without whitespace outside strings:
/// the compact text of an object or array.
pub(crate) fn write_compact(raw: &[u8], out: &mut Vec<u8>) {
    let mut in_string = false;
    let mut escaped = false;
    for &c in raw {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
        } else if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            out.push(c);
            in_string = c == b'"';
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(text: &str) -> Reader<'_> {
        Reader::new(text.as_bytes(), Vec::new())
    }

    #[test]
    fn reads_tokens_in_order() {
        let mut r = reader(r#" { "a" : [1, -2.5e3, true, null], "b\u00e9\n": "x\"y" } "#);
        r.begin_object().unwrap();
        let mut first = true;
        assert_eq!(r.next_key(&mut first).unwrap(), Some("a"));
        r.begin_array().unwrap();
        let mut f = true;
        assert!(r.next_element(&mut f).unwrap());
        assert_eq!(r.number().unwrap(), "1");
        assert!(r.next_element(&mut f).unwrap());
        assert_eq!(r.number().unwrap(), "-2.5e3");
        assert!(r.next_element(&mut f).unwrap());
        assert!(r.boolean().unwrap());
        assert!(r.next_element(&mut f).unwrap());
        assert_eq!(r.peek().unwrap(), Kind::Null);
        r.null().unwrap();
        assert!(!r.next_element(&mut f).unwrap());
        assert_eq!(r.next_key(&mut first).unwrap(), Some("bé\n"));
        assert_eq!(r.string().unwrap(), "x\"y");
        assert_eq!(r.next_key(&mut first).unwrap(), None);
        r.finish().unwrap();
    }

    #[test]
    fn surrogate_pairs_decode() {
        let mut r = reader(r#""\ud83d\ude00""#);
        assert_eq!(r.string().unwrap(), "😀");
        assert!(reader(r#""\ud83d""#).string().is_err());
    }

    #[test]
    fn syntax_errors_name_the_position() {
        let err = reader("[1 2]").skip_value().unwrap_err();
        assert_eq!(
            err.message,
            "Invalid JSON at byte 3: expected ',' or ']', found '2'"
        );
        for bad in [
            "01",
            "1.",
            "-",
            "tru",
            "\"abc",
            "{\"a\" 1}",
            "{1:2}",
            "[1,]",
            "\"\u{1}\"",
        ] {
            let mut r = reader(bad);
            assert!(r.skip_value().and_then(|()| r.finish()).is_err(), "{bad:?}");
        }
        let deep = "[".repeat(MAX_DEPTH + 5);
        assert!(reader(&deep)
            .skip_value()
            .unwrap_err()
            .message
            .contains("nested deeper"));
    }

    #[test]
    fn compacts_values() {
        let text = "{ \"a b\" : [ 1 , \"x \\\" y\" ] }";
        let mut out = Vec::new();
        write_compact(text.as_bytes(), &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a b":[1,"x \" y"]}"#);
    }
}

#[cfg(test)]
mod scan_tests {
    use super::find_special;

    #[test]
    fn finds_the_first_quote_backslash_or_control_byte() {
        // Every position, in runs shorter and longer than a word, with
        // bytes around the specials that could fool a word-wide test.
        for len in 0..40 {
            for special in [b'"', b'\\', 0x00, 0x1f] {
                for at in 0..=len {
                    let mut bytes: Vec<u8> =
                        (0..len).map(|i| b"a~\x7f\xc3\xa9!#]"[i % 8]).collect();
                    if at < len {
                        bytes[at] = special;
                    }
                    assert_eq!(find_special(&bytes), at, "len {len}, {special:#x} at {at}");
                }
            }
        }
        assert_eq!(find_special(b"plain \x20 text, then \" after"), 19);
        assert_eq!(find_special("é and ü \\n".as_bytes()), 10);
    }
}
