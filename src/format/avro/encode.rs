//! Arrow columns to Avro binary, following a writer schema: the one
//! sluice generated and registered for the sink, or the one pinned by
//! `*_SCHEMA_ID`. The schema is compiled once against the columns into a
//! [`WPlan`]; rows are then written from [`View`]s into one buffer.

use arrow::datatypes::{DataType, TimeUnit};

use super::decode::find_field;
use super::schema::{is_map_entry, Avro, IntKind, LongKind};
use crate::format::view::{range, View, ViewKind};

type Outcome<T> = std::result::Result<T, String>;

/// How one value is written.
#[derive(Debug, Clone)]
pub(crate) enum WPlan {
    /// The type `null`: nothing is written (the value must be null).
    Null,
    /// A union: the branch written for a null value (if any), and the
    /// branch and plan for a value.
    Union {
        null: Option<usize>,
        branch: usize,
        plan: Box<WPlan>,
    },
    /// A union of several types from a STRUCT of one field per branch.
    UnionStruct {
        null: Option<usize>,
        /// `(branch index, struct field, plan)`.
        branches: Vec<(usize, usize, WPlan)>,
    },
    Bool,
    Int,
    /// INT or BIGINT as a long.
    Long,
    /// TIMESTAMP ms as micros.
    Micros,
    /// TIME ms as micros.
    TimeMicros,
    Float,
    Double,
    /// A number as a double.
    IntAsDouble,
    Bytes,
    String,
    /// STRING as an enum symbol.
    Enum(std::sync::Arc<Vec<String>>),
    /// A DECIMAL as bytes of the writer's scale.
    Decimal(i8),
    /// A DECIMAL as a fixed of this size and scale.
    FixedDecimal(usize, i8),
    /// BYTES as a fixed of this size.
    Fixed(usize),
    Array(Box<WPlan>),
    /// A MAP with STRING keys as an Avro map.
    Map(Box<WPlan>),
    /// A MAP as an array of key/value records.
    MapEntries(Box<WPlan>, Box<WPlan>),
    /// A record from a STRUCT (or the row's columns): per writer field, the
    /// source field (or `None`: written as its default, null) and plan.
    Record(Vec<(Option<usize>, WPlan, String)>),
    /// A required field the columns do not have: writing fails.
    Missing,
    /// A field with a default, written when the value is null or missing:
    /// the default's bytes, then the plan for values.
    Default(Vec<u8>, Box<WPlan>),
}

/// The Avro bytes of a field's JSON default (for a union, of its first
/// branch, as the Avro specification says).
fn default_bytes(avro: &Avro, value: &serde_json::Value) -> Option<Vec<u8>> {
    use serde_json::Value as J;
    let mut out = Vec::new();
    match (avro, value) {
        (Avro::Null, J::Null) => {}
        (Avro::Boolean, J::Bool(b)) => out.push(u8::from(*b)),
        (Avro::Int(_) | Avro::Long(_), J::Number(n)) => write_long(&mut out, n.as_i64()?),
        (Avro::Float, J::Number(n)) => out.extend_from_slice(&(n.as_f64()? as f32).to_le_bytes()),
        (Avro::Double, J::Number(n)) => out.extend_from_slice(&n.as_f64()?.to_le_bytes()),
        (Avro::String, J::String(s)) => write_bytes(&mut out, s.as_bytes()),
        (Avro::Bytes(None), J::String(s)) => {
            let bytes: Vec<u8> = s.chars().map(|c| c as u32 as u8).collect();
            write_bytes(&mut out, &bytes);
        }
        (Avro::Enum(symbols), J::String(s)) => {
            write_long(&mut out, symbols.iter().position(|x| x == s)? as i64)
        }
        (Avro::Array(_), J::Array(a)) if a.is_empty() => out.push(0),
        (Avro::Map(_), J::Object(o)) if o.is_empty() => out.push(0),
        (Avro::Union(branches), v) => {
            out.push(0);
            out.extend(default_bytes(branches.first()?, v)?);
        }
        (Avro::Record(r), J::Object(o)) => {
            for f in &r.fields {
                let v = o.get(&f.name).or(f.default.as_ref())?;
                out.extend(default_bytes(&f.avro, v)?);
            }
        }
        _ => return None,
    }
    Some(out)
}

