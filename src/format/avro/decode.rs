//! Avro binary to Arrow columns.
//!
//! A writer schema (found by the id in a record's prefix) is compiled once
//! against the columns into a [`Plan`]: which writer field fills which
//! column, how each value converts, what is skipped. Payloads are then read
//! straight into the batch's [`ColumnBuilder`]s, as the JSON decoder does:
//! no per-record allocation, and a record that fails half-way is rolled
//! back without touching the rest of its batch.

use std::sync::Arc;

use arrow::datatypes::{DataType, TimeUnit};

use super::schema::{is_map_entry, Avro, IntKind, LongKind};
use crate::format::builder::{ColumnBuilder, Values};

type Outcome<T> = std::result::Result<T, String>;

/// How a leaf value converts into its column.
#[derive(Debug, Clone)]
pub(crate) enum Conv {
    Bool,
    IntToI32,
    IntToI64,
    IntToF64,
    LongToI64,
    LongToF64,
    /// Microseconds to milliseconds (TIMESTAMP).
    MicrosToI64,
    /// Microseconds of the day to milliseconds (TIME).
    MicrosToI32,
    FloatToF64,
    DoubleToF64,
    /// `bytes` or `string` into BYTES.
    ToBinary,
    /// `string` or `bytes` into STRING.
    ToUtf8,
    Enum(Arc<Vec<String>>),
    /// Decimal bytes of a scale into a DECIMAL column.
    Decimal(i8),
    /// `fixed` of a size into BYTES.
    FixedBinary(usize),
    /// Decimal `fixed` of a size and scale.
    FixedDecimal(usize, i8),
    /// An int or long into a DECIMAL column.
    IntegerToDecimal,
    /// A scalar into STRING, as its text: what it reads, as a [`Conv`]
    /// into a number, and the writer type.
    Text(Avro),
}

/// What to do with one writer value.
#[derive(Debug, Clone)]
pub(crate) enum Plan {
    /// Read and drop a value of this type.
    Skip(Avro),
    /// The writer's `null`: a null value.
    Null,
    /// A scalar.
    Leaf(Conv),
    /// A union: the branch index picks the plan.
    Union(Vec<Plan>),
    /// A union of several types into a STRUCT of one field per branch:
    /// `(field index, plan)` per branch, `None` for `null`.
    UnionStruct(Vec<Option<(usize, Plan)>>),
    /// An array into an ARRAY.
    Array(Box<Plan>),
    /// A map into a MAP with STRING keys.
    Map(Box<Plan>),
    /// An array of key/value records into a MAP: the record's fields, each
    /// `Some(0)` (key), `Some(1)` (value) or `None` (skipped).
    MapEntries(Vec<(Option<usize>, Plan)>),
    /// A record into a STRUCT (or the row): per writer field, the field it
    /// fills and how; fields no writer field fills are null.
    Record(Vec<(Option<usize>, Plan)>, Vec<usize>),
}

/// Finds the field `name` among `fields`: the exact name first, else one
/// equal ignoring case (ksqlDB upper-cases inferred names).
pub(crate) fn find_field<'a, I>(names: I, name: &str) -> Option<usize>
where
    I: Iterator<Item = &'a str> + Clone,
{
    names
        .clone()
        .position(|n| n == name)
        .or_else(|| names.clone().position(|n| n.eq_ignore_ascii_case(name)))
}

