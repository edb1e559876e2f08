//! Runs REST-level cases (ksqlDB's RQTT, `../shared/qtt/rest`) through
//! sluice's REST API, in process.
//!
//! Each case gets a fresh in-memory log, an engine with the test settings
//! ([`test_config`]) and the server's router ([`crate::server::router`]),
//! driven with `tower::ServiceExt::oneshot` — no socket. The steps follow
//! ksqlDB's `RestTestExecutor`:
//!
//! 1. create the topics and send every statement before the first query
//!    to `POST /ksql`, one request each, with the case's properties as
//!    `streamsProperties`;
//! 2. write the inputs, unless `inputConditions.waitForActivePushQuery`
//!    asks to start the push query first (then the inputs are written once
//!    its header arrived and its consumer has polled), and wait until the
//!    persistent queries have processed them;
//! 3. send each query (SELECT or PRINT) to `POST /query`, with
//!    `auto.offset.reset=earliest` unless the case sets it, and read the
//!    streamed elements until the body ends or as many elements as the
//!    expected response holds arrived (a push query without LIMIT never
//!    ends: its response is then dropped, which closes it);
//! 4. compare the output topics as QTT does, then the responses
//!    (`rest_match`).
//!
//! The HTTP side — requests, `/query` bodies read element by element, the
//! log that tells when a consumer has polled — is `rest_http`.
//!
//! A request that fails ends the case: it passes when the case expects
//! that error — same HTTP status, a message containing the expected text,
//! and for ksqlDB's `KsqlStatementErrorMessage` a `statement_error` of the
//! last statement.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use axum::Router;
use regex::Regex;
use serde_json::{Map, Value};

use super::model::{ExpectedOutput, Record, RestError, RestExpectations, TestCase};
use super::report::{normalize_message, CaseResult, Status};
use super::rest_http::{Client, Failure, WatchedBroker, QUIET};
use super::rest_match::{check_responses, Actual};
use super::runner::Verdict;
use super::runner::{append_input, compare_topic, test_config, wait_idle};
use super::Options;
use crate::engine::Engine;
use crate::runtime::io::Broker;
use crate::runtime::memory::MemoryBroker;
use crate::server::{router, ServerState};

/// Runs one REST-level case (`case.rest` set), within `options.timeout`.
pub async fn run_case(case: TestCase, options: Options) -> CaseResult {
    let started = Instant::now();
    let rest = case.rest.clone().unwrap_or_default();
    let verdict = if let Some(reason) = &case.not_applicable {
        Verdict {
            status: Status::NotApplicable,
            reason: Some(reason.clone()),
            ..Verdict::pass()
        }
    } else if let Some(reason) = &case.unsupported {
        Verdict::fail(reason.clone(), reason.clone())
    } else {
        run_isolated(&case, &rest, &options).await
    };
    let expected_message = rest.error.as_ref().and_then(|e| e.message.clone());
    CaseResult {
        name: case.name.clone(),
        file: case.file.clone(),
        status: verdict.status,
        reason: verdict.reason,
        category: verdict.category,
        details: verdict.details,
        negative: rest.error.is_some(),
        expected_message,
        error_text_matched: verdict.error_text_matched,
        stateless: case.stateless,
        registry_format: case.registry_format.clone(),
        millis: started.elapsed().as_millis() as u64,
    }
}

/// The server a case talks to, and what is behind it.
#[derive(Clone)]
struct Server {
    app: Router,
    engine: Arc<Engine>,
    log: Arc<MemoryBroker>,
    /// Readers created but not yet polled once.
    unpolled: Arc<AtomicUsize>,
}

