//! The registry kept in this process.
//!
//! Subjects hold versions 1, 2, … of schemas; a schema has one global id
//! whichever subjects hold it (the same text and references register to
//! the same id). Deleting a subject is soft (its versions are hidden but
//! their ids stay readable) until it is deleted permanently. Every change
//! is passed to the journal, when one is set, as a [`Change`] — the record
//! the `_schemas` topic keeps — and [`Store::apply`] replays them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Reference, Registered, Schema, SchemaRegistry, SchemaType, SrError};

/// Compatibility levels (Confluent's names).
pub const LEVELS: &[&str] = &[
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
];

/// Decides whether `new` can follow `old` under a compatibility level, for
/// one schema type; `Err` says why not. Set by the formats that know how
/// to compare their schemas.
pub type CompatibilityCheck = fn(new: &Schema, old: &Schema, level: &str) -> Result<(), String>;

/// One change, as the journal records it.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A schema version was registered (or soft-deleted: `deleted`).
    Version {
        /// The subject.
        subject: String,
        /// The version.
        version: i32,
        /// The global id.
        id: i32,
        /// The schema.
        schema: Schema,
        /// Soft-deleted.
        deleted: bool,
    },
    /// A version was deleted permanently.
    Purged {
        /// The subject.
        subject: String,
        /// The version.
        version: i32,
    },
    /// A compatibility level was set (`subject` `None`: the global one).
    Config {
        /// The subject, or the global level.
        subject: Option<String>,
        /// The level, `None` to clear a subject's level.
        level: Option<String>,
    },
}

#[derive(Debug, Clone)]
struct Version {
    version: i32,
    id: i32,
    deleted: bool,
}

#[derive(Default)]
struct Inner {
    /// Global ids to schemas.
    schemas: BTreeMap<i32, Arc<Schema>>,
    /// Subjects to their versions, oldest first.
    subjects: BTreeMap<String, Vec<Version>>,
    /// The global compatibility level.
    level: Option<String>,
    /// Per-subject levels.
    subject_levels: BTreeMap<String, String>,
    next_id: i32,
}

type Journal = Box<dyn Fn(&Change) -> Result<(), SrError> + Send + Sync>;

/// An in-process registry.
pub struct Store {
    inner: Mutex<Inner>,
    /// Held by every change from its checks to its application, so that
    /// concurrent changes take versions and ids one after the other.
    writing: Mutex<()>,
    journal: Mutex<Option<Journal>>,
    url: Mutex<String>,
    checks: Mutex<Vec<(SchemaType, CompatibilityCheck)>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.url())
    }
}

impl Default for Store {
    fn default() -> Self {
        Store::new("embedded")
    }
}

