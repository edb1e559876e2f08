//! Arrow columns to protobuf wire bytes, following a message descriptor
//! (the one sluice generated and registered, or a pinned one). Null values
//! are left out, which proto3 reads as the default, or as null for fields
//! with presence.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::DataType;
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};

use super::decode::Wire;
use super::schema::{special, Special};
use crate::format::avro::decode::find_field;
use crate::format::view::{range, View, ViewKind};

type Outcome<T> = std::result::Result<T, String>;

/// How a value is written.
#[derive(Debug, Clone)]
pub(crate) enum WValue {
    Scalar(Wire, Option<Arc<HashMap<String, i32>>>),
    Message(Arc<WMsg>),
    Special(Special, Option<Box<WValue>>),
}

/// How a field repeats.
#[derive(Debug, Clone)]
pub(crate) enum WCard {
    One,
    List,
    Map(WValue, WValue),
}

/// A field written from a column.
#[derive(Debug, Clone)]
pub(crate) struct WField {
    pub(crate) number: u32,
    pub(crate) source: usize,
    pub(crate) value: WValue,
    pub(crate) card: WCard,
}

/// A message written from a STRUCT's fields (or the row's columns).
#[derive(Debug, Clone, Default)]
pub(crate) struct WMsg {
    pub(crate) fields: Vec<WField>,
}

fn value_of(field: &FieldDescriptor, source: &DataType, path: &str) -> Outcome<WValue> {
    let wire = match field.kind() {
        Kind::Enum(e) => {
            let numbers = e
                .values()
                .map(|v| (v.name().to_string(), v.number()))
                .collect();
            return match source {
                DataType::Utf8 => Ok(WValue::Scalar(
                    Wire::Enum(Arc::default(), "".into()),
                    Some(Arc::new(numbers)),
                )),
                _ => Err(format!(
                    "{path}: only a STRING can be written as a protobuf enum"
                )),
            };
        }
        Kind::Message(m) => return message_value(&m, source, path),
        _ => super::decode::wire_of(field)
            .ok_or_else(|| format!("{path}: unexpected protobuf field kind"))?,
    };
    let ok = match wire {
        Wire::Bool => source == &DataType::Boolean,
        Wire::Str => source == &DataType::Utf8,
        Wire::Bytes => source == &DataType::Binary,
        Wire::Float | Wire::Double => matches!(
            source,
            DataType::Float64 | DataType::Int32 | DataType::Int64
        ),
        _ => matches!(
            source,
            DataType::Int32
                | DataType::Int64
                | DataType::Date32
                | DataType::Time32(_)
                | DataType::Timestamp(..)
        ),
    };
    if !ok {
        return Err(format!(
            "{path} of type {} cannot be written as the protobuf type {:?}",
            crate::format::columns::sql_type_name(source),
            field.kind()
        ));
    }
    Ok(WValue::Scalar(wire, None))
}

fn message_value(m: &MessageDescriptor, source: &DataType, path: &str) -> Outcome<WValue> {
    match special(m) {
        Some(Special::Wrapper) => {
            let inner = m.get_field(1).ok_or("a wrapper message has no field 1")?;
            Ok(WValue::Special(
                Special::Wrapper,
                Some(Box::new(value_of(&inner, source, path)?)),
            ))
        }
        Some(s) => Ok(WValue::Special(s, None)),
        None => match source {
            DataType::Struct(fields) => Ok(WValue::Message(Arc::new(message_plan(
                m,
                &fields
                    .iter()
                    .map(|f| (f.name().as_str(), f.data_type()))
                    .collect::<Vec<_>>(),
                path,
            )?))),
            _ => Err(format!(
                "{path} of type {} cannot be written as the protobuf message {}",
                crate::format::columns::sql_type_name(source),
                m.full_name()
            )),
        },
    }
}

/// Compiles the plan writing message `m` from `sources`.
pub(crate) fn message_plan(
    m: &MessageDescriptor,
    sources: &[(&str, &DataType)],
    path: &str,
) -> Outcome<WMsg> {
    let mut out = WMsg::default();
    for field in m.fields() {
        let Some(i) = find_field(sources.iter().map(|(n, _)| *n), field.name()) else {
            continue;
        };
        let source = sources[i].1;
        let fpath = if path.is_empty() {
            format!("`{}`", field.name())
        } else {
            format!("{path}.{}", field.name())
        };
        let (card, value) = if field.is_map() {
            let (Kind::Message(entry), DataType::Map(entries, _)) = (field.kind(), source) else {
                return Err(format!("{fpath} is not a MAP"));
            };
            let (k, v) = crate::format::builder::map_fields(entries).map_err(|e| e.to_string())?;
            (
                WCard::Map(
                    value_of(&entry.map_entry_key_field(), k.data_type(), &fpath)?,
                    value_of(&entry.map_entry_value_field(), v.data_type(), &fpath)?,
                ),
                WValue::Scalar(Wire::Bool, None),
            )
        } else if field.is_list() {
            let DataType::List(item) = source else {
                return Err(format!("{fpath} is not an ARRAY"));
            };
            (WCard::List, value_of(&field, item.data_type(), &fpath)?)
        } else {
            (WCard::One, value_of(&field, source, &fpath)?)
        };
        out.fields.push(WField {
            number: field.number(),
            source: i,
            value,
            card,
        });
    }
    Ok(out)
}