/// Compiles the plan reading `writer` into a column of `target`; `path`
/// names the place in messages.
pub(crate) fn compile(writer: &Avro, target: &DataType, path: &str) -> Outcome<Plan> {
    let mismatch = || {
        Err(format!(
            "the Avro type {} of {path} cannot be read as {}",
            writer.describe(),
            crate::format::columns::sql_type_name(target)
        ))
    };
    if target == &DataType::Utf8
        && matches!(
            writer,
            Avro::Boolean
                | Avro::Int(IntKind::Plain)
                | Avro::Long(LongKind::Plain)
                | Avro::Float
                | Avro::Double
        )
    {
        return Ok(Plan::Leaf(Conv::Text(writer.clone())));
    }
    Ok(match writer {
        Avro::Null => Plan::Null,
        Avro::Union(branches) => {
            if let DataType::Struct(fields) = target {
                let non_null: Vec<&Avro> = branches.iter().filter(|b| **b != Avro::Null).collect();
                if non_null.len() > 1 {
                    let mut plans = Vec::new();
                    for b in branches {
                        if *b == Avro::Null {
                            plans.push(None);
                            continue;
                        }
                        let name = super::schema::branch_name(b);
                        let Some(i) = find_field(fields.iter().map(|f| f.name().as_str()), &name)
                        else {
                            return Err(format!(
                                "{path}: the union branch {} has no field `{name}` in {}",
                                b.describe(),
                                crate::format::columns::sql_type_name(target)
                            ));
                        };
                        plans.push(Some((
                            i,
                            compile(b, fields[i].data_type(), &format!("{path}.{name}"))?,
                        )));
                    }
                    return Ok(Plan::UnionStruct(plans));
                }
            }
            Plan::Union(
                branches
                    .iter()
                    .map(|b| compile(b, target, path))
                    .collect::<Outcome<_>>()?,
            )
        }
        Avro::Boolean => match target {
            DataType::Boolean => Plan::Leaf(Conv::Bool),
            _ => return mismatch(),
        },
        Avro::Int(kind) => Plan::Leaf(match (kind, target) {
            (IntKind::Plain, DataType::Int32) => Conv::IntToI32,
            (IntKind::Plain, DataType::Int64) => Conv::IntToI64,
            (IntKind::Plain, DataType::Float64) => Conv::IntToF64,
            (IntKind::Plain, DataType::Decimal128(..)) => Conv::IntegerToDecimal,
            (IntKind::Date, DataType::Date32) => Conv::IntToI32,
            (IntKind::TimeMillis, DataType::Time32(TimeUnit::Millisecond)) => Conv::IntToI32,
            _ => return mismatch(),
        }),
        Avro::Long(kind) => Plan::Leaf(match (kind, target) {
            (LongKind::Plain, DataType::Int64) => Conv::LongToI64,
            (LongKind::Plain, DataType::Float64) => Conv::LongToF64,
            (LongKind::Plain, DataType::Decimal128(..)) => Conv::IntegerToDecimal,
            (LongKind::TimestampMillis, DataType::Timestamp(TimeUnit::Millisecond, None)) => {
                Conv::LongToI64
            }
            (LongKind::TimestampMicros, DataType::Timestamp(TimeUnit::Millisecond, None)) => {
                Conv::MicrosToI64
            }
            (LongKind::TimeMicros, DataType::Time32(TimeUnit::Millisecond)) => Conv::MicrosToI32,
            (LongKind::TimestampMillis | LongKind::TimestampMicros, DataType::Int64) => {
                Conv::LongToI64
            }
            _ => return mismatch(),
        }),
        Avro::Float => match target {
            DataType::Float64 => Plan::Leaf(Conv::FloatToF64),
            _ => return mismatch(),
        },
        Avro::Double => match target {
            DataType::Float64 => Plan::Leaf(Conv::DoubleToF64),
            _ => return mismatch(),
        },
        Avro::Bytes(decimal) => Plan::Leaf(match (decimal, target) {
            (Some((_, scale)), DataType::Decimal128(..)) => Conv::Decimal(*scale),
            (None, DataType::Decimal128(_, s)) => Conv::Decimal(*s),
            (_, DataType::Binary) => Conv::ToBinary,
            (None, DataType::Utf8) => Conv::ToUtf8,
            _ => return mismatch(),
        }),
        Avro::String => Plan::Leaf(match target {
            DataType::Utf8 => Conv::ToUtf8,
            DataType::Binary => Conv::ToBinary,
            _ => return mismatch(),
        }),
        Avro::Fixed(size, decimal) => Plan::Leaf(match (decimal, target) {
            (Some((_, scale)), DataType::Decimal128(..)) => Conv::FixedDecimal(*size, *scale),
            (_, DataType::Binary) => Conv::FixedBinary(*size),
            _ => return mismatch(),
        }),
        Avro::Enum(symbols) => match target {
            DataType::Utf8 => Plan::Leaf(Conv::Enum(Arc::clone(symbols))),
            _ => return mismatch(),
        },
        Avro::Array(item) => match target {
            DataType::List(f) => Plan::Array(Box::new(compile(
                item,
                f.data_type(),
                &format!("{path}[]"),
            )?)),
            DataType::Map(entries, _) => {
                let Avro::Record(r) = &**item else {
                    return mismatch();
                };
                if !is_map_entry(r) {
                    return mismatch();
                }
                let (k, v) =
                    crate::format::builder::map_fields(entries).map_err(|e| e.to_string())?;
                let mut plans = Vec::new();
                for f in &r.fields {
                    plans.push(match f.name.as_str() {
                        "key" => (
                            Some(0),
                            compile(&f.avro, k.data_type(), &format!("{path}.key"))?,
                        ),
                        "value" => (
                            Some(1),
                            compile(&f.avro, v.data_type(), &format!("{path}.value"))?,
                        ),
                        _ => (None, Plan::Skip(f.avro.clone())),
                    });
                }
                Plan::MapEntries(plans)
            }
            _ => return mismatch(),
        },
        Avro::Map(values) => match target {
            DataType::Map(entries, _) => {
                let (k, v) =
                    crate::format::builder::map_fields(entries).map_err(|e| e.to_string())?;
                if k.data_type() != &DataType::Utf8 {
                    return mismatch();
                }
                Plan::Map(Box::new(compile(
                    values,
                    v.data_type(),
                    &format!("{path}{{}}"),
                )?))
            }
            _ => return mismatch(),
        },
        Avro::Record(r) => match target {
            DataType::Struct(fields) => record_plan(
                r,
                fields.iter().map(|f| (f.name().as_str(), f.data_type())),
                path,
            )?,
            _ => return mismatch(),
        },
    })
}