/// A fresh log, engine and server; the case body runs as its own task, so
/// that a panic or a hang is reported as the case's failure, and the
/// server and engine are shut down whatever happened.
async fn run_isolated(case: &TestCase, rest: &RestExpectations, options: &Options) -> Verdict {
    let log = MemoryBroker::new();
    let unpolled = Arc::new(AtomicUsize::new(0));
    let broker: Arc<dyn Broker> = Arc::new(WatchedBroker {
        log: Arc::clone(&log),
        unpolled: Arc::clone(&unpolled),
    });
    let store = Arc::new(crate::sr::Store::new("mock://rqtt"));
    // As the mock registry of ksqlDB's test driver: no compatibility
    // checks between a case's schemas.
    if let Err(e) = store.set_level(None, "NONE") {
        return Verdict::fail("schema registry", e.to_string());
    }
    if let Err(e) = super::runner::register_schemas(&store, case) {
        return Verdict::fail("schema registration failed", e);
    }
    let config = crate::config::Config {
        schema_registry: Some(crate::sr::RegistryRef(store)),
        ..test_config()
    };
    let engine = match Engine::new(broker, config).await {
        Ok(e) => e,
        Err(e) => return Verdict::fail("engine did not start", e.to_string()),
    };
    let state = ServerState::new(Arc::clone(&engine));
    let server = Server {
        app: router(Arc::clone(&state)),
        engine: Arc::clone(&engine),
        log,
        unpolled,
    };
    let deadline = Instant::now() + options.timeout;
    let body = tokio::spawn(execute(server, case.clone(), rest.clone(), deadline));
    let verdict = super::runner::await_case(body, options.timeout).await;
    state.begin_shutdown();
    if tokio::time::timeout(Duration::from_secs(5), engine.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(case = %case.name, "the engine did not shut down within 5 s");
    }
    verdict
}

static JOIN: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"(?i)\bJOIN\b").ok());

/// True when a statement of `case` joins (the conformance summary counts
/// the cases with and without one apart).
pub fn needs_join(case: &TestCase) -> bool {
    JOIN.as_ref()
        .is_some_and(|re| case.statements.iter().any(|s| re.is_match(&s.sql)))
}

/// True for statements ksqlDB's harness sends to `/query`.
fn is_query(sql: &str) -> bool {
    let word: String = sql
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    word.eq_ignore_ascii_case("SELECT") || word.eq_ignore_ascii_case("PRINT")
}

async fn execute(
    server: Server,
    case: TestCase,
    rest: RestExpectations,
    deadline: Instant,
) -> Verdict {
    for t in &case.topics {
        if let Err(e) = server.log.ensure_topic(&t.name, t.partitions) {
            return Verdict::fail("topic creation failed", e.to_string());
        }
    }
    let mut properties: Map<String, Value> = case
        .properties
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    properties
        .entry("auto.offset.reset")
        .or_insert_with(|| Value::String("earliest".into()));
    let client = Client {
        app: server.app.clone(),
        properties: Value::Object(properties),
    };
    let statements: Vec<&str> = case.statements.iter().map(|s| s.sql.as_str()).collect();
    let first_query = statements
        .iter()
        .position(|s| is_query(s))
        .unwrap_or(statements.len());
    let mut actual: Vec<Actual> = Vec::new();
    for (i, sql) in statements.iter().enumerate().take(first_query) {
        match client.ksql(sql).await {
            Ok(entities) => actual.extend(entities.into_iter().map(Actual::Admin)),
            Err(failure) => return failed_request(&case, &rest, i, &failure),
        }
    }
    let mut inputs_written = false;
    if !rest.wait_for_active_push_query {
        if let Err(v) = write_inputs(&server, &case.inputs, deadline).await {
            return v;
        }
        inputs_written = true;
    }
    if !wait_idle(&server.engine, &server.log, deadline).await {
        return Verdict::fail(
            "timed out",
            "the persistent queries did not process the inputs before the deadline",
        );
    }
    let mut notes = Vec::new();
    for (i, sql) in statements.iter().enumerate().skip(first_query) {
        if !is_query(sql) {
            // ksqlDB's harness rejects such cases; send it where it belongs.
            match client.ksql(sql).await {
                Ok(entities) => actual.extend(entities.into_iter().map(Actual::Admin)),
                Err(failure) => return failed_request(&case, &rest, i, &failure),
            }
            continue;
        }
        let want = rest
            .responses
            .get(actual.len())
            .and_then(|r| r.get("query"))
            .and_then(Value::as_array)
            .map(Vec::len);
        let mut stream = match client.query(sql).await {
            Ok(s) => s,
            Err(failure) => return failed_request(&case, &rest, i, &failure),
        };
        if !inputs_written {
            stream.read(Some(1), deadline).await;
            wait_polled(&server, deadline).await;
            if let Err(v) = write_inputs(&server, &case.inputs, deadline).await {
                return v;
            }
            inputs_written = true;
        }
        stream.read(want, deadline).await;
        if stream.stalled {
            notes.push(format!(
                "statement {}: no further element arrived within {} s (read {})",
                i + 1,
                QUIET.as_secs(),
                stream.elements.len()
            ));
        }
        actual.push(Actual::Query(stream.elements));
    }
    if let Some(expected) = &rest.error {
        return Verdict::fail(
            "expected an error, but every request succeeded",
            format!(
                "expected the last statement to fail{}, but every request succeeded",
                expected
                    .message
                    .as_deref()
                    .map(|m| format!(" with \"{m}\""))
                    .unwrap_or_default()
            ),
        );
    }
    if !inputs_written {
        if let Err(v) = write_inputs(&server, &case.inputs, deadline).await {
            return v;
        }
    }
    if !wait_idle(&server.engine, &server.log, deadline).await {
        return Verdict::fail(
            "timed out",
            "the persistent queries did not catch up before the deadline",
        );
    }
    let mut verdict = check_outputs(&server, &case).await;
    if verdict.status == Status::Pass {
        if let Err(m) = check_responses(&rest.responses, &actual, rest.verify_order) {
            verdict = Verdict::fail(m.category, m.reason);
            verdict.details = m.details;
        }
    }
    if verdict.status == Status::Fail {
        verdict.details.extend(notes);
        for (id, error) in server.engine.failed_queries().await {
            verdict.details.push(format!("query {id} stopped: {error}"));
        }
    }
    verdict
}

