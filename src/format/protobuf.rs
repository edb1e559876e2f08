//! The PROTOBUF and PROTOBUF_NOSR formats.
//!
//! * PROTOBUF: Confluent's wire format — a zero byte, the schema's 4-byte
//!   id, the message indexes (which message of the `.proto` file, as
//!   zig-zag varints; a single 0 for the first), then the message. Schemas
//!   live in the registry, with their references.
//! * PROTOBUF_NOSR: the bare message of a schema made from the columns,
//!   no registry and no prefix.
//!
//! A part is always a message (a single key or value column too: ksqlDB
//! cannot unwrap protobuf). Fields absent from a record read as proto3's
//! defaults unless they have presence (`optional`, wrappers, messages),
//! which is what `*_PROTOBUF_NULLABLE_REPRESENTATION` chooses when sluice
//! writes the schema.

pub(crate) mod decode;
pub(crate) mod encode;
pub(crate) mod schema;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, SchemaRef};
use prost_reflect::{DescriptorPool, MessageDescriptor};

use super::builder::ColumnBuilder;
use super::columns::check_supported;
use super::view::View;
use super::{
    Decoded, Decoder, Encoded, Encoder, Format, FormatFactory, FormatSpec, Part, RowError,
};
use crate::error::{Error, Result};
use crate::sr::{Schema, SchemaRegistry, SchemaType};
use crate::types::SqlType;

/// The PROTOBUF format's factory.
pub struct ProtobufFormat;
/// The PROTOBUF_NOSR format's factory.
pub struct ProtobufNosrFormat;

/// The instances, for the registry.
pub static PROTOBUF: ProtobufFormat = ProtobufFormat;
/// See [`PROTOBUF`].
pub static PROTOBUF_NOSR: ProtobufNosrFormat = ProtobufNosrFormat;

/// The name of a message sluice generates.
pub const DEFAULT_MESSAGE: &str = "ConnectDefault1";

fn validate(format: Format, spec: &FormatSpec, schema: &SchemaRef) -> Result<()> {
    if spec.delimiter.is_some() {
        return Err(Error::user(format!(
            "{format} does not support the following configs: [delimiter]"
        )));
    }
    if spec.wrap_single_value == Some(false) {
        return Err(Error::user(format!(
            "Format '{format}' does not support 'WRAP_SINGLE_VALUE' set to 'false'."
        )));
    }
    for f in schema.fields() {
        if super::columns::non_string_map_key(f.data_type()) {
            return Err(Error::user(
                "PROTOBUF format only supports MAP types with STRING keys",
            ));
        }
    }
    check_supported(format.name(), schema)?;
    schema::generate(
        DEFAULT_MESSAGE,
        &super::columns::sql_columns(schema)?,
        spec.nullable,
    )
    .map_err(|e| Error::user(format!("The columns cannot be written as {format}: {e}")))?;
    Ok(())
}

/// Compiles a registry schema with its references (fetched recursively).
pub(crate) fn compile_registered(
    registry: &dyn SchemaRegistry,
    schema: &Schema,
) -> std::result::Result<DescriptorPool, String> {
    let mut imports: Vec<(String, String)> = Vec::new();
    let mut pending: Vec<crate::sr::Reference> = schema.references.clone();
    let mut depth = 0;
    while let Some(r) = pending.pop() {
        depth += 1;
        if depth > 256 {
            return Err("too many schema references".into());
        }
        if imports.iter().any(|(n, _)| *n == r.name) {
            continue;
        }
        let found = registry
            .version(&r.subject, r.version)
            .map_err(|e| format!("reference '{}': {e}", r.name))?
            .ok_or_else(|| {
                format!(
                    "the reference '{}' (subject '{}' version {}) is not in the registry",
                    r.name, r.subject, r.version
                )
            })?;
        pending.extend(found.schema.references.iter().cloned());
        imports.push((r.name.clone(), found.schema.text.clone()));
    }
    schema::compile(&schema.text, &imports)
}

