//! `sluice server`: the ksqlDB-compatible REST API, a thin edge over the
//! [`Engine`].
//!
//! | route | handler |
//! |---|---|
//! | `POST /ksql` | [`ksql::ksql`]: statements, one ksqlDB entity each |
//! | `POST /query` | [`query::query`]: a push query or PRINT as a chunked JSON array |
//! | `POST /query-stream` | [`query::query_stream`]: delimited or JSON-array rows |
//! | `POST /close-query` | [`query::close_query`] |
//! | `POST /inserts-stream` | [`inserts::inserts_stream`] |
//! | `GET /info`, `/healthcheck`, `/status[/…]` | [`info`] |
//!
//! Handlers translate HTTP to engine calls and outcomes to ksqlDB's JSON
//! shapes ([`entities`], [`values`]); failures are [`ApiError`]s. Both
//! HTTP/1.1 and HTTP/2 (also cleartext h2c, which some clients use) are
//! served. [`serve`] runs the server until SIGINT or SIGTERM, then ends the
//! push queries, stops accepting, and shuts the engine down so persistent
//! queries commit what they processed.

pub mod console;
pub mod entities;
pub mod error;
pub mod info;
pub mod inserts;
pub mod ksql;
pub mod metrics;
pub mod push;
pub mod query;
pub mod request;
pub mod values;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use tokio_util::sync::CancellationToken;

pub use error::ApiError;
use push::PushRegistry;

use crate::config::Session;
use crate::engine::{Engine, Outcome, QuerySummary};
use crate::error::{Error, Result};

/// The ksqlDB version whose REST API sluice speaks, reported by `/info`.
pub const KSQLDB_VERSION: &str = "0.29.0";

/// How long shutdown waits for open responses to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What every handler shares.
pub struct ServerState {
    engine: Arc<Engine>,
    pushes: Arc<PushRegistry>,
    shutdown: CancellationToken,
    commands: Mutex<CommandLog>,
    /// Request, push and pull counters for `/metrics`.
    pub(crate) metrics: Arc<metrics::ServerMetrics>,
}

/// The commands executed through this server, for `/status`.
#[derive(Default)]
struct CommandLog {
    next_sequence: i64,
    /// Command id, status, message; in order of first execution.
    statuses: Vec<(String, String, String)>,
}