/// Writes the inputs, topic by topic in order of first mention (as
/// ksqlDB's harness produces them), letting the queries catch up between
/// topics.
async fn write_inputs(
    server: &Server,
    inputs: &[Record],
    deadline: Instant,
) -> Result<(), Verdict> {
    let mut by_topic: Vec<(&str, Vec<&Record>)> = Vec::new();
    for r in inputs {
        match by_topic.iter_mut().find(|(t, _)| *t == r.topic) {
            Some((_, list)) => list.push(r),
            None => by_topic.push((&r.topic, vec![r])),
        }
    }
    let catalog = server.engine.catalog().await;
    // Joins read every input at once, merging them by timestamp as Kafka
    // Streams does: their inputs are all written before they catch up.
    let joins = server.engine.has_join_queries().await;
    for (n, (_, records)) in by_topic.iter().enumerate() {
        if n > 0 && !joins && !wait_idle(&server.engine, &server.log, deadline).await {
            return Err(Verdict::fail(
                "timed out",
                "the persistent queries did not catch up before the deadline",
            ));
        }
        for r in records {
            if let Err(e) = append_input(&server.log, &catalog, r) {
                return Err(Verdict::fail(
                    "input not written",
                    format!("input record of '{}': {e}", r.topic),
                ));
            }
        }
    }
    Ok(())
}