/// The message indexes of a payload after the 5-byte prefix (empty for
/// the first message, `[0]`), and the rest.
fn split_indexes(body: &[u8]) -> std::result::Result<(Vec<i32>, &[u8]), String> {
    let mut c = decode::Cursor::new(body);
    let zigzag = |c: &mut decode::Cursor<'_>| -> std::result::Result<i64, String> {
        let v = c.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    };
    let count = zigzag(&mut c)?;
    // The first message (count 0, by far the most common) is the empty
    // path, which takes no allocation.
    let path = if count == 0 {
        Vec::new()
    } else {
        if !(0..=64).contains(&count) {
            return Err(format!("invalid protobuf message index count {count}"));
        }
        (0..count)
            .map(|_| {
                zigzag(&mut c).and_then(|i| {
                    i32::try_from(i).map_err(|_| format!("invalid protobuf message index {i}"))
                })
            })
            .collect::<std::result::Result<Vec<_>, _>>()?
    };
    Ok((path, &body[c.pos..]))
}

/// Confluent's message-index bytes for a path.
fn index_bytes(path: &[i32]) -> Vec<u8> {
    if path == [0] {
        return vec![0];
    }
    let mut out = Vec::new();
    let zz = |v: i64| ((v << 1) ^ (v >> 63)) as u64;
    encode::write_varint(&mut out, zz(path.len() as i64));
    for i in path {
        encode::write_varint(&mut out, zz(i64::from(*i)));
    }
    out
}

fn row_targets(row_type: &DataType) -> Vec<(&str, &DataType)> {
    match row_type {
        DataType::Struct(fields) => fields
            .iter()
            .map(|f| (f.name().as_str(), f.data_type()))
            .collect(),
        _ => Vec::new(),
    }
}

/// The message a schema of the columns describes, for PROTOBUF_NOSR (and
/// sinks that generate theirs).
fn generated_message(spec: &FormatSpec, schema: &SchemaRef) -> Result<(String, MessageDescriptor)> {
    let name = spec
        .sr
        .as_ref()
        .and_then(|s| s.full_name.clone())
        .unwrap_or_else(|| DEFAULT_MESSAGE.to_string());
    let text = schema::generate(&name, &super::columns::sql_columns(schema)?, spec.nullable)
        .map_err(|e| Error::user(format!("The columns cannot be written as PROTOBUF: {e}")))?;
    let pool = schema::compile(&text, &[]).map_err(|e| {
        Error::internal(format!(
            "the generated protobuf schema does not compile: {e}\n{text}"
        ))
    })?;
    let (m, _) = schema::select(&pool, None).map_err(Error::internal)?;
    Ok((text, m))
}

impl FormatFactory for ProtobufFormat {
    fn format(&self) -> Format {
        Format::Protobuf
    }

    fn validate(&self, spec: &FormatSpec, _part: Part, schema: &SchemaRef) -> Result<()> {
        validate(Format::Protobuf, spec, schema)
    }

    fn decoder(
        &self,
        spec: &FormatSpec,
        _part: Part,
        schema: SchemaRef,
    ) -> Result<Arc<dyn Decoder>> {
        check_supported("PROTOBUF", &schema)?;
        let sr = super::avro::binding(spec)?;
        Ok(Arc::new(ProtobufDecoder {
            row_type: DataType::Struct(schema.fields().clone()),
            columns: schema.fields().len(),
            source: Source::Registry(sr.registry.clone(), Mutex::new(HashMap::new())),
            pools: Mutex::new(HashMap::new()),
        }))
    }

    fn encoder(
        &self,
        spec: &FormatSpec,
        _part: Part,
        schema: SchemaRef,
    ) -> Result<Arc<dyn Encoder>> {
        let sr = super::avro::binding(spec)?;
        let registry = sr.registry.get();
        let (id, registered) = super::avro::writer_schema(sr, SchemaType::Protobuf, || {
            Ok(generated_message(spec, &schema)?.0)
        })?;
        let pool = compile_registered(registry, &registered).map_err(Error::user)?;
        let (message, path) =
            schema::select(&pool, sr.full_name.as_deref()).map_err(Error::user)?;
        let plan = encode::message_plan(
            &message,
            &row_targets(&DataType::Struct(schema.fields().clone())),
            "",
        )
        .map_err(|e| {
            Error::user(format!(
                "The columns cannot be written with the protobuf schema {id} of '{}': {e}",
                sr.subject
            ))
        })?;
        let mut prefix = super::avro::prefix(id).to_vec();
        prefix.extend(index_bytes(&path));
        Ok(Arc::new(ProtobufEncoder {
            prefix,
            plan,
            specs: super::avro::encode_specs(&schema)?,
        }))
    }
}

