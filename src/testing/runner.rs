//! Runs one test case on a fresh in-memory log and engine.
//!
//! The steps, as ksqlDB's test driver takes them: create the topics, apply
//! the properties, execute the statements in order (a failing statement
//! ends the case), append the input records in file order, wait until
//! every persistent query has processed everything, then compare each
//! expected output topic record by record and check the post conditions.
//!
//! Queries read with batches of one record, so every input produces its
//! update, and poll often, so that a case finishes as soon as its queries
//! have caught up. "Caught up" is exact, not timed: every running query
//! has read as many records as its topics hold and has since found
//! nothing new, and no record was appended while that was checked.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::assert;
use super::compare::values_match;
use super::model::{ErrorKind, ExpectedOutput, Record, TestCase, Window, WindowKind};
use super::payload::{json_to_payload, payload_to_json, windowed_key, PartFormat};
use super::report::{render_json, CaseResult, Status};
use super::Options;
use crate::catalog::{Catalog, Source, SourceWindow};
use crate::config::{Config, Session};
use crate::engine::Engine;
use crate::error::Error;
use crate::format::windowed::{self, WindowedKey};
use crate::format::Part;
use crate::runtime::io::{Broker, StartFrom};
use crate::runtime::memory::{MemoryBroker, StoredRecord};
use crate::runtime::task::TaskSettings;

/// The service id of ksqlDB's test driver, which internal topic names in
/// the suite contain.
pub const SERVICE_ID: &str = "some.ksql.service.id";

/// The engine settings of a test: ksqlDB's test driver's service id,
/// queries reading from the earliest offset, batches of one record.
pub fn test_config() -> Config {
    Config {
        service_id: SERVICE_ID.to_string(),
        default_start: StartFrom::Earliest,
        task: TaskSettings {
            max_batch: 1,
            poll_wait: Duration::from_millis(5),
            // As ksqlDB's test driver: record caching off.
            emit_every_update: true,
            ..TaskSettings::default()
        },
        ..Config::default()
    }
}

/// Registers the schemas a case gives for its topics (references first,
/// as subjects named by the reference), as ksqlDB's test driver does in its
/// mock registry.
pub(crate) fn register_schemas(store: &crate::sr::Store, case: &TestCase) -> Result<(), String> {
    let pinned: Vec<i32> = case
        .topics
        .iter()
        .flat_map(|t| t.schemas.iter().filter_map(|s| s.id))
        .collect();
    // References take ids no schema of the case pins.
    let mut next_free = 1;
    let mut free_id = |store: &crate::sr::Store| {
        while pinned.contains(&next_free) || store.schema(next_free).is_ok() {
            next_free += 1;
        }
        next_free
    };
    for t in &case.topics {
        for s in &t.schemas {
            let mut schema = s.schema.clone();
            for (name, referenced) in &s.references {
                let existing = store.lookup(name, referenced).ok().map(|r| r.id);
                let id = existing.unwrap_or_else(|| free_id(store));
                let r = store
                    .register_as(name, referenced, Some(id))
                    .map_err(|e| format!("reference '{name}' of topic '{}': {e}", t.name))?;
                schema
                    .references
                    .push(crate::sr::store::reference(name, name, r.version));
            }
            let subject = crate::sr::subject(&t.name, s.key);
            store
                .register_as(&subject, &schema, s.id)
                .map_err(|e| format!("subject '{subject}': {e}"))?;
        }
    }
    Ok(())
}

/// What a case came to, before timing is added (shared with the REST-level
/// runner).
pub(crate) struct Verdict {
    pub(crate) status: Status,
    pub(crate) reason: Option<String>,
    pub(crate) category: Option<String>,
    pub(crate) details: Vec<String>,
    pub(crate) error_text_matched: Option<bool>,
}

impl Verdict {
    pub(crate) fn pass() -> Self {
        Verdict {
            status: Status::Pass,
            reason: None,
            category: None,
            details: Vec::new(),
            error_text_matched: None,
        }
    }

    pub(crate) fn fail(category: impl Into<String>, reason: impl Into<String>) -> Self {
        Verdict {
            status: Status::Fail,
            reason: Some(reason.into()),
            category: Some(category.into()),
            details: Vec::new(),
            error_text_matched: None,
        }
    }