impl Store {
    /// An empty registry known as `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Store {
            inner: Mutex::new(Inner {
                next_id: 1,
                ..Inner::default()
            }),
            writing: Mutex::new(()),
            journal: Mutex::new(None),
            url: Mutex::new(url.into()),
            checks: Mutex::new(vec![(
                SchemaType::Avro,
                crate::format::avro::compatibility as CompatibilityCheck,
            )]),
        }
    }

    /// Sets where the registry is served (printed in messages).
    pub fn set_url(&self, url: impl Into<String>) {
        *lock(&self.url) = url.into();
    }

    /// Sends every later change to `journal` before it takes effect; a
    /// journal error fails the change.
    pub fn set_journal(
        &self,
        journal: impl Fn(&Change) -> Result<(), SrError> + Send + Sync + 'static,
    ) {
        *lock(&self.journal) = Some(Box::new(journal));
    }

    /// Sets the compatibility check of a schema type (replacing the one
    /// it had: AVRO's is [`crate::format::avro::compatibility`]).
    pub fn add_check(&self, schema_type: SchemaType, check: CompatibilityCheck) {
        let mut checks = lock(&self.checks);
        checks.retain(|(t, _)| *t != schema_type);
        checks.push((schema_type, check));
    }

    fn record(&self, change: &Change) -> Result<(), SrError> {
        match lock(&self.journal).as_ref() {
            Some(journal) => journal(change),
            None => Ok(()),
        }
    }

    /// Replays a change read back from the journal.
    pub fn apply(&self, change: &Change) {
        let mut inner = lock(&self.inner);
        match change {
            Change::Version {
                subject,
                version,
                id,
                schema,
                deleted,
            } => {
                let known = inner
                    .schemas
                    .entry(*id)
                    .or_insert_with(|| Arc::new(schema.clone()));
                if known.text != schema.text || known.schema_type != schema.schema_type {
                    // Two writers of one `_schemas` topic gave one id to
                    // different schemas at the same moment.
                    tracing::error!(
                        id,
                        subject = %subject,
                        "schema id {id} stands for two different schemas in the registry's \
                         topic (servers registered at the same moment without one leader); \
                         records written with it may be read with the wrong schema. Point \
                         every server at one registry (--schema-registry URL)"
                    );
                }
                inner.next_id = inner.next_id.max(id.saturating_add(1));
                let versions = inner.subjects.entry(subject.clone()).or_default();
                match versions.iter_mut().find(|v| v.version == *version) {
                    Some(v) => {
                        v.id = *id;
                        v.deleted = *deleted;
                    }
                    None => {
                        versions.push(Version {
                            version: *version,
                            id: *id,
                            deleted: *deleted,
                        });
                        versions.sort_by_key(|v| v.version);
                    }
                }
            }
            Change::Purged { subject, version } => {
                if let Some(versions) = inner.subjects.get_mut(subject) {
                    versions.retain(|v| v.version != *version);
                    if versions.is_empty() {
                        inner.subjects.remove(subject);
                    }
                }
            }
            Change::Config { subject, level } => match (subject, level) {
                (None, level) => inner.level = level.clone(),
                (Some(s), Some(level)) => {
                    inner.subject_levels.insert(s.clone(), level.clone());
                }
                (Some(s), None) => {
                    inner.subject_levels.remove(s);
                }
            },
        }
    }

    /// Subjects with at least one live version (or any version, with
    /// `deleted`).
    pub fn subjects(&self, deleted: bool) -> Vec<String> {
        let inner = lock(&self.inner);
        inner
            .subjects
            .iter()
            .filter(|(_, vs)| deleted || vs.iter().any(|v| !v.deleted))
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// The versions of a subject.
    pub fn versions(&self, subject: &str, deleted: bool) -> Result<Vec<i32>, SrError> {
        let inner = lock(&self.inner);
        let versions: Vec<i32> = inner
            .subjects
            .get(subject)
            .map(|vs| {
                vs.iter()
                    .filter(|v| deleted || !v.deleted)
                    .map(|v| v.version)
                    .collect()
            })
            .unwrap_or_default();
        if versions.is_empty() {
            return Err(subject_not_found(subject));
        }
        Ok(versions)
    }

    /// A version of a subject; `-1` is the latest.
    pub fn get_version(
        &self,
        subject: &str,
        version: i32,
        deleted: bool,
    ) -> Result<Registered, SrError> {
        let inner = lock(&self.inner);
        let live: Vec<&Version> = inner
            .subjects
            .get(subject)
            .map(|vs| vs.iter().filter(|v| deleted || !v.deleted).collect())
            .unwrap_or_default();
        if live.is_empty() {
            return Err(subject_not_found(subject));
        }
        let found = if version == -1 {
            live.last().copied()
        } else {
            live.iter().copied().find(|v| v.version == version)
        };
        let v = found.ok_or_else(|| {
            SrError::new(
                40402,
                format!("Version {version} not found for subject '{subject}'."),
            )
        })?;
        let schema = inner
            .schemas
            .get(&v.id)
            .cloned()
            .ok_or_else(|| SrError::new(50001, format!("Schema {} is missing", v.id)))?;
        Ok(Registered {
            subject: subject.to_string(),
            version: v.version,
            id: v.id,
            schema,
        })
    }

    /// The schema with id `id`.
    pub fn schema(&self, id: i32) -> Result<Arc<Schema>, SrError> {
        lock(&self.inner)
            .schemas
            .get(&id)
            .cloned()
            .ok_or_else(|| SrError::new(40403, format!("Schema {id} not found")))
    }

    /// The subjects and versions holding id `id`.
    pub fn id_versions(&self, id: i32) -> Result<Vec<(String, i32)>, SrError> {
        let inner = lock(&self.inner);
        if !inner.schemas.contains_key(&id) {
            return Err(SrError::new(40403, format!("Schema {id} not found")));
        }
        Ok(inner
            .subjects
            .iter()
            .flat_map(|(s, vs)| {
                vs.iter()
                    .filter(|v| v.id == id && !v.deleted)
                    .map(move |v| (s.clone(), v.version))
            })
            .collect())
    }

    /// The version of `subject` holding `schema`, if any.
    pub fn lookup(&self, subject: &str, schema: &Schema) -> Result<Registered, SrError> {
        let inner = lock(&self.inner);
        let versions = inner
            .subjects
            .get(subject)
            .filter(|vs| vs.iter().any(|v| !v.deleted))
            .ok_or_else(|| subject_not_found(subject))?;
        for v in versions.iter().filter(|v| !v.deleted) {
            if let Some(s) = inner.schemas.get(&v.id) {
                if same_schema(s, schema) {
                    return Ok(Registered {
                        subject: subject.to_string(),
                        version: v.version,
                        id: v.id,
                        schema: Arc::clone(s),
                    });
                }
            }
        }
        Err(SrError::new(40403, "Schema not found"))
    }

    /// Registers `schema` under `subject`, keeping `id` when given (the
    /// test runner's pinned ids, Confluent's IMPORT mode). A schema already
    /// live under the subject returns its id.
    pub fn register_as(
        &self,
        subject: &str,
        schema: &Schema,
        id: Option<i32>,
    ) -> Result<Registered, SrError> {
        let _writing = lock(&self.writing);
        if let Ok(existing) = self.lookup(subject, schema) {
            if id.is_none() || id == Some(existing.id) {
                return Ok(existing);
            }
        }
        self.check_references(schema)?;
        self.check_compatible(subject, schema)?;
        let change = {
            let inner = lock(&self.inner);
            let id = match id {
                Some(id) => {
                    if let Some(other) = inner.schemas.get(&id) {
                        if !same_schema(other, schema) {
                            return Err(SrError::new(
                                42205,
                                format!("Schema id {id} is already used by another schema"),
                            ));
                        }
                    }
                    id
                }
                None => inner
                    .schemas
                    .iter()
                    .find(|(_, s)| same_schema(s, schema))
                    .map(|(id, _)| *id)
                    .unwrap_or(inner.next_id),
            };
            let version = inner
                .subjects
                .get(subject)
                .and_then(|vs| vs.iter().map(|v| v.version).max())
                .unwrap_or(0)
                + 1;
            Change::Version {
                subject: subject.to_string(),
                version,
                id,
                schema: schema.clone(),
                deleted: false,
            }
        };
        self.record(&change)?;
        self.apply(&change);
        let Change::Version { version, id, .. } = change else {
            return Err(SrError::new(50001, "unexpected change"));
        };
        Ok(Registered {
            subject: subject.to_string(),
            version,
            id,
            schema: self.schema(id)?,
        })
    }

    fn check_references(&self, schema: &Schema) -> Result<(), SrError> {
        for r in &schema.references {
            self.get_version(&r.subject, r.version, false)
                .map_err(|_| {
                    SrError::new(
                        42201,
                        format!(
                            "Invalid schema: the reference '{}' to subject '{}' version {} \
                         does not exist",
                            r.name, r.subject, r.version
                        ),
                    )
                })?;
        }
        Ok(())
    }

    /// The compatibility level of a subject (its own, else the global one,
    /// else BACKWARD).
    pub fn level(&self, subject: Option<&str>) -> String {
        let inner = lock(&self.inner);
        subject
            .and_then(|s| inner.subject_levels.get(s).cloned())
            .or_else(|| inner.level.clone())
            .unwrap_or_else(|| "BACKWARD".to_string())
    }

    /// A subject's own level, without the global fallback.
    pub fn subject_level(&self, subject: &str) -> Option<String> {
        lock(&self.inner).subject_levels.get(subject).cloned()
    }

    /// Sets a level (`subject` `None`: the global one).
    pub fn set_level(&self, subject: Option<&str>, level: &str) -> Result<String, SrError> {
        let level = level.to_ascii_uppercase();
        if !LEVELS.contains(&level.as_str()) {
            return Err(SrError::new(
                42203,
                format!(
                    "Invalid compatibility level. Valid values are {}",
                    LEVELS.join(", ")
                ),
            ));
        }
        let change = Change::Config {
            subject: subject.map(str::to_string),
            level: Some(level.clone()),
        };
        self.record(&change)?;
        self.apply(&change);
        Ok(level)
    }

    /// Clears a subject's own level.
    pub fn clear_level(&self, subject: &str) -> Result<(), SrError> {
        let change = Change::Config {
            subject: Some(subject.to_string()),
            level: None,
        };
        self.record(&change)?;
        self.apply(&change);
        Ok(())
    }

    /// Whether `schema` may follow the versions of `subject` under its
    /// level (`version`: only against that one); `Err` with 409 when not.
    pub fn check_compatible(&self, subject: &str, schema: &Schema) -> Result<(), SrError> {
        let level = self.level(Some(subject));
        if level == "NONE" {
            return Ok(());
        }
        let Ok(versions) = self.versions(subject, false) else {
            return Ok(());
        };
        let against: Vec<i32> = if level.ends_with("_TRANSITIVE") {
            versions
        } else {
            versions.last().copied().into_iter().collect()
        };
        for v in against {
            let old = self.get_version(subject, v, false)?;
            self.compare(schema, &old.schema, &level).map_err(|why| {
                SrError::new(
                    409,
                    format!(
                        "Schema being registered is incompatible with an earlier schema for \
                         subject \"{subject}\" (version {v}, level {level}): {why}"
                    ),
                )
            })?;
        }
        Ok(())
    }

    /// Compares two schemas under `level` with the check of their type.
    pub fn compare(&self, new: &Schema, old: &Schema, level: &str) -> Result<(), String> {
        if new.schema_type != old.schema_type {
            return Err(format!(
                "the schema type changes from {} to {}",
                old.schema_type.name(),
                new.schema_type.name()
            ));
        }
        let check = lock(&self.checks)
            .iter()
            .find(|(t, _)| *t == new.schema_type)
            .map(|(_, c)| *c);
        match check {
            Some(check) => check(new, old, level),
            None => Ok(()),
        }
    }

    /// Deletes a subject: soft (versions hidden) or, once soft-deleted,
    /// permanently. Returns the versions deleted.
    pub fn delete_subject(&self, subject: &str, permanent: bool) -> Result<Vec<i32>, SrError> {
        let _writing = lock(&self.writing);
        let all = self.versions(subject, true)?;
        let live = self.versions(subject, false).unwrap_or_default();
        if permanent && !live.is_empty() {
            return Err(SrError::new(
                40405,
                format!(
                    "Subject '{subject}' was not deleted first before being permanently deleted"
                ),
            ));
        }
        if !permanent && live.is_empty() {
            return Err(SrError::new(
                40404,
                format!(
                    "Subject '{subject}' was soft deleted.Set permanent=true to delete permanently"
                ),
            ));
        }
        let targets = if permanent { all } else { live };
        for v in &targets {
            let change = if permanent {
                Change::Purged {
                    subject: subject.to_string(),
                    version: *v,
                }
            } else {
                let r = self.get_version(subject, *v, true)?;
                Change::Version {
                    subject: subject.to_string(),
                    version: *v,
                    id: r.id,
                    schema: r.schema.as_ref().clone(),
                    deleted: true,
                }
            };
            self.record(&change)?;
            self.apply(&change);
        }
        Ok(targets)
    }

    /// Deletes one version (soft, or permanently once soft-deleted).
    pub fn delete_version(
        &self,
        subject: &str,
        version: i32,
        permanent: bool,
    ) -> Result<i32, SrError> {
        let _writing = lock(&self.writing);
        let r = self.get_version(subject, version, permanent)?;
        if permanent {
            let live = self.versions(subject, false).unwrap_or_default();
            if live.contains(&r.version) {
                return Err(SrError::new(
                    40407,
                    format!(
                        "Subject '{subject}' Version {} was not deleted first before being \
                         permanently deleted",
                        r.version
                    ),
                ));
            }
        }
        let change = if permanent {
            Change::Purged {
                subject: subject.to_string(),
                version: r.version,
            }
        } else {
            Change::Version {
                subject: subject.to_string(),
                version: r.version,
                id: r.id,
                schema: r.schema.as_ref().clone(),
                deleted: true,
            }
        };
        self.record(&change)?;
        self.apply(&change);
        Ok(r.version)
    }
}