/// The plan of a record read into the fields `targets` (a STRUCT's fields
/// or the row's columns).
pub(crate) fn record_plan<'a, I>(r: &super::schema::Record, targets: I, path: &str) -> Outcome<Plan>
where
    I: Iterator<Item = (&'a str, &'a DataType)> + Clone,
{
    let names = targets.clone().map(|(n, _)| n);
    let types: Vec<&DataType> = targets.map(|(_, t)| t).collect();
    let mut filled = vec![false; types.len()];
    let mut plans = Vec::with_capacity(r.fields.len());
    for f in &r.fields {
        let exact = names.clone().position(|n| n == f.name);
        let found = exact.or_else(|| {
            names
                .clone()
                .enumerate()
                .position(|(i, n)| !filled[i] && n.eq_ignore_ascii_case(&f.name))
        });
        match found {
            Some(i) if !filled[i] => {
                filled[i] = true;
                let child = if path.is_empty() {
                    format!("`{}`", f.name)
                } else {
                    format!("{path}.{}", f.name)
                };
                plans.push((Some(i), compile(&f.avro, types[i], &child)?));
            }
            _ => plans.push((None, Plan::Skip(f.avro.clone()))),
        }
    }
    let missing = filled
        .iter()
        .enumerate()
        .filter(|(_, f)| !**f)
        .map(|(i, _)| i)
        .collect();
    Ok(Plan::Record(plans, missing))
}

/// A cursor over one payload.
pub(crate) struct Cursor<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) pos: usize,
}

const TRUNCATED: &str = "the Avro data ends too early";

/// Items of zero bytes (nulls, empty records) one array block may hold.
const MAX_EMPTY_ITEMS: usize = 1 << 16;

impl<'a> Cursor<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Cursor { data, pos: 0 }
    }

    pub(crate) fn long(&mut self) -> Outcome<i64> {
        let mut value: u64 = 0;
        let mut shift = 0;
        loop {
            let byte = *self.data.get(self.pos).ok_or(TRUNCATED)?;
            self.pos += 1;
            if shift >= 64 {
                return Err("an Avro varint is too long".into());
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        Ok(((value >> 1) as i64) ^ -((value & 1) as i64))
    }

    fn int(&mut self) -> Outcome<i32> {
        i32::try_from(self.long()?).map_err(|_| "an Avro int is out of range".to_string())
    }

    fn take(&mut self, n: usize) -> Outcome<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(TRUNCATED)?;
        let slice = self.data.get(self.pos..end).ok_or(TRUNCATED)?;
        self.pos = end;
        Ok(slice)
    }

    fn len(&mut self) -> Outcome<usize> {
        usize::try_from(self.long()?).map_err(|_| "a negative Avro length".to_string())
    }

    fn bytes(&mut self) -> Outcome<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }

    /// The next block's item count of an array or map; 0 at the end.
    fn block(&mut self) -> Outcome<usize> {
        let count = self.long()?;
        if count < 0 {
            self.long()?; // the block's size in bytes
        }
        let count = usize::try_from(count.unsigned_abs()).map_err(|_| TRUNCATED.to_string())?;
        // Items of most types take a byte or more; a count beyond what is
        // left (with room for items of no bytes) is a corrupt record, not a
        // reason to loop or allocate without bound.
        if count > self.data.len() - self.pos + MAX_EMPTY_ITEMS {
            return Err(format!(
                "an Avro block claims {count} items, more than the record holds"
            ));
        }
        Ok(count)
    }

    fn skip(&mut self, avro: &Avro) -> Outcome<()> {
        match avro {
            Avro::Null => {}
            Avro::Boolean => {
                self.take(1)?;
            }
            Avro::Int(_) | Avro::Long(_) | Avro::Enum(_) => {
                self.long()?;
            }
            Avro::Float => {
                self.take(4)?;
            }
            Avro::Double => {
                self.take(8)?;
            }
            Avro::Bytes(_) | Avro::String => {
                self.bytes()?;
            }
            Avro::Fixed(n, _) => {
                self.take(*n)?;
            }
            Avro::Array(item) => loop {
                let n = self.block()?;
                if n == 0 {
                    break;
                }
                for _ in 0..n {
                    self.skip(item)?;
                }
            },
            Avro::Map(values) => loop {
                let n = self.block()?;
                if n == 0 {
                    break;
                }
                for _ in 0..n {
                    self.bytes()?;
                    self.skip(values)?;
                }
            },
            Avro::Union(branches) => {
                let i = self.long()?;
                let b = usize::try_from(i)
                    .ok()
                    .and_then(|i| branches.get(i))
                    .ok_or_else(|| format!("the union index {i} is out of range"))?;
                self.skip(b)?;
            }
            Avro::Record(r) => {
                for f in &r.fields {
                    self.skip(&f.avro)?;
                }
            }
        }
        Ok(())
    }
}