    pub(crate) fn with_details(mut self, details: Vec<String>) -> Self {
        self.details = details;
        self
    }
}

/// Runs one case, within `options.timeout`.
pub async fn run_case(case: TestCase, options: Options) -> CaseResult {
    let started = Instant::now();
    let verdict = if let Some(reason) = &case.not_applicable {
        Verdict {
            status: Status::NotApplicable,
            reason: Some(reason.clone()),
            ..Verdict::pass()
        }
    } else if let Some(reason) = &case.unsupported {
        Verdict::fail(reason.clone(), reason.clone())
    } else {
        run_isolated(&case, &options).await
    };
    CaseResult {
        name: case.name.clone(),
        file: case.file.clone(),
        status: verdict.status,
        reason: verdict.reason,
        category: verdict.category,
        details: verdict.details,
        negative: case.expected_error.is_some(),
        expected_message: case.expected_error.as_ref().and_then(|e| e.message.clone()),
        error_text_matched: verdict.error_text_matched,
        stateless: case.stateless,
        registry_format: case.registry_format.clone(),
        millis: started.elapsed().as_millis() as u64,
    }
}

/// A fresh log and engine; the case body runs as its own task, so that a
/// panic or a hang is reported as the case's failure, and the engine is
/// shut down whatever happened.
async fn run_isolated(case: &TestCase, options: &Options) -> Verdict {
    let log = MemoryBroker::new();
    let broker: Arc<dyn Broker> = Arc::new(Arc::clone(&log));
    let store = Arc::new(crate::sr::Store::new("mock://qtt"));
    // As the mock registry of ksqlDB's test driver: no compatibility
    // checks between a case's schemas.
    if let Err(e) = store.set_level(None, "NONE") {
        return Verdict::fail("schema registry", e.to_string());
    }
    if let Err(e) = register_schemas(&store, case) {
        return Verdict::fail("schema registration failed", e);
    }
    let config = Config {
        schema_registry: Some(crate::sr::RegistryRef(store)),
        ..test_config()
    };
    let engine = match Engine::new(broker, config).await {
        Ok(e) => e,
        Err(e) => return Verdict::fail("engine did not start", e.to_string()),
    };
    let deadline = Instant::now() + options.timeout;
    let body = tokio::spawn(execute(
        Arc::clone(&engine),
        Arc::clone(&log),
        case.clone(),
        deadline,
        options.strict_errors,
    ));
    let verdict = await_case(body, options.timeout).await;
    if tokio::time::timeout(Duration::from_secs(5), engine.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(case = %case.name, "the engine did not shut down within 5 s");
    }
    verdict
}

