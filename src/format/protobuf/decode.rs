//! Protobuf wire bytes to Arrow columns, driven by a plan compiled from a
//! message descriptor against the columns: which field number fills which
//! column and how it converts. Values are appended straight into the
//! batch's builders; fields absent from a record get proto3's defaults
//! (or null for fields with presence), as ksqlDB reads them.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, TimeUnit};
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};

use super::schema::{decimal_params, special, Special};
use crate::format::avro::decode::find_field;
use crate::format::builder::{ColumnBuilder, Values};

type Outcome<T> = std::result::Result<T, String>;

const MILLIS_PER_DAY: i64 = 86_400_000;

/// How a scalar is read off the wire.
#[derive(Debug, Clone)]
pub(crate) enum Wire {
    Int32,
    Int64,
    Uint32,
    Uint64,
    Sint32,
    Sint64,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
    Float,
    Double,
    Bool,
    Str,
    Bytes,
    /// An enum: its values' names by number.
    Enum(Arc<HashMap<i32, String>>, Arc<str>),
}

/// What to do with one value.
#[derive(Debug, Clone)]
pub(crate) enum VPlan {
    Scalar(Wire),
    Message(Arc<MsgPlan>),
    Special(Special, Option<Box<VPlan>>),
}

/// How a field repeats.
#[derive(Debug, Clone)]
pub(crate) enum Card {
    One,
    List,
    Map(VPlan, VPlan),
}

/// A field that fills a column.
#[derive(Debug, Clone)]
pub(crate) struct FieldPlan {
    pub(crate) child: usize,
    pub(crate) value: VPlan,
    pub(crate) card: Card,
    /// Absent means null (a message, `optional`, a wrapper) rather than the
    /// type's default.
    pub(crate) presence: bool,
}

/// A message read into a STRUCT (or the row).
#[derive(Debug, Clone, Default)]
pub(crate) struct MsgPlan {
    /// The fields that fill columns.
    pub(crate) fields: Vec<FieldPlan>,
    /// Field numbers below [`DENSE`] to their place in `fields` (plus one;
    /// 0 for none): one index per wire field, no hashing.
    dense: Vec<u16>,
    /// Larger field numbers to their place in `fields`.
    sparse: HashMap<u32, usize>,
    /// Per column: its place in `fields`, if a field fills it.
    pub(crate) columns: Vec<Option<usize>>,
}

/// Field numbers looked up by index rather than by hash.
const DENSE: u32 = 256;

impl MsgPlan {
    /// The field with wire number `number`, if it fills a column.
    pub(crate) fn field(&self, number: u32) -> Option<&FieldPlan> {
        let at = if number < DENSE {
            match self.dense.get(number as usize).copied() {
                Some(i) if i > 0 => usize::from(i) - 1,
                _ => return None,
            }
        } else {
            *self.sparse.get(&number)?
        };
        self.fields.get(at)
    }

    fn add(&mut self, number: u32, field: FieldPlan) {
        let at = self.fields.len();
        self.columns[field.child] = Some(at);
        self.fields.push(field);
        match u16::try_from(at + 1) {
            Ok(i) if number < DENSE => {
                let n = number as usize;
                if self.dense.len() <= n {
                    self.dense.resize(n + 1, 0);
                }
                self.dense[n] = i;
            }
            _ => {
                self.sparse.insert(number, at);
            }
        }
    }
}

