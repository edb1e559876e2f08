//! HTTP plumbing shared by everything that speaks HTTP: HTTP Basic
//! authentication, HTTPS (rustls) for listeners and clients, and an
//! HTTP/1.1 client connection over TCP or TLS. A leaf: it imports only
//! `error`.
//!
//! The users file has the layout of the realm files ksqlDB's JAAS login
//! module reads (Jetty's `HashLoginService`): one `user: password[, role
//! …]` line per user, `#` comments; a password may be written as
//! `MD5:<hex digest>`. Roles are read and not used: every authenticated
//! user may run every statement.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{Error, Result};

/// The realm named in `WWW-Authenticate` unless `authentication.realm`
/// says otherwise (ksqlDB's default).
pub const DEFAULT_REALM: &str = "KsqlServer-Props";

/// The users allowed in, with their passwords.
#[derive(Debug)]
pub struct BasicAuth {
    realm: String,
    users: HashMap<String, Password>,
}

#[derive(Debug, PartialEq, Eq)]
enum Password {
    Plain(String),
    /// Lower-case hex MD5 digest.
    Md5(String),
}

impl BasicAuth {
    /// Reads the users file at `path`.
    pub fn load(path: &Path, realm: Option<&str>) -> Result<BasicAuth> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::user(format!(
                "cannot read the users file '{}' (authentication.basic.users): {e}",
                path.display()
            ))
        })?;
        BasicAuth::parse(&text, realm)
            .map_err(|e| Error::user(format!("the users file '{}': {e}", path.display())))
    }

    fn parse(text: &str, realm: Option<&str>) -> std::result::Result<BasicAuth, String> {
        let mut users = HashMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let Some((user, rest)) = line.split_once(':') else {
                return Err(format!(
                    "line {}: expected 'user: password[, role …]'",
                    number + 1
                ));
            };
            let secret = rest.split(',').next().unwrap_or("").trim();
            let password = if let Some(hex) = secret.strip_prefix("MD5:") {
                Password::Md5(hex.to_ascii_lowercase())
            } else if secret.starts_with("CRYPT:") || secret.starts_with("OBF:") {
                return Err(format!(
                    "line {}: {} passwords are not supported; write the password as is or \
                     as MD5:<hex digest>",
                    number + 1,
                    secret.split(':').next().unwrap_or("")
                ));
            } else {
                Password::Plain(secret.to_string())
            };
            let user = user.trim();
            if user.is_empty() {
                return Err(format!("line {}: the user name is empty", number + 1));
            }
            users.insert(user.to_string(), password);
        }
        if users.is_empty() {
            return Err("it names no user, so nobody could log in".to_string());
        }
        Ok(BasicAuth {
            realm: realm.unwrap_or(DEFAULT_REALM).to_string(),
            users,
        })
    }

    /// True when `authorization` carries the Basic credentials of a user.
    pub fn allows(&self, authorization: Option<&HeaderValue>) -> bool {
        use base64::Engine as _;
        let Some(token) = authorization.and_then(|v| v.to_str().ok()).and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        }) else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(token.trim()) else {
            return false;
        };
        let Ok(decoded) = std::str::from_utf8(&decoded) else {
            return false;
        };
        let Some((user, given)) = decoded.split_once(':') else {
            return false;
        };
        match self.users.get(user) {
            Some(Password::Plain(p)) => same(p.as_bytes(), given.as_bytes()),
            Some(Password::Md5(hex)) => {
                use md5::Digest as _;
                let digest = md5::Md5::digest(given.as_bytes());
                let mut text = String::with_capacity(32);
                for b in digest.iter() {
                    text.push_str(&format!("{b:02x}"));
                }
                same(hex.as_bytes(), text.as_bytes())
            }
            None => false,
        }
    }

    /// The 401 answer, in ksqlDB's error shape.
    fn challenge(&self) -> Response {
        let body = serde_json::json!({
            "@type": "generic_error",
            "error_code": 40100,
            "message": "Unauthorized",
        });
        let mut response = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{}\"", self.realm)) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        response
    }
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The middleware: a request without a user's credentials gets a 401.
pub async fn require_basic(
    State(auth): State<Arc<BasicAuth>>,
    request: Request,
    next: Next,
) -> Response {
    if auth.allows(request.headers().get(header::AUTHORIZATION)) {
        next.run(request).await
    } else {
        auth.challenge()
    }
}

/// The rustls configuration of an HTTPS listener from PEM files.
pub fn tls_config(
    certificate: &Path,
    key: &Path,
) -> Result<Arc<tokio_rustls::rustls::ServerConfig>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(certificate)
        .and_then(|certs| certs.collect())
        .map_err(|e| {
            Error::user(format!(
                "cannot read the certificate '{}' (ssl.certificate.location): {e}",
                certificate.display()
            ))
        })?;
    if chain.is_empty() {
        return Err(Error::user(format!(
            "'{}' (ssl.certificate.location) holds no PEM certificate",
            certificate.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        Error::user(format!(
            "cannot read the private key '{}' (ssl.key.location): {e}",
            key.display()
        ))
    })?;
    // ring rather than aws-lc-rs, which would need cmake and a second C
    // build; ring's provider offers no post-quantum key exchange, hence the
    // deprecation.
    #[allow(deprecated)]
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            Error::user(format!(
                "the certificate and key do not make a TLS identity: {e}"
            ))
        })?;
    // HTTP/2 for the clients that ask (ALPN), else HTTP/1.1.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The TLS client of `https://` servers (the remote shell, an external