async fn execute(
    engine: Arc<Engine>,
    log: Arc<MemoryBroker>,
    case: TestCase,
    deadline: Instant,
    strict_errors: bool,
) -> Verdict {
    for t in &case.topics {
        if let Err(e) = log.ensure_topic(&t.name, t.partitions) {
            return Verdict::fail("topic creation failed", e.to_string());
        }
    }
    let mut session = Session::default();
    for (k, v) in &case.properties {
        session.properties.insert(k.clone(), v.clone());
    }
    let mut last_insert: Option<&str> = None;
    for (i, stmt) in case.statements.iter().enumerate() {
        if let Some(target) = stmt.inserts_into.as_deref() {
            if last_insert.is_some_and(|l| l != target) && !wait_idle(&engine, &log, deadline).await
            {
                return timed_out(&engine).await;
            }
            last_insert = Some(target);
        }
        if let Err(e) = engine.execute(&mut session, &stmt.sql).await {
            return statement_failed(&case, i, &e, strict_errors);
        }
    }
    if let (Some(expected), Some(i)) = (&case.expected_error, case.failing_statement()) {
        let what = expected
            .message
            .as_deref()
            .map(|m| format!(" with \"{m}\""))
            .unwrap_or_default();
        return Verdict::fail(
            "expected an error, but every statement succeeded",
            format!(
                "expected statement {} to fail{what}, but every statement succeeded:\n{}",
                i + 1,
                case.statements
                    .get(i)
                    .map(|s| s.sql.trim())
                    .unwrap_or_default()
            ),
        );
    }
    let catalog = engine.catalog().await;
    let mut previous_topic: Option<&str> = None;
    for (n, input) in case.inputs.iter().enumerate() {
        if previous_topic.is_some_and(|p| p != input.topic)
            && !wait_idle(&engine, &log, deadline).await
        {
            return timed_out(&engine).await;
        }
        previous_topic = Some(&input.topic);
        if let Err(e) = append_input(&log, &catalog, input) {
            return Verdict::fail("input not written", format!("input record {}: {e}", n + 1));
        }
    }
    if !wait_idle(&engine, &log, deadline).await {
        return timed_out(&engine).await;
    }
    let failed = engine.failed_queries().await;
    if let Some(expected) = &case.expected_error {
        // Only a runtime error is left to expect here.
        let Some((id, error)) = failed.first() else {
            return Verdict::fail(
                "expected a query to stop, but none did",
                format!(
                    "expected a query to stop with {}, but every query kept running",
                    expected.type_name.as_deref().unwrap_or("an error")
                ),
            );
        };
        let matched = expected.message.as_ref().map(|m| error.contains(m));
        let strict = strict_errors || expected.message_required;
        let mut v = if strict && matched == Some(false) {
            Verdict::fail(
                "error message differs",
                "the query stopped, but its error does not contain the expected text",
            )
        } else {
            Verdict::pass()
        };
        v.error_text_matched = matched;
        v.details = vec![format!("query {id} stopped: {error}")];
        return v;
    }
    let catalog = engine.catalog().await;
    let mut problems = Vec::new();
    match expected_outputs(&engine, &catalog, &case) {
        Ok(expected) => {
            for (topic, records) in expected {
                problems.extend(compare_topic(&log, &catalog, &topic, &records));
            }
        }
        Err(e) => return Verdict::fail("ASSERT VALUES failed", e),
    }
    if let Some(post) = &case.post {
        use crate::runtime::io::TopicAdmin;
        let topics = log.list_topics().await.unwrap_or_default();
        let registry = engine.schema_registry();
        problems.extend(super::post::check(
            post,
            &catalog,
            &topics,
            registry.as_ref().map(|r| r.get()),
        ));
    }
    if problems.is_empty() {
        return Verdict::pass();
    }
    let mut details: Vec<String> = Vec::new();
    let mut category = problems[0].0.clone();
    let reason = problems[0].1.clone();
    for (_, p) in problems.iter().skip(1) {
        details.push(p.clone());
    }
    if let Some((id, error)) = failed.first() {
        category = format!("query stopped: {}", super::report::normalize_message(error));
        details.insert(0, format!("query {id} stopped: {error}"));
    } else if engine.processing_errors() > 0 {
        details.push(processing_log_excerpt(&engine, &log));
    }
    Verdict::fail(category, reason).with_details(details)
}

/// The verdict when a statement failed.
/// What ksqlDB's REST layer puts before a statement's error message.
const STATEMENT_WRAPPERS: [&str; 2] = [
    "Exception while preparing statement: ",
    "Failed to prepare statement: ",
];

fn statement_failed(case: &TestCase, index: usize, error: &Error, strict: bool) -> Verdict {
    let message = error.to_string();
    let first_line = message.lines().next().unwrap_or_default().to_string();
    let Some(expected) = &case.expected_error else {
        return Verdict::fail(
            format!(
                "statement rejected: {}",
                super::report::normalize_message(&message)
            ),
            format!("statement {} failed: {message}", index + 1),
        );
    };
    // ksqlDB's harness shows a located error as `Line: l, Col: c: message`,
    // its line counting the statements before it.
    let located = error.location().map(|at| {
        format!(
            "Line: {}, Col: {}: {message}",
            index as u64 + at.line,
            at.column
        )
    });
    // The prefixes ksqlDB's REST layer wraps a statement's error in are
    // not part of the error.
    let matched = expected.message.as_ref().map(|m| {
        let m = STATEMENT_WRAPPERS
            .iter()
            .fold(m.as_str(), |m, w| m.strip_prefix(w).unwrap_or(m));
        message.contains(m) || located.as_ref().is_some_and(|l| l.contains(m))
    });
    let right_statement = case.failing_statement() == Some(index);
    // An error that only says sluice lacks something is not the rejection
    // ksqlDB makes, unless it happens to say the same.
    let gap = matches!(error, Error::Internal(_)) || message.contains("not supported by sluice");
    let strict = strict || expected.message_required;
    let ok = right_statement
        && expected.kind == ErrorKind::Statement
        && (matched == Some(true) || (!gap && (!strict || matched != Some(false))));
    let mut v = if ok {
        Verdict::pass()
    } else if !right_statement {
        Verdict::fail(
            format!(
                "statement rejected: {}",
                super::report::normalize_message(&message)
            ),
            format!(
                "statement {} failed, but the case expects {}: {message}",
                index + 1,
                match case.failing_statement() {
                    Some(i) => format!("statement {} to fail", i + 1),
                    None => "a query to stop while running".to_string(),
                }
            ),
        )
    } else if gap {
        Verdict::fail(
            format!(
                "statement rejected: {}",
                super::report::normalize_message(&message)
            ),
            format!("rejected for a reason of sluice's own: {message}"),
        )
    } else {
        Verdict::fail(
            "error message differs",
            format!("the message does not contain the expected text: {message}"),
        )
    };
    v.error_text_matched = matched;
    if let Some(m) = &expected.message {
        v.details.push(format!("expected message: {m}"));
        v.details.push(format!("actual message:   {first_line}"));
    }
    v
}

