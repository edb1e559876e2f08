//! Protobuf schemas: `.proto` text compiled with protox (imports from the
//! registry's references and the well-known Google and Confluent files),
//! the message a part uses, inference of SQL columns, and the `.proto`
//! text ksqlDB generates for SQL columns.

use std::collections::HashMap;
use std::fmt::Write as _;

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor, Value};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

use crate::format::ProtobufNullable;
use crate::types::SqlType;

/// The name the root file of a compiled schema takes.
pub(crate) const ROOT_FILE: &str = "sluice_root.proto";

/// Files sluice serves to every schema: Confluent's and Google's types
/// that ksqlDB's schemas import (written here from their field numbers).
const BUILTIN: &[(&str, &str)] = &[
    (
        "confluent/meta.proto",
        "syntax = \"proto3\";\npackage confluent;\nimport \"google/protobuf/descriptor.proto\";\n\
         message Meta { string doc = 1; map<string, string> params = 2; repeated string tags = 3; }\n\
         extend google.protobuf.FileOptions { Meta file_meta = 1088; }\n\
         extend google.protobuf.MessageOptions { Meta message_meta = 1088; }\n\
         extend google.protobuf.FieldOptions { Meta field_meta = 1088; }\n\
         extend google.protobuf.EnumOptions { Meta enum_meta = 1088; }\n\
         extend google.protobuf.EnumValueOptions { Meta enum_value_meta = 1088; }\n",
    ),
    (
        "confluent/type/decimal.proto",
        "syntax = \"proto3\";\npackage confluent.type;\nimport public \"confluent/meta.proto\";\n\
         message Decimal { bytes value = 1; uint32 precision = 2; int32 scale = 3; }\n",
    ),
    (
        "google/type/date.proto",
        "syntax = \"proto3\";\npackage google.type;\n\
         message Date { int32 year = 1; int32 month = 2; int32 day = 3; }\n",
    ),
    (
        "google/type/timeofday.proto",
        "syntax = \"proto3\";\npackage google.type;\n\
         message TimeOfDay { int32 hours = 1; int32 minutes = 2; int32 seconds = 3; int32 nanos = 4; }\n",
    ),
];

struct Sources(HashMap<String, String>);

/// A schema registered as a base64 `FileDescriptorProto` (what Confluent's
/// serializers register) rather than `.proto` text.
pub(crate) fn descriptor_of(text: &str) -> Option<prost_types::FileDescriptorProto> {
    use base64::Engine as _;
    use prost::Message as _;
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.contains(char::is_whitespace) || trimmed.contains('{') {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(trimmed)
        .ok()?;
    let proto = prost_types::FileDescriptorProto::decode(bytes.as_slice()).ok()?;
    (!proto.message_type.is_empty()).then_some(proto)
}

impl FileResolver for Sources {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if let Some(mut proto) = self.0.get(name).and_then(|t| descriptor_of(t)) {
            proto.name = Some(name.to_string());
            return Ok(File::from_file_descriptor_proto(proto));
        }
        let text = self
            .0
            .get(name)
            .map(String::as_str)
            .or_else(|| BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, t)| *t))
            .ok_or_else(|| protox::Error::file_not_found(name))?;
        File::from_source(name, text)
    }
}

/// Compiles a `.proto` text with the files it imports (`imports`: name to
/// text, e.g. the registry's references).
pub(crate) fn compile(text: &str, imports: &[(String, String)]) -> Result<DescriptorPool, String> {
    let mut files: HashMap<String, String> = imports.iter().cloned().collect();
    files.insert(ROOT_FILE.to_string(), text.to_string());
    let mut chain = ChainFileResolver::new();
    chain.add(Sources(files));
    chain.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(chain);
    compiler.include_imports(true);
    compiler
        .open_file(ROOT_FILE)
        .map_err(|e| format!("the protobuf schema does not compile: {e}"))?;
    Ok(compiler.descriptor_pool())
}

