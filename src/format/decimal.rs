//! DECIMAL values in the binary forms Avro and protobuf carry them: big-
//! endian two's complement unscaled integers, rescaled as Java's
//! `BigDecimal.setScale(scale, HALF_UP)` does for ksqlDB.

type Outcome<T> = std::result::Result<T, String>;

/// The unscaled value of big-endian two's complement bytes (no bytes is
/// zero); more than 38 digits is an error.
pub(crate) fn from_be_bytes(bytes: &[u8]) -> Outcome<i128> {
    let Some(first) = bytes.first() else {
        return Ok(0);
    };
    let negative = first & 0x80 != 0;
    let fill = if negative { 0xff } else { 0 };
    let significant = if bytes.len() > 16 {
        let (head, tail) = bytes.split_at(bytes.len() - 16);
        if head.iter().any(|b| *b != fill) || (tail[0] & 0x80 != 0) != negative {
            return Err("a decimal has more than 38 digits".into());
        }
        tail
    } else {
        bytes
    };
    let mut buf = [fill; 16];
    buf[16 - significant.len()..].copy_from_slice(significant);
    Ok(i128::from_be_bytes(buf))
}

/// The shortest big-endian two's complement bytes of `v`: the buffer and
/// where they start in it.
pub(crate) fn to_be_bytes(v: i128) -> ([u8; 16], usize) {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 15 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    (bytes, start)
}

/// `v` of scale `from` as a value of scale `to`, rounding half up.
pub(crate) fn rescale(v: i128, from: i8, to: i8) -> Outcome<i128> {
    let diff = i32::from(to) - i32::from(from);
    let d = 10i128
        .checked_pow(diff.unsigned_abs())
        .ok_or("a decimal is out of range")?;
    if diff >= 0 {
        return v
            .checked_mul(d)
            .ok_or_else(|| "a decimal is out of range".to_string());
    }
    let (q, r) = (v / d, v % d);
    Ok(if r.unsigned_abs() >= d.unsigned_abs() - r.unsigned_abs() {
        q + v.signum()
    } else {
        q
    })
}

/// `v` of scale `from` as a DECIMAL(precision, scale), or why it does not
/// fit.
pub(crate) fn fit(v: i128, from: i8, precision: u8, scale: i8) -> Outcome<i128> {
    let value = rescale(v, from, scale)?;
    let limit = 10u128
        .checked_pow(u32::from(precision))
        .unwrap_or(u128::MAX);
    if value.unsigned_abs() >= limit {
        return Err(format!(
            "the decimal does not fit DECIMAL({precision}, {scale})"
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_scales_round_half_up() {
        for v in [0i128, 1, -1, 127, 128, -128, -129, i128::MAX, i128::MIN + 1] {
            let (bytes, start) = to_be_bytes(v);
            assert_eq!(from_be_bytes(&bytes[start..]).unwrap(), v);
        }
        assert_eq!(from_be_bytes(&[0xff; 17]).unwrap(), -1);
        let mut big = vec![0u8];
        big.extend([0xff; 16]);
        assert!(from_be_bytes(&big).is_err(), "2^128 - 1 is not -1");
        assert_eq!(rescale(125, 2, 1).unwrap(), 13);
        assert_eq!(rescale(-125, 2, 1).unwrap(), -13);
        assert_eq!(rescale(124, 2, 1).unwrap(), 12);
        assert_eq!(rescale(5, 0, 2).unwrap(), 500);
        assert_eq!(rescale(i128::MAX, 38, 0).unwrap(), 2);
        assert!(fit(1000, 0, 3, 0).is_err());
        assert_eq!(fit(999, 0, 3, 0).unwrap(), 999);
    }
}
