//! The AVRO format: Avro binary in Confluent's wire format (a zero byte,
//! the writer schema's 4-byte id, the body), schemas in a Schema Registry.
//!
//! * Reading: the id of each record names its writer schema; the first
//!   time an id is seen its schema is fetched and compiled against the
//!   columns ([`decode::Plan`]), and later records of that id decode with
//!   no lookup. So a source follows new versions of its subject as long as
//!   their fields still convert into its columns; a record whose schema does
//!   not is a bad record that says which field and why.
//! * Writing: the schema ksqlDB would generate for the columns (a record
//!   `KsqlDataSourceSchema`, optional fields, Connect annotations) is
//!   registered under `<topic>-key|value` when the encoder is made, or the
//!   schema pinned by `KEY_SCHEMA_ID`/`VALUE_SCHEMA_ID` is used as it is.
//! * A single key column is written bare, as are values with
//!   `WRAP_SINGLE_VALUE=false`; everything else is a record.

pub(crate) mod decode;
pub(crate) mod encode;
pub(crate) mod schema;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::datatypes::{DataType, SchemaRef};

use super::builder::{ColumnBuilder, Values};
use super::columns::check_supported;
use super::json::is_wrapped;
use super::view::View;
use super::{
    Decoded, Decoder, Encoded, Encoder, Format, FormatFactory, FormatSpec, Part, RowError,
};
use crate::error::{Error, Result};
use crate::sr::{RegistryRef, Schema, SchemaType};
use crate::types::SqlType;

/// The AVRO format's factory.
pub struct AvroFormat;

/// The one instance, for the registry.
pub static AVRO: AvroFormat = AvroFormat;

/// Splits Confluent's prefix off a payload: the schema id and the body.
pub(crate) fn split_prefix(payload: &[u8]) -> std::result::Result<(i32, &[u8]), String> {
    match payload {
        [0, a, b, c, d, body @ ..] => Ok((i32::from_be_bytes([*a, *b, *c, *d]), body)),
        [] => Err("the payload is empty".into()),
        [0, ..] => Err("the payload is shorter than the 5-byte Schema Registry prefix".into()),
        _ => Err(
            "Unknown magic byte! (the payload does not start with the Schema Registry \
             prefix: was it written with another format?)"
                .into(),
        ),
    }
}

/// Confluent's prefix for schema `id`.
pub(crate) fn prefix(id: i32) -> [u8; 5] {
    let b = id.to_be_bytes();
    [0, b[0], b[1], b[2], b[3]]
}

fn check_names(t: &DataType) -> std::result::Result<(), String> {
    match t {
        DataType::Struct(fields) => {
            for f in fields {
                schema::check_name(f.name())?;
                check_names(f.data_type())?;
            }
            Ok(())
        }
        DataType::List(f) => check_names(f.data_type()),
        DataType::Map(entries, _) => check_names(entries.data_type()),
        _ => Ok(()),
    }
}

/// The registry binding of a spec, or the error saying it is missing.
pub(crate) fn binding(spec: &FormatSpec) -> Result<&super::SrSpec> {
    spec.sr.as_ref().ok_or_else(|| {
        Error::internal(format!(
            "the {} format was used without a Schema Registry binding",
            spec.format
        ))
    })
}

/// The schema a sink writes with, and its id: the one pinned by
/// `*_SCHEMA_ID` (which must be of `schema_type`; nothing is registered),
/// else the `generate`d one, registered under the subject.
pub(crate) fn writer_schema(
    sr: &super::SrSpec,
    schema_type: SchemaType,
    generate: impl FnOnce() -> Result<String>,
) -> Result<(i32, Arc<Schema>)> {
    let registry = sr.registry.get();
    let Some(id) = sr.schema_id else {
        let schema = Schema::new(schema_type, generate()?);
        let id = registry.register(&sr.subject, &schema)?;
        return Ok((id, Arc::new(schema)));
    };
    let pinned = registry.by_id(id)?;
    if pinned.schema_type != schema_type {
        return Err(Error::user(format!(
            "The schema {id} given for '{}' is a {} schema, not a {} one",
            sr.subject,
            pinned.schema_type.name(),
            schema_type.name()
        )));
    }
    Ok((id, pinned))
}

/// The ksqlDB-shaped Avro schema of `schema`'s columns for `part`.
pub(crate) fn generated_schema(
    spec: &FormatSpec,
    part: Part,
    schema: &SchemaRef,
) -> Result<String> {
    let columns = super::columns::sql_columns(schema)?;
    let name = binding(spec)?.record_name();
    let json = if is_wrapped(spec, part, columns.len()) {
        schema::record_schema(&name, &columns)
    } else {
        // A bare key is required, as ksqlDB writes it (a null key is a null
        // payload, not a null in the schema); a bare value is optional.
        let (_, t) = &columns[0];
        let bare = match t {
            SqlType::Struct(fields) => schema::record_schema(&name, fields),
            other => schema::type_schema(other, &name),
        };
        match part {
            Part::Key => bare,
            Part::Value => serde_json::json!(["null", bare]),
        }
    };
    Ok(json.to_string())
}