/// The root file of a compiled schema as Confluent's serialized form: a
/// base64 `FileDescriptorProto` (`GET /schemas/ids/{id}?format=serialized`).
pub(crate) fn serialized(pool: &DescriptorPool, name: &str) -> Option<String> {
    use base64::Engine as _;
    use prost::Message as _;
    let file = pool.get_file_by_name(ROOT_FILE)?;
    let mut proto = file.file_descriptor_proto().clone();
    proto.name = Some(name.to_string());
    Some(base64::engine::general_purpose::STANDARD.encode(proto.encode_to_vec()))
}

/// The messages of the root file, depth first, with their index paths.
fn messages_with_paths(pool: &DescriptorPool) -> Vec<(Vec<i32>, MessageDescriptor)> {
    fn walk(m: MessageDescriptor, path: Vec<i32>, out: &mut Vec<(Vec<i32>, MessageDescriptor)>) {
        out.push((path.clone(), m.clone()));
        for (i, child) in m.child_messages().enumerate() {
            if child.is_map_entry() {
                continue;
            }
            let mut p = path.clone();
            p.push(i as i32);
            walk(child, p, out);
        }
    }
    let mut out = Vec::new();
    if let Some(file) = pool.get_file_by_name(ROOT_FILE) {
        for (i, m) in file.messages().enumerate() {
            walk(m, vec![i as i32], &mut out);
        }
    }
    out
}

/// The message a part uses: by `full_name` when given, else the root
/// file's first message; with its index path (Confluent's message
/// indexes).
pub(crate) fn select(
    pool: &DescriptorPool,
    full_name: Option<&str>,
) -> Result<(MessageDescriptor, Vec<i32>), String> {
    let all = messages_with_paths(pool);
    let (m, p) = match full_name {
        None => all
            .into_iter()
            .next()
            .map(|(p, m)| (m, p))
            .ok_or_else(|| "the protobuf schema defines no message".to_string())?,
        Some(name) => all
            .into_iter()
            .find(|(_, m)| m.full_name() == name || m.name() == name)
            .map(|(p, m)| (m, p))
            .ok_or_else(|| {
                format!("Schema for message '{name}' not found in the protobuf schema")
            })?,
    };
    check_size(&m)?;
    Ok((m, p))
}

/// Checks that walking a message costs a bounded amount: fields counted
/// with nested messages expanded (a message reusing another in two fields,
/// level after level, doubles each time; a recursive one has no end).
pub(crate) fn check_size(m: &MessageDescriptor) -> Result<(), String> {
    fn weight(m: &MessageDescriptor, memo: &mut HashMap<String, u64>, depth: usize) -> u64 {
        if let Some(w) = memo.get(m.full_name()) {
            return *w;
        }
        if depth > 64 {
            return u64::MAX;
        }
        let mut total = 1u64;
        for f in m.fields() {
            let w = match f.kind() {
                Kind::Message(child) => weight(&child, memo, depth + 1),
                _ => 1,
            };
            total = total.saturating_add(w);
        }
        memo.insert(m.full_name().to_string(), total);
        total
    }
    const MAX_WEIGHT: u64 = 100_000;
    if weight(m, &mut HashMap::new(), 0) > MAX_WEIGHT {
        return Err(format!(
            "the message '{}' is recursive or expands to more than {MAX_WEIGHT} fields",
            m.full_name()
        ));
    }
    Ok(())
}

/// The message at an index path.
pub(crate) fn by_path(pool: &DescriptorPool, path: &[i32]) -> Option<MessageDescriptor> {
    messages_with_paths(pool)
        .into_iter()
        .find(|(p, _)| p == path)
        .map(|(_, m)| m)
}

/// Well-known message types with their own SQL type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Special {
    Timestamp,
    Date,
    Time,
    Decimal,
    /// `google.protobuf.*Value`: the wrapped scalar.
    Wrapper,
}