/// How a scalar field is read off the wire; `None` for messages.
pub(crate) fn wire_of(field: &FieldDescriptor) -> Option<Wire> {
    Some(match field.kind() {
        Kind::Int32 => Wire::Int32,
        Kind::Int64 => Wire::Int64,
        Kind::Uint32 => Wire::Uint32,
        Kind::Uint64 => Wire::Uint64,
        Kind::Sint32 => Wire::Sint32,
        Kind::Sint64 => Wire::Sint64,
        Kind::Fixed32 => Wire::Fixed32,
        Kind::Fixed64 => Wire::Fixed64,
        Kind::Sfixed32 => Wire::Sfixed32,
        Kind::Sfixed64 => Wire::Sfixed64,
        Kind::Float => Wire::Float,
        Kind::Double => Wire::Double,
        Kind::Bool => Wire::Bool,
        Kind::String => Wire::Str,
        Kind::Bytes => Wire::Bytes,
        Kind::Enum(e) => {
            let names = e
                .values()
                .map(|v| (v.number(), v.name().to_string()))
                .collect();
            let default: Arc<str> = e.default_value().name().into();
            Wire::Enum(Arc::new(names), default)
        }
        Kind::Message(_) => return None,
    })
}

fn check_scalar(wire: &Wire, target: &DataType, path: &str) -> Outcome<()> {
    let ok = match wire {
        Wire::Int32 | Wire::Sint32 | Wire::Sfixed32 => matches!(
            target,
            DataType::Int32
                | DataType::Int64
                | DataType::Float64
                | DataType::Date32
                | DataType::Time32(TimeUnit::Millisecond)
        ),
        Wire::Int64
        | Wire::Uint32
        | Wire::Uint64
        | Wire::Sint64
        | Wire::Fixed32
        | Wire::Fixed64
        | Wire::Sfixed64 => {
            matches!(
                target,
                DataType::Int64
                    | DataType::Int32
                    | DataType::Float64
                    | DataType::Timestamp(TimeUnit::Millisecond, None)
            )
        }
        Wire::Float | Wire::Double => target == &DataType::Float64,
        Wire::Bool => target == &DataType::Boolean,
        Wire::Str | Wire::Enum(..) => target == &DataType::Utf8,
        Wire::Bytes => matches!(target, DataType::Binary | DataType::Utf8),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the protobuf field {path} of type {wire:?} cannot be read as {}",
            crate::format::columns::sql_type_name(target)
        ))
    }
}

fn value_plan(field: &FieldDescriptor, target: &DataType, path: &str) -> Outcome<VPlan> {
    if let Some(wire) = wire_of(field) {
        check_scalar(&wire, target, path)?;
        return Ok(VPlan::Scalar(wire));
    }
    let Kind::Message(m) = field.kind() else {
        return Err(format!("{path}: unexpected field kind"));
    };
    match special(&m) {
        Some(Special::Wrapper) => {
            let inner = m.get_field(1).ok_or("a wrapper message has no field 1")?;
            Ok(VPlan::Special(
                Special::Wrapper,
                Some(Box::new(value_plan(&inner, target, path)?)),
            ))
        }
        Some(s) => {
            let ok = matches!(
                (s, target),
                (
                    Special::Timestamp,
                    DataType::Timestamp(TimeUnit::Millisecond, None)
                ) | (Special::Date, DataType::Date32)
                    | (Special::Time, DataType::Time32(TimeUnit::Millisecond))
                    | (Special::Decimal, DataType::Decimal128(..))
            );
            if !ok {
                return Err(format!(
                    "the protobuf field {path} ({}) cannot be read as {}",
                    m.full_name(),
                    crate::format::columns::sql_type_name(target)
                ));
            }
            let _ = decimal_params;
            Ok(VPlan::Special(s, None))
        }
        None => match target {
            DataType::Struct(fields) => Ok(VPlan::Message(Arc::new(message_plan(
                &m,
                fields
                    .iter()
                    .map(|f| (f.name().as_str(), f.data_type()))
                    .collect(),
                path,
                0,
            )?))),
            _ => Err(format!(
                "the protobuf message {path} ({}) cannot be read as {}",
                m.full_name(),
                crate::format::columns::sql_type_name(target)
            )),
        },
    }
}

