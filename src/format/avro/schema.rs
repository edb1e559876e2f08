//! Avro schemas: parsed from the registry's JSON, translated to SQL types
//! (inference), and generated from SQL columns in the shape ksqlDB writes.
//!
//! Logical types are read from `logicalType` and from the Kafka Connect
//! annotations ksqlDB and Connect write (`connect.name`, `connect.type`,
//! `connect.parameters`), so schemas written by either infer the same
//! columns.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::types::SqlType;

/// The namespace of the schemas ksqlDB generates.
pub const KSQL_NAMESPACE: &str = "io.confluent.ksql.avro_schemas";
/// The name of a generated value schema.
pub const VALUE_RECORD: &str = "KsqlDataSourceSchema";

/// What an `int` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntKind {
    /// A number (also Connect's int8 and int16).
    Plain,
    /// Days since the epoch.
    Date,
    /// Milliseconds of the day.
    TimeMillis,
}

/// What a `long` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LongKind {
    /// A number.
    Plain,
    /// Epoch milliseconds.
    TimestampMillis,
    /// Epoch microseconds.
    TimestampMicros,
    /// Microseconds of the day.
    TimeMicros,
}

/// An Avro type, with names resolved.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Avro {
    Null,
    Boolean,
    Int(IntKind),
    Long(LongKind),
    Float,
    Double,
    /// `bytes`, a decimal when it has a precision and scale.
    Bytes(Option<(u8, i8)>),
    String,
    /// `fixed` of a size, a decimal when annotated.
    Fixed(usize, Option<(u8, i8)>),
    /// The symbols.
    Enum(Arc<Vec<String>>),
    Array(Box<Avro>),
    Map(Box<Avro>),
    Union(Vec<Avro>),
    Record(Arc<Record>),
}

/// A record type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    /// The full name.
    pub(crate) name: String,
    /// The fields in order.
    pub(crate) fields: Vec<RecordField>,
    /// Connect's map entry (`connect.internal.type: MapEntry`).
    pub(crate) map_entry: bool,
    /// The number of types in the record once named types are expanded:
    /// what walking it costs.
    pub(crate) weight: u64,
}

/// Types a schema may hold once its named types are expanded (a schema
/// reusing a record in two fields, level after level, doubles each time).
const MAX_WEIGHT: u64 = 100_000;

/// The number of types in `avro` once named types are expanded.
pub(crate) fn weight(avro: &Avro) -> u64 {
    match avro {
        Avro::Record(r) => r.weight,
        Avro::Array(i) | Avro::Map(i) => weight(i).saturating_add(1),
        Avro::Union(b) => b.iter().map(weight).fold(1, u64::saturating_add),
        _ => 1,
    }
}

/// A field of a record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RecordField {
    pub(crate) name: String,
    pub(crate) avro: Avro,
    pub(crate) default: Option<Value>,
}

impl Avro {
    /// The type without a `null` branch, and whether it had one.
    pub(crate) fn non_null(&self) -> (&Avro, bool) {
        if let Avro::Union(branches) = self {
            let others: Vec<&Avro> = branches.iter().filter(|b| **b != Avro::Null).collect();
            if others.len() == 1 && branches.len() == 2 {
                return (others[0], true);
            }
        }
        (self, matches!(self, Avro::Null))
    }