pub(crate) fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn tag(out: &mut Vec<u8>, number: u32, wire_type: u32) {
    write_varint(out, u64::from((number << 3) | wire_type));
}

fn wire_type(v: &WValue) -> u32 {
    match v {
        WValue::Scalar(w, _) => match w {
            Wire::Fixed64 | Wire::Sfixed64 | Wire::Double => 1,
            Wire::Fixed32 | Wire::Sfixed32 | Wire::Float => 5,
            Wire::Str | Wire::Bytes => 2,
            _ => 0,
        },
        _ => 2,
    }
}

/// Writes the fields of one message (row `i` of `columns`) into `out`.
pub(crate) fn write_message(
    out: &mut Vec<u8>,
    plan: &WMsg,
    columns: &[(&str, View<'_>)],
    i: usize,
    scratch: &mut Vec<Vec<u8>>,
) -> Outcome<()> {
    for f in &plan.fields {
        let Some((_, view)) = columns.get(f.source) else {
            continue;
        };
        if view.is_null(i) {
            continue;
        }
        match &f.card {
            WCard::One => {
                tag(out, f.number, wire_type(&f.value));
                write_value(out, &f.value, view, i, scratch)?;
            }
            WCard::List => {
                let ViewKind::List(offsets, items) = &view.kind else {
                    return Err("internal error: a repeated field's column is not an ARRAY".into());
                };
                for j in range(offsets, i) {
                    tag(out, f.number, wire_type(&f.value));
                    if items.is_null(j) {
                        // proto3 cannot hold a null element: it is written
                        // as the type's default, as nulls elsewhere read.
                        write_default(out, &f.value);
                        continue;
                    }
                    write_value(out, &f.value, items, j, scratch)?;
                }
            }
            WCard::Map(k, v) => {
                let ViewKind::Map(offsets, keys, values) = &view.kind else {
                    return Err("internal error: a map field's column is not a MAP".into());
                };
                for j in range(offsets, i) {
                    let mut entry = scratch.pop().unwrap_or_default();
                    entry.clear();
                    tag(&mut entry, 1, wire_type(k));
                    write_value(&mut entry, k, keys, j, scratch)?;
                    if !values.is_null(j) {
                        tag(&mut entry, 2, wire_type(v));
                        write_value(&mut entry, v, values, j, scratch)?;
                    }
                    tag(out, f.number, 2);
                    write_varint(out, entry.len() as u64);
                    out.extend_from_slice(&entry);
                    scratch.push(entry);
                }
            }
        }
    }
    Ok(())
}

/// The default of a value's type: zero, empty, an empty message.
fn write_default(out: &mut Vec<u8>, value: &WValue) {
    match value {
        WValue::Scalar(Wire::Fixed64 | Wire::Sfixed64 | Wire::Double, _) => {
            out.extend_from_slice(&[0; 8])
        }
        WValue::Scalar(Wire::Fixed32 | Wire::Sfixed32 | Wire::Float, _) => {
            out.extend_from_slice(&[0; 4])
        }
        // A varint 0, or a length of 0 for strings, bytes and messages.
        _ => out.push(0),
    }
}

fn write_value(
    out: &mut Vec<u8>,
    value: &WValue,
    view: &View<'_>,
    i: usize,
    scratch: &mut Vec<Vec<u8>>,
) -> Outcome<()> {
    match value {
        WValue::Scalar(wire, enums) => write_scalar(out, wire, enums.as_deref(), view, i),
        WValue::Message(m) => {
            let ViewKind::Struct(fields) = &view.kind else {
                return Err("internal error: a message's column is not a STRUCT".into());
            };
            let mut body = scratch.pop().unwrap_or_default();
            body.clear();
            write_message(&mut body, m, fields, i, scratch)?;
            write_varint(out, body.len() as u64);
            out.extend_from_slice(&body);
            scratch.push(body);
            Ok(())
        }
        WValue::Special(s, inner) => {
            let mut body = scratch.pop().unwrap_or_default();
            body.clear();
            write_special(&mut body, *s, inner.as_deref(), view, i, scratch)?;
            write_varint(out, body.len() as u64);
            out.extend_from_slice(&body);
            scratch.push(body);
            Ok(())
        }
    }
}

fn write_special(
    out: &mut Vec<u8>,
    s: Special,
    inner: Option<&WValue>,
    view: &View<'_>,
    i: usize,
    scratch: &mut Vec<Vec<u8>>,
) -> Outcome<()> {
    match (s, &view.kind) {
        (Special::Wrapper, _) => {
            let inner = inner.ok_or("internal error: a wrapper without its value")?;
            tag(out, 1, wire_type(inner));
            write_value(out, inner, view, i, scratch)
        }
        (Special::Timestamp, ViewKind::Int64(v)) => {
            let ms = v[i];
            let (secs, nanos) = (ms.div_euclid(1000), ms.rem_euclid(1000) * 1_000_000);
            if secs != 0 {
                tag(out, 1, 0);
                write_varint(out, secs as u64);
            }
            if nanos != 0 {
                tag(out, 2, 0);
                write_varint(out, nanos as u64);
            }
            Ok(())
        }
        (Special::Date, ViewKind::Int32(v)) => {
            use chrono::Datelike;
            let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).ok_or("no epoch")?;
            let d = epoch
                .checked_add_signed(chrono::Duration::days(i64::from(v[i])))
                .ok_or("a DATE is out of range")?;
            for (n, x) in [
                (1, d.year() as i64),
                (2, i64::from(d.month())),
                (3, i64::from(d.day())),
            ] {
                tag(out, n, 0);
                write_varint(out, x as u64);
            }
            Ok(())
        }
        (Special::Time, ViewKind::Int32(v)) => {
            let ms = i64::from(v[i]);
            let parts = [
                ms / 3_600_000,
                ms / 60_000 % 60,
                ms / 1000 % 60,
                ms % 1000 * 1_000_000,
            ];
            for (n, x) in parts.iter().enumerate() {
                if *x != 0 {
                    tag(out, n as u32 + 1, 0);
                    write_varint(out, *x as u64);
                }
            }
            Ok(())
        }
        (Special::Decimal, ViewKind::Decimal(v, scale)) => {
            let (bytes, start) = crate::format::decimal::to_be_bytes(v[i]);
            tag(out, 1, 2);
            write_varint(out, (16 - start) as u64);
            out.extend_from_slice(&bytes[start..]);
            tag(out, 3, 0);
            write_varint(out, i64::from(*scale) as u64);
            Ok(())
        }
        _ => Err("internal error: a column cannot be written as its protobuf message".into()),
    }
}

fn write_scalar(
    out: &mut Vec<u8>,
    wire: &Wire,
    enums: Option<&HashMap<String, i32>>,
    view: &View<'_>,
    i: usize,
) -> Outcome<()> {
    let int = || -> Outcome<i64> {
        Ok(match &view.kind {
            ViewKind::Int32(v) => i64::from(v[i]),
            ViewKind::Int64(v) => v[i],
            _ => return Err("internal error: not an integer column".into()),
        })
    };
    let float = || -> Outcome<f64> {
        Ok(match &view.kind {
            ViewKind::Float64(v) => v[i],
            ViewKind::Int32(v) => f64::from(v[i]),
            ViewKind::Int64(v) => v[i] as f64,
            _ => return Err("internal error: not a numeric column".into()),
        })
    };
    match wire {
        Wire::Int32 | Wire::Int64 | Wire::Uint32 | Wire::Uint64 => write_varint(out, int()? as u64),
        Wire::Sint32 | Wire::Sint64 => {
            let v = int()?;
            write_varint(out, ((v << 1) ^ (v >> 63)) as u64)
        }
        Wire::Fixed32 | Wire::Sfixed32 => out.extend_from_slice(&(int()? as u32).to_le_bytes()),
        Wire::Fixed64 | Wire::Sfixed64 => out.extend_from_slice(&(int()? as u64).to_le_bytes()),
        Wire::Float => out.extend_from_slice(&(float()? as f32).to_le_bytes()),
        Wire::Double => out.extend_from_slice(&float()?.to_le_bytes()),
        Wire::Bool => match &view.kind {
            ViewKind::Boolean(v) => write_varint(out, u64::from(v.value(i))),
            _ => return Err("internal error: not a BOOLEAN column".into()),
        },
        Wire::Str | Wire::Bytes => {
            let bytes: &[u8] = match &view.kind {
                ViewKind::Utf8(a) => a.value(i).as_bytes(),
                ViewKind::Binary(a) => a.value(i),
                _ => return Err("internal error: not a STRING or BYTES column".into()),
            };
            write_varint(out, bytes.len() as u64);
            out.extend_from_slice(bytes);
        }
        Wire::Enum(..) => {
            let ViewKind::Utf8(a) = &view.kind else {
                return Err("internal error: an enum's column is not STRING".into());
            };
            let name = a.value(i);
            let number = enums
                .and_then(|e| e.get(name))
                .copied()
                .ok_or_else(|| format!("'{name}' is not a value of the protobuf enum"))?;
            write_varint(out, i64::from(number) as u64);
        }
    }
    Ok(())
}
