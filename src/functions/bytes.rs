//! ksqlDB's BYTES conversions: TO_BYTES, FROM_BYTES, ENCODE,
//! INT_FROM_BYTES, BIGINT_FROM_BYTES, DOUBLE_FROM_BYTES, and UUID.
//!
//! Encodings are 'hex', 'utf8', 'ascii' and 'base64' (case-insensitive);
//! text that does not decode, or an unknown encoding, gives null. The
//! `*_FROM_BYTES` functions need exactly 4 or 8 bytes and take an optional
//! byte order, 'BIG_ENDIAN' (default) or 'LITTLE_ENDIAN'.

use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryArray, StringArray};
use arrow::datatypes::DataType;
use base64::Engine;
use datafusion::common::Result;
use datafusion::logical_expr::ScalarUDF;

use super::udf::{
    arg, bigint_rows, binary_rows, double_rows, get, int_rows, overloads, returns, utf8_rows,
    KsqlUdf, P,
};

/// The BYTES functions.
pub fn udfs() -> Vec<Arc<ScalarUDF>> {
    let from = overloads!([P::Bytes], [P::Bytes, P::Str]);
    vec![
        KsqlUdf::new(
            "to_bytes",
            overloads!([P::Str, P::Str]),
            returns!(DataType::Binary),
            to_bytes,
        )
        .udf(),
        KsqlUdf::new(
            "from_bytes",
            overloads!([P::Bytes, P::Str]),
            returns!(DataType::Utf8),
            from_bytes,
        )
        .udf(),
        KsqlUdf::new(
            "encode",
            overloads!([P::Str, P::Str, P::Str]),
            returns!(DataType::Utf8),
            encode,
        )
        .udf(),
        KsqlUdf::new(
            "int_from_bytes",
            from,
            returns!(DataType::Int32),
            int_from_bytes,
        )
        .udf(),
        KsqlUdf::new(
            "bigint_from_bytes",
            from,
            returns!(DataType::Int64),
            bigint_from_bytes,
        )
        .udf(),
        KsqlUdf::new(
            "double_from_bytes",
            from,
            returns!(DataType::Float64),
            double_from_bytes,
        )
        .udf(),
        KsqlUdf::new(
            "uuid",
            overloads!([], [P::Bytes]),
            returns!(DataType::Utf8),
            uuid,
        )
        .volatile()
        .udf(),
    ]
}

/// Text in an encoding to bytes (TO_BYTES).
fn decode(text: &str, encoding: &str) -> Option<Vec<u8>> {
    match encoding.to_ascii_lowercase().as_str() {
        "hex" => {
            let t = text
                .strip_prefix("0x")
                .or_else(|| text.strip_prefix("0X"))
                .unwrap_or(text);
            hex_digits(t, true)
        }
        "utf8" => Some(text.as_bytes().to_vec()),
        "ascii" => text.is_ascii().then(|| text.as_bytes().to_vec()),
        "base64" => base64::engine::general_purpose::STANDARD.decode(text).ok(),
        _ => None,
    }
}

/// Hex digits to bytes; an odd count gets a leading zero when `pad`.
fn hex_digits(t: &str, pad: bool) -> Option<Vec<u8>> {
    let t = match (t.len() % 2 == 1, pad) {
        (false, _) => t.to_string(),
        (true, true) => format!("0{t}"),
        (true, false) => return None,
    };
    (0..t.len())
        .step_by(2)
        .map(|k| u8::from_str_radix(t.get(k..k + 2)?, 16).ok())
        .collect()
}

/// Text in an encoding to bytes, as ENCODE reads it: hex as `0x…` (odd
/// digits padded), `X'…'` or bare digits; ASCII with `?` for any other
/// character, as Java's encoder writes it.
fn decode_for_encode(text: &str, encoding: &str) -> Option<Vec<u8>> {
    match encoding.to_ascii_lowercase().as_str() {
        "hex" => {
            if let Some(t) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                hex_digits(t, true)
            } else if let Some(t) = text.strip_prefix("X'").or_else(|| text.strip_prefix("x'")) {
                hex_digits(t.strip_suffix('\'')?, false)
            } else {
                hex_digits(text, false)
            }
        }
        "ascii" => Some(
            text.chars()
                .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
                .collect(),
        ),
        other => decode(text, other),
    }
}

/// Bytes to text in an encoding; hex in `upper` or lower case.
fn encode_bytes(bytes: &[u8], encoding: &str, upper: bool) -> Option<String> {
    match encoding.to_ascii_lowercase().as_str() {
        "hex" if upper => Some(bytes.iter().map(|b| format!("{b:02X}")).collect()),
        "hex" => Some(bytes.iter().map(|b| format!("{b:02x}")).collect()),
        "utf8" => Some(String::from_utf8_lossy(bytes).into_owned()),
        "ascii" => Some(
            bytes
                .iter()
                .map(|&b| if b.is_ascii() { b as char } else { '\u{FFFD}' })
                .collect(),
        ),
        "base64" => Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
        _ => None,
    }
}

