//! Confluent's Schema Registry REST API over a [`Store`], so that
//! producers, consumers and tools written for a Schema Registry (Confluent's
//! serializers, `kafka-avro-console-producer`, ksqlDB clients) work with
//! the registry sluice embeds.
//!
//! | route | answer |
//! |---|---|
//! | `GET /` | `{}` |
//! | `GET /subjects[?deleted=true]` | the subjects |
//! | `GET /subjects/{s}/versions[?deleted=true]` | its versions |
//! | `GET /subjects/{s}/versions/{v\|latest}` | subject, version, id, schemaType, references, schema |
//! | `GET /subjects/{s}/versions/{v}/schema` | the schema text alone |
//! | `POST /subjects/{s}/versions` | registers `{schema, schemaType?, references?}`: `{"id": N}` |
//! | `POST /subjects/{s}` | looks a schema up in the subject |
//! | `DELETE /subjects/{s}[?permanent=true]` | the versions deleted |
//! | `DELETE /subjects/{s}/versions/{v}[?permanent=true]` | the version deleted |
//! | `GET /schemas/ids/{id}[/schema\|/versions\|/subjects]` | a schema by global id |
//! | `GET /schemas/types` | `["JSON","PROTOBUF","AVRO"]` |
//! | `GET\|PUT\|DELETE /config[/{s}]` | compatibility levels |
//! | `POST /compatibility/subjects/{s}/versions[/{v\|latest}]` | `{"is_compatible", "messages"}` |
//! | `GET /mode[/{s}]` | `{"mode": "READWRITE"}` |
//!
//! Answers are `application/vnd.schemaregistry.v1+json`; request bodies are
//! read as JSON whatever their content type says. Failures are Confluent's
//! `{"error_code", "message"}` with the status [`SrError::http_status`]
//! gives. Changes run on a blocking thread, one at a time: the store's
//! journal may wait for the broker.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Reference, Registered, Schema, SchemaType, SrError, Store};
use crate::error::{Error, Result};

/// The content type of every answer.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// What the handlers share.
#[derive(Clone)]
struct Registry {
    store: Arc<Store>,
    /// Held while a change runs: a version number is chosen and recorded
    /// by one request at a time.
    writes: Arc<Mutex<()>>,
}

impl Registry {
    /// Runs a change of the store on a blocking thread, one at a time.
    async fn write<T: Send + 'static>(
        &self,
        change: impl FnOnce(&Store) -> std::result::Result<T, SrError> + Send + 'static,
    ) -> std::result::Result<T, SrError> {
        let store = Arc::clone(&self.store);
        let writes = Arc::clone(&self.writes);
        tokio::task::spawn_blocking(move || {
            let _one_at_a_time = writes.lock().unwrap_or_else(|p| p.into_inner());
            change(&store)
        })
        .await
        .map_err(|e| SrError::new(50001, format!("the change failed: {e}")))?
    }
}

type Answer = std::result::Result<Response, SrError>;
type Params = Query<HashMap<String, String>>;

/// The REST API's routes over `store`.
pub fn router(store: Arc<Store>) -> Router {
    let registry = Registry {
        store,
        writes: Arc::new(Mutex::new(())),
    };
    Router::new()
        .route("/", get(root))
        .route("/subjects", get(subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
        .route("/subjects/{subject}/versions", get(versions).post(register))
        .route(
            "/subjects/{subject}/versions/{version}",
            get(version).delete(delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(version_schema),
        )
        .route("/schemas/types", get(types))
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/schema", get(schema_text_by_id))
        .route("/schemas/ids/{id}/versions", get(id_versions))
        .route("/schemas/ids/{id}/subjects", get(id_subjects))
        .route(
            "/config",
            get(global_config)
                .put(set_global_config)
                .delete(delete_global_config),
        )
        .route(
            "/config/{subject}",
            get(subject_config)
                .put(set_subject_config)
                .delete(delete_subject_config),
        )
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(compatible_with_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(compatible_with_version),
        )
        .route("/mode", get(mode))
        .route("/mode/{subject}", get(mode))
        .fallback(|request: Request| async move {
            SrError::new(
                404,
                format!(
                    "HTTP 404 Not Found: {} {}",
                    request.method(),
                    request.uri().path()
                ),
            )
        })
        .with_state(registry)
}

/// Binds the registry's listening address; an address in use says which
/// flag chooses another.
pub async fn bind(listen: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(listen).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            Error::user(format!(
                "cannot serve the Schema Registry on {listen}: the address is already in use \
                 (another Schema Registry, or another sluice?). Choose another address with \
                 --schema-registry-listen HOST:PORT, or turn the registry's REST API off with \
                 --schema-registry-listen off"
            ))
        } else {
            Error::external(format!("cannot serve the Schema Registry on {listen}: {e}"))
        }
    })
}

