//! ksqlDB's masking functions: MASK, MASK_LEFT, MASK_RIGHT, MASK_KEEP_LEFT
//! and MASK_KEEP_RIGHT.
//!
//! Upper-case letters become 'X', lower-case 'x', digits 'n' and anything
//! else '-', unless other mask characters are given; a NULL mask character
//! leaves that class unmasked. A mask argument that is not one character, or
//! a negative count, makes the result null.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::ScalarUDF;

use super::udf::{arg, get, overloads, returns, utf8_rows, KsqlUdf, P};

/// The masking functions.
pub fn udfs() -> Vec<Arc<ScalarUDF>> {
    let with_count = overloads!(
        [P::Str, P::Int],
        [P::Str, P::Int, P::Str, P::Str, P::Str, P::Str]
    );
    vec![
        KsqlUdf::new(
            "mask",
            overloads!([P::Str], [P::Str, P::Str, P::Str, P::Str, P::Str]),
            returns!(DataType::Utf8),
            mask,
        )
        .udf(),
        KsqlUdf::new("mask_left", with_count, returns!(DataType::Utf8), mask_left).udf(),
        KsqlUdf::new(
            "mask_right",
            with_count,
            returns!(DataType::Utf8),
            mask_right,
        )
        .udf(),
        KsqlUdf::new(
            "mask_keep_left",
            with_count,
            returns!(DataType::Utf8),
            mask_keep_left,
        )
        .udf(),
        KsqlUdf::new(
            "mask_keep_right",
            with_count,
            returns!(DataType::Utf8),
            mask_keep_right,
        )
        .udf(),
    ]
}

/// Replacement characters per class; `None` keeps the class unmasked.
struct Masker {
    upper: Option<char>,
    lower: Option<char>,
    digit: Option<char>,
    other: Option<char>,
}

impl Masker {
    fn mask(&self, c: char) -> char {
        let m = if c.is_uppercase() {
            self.upper
        } else if c.is_lowercase() {
            self.lower
        } else if c.is_numeric() {
            self.digit
        } else {
            self.other
        };
        m.unwrap_or(c)
    }
}

/// Which characters of a value of `n` characters are masked, given the
/// count argument.
#[derive(Clone, Copy)]
enum Region {
    All,
    Left,
    Right,
    KeepLeft,
    KeepRight,
}

impl Region {
    fn masks(self, i: usize, n: usize, count: usize) -> bool {
        match self {
            Region::All => true,
            Region::Left => i < count,
            Region::Right => i + count >= n,
            Region::KeepLeft => i >= count,
            Region::KeepRight => i + count < n,
        }
    }
}

/// A mask-character argument: `Some(None)` for NULL (no masking),
/// `None` for an invalid one.
fn mask_char(a: Option<&StringArray>, i: usize, default: char) -> Option<Option<char>> {
    let Some(a) = a else {
        return Some(Some(default));
    };
    match get(a, i) {
        None => Some(None),
        Some(s) => {
            let mut cs = s.chars();
            match (cs.next(), cs.next()) {
                (Some(c), None) => Some(Some(c)),
                _ => None,
            }
        }
    }
}

fn run(a: &[ArrayRef], rows: usize, region: Region) -> Result<ArrayRef> {
    let s = arg::<StringArray>(a, 0)?;
    let (count, first_mask) = match region {
        Region::All => (None, 1),
        _ => (Some(arg::<Int32Array>(a, 1)?), 2),
    };
    let masks = (0..4)
        .map(|k| {
            a.get(first_mask + k)
                .map(|_| arg::<StringArray>(a, first_mask + k))
                .transpose()
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(utf8_rows(rows, |i| {
        let v = get(s, i)?;
        let count = match count {
            Some(c) => usize::try_from(get(c, i)?).ok()?,
            None => 0,
        };
        let m = Masker {
            upper: mask_char(masks[0], i, 'X')?,
            lower: mask_char(masks[1], i, 'x')?,
            digit: mask_char(masks[2], i, 'n')?,
            other: mask_char(masks[3], i, '-')?,
        };
        let n = v.chars().count();
        Some(
            v.chars()
                .enumerate()
                .map(|(k, c)| {
                    if region.masks(k, n, count) {
                        m.mask(c)
                    } else {
                        c
                    }
                })
                .collect::<String>(),
        )
    }))
}

fn mask(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    run(a, rows, Region::All)
}

fn mask_left(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    run(a, rows, Region::Left)
}

fn mask_right(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    run(a, rows, Region::Right)
}

fn mask_keep_left(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    run(a, rows, Region::KeepLeft)
}

fn mask_keep_right(a: &[ArrayRef], _: &DataType, rows: usize) -> Result<ArrayRef> {
    run(a, rows, Region::KeepRight)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{check, check_typed};
    use arrow::datatypes::DataType;

    #[tokio::test]
    async fn masks_by_class() {
        check_typed("mask('Ab1 z!')", "Xxn-x-", DataType::Utf8).await;
        check("mask('Ab1 z!', '*', NULL, '#', NULL)", "*b# z!").await;
        check("mask('Ab1', 'too long', NULL, NULL, NULL)", "NULL").await;
        check("mask(NULL)", "NULL").await;
    }

    #[tokio::test]
    async fn masks_regions() {
        check("mask_left('Secret42', 3)", "Xxxret42").await;
        check("mask_right('Secret42', 3)", "Secrexnn").await;
        check("mask_keep_left('Secret42', 3)", "Secxxxnn").await;
        check("mask_keep_right('Secret42', 3)", "Xxxxxt42").await;
        check("mask_left('ab', 10)", "xx").await;
        check("mask_left('ab', -1)", "NULL").await;
        check("mask_right('Ab-9', 2, 'U', 'L', 'D', 'O')", "AbOD").await;
    }
}
