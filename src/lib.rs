//! sluice: a streaming SQL engine for Apache Kafka, in one binary.
//!
//! ```text
//!  SQL text ──sql::parse──▶ Statement ──engine──┬─ DDL ─────────▶ catalog
//!                                               └─ query ──plan──▶ StreamingPlan
//!                                                                    │
//!  Kafka topic ─▶ Source ─decode─▶ RecordBatch ─▶ operators ─▶ encode ─▶ Sink ─▶ Kafka topic
//!    (rdkafka)    (format)          (Arrow)       (runtime)   (format)            / client
//! ```
//!
//! Modules, from the edges inwards: [`sql`] parses the ksqlDB dialect;
//! [`catalog`] knows streams, tables and queries; [`plan`] turns a SELECT
//! into a DataFusion plan and cuts it into streaming operators; [`runtime`]
//! runs them over the I/O ports that [`kafka`] (production) and the
//! in-memory log (tests) implement, with state per input partition backed
//! by changelog topics; [`format`] decodes and encodes records;
//! [`functions`] holds ksqlDB's functions as DataFusion UDFs; [`engine`] is
//! the one facade the shell, the server and the test runner call, and keeps
//! the catalog and the persistent queries in the command topic;
//! [`testing`] is the test runner (sql-tests and ksqlDB's QTT suite);
//! [`server`] is the ksqlDB-compatible REST API over the engine;
//! [`nexmark`] generates the Nexmark workload and benchmarks sluice on it;
//! [`examples`] runs the example scenarios of `examples/` with their data.
//! [`net`] is a leaf every HTTP speaker may use (the server, the shell, the
//! Schema Registry, the engine's calls to the other servers): TLS
//! configurations, the TLS listener, HTTP Basic authentication and an
//! HTTP/1.1 client connection.

pub mod catalog;
pub mod config;
pub mod engine;
pub mod error;
pub mod examples;
pub mod format;
pub mod functions;
pub mod kafka;
pub mod net;
pub mod nexmark;
pub mod plan;
pub mod runtime;
pub mod server;
pub mod settings;
pub mod shell;
pub mod sql;
pub mod sr;
pub mod testing;
pub mod types;