/// Serves the REST API on `listener` until the server fails.
pub async fn serve(store: Arc<Store>, listener: TcpListener) -> Result<()> {
    serve_until(store, listener, Access::default(), std::future::pending()).await
}

/// Who may use a served registry, and how they reach it.
#[derive(Clone, Default)]
pub struct Access {
    /// Only these users (the REST API's), when given.
    pub auth: Option<Arc<crate::net::BasicAuth>>,
    /// HTTPS with this configuration (the REST listener's certificate),
    /// when given.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

/// Serves the REST API on `listener` until `shutdown` resolves, then lets
/// open requests finish.
pub async fn serve_until(
    store: Arc<Store>,
    listener: TcpListener,
    access: Access,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let app = match access.auth {
        // The REST API's users, when it requires them.
        Some(auth) => router(store).layer(axum::middleware::from_fn_with_state(
            auth,
            crate::net::require_basic,
        )),
        None => router(store),
    };
    let served = match access.tls {
        Some(config) => {
            let listener = crate::net::TlsListener::new(listener, config)?;
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    };
    served.map_err(|e| Error::external(format!("the Schema Registry's HTTP server failed: {e}")))
}

/// The REST API served in a background task; dropping it stops the task.
pub struct Served {
    address: SocketAddr,
    https: bool,
    stop: CancellationToken,
    task: Option<JoinHandle<Result<()>>>,
}

impl Served {
    /// Starts serving `store` on `listener`, to `auth`'s users when given.
    pub fn start(store: Arc<Store>, listener: TcpListener, access: Access) -> Result<Served> {
        let address = listener.local_addr()?;
        let https = access.tls.is_some();
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(serve_until(store, listener, access, async move {
            token.cancelled().await
        }));
        Ok(Served {
            address,
            https,
            stop,
            task: Some(task),
        })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Its URL, `http://ADDRESS`.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.address)
    }

    /// Stops accepting, lets open requests finish, and returns how the
    /// server ended.
    pub async fn stop(mut self) -> Result<()> {
        self.stop.cancel();
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|e| Error::internal(format!("the Schema Registry's task failed: {e}")))?,
            None => Ok(()),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl IntoResponse for SrError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        reply(
            status,
            json!({"error_code": self.code, "message": self.message}).to_string(),
        )
    }
}

fn reply(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

fn ok(body: Value) -> Answer {
    Ok(reply(StatusCode::OK, body.to_string()))
}

/// A query flag: present bare (`?normalize`) or `=true`.
fn flag(params: &HashMap<String, String>, name: &str) -> bool {
    params
        .get(name)
        .is_some_and(|v| v.is_empty() || v.eq_ignore_ascii_case("true"))
}

/// A version in a path: `latest` (or `-1`), or 1 and up.
fn parse_version(text: &str) -> std::result::Result<i32, SrError> {
    if text.eq_ignore_ascii_case("latest") {
        return Ok(-1);
    }
    match text.parse::<i32>() {
        Ok(v) if v == -1 || v >= 1 => Ok(v),
        _ => Err(SrError::new(
            42202,
            format!(
                "The specified version '{text}' is not a valid version id. Allowed values are \
                 between [1, 2^31-1] and the string \"latest\""
            ),
        )),
    }
}

fn parse_id(text: &str) -> std::result::Result<i32, SrError> {
    text.parse::<i32>()
        .map_err(|_| SrError::new(40403, format!("Schema {text} not found")))
}

fn invalid(message: impl Into<String>) -> SrError {
    SrError::new(42201, message)
}

/// The JSON body of a request, which must be an object.
fn json_object(body: &[u8]) -> std::result::Result<Map<String, Value>, SrError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(SrError::new(400, "The request body must be a JSON object")),
        Err(e) => Err(SrError::new(
            400,
            format!("The request body is not valid JSON: {e}"),
        )),
    }
}

