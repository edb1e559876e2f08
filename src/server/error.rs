//! [`ApiError`]: every failure of a request, answered in ksqlDB's error
//! shape, `{"@type", "error_code", "message"}`, where `error_code` is the
//! HTTP status × 100 plus a sub-code (ksqlDB's `Errors.java`).
//!
//! The status comes from the kind of [`Error`]: a user error is a 400, an
//! error of a system outside sluice (Kafka) a 503, a bug a 500. No request
//! ever gets a stack trace.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::error::Error;

/// ksqlDB's `BAD_REQUEST`: a malformed request body or argument.
pub const BAD_REQUEST: u32 = 40000;
/// ksqlDB's `BAD_STATEMENT`: a statement that does not parse or validate.
pub const BAD_STATEMENT: u32 = 40001;
/// ksqlDB's `QUERY_ENDPOINT`: a query sent to `/ksql`.
pub const QUERY_ENDPOINT: u32 = 40002;
/// ksqlDB's `NOT_FOUND`.
pub const NOT_FOUND: u32 = 40400;
/// ksqlDB's `SERVER_ERROR`.
pub const SERVER_ERROR: u32 = 50000;
/// A system outside sluice (Kafka) is unavailable.
pub const SERVICE_UNAVAILABLE: u32 = 50300;
/// ksqlDB's `SERVER_SHUTTING_DOWN`.
pub const SHUTTING_DOWN: u32 = 50303;

/// A failed request, rendered as ksqlDB renders errors.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Value,
}

impl ApiError {
    /// A `generic_error` with an explicit code.
    pub fn generic(status: StatusCode, error_code: u32, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: json!({
                "@type": "generic_error",
                "error_code": error_code,
                "message": message.into(),
            }),
        }
    }

    /// A malformed request: 400 with code 40000.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::generic(StatusCode::BAD_REQUEST, BAD_REQUEST, message)
    }

    /// 404 with code 40400.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::generic(StatusCode::NOT_FOUND, NOT_FOUND, message)
    }

    /// An engine error not tied to one statement.
    pub fn from_error(e: &Error) -> Self {
        let (status, code) = status_of(e, BAD_REQUEST);
        Self::generic(status, code, e.to_string())
    }

    /// An engine error of the statement `statement_text`: ksqlDB's
    /// `statement_error`, with the entities of the statements of the same
    /// request that succeeded before it.
    pub fn statement(e: &Error, statement_text: &str, entities: Vec<Value>) -> Self {
        let (status, code) = status_of(e, BAD_STATEMENT);
        Self::statement_with_code(status, code, e.to_string(), statement_text, entities)
    }

    /// A `statement_error` with an explicit status and code.
    pub fn statement_with_code(
        status: StatusCode,
        error_code: u32,
        message: impl Into<String>,
        statement_text: &str,
        entities: Vec<Value>,
    ) -> Self {
        ApiError {
            status,
            body: json!({
                "@type": "statement_error",
                "error_code": error_code,
                "message": message.into(),
                "statementText": statement_text,
                "entities": entities,
            }),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The JSON body.
    pub fn body(&self) -> &Value {
        &self.body
    }
}

/// The status and error code for an engine error; `user_code` for user
/// errors.
pub fn status_of(e: &Error, user_code: u32) -> (StatusCode, u32) {
    match e {
        Error::User { .. } => (StatusCode::BAD_REQUEST, user_code),
        Error::External(_) => (StatusCode::SERVICE_UNAVAILABLE, SERVICE_UNAVAILABLE),
        Error::Internal(_) | Error::Queued(_) => (StatusCode::INTERNAL_SERVER_ERROR, SERVER_ERROR),
    }
}

/// The body of an error written inside a stream that already started
/// (`errorMessage` of `/query`, the error line of `/query-stream`).
pub fn error_body(e: &Error) -> Value {
    let (_, code) = status_of(e, BAD_REQUEST);
    let code = if e.is_user() { code } else { SERVER_ERROR };
    json!({"@type": "generic_error", "error_code": code, "message": e.to_string()})
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, "request failed: {}", self.body);
        }
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body.to_string(),
        )
            .into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::from_error(&e)
    }
}