    /// A short name for messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Avro::Null => "null".into(),
            Avro::Boolean => "boolean".into(),
            Avro::Int(IntKind::Plain) => "int".into(),
            Avro::Int(IntKind::Date) => "date".into(),
            Avro::Int(IntKind::TimeMillis) => "time-millis".into(),
            Avro::Long(LongKind::Plain) => "long".into(),
            Avro::Long(LongKind::TimestampMillis) => "timestamp-millis".into(),
            Avro::Long(LongKind::TimestampMicros) => "timestamp-micros".into(),
            Avro::Long(LongKind::TimeMicros) => "time-micros".into(),
            Avro::Float => "float".into(),
            Avro::Double => "double".into(),
            Avro::Bytes(None) => "bytes".into(),
            Avro::Bytes(Some((p, s))) | Avro::Fixed(_, Some((p, s))) => {
                format!("decimal({p}, {s})")
            }
            Avro::String => "string".into(),
            Avro::Fixed(n, None) => format!("fixed({n})"),
            Avro::Enum(_) => "enum".into(),
            Avro::Array(i) => format!("array<{}>", i.describe()),
            Avro::Map(v) => format!("map<{}>", v.describe()),
            Avro::Union(b) => format!(
                "union[{}]",
                b.iter().map(Avro::describe).collect::<Vec<_>>().join(", ")
            ),
            Avro::Record(r) => format!("record {}", r.name),
        }
    }
}

/// Parses an Avro schema's JSON text.
pub(crate) fn parse(text: &str) -> Result<Avro, String> {
    let json: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    parse_value(&json)
}

/// Parses an Avro schema given as JSON.
pub(crate) fn parse_value(json: &Value) -> Result<Avro, String> {
    let mut names = Names::default();
    let avro = names.parse(json, "")?;
    if weight(&avro) > MAX_WEIGHT {
        return Err(format!(
            "the schema expands to more than {MAX_WEIGHT} types"
        ));
    }
    Ok(avro)
}

#[derive(Default)]
struct Names {
    defined: HashMap<String, Avro>,
    in_progress: Vec<String>,
}

fn full_name(name: &str, namespace: &str) -> String {
    if name.contains('.') || namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}.{name}")
    }
}

fn decimal_of(obj: &Map<String, Value>) -> Option<(u8, i8)> {
    let connect_decimal = obj.get("connect.name").and_then(Value::as_str)
        == Some("org.apache.kafka.connect.data.Decimal");
    if obj.get("logicalType").and_then(Value::as_str) != Some("decimal") && !connect_decimal {
        return None;
    }
    let params = obj.get("connect.parameters").and_then(Value::as_object);
    let param = |name: &str| {
        params.and_then(|p| p.get(name)).and_then(|v| {
            v.as_str()
                .and_then(|s| s.parse::<i64>().ok())
                .or(v.as_i64())
        })
    };
    let precision = obj
        .get("precision")
        .and_then(Value::as_i64)
        .or_else(|| param("connect.decimal.precision"))
        .unwrap_or(38);
    let scale = obj
        .get("scale")
        .and_then(Value::as_i64)
        .or_else(|| param("scale"))
        .unwrap_or(0);
    // As Avro's own readers do, an invalid decimal is plain bytes.
    if !(1..=38).contains(&precision) || !(0..=precision).contains(&scale) {
        return None;
    }
    Some((u8::try_from(precision).ok()?, i8::try_from(scale).ok()?))
}

impl Names {
    fn parse(&mut self, json: &Value, namespace: &str) -> Result<Avro, String> {
        match json {
            Value::String(name) => self.named(name, namespace),
            Value::Array(branches) => {
                let parsed = branches
                    .iter()
                    .map(|b| self.parse(b, namespace))
                    .collect::<Result<Vec<_>, _>>()?;
                if parsed.iter().any(|b| matches!(b, Avro::Union(_))) {
                    return Err("a union may not directly contain a union".into());
                }
                Ok(Avro::Union(parsed))
            }
            Value::Object(obj) => self.complex(obj, namespace),
            other => Err(format!("not an Avro schema: {other}")),
        }
    }

    fn named(&mut self, name: &str, namespace: &str) -> Result<Avro, String> {
        Ok(match name {
            "null" => Avro::Null,
            "boolean" => Avro::Boolean,
            "int" => Avro::Int(IntKind::Plain),
            "long" => Avro::Long(LongKind::Plain),
            "float" => Avro::Float,
            "double" => Avro::Double,
            "bytes" => Avro::Bytes(None),
            "string" => Avro::String,
            other => {
                let full = full_name(other, namespace);
                if let Some(t) = self.defined.get(&full).or_else(|| self.defined.get(other)) {
                    return Ok(t.clone());
                }
                if self.in_progress.iter().any(|n| *n == full || n == other) {
                    return Err(format!(
                        "recursive schemas are not supported (the type '{other}' refers to itself)"
                    ));
                }
                return Err(format!("unknown type name '{other}'"));
            }
        })
    }