impl FormatFactory for AvroFormat {
    fn format(&self) -> Format {
        Format::Avro
    }

    fn validate(&self, spec: &FormatSpec, part: Part, schema: &SchemaRef) -> Result<()> {
        super::columns::check_options("AVRO", spec, part, schema)?;
        for f in schema.fields() {
            if super::columns::non_string_map_key(f.data_type()) {
                return Err(Error::user("Avro only supports MAPs with STRING keys"));
            }
        }
        if is_wrapped(spec, part, schema.fields().len()) {
            check_names(&DataType::Struct(schema.fields().clone()))
                .map_err(|e| Error::user(format!("Schema is not compatible with Avro: {e}")))?;
        }
        check_supported("AVRO", schema)
    }

    fn decoder(
        &self,
        spec: &FormatSpec,
        part: Part,
        schema: SchemaRef,
    ) -> Result<Arc<dyn Decoder>> {
        check_supported("AVRO", &schema)?;
        let registry = binding(spec)?.registry.clone();
        Ok(Arc::new(AvroDecoder {
            row_type: DataType::Struct(schema.fields().clone()),
            wrapped: is_wrapped(spec, part, schema.fields().len()),
            columns: schema.fields().len(),
            registry,
            plans: Mutex::new(HashMap::new()),
        }))
    }

    fn encoder(
        &self,
        spec: &FormatSpec,
        part: Part,
        schema: SchemaRef,
    ) -> Result<Arc<dyn Encoder>> {
        let sr = binding(spec)?;
        let (id, written) = writer_schema(sr, SchemaType::Avro, || {
            generated_schema(spec, part, &schema)
        })?;
        let writer = schema::parse(&written.text)
            .map_err(|e| Error::user(format!("The Avro schema {id} is not valid: {e}")))?;
        let wrapped = is_wrapped(spec, part, schema.fields().len());
        let plan = if wrapped {
            let schema::Avro::Record(r) = writer.non_null().0 else {
                return Err(Error::user(format!(
                    "The Avro schema {id} of '{}' is a {}, not a record of the columns",
                    sr.subject,
                    writer.describe()
                )));
            };
            let sources: Vec<(&str, &DataType)> = schema
                .fields()
                .iter()
                .map(|f| (f.name().as_str(), f.data_type()))
                .collect();
            encode::record_plan(r, &sources, "")
        } else {
            let f = schema
                .fields()
                .first()
                .ok_or_else(|| Error::internal("an unwrapped Avro part has no column"))?;
            encode::compile(&writer, f.data_type(), &format!("`{}`", f.name()))
        }
        .map_err(|e| {
            Error::user(format!(
                "The columns cannot be written with the Avro schema {id} of '{}': {e}",
                sr.subject
            ))
        })?;
        Ok(Arc::new(AvroEncoder {
            prefix: prefix(id),
            plan,
            wrapped,
            specs: encode_specs(&schema)?,
        }))
    }
}

/// Writer schemas a decoder keeps compiled plans for.
pub(crate) const MAX_PLANS: usize = 1024;

/// Decodes Avro payloads of one part.
struct AvroDecoder {
    row_type: DataType,
    wrapped: bool,
    columns: usize,
    registry: RegistryRef,
    /// Writer schema ids to their compiled plans (or why there is none).
    plans: Mutex<HashMap<i32, std::result::Result<Arc<decode::Plan>, String>>>,
}

impl AvroDecoder {
    fn compile(&self, id: i32, schema: &Schema) -> std::result::Result<Arc<decode::Plan>, String> {
        let writer = schema::parse(&schema.text)
            .map_err(|e| format!("the schema {id} is not a valid Avro schema: {e}"))?;
        let DataType::Struct(fields) = &self.row_type else {
            return Err("internal error: the row is not a STRUCT".into());
        };
        let plan = if self.wrapped {
            match writer.non_null() {
                (schema::Avro::Record(r), nullable) => {
                    let plan = decode::record_plan(
                        r,
                        fields.iter().map(|f| (f.name().as_str(), f.data_type())),
                        "",
                    )?;
                    if nullable {
                        // ["null", record]: the union's index comes first.
                        let schema::Avro::Union(branches) = &writer else {
                            return Err("internal error: a nullable schema is not a union".into());
                        };
                        decode::Plan::Union(
                            branches
                                .iter()
                                .map(|b| match b {
                                    schema::Avro::Null => decode::Plan::Null,
                                    _ => plan.clone(),
                                })
                                .collect(),
                        )
                    } else {
                        plan
                    }
                }
                _ => {
                    return Err(format!(
                        "the schema {id} is a {}, not a record of the columns{}",
                        writer.describe(),
                        if self.columns == 1 {
                            " (for a bare value set WRAP_SINGLE_VALUE=false)"
                        } else {
                            ""
                        }
                    ))
                }
            }
        } else {
            let f = fields
                .first()
                .ok_or("internal error: an unwrapped part has no column")?;
            decode::compile(&writer, f.data_type(), &format!("`{}`", f.name()))?
        };
        Ok(Arc::new(plan))
    }
}