/// Parses `{schema, schemaType?, references?}` and checks the schema is
/// well-formed for its type.
fn parse_schema_request(body: &[u8]) -> std::result::Result<Schema, SrError> {
    let fields = json_object(body)?;
    let schema_type = match fields.get("schemaType") {
        None | Some(Value::Null) => SchemaType::Avro,
        Some(Value::String(t)) => SchemaType::parse(t).ok_or_else(|| {
            invalid(format!(
                "Invalid schema type '{t}': expected AVRO, PROTOBUF or JSON"
            ))
        })?,
        Some(other) => {
            return Err(invalid(format!(
                "Invalid schema type {other}: expected AVRO, PROTOBUF or JSON"
            )))
        }
    };
    let text = match fields.get("schema") {
        Some(Value::String(text)) if !text.trim().is_empty() => text.clone(),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            return Err(invalid("Empty schema: the request has no 'schema'"))
        }
        Some(_) => {
            return Err(invalid(
                "Invalid schema: 'schema' must be a string holding the schema's text",
            ))
        }
    };
    let references: Vec<Reference> = match fields.get("references") {
        None | Some(Value::Null) => Vec::new(),
        Some(refs) => serde_json::from_value(refs.clone()).map_err(|e| {
            invalid(format!(
                "Invalid schema: 'references' must be a list of {{name, subject, version}}: {e}"
            ))
        })?,
    };
    check_schema(schema_type, &text)?;
    Ok(Schema {
        schema_type,
        text,
        references,
    })
}

/// The checks a registry makes of every schema: Avro and JSON Schema are
/// JSON, an Avro schema is a name, a union or an object with a `type`.
fn check_schema(schema_type: SchemaType, text: &str) -> std::result::Result<(), SrError> {
    match schema_type {
        SchemaType::Protobuf => Ok(()),
        SchemaType::Avro => {
            let value: Value = serde_json::from_str(text).map_err(|e| {
                invalid(format!(
                    "Invalid schema {text}: it is not valid Avro JSON: {e}"
                ))
            })?;
            match value {
                Value::String(_) | Value::Array(_) => Ok(()),
                Value::Object(ref fields) if fields.contains_key("type") => Ok(()),
                _ => Err(invalid(format!(
                    "Invalid schema {text}: an Avro schema is a type name, a union (a JSON \
                     array) or a JSON object with a \"type\""
                ))),
            }
        }
        SchemaType::Json => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(_) | Value::Bool(_)) => Ok(()),
            Ok(_) => Err(invalid(format!(
                "Invalid schema {text}: a JSON Schema is a JSON object or a boolean"
            ))),
            Err(e) => Err(invalid(format!(
                "Invalid schema {text}: it is not valid JSON: {e}"
            ))),
        },
    }
}

/// `schemaType` (left out for AVRO, as Confluent does) and `references`
/// (left out when there are none).
fn schema_fields(out: &mut Map<String, Value>, schema: &Schema) {
    if schema.schema_type != SchemaType::Avro {
        out.insert("schemaType".into(), json!(schema.schema_type.name()));
    }
    if !schema.references.is_empty() {
        out.insert("references".into(), json!(schema.references));
    }
    out.insert("schema".into(), json!(schema.text));
}

fn registered_json(r: &Registered) -> Value {
    let mut out = Map::new();
    out.insert("subject".into(), json!(r.subject));
    out.insert("version".into(), json!(r.version));
    out.insert("id".into(), json!(r.id));
    schema_fields(&mut out, &r.schema);
    Value::Object(out)
}

async fn root() -> Answer {
    ok(json!({}))
}

async fn subjects(State(r): State<Registry>, Query(q): Params) -> Answer {
    ok(json!(r.store.subjects(flag(&q, "deleted"))))
}

async fn versions(
    State(r): State<Registry>,
    Path(subject): Path<String>,
    Query(q): Params,
) -> Answer {
    ok(json!(r.store.versions(&subject, flag(&q, "deleted"))?))
}

async fn version(
    State(r): State<Registry>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Params,
) -> Answer {
    let version = parse_version(&version)?;
    let found = r
        .store
        .get_version(&subject, version, flag(&q, "deleted"))?;
    let mut out = registered_json(&found);
    if let Value::Object(map) = &mut out {
        let name = format!("{subject}.proto");
        serialize_if_asked(&r, &q, &found.schema, &name, map)?;
    }
    ok(out)
}

async fn version_schema(
    State(r): State<Registry>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Params,
) -> Answer {
    let version = parse_version(&version)?;
    let found = r
        .store
        .get_version(&subject, version, flag(&q, "deleted"))?;
    Ok(reply(StatusCode::OK, found.schema.text.clone()))
}

/// `?normalize` is accepted: schemas are compared ignoring JSON layout
/// anyway.
async fn register(State(r): State<Registry>, Path(subject): Path<String>, body: Bytes) -> Answer {
    let schema = parse_schema_request(&body)?;
    let registered = r
        .write(move |store| store.register_as(&subject, &schema, None))
        .await?;
    ok(json!({"id": registered.id}))
}