/// Reads one value of `plan` into `b`.
pub(crate) fn read(c: &mut Cursor<'_>, plan: &Plan, b: &mut ColumnBuilder) -> Outcome<()> {
    match plan {
        Plan::Skip(avro) => c.skip(avro),
        Plan::Null => {
            b.append_null();
            Ok(())
        }
        Plan::Leaf(conv) => read_leaf(c, conv, b),
        Plan::Union(branches) => {
            let i = c.long()?;
            let plan = usize::try_from(i)
                .ok()
                .and_then(|i| branches.get(i))
                .ok_or_else(|| format!("the union index {i} is out of range"))?;
            read(c, plan, b)
        }
        Plan::UnionStruct(branches) => {
            let i = c.long()?;
            let branch = usize::try_from(i)
                .ok()
                .and_then(|i| branches.get(i))
                .ok_or_else(|| format!("the union index {i} is out of range"))?;
            let Some((field, plan)) = branch else {
                b.append_null();
                return Ok(());
            };
            let Values::Struct(children) = &mut b.values else {
                return Err("internal error: a union's column is not a STRUCT".into());
            };
            for (j, child) in children.iter_mut().enumerate() {
                if j == *field {
                    read(c, plan, child)?;
                } else {
                    child.append_null();
                }
            }
            b.nulls.append_non_null();
            Ok(())
        }
        Plan::Array(item) => {
            let Values::List(_, child) = &mut b.values else {
                return Err("internal error: an array's column is not an ARRAY".into());
            };
            loop {
                let n = c.block()?;
                if n == 0 {
                    break;
                }
                for _ in 0..n {
                    read(c, item, child)?;
                }
            }
            b.close_nested()
        }
        Plan::Map(value) => {
            let Values::Map(_, keys, values) = &mut b.values else {
                return Err("internal error: a map's column is not a MAP".into());
            };
            loop {
                let n = c.block()?;
                if n == 0 {
                    break;
                }
                for _ in 0..n {
                    read_leaf(c, &Conv::ToUtf8, keys)?;
                    read(c, value, values)?;
                }
            }
            b.close_nested()
        }
        Plan::MapEntries(fields) => {
            let Values::Map(_, keys, values) = &mut b.values else {
                return Err("internal error: a map's column is not a MAP".into());
            };
            loop {
                let n = c.block()?;
                if n == 0 {
                    break;
                }
                for _ in 0..n {
                    for (target, plan) in fields {
                        match target {
                            Some(0) => {
                                read(c, plan, keys)?;
                                if keys.nulls.is_valid(keys.len().saturating_sub(1)) {
                                    continue;
                                }
                                return Err("a map key is null".into());
                            }
                            Some(_) => read(c, plan, values)?,
                            None => read(c, plan, values)?,
                        }
                    }
                }
            }
            b.close_nested()
        }
        Plan::Record(fields, missing) => {
            let Values::Struct(children) = &mut b.values else {
                return Err("internal error: a record's column is not a STRUCT".into());
            };
            read_fields(c, fields, missing, children)?;
            b.nulls.append_non_null();
            Ok(())
        }
    }
}

/// Reads a record's fields into `children` (nulls where none fills one).
pub(crate) fn read_fields(
    c: &mut Cursor<'_>,
    fields: &[(Option<usize>, Plan)],
    missing: &[usize],
    children: &mut [ColumnBuilder],
) -> Outcome<()> {
    for (target, plan) in fields {
        match target {
            Some(i) => {
                let child = children
                    .get_mut(*i)
                    .ok_or("internal error: a record field has no column")?;
                read(c, plan, child)?;
            }
            None => {
                if let Plan::Skip(avro) = plan {
                    c.skip(avro)?;
                }
            }
        }
    }
    for i in missing {
        if let Some(child) = children.get_mut(*i) {
            child.append_null();
        }
    }
    Ok(())
}