async fn timed_out(engine: &Engine) -> Verdict {
    let progress = engine.query_progress().await;
    let busy: Vec<String> = progress
        .iter()
        .filter(|q| !q.finished && !q.idle)
        .map(|q| q.id.clone())
        .collect();
    Verdict::fail(
        "timed out",
        format!(
            "queries did not catch up before the deadline (still busy: {})",
            if busy.is_empty() {
                "none".to_string()
            } else {
                busy.join(", ")
            }
        ),
    )
}

/// Waits until every running query has processed everything in its
/// topics, or `deadline`.
pub(crate) async fn wait_idle(engine: &Engine, log: &MemoryBroker, deadline: Instant) -> bool {
    // Queries that start at the end of their topics never read the older
    // records; for them, being idle while nothing is written is enough.
    let mut quiet_rounds = 0;
    loop {
        let before = log.appended().ok();
        let progress = engine.query_progress().await;
        let mut all_idle = true;
        let mut caught_up = true;
        for q in progress.iter().filter(|q| !q.finished) {
            if !q.idle {
                all_idle = false;
                caught_up = false;
                break;
            }
            let total: u64 = q
                .topics
                .iter()
                .map(|t| log.record_count(t).unwrap_or(0))
                .sum();
            if q.records_in < total {
                caught_up = false;
            }
        }
        let unchanged = before.is_some() && log.appended().ok() == before;
        if unchanged && all_idle {
            if caught_up {
                return true;
            }
            quiet_rounds += 1;
            if quiet_rounds >= 50 {
                return true;
            }
        } else {
            quiet_rounds = 0;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The source over `topic` that decides its formats: the sink a query
/// writes, else the first source declared over it.
fn source_for_topic<'a>(catalog: &'a Catalog, topic: &str) -> Option<&'a Arc<Source>> {
    let mut over = catalog.sources().filter(|s| s.topic == topic);
    let all: Vec<&Arc<Source>> = over.by_ref().collect();
    all.iter()
        .find(|s| s.created_by.is_some())
        .or_else(|| all.first())
        .copied()
}

pub(crate) fn append_input(
    log: &MemoryBroker,
    catalog: &Catalog,
    input: &Record,
) -> crate::error::Result<()> {
    let source = source_for_topic(catalog, &input.topic);
    let key_format = source.map(|s| PartFormat::of(s, Part::Key));
    let value_format = source.map(|s| PartFormat::of(s, Part::Value));
    let mut key = json_to_payload(key_format.as_ref(), &input.key)?;
    if let Some(w) = &input.window {
        key = Some(windowed_key(key, w));
    }
    let value = json_to_payload(value_format.as_ref(), &input.value)?;
    let headers = input
        .headers
        .as_ref()
        .map(|hs| {
            hs.iter()
                .map(|h| (h.key.clone(), h.value.clone()))
                .collect()
        })
        .unwrap_or_default();
    log.append(
        &input.topic,
        None,
        key.as_deref(),
        value.as_deref(),
        input.timestamp.unwrap_or(0),
        headers,
    )
}

/// Expected records grouped by topic, topics in order of first mention.
fn expected_outputs(
    engine: &Engine,
    catalog: &Catalog,
    case: &TestCase,
) -> Result<Vec<(String, Vec<Record>)>, String> {
    let mut grouped: Vec<(String, Vec<Record>)> = Vec::new();
    for output in &case.outputs {
        let record = match output {
            ExpectedOutput::Record(r) => r.clone(),
            ExpectedOutput::Assert { sql, line } => {
                assert::expected_record(engine, catalog, sql)
                    .map_err(|e| format!("ASSERT VALUES at line {line}: {e}"))?
            }
        };
        match grouped.iter_mut().find(|(t, _)| *t == record.topic) {
            Some((_, list)) => list.push(record),
            None => grouped.push((record.topic.clone(), vec![record])),
        }
    }
    Ok(grouped)
}

/// An actual record decoded as the test files write records. The key of a
/// windowed source is taken apart into the key and its window.
fn decode_actual(source: Option<&Arc<Source>>, topic: &str, r: &StoredRecord) -> Record {
    let key_format = source.map(|s| PartFormat::of(s, Part::Key));
    let value_format = source.map(|s| PartFormat::of(s, Part::Value));
    let (key, window) = split_window(source.and_then(|s| s.window), r.key.as_deref());
    Record {
        topic: topic.to_string(),
        key: payload_to_json(key_format.as_ref(), key),
        value: payload_to_json(value_format.as_ref(), r.value.as_deref()),
        timestamp: Some(r.timestamp),
        window,
        headers: Some(
            r.headers
                .iter()
                .map(|(k, v)| super::model::Header {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
        ),
    }
}

/// The key without its window, and the window, for a source with windowed
/// keys; a key too short for a window is left whole, without a window.
fn split_window(
    window: Option<SourceWindow>,
    key: Option<&[u8]>,
) -> (Option<&[u8]>, Option<Window>) {
    let (Some(w), Some(raw)) = (window, key) else {
        return (key, None);
    };
    let layout = w.key_layout();
    match windowed::split(raw, layout, w.size_ms) {
        Ok(split) => (
            Some(split.key),
            Some(Window {
                start: split.start,
                end: split.end,
                kind: match layout {
                    WindowedKey::Time => WindowKind::Time,
                    WindowedKey::Session => WindowKind::Session,
                },
            }),
        ),
        Err(_) => (key, None),
    }
}

/// Compares one topic; each problem is (category, text).
pub(crate) fn compare_topic(
    log: &MemoryBroker,
    catalog: &Catalog,
    topic: &str,
    expected: &[Record],
) -> Vec<(String, String)> {
    let source = source_for_topic(catalog, topic);
    let actual: Vec<Record> = log
        .records(topic)
        .unwrap_or_default()
        .iter()
        .map(|(_, r)| decode_actual(source, topic, r))
        .collect();
    let mut first_difference = None;
    for (i, want) in expected.iter().enumerate() {
        let Some(got) = actual.get(i) else { break };
        if let Some(what) = record_difference(want, got) {
            first_difference = Some((i, what));
            break;
        }
    }
    if first_difference.is_none() && expected.len() == actual.len() {
        return Vec::new();
    }
    let category = match &first_difference {
        Some((_, what)) => format!("wrong output: {what} differs"),
        None if actual.is_empty() => "wrong output: no records".to_string(),
        None => "wrong output: record count differs".to_string(),
    };
    let mut text = match &first_difference {
        Some((i, what)) => format!(
            "topic '{topic}': record {} has a different {what} ({} expected, {} written)",
            i + 1,
            expected.len(),
            actual.len()
        ),
        None => format!(
            "topic '{topic}': {} records expected, {} written",
            expected.len(),
            actual.len()
        ),
    };
    text.push_str(&diff(expected, &actual));
    vec![(category, text)]
}

/// What differs between an expected and an actual record, if anything.
fn record_difference(want: &Record, got: &Record) -> Option<&'static str> {
    if !values_match(&want.key, &got.key) {
        return Some("key");
    }
    if !values_match(&want.value, &got.value) {
        return Some("value");
    }
    if want.timestamp.is_some() && want.timestamp != got.timestamp {
        return Some("timestamp");
    }
    if want.window.is_some() && want.window != got.window {
        return Some("window");
    }
    if want.headers.is_some() && want.headers != got.headers {
        return Some("headers");
    }
    None
}

/// Expected and actual records side by side, marking differing rows.
fn diff(expected: &[Record], actual: &[Record]) -> String {
    let mut out = String::new();
    for i in 0..expected.len().max(actual.len()) {
        let (e, a) = (expected.get(i), actual.get(i));
        let same = matches!((e, a), (Some(e), Some(a)) if record_difference(e, a).is_none());
        let mark = if same { ' ' } else { '!' };
        out.push_str(&format!(
            "\n  {mark} expected: {}\n  {mark} actual:   {}",
            e.map(|r| show_record(r, Some(r)))
                .unwrap_or_else(|| "-".into()),
            a.map(|r| show_record(r, e.or(expected.first())))
                .unwrap_or_else(|| "-".into())
        ));
    }
    out
}

/// A record as one line; `like` says which optional parts to show.
fn show_record(r: &Record, like: Option<&Record>) -> String {
    let mut s = format!(
        "key={} value={}",
        render_json(&r.key),
        render_json(&r.value)
    );
    if like.is_some_and(|l| l.timestamp.is_some()) {
        if let Some(t) = r.timestamp {
            s.push_str(&format!(" ts={t}"));
        }
    }
    if like.is_some_and(|l| l.window.is_some()) {
        match &r.window {
            Some(w) => s.push_str(&format!(" window=[{},{})", w.start, w.end)),
            None => s.push_str(" window=none"),
        }
    }
    if like.is_some_and(|l| l.headers.is_some()) {
        let hs: Vec<String> = r
            .headers
            .iter()
            .flatten()
            .map(|h| match &h.value {
                Some(v) => format!("{}={v:?}", h.key),
                None => format!("{}=null", h.key),
            })
            .collect();
        s.push_str(&format!(" headers=[{}]", hs.join(", ")));
    }
    s
}

/// The first records of the processing log, to explain missing output.
fn processing_log_excerpt(engine: &Engine, log: &MemoryBroker) -> String {
    let topic = engine.config().processing_log_topic();
    let entries: Vec<String> = log
        .records(&topic)
        .unwrap_or_default()
        .iter()
        .take(3)
        .filter_map(|(_, r)| r.value.as_deref())
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    format!(
        "{} record(s) failed processing; processing log: {}",
        engine.processing_errors(),
        entries.join(" | ")
    )
}

/// Waits for a case's task: a panic, a cancellation or the deadline becomes
/// the case's failure (the task is aborted at the deadline).
pub(crate) async fn await_case(
    body: tokio::task::JoinHandle<Verdict>,
    timeout: Duration,
) -> Verdict {
    let abort = body.abort_handle();
    match tokio::time::timeout(timeout, body).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) if e.is_panic() => {
            let payload = e.into_panic();
            let text = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Verdict::fail("panicked", format!("the case panicked: {text}"))
        }
        Ok(Err(e)) => Verdict::fail("cancelled", format!("the case was cancelled: {e}")),
        Err(_) => {
            abort.abort();
            Verdict::fail(
                "timed out",
                format!("did not finish within {} s", timeout.as_secs()),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::properties::WindowType;

    #[test]
    fn windowed_keys_are_split_into_key_and_window() {
        let mut raw = b"k".to_vec();
        raw.extend_from_slice(&30i64.to_be_bytes());
        raw.extend_from_slice(&10i64.to_be_bytes());
        let session = Some(SourceWindow {
            kind: WindowType::Session,
            size_ms: None,
        });
        let (key, window) = split_window(session, Some(&raw));
        assert_eq!(key, Some(&b"k"[..]));
        assert_eq!(
            window,
            Some(Window {
                start: 10,
                end: 30,
                kind: WindowKind::Session
            })
        );
        let tumbling = Some(SourceWindow {
            kind: WindowType::Tumbling,
            size_ms: Some(5),
        });
        let (key, window) = split_window(tumbling, Some(&raw));
        assert_eq!(key.map(<[u8]>::len), Some(9));
        assert_eq!(window.map(|w| (w.start, w.end)), Some((10, 15)));
        // Too short for a window, or not windowed: the key as it is.
        assert_eq!(
            split_window(tumbling, Some(b"abc")),
            (Some(&b"abc"[..]), None)
        );
        assert_eq!(split_window(None, Some(&raw)).1, None);
    }
}