/// Compiles the plan writing values of `source` as `writer`.
pub(crate) fn compile(writer: &Avro, source: &DataType, path: &str) -> Outcome<WPlan> {
    let mismatch = || {
        Err(format!(
            "{path} of type {} cannot be written as the Avro type {}",
            crate::format::columns::sql_type_name(source),
            writer.describe()
        ))
    };
    Ok(match writer {
        Avro::Null => WPlan::Null,
        Avro::Union(branches) => {
            let null = branches.iter().position(|b| *b == Avro::Null);
            let non_null: Vec<(usize, &Avro)> = branches
                .iter()
                .enumerate()
                .filter(|(_, b)| **b != Avro::Null)
                .collect();
            if let (DataType::Struct(fields), true) = (source, non_null.len() > 1) {
                let mut out = Vec::new();
                for (i, b) in &non_null {
                    let name = super::schema::branch_name(b);
                    if let Some(f) = find_field(fields.iter().map(|f| f.name().as_str()), &name) {
                        out.push((*i, f, compile(b, fields[f].data_type(), path)?));
                    }
                }
                return Ok(WPlan::UnionStruct {
                    null,
                    branches: out,
                });
            }
            // The first branch the column's type can be written as.
            let mut last_err = None;
            for (i, b) in non_null {
                match compile(b, source, path) {
                    Ok(plan) => {
                        return Ok(WPlan::Union {
                            null,
                            branch: i,
                            plan: Box::new(plan),
                        })
                    }
                    Err(e) => last_err = Some(e),
                }
            }
            return Err(last_err.unwrap_or_else(|| format!("{path}: the union has no branch")));
        }
        Avro::Boolean => match source {
            DataType::Boolean => WPlan::Bool,
            _ => return mismatch(),
        },
        Avro::Int(kind) => match (kind, source) {
            (IntKind::Plain, DataType::Int32)
            | (IntKind::Date, DataType::Date32)
            | (IntKind::TimeMillis, DataType::Time32(TimeUnit::Millisecond)) => WPlan::Int,
            _ => return mismatch(),
        },
        Avro::Long(kind) => match (kind, source) {
            (LongKind::Plain, DataType::Int64 | DataType::Int32)
            | (LongKind::TimestampMillis, DataType::Timestamp(TimeUnit::Millisecond, None)) => {
                WPlan::Long
            }
            (LongKind::TimestampMicros, DataType::Timestamp(TimeUnit::Millisecond, None)) => {
                WPlan::Micros
            }
            (LongKind::TimeMicros, DataType::Time32(TimeUnit::Millisecond)) => WPlan::TimeMicros,
            _ => return mismatch(),
        },
        Avro::Float => match source {
            DataType::Float64 => WPlan::Float,
            _ => return mismatch(),
        },
        Avro::Double => match source {
            DataType::Float64 => WPlan::Double,
            DataType::Int32 | DataType::Int64 => WPlan::IntAsDouble,
            _ => return mismatch(),
        },
        Avro::Bytes(decimal) => match (decimal, source) {
            (Some((_, s)), DataType::Decimal128(..)) => WPlan::Decimal(*s),
            (None, DataType::Binary) => WPlan::Bytes,
            _ => return mismatch(),
        },
        Avro::String => match source {
            DataType::Utf8 => WPlan::String,
            _ => return mismatch(),
        },
        Avro::Fixed(n, decimal) => match (decimal, source) {
            (Some((_, s)), DataType::Decimal128(..)) => WPlan::FixedDecimal(*n, *s),
            (None, DataType::Binary) => WPlan::Fixed(*n),
            _ => return mismatch(),
        },
        Avro::Enum(symbols) => match source {
            DataType::Utf8 => WPlan::Enum(std::sync::Arc::clone(symbols)),
            _ => return mismatch(),
        },
        Avro::Array(item) => match source {
            DataType::List(f) => WPlan::Array(Box::new(compile(
                item,
                f.data_type(),
                &format!("{path}[]"),
            )?)),
            DataType::Map(entries, _) => {
                let Avro::Record(r) = item.non_null().0 else {
                    return mismatch();
                };
                if !is_map_entry(r) || r.fields.len() != 2 {
                    return mismatch();
                }
                let (k, v) =
                    crate::format::builder::map_fields(entries).map_err(|e| e.to_string())?;
                let key = compile(&r.fields[0].avro, k.data_type(), &format!("{path}.key"))?;
                let value = compile(&r.fields[1].avro, v.data_type(), &format!("{path}.value"))?;
                let entry = WPlan::MapEntries(Box::new(key), Box::new(value));
                match &**item {
                    Avro::Union(_) => return mismatch(),
                    _ => entry,
                }
            }
            _ => return mismatch(),
        },
        Avro::Map(values) => match source {
            DataType::Map(entries, _) => {
                let (k, v) =
                    crate::format::builder::map_fields(entries).map_err(|e| e.to_string())?;
                if k.data_type() != &DataType::Utf8 {
                    return mismatch();
                }
                WPlan::Map(Box::new(compile(
                    values,
                    v.data_type(),
                    &format!("{path}{{}}"),
                )?))
            }
            _ => return mismatch(),
        },
        Avro::Record(r) => match source {
            DataType::Struct(fields) => record_plan(
                r,
                &fields
                    .iter()
                    .map(|f| (f.name().as_str(), f.data_type()))
                    .collect::<Vec<_>>(),
                path,
            )?,
            _ => return mismatch(),
        },
    })
}

