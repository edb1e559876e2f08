//! Matching the REST API's responses against a REST-level case's
//! `responses`, by the rules of ksqlDB's `RestTestExecutor`.
//!
//! Responses are compared by position in one list: the entities of every
//! `/ksql` request in order (a request may answer with none, e.g. INSERT
//! VALUES), then one entry per `/query` request. An expected entry is
//! `{"admin": {…}}` or `{"query": […]}`:
//!
//! * fields are matched partially: every field the test gives must be
//!   present and equal, others are ignored; a key `name|starts_with` asks
//!   for a prefix;
//! * a query response must have as many elements (header, rows, final
//!   message) as expected, each matched partially in order, except that
//!   the `columns` of rows match in any order unless the case asks for
//!   `outputConditions.verifyOrder`;
//! * a header's `schema` is compared with [`normalize_schema`], values
//!   with [`values_match`].

use serde_json::{Map, Value};

use super::compare::{normalize_schema, values_match};
use super::report::render_json;

/// One actual response.
#[derive(Debug, Clone, PartialEq)]
pub enum Actual {
    /// An entity of a `/ksql` response.
    Admin(Value),
    /// The elements of a `/query` response, in order.
    Query(Vec<Value>),
}

impl Actual {
    fn kind(&self) -> &'static str {
        match self {
            Actual::Admin(_) => "admin",
            Actual::Query(_) => "query",
        }
    }
}

/// A response that differs from the expected one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// What differs, without indexes or values, for counting.
    pub category: String,
    /// What differs, with the values.
    pub reason: String,
    /// More lines: expected and actual elements side by side.
    pub details: Vec<String>,
}

impl Mismatch {
    fn new(category: impl Into<String>, reason: impl Into<String>) -> Self {
        Mismatch {
            category: category.into(),
            reason: reason.into(),
            details: Vec::new(),
        }
    }
}

/// Checks `actual` against `expected`; the first difference, if any.
pub fn check_responses(
    expected: &[Value],
    actual: &[Actual],
    verify_order: bool,
) -> Result<(), Mismatch> {
    for (i, want) in expected.iter().enumerate() {
        let Some((kind, payload)) = want.as_object().and_then(single_entry) else {
            return Err(Mismatch::new(
                "invalid expected response",
                format!(
                    "expected response {} is not an object with one member: {}",
                    i + 1,
                    render_json(want)
                ),
            ));
        };
        if kind == "queryProto" {
            return Err(Mismatch::new(
                "protobuf query responses are not supported",
                format!(
                    "expected response {} is a protobuf query response (testPullWithProtoFormat), \
                     which sluice does not serve",
                    i + 1
                ),
            ));
        }
        let Some(got) = actual.get(i) else {
            return Err(not_enough(expected, actual));
        };
        match (kind, got) {
            ("admin", Actual::Admin(entity)) => {
                let Some(fields) = payload.as_object() else {
                    return Err(Mismatch::new(
                        "invalid expected response",
                        format!("expected admin response {} is not an object", i + 1),
                    ));
                };
                let mut m = Matcher::new(verify_order);
                m.fields(entity, fields, "admin")
                    .map_err(|e| e.at(i, entity))?;
            }
            ("query", Actual::Query(elements)) => check_query(i, payload, elements, verify_order)?,
            (kind, got) => {
                return Err(Mismatch::new(
                    format!("wrong response: {} instead of {kind}", got.kind()),
                    format!(
                        "response {} is {} response, expected {kind}: {}",
                        i + 1,
                        got.kind(),
                        show(got)
                    ),
                ))
            }
        }
    }
    Ok(())
}

fn single_entry(o: &Map<String, Value>) -> Option<(&str, &Value)> {
    let mut entries = o.iter();
    let first = entries.next()?;
    entries
        .next()
        .is_none()
        .then_some((first.0.as_str(), first.1))
}

fn not_enough(expected: &[Value], actual: &[Actual]) -> Mismatch {
    let mut m = Mismatch::new(
        "not enough responses",
        format!(
            "{} responses expected, {} received",
            expected.len(),
            actual.len()
        ),
    );
    m.details = actual
        .iter()
        .enumerate()
        .map(|(i, a)| format!("response {}: {}", i + 1, show(a)))
        .collect();
    m
}