impl ServerState {
    /// The state of a server over `engine`.
    pub fn new(engine: Arc<Engine>) -> Arc<Self> {
        Arc::new(ServerState {
            engine,
            pushes: Arc::new(PushRegistry::default()),
            shutdown: CancellationToken::new(),
            commands: Mutex::new(CommandLog::default()),
            metrics: Arc::new(metrics::ServerMetrics::default()),
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The running push queries.
    pub fn push_queries(&self) -> &Arc<PushRegistry> {
        &self.pushes
    }

    /// The ids of the push queries streaming to clients now.
    pub fn running_push_queries(&self) -> Vec<String> {
        self.pushes.ids()
    }

    /// Cancelled when the server shuts down; push streams end with it.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Starts shutting down: ends every push query and refuses new
    /// requests that would start work.
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    fn shutting_down(&self) -> ApiError {
        ApiError::generic(
            StatusCode::SERVICE_UNAVAILABLE,
            error::SHUTTING_DOWN,
            "The server is shutting down",
        )
    }

    fn commands(&self) -> MutexGuard<'_, CommandLog> {
        // The log stays consistent even if a holder panicked.
        self.commands.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a successful command; returns its id and sequence number.
    fn record_command(&self, id: String, message: &str) -> entities::Command {
        let mut log = self.commands();
        let sequence = log.next_sequence;
        log.next_sequence += 1;
        log.statuses.retain(|(existing, _, _)| existing != &id);
        log.statuses
            .push((id.clone(), "SUCCESS".to_string(), message.to_string()));
        entities::Command { id, sequence }
    }

    /// Every recorded command: id, status, message.
    fn command_statuses(&self) -> Vec<(String, String, String)> {
        self.commands().statuses.clone()
    }

    /// The persistent queries, as SHOW QUERIES lists them.
    async fn running_queries(&self) -> Vec<QuerySummary> {
        match self
            .engine
            .execute(&mut Session::default(), "SHOW QUERIES;")
            .await
        {
            Ok(mut outcomes) => match outcomes.pop() {
                Some(Outcome::Queries(queries)) => queries,
                _ => Vec::new(),
            },
            Err(e) => {
                tracing::warn!("cannot list queries: {e}");
                Vec::new()
            }
        }
    }
}

/// How the REST API is served: where, and with what security.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The listener (`http://` or `https://`, and the address).
    pub listener: crate::settings::Listener,
    /// The URL other servers reach this one at.
    pub advertised: Option<String>,
    /// The certificate and key of an `https://` listener.
    pub tls: crate::settings::TlsFiles,
    /// HTTP Basic authentication.
    pub authentication: crate::settings::Authentication,
}

impl ServeOptions {
    /// Plain HTTP on `address`, no authentication.
    pub fn http(address: SocketAddr) -> Self {
        ServeOptions {
            listener: crate::settings::Listener {
                https: false,
                address,
            },
            advertised: None,
            tls: Default::default(),
            authentication: Default::default(),
        }
    }

    /// The Basic-auth users, when authentication is on; errors for a
    /// setting that is half there.
    pub fn basic_auth(&self) -> Result<Option<Arc<crate::net::BasicAuth>>> {
        let a = &self.authentication;
        match (a.basic, &a.users_file) {
            (false, None) => Ok(None),
            (false, Some(_)) => Err(Error::user(
                "authentication.basic.users is set but authentication.method is not BASIC: \
                 set authentication.method=BASIC to require the users' credentials",
            )),
            (true, None) => Err(Error::user(
                "authentication.method=BASIC needs authentication.basic.users, the file of \
                 'user: password' lines",
            )),
            (true, Some(path)) => Ok(Some(Arc::new(crate::net::BasicAuth::load(
                path,
                a.realm.as_deref(),
            )?))),
        }
    }

    /// The TLS configuration of an `https://` listener; errors for TLS
    /// files without HTTPS and the reverse.
    pub fn tls_config(&self) -> Result<Option<Arc<tokio_rustls::rustls::ServerConfig>>> {
        match (self.listener.https, &self.tls.certificate, &self.tls.key) {
            (true, Some(cert), Some(key)) => Ok(Some(crate::net::tls_config(cert, key)?)),
            (true, _, _) => Err(Error::user(
                "an https:// listener needs ssl.certificate.location and ssl.key.location \
                 (PEM files)",
            )),
            (false, None, None) => Ok(None),
            (false, _, _) => Err(Error::user(
                "ssl.certificate.location or ssl.key.location is set but the listener is \
                 http://: set listeners=https://HOST:PORT to serve HTTPS",
            )),
        }
    }
}

/// The REST API's routes over `state`, every one behind `auth` when given.
pub fn secured_router(state: Arc<ServerState>, auth: Option<Arc<crate::net::BasicAuth>>) -> Router {
    let counters = Arc::clone(&state.metrics);
    let router = router(state);
    let router = match auth {
        Some(auth) => router.layer(axum::middleware::from_fn_with_state(
            auth,
            crate::net::require_basic,
        )),
        None => router,
    };
    // Outermost: refused requests are counted too.
    router.layer(axum::middleware::from_fn_with_state(
        counters,
        metrics::count_requests,
    ))
}

/// Bodies over the limit get a 413 in ksqlDB's error shape.
async fn limit_bodies(request: Request, next: axum::middleware::Next) -> axum::response::Response {
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let streamed = request.uri().path() == "/inserts-stream";
    if !streamed && declared.is_some_and(|n| n > request::MAX_BODY_BYTES) {
        return too_large();
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large();
    }
    response
}

fn too_large() -> axum::response::Response {
    use axum::response::IntoResponse;
    ApiError::generic(
        StatusCode::PAYLOAD_TOO_LARGE,
        41300,
        format!(
            "The request body is larger than {} bytes, the most sluice takes",
            request::MAX_BODY_BYTES
        ),
    )
    .into_response()
}

/// The REST API's routes over `state`.
pub fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/", get(console::index))
        .route("/console/{file}", get(console::asset))
        .route("/ksql", post(ksql::ksql))
        .route("/query", post(query::query))
        .route("/query-stream", post(query::query_stream))
        .route("/close-query", post(query::close_query))
        .route("/inserts-stream", post(inserts::inserts_stream))
        .route("/info", get(info::info))
        .route("/healthcheck", get(info::healthcheck))
        .route("/metrics", get(metrics::metrics))
        .route("/clusterStatus", get(info::cluster_status))
        .route("/internal/pull", post(query::internal_pull))
        .route("/status", get(info::statuses))
        .route("/status/{kind}/{entity}/{action}", get(info::status))
        .route("/chc/ready", get(info::container_check))
        .route("/chc/live", get(info::container_check))
        .route("/is_valid_property/{name}", get(info::is_valid_property))
        .fallback(|request: Request| async move {
            ApiError::not_found(format!(
                "Not Found: {} {}",
                request.method(),
                request.uri().path()
            ))
        })
        .layer(axum::extract::DefaultBodyLimit::max(
            request::MAX_BODY_BYTES,
        ))
        .layer(axum::middleware::from_fn(limit_bodies))
        .with_state(state)
}

/// The URL other servers reach this one at: the address it listens on, or
/// for a wildcard address (0.0.0.0, ::) the machine's host name.
fn advertised_url(address: SocketAddr, https: bool) -> String {
    let scheme = if https { "https" } else { "http" };
    if !address.ip().is_unspecified() {
        return format!("{scheme}://{address}");
    }
    let mut name = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes a
    // NUL-terminated name into it (truncated when longer).
    let ok = unsafe { libc::gethostname(name.as_mut_ptr().cast(), name.len()) } == 0;
    let host = if ok {
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        String::from_utf8_lossy(&name[..end]).into_owned()
    } else {
        "localhost".to_string()
    };
    format!("{scheme}://{host}:{}", address.port())
}

/// Serves the REST API as `options` say until SIGINT or SIGTERM; then ends
/// the push queries, waits (a bounded time) for open responses, and shuts
/// the engine down so persistent queries commit what they processed.
pub async fn serve(engine: Arc<Engine>, options: ServeOptions) -> Result<()> {
    // Settings are checked before anything starts.
    let auth = options.basic_auth()?;
    let tls = options.tls_config()?;
    let listen = options.listener.address;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::external(format!("cannot listen on {listen}: {e}")))?;
    let address = listener.local_addr()?;
    // The other servers of the service reach this one there (pull
    // queries on partitions this one reads).
    let advertised = options
        .advertised
        .clone()
        .unwrap_or_else(|| advertised_url(address, tls.is_some()));
    engine.join_cluster(&advertised).await?;
    let state = ServerState::new(Arc::clone(&engine));
    raise_open_files();
    let scheme = if tls.is_some() { "https" } else { "http" };
    eprintln!(
        "sluice server: the ksqlDB REST API is listening on {scheme}://{address}{}",
        if auth.is_some() {
            " (HTTP Basic authentication)"
        } else {
            ""
        }
    );
    let token = state.shutdown_token();
    let app = secured_router(Arc::clone(&state), auth);
    let server: std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>> =
        match tls {
            Some(config) => Box::pin(
                axum::serve(crate::net::TlsListener::new(listener, config)?, app)
                    .with_graceful_shutdown(async move { token.cancelled().await })
                    .into_future(),
            ),
            None => Box::pin(
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move { token.cancelled().await })
                    .into_future(),
            ),
        };
    let mut server = server;
    let result = tokio::select! {
        r = &mut server => r.map_err(|e| Error::external(format!("the HTTP server failed: {e}"))),
        signal = shutdown_signal() => {
            eprintln!("sluice server: {signal} received, shutting down");
            state.begin_shutdown();
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await.is_err() {
                eprintln!(
                    "sluice server: open connections did not close within {} s; closing them",
                    SHUTDOWN_GRACE.as_secs()
                );
            }
            Ok(())
        }
    };
    state.begin_shutdown();
    engine.leave_cluster().await;
    engine.shutdown().await;
    for (id, e) in engine.failed_queries().await {
        eprintln!("Query {id} failed: {e}");
    }
    result
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM, naming the signal.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(e) => {
                tracing::warn!("cannot watch SIGTERM: {e}");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// Raises this process's open-file limit to its hard limit: every client
/// connection (a push query each) is a file.
pub fn raise_open_files() {
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