impl Decoder for AvroDecoder {
    fn decode(&self, payloads: &[Option<&[u8]>]) -> Result<Decoded> {
        if self.columns == 0 {
            return Ok(Decoded {
                columns: Vec::new(),
                errors: Vec::new(),
            });
        }
        let mut row = ColumnBuilder::new(&self.row_type, payloads.len())?;
        let mut errors = Vec::new();
        let mut plans = self
            .plans
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut last: Option<(i32, Arc<decode::Plan>)> = None;
        for (i, payload) in payloads.iter().enumerate() {
            let Some(bytes) = payload else {
                row.append_null();
                continue;
            };
            let outcome = split_prefix(bytes).and_then(|(id, body)| {
                // Records of a batch mostly share one writer schema.
                if let Some((last_id, plan)) = &last {
                    if *last_id == id {
                        return self.decode_row(body, plan, &mut row);
                    }
                }
                let plan = match plans.get(&id) {
                    Some(plan) => plan.clone(),
                    // A schema the registry cannot give (yet) is not
                    // remembered: a later record may find it.
                    None => match self.registry.get().by_id(id) {
                        Err(e) => Err(format!("cannot get the schema {id}: {e}")),
                        Ok(schema) => {
                            let plan = self.compile(id, &schema);
                            if plans.len() < MAX_PLANS {
                                plans.insert(id, plan.clone());
                            }
                            plan
                        }
                    },
                }?;
                let decoded = self.decode_row(body, &plan, &mut row);
                last = Some((id, plan));
                decoded
            });
            if let Err(reason) = outcome {
                row.truncate(i);
                row.append_null();
                errors.push(RowError { row: i, reason });
            }
        }
        drop(plans);
        let columns = crate::format::builder::finish_columns(&mut row)?;
        Ok(Decoded { columns, errors })
    }
}

impl AvroDecoder {
    fn decode_row(
        &self,
        body: &[u8],
        plan: &decode::Plan,
        row: &mut ColumnBuilder,
    ) -> std::result::Result<(), String> {
        let mut c = decode::Cursor::new(body);
        if self.wrapped {
            decode::read(&mut c, plan, row)?;
        } else {
            let Values::Struct(children) = &mut row.values else {
                return Err("internal error: the row is not a STRUCT".into());
            };
            let column = children
                .first_mut()
                .ok_or("internal error: no column to decode into")?;
            decode::read(&mut c, plan, column)?;
            row.nulls.append_non_null();
        }
        if c.pos != c.data.len() {
            return Err(format!(
                "{} bytes are left after the Avro record (does the writer schema match the data?)",
                c.data.len() - c.pos
            ));
        }
        Ok(())
    }
}

/// Encodes columns as Avro payloads with one writer schema.
struct AvroEncoder {
    prefix: [u8; 5],
    plan: encode::WPlan,
    wrapped: bool,
    /// The columns' names and the types the plan was made for.
    specs: Vec<(String, DataType)>,
}

/// The names and SQL Arrow types of the columns an encoder is made for:
/// arrays of other types (views, dictionaries) are cast to these first.
pub(crate) fn encode_specs(schema: &SchemaRef) -> Result<Vec<(String, DataType)>> {
    schema
        .fields()
        .iter()
        .map(|f| {
            Ok((
                f.name().clone(),
                super::columns::encodable_type(f.data_type())?,
            ))
        })
        .collect()
}