fn show(a: &Actual) -> String {
    match a {
        Actual::Admin(v) => render_json(v),
        Actual::Query(elements) => render_json(&Value::Array(elements.clone())),
    }
}

fn check_query(
    index: usize,
    payload: &Value,
    elements: &[Value],
    verify_order: bool,
) -> Result<(), Mismatch> {
    let Some(want) = payload.as_array() else {
        return Err(Mismatch::new(
            "invalid expected response",
            format!("expected query response {} is not an array", index + 1),
        ));
    };
    let side_by_side = || -> Vec<String> {
        let mut lines = Vec::new();
        for i in 0..want.len().max(elements.len()) {
            let e = want.get(i).map(render_json).unwrap_or_else(|| "-".into());
            let a = elements
                .get(i)
                .map(render_json)
                .unwrap_or_else(|| "-".into());
            let mark = if e == a { ' ' } else { '!' };
            lines.push(format!("{mark} expected: {e}\n{mark} actual:   {a}"));
        }
        lines
    };
    if want.len() != elements.len() {
        let mut m = Mismatch::new(
            "wrong response: query element count differs",
            format!(
                "query response {} has {} elements (header, rows, final message), {} expected",
                index + 1,
                elements.len(),
                want.len()
            ),
        );
        m.details = side_by_side();
        return Err(m);
    }
    let mut matcher = Matcher::new(verify_order);
    for (n, (w, a)) in want.iter().zip(elements).enumerate() {
        let Some(fields) = w.as_object() else {
            return Err(Mismatch::new(
                "invalid expected response",
                format!(
                    "element {} of expected query response {} is not an object",
                    n + 1,
                    index + 1
                ),
            ));
        };
        if let Err(e) = matcher.fields(a, fields, "query") {
            let mut m = e.at(index, a);
            m.reason = format!("element {}: {}", n + 1, m.reason);
            m.details = side_by_side();
            return Err(m);
        }
    }
    if let Err(mut m) = matcher.unordered_rows() {
        m.reason = format!("query response {}: {}", index + 1, m.reason);
        m.details = side_by_side();
        return Err(m);
    }
    Ok(())
}

/// A field that differs: where and how.
struct FieldMismatch {
    path: String,
    what: String,
}

impl FieldMismatch {
    fn at(self, index: usize, actual: &Value) -> Mismatch {
        let mut m = Mismatch::new(
            format!("wrong response: {} differs", self.path),
            format!(
                "response {}, {}: {}",
                index + 1,
                self.path.replace("->", "."),
                self.what
            ),
        );
        m.details.push(format!("actual: {}", render_json(actual)));
        m
    }
}

/// Partial matching of one response, collecting row columns for matching
/// in any order.
struct Matcher {
    verify_order: bool,
    expected_rows: Vec<Value>,
    actual_rows: Vec<Value>,
}

impl Matcher {
    fn new(verify_order: bool) -> Self {
        Matcher {
            verify_order,
            expected_rows: Vec::new(),
            actual_rows: Vec::new(),
        }
    }

    fn fields(
        &mut self,
        actual: &Value,
        expected: &Map<String, Value>,
        path: &str,
    ) -> Result<(), FieldMismatch> {
        for (key, want) in expected {
            let (name, starts_with) = match key.split_once('|') {
                Some((n, op)) if op.eq_ignore_ascii_case("starts_with") => (n, true),
                _ => (key.as_str(), false),
            };
            let here = format!("{path}->{name}");
            let Some(got) = actual.as_object().and_then(|o| o.get(name)) else {
                return Err(FieldMismatch {
                    what: format!("missing (expected {})", render_json(want)),
                    path: here,
                });
            };
            let differs = |what: String| FieldMismatch {
                path: here.clone(),
                what,
            };
            if let Value::Object(inner) = want {
                if !got.is_object() {
                    return Err(differs(format!("{} is not an object", render_json(got))));
                }
                self.fields(got, inner, &here)?;
            } else if starts_with {
                let ok = matches!((got, want), (Value::String(g), Value::String(w)) if g.starts_with(w.as_str()));
                if !ok {
                    return Err(differs(format!(
                        "{} does not start with {}",
                        render_json(got),
                        render_json(want)
                    )));
                }
            } else if !self.verify_order && here == "query->row->columns" {
                self.expected_rows.push(want.clone());
                self.actual_rows.push(got.clone());
            } else if here.ends_with("header->schema") {
                let same = matches!((got, want), (Value::String(g), Value::String(w))
                    if normalize_schema(g) == normalize_schema(w));
                if !same {
                    return Err(differs(format!(
                        "{} instead of {}",
                        render_json(got),
                        render_json(want)
                    )));
                }
            } else if !values_match(want, got) {
                return Err(differs(format!(
                    "{} instead of {}",
                    render_json(got),
                    render_json(want)
                )));
            }
        }
        Ok(())
    }

