//! The one test model both readers produce: a case is statements, records
//! in, records (or an error) out, and conditions on the catalog afterwards.
//!
//! Records carry keys and values as JSON, the way ksqlDB's QTT files write
//! them: an object for a JSON value, a string for DELIMITED, a scalar for
//! KAFKA. The runner converts them to payload bytes with the source's
//! formats (and payloads back to JSON with the sink's), so one comparison
//! serves every format.

use std::collections::BTreeMap;

use serde_json::Value;

/// A test case, ready to run.
#[derive(Debug, Clone)]
pub struct TestCase {
    /// The full name: `<file stem> - <name>[ - <format>][ - <prop>=<config>]`.
    pub name: String,
    /// The file it came from (its stem), for grouping in reports.
    pub file: String,
    /// Statements, executed in order, one engine call each.
    pub statements: Vec<Statement>,
    /// Session properties, applied as `SET` before the statements.
    pub properties: BTreeMap<String, String>,
    /// Topics to create before the statements run.
    pub topics: Vec<TopicSpec>,
    /// Records appended, in order, after the statements ran.
    pub inputs: Vec<Record>,
    /// Records expected in the output topics, in order per topic.
    pub outputs: Vec<ExpectedOutput>,
    /// The error the case expects, for negative cases.
    pub expected_error: Option<ExpectedError>,
    /// Conditions on the catalog and the topics after the run.
    pub post: Option<PostConditions>,
    /// Why the case cannot apply to sluice (it needs Java test-only
    /// functions); such a case is reported `N/A` and not run.
    pub not_applicable: Option<String>,
    /// Why the case is known to fail before running it (an unsupported
    /// format); such a case is reported as a failure and not run.
    pub unsupported: Option<String>,
    /// True when the statements use no GROUP BY, WINDOW, JOIN, CREATE TABLE
    /// or Schema Registry format: the stateless subset of the suite.
    pub stateless: bool,
    /// The Schema Registry format its statements use, if any.
    pub registry_format: Option<String>,
    /// For a REST-level case (RQTT): what the server must answer. Such a
    /// case runs through the REST API ([`super::rest`]), not the engine.
    pub rest: Option<RestExpectations>,
}

impl TestCase {
    /// A case with a name and nothing else.
    pub fn new(file: &str, name: String) -> Self {
        TestCase {
            name,
            file: file.to_string(),
            statements: Vec::new(),
            properties: BTreeMap::new(),
            topics: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            expected_error: None,
            post: None,
            not_applicable: None,
            unsupported: None,
            stateless: true,
            registry_format: None,
            rest: None,
        }
    }

    /// The index of the statement a negative case expects to fail.
    pub fn failing_statement(&self) -> Option<usize> {
        let expected = self.expected_error.as_ref()?;
        match expected.kind {
            ErrorKind::Statement => Some(
                expected
                    .statement
                    .unwrap_or(self.statements.len().saturating_sub(1)),
            ),
            ErrorKind::Runtime => None,
        }
    }
}

/// One statement of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The SQL text.
    pub sql: String,
    /// Line of the statement in its file (1-based; 0 when unknown).
    pub line: usize,
    /// The topic an `INSERT INTO … VALUES` writes, when the statement is
    /// one: the runner lets queries catch up before the input switches
    /// topics, so that records are processed in the order written.
    pub inserts_into: Option<String>,
}

/// A topic created before the statements run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// The topic name (case-sensitive).
    pub name: String,
    /// Partitions (default 1).
    pub partitions: i32,
    /// Schemas registered for the topic's key and value before the
    /// statements run.
    pub schemas: Vec<TopicSchema>,
}

/// A schema a case registers for a topic's key or value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSchema {
    /// For the key (`<topic>-key`) or the value (`<topic>-value`).
    pub key: bool,
    /// The schema.
    pub schema: crate::sr::Schema,
    /// The id it must have, when the case pins one.
    pub id: Option<i32>,
    /// Schemas it refers to, registered first as subjects of their name.
    pub references: Vec<(String, crate::sr::Schema)>,
}

/// A record given to or expected from a topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The topic (case-sensitive).
    pub topic: String,
    /// The key as JSON; `Null` is a null key.
    pub key: Value,
    /// The value as JSON; `Null` is a tombstone.
    pub value: Value,
    /// Timestamp in epoch ms; inputs default to 0, outputs are checked only
    /// when given.
    pub timestamp: Option<i64>,
    /// The window of a windowed key, when given.
    pub window: Option<Window>,
    /// Headers, checked only when given.
    pub headers: Option<Vec<Header>>,
}