/// Compiles the plan reading message `m` into columns `targets`.
pub(crate) fn message_plan(
    m: &MessageDescriptor,
    targets: Vec<(&str, &DataType)>,
    path: &str,
    depth: usize,
) -> Outcome<MsgPlan> {
    if depth > 32 {
        return Err("protobuf messages nested too deeply".into());
    }
    let mut plan = MsgPlan {
        columns: vec![None; targets.len()],
        ..MsgPlan::default()
    };
    let names: Vec<String> = m.fields().map(|f| f.name().to_string()).collect();
    for (child, (name, target)) in targets.iter().enumerate() {
        let Some(i) = find_field(names.iter().map(String::as_str), name) else {
            continue;
        };
        let Some(field) = m.fields().nth(i) else {
            continue;
        };
        let fpath = if path.is_empty() {
            format!("`{}`", field.name())
        } else {
            format!("{path}.{}", field.name())
        };
        let (card, value) = if field.is_map() {
            let (Kind::Message(entry), DataType::Map(entries, _)) = (field.kind(), target) else {
                return Err(format!(
                    "the protobuf map {fpath} cannot be read as {}",
                    crate::format::columns::sql_type_name(target)
                ));
            };
            let (k, v) = crate::format::builder::map_fields(entries).map_err(|e| e.to_string())?;
            let key = value_plan(&entry.map_entry_key_field(), k.data_type(), &fpath)?;
            let value = value_plan(&entry.map_entry_value_field(), v.data_type(), &fpath)?;
            (Card::Map(key, value), VPlan::Scalar(Wire::Bool))
        } else if field.is_list() {
            let DataType::List(item) = target else {
                return Err(format!(
                    "the repeated protobuf field {fpath} cannot be read as {}",
                    crate::format::columns::sql_type_name(target)
                ));
            };
            (Card::List, value_plan(&field, item.data_type(), &fpath)?)
        } else {
            (Card::One, value_plan(&field, target, &fpath)?)
        };
        let presence = !field.is_list() && !field.is_map() && field.supports_presence();
        plan.add(
            field.number(),
            FieldPlan {
                child,
                value,
                card,
                presence,
            },
        );
    }
    Ok(plan)
}

/// A cursor over protobuf bytes.
pub(crate) struct Cursor<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) pos: usize,
}

const TRUNCATED: &str = "the protobuf data ends too early";

impl<'a> Cursor<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Cursor { data, pos: 0 }
    }

    pub(crate) fn varint(&mut self) -> Outcome<u64> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = *self.data.get(self.pos).ok_or(TRUNCATED)?;
            self.pos += 1;
            if shift == 63 && byte > 1 {
                return Err("a protobuf varint is too long".into());
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a protobuf varint is too long".into())
    }

    fn take(&mut self, n: usize) -> Outcome<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(TRUNCATED)?;
        let s = self.data.get(self.pos..end).ok_or(TRUNCATED)?;
        self.pos = end;
        Ok(s)
    }

    fn len_delimited(&mut self) -> Outcome<&'a [u8]> {
        let n = usize::try_from(self.varint()?).map_err(|_| TRUNCATED)?;
        self.take(n)
    }

    fn fixed32(&mut self) -> Outcome<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn fixed64(&mut self) -> Outcome<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn skip(&mut self, wire_type: u64) -> Outcome<()> {
        match wire_type {
            0 => {
                self.varint()?;
            }
            1 => {
                self.take(8)?;
            }
            2 => {
                self.len_delimited()?;
            }
            5 => {
                self.take(4)?;
            }
            other => {
                return Err(format!(
                    "unsupported protobuf wire type {other} (groups are not supported)"
                ))
            }
        }
        Ok(())
    }
}