    /// The collected rows' columns, as multisets.
    fn unordered_rows(&self) -> Result<(), Mismatch> {
        let mut unused: Vec<&Value> = self.expected_rows.iter().collect();
        for got in &self.actual_rows {
            match unused.iter().position(|w| values_match(w, got)) {
                Some(i) => {
                    unused.swap_remove(i);
                }
                None => {
                    return Err(Mismatch::new(
                        "wrong response: query->row->columns differs",
                        format!(
                            "row {} is not expected{}",
                            render_json(got),
                            match unused.first() {
                                Some(w) =>
                                    format!(" (an expected row not yet seen: {})", render_json(w)),
                                None => String::new(),
                            }
                        ),
                    ))
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expected(v: Value) -> Vec<Value> {
        v.as_array().cloned().unwrap()
    }

    #[test]
    fn admin_responses_match_partially() {
        let want = expected(json!([{"admin": {"@type": "currentStatus"}}]));
        let got = [Actual::Admin(
            json!({"@type": "currentStatus", "commandId": "x"}),
        )];
        assert_eq!(check_responses(&want, &got, false), Ok(()));
        let got = [Actual::Admin(json!({"@type": "streams"}))];
        let m = check_responses(&want, &got, false).unwrap_err();
        assert_eq!(m.category, "wrong response: admin->@type differs");
        let m = check_responses(&want, &[], false).unwrap_err();
        assert_eq!(m.category, "not enough responses");
    }

    #[test]
    fn query_rows_match_in_any_order_unless_asked() {
        let want = expected(json!([{"query": [
            {"header": {"schema": "`K` STRING, `ID` INTEGER", "queryId|starts_with": "transient"}},
            {"row": {"columns": ["a", 1]}},
            {"row": {"columns": ["b", 2.0]}},
            {"finalMessage": "Limit Reached"}
        ]}]));
        let got = [Actual::Query(vec![
            json!({"header": {"schema": "`K` STRING, `ID` INT", "queryId": "transient_S_1"}}),
            json!({"row": {"columns": ["b", 2]}}),
            json!({"row": {"columns": ["a", 1]}}),
            json!({"finalMessage": "Limit Reached"}),
        ])];
        assert_eq!(check_responses(&want, &got, false), Ok(()));
        let m = check_responses(&want, &got, true).unwrap_err();
        assert_eq!(m.category, "wrong response: query->row->columns differs");
        let short = [Actual::Query(vec![
            json!({"header": {"schema": "`K` STRING"}}),
        ])];
        let m = check_responses(&want, &short, false).unwrap_err();
        assert_eq!(m.category, "wrong response: query element count differs");
        let wrong_kind = [Actual::Admin(json!({}))];
        let m = check_responses(&want, &wrong_kind, false).unwrap_err();
        assert_eq!(m.category, "wrong response: admin instead of query");
    }

    #[test]
    fn tombstones_and_prefixes() {
        let want = expected(json!([{"query": [
            {"header": {"queryId|starts_with": "SCALABLE_PUSH_QUERY"}},
            {"row": {"columns": ["a", null], "tombstone": true}}
        ]}]));
        let got = [Actual::Query(vec![
            json!({"header": {"queryId": "transient_1"}}),
            json!({"row": {"columns": ["a", null]}}),
        ])];
        let m = check_responses(&want, &got, false).unwrap_err();
        assert_eq!(m.category, "wrong response: query->header->queryId differs");
    }
}