impl FormatFactory for ProtobufNosrFormat {
    fn format(&self) -> Format {
        Format::ProtobufNosr
    }

    fn validate(&self, spec: &FormatSpec, _part: Part, schema: &SchemaRef) -> Result<()> {
        validate(Format::ProtobufNosr, spec, schema)
    }

    fn decoder(
        &self,
        spec: &FormatSpec,
        _part: Part,
        schema: SchemaRef,
    ) -> Result<Arc<dyn Decoder>> {
        check_supported("PROTOBUF_NOSR", &schema)?;
        let (_, message) = generated_message(spec, &schema)?;
        let row_type = DataType::Struct(schema.fields().clone());
        let plan = decode::message_plan(&message, row_targets(&row_type), "", 0)
            .map_err(|e| Error::internal(format!("the generated protobuf plan: {e}")))?;
        Ok(Arc::new(ProtobufDecoder {
            columns: schema.fields().len(),
            row_type,
            source: Source::Fixed(Arc::new(plan)),
            pools: Mutex::new(HashMap::new()),
        }))
    }

    fn encoder(
        &self,
        spec: &FormatSpec,
        _part: Part,
        schema: SchemaRef,
    ) -> Result<Arc<dyn Encoder>> {
        let (_, message) = generated_message(spec, &schema)?;
        let plan = encode::message_plan(
            &message,
            &row_targets(&DataType::Struct(schema.fields().clone())),
            "",
        )
        .map_err(|e| Error::internal(format!("the generated protobuf plan: {e}")))?;
        Ok(Arc::new(ProtobufEncoder {
            prefix: Vec::new(),
            plan,
            specs: super::avro::encode_specs(&schema)?,
        }))
    }
}

type Plans = Mutex<HashMap<(i32, Vec<i32>), std::result::Result<Arc<decode::MsgPlan>, String>>>;

enum Source {
    /// PROTOBUF: plans per schema id and message path.
    Registry(crate::sr::RegistryRef, Plans),
    /// PROTOBUF_NOSR: the one plan of the generated schema.
    Fixed(Arc<decode::MsgPlan>),
}

struct ProtobufDecoder {
    row_type: DataType,
    columns: usize,
    source: Source,
    /// Compiled schemas by id (a registry's schemas only).
    pools: Mutex<HashMap<i32, std::result::Result<Arc<DescriptorPool>, String>>>,
}

impl ProtobufDecoder {
    fn compile(
        &self,
        registry: &dyn SchemaRegistry,
        id: i32,
        path: &[i32],
    ) -> std::result::Result<Arc<decode::MsgPlan>, String> {
        let pool = {
            let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
            match pools.get(&id) {
                Some(pool) => pool.clone()?,
                None => {
                    let schema = registry
                        .by_id(id)
                        .map_err(|e| format!("cannot get the schema {id}: {e}"))?;
                    let pool = if schema.schema_type == SchemaType::Protobuf {
                        compile_registered(registry, &schema).map(Arc::new)
                    } else {
                        Err(format!("the schema {id} is not a protobuf schema"))
                    };
                    if pools.len() < super::avro::MAX_PLANS {
                        pools.insert(id, pool.clone());
                    }
                    pool?
                }
            }
        };
        let message = schema::by_path(&pool, path)
            .ok_or_else(|| format!("the schema {id} has no message at index {path:?}"))?;
        schema::check_size(&message)?;
        Ok(Arc::new(decode::message_plan(
            &message,
            row_targets(&self.row_type),
            "",
            0,
        )?))
    }
}