async fn lookup(State(r): State<Registry>, Path(subject): Path<String>, body: Bytes) -> Answer {
    let schema = parse_schema_request(&body)?;
    ok(registered_json(&r.store.lookup(&subject, &schema)?))
}

async fn delete_subject(
    State(r): State<Registry>,
    Path(subject): Path<String>,
    Query(q): Params,
) -> Answer {
    let permanent = flag(&q, "permanent");
    let deleted = r
        .write(move |store| store.delete_subject(&subject, permanent))
        .await?;
    ok(json!(deleted))
}

async fn delete_version(
    State(r): State<Registry>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Params,
) -> Answer {
    let version = parse_version(&version)?;
    let permanent = flag(&q, "permanent");
    let deleted = r
        .write(move |store| {
            if !permanent {
                return store.delete_version(&subject, version, false);
            }
            let target = store.get_version(&subject, version, true)?;
            if store.get_version(&subject, target.version, false).is_ok() {
                return Err(SrError::new(
                    40407,
                    format!(
                        "Subject '{subject}' Version {} was not deleted first before being \
                         permanently deleted",
                        target.version
                    ),
                ));
            }
            store.delete_version(&subject, target.version, true)
        })
        .await?;
    ok(json!(deleted))
}

async fn types() -> Answer {
    ok(json!(["JSON", "PROTOBUF", "AVRO"]))
}