/// Waits until every reader has polled once, so that a query starting at
/// the end of its topics has fixed where that is.
async fn wait_polled(server: &Server, deadline: Instant) {
    while server.unpolled.load(Ordering::SeqCst) > 0 {
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Compares the output topics as QTT does.
async fn check_outputs(server: &Server, case: &TestCase) -> Verdict {
    let mut by_topic: Vec<(String, Vec<Record>)> = Vec::new();
    for o in &case.outputs {
        let ExpectedOutput::Record(r) = o else {
            continue;
        };
        match by_topic.iter_mut().find(|(t, _)| *t == r.topic) {
            Some((_, list)) => list.push(r.clone()),
            None => by_topic.push((r.topic.clone(), vec![r.clone()])),
        }
    }
    let catalog = server.engine.catalog().await;
    let mut problems = Vec::new();
    for (topic, records) in &by_topic {
        problems.extend(compare_topic(&server.log, &catalog, topic, records));
    }
    let mut problems = problems.into_iter();
    match problems.next() {
        None => Verdict::pass(),
        Some((category, reason)) => {
            let mut v = Verdict::fail(category, reason);
            v.details = problems.map(|(_, text)| text).collect();
            v
        }
    }
}

/// The verdict when statement `index` failed with `failure`.
fn failed_request(
    case: &TestCase,
    rest: &RestExpectations,
    index: usize,
    failure: &Failure,
) -> Verdict {
    let message = failure.message();
    let status = failure.status.as_u16();
    let rejected = || format!("statement rejected: {}", normalize_message(&message));
    let Some(expected) = &rest.error else {
        return Verdict::fail(
            rejected(),
            format!(
                "statement {} failed with HTTP {status}: {message}",
                index + 1
            ),
        );
    };
    let matched = expected
        .message
        .as_ref()
        .map(|m| message.contains(m.as_str()));
    let last = case.statements.len().saturating_sub(1);
    let problem = error_problem(expected, failure, index, last, matched);
    let mut v = match problem {
        None => Verdict::pass(),
        // A rejection for want of a feature says what to build next.
        Some(_)
            if failure.status.is_server_error() || message.contains("not supported by sluice") =>
        {
            Verdict::fail(
                rejected(),
                format!("rejected for a reason of sluice's own (HTTP {status}): {message}"),
            )
        }
        Some((category, reason)) => Verdict::fail(category, reason),
    };
    v.error_text_matched = matched;
    let expected_status = expected
        .status
        .map(|s| s.to_string())
        .unwrap_or_else(|| "any".into());
    v.details.push(format!(
        "expected: HTTP {expected_status}, message containing: {}",
        expected.message.as_deref().unwrap_or("(any)")
    ));
    v.details
        .push(format!("actual:   HTTP {status}, {}", failure.body));
    v
}

/// What is wrong with an error response, if anything: (category, reason).
fn error_problem(
    expected: &RestError,
    failure: &Failure,
    index: usize,
    last: usize,
    matched: Option<bool>,
) -> Option<(String, String)> {
    let statement_error = expected
        .type_name
        .as_deref()
        .is_some_and(|t| t.ends_with("KsqlStatementErrorMessage"));
    if index != last && statement_error {
        return Some((
            "wrong statement rejected".into(),
            format!(
                "statement {} failed, but the case expects the last one (statement {}) to fail: {}",
                index + 1,
                last + 1,
                failure.message()
            ),
        ));
    }
    if let Some(s) = expected.status {
        if s != failure.status.as_u16() {
            return Some((
                format!(
                    "error status differs: {} instead of {s}",
                    failure.status.as_u16()
                ),
                format!(
                    "HTTP {} instead of {s}: {}",
                    failure.status.as_u16(),
                    failure.message()
                ),
            ));
        }
    }
    if statement_error
        && failure.body.get("@type").and_then(Value::as_str) != Some("statement_error")
    {
        return Some((
            "error type differs".into(),
            format!("expected a statement_error, got {}", failure.body),
        ));
    }
    if matched == Some(false) {
        return Some((
            "error message differs".into(),
            format!(
                "the message does not contain the expected text: {}",
                failure.message()
            ),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(case_json: &str) -> CaseResult {
        let text = format!("{{\"tests\": [{case_json}]}}");
        let mut file = super::super::qtt::parse_file("r", &text).unwrap();
        let case = file.cases.remove(0);
        assert!(case.rest.is_some());
        run_case(
            case,
            Options {
                timeout: Duration::from_secs(20),
                ..Options::default()
            },
        )
        .await
    }

    const CREATE: &str = "\"CREATE STREAM INPUT (K STRING KEY, ID INT) WITH (kafka_topic='t', value_format='JSON');\"";
    const INPUTS: &str = r#""inputs": [
        {"topic": "t", "timestamp": 1, "key": "a", "value": {"id": 1}},
        {"topic": "t", "timestamp": 2, "key": "b", "value": {"id": 2}}]"#;

    #[tokio::test]
    async fn push_queries_are_compared_with_the_responses() {
        let case = |select: &str, rows: &str| {
            format!(
                r#"{{"name": "push", "statements": [{CREATE}, "{select}"], {INPUTS},
                  "responses": [{{"admin": {{"@type": "currentStatus"}}}}, {{"query": [
                    {{"header": {{"schema": "`K` STRING, `ID` INTEGER"}}}}, {rows}]}}]}}"#
            )
        };
        let limited = "SELECT * FROM INPUT EMIT CHANGES LIMIT 2;";
        let rows = r#"{"row": {"columns": ["b", 2]}}, {"row": {"columns": ["a", 1]}},
                      {"finalMessage": "Limit Reached"}"#;
        let r = run(&case(limited, rows)).await;
        assert_eq!(r.status, Status::Pass, "{r:?}");
        // Without LIMIT the response never ends: read as many as expected.
        let rows = r#"{"row": {"columns": ["a", 1]}}, {"row": {"columns": ["b", 2]}}"#;
        let r = run(&case("SELECT * FROM INPUT EMIT CHANGES;", rows)).await;
        assert_eq!(r.status, Status::Pass, "{r:?}");
        let rows = r#"{"row": {"columns": ["a", 1]}}, {"row": {"columns": ["b", 3]}},
                      {"finalMessage": "Limit Reached"}"#;
        let r = run(&case(limited, rows)).await;
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.category.as_deref(),
            Some("wrong response: query->row->columns differs")
        );
    }

    #[tokio::test]
    async fn push_queries_can_start_before_the_inputs() {
        let r = run(&format!(
            r#"{{"name": "latest", "statements": [{CREATE}, "SELECT ID FROM INPUT EMIT CHANGES LIMIT 2;"],
               {INPUTS}, "inputConditions": {{"waitForActivePushQuery": true}},
               "properties": {{"auto.offset.reset": "latest"}},
               "responses": [{{"admin": {{"@type": "currentStatus"}}}}, {{"query": [
                 {{"header": {{"schema": "`ID` INTEGER"}}}},
                 {{"row": {{"columns": [1]}}}}, {{"row": {{"columns": [2]}}}},
                 {{"finalMessage": "Limit Reached"}}]}}]}}"#
        ))
        .await;
        assert_eq!(r.status, Status::Pass, "{r:?}");
    }

    #[tokio::test]
    async fn expected_errors_need_the_status_and_the_message() {
        let case = |status: u16| {
            format!(
                r#"{{"name": "bad", "statements": [{CREATE}, "SELECT * FROM NO_SUCH_STREAM EMIT CHANGES;"],
                   "expectedError": {{"type": "io.confluent.ksql.rest.entity.KsqlStatementErrorMessage",
                                     "message": "NO_SUCH_STREAM", "status": {status}}}}}"#
            )
        };
        let r = run(&case(400)).await;
        assert_eq!(r.status, Status::Pass, "{r:?}");
        assert!(r.negative);
        assert_eq!(r.error_text_matched, Some(true));
        let r = run(&case(404)).await;
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.category.as_deref(),
            Some("error status differs: 400 instead of 404")
        );
    }

    #[tokio::test]
    async fn output_topics_are_compared() {
        let case = |id: u32| {
            format!(
                r#"{{"name": "insert", "statements": [{CREATE}, "INSERT INTO INPUT (K, ID) VALUES ('k', 7);"],
                   "outputs": [{{"topic": "t", "key": "k", "value": {{"ID": {id}}}}}],
                   "responses": [{{"admin": {{"@type": "currentStatus"}}}}]}}"#
            )
        };
        assert_eq!(run(&case(7)).await.status, Status::Pass);
        let r = run(&case(8)).await;
        assert_eq!(r.category.as_deref(), Some("wrong output: value differs"));
    }

    #[test]
    fn joins_are_recognised() {
        let mut case = TestCase::new("f", "f - c".into());
        case.statements.push(super::super::model::Statement {
            sql: "SELECT * FROM A JOIN B WITHIN 1 SECOND ON A.K = B.K EMIT CHANGES;".into(),
            line: 0,
            inserts_into: None,
        });
        assert!(needs_join(&case));
        case.statements[0].sql = "SELECT JOINED FROM A EMIT CHANGES;".into();
        assert!(!needs_join(&case));
    }

    #[test]
    fn queries_are_told_apart() {
        assert!(is_query("SELECT * FROM S;"));
        assert!(is_query("  select 1 from s emit changes;"));
        assert!(is_query("PRINT 't' FROM BEGINNING;"));
        assert!(!is_query("INSERT INTO S SELECT * FROM T;"));
        assert!(!is_query("CREATE STREAM S AS SELECT * FROM T;"));
    }
}