impl Decoder for ProtobufDecoder {
    fn decode(&self, payloads: &[Option<&[u8]>]) -> Result<Decoded> {
        if self.columns == 0 {
            return Ok(Decoded {
                columns: Vec::new(),
                errors: Vec::new(),
            });
        }
        let mut row = ColumnBuilder::new(&self.row_type, payloads.len())?;
        let mut errors = Vec::new();
        let mut plans = match &self.source {
            Source::Registry(_, plans) => Some(plans.lock().unwrap_or_else(|p| p.into_inner())),
            Source::Fixed(_) => None,
        };
        let mut last: Option<(i32, Vec<i32>, Arc<decode::MsgPlan>)> = None;
        for (i, payload) in payloads.iter().enumerate() {
            let Some(bytes) = payload else {
                row.append_null();
                continue;
            };
            let outcome = match &self.source {
                Source::Fixed(plan) => {
                    decode::read_message(&mut decode::Cursor::new(bytes), plan, &mut row)
                }
                Source::Registry(registry, _) => {
                    super::avro::split_prefix(bytes).and_then(|(id, body)| {
                        let (path, message) = split_indexes(body)?;
                        // Records of a batch mostly share one schema.
                        if let Some((last_id, last_path, plan)) = &last {
                            if *last_id == id && *last_path == path {
                                return decode::read_message(
                                    &mut decode::Cursor::new(message),
                                    plan,
                                    &mut row,
                                );
                            }
                        }
                        let Some(plans) = plans.as_mut() else {
                            return Err("internal error: no plans for a registry".into());
                        };
                        let plan = match plans.get(&(id, path.clone())) {
                            Some(plan) => plan.clone(),
                            None => {
                                let full = if path.is_empty() {
                                    vec![0]
                                } else {
                                    path.clone()
                                };
                                let plan = self.compile(registry.get(), id, &full);
                                let fetched = self
                                    .pools
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .contains_key(&id);
                                if fetched && plans.len() < super::avro::MAX_PLANS {
                                    plans.insert((id, path.clone()), plan.clone());
                                }
                                plan
                            }
                        }?;
                        let read = decode::read_message(
                            &mut decode::Cursor::new(message),
                            &plan,
                            &mut row,
                        );
                        last = Some((id, path, plan));
                        read
                    })
                }
            };
            if let Err(reason) = outcome {
                row.truncate(i);
                row.append_null();
                errors.push(RowError { row: i, reason });
            }
        }
        let columns = crate::format::builder::finish_columns(&mut row)?;
        Ok(Decoded { columns, errors })
    }
}

struct ProtobufEncoder {
    prefix: Vec<u8>,
    plan: encode::WMsg,
    specs: Vec<(String, DataType)>,
}

impl Encoder for ProtobufEncoder {
    fn encode(&self, columns: &[ArrayRef]) -> Result<Encoded> {
        let (rows, columns) = super::columns::prepare_encode("PROTOBUF", &self.specs, columns)?;
        let views = columns
            .iter()
            .map(|c| Ok(("", View::new(c.as_ref())?)))
            .collect::<Result<Vec<_>>>()?;
        let mut out = Encoded {
            data: Vec::with_capacity(rows * 32),
            offsets: Vec::with_capacity(rows + 1),
            nulls: Vec::with_capacity(rows),
        };
        out.offsets.push(0);
        let mut scratch = Vec::new();
        for i in 0..rows {
            out.data.extend_from_slice(&self.prefix);
            encode::write_message(&mut out.data, &self.plan, &views, i, &mut scratch)
                .map_err(|e| Error::user(format!("Failed to serialize a protobuf record: {e}")))?;
            out.nulls.push(false);
            out.offsets.push(out.data.len());
        }
        Ok(out)
    }
}

/// A registered protobuf schema in Confluent's serialized form (a base64
/// `FileDescriptorProto`), as `?format=serialized` asks for it.
pub fn serialized(
    registry: &dyn SchemaRegistry,
    schema: &Schema,
    name: &str,
) -> std::result::Result<String, String> {
    if schema::descriptor_of(&schema.text).is_some() {
        return Ok(schema.text.clone());
    }
    let pool = compile_registered(registry, schema)?;
    schema::serialized(&pool, name).ok_or_else(|| "the schema has no root file".to_string())
}

/// The columns of a registered protobuf schema.
pub(crate) fn infer(
    registry: Option<&dyn SchemaRegistry>,
    schema: &Schema,
    upper: bool,
    full_name: Option<&str>,
) -> std::result::Result<SqlType, String> {
    let pool = match registry {
        Some(r) => compile_registered(r, schema)?,
        None => schema::compile(&schema.text, &[])?,
    };
    let (m, _) = schema::select(&pool, full_name)?;
    schema::message_type(&m, upper, 0)
}