/// The window of a windowed key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Start, epoch ms.
    pub start: i64,
    /// End, epoch ms.
    pub end: i64,
    /// Time (tumbling, hopping) or session window.
    pub kind: WindowKind,
}

/// How a windowed key is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// Tumbling and hopping windows: the key then the start.
    Time,
    /// Session windows: the key, the end, then the start.
    Session,
}

/// A record header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header key.
    pub key: String,
    /// The header value; `None` is a null value.
    pub value: Option<Vec<u8>>,
}

/// What a case expects to find in an output topic.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpectedOutput {
    /// A record given as JSON (QTT).
    Record(Record),
    /// An `ASSERT VALUES sink (cols) VALUES (…)` statement (sql-tests): the
    /// runner evaluates it against the sink's columns once the statements
    /// ran.
    Assert {
        /// The statement text.
        sql: String,
        /// Its line in the file.
        line: usize,
    },
}

/// Who raises the error a negative case expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A statement is rejected (ksqlDB's `KsqlStatementException`,
    /// `KsqlException`, `ParseFailedException`).
    Statement,
    /// A persistent query stops while processing records (ksqlDB's
    /// `StreamsException`).
    Runtime,
}

/// The error a negative case expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedError {
    /// Statement rejected, or query stopped.
    pub kind: ErrorKind,
    /// The type as written in the test (a Java class name in QTT).
    pub type_name: Option<String>,
    /// Text the message should contain.
    pub message: Option<String>,
    /// The statement that must fail; `None` means the last one.
    pub statement: Option<usize>,
    /// True when the message must contain [`ExpectedError::message`] for
    /// the case to pass (sql-tests); QTT cases pass when the right
    /// statement fails, and text matches are counted separately.
    pub message_required: bool,
}

/// Conditions checked after the run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PostConditions {
    /// Sources that must exist, with their properties.
    pub sources: Vec<SourceCheck>,
    /// A regex no created topic name may match.
    pub topic_blacklist: Option<String>,
    /// Topics that must exist.
    pub topics: Vec<TopicCheck>,
}

/// A source that must exist after the run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceCheck {
    /// The source name.
    pub name: String,
    /// `stream` or `table`.
    pub kind: Option<String>,
    /// ksqlDB's schema string, e.g. ``ID BIGINT KEY, `NAME` STRING``.
    pub schema: Option<String>,
    /// The key format name.
    pub key_format: Option<String>,
    /// The window type of a windowed key.
    pub window_type: Option<String>,
    /// The value format name.
    pub value_format: Option<String>,
    /// Key serde features (`UNWRAP_SINGLES`, `WRAP_SINGLES`).
    pub key_features: Option<Vec<String>>,
    /// Value serde features.
    pub value_features: Option<Vec<String>>,
    /// Whether the source is read-only (`CREATE SOURCE …`).
    pub is_source: Option<bool>,
}

/// A topic that must exist after the run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopicCheck {
    /// The topic name.
    pub name: String,
    /// The key format of the source over it.
    pub key_format: Option<String>,
    /// The value format of the source over it.
    pub value_format: Option<String>,
    /// The partition count.
    pub partitions: Option<i32>,
    /// The schema registered for its keys (`<topic>-key`): an Avro or JSON
    /// schema as JSON, a `.proto` text as a string.
    pub key_schema: Option<serde_json::Value>,
    /// The schema registered for its values (`<topic>-value`).
    pub value_schema: Option<serde_json::Value>,
}

/// What a REST-level case (ksqlDB's RQTT) expects of the REST API.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RestExpectations {
    /// The expected responses in order: each `{"admin": {…}}` (an entity of
    /// `/ksql`, matched partially), `{"query": […]}` (the elements of a
    /// `/query` response) or `{"queryProto": […]}`.
    pub responses: Vec<Value>,
    /// The error a request must fail with.
    pub error: Option<RestError>,
    /// Start the (one) push query before writing the inputs
    /// (`inputConditions.waitForActivePushQuery`).
    pub wait_for_active_push_query: bool,
    /// Rows of query responses must come in the expected order
    /// (`outputConditions.verifyOrder`); by default any order matches.
    pub verify_order: bool,
    /// The case also expects protobuf responses (`testPullWithProtoFormat`).
    pub pull_with_proto: bool,
}

/// The error response a REST-level case expects (`expectedError`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestError {
    /// ksqlDB's Java class of the error entity, e.g.
    /// `io.confluent.ksql.rest.entity.KsqlStatementErrorMessage`.
    pub type_name: Option<String>,
    /// Text the error's `message` must contain.
    pub message: Option<String>,
    /// The HTTP status.
    pub status: Option<u16>,
}
