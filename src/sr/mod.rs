//! Schema Registry: the schemas of AVRO, PROTOBUF and JSON_SR topics.
//!
//! The formats ask a [`SchemaRegistry`] for the writer schema of an id
//! read from a record, for the latest schema of a subject (to infer a
//! source's columns) and to register the schema of a sink. Two kinds serve
//! it:
//!
//! * [`Store`]: the registry kept in this process — the one `sluice server`
//!   embeds and serves over Confluent's REST API ([`server`]), persisted in
//!   a compacted `_schemas` topic ([`journal`]); the test runner makes one
//!   per case;
//! * [`http::HttpRegistry`]: an external Confluent-compatible registry
//!   (`--schema-registry URL`), with ids cached forever.
//!
//! Subjects follow Confluent's TopicNameStrategy: `<topic>-key` and
//! `<topic>-value`.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

mod blocking;
pub mod embedded;
pub mod http;
pub mod journal;
pub mod server;
pub mod store;

pub use http::HttpRegistry;
pub use store::Store;

/// The kind of a schema: `schemaType` in the REST API (absent = AVRO).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum SchemaType {
    /// An Avro schema (JSON text).
    #[default]
    Avro,
    /// A `.proto` file.
    Protobuf,
    /// A JSON Schema document.
    Json,
}

impl SchemaType {
    /// The REST API's name.
    pub fn name(self) -> &'static str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Protobuf => "PROTOBUF",
            SchemaType::Json => "JSON",
        }
    }

    /// Parses a `schemaType` value.
    pub fn parse(text: &str) -> Option<SchemaType> {
        match text.to_ascii_uppercase().as_str() {
            "AVRO" => Some(SchemaType::Avro),
            "PROTOBUF" => Some(SchemaType::Protobuf),
            "JSON" => Some(SchemaType::Json),
            _ => None,
        }
    }
}

/// A reference from a schema to another subject's version (a protobuf
/// import, a named Avro type defined elsewhere).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reference {
    /// The name the schema uses (the import path for protobuf).
    pub name: String,
    /// The subject holding it.
    pub subject: String,
    /// Its version in that subject.
    pub version: i32,
}

/// A schema as the registry stores it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Schema {
    /// AVRO, PROTOBUF or JSON.
    pub schema_type: SchemaType,
    /// The schema text.
    pub text: String,
    /// Schemas it refers to.
    pub references: Vec<Reference>,
}

impl Schema {
    /// A schema without references.
    pub fn new(schema_type: SchemaType, text: impl Into<String>) -> Self {
        Schema {
            schema_type,
            text: text.into(),
            references: Vec::new(),
        }
    }
}

/// A schema registered under a subject.
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    /// The subject.
    pub subject: String,
    /// Its version in the subject, from 1.
    pub version: i32,
    /// The global id written in records.
    pub id: i32,
    /// The schema.
    pub schema: Arc<Schema>,
}

/// What went wrong, with Confluent's error code (40401 subject not found,
/// 40402 version not found, 40403 schema not found, 42201 invalid schema,
/// 409 incompatible, 50001 backend).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrError {
    /// Confluent's `error_code`.
    pub code: i32,
    /// The message.
    pub message: String,
}

impl SrError {
    /// An error with a code.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        SrError {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status Confluent answers with for this code.
    pub fn http_status(&self) -> u16 {
        match self.code {
            c if c >= 10000 => u16::try_from(c / 100).unwrap_or(500),
            c => u16::try_from(c).unwrap_or(500),
        }
    }
}

impl fmt::Display for SrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (error code {})", self.message, self.code)
    }
}

impl From<SrError> for crate::error::Error {
    fn from(e: SrError) -> Self {
        if e.code >= 50000 || e.code < 400 {
            crate::error::Error::external(format!("Schema Registry: {e}"))
        } else {
            crate::error::Error::user(format!("Schema Registry: {e}"))
        }
    }
}

/// What the engine and the formats ask of a registry.
pub trait SchemaRegistry: Send + Sync + fmt::Debug {
    /// The schema with a global id.
    fn by_id(&self, id: i32) -> Result<Arc<Schema>, SrError>;
    /// The latest version of a subject; `None` when the subject does not
    /// exist.
    fn latest(&self, subject: &str) -> Result<Option<Registered>, SrError>;
    /// One version of a subject.
    fn version(&self, subject: &str, version: i32) -> Result<Option<Registered>, SrError>;
    /// Registers `schema` under `subject` (idempotent: a schema already
    /// there keeps its version and id); returns its id.
    fn register(&self, subject: &str, schema: &Schema) -> Result<i32, SrError>;
    /// Where the registry is, for messages and `DESCRIBE`.
    fn url(&self) -> String;
}

/// A registry handle that can sit in a [`FormatSpec`](crate::format::FormatSpec):
/// equal and hashed by identity.
#[derive(Clone)]
pub struct RegistryRef(pub Arc<dyn SchemaRegistry>);

impl RegistryRef {
    /// The registry.
    pub fn get(&self) -> &dyn SchemaRegistry {
        self.0.as_ref()
    }
}

impl fmt::Debug for RegistryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Registry({})", self.0.url())
    }
}

impl PartialEq for RegistryRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for RegistryRef {}

impl std::hash::Hash for RegistryRef {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.url().hash(state)
    }
}

/// The subject of a topic's key or value (TopicNameStrategy).
pub fn subject(topic: &str, key: bool) -> String {
    if key {
        format!("{topic}-key")
    } else {
        format!("{topic}-value")
    }
}