/// Reads the fields of one message (the whole of `c`) into `b`, a STRUCT.
pub(crate) fn read_message(
    c: &mut Cursor<'_>,
    plan: &MsgPlan,
    b: &mut ColumnBuilder,
) -> Outcome<()> {
    let row = b.len();
    let Values::Struct(children) = &mut b.values else {
        return Err("internal error: a message's column is not a STRUCT".into());
    };
    while c.pos < c.data.len() {
        let tag = c.varint()?;
        let wire_type = tag & 7;
        let number = u32::try_from(tag >> 3)
            .ok()
            .filter(|n| (1..=0x1FFF_FFFF).contains(n))
            .ok_or_else(|| format!("invalid protobuf field number {}", tag >> 3))?;
        let Some(field) = plan.field(number) else {
            c.skip(wire_type)?;
            continue;
        };
        let child = children
            .get_mut(field.child)
            .ok_or("internal error: a field has no column")?;
        match &field.card {
            Card::One => {
                if child.len() > row {
                    // A field given twice: the last one wins.
                    child.truncate(row);
                }
                read_value(c, wire_type, &field.value, child)?;
            }
            Card::List => {
                let Values::List(_, items) = &mut child.values else {
                    return Err("internal error: a repeated field's column is not an ARRAY".into());
                };
                let packable = matches!(field.value, VPlan::Scalar(ref w) if !matches!(w, Wire::Str | Wire::Bytes));
                if wire_type == 2 && packable {
                    let bytes = c.len_delimited()?;
                    let mut inner = Cursor::new(bytes);
                    let element_wire = match &field.value {
                        VPlan::Scalar(Wire::Fixed64 | Wire::Sfixed64 | Wire::Double) => 1,
                        VPlan::Scalar(Wire::Fixed32 | Wire::Sfixed32 | Wire::Float) => 5,
                        _ => 0,
                    };
                    while inner.pos < inner.data.len() {
                        read_value(&mut inner, element_wire, &field.value, items)?;
                    }
                } else {
                    read_value(c, wire_type, &field.value, items)?;
                }
            }
            Card::Map(key, value) => {
                if wire_type != 2 {
                    return Err("a protobuf map entry is not length-delimited".into());
                }
                let Values::Map(_, keys, values) = &mut child.values else {
                    return Err("internal error: a map field's column is not a MAP".into());
                };
                let mut entry = Cursor::new(c.len_delimited()?);
                let (start_k, start_v) = (keys.len(), values.len());
                while entry.pos < entry.data.len() {
                    let tag = entry.varint()?;
                    match tag >> 3 {
                        1 => {
                            keys.truncate(start_k);
                            read_value(&mut entry, tag & 7, key, keys)?;
                        }
                        2 => {
                            values.truncate(start_v);
                            read_value(&mut entry, tag & 7, value, values)?;
                        }
                        _ => entry.skip(tag & 7)?,
                    }
                }
                if keys.len() == start_k {
                    append_default(keys, key);
                }
                if values.len() == start_v {
                    append_default(values, value);
                }
            }
        }
    }
    for (i, child) in children.iter_mut().enumerate() {
        let field = plan
            .columns
            .get(i)
            .copied()
            .flatten()
            .and_then(|at| plan.fields.get(at));
        match field {
            None => {
                if child.len() == row {
                    child.append_null();
                }
            }
            Some(f) => match f.card {
                Card::List | Card::Map(..) => child.close_nested()?,
                Card::One => {
                    if child.len() == row {
                        if f.presence {
                            child.append_null();
                        } else {
                            append_default(child, &f.value);
                        }
                    }
                }
            },
        }
    }
    b.nulls.append_non_null();
    Ok(())
}

/// Appends the proto3 default of a value (zero, empty, the first enum
/// value; null for messages).
fn append_default(b: &mut ColumnBuilder, plan: &VPlan) {
    if let VPlan::Scalar(Wire::Enum(_, default)) = plan {
        if let Values::Utf8(out) = &mut b.values {
            out.data.extend_from_slice(default.as_bytes());
            if out.close_value().is_ok() {
                b.nulls.append_non_null();
                return;
            }
        }
    }
    // Messages are null when absent; so are BYTES, as ksqlDB reads them.
    if !matches!(plan, VPlan::Scalar(_)) || matches!(plan, VPlan::Scalar(Wire::Bytes)) {
        b.append_null();
        return;
    }
    match &mut b.values {
        Values::Boolean(v) => v.append(false),
        Values::Int32(v, _) => v.push(0),
        Values::Int64(v, _) => v.push(0),
        Values::Float64(v) => v.push(0.0),
        Values::Decimal(v, ..) => v.push(0),
        Values::Utf8(out) | Values::Binary(out) => {
            if out.close_value().is_err() {
                b.append_null();
                return;
            }
        }
        _ => {
            b.append_null();
            return;
        }
    }
    b.nulls.append_non_null();
}

