//! The connection check at start: one metadata request, with librdkafka's
//! own account of what failed.

use std::sync::Mutex;
use std::time::Duration;

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::ClientContext;

use crate::error::{Error, Result};

/// Keeps the first error librdkafka reports (its log line or error
/// event), instead of printing it.
#[derive(Default)]
struct FirstError(Mutex<Option<String>>);

impl FirstError {
    fn keep(&self, text: String) {
        let mut first = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // An authentication or TLS failure says more than the "all
        // brokers are down" that follows it.
        let better = first
            .as_ref()
            .is_none_or(|f| f.contains("brokers are down") && !text.contains("brokers are down"));
        if better {
            *first = Some(text);
        }
    }

    fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// True for a failure that retrying will not cure: credentials, TLS.
fn is_fatal(cause: &str) -> bool {
    ["SASL", "uthentication", "SSL", "certificate"]
        .iter()
        .any(|w| cause.contains(w))
}

impl ClientContext for FirstError {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        if (level as i32) <= (RDKafkaLogLevel::Error as i32) && fac == "FAIL" {
            // "sasl_ssl://host:9092/bootstrap: SASL authentication error: …"
            let text = log_message
                .split_once(": ")
                .map_or(log_message, |(_, rest)| rest);
            self.keep(text.to_string());
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.keep(if reason.is_empty() {
            error.to_string()
        } else {
            reason.to_string()
        });
    }
}

impl ConsumerContext for FirstError {}

/// Asks `bootstrap` for the cluster's metadata.
pub(super) fn connection(
    mut config: ClientConfig,
    bootstrap: &str,
    secured: bool,
    timeout: Duration,
) -> Result<()> {
    config.set("log_level", "3");
    let consumer: BaseConsumer<FirstError> = config.create_with_context(FirstError::default())?;
    let deadline = std::time::Instant::now() + timeout;
    let error = loop {
        let e = match consumer.fetch_metadata(None, Duration::from_millis(500)) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        // Serves the client's events: its log lines and errors reach the
        // context.
        let _ = consumer.poll(Duration::ZERO);
        if consumer.context().get().is_some_and(|c| is_fatal(&c))
            || std::time::Instant::now() >= deadline
        {
            break e;
        }
    };
    let cause = consumer
        .context()
        .get()
        .unwrap_or_else(|| error.to_string());
    let hint = if cause.contains("SASL") || cause.contains("uthentication") {
        "check sasl.mechanism, sasl.username and sasl.password"
    } else if cause.contains("SSL") || cause.contains("certificate") {
        "check ssl.ca.location (the CA that signed the broker's certificate) and \
         ssl.endpoint.identification.algorithm"
    } else if secured {
        "check the address, security.protocol and that the broker listens there"
    } else {
        "check the address, and security.protocol if the broker requires TLS or SASL"
    };
    Err(Error::external(format!(
        "Cannot connect to Kafka at {bootstrap}: {cause} ({hint})"
    )))
}