/// The plan of a record written from `sources` (a STRUCT's fields or the
/// row's columns).
pub(crate) fn record_plan(
    r: &super::schema::Record,
    sources: &[(&str, &DataType)],
    path: &str,
) -> Outcome<WPlan> {
    let mut fields = Vec::with_capacity(r.fields.len());
    for f in &r.fields {
        let child = if path.is_empty() {
            format!("`{}`", f.name)
        } else {
            format!("{path}.{}", f.name)
        };
        let nullable = matches!(&f.avro, Avro::Null)
            || matches!(&f.avro, Avro::Union(b) if b.contains(&Avro::Null));
        let default = match (&f.default, nullable) {
            (Some(d), false) => default_bytes(&f.avro, d),
            _ => None,
        };
        match find_field(sources.iter().map(|(n, _)| *n), &f.name) {
            Some(i) => {
                let plan = compile(&f.avro, sources[i].1, &child)?;
                let plan = match default {
                    Some(d) => WPlan::Default(d, Box::new(plan)),
                    None => plan,
                };
                fields.push((Some(i), plan, child))
            }
            None if default.is_some() => {
                let d = default.unwrap_or_default();
                fields.push((None, WPlan::Default(d, Box::new(WPlan::Null)), child));
            }
            None => {
                let nullable = matches!(&f.avro, Avro::Null)
                    || matches!(&f.avro, Avro::Union(b) if b.contains(&Avro::Null));
                if !nullable {
                    // Written records fail: ksqlDB fails them at run time.
                    fields.push((None, WPlan::Missing, child));
                    continue;
                }
                fields.push((None, compile_null(&f.avro), child));
            }
        }
    }
    Ok(WPlan::Record(fields))
}

fn compile_null(avro: &Avro) -> WPlan {
    match avro {
        Avro::Union(b) => WPlan::Union {
            null: b.iter().position(|x| *x == Avro::Null),
            branch: 0,
            plan: Box::new(WPlan::Null),
        },
        _ => WPlan::Null,
    }
}

