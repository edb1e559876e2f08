//! Windowed keys as Kafka Streams writes them.
//!
//! A windowed table (and a stream declared with `WINDOW_TYPE`) has keys
//! that carry their window after the serialized key columns:
//!
//! * TUMBLING and HOPPING windows: the key bytes, then the window start
//!   (epoch ms, 8 bytes big-endian). The end is not written: it is the start
//!   plus the window size, which the source declares (`WINDOW_SIZE`).
//! * SESSION windows: the key bytes, then the window end, then the window
//!   start (8 bytes big-endian each).
//!
//! [`wrap`] appends windows to a batch of encoded keys in one new buffer;
//! [`split`] takes one raw key apart for decoding.

use arrow::array::{Array, Int64Array};

use super::Encoded;
use crate::error::{Error, Result};
use crate::sql::properties::WindowType;

/// How the window of a key is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WindowedKey {
    /// TUMBLING and HOPPING windows: key bytes, then the start.
    Time,
    /// SESSION windows: key bytes, then the end, then the start.
    Session,
}

/// Bytes of one window bound.
const BOUND: usize = 8;

impl WindowedKey {
    /// The layout a window type is written with.
    pub fn of(window: WindowType) -> WindowedKey {
        match window {
            WindowType::Tumbling | WindowType::Hopping => WindowedKey::Time,
            WindowType::Session => WindowedKey::Session,
        }
    }

    /// The bytes the window adds after the key: 8 for a time window, 16 for
    /// a session window.
    pub fn suffix_len(self) -> usize {
        match self {
            WindowedKey::Time => BOUND,
            WindowedKey::Session => 2 * BOUND,
        }
    }
}

/// A raw windowed key taken apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitKey<'a> {
    /// The serialized key columns.
    pub key: &'a [u8],
    /// The window start, epoch ms.
    pub start: i64,
    /// The window end, epoch ms.
    pub end: i64,
}

/// Takes a raw windowed key apart. `size_ms` is the window size of a time
/// window (its end is `start + size_ms`; without a size the end is the
/// start). The error, for a key too short to hold its window, says so and
/// is meant for the processing log.
pub fn split(raw: &[u8], kind: WindowedKey, size_ms: Option<u64>) -> Result<SplitKey<'_>> {
    let suffix = kind.suffix_len();
    let Some(key_len) = raw.len().checked_sub(suffix) else {
        return Err(Error::user(format!(
            "the windowed key is {} bytes long, shorter than the {suffix} bytes of its {} \
             window",
            raw.len(),
            match kind {
                WindowedKey::Time => "time",
                WindowedKey::Session => "session",
            }
        )));
    };
    let (key, window) = raw.split_at(key_len);
    let bound = |at: usize| {
        let mut b = [0u8; BOUND];
        b.copy_from_slice(&window[at..at + BOUND]);
        i64::from_be_bytes(b)
    };
    Ok(match kind {
        WindowedKey::Time => {
            let start = bound(0);
            let size = size_ms.map_or(0, |s| i64::try_from(s).unwrap_or(i64::MAX));
            SplitKey {
                key,
                start,
                end: start.saturating_add(size),
            }
        }
        WindowedKey::Session => SplitKey {
            key,
            end: bound(0),
            start: bound(BOUND),
        },
    })
}