/// Schema Registry): the CA certificates of the file named by
/// `SSL_CERT_FILE`, else of the system's bundle.
pub fn tls_client() -> Result<Arc<tokio_rustls::rustls::ClientConfig>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let file = std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into());
    let certificates = CertificateDer::pem_file_iter(&file)
        .and_then(|c| c.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| {
            Error::user(format!(
                "cannot read CA certificates from '{}' (set SSL_CERT_FILE to the CA that \
                 signed the server's certificate): {e}",
                file.display()
            ))
        })?;
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots.add_parsable_certificates(certificates);
    // ring: see tls_config.
    #[allow(deprecated)]
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS versions: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The `Authorization` header value of HTTP Basic credentials.
pub fn basic_authorization(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// An HTTP/1.1 client connection to `host:port`, over TLS with `tls` when
/// given (the host is then the certificate's name), driven in its own task.
/// `url` names the server in errors.
pub async fn http1(
    host: &str,
    port: u16,
    tls: Option<&Arc<tokio_rustls::rustls::ClientConfig>>,
    url: &str,
) -> Result<hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>> {
    let stream = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| Error::external(format!("cannot reach the server at {url}: {e}")))?;
    let Some(config) = tls else {
        return handshake(stream, url).await;
    };
    let name = rustls_pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| Error::user(format!("invalid server host '{host}': {e}")))?;
    let stream = tokio_rustls::TlsConnector::from(Arc::clone(config))
        .connect(name, stream)
        .await
        .map_err(|e| {
            Error::external(format!(
                "TLS with the server at {url} failed: {e} (the CA certificates are read from \
                 the file named by SSL_CERT_FILE, else the system's)"
            ))
        })?;
    handshake(stream, url).await
}

async fn handshake<T>(
    io: T,
    url: &str,
) -> Result<hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
            .await
            .map_err(|e| Error::external(format!("connection to {url}: {e}")))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// A listener whose connections are TLS sessions: handshakes run in their
/// own tasks (a slow or failing client never holds up the others), and
/// `accept` returns the established ones.
pub struct TlsListener {
    local: std::net::SocketAddr,
    established: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        std::net::SocketAddr,
    )>,
}

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl TlsListener {
    /// Accepts on `listener`, handshaking with `config`.
    pub fn new(
        listener: tokio::net::TcpListener,
        config: Arc<tokio_rustls::rustls::ServerConfig>,
    ) -> Result<TlsListener> {
        let local = listener.local_addr()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let (tx, established) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of descriptors and the like: wait, go on.
                        tracing::warn!("accepting a connection failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let sender = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = sender.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!("TLS handshake with {peer} failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake with {peer} timed out"),
                    }
                });
                if tx.is_closed() {
                    break;
                }
            }
        });
        Ok(TlsListener { local, established })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.established.recv().await {
            Some(connection) => connection,
            // The accepting task never ends while this listener lives.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> HeaderValue {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {token}")).expect("header")
    }

    #[test]
    fn users_file_in_the_realm_layout() {
        // MD5 of "s3cret".
        let auth = BasicAuth::parse(
            "# users\nalice: wonderland, admin\nbob: MD5:5a82c1bd41cbd2fa8b0b7c6a89d1f6ae\n\
             carol:pa:ss\n",
            None,
        )
        .expect("valid");
        assert!(auth.allows(Some(&basic("alice", "wonderland"))));
        assert!(!auth.allows(Some(&basic("alice", "Wonderland"))));
        assert!(!auth.allows(Some(&basic("mallory", "wonderland"))));
        assert!(auth.allows(Some(&basic("carol", "pa:ss"))));
        assert!(!auth.allows(None));
        assert!(!auth.allows(Some(&HeaderValue::from_static("Bearer x"))));
        assert!(!auth.allows(Some(&HeaderValue::from_static("Basic !!!"))));
        let md5 = {
            use md5::Digest as _;
            md5::Md5::digest(b"s3cret")
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let auth = BasicAuth::parse(&format!("bob: MD5:{md5}"), Some("R")).expect("valid");
        assert!(auth.allows(Some(&basic("bob", "s3cret"))));
        assert!(!auth.allows(Some(&basic("bob", "MD5:{md5}"))));
        assert!(BasicAuth::parse("dave: OBF:1x2y", None).is_err());
        assert!(BasicAuth::parse("# nobody\n", None).is_err());
        assert!(BasicAuth::parse("no separator\n", None).is_err());
    }
}