fn read_leaf(c: &mut Cursor<'_>, conv: &Conv, b: &mut ColumnBuilder) -> Outcome<()> {
    match (conv, &mut b.values) {
        (Conv::Bool, Values::Boolean(v)) => {
            let byte = c.take(1)?[0];
            v.append(byte != 0);
        }
        (Conv::IntToI32, Values::Int32(v, _)) => v.push(c.int()?),
        (Conv::IntToI64, Values::Int64(v, _)) => v.push(i64::from(c.int()?)),
        (Conv::IntToF64, Values::Float64(v)) => v.push(f64::from(c.int()?)),
        (Conv::LongToI64, Values::Int64(v, _)) => v.push(c.long()?),
        (Conv::LongToF64, Values::Float64(v)) => v.push(c.long()? as f64),
        (Conv::MicrosToI64, Values::Int64(v, _)) => v.push(c.long()?.div_euclid(1000)),
        (Conv::MicrosToI32, Values::Int32(v, _)) => {
            let ms = c.long()? / 1000;
            v.push(i32::try_from(ms).map_err(|_| "a time-micros value is out of range")?);
        }
        (Conv::FloatToF64, Values::Float64(v)) => {
            let bytes = c.take(4)?;
            let f = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            // Widened exactly, as Java's Float.doubleValue() does for ksqlDB.
            v.push(f64::from(f));
        }
        (Conv::DoubleToF64, Values::Float64(v)) => {
            let bytes = c.take(8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(bytes);
            v.push(f64::from_le_bytes(a));
        }
        (Conv::ToBinary, Values::Binary(out)) => {
            out.data.extend_from_slice(c.bytes()?);
            out.close_value()?;
        }
        (Conv::ToUtf8, Values::Utf8(out)) => {
            let bytes = c.bytes()?;
            if std::str::from_utf8(bytes).is_err() {
                return Err("a string is not valid UTF-8".into());
            }
            out.data.extend_from_slice(bytes);
            out.close_value()?;
        }
        (Conv::Enum(symbols), Values::Utf8(out)) => {
            let i = c.int()?;
            let s = usize::try_from(i)
                .ok()
                .and_then(|i| symbols.get(i))
                .ok_or_else(|| format!("the enum index {i} is out of range"))?;
            out.data.extend_from_slice(s.as_bytes());
            out.close_value()?;
        }
        (Conv::Decimal(scale), Values::Decimal(v, p, s)) => {
            let bytes = c.bytes()?;
            v.push(decimal(bytes, *scale, *p, *s)?);
        }
        (Conv::FixedBinary(n), Values::Binary(out)) => {
            out.data.extend_from_slice(c.take(*n)?);
            out.close_value()?;
        }
        (Conv::FixedDecimal(n, scale), Values::Decimal(v, p, s)) => {
            let bytes = c.take(*n)?;
            v.push(decimal(bytes, *scale, *p, *s)?);
        }
        (Conv::IntegerToDecimal, Values::Decimal(v, p, s)) => {
            let n = i128::from(c.long()?);
            v.push(crate::format::decimal::fit(n, 0, *p, *s)?);
        }
        (Conv::Text(avro), Values::Utf8(out)) => {
            use std::io::Write as _;
            let written = match avro {
                Avro::Boolean => {
                    let byte = c.take(1)?[0];
                    out.data
                        .extend_from_slice(if byte != 0 { b"true" } else { b"false" });
                    Ok(())
                }
                Avro::Int(_) | Avro::Long(_) => write!(out.data, "{}", c.long()?),
                Avro::Float => {
                    let bytes = c.take(4)?;
                    let f = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                    write!(out.data, "{f:?}")
                }
                _ => {
                    let bytes = c.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(bytes);
                    write!(out.data, "{:?}", f64::from_le_bytes(a))
                }
            };
            written.map_err(|e| e.to_string())?;
            out.close_value()?;
        }
        _ => return Err("internal error: an Avro value and its column disagree".into()),
    }
    b.nulls.append_non_null();
    Ok(())
}

/// A big-endian two's complement unscaled value of scale `from`, as an
/// unscaled value of `scale` that fits `precision` digits.
fn decimal(bytes: &[u8], from: i8, precision: u8, scale: i8) -> Outcome<i128> {
    crate::format::decimal::fit(
        crate::format::decimal::from_be_bytes(bytes)?,
        from,
        precision,
        scale,
    )
}