impl Encoder for AvroEncoder {
    fn encode(&self, columns: &[arrow::array::ArrayRef]) -> Result<Encoded> {
        let (rows, columns) = super::columns::prepare_encode("AVRO", &self.specs, columns)?;
        let views = columns
            .iter()
            .map(|c| View::new(c.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        let mut out = Encoded {
            data: Vec::with_capacity(rows * 32),
            offsets: Vec::with_capacity(rows + 1),
            nulls: Vec::with_capacity(rows),
        };
        out.offsets.push(0);
        for i in 0..rows {
            // A bare null is a null payload (a null key, a tombstone).
            if !self.wrapped && views.first().is_some_and(|v| v.is_null(i)) {
                out.nulls.push(true);
                out.offsets.push(out.data.len());
                continue;
            }
            out.data.extend_from_slice(&self.prefix);
            let written = if self.wrapped {
                self.write_record(&mut out.data, &views, i)
            } else {
                match views.first() {
                    Some(v) => encode::write(&mut out.data, &self.plan, v, i, "the value"),
                    None => Ok(()),
                }
            };
            written.map_err(|e| Error::user(format!("Failed to serialize an Avro record: {e}")))?;
            out.nulls.push(false);
            out.offsets.push(out.data.len());
        }
        Ok(out)
    }
}

impl AvroEncoder {
    fn write_record(
        &self,
        out: &mut Vec<u8>,
        views: &[View<'_>],
        i: usize,
    ) -> std::result::Result<(), String> {
        let encode::WPlan::Record(fields) = &self.plan else {
            return Err("internal error: a wrapped plan is not a record".into());
        };
        for (source, plan, name) in fields {
            match source {
                Some(c) => {
                    let v = views
                        .get(*c)
                        .ok_or("internal error: a record field has no column")?;
                    encode::write(out, plan, v, i, name)?;
                }
                None => encode::write_null(out, plan, name)?,
            }
        }
        Ok(())
    }
}

/// Avro schema compatibility for the registry: `new` may follow `old`
/// under `level` when the reader of each direction the level names can
/// read the writer's data — every field the reader has and the writer
/// lacks has a default (or is optional), and common fields convert by
/// Avro's promotion rules.
pub fn compatibility(new: &Schema, old: &Schema, level: &str) -> std::result::Result<(), String> {
    let parse =
        |s: &Schema| schema::parse(&s.text).map_err(|e| format!("not a valid Avro schema: {e}"));
    let (new_avro, old_avro) = (parse(new)?, parse(old)?);
    let backward = level.starts_with("BACKWARD") || level.starts_with("FULL");
    let forward = level.starts_with("FORWARD") || level.starts_with("FULL");
    if backward {
        can_read(&new_avro, &old_avro)
            .map_err(|e| format!("the new schema cannot read data of the old one: {e}"))?;
    }
    if forward {
        can_read(&old_avro, &new_avro)
            .map_err(|e| format!("the old schema cannot read data of the new one: {e}"))?;
    }
    Ok(())
}

/// Whether a reader schema can read data written with a writer schema.
fn can_read(reader: &schema::Avro, writer: &schema::Avro) -> std::result::Result<(), String> {
    use schema::Avro as A;
    match (reader, writer) {
        (A::Union(rs), A::Union(ws)) => {
            for w in ws {
                if !rs.iter().any(|r| can_read(r, w).is_ok()) {
                    return Err(format!(
                        "the writer's branch {} has no reader branch",
                        w.describe()
                    ));
                }
            }
            Ok(())
        }
        (A::Union(rs), w) => rs
            .iter()
            .any(|r| can_read(r, w).is_ok())
            .then_some(())
            .ok_or_else(|| format!("no branch of the reader's union reads {}", w.describe())),
        (r, A::Union(ws)) => {
            for w in ws {
                can_read(r, w)?;
            }
            Ok(())
        }
        (A::Record(r), A::Record(w)) => {
            for f in &r.fields {
                match w.fields.iter().find(|x| x.name == f.name) {
                    Some(wf) => can_read(&f.avro, &wf.avro)
                        .map_err(|e| format!("field '{}': {e}", f.name))?,
                    None if f.default.is_some() => {}
                    None => {
                        return Err(format!(
                        "the reader's field '{}' is not in the writer's schema and has no default",
                        f.name
                    ))
                    }
                }
            }
            Ok(())
        }
        (A::Array(r), A::Array(w)) | (A::Map(r), A::Map(w)) => can_read(r, w),
        (A::Enum(r), A::Enum(w)) => match w.iter().find(|s| !r.contains(s)) {
            Some(s) => Err(format!(
                "the writer's enum symbol '{s}' is not in the reader's enum"
            )),
            None => Ok(()),
        },
        (A::Long(_), A::Int(_))
        | (A::Float, A::Int(_) | A::Long(_))
        | (A::Double, A::Int(_) | A::Long(_) | A::Float)
        | (A::String, A::Bytes(None))
        | (A::Bytes(None), A::String) => Ok(()),
        (A::Fixed(a, _), A::Fixed(b, _)) if a == b => Ok(()),
        (r, w) if std::mem::discriminant(r) == std::mem::discriminant(w) => Ok(()),
        (r, w) => Err(format!(
            "a {} cannot be read as a {}",
            w.describe(),
            r.describe()
        )),
    }
}

#[cfg(test)]
mod tests;
