//! The one error type of sluice, sorted by who must act.
//!
//! * [`Error::User`]: the statement, request or record was wrong; the message
//!   says what, where, and what would be right. Maps to HTTP 400.
//! * [`Error::External`]: something outside sluice failed (Kafka, the file
//!   system, the network); retrying may help. Maps to HTTP 503/500.
//! * [`Error::Internal`]: a broken invariant inside sluice, i.e. a bug.

use std::fmt;

/// The result type used throughout sluice.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A position in SQL text, 1-based, as editors count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    /// Line number, starting at 1.
    pub line: u64,
    /// Column number, starting at 1.
    pub column: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}:{}", self.line, self.column)
    }
}

/// Every error sluice reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user's input was wrong: a statement, a request, a record.
    #[error("{message}")]
    User {
        /// What was wrong and what would be right.
        message: String,
        /// Where in the statement text, when known.
        location: Option<Location>,
    },
    /// A system outside sluice failed (Kafka, I/O).
    #[error("{0}")]
    External(String),
    /// A bug in sluice.
    #[error("internal error: {0} (this is a bug in sluice)")]
    Internal(String),
    /// A catalog change that was recorded in the command topic behind
    /// another server's, and takes effect when the topic's order reaches
    /// it (the engine waits for that; never seen by its callers).
    #[error("the statement takes effect in command-topic order ({0})")]
    Queued(String),
}

impl Error {
    /// A user error without a position.
    pub fn user(message: impl Into<String>) -> Self {
        Error::User {
            message: message.into(),
            location: None,
        }
    }

    /// A user error at a position in the statement text.
    pub fn user_at(message: impl Into<String>, location: Location) -> Self {
        Error::User {
            message: message.into(),
            location: Some(location),
        }
    }

    /// An error of a system outside sluice.
    pub fn external(message: impl Into<String>) -> Self {
        Error::External(message.into())
    }

    /// A broken invariant.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal(message.into())
    }

    /// True when the user must act (HTTP 400).
    pub fn is_user(&self) -> bool {
        matches!(self, Error::User { .. })
    }

    /// The position in the statement, when known.
    pub fn location(&self) -> Option<Location> {
        match self {
            Error::User { location, .. } => *location,
            _ => None,
        }
    }

    /// Prefixes the message with context, keeping the kind and location.
    pub fn context(self, prefix: impl fmt::Display) -> Self {
        match self {
            Error::User { message, location } => Error::User {
                message: format!("{prefix}: {message}"),
                location,
            },
            Error::External(m) => Error::External(format!("{prefix}: {m}")),
            Error::Internal(m) => Error::Internal(format!("{prefix}: {m}")),
            Error::Queued(id) => Error::Queued(id),
        }
    }
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        use datafusion::error::DataFusionError as D;
        match e {
            D::Plan(m) | D::SQL(_, Some(m)) | D::NotImplemented(m) => Error::user(m),
            D::SchemaError(e, _) => Error::user(e.to_string()),
            D::Execution(m) => Error::user(m),
            D::ArrowError(e, _) => Error::user(e.to_string()),
            D::Context(ctx, inner) => Error::from(*inner).context(ctx),
            D::Diagnostic(_, inner) => Error::from(*inner),
            D::Internal(m) => Error::Internal(m),
            other => Error::user(other.to_string()),
        }
    }
}

impl From<arrow::error::ArrowError> for Error {
    fn from(e: arrow::error::ArrowError) -> Self {
        Error::user(e.to_string())
    }
}

impl From<rdkafka::error::KafkaError> for Error {
    fn from(e: rdkafka::error::KafkaError) -> Self {
        Error::External(format!("Kafka: {e}"))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::External(format!("I/O: {e}"))
    }
}