pub(crate) fn special(m: &MessageDescriptor) -> Option<Special> {
    Some(match m.full_name() {
        "google.protobuf.Timestamp" => Special::Timestamp,
        "google.type.Date" => Special::Date,
        "google.type.TimeOfDay" => Special::Time,
        "confluent.type.Decimal" => Special::Decimal,
        "google.protobuf.DoubleValue"
        | "google.protobuf.FloatValue"
        | "google.protobuf.Int64Value"
        | "google.protobuf.UInt64Value"
        | "google.protobuf.Int32Value"
        | "google.protobuf.UInt32Value"
        | "google.protobuf.BoolValue"
        | "google.protobuf.StringValue"
        | "google.protobuf.BytesValue" => Special::Wrapper,
        _ => return None,
    })
}

/// The precision and scale of a `confluent.type.Decimal` field, from its
/// `(confluent.field_meta)` params (DECIMAL(38, 0) when absent; values
/// out of range are clamped into what a DECIMAL can be).
pub(crate) fn decimal_params(field: &FieldDescriptor) -> (u8, i8) {
    let mut precision = 38u8;
    let mut scale = 0i8;
    let pool = field.parent_pool();
    if let Some(ext) = pool.get_extension_by_name("confluent.field_meta") {
        let options = field.options();
        if options.has_extension(&ext) {
            if let Value::Message(meta) = options.get_extension(&ext).as_ref() {
                if let Some(Value::Map(params)) = meta.get_field_by_name("params").as_deref() {
                    for (k, v) in params {
                        let (Some(k), Value::String(v)) = (k.as_str(), v) else {
                            continue;
                        };
                        match k {
                            "precision" => precision = v.parse().unwrap_or(precision),
                            "scale" => scale = v.parse().unwrap_or(scale),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    let precision = precision.clamp(1, 38);
    (precision, scale.clamp(0, precision as i8))
}

/// The SQL type of a field (its element type for a repeated field).
pub(crate) fn field_type(
    field: &FieldDescriptor,
    upper: bool,
    depth: usize,
) -> Result<SqlType, String> {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return Err("a map field is not a message".into());
        };
        let k = kind_type(&entry.map_entry_key_field(), upper, depth)?;
        let v = kind_type(&entry.map_entry_value_field(), upper, depth)?;
        return Ok(SqlType::Map(Box::new(k), Box::new(v)));
    }
    let t = kind_type(field, upper, depth)?;
    if field.is_list() {
        return Ok(SqlType::Array(Box::new(t)));
    }
    Ok(t)
}

fn kind_type(field: &FieldDescriptor, upper: bool, depth: usize) -> Result<SqlType, String> {
    Ok(match field.kind() {
        Kind::Double | Kind::Float => SqlType::Double,
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => SqlType::Int,
        Kind::Int64
        | Kind::Sint64
        | Kind::Sfixed64
        | Kind::Uint64
        | Kind::Fixed64
        | Kind::Uint32
        | Kind::Fixed32 => SqlType::Bigint,
        Kind::Bool => SqlType::Boolean,
        Kind::String => SqlType::String,
        Kind::Bytes => SqlType::Bytes,
        Kind::Enum(_) => SqlType::String,
        Kind::Message(m) => match special(&m) {
            Some(Special::Timestamp) => SqlType::Timestamp,
            Some(Special::Date) => SqlType::Date,
            Some(Special::Time) => SqlType::Time,
            Some(Special::Decimal) => {
                let (p, s) = decimal_params(field);
                SqlType::Decimal(p, s)
            }
            Some(Special::Wrapper) => {
                let inner = m.get_field(1).ok_or("a wrapper message has no field 1")?;
                kind_type(&inner, upper, depth)?
            }
            None => message_type(&m, upper, depth + 1)?,
        },
    })
}

/// The STRUCT of a message's fields.
pub(crate) fn message_type(
    m: &MessageDescriptor,
    upper: bool,
    depth: usize,
) -> Result<SqlType, String> {
    if depth > 32 {
        return Err(format!(
            "the message '{}' is nested too deeply (recursive messages are not supported)",
            m.full_name()
        ));
    }
    let mut fields = Vec::new();
    for f in m.fields() {
        let name = if upper {
            f.name().to_uppercase()
        } else {
            f.name().to_string()
        };
        let t = field_type(&f, upper, depth).map_err(|e| format!("field '{}': {e}", f.name()))?;
        fields.push((name, t));
    }
    Ok(SqlType::Struct(fields))
}

/// The `.proto` text ksqlDB generates for columns: one message `name`
/// with a field per column (numbered from 1), nested messages for
/// STRUCTs, Google and Confluent types for temporal and decimal columns.
pub(crate) fn generate(
    name: &str,
    columns: &[(String, SqlType)],
    nullable: Option<ProtobufNullable>,
) -> Result<String, String> {
    let mut g = Generator {
        imports: Vec::new(),
        next: 1,
        nullable,
    };
    let short = name.rsplit('.').next().unwrap_or(name);
    let package = name.rfind('.').map(|i| &name[..i]);
    let body = g.message(short, columns, 0)?;
    let mut out = String::from("syntax = \"proto3\";\n\n");
    if let Some(p) = package {
        let _ = writeln!(out, "package {p};\n");
    }
    g.imports.sort();
    g.imports.dedup();
    for i in &g.imports {
        let _ = writeln!(out, "import \"{i}\";");
    }
    if !g.imports.is_empty() {
        out.push('\n');
    }
    out.push_str(&body);
    Ok(out)
}

struct Generator {
    imports: Vec<&'static str>,
    next: usize,
    nullable: Option<ProtobufNullable>,
}

impl Generator {
    fn message(
        &mut self,
        name: &str,
        columns: &[(String, SqlType)],
        indent: usize,
    ) -> Result<String, String> {
        let pad = "  ".repeat(indent);
        let mut fields = String::new();
        let mut nested = String::new();
        for (i, (col, t)) in columns.iter().enumerate() {
            let number = i + 1;
            let (prefix, type_name) = match t {
                SqlType::Array(item) => {
                    if matches!(**item, SqlType::Array(_) | SqlType::Map(..)) {
                        return Err(format!(
                            "`{col}`: PROTOBUF cannot write an ARRAY of {}",
                            if matches!(**item, SqlType::Array(_)) {
                                "ARRAY"
                            } else {
                                "MAP"
                            }
                        ));
                    }
                    (
                        "repeated ",
                        self.type_name(item, &mut nested, indent, false)?,
                    )
                }
                SqlType::Map(k, v) => {
                    let key = match **k {
                        SqlType::String => "string",
                        SqlType::Int => "int32",
                        SqlType::Bigint => "int64",
                        SqlType::Boolean => "bool",
                        _ => {
                            return Err(format!(
                                "`{col}`: PROTOBUF map keys must be STRING, INT, BIGINT or BOOLEAN"
                            ))
                        }
                    };
                    if matches!(**v, SqlType::Array(_) | SqlType::Map(..)) {
                        return Err(format!(
                            "`{col}`: PROTOBUF cannot write a MAP of ARRAY or MAP"
                        ));
                    }
                    let value = self.type_name(v, &mut nested, indent, false)?;
                    ("", format!("map<{key}, {value}>"))
                }
                other => {
                    let scalar = !matches!(
                        other,
                        SqlType::Struct(_)
                            | SqlType::Decimal(..)
                            | SqlType::Timestamp
                            | SqlType::Date
                            | SqlType::Time
                    );
                    let optional = scalar && self.nullable == Some(ProtobufNullable::Optional);
                    (
                        if optional { "optional " } else { "" },
                        self.type_name(other, &mut nested, indent, true)?,
                    )
                }
            };
            let options = match t {
                SqlType::Decimal(p, s) => {
                    self.imports.push("confluent/meta.proto");
                    format!(
                        " [(confluent.field_meta) = {{ params: [ {{ key: \"precision\", value: \"{p}\" }}, {{ key: \"scale\", value: \"{s}\" }} ] }}]"
                    )
                }
                _ => String::new(),
            };
            let _ = writeln!(
                fields,
                "{pad}  {prefix}{type_name} {col} = {number}{options};"
            );
        }
        let mut out = format!("{pad}message {name} {{\n{fields}");
        if !nested.is_empty() {
            out.push_str(&nested);
        }
        let _ = writeln!(out, "{pad}}}");
        Ok(out)
    }

    fn type_name(
        &mut self,
        t: &SqlType,
        nested: &mut String,
        indent: usize,
        top: bool,
    ) -> Result<String, String> {
        let wrapper = top && self.nullable == Some(ProtobufNullable::Wrapper);
        let wrapped = |w: &'static str, plain: &'static str, imports: &mut Vec<&'static str>| {
            if wrapper {
                imports.push("google/protobuf/wrappers.proto");
                format!("google.protobuf.{w}")
            } else {
                plain.to_string()
            }
        };
        Ok(match t {
            SqlType::Boolean => wrapped("BoolValue", "bool", &mut self.imports),
            SqlType::Int => wrapped("Int32Value", "int32", &mut self.imports),
            SqlType::Bigint => wrapped("Int64Value", "int64", &mut self.imports),
            SqlType::Double => wrapped("DoubleValue", "double", &mut self.imports),
            SqlType::String => wrapped("StringValue", "string", &mut self.imports),
            SqlType::Bytes => wrapped("BytesValue", "bytes", &mut self.imports),
            SqlType::Decimal(..) => {
                self.imports.push("confluent/type/decimal.proto");
                "confluent.type.Decimal".into()
            }
            SqlType::Timestamp => {
                self.imports.push("google/protobuf/timestamp.proto");
                "google.protobuf.Timestamp".into()
            }
            SqlType::Date => {
                self.imports.push("google/type/date.proto");
                "google.type.Date".into()
            }
            SqlType::Time => {
                self.imports.push("google/type/timeofday.proto");
                "google.type.TimeOfDay".into()
            }
            SqlType::Struct(fields) => {
                self.next += 1;
                let name = format!("ConnectDefault{}", self.next);
                let text = self.message(&name, fields, indent + 1)?;
                nested.push_str(&text);
                name
            }
            SqlType::Array(_) | SqlType::Map(..) => {
                return Err(format!("PROTOBUF cannot nest {t} here"))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_schemas_compile_and_infer_back() {
        let columns = vec![
            ("I".to_string(), SqlType::Int),
            (
                "S".to_string(),
                SqlType::Struct(vec![("F".into(), SqlType::Bigint)]),
            ),
            ("A".to_string(), SqlType::Array(Box::new(SqlType::String))),
            (
                "M".to_string(),
                SqlType::Map(Box::new(SqlType::String), Box::new(SqlType::Double)),
            ),
            ("T".to_string(), SqlType::Timestamp),
            ("D".to_string(), SqlType::Decimal(4, 2)),
        ];
        for nullable in [
            None,
            Some(ProtobufNullable::Optional),
            Some(ProtobufNullable::Wrapper),
        ] {
            let text = generate("ConnectDefault1", &columns, nullable).unwrap();
            let pool = compile(&text, &[]).unwrap_or_else(|e| panic!("{e}\n{text}"));
            let (m, path) = select(&pool, None).unwrap();
            assert_eq!(path, vec![0]);
            assert_eq!(
                message_type(&m, false, 0).unwrap(),
                SqlType::Struct(columns.clone()),
                "{text}"
            );
        }
    }

    #[test]
    fn messages_are_found_by_name_and_path() {
        let pool = compile(
            "syntax = \"proto3\"; package p; message A { message B { int32 x = 1; } } message C { string y = 1; }",
            &[],
        )
        .unwrap();
        assert_eq!(select(&pool, Some("p.C")).unwrap().1, vec![1]);
        assert_eq!(select(&pool, Some("B")).unwrap().1, vec![0, 0]);
        assert_eq!(by_path(&pool, &[0, 0]).unwrap().name(), "B");
        assert!(select(&pool, Some("Nope")).is_err());
    }
}