/// Appends a zig-zag varint.
pub(crate) fn write_long(out: &mut Vec<u8>, v: i64) {
    let mut n = ((v << 1) ^ (v >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    write_long(out, b.len() as i64);
    out.extend_from_slice(b);
}

/// Writes row `i` of `view` with `plan`; `path` names it in errors.
pub(crate) fn write(
    out: &mut Vec<u8>,
    plan: &WPlan,
    view: &View<'_>,
    i: usize,
    path: &str,
) -> Outcome<()> {
    let null = view.is_null(i);
    match plan {
        WPlan::Default(default, plan) => {
            if null {
                out.extend_from_slice(default);
                return Ok(());
            }
            return write(out, plan, view, i, path);
        }
        WPlan::Null => {
            return if null {
                Ok(())
            } else {
                Err(format!("{path} is not null but the schema's type is null"))
            }
        }
        WPlan::Union {
            null: null_branch,
            branch,
            plan,
        } => {
            if null {
                let b = null_branch
                    .ok_or_else(|| format!("{path} is null but the schema does not allow null"))?;
                write_long(out, b as i64);
                return Ok(());
            }
            write_long(out, *branch as i64);
            return write(out, plan, view, i, path);
        }
        WPlan::UnionStruct {
            null: null_branch,
            branches,
        } => {
            let ViewKind::Struct(fields) = &view.kind else {
                return Err(format!(
                    "{path}: internal error, a union's column is not a STRUCT"
                ));
            };
            if !null {
                for (branch, field, plan) in branches {
                    if let Some((_, v)) = fields.get(*field) {
                        if !v.is_null(i) {
                            write_long(out, *branch as i64);
                            return write(out, plan, v, i, path);
                        }
                    }
                }
            }
            let b = null_branch
                .ok_or_else(|| format!("{path} is null but the schema does not allow null"))?;
            write_long(out, b as i64);
            return Ok(());
        }
        _ => {}
    }
    if null {
        return Err(format!("{path} is null but the schema does not allow null"));
    }
    match (plan, &view.kind) {
        (WPlan::Bool, ViewKind::Boolean(v)) => out.push(u8::from(v.value(i))),
        (WPlan::Int | WPlan::Long, ViewKind::Int32(v)) => write_long(out, i64::from(v[i])),
        (WPlan::Long, ViewKind::Int64(v)) => write_long(out, v[i]),
        (WPlan::Micros, ViewKind::Int64(v)) => write_long(out, v[i].saturating_mul(1000)),
        (WPlan::TimeMicros, ViewKind::Int32(v)) => write_long(out, i64::from(v[i]) * 1000),
        (WPlan::Float, ViewKind::Float64(v)) => out.extend_from_slice(&(v[i] as f32).to_le_bytes()),
        (WPlan::Double, ViewKind::Float64(v)) => out.extend_from_slice(&v[i].to_le_bytes()),
        (WPlan::IntAsDouble, ViewKind::Int32(v)) => {
            out.extend_from_slice(&f64::from(v[i]).to_le_bytes())
        }
        (WPlan::IntAsDouble, ViewKind::Int64(v)) => {
            out.extend_from_slice(&(v[i] as f64).to_le_bytes())
        }
        (WPlan::Bytes, ViewKind::Binary(a)) => write_bytes(out, a.value(i)),
        (WPlan::Fixed(n), ViewKind::Binary(a)) => {
            let b = a.value(i);
            if b.len() != *n {
                return Err(format!(
                    "{path} has {} bytes, the schema's fixed {n}",
                    b.len()
                ));
            }
            out.extend_from_slice(b);
        }
        (WPlan::String, ViewKind::Utf8(a)) => write_bytes(out, a.value(i).as_bytes()),
        (WPlan::Enum(symbols), ViewKind::Utf8(a)) => {
            let s = a.value(i);
            let index = symbols
                .iter()
                .position(|x| x == s)
                .ok_or_else(|| format!("{path}: '{s}' is not a symbol of the schema's enum"))?;
            write_long(out, index as i64);
        }
        (WPlan::Decimal(to), ViewKind::Decimal(v, from)) => {
            let (bytes, start) = crate::format::decimal::to_be_bytes(
                crate::format::decimal::rescale(v[i], *from, *to)?,
            );
            write_bytes(out, &bytes[start..]);
        }
        (WPlan::FixedDecimal(n, to), ViewKind::Decimal(v, from)) => {
            let value = crate::format::decimal::rescale(v[i], *from, *to)?;
            let (bytes, start) = crate::format::decimal::to_be_bytes(value);
            let len = 16 - start;
            if len > *n {
                return Err(format!("{path} does not fit the schema's fixed({n})"));
            }
            let fill = if value < 0 { 0xff } else { 0 };
            out.extend(std::iter::repeat_n(fill, n - len));
            out.extend_from_slice(&bytes[start..]);
        }
        (WPlan::Array(item), ViewKind::List(offsets, values)) => {
            let r = range(offsets, i);
            if !r.is_empty() {
                write_long(out, r.len() as i64);
                for j in r {
                    write(out, item, values, j, path)?;
                }
            }
            out.push(0);
        }
        (WPlan::Map(value), ViewKind::Map(offsets, keys, values)) => {
            let r = range(offsets, i);
            let ViewKind::Utf8(k) = &keys.kind else {
                return Err(format!("{path}: an Avro map needs STRING keys"));
            };
            if !r.is_empty() {
                write_long(out, r.len() as i64);
                for j in r {
                    write_bytes(out, k.value(j).as_bytes());
                    write(out, value, values, j, path)?;
                }
            }
            out.push(0);
        }
        (WPlan::MapEntries(key, value), ViewKind::Map(offsets, keys, values)) => {
            let r = range(offsets, i);
            if !r.is_empty() {
                write_long(out, r.len() as i64);
                for j in r {
                    write(out, key, keys, j, path)?;
                    write(out, value, values, j, path)?;
                }
            }
            out.push(0);
        }
        (WPlan::Record(fields), ViewKind::Struct(columns)) => {
            for (source, plan, name) in fields {
                match source {
                    Some(c) => {
                        let (_, v) = columns
                            .get(*c)
                            .ok_or("internal error: a record field has no column")?;
                        write(out, plan, v, i, name)?;
                    }
                    None => write_null(out, plan, name)?,
                }
            }
        }
        _ => {
            return Err(format!(
                "{path}: internal error, a column and its plan disagree"
            ))
        }
    }
    Ok(())
}

/// Writes a missing field as null.
pub(crate) fn write_null(out: &mut Vec<u8>, plan: &WPlan, path: &str) -> Outcome<()> {
    match plan {
        WPlan::Missing => {
            return Err(format!(
                "Unable to serialize record: the schema's field {path} is required but the \
                 query has no such column"
            ))
        }
        WPlan::Union { null: Some(b), .. } => write_long(out, *b as i64),
        WPlan::Default(default, _) => out.extend_from_slice(default),
        _ => {}
    }
    Ok(())
}