fn read_value(
    c: &mut Cursor<'_>,
    wire_type: u64,
    plan: &VPlan,
    b: &mut ColumnBuilder,
) -> Outcome<()> {
    match plan {
        VPlan::Scalar(wire) => read_scalar(c, wire_type, wire, b),
        VPlan::Message(m) => {
            if wire_type != 2 {
                return Err("a protobuf message field is not length-delimited".into());
            }
            let mut inner = Cursor::new(c.len_delimited()?);
            read_message(&mut inner, m, b)
        }
        VPlan::Special(s, inner) => {
            if wire_type != 2 {
                return Err("a protobuf message field is not length-delimited".into());
            }
            let mut m = Cursor::new(c.len_delimited()?);
            read_special(&mut m, *s, inner.as_deref(), b)
        }
    }
}

fn read_special(
    c: &mut Cursor<'_>,
    s: Special,
    inner: Option<&VPlan>,
    b: &mut ColumnBuilder,
) -> Outcome<()> {
    let mut ints = [0i64; 4];
    let mut bytes: &[u8] = &[];
    if s == Special::Wrapper {
        let inner = inner.ok_or("internal error: a wrapper without its value")?;
        let start = b.len();
        while c.pos < c.data.len() {
            let tag = c.varint()?;
            if tag >> 3 == 1 {
                b.truncate(start);
                read_value(c, tag & 7, inner, b)?;
            } else {
                c.skip(tag & 7)?;
            }
        }
        if b.len() == start {
            append_default(b, inner);
        }
        return Ok(());
    }
    while c.pos < c.data.len() {
        let tag = c.varint()?;
        let (n, wt) = ((tag >> 3) as usize, tag & 7);
        match (s, n, wt) {
            (Special::Decimal, 1, 2) => bytes = c.len_delimited()?,
            (_, 1..=4, 0) => ints[n - 1] = c.varint()? as i64,
            _ => c.skip(wt)?,
        }
    }
    match (s, &mut b.values) {
        (Special::Timestamp, Values::Int64(v, _)) => {
            // seconds = 1, nanos = 2
            let ms = ints[0]
                .checked_mul(1000)
                .and_then(|ms| ms.checked_add(ints[1] / 1_000_000))
                .ok_or("a protobuf Timestamp is out of range")?;
            v.push(ms);
        }
        (Special::Date, Values::Int32(v, _)) => {
            let (y, m, d) = (ints[0] as i32, ints[1] as u32, ints[2] as u32);
            let date = chrono::NaiveDate::from_ymd_opt(y, m.max(1), d.max(1))
                .ok_or_else(|| format!("{y}-{m}-{d} is not a date"))?;
            let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).ok_or("no epoch")?;
            v.push((date - epoch).num_days() as i32);
        }
        (Special::Time, Values::Int32(v, _)) => {
            let in_range = (0..24).contains(&ints[0])
                && (0..60).contains(&ints[1])
                && (0..=60).contains(&ints[2])
                && (0..1_000_000_000).contains(&ints[3]);
            if !in_range {
                return Err("a TimeOfDay is out of range".into());
            }
            let ms = ((ints[0] * 60 + ints[1]) * 60 + ints[2]) * 1000 + ints[3] / 1_000_000;
            if !(0..MILLIS_PER_DAY).contains(&ms) {
                return Err("a TimeOfDay is out of range".into());
            }
            v.push(ms as i32);
        }
        (Special::Decimal, Values::Decimal(v, p, scale)) => {
            let from =
                i8::try_from(ints[2]).map_err(|_| "a protobuf Decimal's scale is out of range")?;
            let unscaled = crate::format::decimal::from_be_bytes(bytes)?;
            v.push(crate::format::decimal::fit(unscaled, from, *p, *scale)?);
        }
        _ => return Err("internal error: a protobuf message type and its column disagree".into()),
    }
    b.nulls.append_non_null();
    Ok(())
}