/// Appends each row's window to a batch of encoded keys, into one new
/// buffer. A null key, or a row whose window start is null, stays a null
/// key (Kafka Streams cannot write a window without a key). `ends` is read
/// only for session windows; a null end there is written as the start.
pub fn wrap(
    keys: &Encoded,
    kind: WindowedKey,
    starts: &Int64Array,
    ends: &Int64Array,
) -> Result<Encoded> {
    let n = keys.len();
    if starts.len() != n || ends.len() != n {
        return Err(Error::internal(format!(
            "windowed keys: {n} keys but {} window starts and {} window ends",
            starts.len(),
            ends.len()
        )));
    }
    let mut out = Encoded {
        data: Vec::with_capacity(keys.data.len() + n * kind.suffix_len()),
        offsets: Vec::with_capacity(n + 1),
        nulls: Vec::with_capacity(n),
    };
    out.offsets.push(0);
    for i in 0..n {
        match keys.get(i) {
            Some(key) if starts.is_valid(i) => {
                let start = starts.value(i);
                out.data.extend_from_slice(key);
                if kind == WindowedKey::Session {
                    let end = if ends.is_valid(i) {
                        ends.value(i)
                    } else {
                        start
                    };
                    out.data.extend_from_slice(&end.to_be_bytes());
                }
                out.data.extend_from_slice(&start.to_be_bytes());
                out.nulls.push(false);
            }
            _ => out.nulls.push(true),
        }
        out.offsets.push(out.data.len());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(rows: &[Option<&[u8]>]) -> Encoded {
        let mut e = Encoded {
            offsets: vec![0],
            ..Encoded::default()
        };
        for r in rows {
            if let Some(b) = r {
                e.data.extend_from_slice(b);
            }
            e.nulls.push(r.is_none());
            e.offsets.push(e.data.len());
        }
        e
    }

    #[test]
    fn time_windows_append_the_start() {
        let keys = encoded(&[Some(b"ab"), Some(b"")]);
        let starts = Int64Array::from(vec![1, 30_000]);
        let ends = Int64Array::from(vec![None, None]);
        let out = wrap(&keys, WindowedKey::Time, &starts, &ends).unwrap();
        let mut first = b"ab".to_vec();
        first.extend_from_slice(&1i64.to_be_bytes());
        assert_eq!(out.get(0), Some(first.as_slice()));
        assert_eq!(out.get(1), Some(&30_000i64.to_be_bytes()[..]));
        let s = split(out.get(0).unwrap(), WindowedKey::Time, Some(10)).unwrap();
        assert_eq!(
            s,
            SplitKey {
                key: b"ab",
                start: 1,
                end: 11
            }
        );
    }

    #[test]
    fn session_windows_append_end_then_start() {
        let keys = encoded(&[Some(b"k")]);
        let starts = Int64Array::from(vec![5]);
        let ends = Int64Array::from(vec![9]);
        let out = wrap(&keys, WindowedKey::Session, &starts, &ends).unwrap();
        let mut want = b"k".to_vec();
        want.extend_from_slice(&9i64.to_be_bytes());
        want.extend_from_slice(&5i64.to_be_bytes());
        assert_eq!(out.get(0), Some(want.as_slice()));
        let s = split(&want, WindowedKey::Session, None).unwrap();
        assert_eq!((s.key, s.start, s.end), (&b"k"[..], 5, 9));
    }

    #[test]
    fn null_keys_and_null_windows_stay_null() {
        let keys = encoded(&[None, Some(b"x")]);
        let starts = Int64Array::from(vec![Some(1), None]);
        let ends = Int64Array::from(vec![Some(2), Some(3)]);
        let out = wrap(&keys, WindowedKey::Session, &starts, &ends).unwrap();
        assert_eq!(out.nulls, vec![true, true]);
        assert_eq!(out.offsets, vec![0, 0, 0]);
    }

    #[test]
    fn short_keys_are_errors() {
        let e = split(&[0; 7], WindowedKey::Time, Some(1)).unwrap_err();
        assert!(e.to_string().contains("7 bytes"), "{e}");
        assert!(split(&[0; 15], WindowedKey::Session, None).is_err());
        let empty_key = split(&[0; 16], WindowedKey::Session, None).unwrap();
        assert!(empty_key.key.is_empty());
    }

    #[test]
    fn mismatched_lengths_are_internal_errors() {
        let keys = encoded(&[Some(b"a")]);
        let none = Int64Array::from(Vec::<i64>::new());
        assert!(wrap(&keys, WindowedKey::Time, &none, &none).is_err());
    }

    #[test]
    fn huge_sizes_saturate() {
        let raw = i64::MAX.to_be_bytes();
        let s = split(&raw, WindowedKey::Time, Some(u64::MAX)).unwrap();
        assert_eq!(s.end, i64::MAX);
    }
}