    fn complex(&mut self, obj: &Map<String, Value>, namespace: &str) -> Result<Avro, String> {
        let Some(type_json) = obj.get("type") else {
            return Err("a schema object has no \"type\"".into());
        };
        let logical = obj.get("logicalType").and_then(Value::as_str);
        let connect = obj.get("connect.name").and_then(Value::as_str);
        let Some(type_name) = type_json.as_str() else {
            // {"type": {...}} or {"type": [...]}: the inner schema.
            return self.parse(type_json, namespace);
        };
        let own_namespace = || {
            obj.get("namespace")
                .and_then(Value::as_str)
                .unwrap_or(namespace)
                .to_string()
        };
        let name_of = |obj: &Map<String, Value>| -> Result<String, String> {
            let name = obj
                .get("name")
                .and_then(Value::as_str)
                .ok_or("a named type has no \"name\"")?;
            Ok(full_name(name, &own_namespace()))
        };
        Ok(match type_name {
            "int" => Avro::Int(match (logical, connect) {
                (Some("date"), _) | (_, Some("org.apache.kafka.connect.data.Date")) => {
                    IntKind::Date
                }
                (Some("time-millis"), _) | (_, Some("org.apache.kafka.connect.data.Time")) => {
                    IntKind::TimeMillis
                }
                _ => IntKind::Plain,
            }),
            "long" => Avro::Long(match (logical, connect) {
                (Some("timestamp-millis" | "local-timestamp-millis"), _)
                | (_, Some("org.apache.kafka.connect.data.Timestamp")) => LongKind::TimestampMillis,
                (Some("timestamp-micros" | "local-timestamp-micros"), _) => {
                    LongKind::TimestampMicros
                }
                (Some("time-micros"), _) => LongKind::TimeMicros,
                _ => LongKind::Plain,
            }),
            "bytes" => Avro::Bytes(decimal_of(obj)),
            "fixed" => {
                let name = name_of(obj)?;
                let size = obj
                    .get("size")
                    .and_then(Value::as_u64)
                    .ok_or("a fixed type has no \"size\"")?;
                let t = Avro::Fixed(
                    usize::try_from(size).map_err(|_| "fixed size too large")?,
                    decimal_of(obj),
                );
                self.defined.insert(name, t.clone());
                t
            }
            "enum" => {
                let name = name_of(obj)?;
                let symbols = obj
                    .get("symbols")
                    .and_then(Value::as_array)
                    .ok_or("an enum has no \"symbols\"")?
                    .iter()
                    .map(|s| {
                        s.as_str()
                            .map(str::to_string)
                            .ok_or("an enum symbol is not a string")
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let t = Avro::Enum(Arc::new(symbols));
                self.defined.insert(name, t.clone());
                t
            }
            "array" => Avro::Array(Box::new(self.parse(
                obj.get("items").ok_or("an array has no \"items\"")?,
                namespace,
            )?)),
            "map" => Avro::Map(Box::new(self.parse(
                obj.get("values").ok_or("a map has no \"values\"")?,
                namespace,
            )?)),
            "record" | "error" => {
                let name = name_of(obj)?;
                let inner_ns = match name.rfind('.') {
                    Some(i) => name[..i].to_string(),
                    None => String::new(),
                };
                self.in_progress.push(name.clone());
                let mut fields = Vec::new();
                for f in obj
                    .get("fields")
                    .and_then(Value::as_array)
                    .ok_or("a record has no \"fields\"")?
                {
                    let fname = f
                        .get("name")
                        .and_then(Value::as_str)
                        .ok_or("a record field has no \"name\"")?;
                    let ftype = f
                        .get("type")
                        .ok_or_else(|| format!("the field '{fname}' has no \"type\""))?;
                    let avro = self
                        .parse(ftype, &inner_ns)
                        .map_err(|e| format!("field '{fname}': {e}"))?;
                    fields.push(RecordField {
                        name: fname.to_string(),
                        avro,
                        default: f.get("default").cloned(),
                    });
                }
                self.in_progress.pop();
                let map_entry =
                    obj.get("connect.internal.type").and_then(Value::as_str) == Some("MapEntry");
                let weight = fields
                    .iter()
                    .map(|f| weight(&f.avro))
                    .fold(1, u64::saturating_add);
                if weight > MAX_WEIGHT {
                    return Err(format!(
                        "the record '{name}' expands to more than {MAX_WEIGHT} types"
                    ));
                }
                let t = Avro::Record(Arc::new(Record {
                    name: name.clone(),
                    fields,
                    map_entry,
                    weight,
                }));
                self.defined.insert(name, t.clone());
                t
            }
            other => self.named(other, namespace)?,
        })
    }
}

/// True when a record is a map's entry: Connect's `MapEntry` (by
/// annotation or name) with exactly the fields `key` and `value`.
pub(crate) fn is_map_entry(r: &Record) -> bool {
    (r.map_entry || r.name == "io.confluent.connect.avro.MapEntry")
        && r.fields.len() == 2
        && r.fields[0].name == "key"
        && r.fields[1].name == "value"
}

/// The SQL type of an Avro type (ksqlDB's inference). `upper` upper-cases
/// field names (ksqlDB does unless a schema id was given).
pub(crate) fn to_sql(avro: &Avro, upper: bool) -> Result<SqlType, String> {
    let name = |n: &str| {
        if upper {
            n.to_uppercase()
        } else {
            n.to_string()
        }
    };
    Ok(match avro {
        Avro::Null => return Err("the type null has no SQL type".into()),
        Avro::Boolean => SqlType::Boolean,
        Avro::Int(IntKind::Plain) => SqlType::Int,
        Avro::Int(IntKind::Date) => SqlType::Date,
        Avro::Int(IntKind::TimeMillis) => SqlType::Time,
        Avro::Long(LongKind::Plain) => SqlType::Bigint,
        Avro::Long(LongKind::TimestampMillis | LongKind::TimestampMicros) => SqlType::Timestamp,
        Avro::Long(LongKind::TimeMicros) => SqlType::Time,
        Avro::Float | Avro::Double => SqlType::Double,
        Avro::Bytes(Some((p, s))) | Avro::Fixed(_, Some((p, s))) => SqlType::Decimal(*p, *s),
        Avro::Bytes(None) | Avro::Fixed(_, None) => SqlType::Bytes,
        Avro::String | Avro::Enum(_) => SqlType::String,
        Avro::Array(item) => match item.non_null().0 {
            Avro::Record(r) if is_map_entry(r) => SqlType::Map(
                Box::new(to_sql(r.fields[0].avro.non_null().0, upper)?),
                Box::new(to_sql(r.fields[1].avro.non_null().0, upper)?),
            ),
            _ => SqlType::Array(Box::new(to_sql(item.non_null().0, upper)?)),
        },
        Avro::Map(values) => SqlType::Map(
            Box::new(SqlType::String),
            Box::new(to_sql(values.non_null().0, upper)?),
        ),
        Avro::Union(branches) => {
            let (inner, _) = avro.non_null();
            if !matches!(inner, Avro::Union(_)) {
                return to_sql(inner, upper);
            }
            let mut fields = Vec::new();
            for b in branches.iter().filter(|b| **b != Avro::Null) {
                fields.push((branch_name(b), to_sql(b, upper)?));
            }
            SqlType::Struct(fields)
        }
        Avro::Record(r) => SqlType::Struct(
            r.fields
                .iter()
                .map(|f| Ok((name(&f.name), to_sql(f.avro.non_null().0, upper)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// The STRUCT field of a union branch: Connect names them `int`, `string`,
/// …, records by their short name; upper-cased as ksqlDB shows them.
pub(crate) fn branch_name(b: &Avro) -> String {
    match b {
        Avro::Record(r) => r.name.rsplit('.').next().unwrap_or(&r.name).to_uppercase(),
        Avro::Int(_) => "INT".into(),
        Avro::Long(_) => "LONG".into(),
        Avro::Bytes(_) => "BYTES".into(),
        Avro::Fixed(..) => "FIXED".into(),
        Avro::Enum(_) => "ENUM".into(),
        Avro::Array(_) => "ARRAY".into(),
        Avro::Map(_) => "MAP".into(),
        other => other.describe().to_uppercase(),
    }
}

/// The ksqlDB-shaped Avro schema of SQL columns: a record `name` whose
/// fields are optional (`["null", T]`, default null), nested records named
/// `<parent>_<FIELD>`, Connect annotations on logical types.
pub(crate) fn record_schema(name: &str, columns: &[(String, SqlType)]) -> Value {
    record(name, columns, true)
}

/// A record; a nested one leaves out its namespace, which it takes from
/// the record around it (as ksqlDB's schemas do).
fn record(name: &str, columns: &[(String, SqlType)], top: bool) -> Value {
    let full = if name.contains('.') {
        name.to_string()
    } else {
        format!("{KSQL_NAMESPACE}.{name}")
    };
    let (namespace, short) = match full.rfind('.') {
        Some(i) => (&full[..i], &full[i + 1..]),
        None => ("", full.as_str()),
    };
    let fields: Vec<Value> = columns
        .iter()
        .map(|(n, t)| {
            json!({
                "name": n,
                "type": ["null", type_schema(t, &format!("{full}_{n}"))],
                "default": null,
            })
        })
        .collect();
    let mut record = Map::new();
    record.insert("type".into(), json!("record"));
    record.insert("name".into(), json!(short));
    if top && !namespace.is_empty() {
        record.insert("namespace".into(), json!(namespace));
    }
    record.insert("fields".into(), Value::Array(fields));
    record.insert("connect.name".into(), json!(full));
    Value::Object(record)
}

/// The Avro schema of one SQL type (not made optional); `name` is the full
/// name a STRUCT's record takes.
pub(crate) fn type_schema(t: &SqlType, name: &str) -> Value {
    match t {
        SqlType::Boolean => json!("boolean"),
        SqlType::Int => json!("int"),
        SqlType::Bigint => json!("long"),
        SqlType::Double => json!("double"),
        SqlType::String => json!("string"),
        SqlType::Bytes => json!("bytes"),
        SqlType::Decimal(p, s) => json!({
            "type": "bytes",
            "scale": s,
            "precision": p,
            "connect.version": 1,
            "connect.parameters": {"scale": s.to_string(), "connect.decimal.precision": p.to_string()},
            "connect.name": "org.apache.kafka.connect.data.Decimal",
            "logicalType": "decimal",
        }),
        SqlType::Date => json!({
            "type": "int",
            "connect.version": 1,
            "connect.name": "org.apache.kafka.connect.data.Date",
            "logicalType": "date",
        }),
        SqlType::Time => json!({
            "type": "int",
            "connect.version": 1,
            "connect.name": "org.apache.kafka.connect.data.Time",
            "logicalType": "time-millis",
        }),
        SqlType::Timestamp => json!({
            "type": "long",
            "connect.version": 1,
            "connect.name": "org.apache.kafka.connect.data.Timestamp",
            "logicalType": "timestamp-millis",
        }),
        SqlType::Array(item) => json!({
            "type": "array",
            "items": ["null", type_schema(item, name)],
        }),
        SqlType::Map(k, v) if **k == SqlType::String => json!({
            "type": "map",
            "values": ["null", type_schema(v, &format!("{name}_value"))],
        }),
        SqlType::Map(k, v) => json!({
            "type": "array",
            "items": {
                "type": "record",
                "name": format!("{}_MapEntry", name.rsplit('.').next().unwrap_or(name)),
                "namespace": name.rfind('.').map(|i| &name[..i]).unwrap_or(KSQL_NAMESPACE),
                "fields": [
                    {"name": "key", "type": ["null", type_schema(k, &format!("{name}_key"))], "default": null},
                    {"name": "value", "type": ["null", type_schema(v, &format!("{name}_value"))], "default": null},
                ],
                "connect.internal.type": "MapEntry",
            },
        }),
        SqlType::Struct(fields) => record(name, fields, false),
    }
}

/// The PascalCase record name ksqlDB gives a source's key schema:
/// `OUTPUT` → `OutputKey`.
pub(crate) fn key_record_name(source: &str) -> String {
    let mut out = String::new();
    for part in source.split(['_', '-', '.']) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(&chars.as_str().to_lowercase());
        }
    }
    format!("{out}Key")
}

/// Checks that a SQL name can be an Avro field name.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("Illegal initial character: {name}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_named_types_logical_types_and_unions() {
        let a = parse(
            r#"{"type":"record","name":"r","namespace":"ns","fields":[
                {"name":"a","type":["null","int"]},
                {"name":"b","type":{"type":"enum","name":"E","symbols":["X","Y"]}},
                {"name":"c","type":"E"},
                {"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}},
                {"name":"e","type":{"type":"long","logicalType":"timestamp-millis"}},
                {"name":"f","type":{"type":"array","items":{"type":"record","name":"kv",
                    "connect.internal.type":"MapEntry","fields":[
                    {"name":"key","type":"int"},{"name":"value","type":"string"}]}}},
                {"name":"h","type":{"type":"array","items":{"type":"record","name":"pair","fields":[
                    {"name":"key","type":"int"},{"name":"value","type":"string"}]}}},
                {"name":"g","type":["int","string"]}
            ]}"#,
        )
        .unwrap();
        let sql = to_sql(&a, true).unwrap();
        assert_eq!(
            sql.to_string(),
            "STRUCT<`A` INTEGER, `B` STRING, `C` STRING, `D` DECIMAL(4, 2), `E` TIMESTAMP, \
             `F` MAP<INTEGER, STRING>, `H` ARRAY<STRUCT<`KEY` INTEGER, `VALUE` STRING>>, \
             `G` STRUCT<`INT` INTEGER, `STRING` STRING>>"
        );
    }

    #[test]
    fn schemas_that_expand_without_bound_are_refused() {
        let mut json =
            r#"{"type":"record","name":"r0","fields":[{"name":"x","type":"int"}]}"#.to_string();
        for k in 1..40 {
            json = format!(
                r#"{{"type":"record","name":"r{k}","fields":[{{"name":"a","type":{json}}},{{"name":"b","type":"r{}"}}]}}"#,
                k - 1
            );
        }
        let e = parse(&json).unwrap_err();
        assert!(e.contains("expands"), "{e}");
    }

    #[test]
    fn recursive_schemas_are_refused_with_a_reason() {
        let e = parse(
            r#"{"type":"record","name":"node","fields":[{"name":"next","type":["null","node"]}]}"#,
        )
        .unwrap_err();
        assert!(e.contains("recursive"), "{e}");
    }

    #[test]
    fn generated_schemas_parse_back_to_the_same_columns() {
        let cols = vec![
            ("ID".to_string(), SqlType::Bigint),
            (
                "S".to_string(),
                SqlType::Struct(vec![("X".into(), SqlType::Decimal(5, 2))]),
            ),
            (
                "M".to_string(),
                SqlType::Map(Box::new(SqlType::String), Box::new(SqlType::Timestamp)),
            ),
            ("D".to_string(), SqlType::Date),
        ];
        let schema = record_schema(VALUE_RECORD, &cols);
        let parsed = parse_value(&schema).unwrap();
        assert_eq!(to_sql(&parsed, false).unwrap(), SqlType::Struct(cols));
        assert_eq!(key_record_name("S_JOINED"), "SJoinedKey");
    }
}