fn to_bytes(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let s = arg::<StringArray>(a, 0)?;
    let e = arg::<StringArray>(a, 1)?;
    Ok(binary_rows(rows, |i| decode(get(s, i)?, get(e, i)?)))
}

fn from_bytes(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let b = arg::<BinaryArray>(a, 0)?;
    let e = arg::<StringArray>(a, 1)?;
    Ok(utf8_rows(rows, |i| {
        encode_bytes(get(b, i)?, get(e, i)?, true)
    }))
}

fn encode(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    let s = arg::<StringArray>(a, 0)?;
    let from = arg::<StringArray>(a, 1)?;
    let to = arg::<StringArray>(a, 2)?;
    Ok(utf8_rows(rows, |i| {
        encode_bytes(
            &decode_for_encode(get(s, i)?, get(from, i)?)?,
            get(to, i)?,
            false,
        )
    }))
}

/// The `N` bytes of row `i`, in big-endian order.
fn fixed<const N: usize>(a: &[ArrayRef], i: usize) -> Option<[u8; N]> {
    let b = a.first()?.as_any().downcast_ref::<BinaryArray>()?;
    let mut bytes: [u8; N] = get(b, i)?.try_into().ok()?;
    if let Some(order) = a
        .get(1)
        .and_then(|o| o.as_any().downcast_ref::<StringArray>())
    {
        match get(order, i)?.to_ascii_uppercase().as_str() {
            "BIG_ENDIAN" => {}
            "LITTLE_ENDIAN" => bytes.reverse(),
            _ => return None,
        }
    }
    Some(bytes)
}

fn int_from_bytes(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    Ok(int_rows(rows, |i| fixed::<4>(a, i).map(i32::from_be_bytes)))
}

fn bigint_from_bytes(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    Ok(bigint_rows(rows, |i| {
        fixed::<8>(a, i).map(i64::from_be_bytes)
    }))
}

fn double_from_bytes(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    Ok(double_rows(rows, |i| {
        fixed::<8>(a, i).map(f64::from_be_bytes)
    }))
}

/// UUID(): a random (v4) UUID; UUID(bytes): the UUID of 16 bytes.
fn uuid(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    if a.is_empty() {
        return Ok(utf8_rows(rows, |_| Some(uuid::Uuid::new_v4().to_string())));
    }
    let b = arg::<BinaryArray>(a, 0)?;
    Ok(utf8_rows(rows, |i| {
        uuid::Uuid::from_slice(get(b, i)?)
            .ok()
            .map(|u| u.to_string())
    }))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{check, check_typed, column};
    use arrow::datatypes::DataType;

    #[tokio::test]
    async fn conversions() {
        check_typed("to_bytes('4869', 'hex')", "4869", DataType::Binary).await;
        check("from_bytes(to_bytes('Hi', 'utf8'), 'base64')", "SGk=").await;
        check("from_bytes(to_bytes('SGk=', 'base64'), 'ascii')", "Hi").await;
        check("to_bytes('zz', 'hex')", "NULL").await;
        check("to_bytes('Hi', 'ebcdic')", "NULL").await;
        check("encode('Hi', 'utf8', 'hex')", "4869").await;
        check("encode('4869', 'hex', 'base64')", "SGk=").await;
    }

    #[tokio::test]
    async fn numbers_from_bytes() {
        check_typed(
            "int_from_bytes(to_bytes('00000102', 'hex'))",
            "258",
            DataType::Int32,
        )
        .await;
        check(
            "int_from_bytes(to_bytes('02010000', 'hex'), 'LITTLE_ENDIAN')",
            "258",
        )
        .await;
        check("int_from_bytes(to_bytes('0102', 'hex'))", "NULL").await;
        check(
            "bigint_from_bytes(to_bytes('00000000000000ff', 'hex'))",
            "255",
        )
        .await;
        check(
            "double_from_bytes(to_bytes('3ff8000000000000', 'hex'))",
            "1.5",
        )
        .await;
    }

    #[tokio::test]
    async fn uuids() {
        let (v, t) = column("SELECT uuid() FROM (VALUES (1), (2)) AS t(x)").await;
        assert_eq!(t, DataType::Utf8);
        assert_eq!(v[0].len(), 36);
        assert_ne!(v[0], v[1]);
        check(
            "uuid(to_bytes('00112233445566778899aabbccddeeff', 'hex'))",
            "00112233-4455-6677-8899-aabbccddeeff",
        )
        .await;
    }
}