/// `?subject=` is accepted; ids are global.
async fn schema_by_id(
    State(r): State<Registry>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Answer {
    let id = parse_id(&id)?;
    let schema = r.store.schema(id)?;
    let mut out = Map::new();
    schema_fields(&mut out, &schema);
    serialize_if_asked(&r, &q, &schema, &format!("schema_{id}.proto"), &mut out)?;
    ok(Value::Object(out))
}

/// `?format=serialized` on a PROTOBUF schema: the schema as a base64
/// `FileDescriptorProto`, which Confluent's protobuf deserializers ask for.
fn serialize_if_asked(
    r: &Registry,
    q: &HashMap<String, String>,
    schema: &Schema,
    name: &str,
    out: &mut Map<String, Value>,
) -> Result<(), SrError> {
    if q.get("format").map(String::as_str) != Some("serialized")
        || schema.schema_type != SchemaType::Protobuf
    {
        return Ok(());
    }
    let text = crate::format::protobuf::serialized(r.store.as_ref(), schema, name)
        .map_err(|e| SrError::new(42201, format!("Invalid schema: {e}")))?;
    out.insert("schema".into(), Value::String(text));
    Ok(())
}

async fn schema_text_by_id(State(r): State<Registry>, Path(id): Path<String>) -> Answer {
    let schema = r.store.schema(parse_id(&id)?)?;
    Ok(reply(StatusCode::OK, schema.text.clone()))
}

async fn id_versions(State(r): State<Registry>, Path(id): Path<String>) -> Answer {
    let found = r.store.id_versions(parse_id(&id)?)?;
    ok(Value::Array(
        found
            .into_iter()
            .map(|(subject, version)| json!({"subject": subject, "version": version}))
            .collect(),
    ))
}

async fn id_subjects(State(r): State<Registry>, Path(id): Path<String>) -> Answer {
    let mut subjects: Vec<String> = r
        .store
        .id_versions(parse_id(&id)?)?
        .into_iter()
        .map(|(subject, _)| subject)
        .collect();
    subjects.dedup();
    ok(json!(subjects))
}

/// The level in `{"compatibility": L}` (or `compatibilityLevel`); a
/// missing one is refused by the store as an invalid level.
fn requested_level(body: &[u8]) -> std::result::Result<String, SrError> {
    let fields = json_object(body)?;
    Ok(fields
        .get("compatibility")
        .or_else(|| fields.get("compatibilityLevel"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string())
}

async fn global_config(State(r): State<Registry>) -> Answer {
    ok(json!({"compatibilityLevel": r.store.level(None)}))
}

async fn set_global_config(State(r): State<Registry>, body: Bytes) -> Answer {
    let level = requested_level(&body)?;
    let level = r.write(move |store| store.set_level(None, &level)).await?;
    ok(json!({"compatibility": level}))
}

/// Sets the global level back to the default, BACKWARD; answers the level
/// it had.
async fn delete_global_config(State(r): State<Registry>) -> Answer {
    let old = r.store.level(None);
    r.write(|store| store.set_level(None, "BACKWARD")).await?;
    ok(json!({"compatibilityLevel": old}))
}

async fn subject_config(
    State(r): State<Registry>,
    Path(subject): Path<String>,
    Query(q): Params,
) -> Answer {
    match r.store.subject_level(&subject) {
        Some(level) => ok(json!({"compatibilityLevel": level})),
        None if flag(&q, "defaultToGlobal") => {
            ok(json!({"compatibilityLevel": r.store.level(None)}))
        }
        None => Err(SrError::new(
            40408,
            format!("Subject '{subject}' does not have subject-level compatibility configured"),
        )),
    }
}

async fn set_subject_config(
    State(r): State<Registry>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Answer {
    let level = requested_level(&body)?;
    let level = r
        .write(move |store| store.set_level(Some(&subject), &level))
        .await?;
    ok(json!({"compatibility": level}))
}

/// Clears a subject's level; answers the level it had.
async fn delete_subject_config(State(r): State<Registry>, Path(subject): Path<String>) -> Answer {
    let Some(old) = r.store.subject_level(&subject) else {
        return Err(SrError::new(
            40408,
            format!("Subject '{subject}' does not have subject-level compatibility configured"),
        ));
    };
    r.write(move |store| store.clear_level(&subject)).await?;
    ok(json!({"compatibilityLevel": old}))
}

fn verdict(result: std::result::Result<(), String>) -> Answer {
    match result {
        Ok(()) => ok(json!({"is_compatible": true, "messages": []})),
        Err(why) => ok(json!({"is_compatible": false, "messages": [why]})),
    }
}

/// Against the versions the subject's level names (the latest, or all for
/// a transitive level); compatible when the subject has none.
async fn compatible_with_all(
    State(r): State<Registry>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Answer {
    let schema = parse_schema_request(&body)?;
    match r.store.check_compatible(&subject, &schema) {
        Ok(()) => verdict(Ok(())),
        Err(e) if e.code == 409 => verdict(Err(e.message)),
        Err(e) => Err(e),
    }
}

/// Against one version under the subject's level; `latest` of a subject
/// without versions is compatible (nothing to break).
async fn compatible_with_version(
    State(r): State<Registry>,
    Path((subject, version)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let schema = parse_schema_request(&body)?;
    let version = parse_version(&version)?;
    let old = match r.store.get_version(&subject, version, false) {
        Ok(old) => old,
        Err(e) if e.code == 40401 && version == -1 => return verdict(Ok(())),
        Err(e) => return Err(e),
    };
    let level = r.store.level(Some(&subject));
    if level == "NONE" {
        return verdict(Ok(()));
    }
    verdict(r.store.compare(&schema, &old.schema, &level))
}

async fn mode() -> Answer {
    ok(json!({"mode": "READWRITE"}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sr::SchemaRegistry;
    use axum::body::Body;
    use tower::ServiceExt;

    const RECORD: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;

    struct Reply {
        status: u16,
        content_type: String,
        text: String,
    }

    impl Reply {
        fn json(&self) -> Value {
            serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
        }

        fn error_code(&self) -> i64 {
            self.json()["error_code"].as_i64().unwrap()
        }
    }

    async fn call(app: &Router, method: &str, uri: &str, body: Option<Value>) -> Reply {
        call_raw(app, method, uri, CONTENT_TYPE, body.map(|b| b.to_string())).await
    }

    async fn call_raw(
        app: &Router,
        method: &str,
        uri: &str,
        content_type: &str,
        body: Option<String>,
    ) -> Reply {
        let request = axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, content_type)
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        Reply {
            status,
            content_type,
            text: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    fn app() -> (Arc<Store>, Router) {
        let store = Arc::new(Store::default());
        (Arc::clone(&store), router(store))
    }

    #[tokio::test]
    async fn a_schema_registered_reads_back_by_subject_and_id() {
        let (_, app) = app();
        let r = call(
            &app,
            "POST",
            "/subjects/t-value/versions?normalize=true",
            Some(json!({"schema": RECORD})),
        )
        .await;
        assert_eq!((r.status, r.content_type.as_str()), (200, CONTENT_TYPE));
        assert_eq!(r.json(), json!({"id": 1}));
        // The same schema, laid out differently, keeps its id and version.
        let spaced = RECORD.replace(',', ", ");
        let again = call(
            &app,
            "POST",
            "/subjects/t-value/versions",
            Some(json!({"schema": spaced, "schemaType": "AVRO"})),
        )
        .await;
        assert_eq!(again.json(), json!({"id": 1}));
        assert_eq!(
            call(&app, "GET", "/subjects", None).await.json(),
            json!(["t-value"])
        );
        assert_eq!(
            call(&app, "GET", "/subjects/t-value/versions", None)
                .await
                .json(),
            json!([1])
        );
        let expected = json!({"subject": "t-value", "version": 1, "id": 1, "schema": RECORD});
        for path in [
            "/subjects/t-value/versions/1",
            "/subjects/t-value/versions/latest",
        ] {
            let r = call(&app, "GET", path, None).await;
            assert_eq!((r.status, r.json()), (200, expected.clone()), "{path}");
        }
        let raw = call(&app, "GET", "/subjects/t-value/versions/1/schema", None).await;
        assert_eq!(raw.text, RECORD);
        assert_eq!(
            call(&app, "GET", "/schemas/ids/1?subject=t-value", None)
                .await
                .json(),
            json!({"schema": RECORD})
        );
        assert_eq!(
            call(&app, "GET", "/schemas/ids/1/schema", None).await.text,
            RECORD
        );
        let lookup = call(
            &app,
            "POST",
            "/subjects/t-value",
            Some(json!({"schema": RECORD})),
        )
        .await;
        assert_eq!(lookup.json(), expected);
        // The same schema under another subject has the same global id.
        let other = call(
            &app,
            "POST",
            "/subjects/u-value/versions",
            Some(json!({"schema": RECORD})),
        )
        .await;
        assert_eq!(other.json(), json!({"id": 1}));
        assert_eq!(
            call(&app, "GET", "/schemas/ids/1/versions", None)
                .await
                .json(),
            json!([{"subject": "t-value", "version": 1}, {"subject": "u-value", "version": 1}])
        );
        assert_eq!(
            call(&app, "GET", "/schemas/ids/1/subjects", None)
                .await
                .json(),
            json!(["t-value", "u-value"])
        );
    }

    #[tokio::test]
    async fn protobuf_schemas_carry_their_type_and_references() {
        let (_, app) = app();
        let dep = "syntax = \"proto3\";\nmessage Dep { int32 a = 1; }\n";
        let main = "syntax = \"proto3\";\nimport \"dep.proto\";\nmessage M { Dep d = 1; }\n";
        let r = call(
            &app,
            "POST",
            "/subjects/dep/versions",
            Some(json!({"schema": dep, "schemaType": "PROTOBUF"})),
        )
        .await;
        assert_eq!(r.json(), json!({"id": 1}));
        let refs = json!([{"name": "dep.proto", "subject": "dep", "version": 1}]);
        // Confluent's clients send protobuf as octet-stream at times.
        let r = call_raw(
            &app,
            "POST",
            "/subjects/m-value/versions",
            "application/octet-stream",
            Some(json!({"schema": main, "schemaType": "PROTOBUF", "references": refs}).to_string()),
        )
        .await;
        assert_eq!(r.json(), json!({"id": 2}));
        let r = call(&app, "GET", "/subjects/m-value/versions/latest", None).await;
        assert_eq!(
            r.json(),
            json!({"subject": "m-value", "version": 1, "id": 2, "schemaType": "PROTOBUF",
                   "references": refs, "schema": main})
        );
        let r = call(&app, "GET", "/schemas/ids/2", None).await;
        assert_eq!(
            r.json(),
            json!({"schemaType": "PROTOBUF", "references": refs, "schema": main})
        );
        // A reference to a version that does not exist is an invalid schema.
        let r = call(
            &app,
            "POST",
            "/subjects/x-value/versions",
            Some(json!({"schema": main, "schemaType": "PROTOBUF",
                        "references": [{"name": "dep.proto", "subject": "dep", "version": 7}]})),
        )
        .await;
        assert_eq!((r.status, r.error_code()), (422, 42201));
        for content_type in [
            "application/json",
            "application/vnd.schemaregistry+json",
            "application/vnd.schemaregistry.v1+json",
        ] {
            let r = call_raw(
                &app,
                "POST",
                "/subjects/j-value/versions",
                content_type,
                Some(json!({"schema": "{\"type\":\"object\"}", "schemaType": "JSON"}).to_string()),
            )
            .await;
            assert_eq!(r.json(), json!({"id": 3}), "{content_type}");
        }
    }

    #[tokio::test]
    async fn errors_are_confluent_error_objects() {
        let (_, app) = app();
        call(
            &app,
            "POST",
            "/subjects/t-value/versions",
            Some(json!({"schema": "\"string\""})),
        )
        .await;
        let cases: Vec<(&str, &str, Option<&str>, u16, i64)> = vec![
            ("GET", "/subjects/nope/versions", None, 404, 40401),
            ("GET", "/subjects/nope/versions/1", None, 404, 40401),
            ("GET", "/subjects/t-value/versions/9", None, 404, 40402),
            ("GET", "/subjects/t-value/versions/0", None, 422, 42202),
            ("GET", "/subjects/t-value/versions/abc", None, 422, 42202),
            ("GET", "/schemas/ids/99", None, 404, 40403),
            ("GET", "/schemas/ids/x", None, 404, 40403),
            (
                "POST",
                "/subjects/t-value/versions",
                Some("not json"),
                400,
                400,
            ),
            ("POST", "/subjects/t-value/versions", Some("[1]"), 400, 400),
            ("POST", "/subjects/t-value/versions", Some("{}"), 422, 42201),
            (
                "POST",
                "/subjects/t-value/versions",
                Some(r#"{"schema": 5}"#),
                422,
                42201,
            ),
            (
                "POST",
                "/subjects/t-value/versions",
                Some(r#"{"schema": "\"int\"", "schemaType": "XML"}"#),
                422,
                42201,
            ),
            (
                "POST",
                "/subjects/t-value/versions",
                Some(r#"{"schema": "{not json"}"#),
                422,
                42201,
            ),
            (
                "POST",
                "/subjects/t-value/versions",
                Some(r#"{"schema": "{\"fields\": []}"}"#),
                422,
                42201,
            ),
            (
                "POST",
                "/subjects/t-value",
                Some(r#"{"schema": "\"long\""}"#),
                404,
                40403,
            ),
            (
                "POST",
                "/subjects/nope",
                Some(r#"{"schema": "\"long\""}"#),
                404,
                40401,
            ),
            (
                "DELETE",
                "/subjects/t-value?permanent=true",
                None,
                404,
                40405,
            ),
            (
                "DELETE",
                "/subjects/t-value/versions/1?permanent=true",
                None,
                404,
                40407,
            ),
            ("DELETE", "/subjects/nope", None, 404, 40401),
            ("GET", "/config/t-value", None, 404, 40408),
            (
                "PUT",
                "/config/t-value",
                Some(r#"{"compatibility": "SIDEWAYS"}"#),
                422,
                42203,
            ),
            ("PUT", "/config", Some("{}"), 422, 42203),
            ("GET", "/no/such/route", None, 404, 404),
        ];
        for (method, path, body, status, code) in cases {
            let r = call_raw(&app, method, path, CONTENT_TYPE, body.map(str::to_string)).await;
            assert_eq!(
                (r.status, r.error_code()),
                (status, code),
                "{method} {path}: {}",
                r.text
            );
            assert!(r.json()["message"].as_str().is_some_and(|m| !m.is_empty()));
            assert_eq!(r.content_type, CONTENT_TYPE);
        }
        let r = call_raw(
            &app,
            "POST",
            "/subjects/t-value/versions",
            CONTENT_TYPE,
            Some(r#"{"schema": "{not json"}"#.into()),
        )
        .await;
        assert!(
            r.json()["message"]
                .as_str()
                .unwrap()
                .starts_with("Invalid schema"),
            "{}",
            r.text
        );
    }

    #[tokio::test]
    async fn deletes_soft_then_permanent() {
        let (store, app) = app();
        store.set_level(None, "NONE").unwrap();
        for schema in ["\"int\"", "\"long\"", "\"string\""] {
            store
                .register("t-value", &Schema::new(SchemaType::Avro, schema))
                .unwrap();
        }
        let r = call(&app, "DELETE", "/subjects/t-value/versions/2", None).await;
        assert_eq!(r.json(), json!(2));
        assert_eq!(
            call(&app, "GET", "/subjects/t-value/versions", None)
                .await
                .json(),
            json!([1, 3])
        );
        assert_eq!(
            call(&app, "GET", "/subjects/t-value/versions?deleted=true", None)
                .await
                .json(),
            json!([1, 2, 3])
        );
        let r = call(
            &app,
            "GET",
            "/subjects/t-value/versions/2?deleted=true",
            None,
        )
        .await;
        assert_eq!(r.json()["id"], json!(2));
        let r = call(
            &app,
            "DELETE",
            "/subjects/t-value/versions/2?permanent=true",
            None,
        )
        .await;
        assert_eq!(r.json(), json!(2));
        assert_eq!(
            call(&app, "GET", "/subjects/t-value/versions?deleted=true", None)
                .await
                .json(),
            json!([1, 3])
        );
        assert_eq!(
            call(&app, "DELETE", "/subjects/t-value", None).await.json(),
            json!([1, 3])
        );
        assert_eq!(call(&app, "GET", "/subjects", None).await.json(), json!([]));
        assert_eq!(
            call(&app, "GET", "/subjects?deleted=true", None)
                .await
                .json(),
            json!(["t-value"])
        );
        // Soft-deleted schemas stay readable by id.
        assert_eq!(
            call(&app, "GET", "/schemas/ids/1", None).await.json(),
            json!({"schema": "\"int\""})
        );
        assert_eq!(
            call(&app, "DELETE", "/subjects/t-value?permanent=true", None)
                .await
                .json(),
            json!([1, 3])
        );
        assert_eq!(
            call(&app, "GET", "/subjects?deleted=true", None)
                .await
                .json(),
            json!([])
        );
    }

    #[tokio::test]
    async fn compatibility_levels_and_checks() {
        let (store, app) = app();
        store.add_check(SchemaType::Avro, |new, _, _| {
            if new.text.contains("bad") {
                Err("the field 'bad' breaks readers".into())
            } else {
                Ok(())
            }
        });
        assert_eq!(
            call(&app, "GET", "/config", None).await.json(),
            json!({"compatibilityLevel": "BACKWARD"})
        );
        let r = call(
            &app,
            "PUT",
            "/config",
            Some(json!({"compatibility": "full"})),
        )
        .await;
        assert_eq!(r.json(), json!({"compatibility": "FULL"}));
        assert_eq!(
            call(&app, "GET", "/config/t-value?defaultToGlobal=true", None)
                .await
                .json(),
            json!({"compatibilityLevel": "FULL"})
        );
        let r = call(
            &app,
            "PUT",
            "/config/t-value",
            Some(json!({"compatibility": "NONE"})),
        )
        .await;
        assert_eq!(r.json(), json!({"compatibility": "NONE"}));
        assert_eq!(
            call(&app, "GET", "/config/t-value", None).await.json(),
            json!({"compatibilityLevel": "NONE"})
        );
        assert_eq!(
            call(&app, "DELETE", "/config/t-value", None).await.json(),
            json!({"compatibilityLevel": "NONE"})
        );
        assert_eq!(
            call(&app, "GET", "/config/t-value", None)
                .await
                .error_code(),
            40408
        );
        assert_eq!(
            call(&app, "DELETE", "/config", None).await.json(),
            json!({"compatibilityLevel": "FULL"})
        );
        assert_eq!(store.level(None), "BACKWARD");

        let bad = json!({"schema": "{\"type\":\"string\",\"bad\":1}"});
        let good = json!({"schema": "\"string\""});
        // Nothing registered yet: nothing to break.
        let r = call(
            &app,
            "POST",
            "/compatibility/subjects/t-value/versions/latest",
            Some(bad.clone()),
        )
        .await;
        assert_eq!(r.json()["is_compatible"], json!(true));
        call(
            &app,
            "POST",
            "/subjects/t-value/versions",
            Some(json!({"schema": "\"int\""})),
        )
        .await;
        for path in [
            "/compatibility/subjects/t-value/versions/latest",
            "/compatibility/subjects/t-value/versions/1",
            "/compatibility/subjects/t-value/versions",
        ] {
            let r = call(&app, "POST", path, Some(bad.clone())).await;
            assert_eq!(r.json()["is_compatible"], json!(false), "{path}");
            assert!(
                r.json()["messages"][0]
                    .as_str()
                    .unwrap()
                    .contains("'bad' breaks readers"),
                "{}",
                r.text
            );
            let r = call(&app, "POST", path, Some(good.clone())).await;
            assert_eq!(
                r.json(),
                json!({"is_compatible": true, "messages": []}),
                "{path}"
            );
        }
        let r = call(
            &app,
            "POST",
            "/compatibility/subjects/t-value/versions/5",
            Some(good),
        )
        .await;
        assert_eq!(r.error_code(), 40402);
        // Registering what the check refuses is a 409.
        let r = call(&app, "POST", "/subjects/t-value/versions", Some(bad)).await;
        assert_eq!((r.status, r.error_code()), (409, 409));
    }

    #[tokio::test]
    async fn root_types_and_mode() {
        let (_, app) = app();
        assert_eq!(call(&app, "GET", "/", None).await.json(), json!({}));
        assert_eq!(
            call(&app, "GET", "/schemas/types", None).await.json(),
            json!(["JSON", "PROTOBUF", "AVRO"])
        );
        assert_eq!(
            call(&app, "GET", "/mode", None).await.json(),
            json!({"mode": "READWRITE"})
        );
    }

    #[tokio::test]
    async fn served_on_a_listener_and_stopped() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let served =
            Served::start(Arc::new(Store::default()), listener, Access::default()).unwrap();
        let address = served.address();
        // A second registry on the same address names the flag to change.
        let clash = bind(address).await.unwrap_err().to_string();
        assert!(clash.contains("--schema-registry-listen"), "{clash}");
        served.stop().await.unwrap();
    }
}