impl SchemaRegistry for Store {
    fn by_id(&self, id: i32) -> Result<Arc<Schema>, SrError> {
        self.schema(id)
    }

    fn latest(&self, subject: &str) -> Result<Option<Registered>, SrError> {
        match self.get_version(subject, -1, false) {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.code == 40401 => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn version(&self, subject: &str, version: i32) -> Result<Option<Registered>, SrError> {
        match self.get_version(subject, version, false) {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.code == 40401 || e.code == 40402 => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn register(&self, subject: &str, schema: &Schema) -> Result<i32, SrError> {
        Ok(self.register_as(subject, schema, None)?.id)
    }

    fn url(&self) -> String {
        lock(&self.url).clone()
    }
}

/// Two schemas are the same when their type and references are, and their
/// text is once JSON whitespace is ignored (Avro and JSON Schema).
fn same_schema(a: &Schema, b: &Schema) -> bool {
    if a.schema_type != b.schema_type || a.references != b.references {
        return false;
    }
    if a.text == b.text {
        return true;
    }
    match a.schema_type {
        SchemaType::Protobuf => a.text.trim() == b.text.trim(),
        _ => {
            match (
                serde_json::from_str::<serde_json::Value>(&a.text),
                serde_json::from_str::<serde_json::Value>(&b.text),
            ) {
                (Ok(x), Ok(y)) => x == y,
                _ => false,
            }
        }
    }
}

fn subject_not_found(subject: &str) -> SrError {
    SrError::new(40401, format!("Subject '{subject}' not found."))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A reference, for building schemas in code.
pub fn reference(name: &str, subject: &str, version: i32) -> Reference {
    Reference {
        name: name.to_string(),
        subject: subject.to_string(),
        version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avro(text: &str) -> Schema {
        Schema::new(SchemaType::Avro, text)
    }

    #[test]
    fn registering_is_idempotent_and_ids_are_global() {
        let s = Store::default();
        s.set_level(None, "NONE").unwrap();
        let a = s
            .register_as("t-value", &avro(r#""string""#), None)
            .unwrap();
        let again = s
            .register_as("t-value", &avro(r#" "string" "#), None)
            .unwrap();
        assert_eq!((a.id, a.version), (again.id, again.version));
        let other = s
            .register_as("u-value", &avro(r#""string""#), None)
            .unwrap();
        assert_eq!(other.id, a.id);
        assert_eq!(other.version, 1);
        let b = s.register_as("t-value", &avro(r#""long""#), None).unwrap();
        assert_eq!(b.version, 2);
        assert_ne!(b.id, a.id);
        assert_eq!(s.latest("t-value").unwrap().unwrap().id, b.id);
        assert_eq!(s.versions("t-value", false).unwrap(), vec![1, 2]);
    }

    #[test]
    fn avro_schemas_follow_the_compatibility_level() {
        let s = Store::default();
        let v1 = r#"{"type":"record","name":"r","fields":[{"name":"a","type":"int"}]}"#;
        let added_with_default = r#"{"type":"record","name":"r","fields":[{"name":"a","type":"long"},
            {"name":"b","type":["null","string"],"default":null}]}"#;
        let added_without = r#"{"type":"record","name":"r","fields":[{"name":"a","type":"long"},
            {"name":"c","type":"string"}]}"#;
        s.register("e-value", &avro(v1)).unwrap();
        s.register("e-value", &avro(added_with_default)).unwrap();
        let e = s.register("e-value", &avro(added_without)).unwrap_err();
        assert_eq!(e.code, 409);
        assert!(e.message.contains("'c'"), "{}", e.message);
        s.set_level(Some("e-value"), "FORWARD").unwrap();
        let dropped = r#"{"type":"record","name":"r","fields":[{"name":"b","type":["null","string"],"default":null}]}"#;
        assert!(
            s.register("e-value", &avro(dropped)).is_err(),
            "old readers need 'a'"
        );
    }

    #[test]
    fn pinned_ids_and_deletes() {
        let s = Store::default();
        let r = s
            .register_as("x-value", &avro(r#""int""#), Some(102))
            .unwrap();
        assert_eq!(r.id, 102);
        let next = s.register_as("y-value", &avro(r#""long""#), None).unwrap();
        assert_eq!(next.id, 103);
        let clash = s.register_as("z-value", &avro(r#""double""#), Some(102));
        assert_eq!(clash.unwrap_err().code, 42205);
        assert_eq!(s.delete_subject("x-value", true).unwrap_err().code, 40405);
        assert_eq!(s.delete_subject("x-value", false).unwrap(), vec![1]);
        assert!(s.latest("x-value").unwrap().is_none());
        assert!(s.by_id(102).is_ok(), "a soft-deleted schema stays readable");
        assert_eq!(s.delete_subject("x-value", true).unwrap(), vec![1]);
        assert!(s.subjects(true).iter().all(|x| x != "x-value"));
    }

    #[test]
    fn journal_replays_into_an_equal_store() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let s = Store::default();
        let sink = Arc::clone(&log);
        s.set_journal(move |c| {
            sink.lock().unwrap().push(c.clone());
            Ok(())
        });
        s.register_as("a-value", &avro(r#""int""#), None).unwrap();
        s.set_level(Some("a-value"), "none").unwrap();
        s.register_as("a-value", &avro(r#""string""#), None)
            .unwrap();
        let copy = Store::default();
        for c in log.lock().unwrap().iter() {
            copy.apply(c);
        }
        assert_eq!(copy.versions("a-value", false).unwrap(), vec![1, 2]);
        assert_eq!(copy.level(Some("a-value")), "NONE");
        assert_eq!(copy.register("b-value", &avro(r#""long""#)).unwrap(), 3);
    }

    #[test]
    fn incompatible_schemas_are_refused_by_the_check() {
        let s = Store::default();
        s.add_check(SchemaType::Avro, |new, _, _| {
            if new.text.contains("bad") {
                Err("bad".into())
            } else {
                Ok(())
            }
        });
        s.register("a-value", &avro(r#""int""#)).unwrap();
        let e = s
            .register("a-value", &avro(r#"{"type":"string","bad":1}"#))
            .unwrap_err();
        assert_eq!((e.code, e.http_status()), (409, 409));
        s.set_level(Some("a-value"), "NONE").unwrap();
        assert!(s
            .register("a-value", &avro(r#"{"type":"string","bad":1}"#))
            .is_ok());
    }
}