fn read_scalar(
    c: &mut Cursor<'_>,
    wire_type: u64,
    wire: &Wire,
    b: &mut ColumnBuilder,
) -> Outcome<()> {
    let expected = match wire {
        Wire::Fixed64 | Wire::Sfixed64 | Wire::Double => 1,
        Wire::Fixed32 | Wire::Sfixed32 | Wire::Float => 5,
        Wire::Str | Wire::Bytes => 2,
        _ => 0,
    };
    if wire_type != expected {
        return Err(format!(
            "a protobuf field has wire type {wire_type}, its schema says {expected}"
        ));
    }
    enum N {
        I(i64),
        F(f64),
    }
    let n = match wire {
        Wire::Int32 => N::I(i64::from(c.varint()? as i32)),
        Wire::Int64 | Wire::Uint64 => N::I(c.varint()? as i64),
        Wire::Uint32 => N::I(i64::from(c.varint()? as u32)),
        Wire::Sint32 | Wire::Sint64 => {
            let v = c.varint()?;
            N::I(((v >> 1) as i64) ^ -((v & 1) as i64))
        }
        Wire::Fixed32 => N::I(i64::from(c.fixed32()?)),
        Wire::Sfixed32 => N::I(i64::from(c.fixed32()? as i32)),
        Wire::Fixed64 | Wire::Sfixed64 => N::I(c.fixed64()? as i64),
        Wire::Float => N::F(f64::from(f32::from_bits(c.fixed32()?))),
        Wire::Double => N::F(f64::from_bits(c.fixed64()?)),
        Wire::Bool => {
            let v = c.varint()?;
            let Values::Boolean(out) = &mut b.values else {
                return Err("internal error: a bool's column is not BOOLEAN".into());
            };
            out.append(v != 0);
            b.nulls.append_non_null();
            return Ok(());
        }
        Wire::Str | Wire::Bytes => {
            let bytes = c.len_delimited()?;
            match &mut b.values {
                Values::Utf8(out) => {
                    if std::str::from_utf8(bytes).is_err() {
                        return Err("a protobuf string is not valid UTF-8".into());
                    }
                    out.data.extend_from_slice(bytes);
                    out.close_value()?;
                }
                Values::Binary(out) => {
                    out.data.extend_from_slice(bytes);
                    out.close_value()?;
                }
                _ => return Err("internal error: a string's column is not STRING or BYTES".into()),
            }
            b.nulls.append_non_null();
            return Ok(());
        }
        Wire::Enum(names, _) => {
            let number = c.varint()? as i32;
            let Values::Utf8(out) = &mut b.values else {
                return Err("internal error: an enum's column is not STRING".into());
            };
            match names.get(&number) {
                Some(name) => out.data.extend_from_slice(name.as_bytes()),
                None => out.data.extend_from_slice(number.to_string().as_bytes()),
            }
            out.close_value()?;
            b.nulls.append_non_null();
            return Ok(());
        }
    };
    match (n, &mut b.values) {
        (N::I(i), Values::Int32(v, _)) => {
            v.push(i32::try_from(i).map_err(|_| format!("{i} does not fit an INT"))?)
        }
        (N::I(i), Values::Int64(v, _)) => v.push(i),
        (N::I(i), Values::Float64(v)) => v.push(i as f64),
        (N::F(f), Values::Float64(v)) => v.push(f),
        _ => return Err("internal error: a number's column is not numeric".into()),
    }
    b.nulls.append_non_null();
    Ok(())
}
